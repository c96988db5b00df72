"""The HTML side: accounts, login-required pages, forms with errors by the fields, CSRF."""

from __future__ import annotations

import httpx
from examples.showcase.bootstrap import DEMO_PASSWORD, DEMO_USERNAME

from tests.showcase.conftest import csrf_token, register, unique


def test_home_lists_the_seeded_posts_and_the_login_page_shows_the_demo_login(client):
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome to the porch showcase" in home.text
    login = client.get("/login").text
    assert f"<code>{DEMO_USERNAME}</code> / <code>{DEMO_PASSWORD}</code>" in login


def test_pages_that_need_a_login_redirect_to_it_and_come_back(client):
    sent = client.get("/account")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/login?next=/account"
    token = csrf_token(client.get("/login?next=/account").text)
    form = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD, "next": "/account"}
    logged = client.post("/login", data={**form, "csrf_token": token})
    assert logged.status_code == 303
    assert logged.headers["location"] == "/account"
    assert "API token" in client.get("/account").text


def test_login_never_redirects_off_site(client):
    token = csrf_token(client.get("/login").text)
    form = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD, "csrf_token": token}
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        sent = client.post("/login", data={**form, "next": target})
        assert sent.headers["location"] == "/", target
        token = csrf_token(client.get("/login").text)  # a new session after each login
        form["csrf_token"] = token


def test_a_wrong_password_keeps_the_username_and_says_so(client):
    token = csrf_token(client.get("/login").text)
    form = {"username": DEMO_USERNAME, "password": "not it", "csrf_token": token}
    sent = client.post("/login", data=form)
    assert sent.status_code == 422
    assert "Wrong username or password." in sent.text
    assert f'value="{DEMO_USERNAME}"' in sent.text
    assert "not it" not in sent.text


def test_login_regenerates_the_session(client):
    form = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    token = csrf_token(client.get("/login").text)
    assert client.post("/login", data={**form, "csrf_token": token}).status_code == 303
    before = client.cookies["porch_session"]
    token = csrf_token(client.get("/login").text)
    assert client.post("/login", data={**form, "csrf_token": token}).status_code == 303
    after = client.cookies["porch_session"]
    assert after != before
    assert client.get("/account").status_code == 200
    # The old session id is worth nothing now (no fixation): it is not logged in.
    with httpx.Client(base_url=str(client.base_url), cookies={"porch_session": before}) as old:
        assert old.get("/account").status_code == 303


def test_registration_errors_are_shown_by_the_fields_with_the_name_kept(client):
    taken = unique("taken")
    register(client, taken)
    with httpx.Client(base_url=str(client.base_url)) as visitor:
        token = csrf_token(visitor.get("/register").text)
        bad = {"username": "a b", "password": "short", "confirm": "short", "csrf_token": token}
        sent = visitor.post("/register", data=bad)
        assert sent.status_code == 422
        assert "3 to 30 letters" in sent.text
        assert "8 to 200 characters." in sent.text
        assert 'value="a b"' in sent.text and "short" not in sent.text
        again = {"username": taken, "password": "a long password", "confirm": "different!"}
        sent = visitor.post("/register", data={**again, "csrf_token": token})
        assert "That name is taken" in sent.text
        assert "The two passwords differ." in sent.text
        assert 'id="username-error"' in sent.text  # next to its field
        assert visitor.get("/account").status_code == 303  # not logged in


def test_posting_commenting_and_the_errors_of_each(client):
    register(client, unique("poster"))
    token = csrf_token(client.get("/").text)
    empty = client.post("/posts", data={"title": " ", "body": "kept <b>", "csrf_token": token})
    assert empty.status_code == 422
    assert "A post needs a title." in empty.text
    assert ">kept &lt;b&gt;</textarea>" in empty.text
    long = client.post("/posts", data={"title": "x" * 121, "body": "b", "csrf_token": token})
    assert "At most 120 characters (this is 121)." in long.text
    sent = client.post("/posts", data={"title": "<i>Hi</i>", "body": "text", "csrf_token": token})
    assert sent.status_code == 303
    page = client.get(sent.headers["location"])
    assert "<h1>&lt;i&gt;Hi&lt;/i&gt;</h1>" in page.text and "Posted." in page.text
    where = sent.headers["location"] + "/comments"
    token = csrf_token(page.text)
    assert "Write a comment first." in client.post(where, data={"csrf_token": token}).text
    commented = client.post(where, data={"body": "A comment", "csrf_token": token})
    assert commented.status_code == 303
    assert "A comment" in client.get(sent.headers["location"]).text
    assert client.get("/posts/999999").status_code == 404


def test_forms_without_the_csrf_token_are_refused(client):
    register(client, unique("csrf"))
    refused = client.post("/posts", data={"title": "no token", "body": "x"})
    assert refused.status_code == 403
    assert "no token" not in client.get("/").text


def test_anonymous_posts_go_to_the_login_page(client):
    token = csrf_token(client.get("/login").text)  # a visitor's token, no session
    sent = client.post("/posts", data={"title": "t", "body": "b", "csrf_token": token})
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/login")


def test_logout_ends_the_session(client):
    register(client, unique("leaver"))
    token = csrf_token(client.get("/").text)
    sent = client.post("/logout", data={"csrf_token": token}, follow_redirects=True)
    assert "Logged out." in sent.text
    assert client.get("/account").status_code == 303


def test_password_guessing_is_rate_limited(site):
    # From an address of its own (127.0.0.3 is loopback too): the other tests' logins from
    # 127.0.0.1 do not count, and these do not use up theirs.
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=site.url, transport=transport, timeout=10) as guesser:
        token = csrf_token(guesser.get("/login").text)
        form = {"username": DEMO_USERNAME, "password": "guess", "csrf_token": token}
        answers = [guesser.post("/login", data=form).status_code for _ in range(21)]
        assert answers[:20] == [422] * 20
        assert answers[20] == 429
        refused = guesser.post("/login", data={**form, "password": DEMO_PASSWORD})
        assert refused.status_code == 429  # even the right password, until the window passes
        assert int(refused.headers["retry-after"]) > 0
    assert httpx.get(site.url + "/login").status_code == 200  # others are not locked out
