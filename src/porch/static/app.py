"""`StaticFiles`: a native porch app that serves a folder.

Per request, a file already seen costs one dict lookup and one ``stat``: the resolved path,
its headers and (for small files) its bytes are cached, keyed by the raw request path, and
reused only while device, inode, size and mtime are unchanged. Anything else is resolved
again, symlink checks included. Reads happen on the event loop, without a thread hop: small
files come from memory, large ones go out with sendfile.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
from collections import OrderedDict
from dataclasses import dataclass, field

from porch.errors import ConfigError, HTTPError
from porch.http.negotiation import coding_weight, coding_weights
from porch.request import Request
from porch.response import Response
from porch.static.files import Representation, request_fields, respond, signature
from porch.static.listing import Entry, render_html, render_json
from porch.static.mime import content_type, is_compressible
from porch.static.paths import clean_segments, is_inside, segments_to_url
from porch.static.validators import Conditions, evaluate

__all__ = ["StaticFiles"]

_ALLOW = "GET, HEAD, OPTIONS"
# A content hash before the extension, as bundlers write them: 8+ lowercase hex characters
# with a digit and a letter (webpack, esbuild), or 8 base64url characters mixing upper case,
# lower case and digits (Vite, Rollup). "chapter1.section2.html" is not one.
_HASHED = re.compile(
    r"[.-](?:(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}"
    r"|(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{8})"
    r"\.\w+$"
)
_LISTING_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"


@dataclass
class _File:
    """A resolved file and its representations: identity first, then precompressed ones."""

    path: str
    identity: Representation
    encodings: dict[str, Representation] = field(default_factory=dict)
    varies: bool = False

    @property
    def cost(self) -> int:
        return sum(len(r.data or b"") for r in (self.identity, *self.encodings.values()))


class StaticFiles:
    """Serve the files below `directory`.

    prefix: the URL path the folder is mounted at (``/assets``); other paths get 404.
    index: the file served for a folder URL (``/docs/`` -> ``docs/index.html``).
    listing: show a folder without an index as a page (JSON for ``Accept: application/json``).
    dotfiles: serve names starting with a dot (hidden by default).
    follow_symlinks: follow symlinks that lead outside the folder (refused by default).
    max_age: ``Cache-Control: public, max-age=N`` on every file (none by default).
    immutable_hashed: a year-long, immutable Cache-Control for names with a content hash
        (``app.3f9a2c1b.js``).
    precompressed: serve ``NAME.br`` / ``NAME.gz`` siblings to clients that accept them.
    gzip: compress text files on the fly for clients that accept gzip (cached when small).
    cache_file_size / cache_size: the largest file kept in memory, and the memory in all.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        prefix: str = "/",
        index: str | None = "index.html",
        listing: bool = True,
        dotfiles: bool = False,
        follow_symlinks: bool = False,
        max_age: int | None = None,
        immutable_hashed: bool = False,
        precompressed: bool = True,
        gzip: bool = False,
        cache_file_size: int = 256 * 1024,
        cache_size: int = 64 * 1024 * 1024,
    ) -> None:
        root = os.path.realpath(directory)
        if not os.path.isdir(root):
            raise ConfigError(f"{os.fspath(directory)!r} is not a folder")
        self.root = root
        self.prefix = prefix.rstrip("/").encode("utf-8")
        self.index = index
        self.listing = listing
        self.dotfiles = dotfiles
        self.follow_symlinks = follow_symlinks
        self.max_age = max_age
        self.immutable_hashed = immutable_hashed
        self.precompressed = precompressed
        self.gzip = gzip
        self.cache_file_size = cache_file_size
        self.cache_size = cache_size
        self._files: OrderedDict[bytes, _File] = OrderedDict()
        self._cached_bytes = 0

    async def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            if request.method == "OPTIONS":
                return Response(b"", 204, {"allow": _ALLOW})
            raise HTTPError(405, "Method Not Allowed", {"allow": _ALLOW})
        raw = request.raw_path
        found = self._files.get(raw)
        if found is not None:
            try:
                st = os.stat(found.path)
            except OSError:
                st = None
            if st is not None and signature(st) == found.identity.signature:
                self._files.move_to_end(raw)
                return self._respond(request, found)
            self._forget(raw)
        return self._serve(request, raw)

    # resolving -------------------------------------------------------------------------

    def _serve(self, request: Request, raw: bytes) -> Response:
        if raw != self.prefix and not raw.startswith(self.prefix + b"/"):
            raise HTTPError(404, "Not Found")
        segments = clean_segments(raw[len(self.prefix) :], dotfiles=self.dotfiles)
        if segments is None:
            raise HTTPError(404, "Not Found")
        path = os.path.join(self.root, *segments)
        if not self.follow_symlinks and not is_inside(self.root, path):
            raise HTTPError(404, "Not Found")
        try:
            st = os.stat(path)
        except OSError:
            raise HTTPError(404, "Not Found") from None
        if stat.S_ISDIR(st.st_mode):
            return self._folder(request, raw, segments, path)
        if not stat.S_ISREG(st.st_mode):
            raise HTTPError(404, "Not Found")
        found = self._load(path, st)
        self._remember(raw, found)
        return self._respond(request, found)

    def _folder(self, request: Request, raw: bytes, segments: list[str], path: str) -> Response:
        if not raw.endswith(b"/"):
            location = self.prefix.decode("utf-8") + segments_to_url(segments, trailing_slash=True)
            if request.query_string:
                location += "?" + request.query_string.decode("ascii")
            return Response(b"", 301, {"location": location})
        if self.index:
            index = os.path.join(path, self.index)
            try:
                st = os.stat(index)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode):
                if self.follow_symlinks or is_inside(self.root, index):
                    found = self._load(index, st)
                    self._remember(raw, found)
                    return self._respond(request, found)
        if not self.listing:
            raise HTTPError(404, "Not Found")
        return self._listing(request, segments, path)

    def _listing(self, request: Request, segments: list[str], path: str) -> Response:
        entries = []
        try:
            with os.scandir(path) as it:
                for item in it:
                    if item.name.startswith(".") and not self.dotfiles:
                        continue
                    try:
                        st = item.stat()
                    except OSError:
                        continue  # a dangling symlink, or gone meanwhile
                    if item.is_symlink() and not self.follow_symlinks:
                        if not is_inside(self.root, item.path):
                            continue
                    is_dir = stat.S_ISDIR(st.st_mode)
                    entries.append(
                        Entry(item.name, is_dir, 0 if is_dir else st.st_size, st.st_mtime)
                    )
        except OSError:
            raise HTTPError(404, "Not Found") from None
        url_path = (self.prefix.decode("utf-8") + segments_to_url(segments, True)) or "/"
        headers = {
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "vary": "accept",  # HTML or JSON, by Accept
        }
        if _prefers_json(request.headers.get("accept", "")):
            body, media = render_json(url_path, entries), "application/json"
        else:
            query = request.query
            key = query.get("sort", "name")
            descending = query.get("order", "asc") == "desc"
            body = render_html(url_path, entries, key, descending).encode("utf-8")
            media = "text/html"
            headers["content-security-policy"] = _LISTING_CSP
        # A strong validator of this exact page, so revalidation costs a 304, not the page.
        headers["etag"] = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        matches = request.headers.get("if-none-match")
        if matches is not None and evaluate(Conditions(None, matches), headers["etag"], 0) == 304:
            return Response(b"", 304, headers)
        return Response(body, 200, headers, media)

    # representations ---------------------------------------------------------------------

    def _load(self, path: str, st: os.stat_result) -> _File:
        name = os.path.basename(path)
        media = content_type(name)
        headers = [("x-content-type-options", "nosniff")]
        cache_control = self._cache_control(name)
        if cache_control:
            headers.append(("cache-control", cache_control))
        found = _File(path, Representation(path, st, media, headers, self._read_small(path, st)))
        if self.precompressed:
            for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
                try:
                    cst = os.stat(path + suffix)
                except OSError:
                    continue
                if stat.S_ISREG(cst.st_mode):
                    rep = Representation(
                        path + suffix,
                        cst,
                        media,
                        [*headers, ("content-encoding", encoding)],
                        self._read_small(path + suffix, cst),
                        etag_suffix="-" + encoding[:2],
                    )
                    found.encodings[encoding] = rep
        if self.gzip and "gzip" not in found.encodings and is_compressible(media):
            data = found.identity.data
            if data is not None and len(data) >= 256:
                packed = gzip.compress(data, compresslevel=6, mtime=0)
                if len(packed) < len(data):
                    found.encodings["gzip"] = Representation(
                        path,
                        st,
                        media,
                        [*headers, ("content-encoding", "gzip")],
                        packed,
                        etag_suffix="-gz",
                    )
        found.varies = bool(found.encodings) or (self.gzip and is_compressible(media))
        if found.varies:
            for rep in (found.identity, *found.encodings.values()):
                rep.headers.append(("vary", "accept-encoding"))
        return found

    def _read_small(self, path: str, st: os.stat_result) -> bytes | None:
        if st.st_size > self.cache_file_size:
            return None
        try:
            with open(path, "rb") as file:
                data = file.read(st.st_size + 1)
        except OSError:
            return None
        return data if len(data) == st.st_size else None

    def _cache_control(self, name: str) -> str | None:
        if self.immutable_hashed and _HASHED.search(name):
            return "public, max-age=31536000, immutable"
        if self.max_age is not None:
            return f"public, max-age={self.max_age}"
        return None

    def _respond(self, request: Request, found: _File) -> Response:
        fields = request_fields(request)
        rep = found.identity
        if found.encodings:
            accepted = fields.get(b"accept-encoding")
            if accepted:
                rep = _negotiate(found, accepted, b"range" in fields)
        return respond(request, rep, fields)

    # the cache -----------------------------------------------------------------------------

    def _remember(self, raw: bytes, found: _File) -> None:
        if len(self._files) >= 10_000:
            self._forget(next(iter(self._files)))
        self._forget(raw)
        self._files[raw] = found
        self._cached_bytes += found.cost
        while self._cached_bytes > self.cache_size and self._files:
            self._forget(next(iter(self._files)))

    def _forget(self, raw: bytes) -> None:
        found = self._files.pop(raw, None)
        if found is not None:
            self._cached_bytes -= found.cost


def _negotiate(found: _File, accepted: str, ranged: bool) -> Representation:
    """The best encoding the client accepts (br before gzip), by Accept-Encoding q-values."""
    weights = coding_weights(accepted)
    for encoding in ("br", "gzip"):
        rep = found.encodings.get(encoding)
        if rep is None:
            continue
        if coding_weight(weights, encoding) > 0 and not (
            ranged and rep.path == found.identity.path
        ):
            try:
                current = signature(os.stat(rep.path))
            except OSError:
                continue
            if current == rep.signature:
                return rep
    return found.identity


def _prefers_json(accept: str) -> bool:
    if "application/json" not in accept:
        return False
    html = accept.find("text/html")
    return html < 0 or accept.find("application/json") < html
