"""File responses: validators, conditional requests and ranges over one representation.

A `Representation` is one encoding of one file as it is now (its ETag, date, size and
headers), with the bytes when they are cached. `respond()` turns it into the response a
request calls for: 200, 206 (one range or multipart/byteranges), 304, 412 or 416.
`FileResponse(path)` is the same engine for an app that wants to send one file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

from porch.datastructures import FRAMING_HEADERS
from porch.errors import HTTPError
from porch.request import Request
from porch.response import FileBody, HeadersInit, Response
from porch.static.mime import content_type
from porch.static.ranges import Unsatisfiable, parse_ranges
from porch.static.validators import (
    Conditions,
    etag_for,
    evaluate,
    http_date,
    if_range_allows,
)

__all__ = ["FileResponse", "Representation", "request_fields", "respond"]

# Headers a 304 repeats from the 200 it stands for (RFC 9110 15.4.5).
_KEPT_ON_304 = frozenset(("etag", "last-modified", "cache-control", "vary", "expires"))
_WANTED = frozenset(
    (
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"range",
        b"if-range",
        b"accept-encoding",
        b"accept",
    )
)


class Representation:
    """One encoding of a file at one moment. `headers` are those of a full 200 response
    except Content-Length; `data` holds the bytes when the file is small enough to cache."""

    __slots__ = ("path", "etag", "mtime", "size", "media_type", "headers", "data", "signature")

    def __init__(
        self,
        path: str,
        st: os.stat_result,
        media_type: str,
        headers: list[tuple[str, str]],
        data: bytes | None = None,
        etag_suffix: str = "",
    ) -> None:
        self.path = path
        self.etag = etag_for(st, etag_suffix)
        self.mtime = st.st_mtime
        self.size = st.st_size if data is None else len(data)
        self.media_type = media_type
        self.signature = signature(st)
        self.headers = [
            ("content-type", media_type),
            ("etag", self.etag),
            ("last-modified", http_date(st.st_mtime)),
            ("accept-ranges", "bytes"),
            *headers,
        ]
        self.data = data


def signature(st: os.stat_result) -> tuple[int, int, int, int]:
    """What identifies a file's content for caching: device, inode, size, mtime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def request_fields(request: Request) -> dict[bytes, str]:
    """The header fields file serving looks at, in one pass over the raw headers."""
    found: dict[bytes, str] = {}
    for name, value in request.raw_headers:
        if name in _WANTED:
            text = value.decode("latin-1")
            found[name] = found[name] + ", " + text if name in found else text
    return found


def respond(request: Request, rep: Representation, fields: dict[bytes, str]) -> Response:
    """The response to a GET or HEAD for `rep`, honouring preconditions and Range."""
    if fields:
        conditions = Conditions(
            fields.get(b"if-match"),
            fields.get(b"if-none-match"),
            fields.get(b"if-modified-since"),
            fields.get(b"if-unmodified-since"),
        )
        status = evaluate(conditions, rep.etag, rep.mtime)
        if status is not None:
            kept = [(n, v) for n, v in rep.headers if n in _KEPT_ON_304] if status == 304 else []
            return _response(b"", status, kept)
        range_header = fields.get(b"range")
        if range_header is not None and if_range_allows(
            fields.get(b"if-range"), rep.etag, rep.mtime
        ):
            try:
                ranges = parse_ranges(range_header, rep.size)
            except Unsatisfiable:
                return _response(
                    b"",
                    416,
                    [
                        ("content-range", f"bytes */{rep.size}"),
                        ("accept-ranges", "bytes"),
                        # The size depends on the encoding chosen: caches must key on it.
                        *[(n, v) for n, v in rep.headers if n == "vary"],
                    ],
                )
            if ranges is not None:
                return _partial(rep, ranges)
    if rep.data is not None:
        return _response(rep.data, 200, list(rep.headers))
    return _file_response(200, list(rep.headers), rep, 0, rep.size)


def _response(body: bytes, status: int, headers: list[tuple[str, str]]) -> Response:
    response = Response(body, status)
    response.headers._list = headers
    return response


def _file_response(
    status: int, headers: list[tuple[str, str]], rep: Representation, offset: int, count: int
) -> Response:
    try:
        file = open(rep.path, "rb")  # noqa: SIM115 - the server closes it after sending
    except FileNotFoundError:
        raise HTTPError(404, "Not Found") from None
    except OSError as exc:
        raise HTTPError(403, f"Cannot read this file: {exc.strerror}") from None
    if signature(os.fstat(file.fileno())) != rep.signature:
        file.close()
        raise HTTPError(
            503, "The file changed while it was being opened; retry", {"retry-after": "1"}
        )
    response = Response(b"", status)
    response.headers._list = headers
    response.stream = FileBody(file, offset, count)
    return response


def _partial(rep: Representation, ranges: list[tuple[int, int]]) -> Response:
    size = rep.size
    headers = [(n, v) for n, v in rep.headers if n != "content-type"]
    if len(ranges) == 1:
        start, end = ranges[0]
        headers += [
            ("content-type", rep.media_type),
            ("content-range", f"bytes {start}-{end}/{size}"),
        ]
        if rep.data is not None:
            return _response(rep.data[start : end + 1], 206, headers)
        return _file_response(206, headers, rep, start, end - start + 1)
    boundary = secrets.token_hex(16)
    heads = [
        (
            f"--{boundary}\r\ncontent-type: {rep.media_type}\r\n"
            f"content-range: bytes {start}-{end}/{size}\r\n\r\n"
        ).encode("latin-1")
        for start, end in ranges
    ]
    closing = f"--{boundary}--\r\n".encode("latin-1")
    length = sum(
        len(h) + end - start + 1 + 2 for h, (start, end) in zip(heads, ranges, strict=True)
    )
    length += len(closing)
    headers.append(("content-type", f"multipart/byteranges; boundary={boundary}"))
    if rep.data is not None:
        data = rep.data
        body = b"".join(
            h + data[start : end + 1] + b"\r\n"
            for h, (start, end) in zip(heads, ranges, strict=True)
        )
        return _response(body + closing, 206, headers)
    response = Response(b"", 206)
    headers.append(("content-length", str(length)))
    response.headers._list = headers
    response.headers.framing = True
    response.stream = _multipart(rep, ranges, heads, closing)
    return response


async def _multipart(
    rep: Representation, ranges: list[tuple[int, int]], heads: list[bytes], closing: bytes
) -> AsyncIterator[bytes]:
    with open(rep.path, "rb") as file:
        if signature(os.fstat(file.fileno())) != rep.signature:
            raise OSError(f"{rep.path!r} changed before its ranges were sent")
        fd = file.fileno()
        for head, (start, end) in zip(heads, ranges, strict=True):
            yield head
            offset, remaining = start, end - start + 1
            while remaining:
                data = os.pread(fd, min(remaining, 256 * 1024), offset)
                if not data:
                    raise OSError(f"{rep.path!r} shrank while its ranges were sent")
                offset += len(data)
                remaining -= len(data)
                yield data
            yield b"\r\n"
        yield closing


class _Deferred:
    """Marks a response whose body is decided by `for_request`."""


class FileResponse(Response):
    """Send one file, with ETag, Last-Modified, conditional requests and ranges.

    ``FileResponse("report.pdf", filename="report.pdf")`` adds a Content-Disposition that
    makes browsers download it. A missing file is a 404. The file is opened only when the
    response is sent, and sent with sendfile when it is large.
    """

    __slots__ = ("_rep",)

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        filename: str | None = None,
        inline: bool = False,
    ) -> None:
        super().__init__(b"", status, headers)
        path = os.fspath(path)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise HTTPError(404, "Not Found") from None
        if not os.path.isfile(path):
            raise HTTPError(404, "Not Found")
        # Framing is the server's business: an app's Content-Length would be wrong for a range.
        extra = [(n, v) for n, v in self.headers.items() if n not in FRAMING_HEADERS]
        if filename is not None:
            extra.append(("content-disposition", _disposition(filename, inline)))
        media = media_type or content_type(filename or os.path.basename(path))
        self._rep = Representation(path, st, media, extra)
        self.stream: Any = _Deferred()

    def for_request(self, request: Request) -> Response:
        if self.status != 200:
            # An error page or other status sends the whole file, whatever the request asks:
            # ranges and preconditions apply to a 200 only (RFC 9110 13.2.1, 14.2).
            response = respond(request, self._rep, {})
            response.status = self.status
            return response
        return respond(request, self._rep, request_fields(request))


def _disposition(filename: str, inline: bool) -> str:
    from urllib.parse import quote

    kind = "inline" if inline else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "").replace("\\", "")
    ascii_name = "".join(c if 0x20 <= ord(c) < 0x7F else "_" for c in ascii_name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
