"""Content types by file extension: the same answer on every machine (no /etc/mime.types)."""

from __future__ import annotations

import mimetypes

__all__ = ["COMPRESSIBLE", "content_type", "is_compressible"]

_OWN = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".tar": "application/x-tar",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".py": "text/x-python",
    ".sh": "text/x-sh",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
}
_BUILTIN = mimetypes.MimeTypes(filenames=())
COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/manifest+json",
    "image/svg+xml",
    "application/wasm",
    "application/yaml",
    "application/toml",
)


def content_type(name: str) -> str:
    """The Content-Type for a file name; text types carry ``charset=utf-8``."""
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot > 0 else ""
    media = _OWN.get(ext)
    if media is None:
        media = _BUILTIN.guess_type("x" + ext, strict=False)[0] or "application/octet-stream"
    if media.startswith("text/") or media in ("application/json", "image/svg+xml"):
        if media != "application/json":
            return media + "; charset=utf-8"
    return media


def is_compressible(media: str) -> bool:
    return media.startswith(COMPRESSIBLE)
