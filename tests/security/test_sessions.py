"""Sessions: signed cookies (tampering, expiry, rotation, size), server-side stores, flash
messages, Vary: Cookie, and the production rule for the secret key."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from porch import App, Config, ConfigError, Request
from porch.cache import RedisCache
from porch.security import Sessions, SessionTooLarge, flash, get_flashed_messages
from porch.web.testing import TestClient
from tests.redis_service import REDIS_URL

KEY = "k" * 32
OLD_KEY = "o" * 32


def counter_app(**options: object) -> App:
    app = App(**options)  # type: ignore[arg-type]

    @app.get("/count")
    async def count(request: Request) -> str:
        request.session["n"] = request.session.get("n", 0) + 1
        return str(request.session["n"])

    @app.get("/peek")
    async def peek(request: Request) -> str:
        return str(request.session.get("n", 0))

    @app.get("/plain")
    async def plain() -> str:
        return "no session here"

    @app.post("/login")
    async def login(request: Request) -> str:
        request.session.regenerate()
        request.session["user"] = "ann"
        return "in"

    @app.post("/logout")
    async def logout(request: Request) -> str:
        request.session.clear()
        return "out"

    @app.get("/big")
    async def big(request: Request) -> str:
        request.session["blob"] = secrets.token_hex(3000)  # incompressible
        return "too big"

    return app


def cookie_for(data: dict[str, object], keys: list[str], age: int = 0) -> str:
    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    serializer = URLSafeTimedSerializer(keys, salt="porch.session", signer=Then)
    return serializer.dumps(data)


def test_a_request_that_never_touches_the_session_sets_nothing():
    with TestClient(counter_app(secret_key=KEY)) as client:
        response = client.get("/plain")
        assert "set-cookie" not in response.headers
        assert "vary" not in response.headers


def test_cookie_session_counts_and_varies_on_cookie():
    with TestClient(counter_app(secret_key=KEY)) as client:
        first = client.get("/count")
        assert first.text == "1"
        assert first.headers["vary"] == "Cookie"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP
        assert client.get("/count").text == "2"
        peek = client.get("/peek")
        assert peek.text == "2"
        assert peek.headers["vary"] == "Cookie"  # read, not written: still varies
        assert "set-cookie" not in peek.headers


def test_secure_cookie_over_https():
    with TestClient(counter_app(secret_key=KEY), base_url="https://testserver") as client:
        assert "Secure" in client.get("/count").headers["set-cookie"]


def test_tampered_cookie_gives_an_empty_session_and_a_log_line(caplog):
    good = cookie_for({"n": 41}, [KEY])
    payload, _, signature = good.rpartition(".")
    forged = cookie_for({"n": 1000}, ["another-key-of-32-characters...."])
    with TestClient(counter_app(secret_key=KEY)) as client:
        assert client.get("/peek", cookies={"porch_session": good}).text == "41"
        with caplog.at_level(logging.INFO, logger="porch.security"):
            flipped = payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
            assert client.get("/peek", cookies={"porch_session": flipped}).text == "0"
            assert client.get("/peek", cookies={"porch_session": forged}).text == "0"
        assert sum("bad signature" in r.getMessage() for r in caplog.records) == 2


def test_expired_cookie_gives_an_empty_session():
    app = counter_app(secret_key=KEY, sessions=Sessions(max_age=3600))
    with TestClient(app) as client:
        fresh = cookie_for({"n": 5}, [KEY], age=3000)
        stale = cookie_for({"n": 5}, [KEY], age=4000)
        assert client.get("/peek", cookies={"porch_session": fresh}).text == "5"
        assert client.get("/peek", cookies={"porch_session": stale}).text == "0"


def test_key_rotation_keeps_old_sessions_and_signs_them_again_with_the_new_key():
    old_cookie = cookie_for({"n": 7}, [OLD_KEY])
    new_only = URLSafeTimedSerializer(KEY, salt="porch.session")
    with TestClient(counter_app(secret_key=[KEY, OLD_KEY])) as client:
        response = client.get("/peek", cookies={"porch_session": old_cookie})
        assert response.text == "7"
        resigned = response.cookies["porch_session"]
        assert new_only.loads(resigned) == {"n": 7}
        client.cookies["porch_session"] = old_cookie
        written = client.get("/count")
        assert written.text == "8"
        assert new_only.loads(written.cookies["porch_session"]) == {"n": 8}
    # Without the old key in the ring, the old cookie is no longer valid.
    with TestClient(counter_app(secret_key=KEY)) as client:
        assert client.get("/peek", cookies={"porch_session": old_cookie}).text == "0"


def test_comma_separated_keys_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORCH_SECRET_KEY", f"{KEY}, {OLD_KEY}")
    with TestClient(counter_app()) as client:
        assert (
            client.get("/peek", cookies={"porch_session": cookie_for({"n": 3}, [OLD_KEY])}).text
            == "3"
        )


def test_a_session_too_big_for_a_cookie_is_an_error_naming_its_size():
    with TestClient(counter_app(secret_key=KEY), raise_server_exceptions=True) as client:
        with pytest.raises(SessionTooLarge, match=r"would be \d+ bytes, over the 4093-byte"):
            client.get("/big")
    with TestClient(counter_app(secret_key=KEY)) as client:
        assert client.get("/big").status_code == 500


def test_clear_deletes_the_cookie():
    with TestClient(counter_app(secret_key=KEY, csrf=False)) as client:
        client.get("/count")
        assert "porch_session" in client.cookies
        response = client.post("/logout")
        assert "Max-Age=0" in response.headers["set-cookie"]
        assert "porch_session" not in client.cookies


def test_memory_sessions_keep_data_on_the_server_and_regenerate_the_id():
    with TestClient(counter_app(secret_key=KEY, sessions="memory", csrf=False)) as client:
        assert client.get("/count").text == "1"
        sid = client.cookies["porch_session"]
        assert len(sid) == 43 and "." not in sid  # a random id, not the data
        assert client.get("/count").text == "2"
        assert client.cookies["porch_session"] == sid
        client.post("/login")
        new_sid = client.cookies["porch_session"]
        assert new_sid != sid
        assert client.get("/count").text == "3"  # the data moved with the session
        # The old id is gone: a stolen pre-login id is worth nothing.
        assert client.get("/peek", cookies={"porch_session": sid}).text == "0"


def test_an_unknown_session_id_is_never_adopted():
    planted = "A" * 43
    with TestClient(counter_app(secret_key=KEY, sessions="memory")) as client:
        response = client.get("/count", cookies={"porch_session": planted})
        assert response.text == "1"
        assert response.cookies["porch_session"] != planted


def test_redis_sessions_are_shared_by_two_app_instances(serve, redis_prefix):
    def make() -> App:
        store = RedisCache(REDIS_URL, prefix=redis_prefix)
        return counter_app(secret_key=KEY, sessions=Sessions(store=store))

    with serve(make()) as one, serve(make()) as two, httpx.Client() as client:
        assert client.get(one.url + "/count").text == "1"
        sid = client.cookies["porch_session"]
        assert client.get(two.url + "/count").text == "2"
        assert client.get(one.url + "/peek").text == "2"

    async def stored() -> object:
        cache = RedisCache(REDIS_URL, prefix=redis_prefix)
        try:
            return await cache.get("session:" + sid)
        finally:
            await cache.close()

    assert asyncio.run(stored()) == {"n": 2}


def test_flash_messages_show_once():
    app = App(secret_key=KEY, csrf=False)

    @app.post("/save")
    async def save(request: Request) -> str:
        flash(request, "Saved.", "success")
        flash(request, "Check your email.")
        return "ok"

    @app.get("/show")
    async def show(request: Request) -> dict[str, object]:
        return {"messages": get_flashed_messages(request, with_categories=True)}

    with TestClient(app) as client:
        client.post("/save")
        assert client.get("/show").json() == {
            "messages": [["success", "Saved."], ["message", "Check your email."]]
        }
        assert client.get("/show").json() == {"messages": []}


# the secret key in production ----------------------------------------------------------------


def test_production_without_a_secret_key_refuses_to_start(monkeypatch):
    monkeypatch.delenv("PORCH_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="no secret key in production: set PORCH_SECRET_KEY"):
        asyncio.run(counter_app().startup(Config(env="production")))
    # Both features off: nothing to sign, so no key is needed.
    asyncio.run(counter_app(sessions=False, csrf=False).startup(Config(env="production")))
    monkeypatch.setenv("PORCH_SECRET_KEY", KEY)
    asyncio.run(counter_app().startup(Config(env="production")))


def test_a_short_key_is_refused():
    with pytest.raises(ConfigError, match="too short"):
        asyncio.run(counter_app(secret_key="short").startup(Config(env="production")))


def test_development_makes_a_key_with_a_warning(monkeypatch, caplog):
    monkeypatch.delenv("PORCH_SECRET_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="porch.security"):
        with TestClient(counter_app()) as client:
            assert client.get("/count").text == "1"
            assert client.get("/count").text == "2"
    assert any("random one for this process" in r.getMessage() for r in caplog.records)


def test_porch_serve_in_production_without_a_key_is_a_one_line_error():
    from tests.test_cli import assert_one_line_error, run_porch

    result = run_porch("serve", "tests.security.apps:app", "--port", "0")
    assert_one_line_error(result, "no secret key in production", "PORCH_SECRET_KEY")
