"""The ``/docs`` page: one self-contained HTML document that renders ``openapi.json``.

No CDN and no external request: the page fetches ``openapi.json`` next to itself and builds
the list of operations with DOM calls (text is set with ``textContent``, never parsed as
HTML, so names and descriptions from the document cannot inject markup).
"""

from __future__ import annotations

__all__ = ["DOCS_HTML"]

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API documentation</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem;
         padding: 1rem 1.5rem; color: #1d1d1f; background: #fafafa; }
  h1 { margin-bottom: 0; } .version { color: #666; margin-top: 0; }
  details.op { border: 1px solid #ddd; border-radius: 6px; margin: .6rem 0;
               background: #fff; }
  details.op > summary { cursor: pointer; padding: .5rem .8rem; list-style: none;
                         display: flex; gap: .8rem; align-items: baseline; }
  .method { font-weight: 700; text-transform: uppercase; min-width: 4.5rem;
            text-align: center; border-radius: 4px; color: #fff; padding: 0 .4rem; }
  .get { background: #2f7ed8; } .post { background: #3a9d5d; } .put { background: #c68a1d; }
  .patch { background: #8a6bc7; } .delete { background: #c94040; }
  .options, .trace { background: #777; }
  .path { font-family: ui-monospace, monospace; font-weight: 600; }
  .summary { color: #555; }
  .body { padding: .2rem 1rem 1rem; border-top: 1px solid #eee; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee;
           vertical-align: top; }
  code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
  pre { background: #f3f3f3; padding: .6rem; border-radius: 4px; overflow: auto; }
  .required { color: #c94040; }
  #error { color: #c94040; }
</style>
</head>
<body>
<h1 id="title">API documentation</h1>
<p class="version" id="version"></p>
<p id="description"></p>
<p id="error"></p>
<div id="operations"></div>
<h2>Schemas</h2>
<div id="schemas"></div>
<script>
"use strict";
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function typeOf(schema) {
  if (!schema) return "any";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.enum) return "one of " + schema.enum.map(v => JSON.stringify(v)).join(", ");
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
  if (schema.type === "array") return "array of " + typeOf(schema.items);
  let text = schema.type || "any";
  if (schema.format) text += " (" + schema.format + ")";
  const limits = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                  "minLength", "maxLength", "pattern"];
  const shown = limits.filter(k => k in schema).map(k => k + " " + schema[k]);
  if (shown.length) text += " [" + shown.join(", ") + "]";
  return text;
}
function schemaBlock(label, schema, id) {
  const box = el("div");
  if (id) box.id = "schema-" + id;
  box.appendChild(el("h4", label));
  if (schema && schema.$ref && Object.keys(schema).length === 1) {
    const link = el("a", typeOf(schema));
    link.href = "#schema-" + encodeURIComponent(typeOf(schema));
    box.appendChild(el("p")).appendChild(link);
    return box;
  }
  box.appendChild(el("p", typeOf(schema)));
  box.appendChild(el("pre", JSON.stringify(schema, null, 2)));
  return box;
}
function parameters(list) {
  const table = el("table");
  const head = el("tr");
  ["name", "in", "type", "required"].forEach(h => head.appendChild(el("th", h)));
  table.appendChild(head);
  list.forEach(p => {
    const row = el("tr");
    row.appendChild(el("td")).appendChild(el("code", p.name));
    row.appendChild(el("td", p.in));
    row.appendChild(el("td", typeOf(p.schema)));
    row.appendChild(el("td", p.required ? "required" : "", p.required ? "required" : ""));
    table.appendChild(row);
  });
  return table;
}
function operation(path, method, op) {
  const box = el("details", null, "op");
  box.id = op.operationId || (method + path);
  const line = el("summary");
  line.appendChild(el("span", method, "method " + method));
  line.appendChild(el("span", path, "path"));
  if (op.summary) line.appendChild(el("span", op.summary, "summary"));
  box.appendChild(line);
  const body = el("div", null, "body");
  if (op.operationId) body.appendChild(el("p", "operationId: " + op.operationId));
  if (op.description) body.appendChild(el("p", op.description));
  if (op.parameters && op.parameters.length) {
    body.appendChild(el("h4", "Parameters"));
    body.appendChild(parameters(op.parameters));
  }
  if (op.requestBody) {
    const content = op.requestBody.content || {};
    Object.keys(content).forEach(type => body.appendChild(
      schemaBlock("Request body (" + type + ")" +
                  (op.requestBody.required ? ", required" : ""), content[type].schema)));
  }
  Object.keys(op.responses || {}).forEach(code => {
    const response = op.responses[code];
    const content = response.content || {};
    const types = Object.keys(content);
    if (!types.length) body.appendChild(el("h4", code + " " + response.description));
    types.forEach(type => body.appendChild(
      schemaBlock(code + " " + response.description + " (" + type + ")",
                  content[type].schema)));
  });
  box.appendChild(body);
  return box;
}
function render(doc) {
  const info = doc.info || {};
  document.title = (info.title || "API") + " documentation";
  document.getElementById("title").textContent = info.title || "API";
  document.getElementById("version").textContent = "version " + (info.version || "");
  document.getElementById("description").textContent = info.description || "";
  const ops = document.getElementById("operations");
  Object.keys(doc.paths || {}).forEach(path => {
    const item = doc.paths[path];
    Object.keys(item).forEach(method => ops.appendChild(operation(path, method, item[method])));
  });
  const schemas = ((doc.components || {}).schemas) || {};
  const holder = document.getElementById("schemas");
  Object.keys(schemas).forEach(name => holder.appendChild(schemaBlock(name, schemas[name], name)));
}
fetch("openapi.json")
  .then(r => { if (!r.ok) throw new Error("openapi.json: HTTP " + r.status); return r.json(); })
  .then(render)
  .catch(e => { document.getElementById("error").textContent = String(e); });
</script>
</body>
</html>
"""
