"""Path traversal: raw request targets that try to leave the served folder.

The served folder is ``tmp_path/www``. Beside it lie ``secret.txt`` and a sibling folder
``www-secret`` (its name starts with the root's name, the classic ``startswith`` trap). Every
request is sent with its exact bytes over a raw socket: HTTP clients collapse ``..`` and
``//`` before sending, which would test the client instead of the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from porch.static import StaticFiles
from tests.static.conftest import Raw, raw_request

SECRET = b"TOP-SECRET-5f0c2a"
SIBLING_SECRET = b"SIBLING-SECRET-93be"
A_TXT = b"plain file a\n"
DEVICE = b"a file whose name is a Windows device\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """www/ with ordinary files, dotfiles, Windows-looking names and symlinks in and out."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "www-secret").mkdir()
    (tmp_path / "www-secret" / "x").write_bytes(SIBLING_SECRET)
    www = tmp_path / "www"
    www.mkdir()
    (www / "a.txt").write_bytes(A_TXT)
    (www / "sub").mkdir()
    (www / "sub" / "f.txt").write_bytes(b"f\n")
    (www / "sub" / ".hidden").write_bytes(b"hidden in sub\n")
    (www / "evil.example").mkdir()
    (www / "evil.example" / "page.txt").write_bytes(b"page\n")
    (www / ".env").write_bytes(b"DOTENV=1\n")
    (www / ".git").mkdir()
    (www / ".git" / "config").write_bytes(b"[core]\n")
    # Names that mean something to Windows exist here, so refusing them is observable.
    for name in ("CON", "con.txt", "AUX", "nul.json"):
        (www / name).write_bytes(DEVICE)
    (www / "C:").mkdir()
    (www / "C:" / "Windows").mkdir()
    (www / "C:" / "Windows" / "win.ini").write_bytes(DEVICE)
    (www / "link-secret").symlink_to(tmp_path / "secret.txt")
    (www / "link-secret-relative").symlink_to(Path("..") / "secret.txt")
    (www / "link-sibling").symlink_to(tmp_path / "www-secret" / "x")
    (www / "link-outdir").symlink_to(tmp_path / "www-secret", target_is_directory=True)
    (www / "link-inside").symlink_to("a.txt")
    (www / "sub" / "link-up").symlink_to(Path("..") / "a.txt")
    return tmp_path


@pytest.fixture
def serve_site(serve: Callable[..., Any], site: Path) -> Callable[..., Any]:
    """``with serve_site(**options) as port:`` serves site/www with StaticFiles(options)."""

    @contextmanager
    def run(**options: Any) -> Iterator[int]:
        with serve(StaticFiles(site / "www", **options)) as srv:
            yield srv.port

    return run


def assert_no_leak(response: Raw) -> None:
    assert SECRET not in response.raw
    assert SIBLING_SECRET not in response.raw
    assert b"root:" not in response.raw  # /etc/passwd
    assert DEVICE not in response.raw


def assert_local_location(location: str, prefix: str = "") -> None:
    """A redirect target that stays on this server, below the mount point."""
    assert location.startswith(prefix + "/"), location
    assert not location.startswith("//"), location
    assert "\\" not in location, location
    joined = urlsplit(urljoin("http://t/", location))
    assert (joined.scheme, joined.netloc) == ("http", "t"), location
    assert ".." not in joined.path.split("/"), location


# (request target as sent, statuses allowed). 400 and 404 are both refusals; which one
# depends on whether the parser or the app turns the target down.
REFUSED = {400, 404}
CORPUS = [
    pytest.param(b"/../secret.txt", REFUSED, id="dotdot"),
    pytest.param(b"/../../../../../../../../secret.txt", REFUSED, id="dotdot-many"),
    pytest.param(b"/sub/../../secret.txt", REFUSED, id="dotdot-from-sub"),
    pytest.param(b"/..%2fsecret.txt", REFUSED, id="dotdot-encoded-slash"),
    pytest.param(b"/..%2Fsecret.txt", REFUSED, id="dotdot-encoded-slash-upper"),
    pytest.param(b"/%2e%2e/secret.txt", REFUSED, id="encoded-dotdot"),
    pytest.param(b"/%2E%2E/secret.txt", REFUSED, id="encoded-dotdot-upper"),
    pytest.param(b"/%2e%2e%2fsecret.txt", REFUSED, id="all-encoded"),
    pytest.param(b"/.%2e/secret.txt", REFUSED, id="half-encoded-dotdot"),
    pytest.param(b"/%2e./secret.txt", REFUSED, id="half-encoded-dotdot-2"),
    pytest.param(b"/sub/%2e%2e/%2e%2e/secret.txt", REFUSED, id="encoded-dotdot-from-sub"),
    pytest.param(b"/%252e%252e/secret.txt", REFUSED, id="double-encoded-dotdot"),
    pytest.param(b"/%252e%252e%252fsecret.txt", REFUSED, id="double-encoded-all"),
    pytest.param(b"/..\\secret.txt", REFUSED, id="backslash"),
    pytest.param(b"/..%5csecret.txt", REFUSED, id="encoded-backslash"),
    pytest.param(b"/%5c..%5csecret.txt", REFUSED, id="encoded-backslash-both-sides"),
    pytest.param(b"/%2e%2e%5csecret.txt", REFUSED, id="encoded-dotdot-backslash"),
    pytest.param(b"/....//secret.txt", REFUSED, id="four-dots"),
    pytest.param(b"/..;/secret.txt", REFUSED, id="dotdot-semicolon"),
    pytest.param(b"/./../secret.txt", REFUSED, id="dot-then-dotdot"),
    pytest.param(b"//tmp/secret.txt", REFUSED, id="double-slash-absolute"),
    pytest.param(b"/%2ftmp%2fsecret.txt", REFUSED, id="encoded-absolute"),
    pytest.param(b"/secret.txt%00.html", REFUSED, id="nul-then-extension"),
    pytest.param(b"/a.txt%00.html", REFUSED, id="nul-after-real-file"),
    pytest.param(b"/%00", REFUSED, id="nul-alone"),
    pytest.param(b"/../www-secret/x", REFUSED, id="sibling-with-root-prefix"),
    pytest.param(b"/%2e%2e/www-secret/x", REFUSED, id="sibling-encoded"),
    pytest.param(b"/..%2f..%2f..%2fetc%2fpasswd", REFUSED, id="etc-passwd-encoded"),
    pytest.param(b"/../../../../../../etc/passwd", REFUSED, id="etc-passwd"),
    pytest.param(b"/CON", REFUSED, id="windows-device-CON"),
    pytest.param(b"/con.txt", REFUSED, id="windows-device-con-txt"),
    pytest.param(b"/AUX", REFUSED, id="windows-device-AUX"),
    pytest.param(b"/nul.json", REFUSED, id="windows-device-nul-json"),
    pytest.param(b"/C:/Windows/win.ini", REFUSED, id="drive-letter"),
    pytest.param(b"/c:%5cwindows", REFUSED, id="drive-letter-backslash"),
    pytest.param(b"/C%3a/Windows/win.ini", REFUSED, id="drive-letter-encoded-colon"),
    pytest.param(b"/\\\\server\\share", REFUSED, id="unc"),
    pytest.param(b"/%5c%5cserver%5cshare", REFUSED, id="unc-encoded"),
    pytest.param(b"/%c0%ae%c0%ae/secret.txt", REFUSED, id="overlong-utf8-2-bytes"),
    pytest.param(b"/%e0%80%ae%e0%80%ae/", REFUSED, id="overlong-utf8-3-bytes"),
    pytest.param(b"/%c0%af../secret.txt", REFUSED, id="overlong-utf8-slash"),
    pytest.param(b"/a.txt.", REFUSED, id="trailing-dot"),
    pytest.param(b"/a.txt%20", REFUSED, id="trailing-space"),
    pytest.param(b"/link-secret", REFUSED, id="symlink-to-secret"),
    pytest.param(b"/link-secret-relative", REFUSED, id="relative-symlink-to-secret"),
    pytest.param(b"/link-sibling", REFUSED, id="symlink-to-sibling-folder-file"),
    pytest.param(b"/link-outdir/x", REFUSED, id="symlinked-folder-outside"),
    pytest.param(b"/link-outdir/", REFUSED, id="symlinked-folder-outside-listing"),
    pytest.param(b"/.env", REFUSED, id="dotfile"),
    pytest.param(b"/.git/config", REFUSED, id="dotfolder"),
    pytest.param(b"/.git/", REFUSED, id="dotfolder-listing"),
    pytest.param(b"/sub/.hidden", REFUSED, id="dotfile-in-sub"),
    pytest.param(b"/%2eenv", REFUSED, id="dotfile-encoded"),
    pytest.param(b"//evil.example/..", REFUSED, id="open-redirect-dotdot"),
    pytest.param(b"//evil.example/%2e%2e", REFUSED, id="open-redirect-encoded-dotdot"),
    pytest.param(b"http://t/../secret.txt", REFUSED, id="absolute-form-dotdot"),
    pytest.param(b"http://t/%2e%2e/secret.txt", REFUSED, id="absolute-form-encoded-dotdot"),
    pytest.param(b"http://t/..%2fsecret.txt", REFUSED, id="absolute-form-encoded-slash"),
    pytest.param(b"http://t//evil.example/..", REFUSED, id="absolute-form-double-slash"),
    pytest.param(b"../secret.txt", REFUSED, id="relative-target"),
    pytest.param(b"secret.txt", REFUSED, id="bare-name-target"),
]


@pytest.mark.parametrize(("target", "allowed"), CORPUS)
def test_traversal_is_refused(serve_site: Callable[..., Any], target: bytes, allowed: set[int]):
    with serve_site() as port:
        response = raw_request(port, target)
    assert_no_leak(response)
    assert response.status in allowed, response.raw[:300]
    assert response.extra == b""


# The corpus again with dotfiles and symlinks allowed, minus the requests those options are
# meant to allow (link-*, dotfiles): neither option may open a `..` or encoded way out.
PERMISSIVE_CORPUS = [
    p
    for p in CORPUS
    if not p.id.startswith(("symlink", "relative-symlink", "dotfile", "dotfolder"))
]


@pytest.mark.parametrize(("target", "allowed"), PERMISSIVE_CORPUS)
def test_traversal_is_refused_with_symlinks_and_dotfiles_allowed(
    serve_site: Callable[..., Any], target: bytes, allowed: set[int]
):
    with serve_site(dotfiles=True, follow_symlinks=True) as port:
        response = raw_request(port, target)
    assert_no_leak(response)
    assert response.status in allowed, response.raw[:300]


@pytest.mark.parametrize(
    "target",
    [
        b"/../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/..%2fsecret.txt",
        b"/../www-secret/x",
        b"/x/../../secret.txt",
        b"/%252e%252e/secret.txt",
    ],
    ids=["dotdot", "encoded-dotdot", "encoded-slash", "sibling", "dotdot-deep", "double-enc"],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_traversal_below_a_prefix_is_refused(
    serve: Callable[..., Any], site: Path, target: bytes, method: str
):
    with serve(StaticFiles(site / "www", prefix="/assets")) as srv:
        for full in (b"/assets" + target, b"/assets%2f" + target.lstrip(b"/")):
            response = raw_request(srv.port, full, method)
            assert_no_leak(response)
            assert response.status in REFUSED, (full, response.raw[:300])


# --- redirects that must stay local ---------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "location"),
    [
        (b"//evil.example", "/evil.example/"),
        (b"///evil.example", "/evil.example/"),
        (b"//evil.example/.", "/evil.example/"),
        (b"/./evil.example", "/evil.example/"),
        (b"//evil.example?next=//x", "/evil.example/?next=//x"),
        (b"/%2e/evil.example", "/evil.example/"),
        (b"http://t//evil.example", "/evil.example/"),
        (b"http://evil.example/sub", "/sub/"),
        (b"/sub", "/sub/"),
    ],
    ids=[
        "double-slash-folder",
        "triple-slash-folder",
        "double-slash-dot",
        "dot-then-folder",
        "query-kept",
        "encoded-dot",
        "absolute-form-double-slash",
        "absolute-form-other-host",
        "plain-folder",
    ],
)
def test_folder_redirect_stays_local(serve_site: Callable[..., Any], target: bytes, location: str):
    with serve_site() as port:
        response = raw_request(port, target)
    assert response.status == 301, response.raw[:300]
    assert_local_location(response.headers["location"])
    assert response.headers["location"] == location


@pytest.mark.parametrize(
    "target", [b"/assets//evil.example", b"/assets///evil.example/."], ids=["double", "triple"]
)
def test_folder_redirect_below_a_prefix_stays_local(
    serve: Callable[..., Any], site: Path, target: bytes
):
    with serve(StaticFiles(site / "www", prefix="/assets")) as srv:
        response = raw_request(srv.port, target)
    assert response.status == 301
    assert_local_location(response.headers["location"], "/assets")
    assert response.headers["location"] == "/assets/evil.example/"


# --- symlinks and dotfiles: refused by default, served when allowed ---------------------------


@pytest.mark.parametrize(
    ("target", "content"),
    [
        (b"/link-secret", SECRET),
        (b"/link-secret-relative", SECRET),
        (b"/link-sibling", SIBLING_SECRET),
        (b"/link-outdir/x", SIBLING_SECRET),
    ],
    ids=["absolute-symlink", "relative-symlink", "sibling-symlink", "symlinked-folder"],
)
def test_symlink_out_of_the_root_needs_follow_symlinks(
    serve_site: Callable[..., Any], target: bytes, content: bytes
):
    with serve_site() as port:
        refused = raw_request(port, target)
    assert refused.status == 404
    assert content not in refused.raw
    with serve_site(follow_symlinks=True) as port:
        allowed = raw_request(port, target)
    assert allowed.status == 200
    assert allowed.body == content


@pytest.mark.parametrize(
    ("target", "content"),
    [(b"/link-inside", A_TXT), (b"/sub/link-up", A_TXT)],
    ids=["sibling-file", "parent-file-via-dotdot-target"],
)
def test_symlink_inside_the_root_is_served(
    serve_site: Callable[..., Any], target: bytes, content: bytes
):
    with serve_site() as port:
        response = raw_request(port, target)
    assert response.status == 200
    assert response.body == content


def test_symlink_retargeted_outside_after_being_served(serve_site: Callable[..., Any], site: Path):
    """A cached path whose symlink now points out of the root is checked again."""
    link = site / "www" / "link-inside"
    with serve_site() as port:
        assert raw_request(port, b"/link-inside").body == A_TXT
        link.unlink()
        link.symlink_to(site / "secret.txt")
        response = raw_request(port, b"/link-inside")
    assert_no_leak(response)
    assert response.status == 404


def test_listing_hides_symlinks_out_of_the_root(serve_site: Callable[..., Any]):
    with serve_site() as port:
        response = raw_request(port, b"/", headers={"Accept": "application/json"})
    names = {e["name"] for e in json.loads(response.body)["entries"]}
    assert "link-inside" in names
    assert "a.txt" in names
    assert not names & {"link-secret", "link-secret-relative", "link-sibling", "link-outdir"}
    assert not names & {".env", ".git"}


@pytest.mark.parametrize(
    ("target", "content"),
    [
        (b"/.env", b"DOTENV=1\n"),
        (b"/.git/config", b"[core]\n"),
        (b"/sub/.hidden", b"hidden in sub\n"),
    ],
    ids=["dotfile", "dotfolder", "dotfile-in-sub"],
)
def test_dotfiles_hidden_by_default_served_when_allowed(
    serve_site: Callable[..., Any], target: bytes, content: bytes
):
    with serve_site() as port:
        hidden = raw_request(port, target)
    assert hidden.status == 404
    assert content not in hidden.raw
    with serve_site(dotfiles=True) as port:
        shown = raw_request(port, target)
    assert shown.status == 200
    assert shown.body == content


def test_dotfiles_allowed_still_refuses_dotdot(serve_site: Callable[..., Any]):
    with serve_site(dotfiles=True) as port:
        for target in (b"/.%2e/secret.txt", b"/%2e%2e/secret.txt", b"/.../secret.txt"):
            response = raw_request(port, target)
            assert_no_leak(response)
            assert response.status in REFUSED, target


def test_the_root_folder_itself_is_not_a_way_out(serve: Callable[..., Any], site: Path):
    """A root given through a symlink and with a trailing slash behaves the same."""
    alias = site / "alias"
    alias.symlink_to(site / "www", target_is_directory=True)
    with serve(StaticFiles(os.fspath(alias) + "/")) as srv:
        assert raw_request(srv.port, b"/a.txt").body == A_TXT
        assert raw_request(srv.port, b"/link-inside").body == A_TXT
        for target in (b"/link-secret", b"/../secret.txt", b"/link-sibling"):
            response = raw_request(srv.port, target)
            assert_no_leak(response)
            assert response.status == 404, target


def test_control_ordinary_files_are_served(serve_site: Callable[..., Any]):
    """The fixture serves what it should, so the refusals above are not an empty server."""
    with serve_site() as port:
        assert raw_request(port, b"/a.txt").body == A_TXT
        assert raw_request(port, b"/sub/f.txt").body == b"f\n"
        assert raw_request(port, b"/evil.example/page.txt").body == b"page\n"
        assert raw_request(port, b"http://t/a.txt").body == A_TXT
        assert raw_request(port, b"/%61.txt").body == A_TXT


@pytest.mark.parametrize("follow", [False, True], ids=["default", "follow-symlinks"])
def test_special_files_are_not_served(serve: Callable[..., Any], site: Path, follow: bool):
    """A FIFO, a device and a symlink loop are 404 (opening a FIFO would block the server)."""
    www = site / "www"
    os.mkfifo(www / "fifo")
    (www / "zero").symlink_to("/dev/zero")
    (www / "loop").symlink_to("loop")
    (www / "folder-fifo").mkdir()
    os.mkfifo(www / "folder-fifo" / "index.html")
    with serve(StaticFiles(www, follow_symlinks=follow)) as srv:
        for target in (b"/fifo", b"/zero", b"/loop", b"/loop/x"):
            assert raw_request(srv.port, target).status == 404, target
        listing = raw_request(srv.port, b"/folder-fifo/", headers={"Accept": "application/json"})
        assert listing.status == 200
        assert raw_request(srv.port, b"/a.txt").body == A_TXT
