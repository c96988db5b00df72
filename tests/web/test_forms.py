"""`await request.form()`: urlencoded and multipart, over real sockets and in-process."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import httpx
import pytest

from porch import App, HTTPError, Request
from porch.request import RequestBody
from porch.web.forms import FormData, UploadFile, parse_header
from porch.web.testing import TestClient, live_server
from tests.conftest import Reader

LIMITS = (
    "max_fields",
    "max_files",
    "max_part_headers",
    "max_field_size",
    "max_file_size",
    "spool_max_size",
)


def form_app() -> App:
    """POST /form echoes the form as JSON; query parameters set the limits of `form()`."""
    app = App()

    @app.post("/form")
    async def echo(request: Request) -> list[object]:
        limits = {k: int(v) for k, v in request.query.items() if k in LIMITS}
        async with await request.form(**limits) as form:
            assert await request.form() is form  # parsed once
            out: list[object] = []
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    out.append(
                        [
                            name,
                            {
                                "filename": value.filename,
                                "content_type": value.content_type,
                                "size": value.size,
                                "sha256": hashlib.sha256(data).hexdigest(),
                                "text": data[:64].decode("latin-1"),
                                "rolled": value.file._rolled,  # type: ignore[attr-defined]
                            },
                        ]
                    )
                else:
                    out.append([name, value])
            return out

    return app


@pytest.fixture(params=["socket", "in-process"])
def client(request):
    """An httpx client on a real server, or the in-process TestClient: same interface."""
    if request.param == "socket":
        with live_server(form_app()) as srv, httpx.Client(base_url=srv.url) as http:
            yield http
    else:
        with TestClient(form_app()) as test_client:
            yield test_client


def multipart(*parts: bytes, boundary: str = "XyZ") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary.encode() + b"--\r\n"


def field(name: bytes, value: bytes, extra: bytes = b"") -> bytes:
    return b'Content-Disposition: form-data; name="' + name + b'"\r\n' + extra + b"\r\n" + value


def file_part(name: bytes, filename: bytes, data: bytes, media: bytes = b"text/plain") -> bytes:
    return (
        b'Content-Disposition: form-data; name="'
        + name
        + b'"; filename="'
        + filename
        + b'"\r\nContent-Type: '
        + media
        + b"\r\n\r\n"
        + data
    )


MULTIPART = {"content-type": "multipart/form-data; boundary=XyZ"}


# fields and files ----------------------------------------------------------------------------


def test_urlencoded_fields_and_repeats(client):
    response = client.post("/form", data={"a": ["1", "2"], "name": "Zoë & co", "empty": ""})
    assert response.status_code == 200
    assert response.json() == [["a", "1"], ["a", "2"], ["name", "Zoë & co"], ["empty", ""]]
    raw = client.post(
        "/form",
        content=b"x=1&&y&z=a+b%2B&x=2",
        headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert raw.json() == [["x", "1"], ["y", ""], ["z", "a b+"], ["x", "2"]]


def test_multipart_fields_and_files_are_byte_exact(client):
    blob = bytes(range(256)) * 40 + b"\r\n--XyZ almost a boundary\r\n"
    response = client.post(
        "/form",
        data={"title": "héllo", "tag": ["a", "b"]},
        files={"doc": ("report.bin", blob, "application/x-thing"), "note": ("n.txt", b"hi")},
    )
    assert response.status_code == 200
    items = response.json()
    assert items[:3] == [["title", "héllo"], ["tag", "a"], ["tag", "b"]]
    doc, note = items[3][1], items[4][1]
    assert doc["filename"] == "report.bin"
    assert doc["content_type"] == "application/x-thing"
    assert doc["size"] == len(blob)
    assert doc["sha256"] == hashlib.sha256(blob).hexdigest()
    assert doc["rolled"] is False
    assert (note["filename"], note["text"], note["size"]) == ("n.txt", "hi", 2)


def test_large_file_spools_to_disk(client):
    blob = (b"0123456789abcdef" * 65536) * 3  # 3 MiB
    response = client.post("/form", files={"big": ("big.bin", blob)})
    big = response.json()[0][1]
    assert (big["size"], big["rolled"]) == (len(blob), True)
    assert big["sha256"] == hashlib.sha256(blob).hexdigest()
    small = client.post("/form?spool_max_size=100", files={"f": ("f", b"x" * 101)})
    assert small.json()[0][1]["rolled"] is True


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (b"../../etc/passwd", "../../etc/passwd"),
        (b"C:\\x", "C:\\x"),
        (b"/abs/path.txt", "/abs/path.txt"),
        ("na\u00efve \u2603.txt".encode(), "na\u00efve \u2603.txt"),
        (b"", ""),
    ],
)
def test_filenames_are_kept_as_plain_strings(client, sent, kept):
    body = multipart(file_part(b"f", sent, b"data"))
    response = client.post("/form", content=body, headers=MULTIPART)
    assert response.status_code == 200
    assert response.json()[0][1]["filename"] == kept


def test_filename_star_and_part_defaults(client):
    part = (
        b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC%20rates.txt"
        b"\r\n\r\nx"
    )
    body = multipart(part, field(b"plain", b"v", b"Content-Type: text/plain\r\n"))
    response = client.post("/form", content=body, headers=MULTIPART)
    upload = response.json()[0][1]
    assert (upload["filename"], upload["content_type"]) == (
        "\u20ac rates.txt",
        "application/octet-stream",
    )
    assert response.json()[1] == ["plain", "v"]


# limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ("max_fields=2", multipart(*[field(b"a", b"1")] * 3), "Too many form fields (limit 2)"),
        (
            "max_files=1",
            multipart(file_part(b"f", b"1", b""), file_part(b"f", b"2", b"")),
            "Too many files in the form (limit 1)",
        ),
        (
            "max_part_headers=2",
            multipart(field(b"a", b"1", b"X-One: 1\r\nX-Two: 2\r\n")),
            "A multipart part has more than 2 headers",
        ),
        (
            "max_field_size=10",
            multipart(field(b"a", b"x" * 11)),
            "Form field 'a' is larger than 10 bytes",
        ),
        (
            "max_file_size=100",
            multipart(file_part(b"f", b"big", b"x" * 101)),
            "File 'big' is larger than 100 bytes",
        ),
    ],
)
def test_multipart_limits(client, query, body, message):
    response = client.post(f"/form?{query}", content=body, headers=MULTIPART)
    assert response.status_code == 413
    assert response.text == message + "\n"


def test_limits_at_their_value_pass(client):
    body = multipart(field(b"a", b"x" * 10), field(b"b", b"1", b"X-One: 1\r\n"))
    ok = client.post(
        "/form?max_fields=2&max_field_size=10&max_part_headers=2", content=body, headers=MULTIPART
    )
    assert ok.json() == [["a", "x" * 10], ["b", "1"]]


def test_urlencoded_limits(client):
    form = {"content-type": "application/x-www-form-urlencoded"}
    many = client.post("/form?max_fields=3", content=b"a=1&b=2&c=3&d=4", headers=form)
    assert (many.status_code, many.text) == (413, "Too many form fields (limit 3)\n")
    big = client.post("/form?max_field_size=8", content=b"a=1&b=" + b"x" * 100, headers=form)
    assert (big.status_code, big.text) == (413, "A form field is larger than 8 bytes\n")
    big = client.post("/form?max_field_size=8", content=b"b=" + b"x" * 100 + b"&a=1", headers=form)
    assert (big.status_code, big.text) == (413, "A form field is larger than 8 bytes\n")
    default = client.post("/form", content=b"&".join([b"k=v"] * 1001), headers=form)
    assert default.status_code == 413


def test_server_body_limit_still_applies():
    with live_server(form_app(), limit_body_size=1000) as srv:
        body = multipart(file_part(b"f", b"big", b"x" * 2000))
        response = httpx.post(srv.url + "/form", content=body, headers=MULTIPART)
        assert response.status_code == 413


# malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("multipart/form-data", multipart(field(b"a", b"1")), 400, "has no boundary parameter"),
        ("multipart/form-data; boundary=", b"", 400, "has no boundary parameter"),
        ("multipart/form-data; boundary=" + "b" * 71, b"", 400, "Invalid multipart boundary"),
        ("multipart/form-data; boundary=other", multipart(field(b"a", b"1")), 400, "'other'"),
        (MULTIPART["content-type"], multipart(field(b"a", b"1"))[:-9], 400, "ends before"),
        (MULTIPART["content-type"], b"", 400, "no part starts with the boundary 'XyZ'"),
        (MULTIPART["content-type"], b"garbage\r\n\r\n", 400, "Malformed multipart body"),
        (MULTIPART["content-type"], multipart(b"X-A: 1\r\n\r\nv"), 400, "no Content-Disposition"),
        (
            MULTIPART["content-type"],
            multipart(b"Content-Disposition: attachment\r\n\r\nv"),
            400,
            "Invalid multipart Content-Disposition",
        ),
        (MULTIPART["content-type"], multipart(field(b"\xff", b"1")), 400, "is not valid UTF-8"),
        (MULTIPART["content-type"], multipart(field(b"a", b"\xff")), 400, "is not valid UTF-8"),
        (
            MULTIPART["content-type"],
            b"--XyZ\r\n" + b"X-Long: " + b"v" * 5000 + b"\r\n\r\n",
            400,
            "Maximum header size exceeded",
        ),
        (
            MULTIPART["content-type"],
            multipart(b"Content-Disposition: form-data; name=f; filename*=nope\r\n\r\n"),
            400,
            "Invalid filename* parameter",
        ),
        (
            MULTIPART["content-type"],
            multipart(b"Content-Disposition: form-data; name=f; filename*=x-no''a\r\n\r\n"),
            400,
            "Invalid filename* parameter",
        ),
        (
            MULTIPART["content-type"],
            multipart(b"Content-Disposition: form-data; name=f; filename*=utf-8''%FF\r\n\r\n"),
            400,
            "Invalid filename* parameter",
        ),
        ("application/x-www-form-urlencoded", b"%FF=1", 400, "name is not valid UTF-8"),
        ("text/plain", b"a=1", 415, "got 'text/plain'"),
        ("application/json", b"{}", 415, "Expected a form body"),
    ],
)
def test_malformed_bodies_are_client_errors(client, content_type, body, status, message):
    response = client.post("/form", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    assert message in response.text


def test_missing_content_type_is_415(client):
    response = client.post("/form", content=b"a=1")
    assert response.status_code == 415
    assert "got no Content-Type" in response.text


# streaming -----------------------------------------------------------------------------------


def test_body_sent_slowly_in_pieces():
    body = multipart(field(b"a", b"1"), file_part(b"f", b"f.bin", bytes(range(256)) * 20))
    head = (
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with live_server(form_app()) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(head)
            for start in range(0, len(body), 7):
                sock.sendall(body[start : start + 7])
            status, _, content = Reader(sock).response()
    assert status == 200
    assert b'"sha256":"' + hashlib.sha256(bytes(range(256)) * 20).hexdigest().encode() in content


def test_a_limit_is_answered_before_the_rest_of_the_body_is_sent():
    """Parsing happens as the body arrives: the 413 comes while most of it is unsent."""
    first = b"--XyZ\r\n" + field(b"a", b"x" * 2000)
    head = (
        b"POST /form?max_field_size=1000 HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 5000000\r\n\r\n"
    )
    with live_server(form_app()) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(head + first)
            status, _, content = Reader(sock).response()
    assert (status, content) == (413, b"Form field 'a' is larger than 1000 bytes\n")


class _Source:
    def __init__(self) -> None:
        self.paused = 0

    def pause_body(self) -> None:
        self.paused += 1

    def resume_body(self) -> None:
        pass

    def send_continue(self) -> None:
        pass


def _streaming_request(content_type: str) -> tuple[Request, RequestBody, _Source]:
    request = Request.build("POST", "/", [("content-type", content_type)], b"")
    request._body_bytes = None
    source = _Source()
    body = request._body = RequestBody(source, False, 64)
    request.body_kind = 1
    return request, body, source


def test_parsed_one_byte_at_a_time():
    payload = bytes(range(256)) * 10

    async def main() -> FormData:
        request, body, source = _streaming_request(MULTIPART["content-type"])
        data = multipart(field(b"a", b"1"), file_part(b"f", b"../x", payload))
        for i in range(len(data)):
            body.feed(data[i : i + 1])
        body.finish()
        assert source.paused == 1  # the connection would have stopped reading
        form = await request.form()
        assert isinstance(form["f"], UploadFile)
        assert await form["f"].read() == payload
        await form.close()
        return form

    form = asyncio.run(main())
    assert form["a"] == "1"
    assert form.getlist("a") == ["1"]
    assert list(form) == ["a", "f"] and len(form) == 2
    upload = form["f"]
    assert isinstance(upload, UploadFile) and upload.file.closed


def test_urlencoded_parsed_one_byte_at_a_time():
    async def main() -> FormData:
        request, body, _ = _streaming_request("application/x-www-form-urlencoded")
        data = b"a=1&b=%C3%A9t%C3%A9&a=2&&c"
        for i in range(len(data)):
            body.feed(data[i : i + 1])
        body.finish()
        return await request.form(max_field_size=17)

    form = asyncio.run(main())
    assert form.multi_items() == [("a", "1"), ("b", "été"), ("a", "2"), ("c", "")]


def test_uploads_left_open_are_closed_with_the_request():
    kept: list[UploadFile] = []
    app = App()

    @app.post("/")
    async def keep(request: Request) -> str:
        upload = (await request.form())["f"]
        assert isinstance(upload, UploadFile)
        kept.append(upload)
        return "ok"

    with TestClient(app) as client:
        assert client.post("/", files={"f": ("f", b"x" * 2_000_000)}).text == "ok"
        assert kept[0].file.closed


def test_form_raises_on_a_limit_without_waiting_for_the_rest():
    async def main() -> HTTPError:
        request, body, _ = _streaming_request(MULTIPART["content-type"])
        body.feed(b"--XyZ\r\n" + field(b"a", b"x" * 100))  # the body never finishes
        with pytest.raises(HTTPError) as caught:
            await asyncio.wait_for(request.form(max_field_size=50), 5)
        return caught.value

    error = asyncio.run(main())
    assert (error.status, error.detail) == (413, "Form field 'a' is larger than 50 bytes")


def test_uploads_are_closed_when_parsing_fails():
    async def main() -> list[UploadFile]:
        request, body, _ = _streaming_request(MULTIPART["content-type"])
        body.feed(multipart(file_part(b"f", b"1", b"a"))[:-9])  # no final boundary
        body.finish()
        created: list[UploadFile] = []
        original = UploadFile.__init__

        def spy(self: UploadFile, *args: object, **kwargs: object) -> None:
            original(self, *args, **kwargs)  # type: ignore[arg-type]
            created.append(self)

        UploadFile.__init__ = spy  # type: ignore[method-assign]
        try:
            with pytest.raises(HTTPError, match="ends before"):
                await request.form()
        finally:
            UploadFile.__init__ = original  # type: ignore[method-assign]
        return created

    created = asyncio.run(main())
    assert len(created) == 1 and created[0].file.closed


def test_parse_header():
    assert parse_header('form-data; name="a;b"; filename="C:\\x"') == (
        "form-data",
        {"name": "a;b", "filename": "C:\\x"},
    )
    assert parse_header('Multipart/Form-Data; Boundary="q\\"x"') == (
        "multipart/form-data",
        {"boundary": 'q"x'},
    )
    assert parse_header("") == ("", {})
