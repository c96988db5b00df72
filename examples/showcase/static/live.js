// The live feed: new posts are added to the home page's list as they are written.
// The transport is one function (connect); a WebSocket version would open a WebSocket on
// the same path and call onMessage with each JSON frame.
(function () {
  "use strict";
  const list = document.getElementById("posts");
  const status = document.getElementById("live-status");
  if (!list || !window.EventSource) return;

  function setState(state, label) {
    document.body.dataset.live = state;  // tests wait for "open"
    if (status) status.textContent = label;
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = function (n) { return String(n).padStart(2, "0"); };

  function shortDate(iso) {  // "25 Nov 18:35" in UTC, as the server writes it
    const d = new Date(iso);
    return pad(d.getUTCDate()) + " " + MONTHS[d.getUTCMonth()] + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }

  function addPost(post) {
    if (document.getElementById("post-" + post.id)) return;  // already listed
    const item = document.createElement("li");
    item.className = "post new";
    item.id = "post-" + post.id;
    const link = document.createElement("a");
    link.className = "title";
    link.href = post.url;
    link.textContent = post.title;  // text, never HTML: no script injection
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = "by " + post.author + " · " + shortDate(post.created_at) + " · 0 comments";
    item.append(link, meta);
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    list.prepend(item);
  }

  function connect(url, onMessage) {
    // EventSource reconnects by itself and sends the last post id it saw (Last-Event-ID),
    // so the server can send what was missed.
    const source = new EventSource(url);
    source.addEventListener("ready", function () { setState("open", "live"); });
    source.addEventListener("post", function (event) { onMessage(JSON.parse(event.data)); });
    source.addEventListener("error", function () { setState("reconnecting", "reconnecting…"); });
    return source;
  }

  connect(list.dataset.live, addPost);
})();
