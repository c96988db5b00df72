"""HTML form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

`parse_form()` (behind ``await request.form()``) parses while it reads ``request.stream()``,
never after buffering the whole body. Multipart framing is python-multipart's; porch adds the
limits, the Content-Disposition reading and the files.

Uploaded files go to a `tempfile.SpooledTemporaryFile` that stays in memory up to
`spool_max_size` bytes and then rolls over to disk. A chunk that keeps the file in memory is
written inline (a memory copy); a chunk that makes it roll over, or that lands on disk, is
written with ``asyncio.to_thread``, so a slow disk never stalls the event loop.

A filename is kept exactly as the client sent it (``../../etc/passwd`` stays that string):
it is data to show, never a path to open.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import weakref
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote, unquote_to_bytes

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from porch.datastructures import Headers
from porch.errors import HTTPError

if TYPE_CHECKING:
    from porch.request import Request

__all__ = ["FormData", "FormLimits", "UploadFile", "parse_form"]

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MiB = 1024 * 1024

# token "=" ( token / quoted-string ), as in Content-Type and Content-Disposition parameters.
_PARAM = re.compile(
    r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|"[^"]*"|[^;"\s]*)\s*'
)
# RFC 2046 boundary characters, 1 to 70 of them, not ending with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# RFC 8187 ext-value: charset'language'percent-encoded.
_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)", re.DOTALL)

_parsed: weakref.WeakKeyDictionary[Request, FormData] = weakref.WeakKeyDictionary()


class FormLimits:
    """The limits of one parse; every one has a safe default (see `Request.form`).

    `max_fields` counts the non-file fields; `max_field_size` bounds one field's value (in
    urlencoded bodies, one encoded ``name=value`` pair); `max_file_size` bounds each file.
    """

    __slots__ = (
        "max_fields",
        "max_files",
        "max_part_headers",
        "max_field_size",
        "max_file_size",
        "spool_max_size",
    )

    def __init__(
        self,
        max_fields: int = 1000,
        max_files: int = 100,
        max_part_headers: int = 16,
        max_field_size: int = MiB,
        max_file_size: int | None = None,
        spool_max_size: int = MiB,
    ) -> None:
        self.max_fields = max_fields
        self.max_files = max_files
        self.max_part_headers = max_part_headers
        self.max_field_size = max_field_size
        self.max_file_size = max_file_size
        self.spool_max_size = spool_max_size


class UploadFile:
    """A file sent in a multipart form.

    `filename` is the client's name for it, exactly as sent (or None): never use it as a path.
    `file` is a `tempfile.SpooledTemporaryFile`, positioned at the start once the form is
    parsed. The async methods run on a thread once the file has rolled over to disk; a sync
    handler (already on a thread) may use `file` directly.
    """

    __slots__ = ("filename", "content_type", "headers", "file", "size", "_spool_max_size")

    def __init__(
        self,
        filename: str | None,
        content_type: str = "application/octet-stream",
        headers: Headers | None = None,
        spool_max_size: int = MiB,
    ) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else Headers([])
        self.file: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(
            max_size=spool_max_size
        )
        self.size = 0
        self._spool_max_size = spool_max_size

    @property
    def in_memory(self) -> bool:
        """The content has not rolled over to a file on disk."""
        return not getattr(self.file, "_rolled", True)

    async def read(self, size: int = -1) -> bytes:
        if self.in_memory:
            return self.file.read(size)
        return await asyncio.to_thread(self.file.read, size)

    async def seek(self, offset: int, whence: int = 0) -> int:
        if self.in_memory:
            return self.file.seek(offset, whence)
        return await asyncio.to_thread(self.file.seek, offset, whence)

    async def write(self, data: bytes) -> int:
        """Append `data` (grows `size`); rolls over to disk past the spool size."""
        file = self.file
        if self.in_memory and file.tell() + len(data) <= self._spool_max_size:
            written = file.write(data)  # stays in memory: a copy, no I/O
        else:
            written = await asyncio.to_thread(file.write, data)
        self.size += written
        return written

    async def close(self) -> None:
        if self.in_memory:
            self.file.close()
        else:
            await asyncio.to_thread(self.file.close)

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size})"
        )


FormValue = str | UploadFile


class FormData(Mapping[str, FormValue]):
    """A parsed form: `[]` and `get` give a name's first value, `getlist` all of them in
    order, `multi_items` every pair. Values are `str`, or `UploadFile` for file parts.

    ``async with await request.form() as form:`` closes (deletes) the uploaded files after;
    those left open are closed when the request is garbage (after its response is sent).
    """

    __slots__ = ("_items", "_first")

    def __init__(self, items: list[tuple[str, FormValue]] | None = None) -> None:
        self._items = items or []
        first: dict[str, FormValue] = {}
        for key, value in self._items:
            first.setdefault(key, value)
        self._first = first

    def __getitem__(self, key: str) -> FormValue:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getlist(self, key: str) -> list[FormValue]:
        return [value for name, value in self._items if name == key]

    def multi_items(self) -> list[tuple[str, FormValue]]:
        return list(self._items)

    @property
    def files(self) -> list[UploadFile]:
        return [value for _, value in self._items if isinstance(value, UploadFile)]

    async def close(self) -> None:
        """Close every uploaded file (their temporary files are deleted)."""
        for upload in self.files:
            await upload.close()

    async def __aenter__(self) -> FormData:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"FormData({self._items!r})"


async def parse_form(request: Request, limits: FormLimits) -> FormData:
    """Parse the request's form body once; later calls return the same `FormData`."""
    form = _parsed.get(request)
    if form is not None:
        _recheck(form, limits)  # parsed earlier (e.g. by the CSRF check) with other limits
        return form
    media_type, params = parse_header(request.headers.get("content-type", ""))
    if media_type == URLENCODED:
        form = await _read_urlencoded(request, limits)
    elif media_type == MULTIPART:
        form = await _read_multipart(request, params.get("boundary"), limits)
    else:
        got = f"'{media_type[:100]}'" if media_type else "no Content-Type"
        raise HTTPError(415, f"Expected a form body ({URLENCODED} or {MULTIPART}), got {got}")
    _parsed[request] = form
    files = [upload.file for upload in form.files]
    if files:
        # A handler that does not close its uploads leaks no temporary file: they are closed
        # (and deleted) when the request is done with, right after its response is sent.
        weakref.finalize(request, _close_files, files)
    return form


def _recheck(form: FormData, limits: FormLimits) -> None:
    """Hold a form parsed by an earlier call to this call's limits (a stricter
    `max_file_size`, say): a 413 as if this call had parsed it."""
    fields = [value for _, value in form.multi_items() if isinstance(value, str)]
    if len(fields) > limits.max_fields:
        raise _too_large(f"Too many form fields (limit {limits.max_fields})")
    if any(len(value.encode()) > limits.max_field_size for value in fields):
        raise _too_large(f"A form field is larger than {limits.max_field_size} bytes")
    files = form.files
    if len(files) > limits.max_files:
        raise _too_large(f"Too many files in the form (limit {limits.max_files})")
    limit = limits.max_file_size
    for upload in files:
        if limit is not None and upload.size > limit:
            raise _too_large(f"File {upload.filename!r} is larger than {limit} bytes")


def _close_files(files: list[tempfile.SpooledTemporaryFile[bytes]]) -> None:
    for file in files:
        file.close()


def parse_header(value: str) -> tuple[str, dict[str, str]]:
    """A header value with parameters (``type; name="value"``): (lowercased first part,
    {lowercased parameter name: value}). Quoted values lose their quotes and the ``\\\\``
    and ``\\"`` escapes only: a backslash before anything else is kept, as browsers send
    Windows paths unescaped."""
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest if rest else ""):
        name, raw = match.group(1).lower(), match.group(2)
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace("\\\\", "\\").replace('\\"', '"')
        params.setdefault(name, raw)
    return head.strip().lower(), params


# urlencoded -------------------------------------------------------------------------------


async def _read_urlencoded(request: Request, limits: FormLimits) -> FormData:
    """Split on ``&`` as chunks arrive; a pair still incomplete is bounded by
    `max_field_size` (counted on its encoded bytes)."""
    items: list[tuple[str, FormValue]] = []
    pending = bytearray()  # the pair still arriving; appended to, never re-copied whole
    async with aclosing(_stream(request)) as chunks:
        async for chunk in chunks:
            first, amp, rest = chunk.partition(b"&")
            pending += first
            if amp:
                *pairs, last = rest.split(b"&")
                _add_pair(items, bytes(pending), limits)
                for pair in pairs:
                    _add_pair(items, pair, limits)
                pending = bytearray(last)
            if len(pending) > limits.max_field_size:
                raise _too_large(f"A form field is larger than {limits.max_field_size} bytes")
    _add_pair(items, bytes(pending), limits)
    return FormData(items)


def _add_pair(items: list[tuple[str, FormValue]], pair: bytes, limits: FormLimits) -> None:
    if not pair:
        return
    if len(pair) > limits.max_field_size:
        raise _too_large(f"A form field is larger than {limits.max_field_size} bytes")
    if len(items) >= limits.max_fields:
        raise _too_large(f"Too many form fields (limit {limits.max_fields})")
    raw_name, _, raw_value = pair.partition(b"=")
    name = _decode(unquote_to_bytes(raw_name.replace(b"+", b" ")), "A form field name")
    value = _decode(unquote_to_bytes(raw_value.replace(b"+", b" ")), f"Form field {name!r}")
    items.append((name, value))


# multipart --------------------------------------------------------------------------------


async def _read_multipart(request: Request, boundary: str | None, limits: FormLimits) -> FormData:
    if not boundary:
        raise HTTPError(400, "The multipart/form-data Content-Type has no boundary parameter")
    if not _BOUNDARY.fullmatch(boundary):
        raise HTTPError(400, f"Invalid multipart boundary {boundary[:80]!r}")
    reader = _MultipartReader(boundary.encode("latin-1"), limits)
    try:
        async with aclosing(_stream(request)) as chunks:
            async for chunk in chunks:
                reader.feed(chunk)
                for upload, data in reader.take_writes():
                    await upload.write(data)
        reader.finish()
        for upload in reader.uploads:
            await upload.seek(0)
    except BaseException:
        # Closed at once, even when cancelled: deleting a temporary file is quick.
        for upload in reader.uploads:
            upload.file.close()
        raise
    return FormData(reader.items)


class _MultipartReader:
    """python-multipart's parser with porch's callbacks and limits (no I/O: the file writes
    it asks for are collected for the caller to do, and fetched with `take_writes`)."""

    def __init__(self, boundary: bytes, limits: FormLimits) -> None:
        self.limits = limits
        self.items: list[tuple[str, FormValue]] = []
        self.uploads: list[UploadFile] = []
        self.fields = 0
        self.started = False
        self.ended = False
        self.boundary = boundary.decode("latin-1")
        self._writes: list[tuple[UploadFile, bytes]] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._name = ""
        self._upload: UploadFile | None = None
        self._data = bytearray()
        self._size = 0  # bytes of the current part's content
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            # porch counts the headers itself, to say which limit was reached.
            max_header_count=limits.max_part_headers + 1,
        )

    def feed(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except MultipartParseError as exc:
            if not self.started:
                raise HTTPError(
                    400,
                    "Malformed multipart body: it does not start with the boundary "
                    f"{self.boundary!r} of its Content-Type ({exc})",
                ) from None
            raise HTTPError(400, f"Malformed multipart body: {exc}") from None

    def finish(self) -> None:
        if self.ended:
            return
        if not self.started:
            raise HTTPError(
                400,
                f"Malformed multipart body: no part starts with the boundary {self.boundary!r}",
            )
        raise HTTPError(400, "Malformed multipart body: it ends before its final boundary")

    def take_writes(self) -> list[tuple[UploadFile, bytes]]:
        """The file data parsed since the last call, adjacent pieces of one file joined."""
        writes = self._writes
        if not writes:
            return writes
        self._writes = []
        joined: list[tuple[UploadFile, bytes]] = []
        for upload, data in writes:
            if joined and joined[-1][0] is upload:
                joined[-1] = (upload, joined[-1][1] + data)
            else:
                joined.append((upload, data))
        return joined

    # callbacks ------------------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self.started = True
        self._headers = []
        self._upload = None
        self._data = bytearray()
        self._size = 0

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        if len(self._headers) >= self.limits.max_part_headers:
            raise _too_large(
                f"A multipart part has more than {self.limits.max_part_headers} headers"
            )
        self._headers.append((bytes(self._field).strip().lower(), bytes(self._value).strip()))
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        headers = Headers(self._headers)
        disposition = headers.get("content-disposition")
        if disposition is None:
            raise HTTPError(400, "A multipart part has no Content-Disposition header")
        kind, params = parse_header(_header_text(headers, "content-disposition"))
        if kind != "form-data" or "name" not in params:
            raise HTTPError(400, f"Invalid multipart Content-Disposition: {disposition!r}")
        self._name = params["name"]
        filename = _filename(params)
        content_type = _header_text(headers, "content-type")
        if filename is None:
            self.fields += 1
            if self.fields > self.limits.max_fields:
                raise _too_large(f"Too many form fields (limit {self.limits.max_fields})")
            return
        if len(self.uploads) >= self.limits.max_files:
            raise _too_large(f"Too many files in the form (limit {self.limits.max_files})")
        upload = UploadFile(
            filename,
            content_type or "application/octet-stream",
            headers,
            self.limits.spool_max_size,
        )
        self.uploads.append(upload)
        self._upload = upload

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._size += end - start
        upload = self._upload
        if upload is None:
            if self._size > self.limits.max_field_size:
                raise _too_large(
                    f"Form field {self._name!r} is larger than {self.limits.max_field_size} bytes"
                )
            self._data += data[start:end]
            return
        limit = self.limits.max_file_size
        if limit is not None and self._size > limit:
            raise _too_large(f"File {upload.filename!r} is larger than {limit} bytes")
        self._writes.append((upload, data[start:end]))

    def _on_part_end(self) -> None:
        if self._upload is None:
            value = _decode(bytes(self._data), f"Form field {self._name!r}")
            self.items.append((self._name, value))
        else:
            self.items.append((self._name, self._upload))
        self._data = bytearray()

    def _on_end(self) -> None:
        self.ended = True


def _stream(request: Request) -> AsyncGenerator[bytes, None]:
    """The body stream, typed as the async generator it is (so it can be closed early)."""
    return cast("AsyncGenerator[bytes, None]", request.stream())


def _filename(params: dict[str, str]) -> str | None:
    """The part's filename, RFC 8187 ``filename*`` first; as sent, never made safe."""
    extended = params.get("filename*")
    if extended is not None:
        match = _EXT_VALUE.fullmatch(extended)
        # RFC 8187 asks for UTF-8 and ISO-8859-1; nothing else is sent in practice.
        if match is None or match.group(1).lower() not in ("utf-8", "iso-8859-1"):
            raise HTTPError(400, f"Invalid filename* parameter {extended!r}")
        try:
            return unquote(match.group(2), encoding=match.group(1), errors="strict")
        except UnicodeDecodeError:
            raise HTTPError(400, f"Invalid filename* parameter {extended!r}") from None
    return params.get("filename")


def _header_text(headers: Headers, name: str) -> str:
    """A part header as text: browsers send names and filenames as raw UTF-8."""
    for key, value in headers.raw:
        if key == name.encode():
            return _decode(value, f"The {name} of a multipart part (field name, filename)")
    return ""


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError(400, f"{what} is not valid UTF-8") from None


def _too_large(detail: str) -> HTTPError:
    return HTTPError(413, detail)
