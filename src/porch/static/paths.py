"""Map a request path to a file under a root folder, with no way out of it.

The raw (still percent-encoded) path is split on ``/`` first and each segment decoded once, so
an encoded ``%2F`` or ``%5C`` can never become a separator and ``%252e%252e`` stays the literal
name ``%2e%2e``. Segments that could climb, hide or mean something to Windows are refused.
Symlinks are followed only inside the root unless the caller allows them to leave it.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote_to_bytes

__all__ = ["clean_segments", "is_inside", "segments_to_url"]

# CON, PRN, AUX, NUL, COM1-9, LPT1-9 with any extension: devices on Windows.
_WINDOWS_DEVICE = re.compile(r"(?i)(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?")
_DRIVE = re.compile(r"[A-Za-z]:")


def clean_segments(raw_path: bytes, *, dotfiles: bool = False) -> list[str] | None:
    """The decoded, checked segments of `raw_path`, or None when the path must not be served.

    Empty and ``.`` segments are dropped (``//`` and ``/./`` collapse). None for: ``..``; a
    segment with ``/``, ``\\`` or NUL once decoded; invalid UTF-8; a dotfile unless `dotfiles`;
    Windows device names, drive letters and names ending in a dot or space.
    """
    segments = []
    for part in raw_path.split(b"/"):
        if not part:
            continue
        try:
            name = unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if name == ".":
            continue
        if name == ".." or "/" in name or "\\" in name or "\x00" in name:
            return None
        if name.startswith(".") and not dotfiles:
            return None
        if (
            _WINDOWS_DEVICE.fullmatch(name)
            or _DRIVE.match(name)
            or name.endswith((".", " "))
            or any(ord(c) < 0x20 or c == "\x7f" for c in name)
        ):
            return None
        segments.append(name)
    return segments


def is_inside(root: str, path: str) -> bool:
    """True when the real location of `path` is `root` or below it (`root` must be real)."""
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def segments_to_url(segments: list[str], trailing_slash: bool = False) -> str:
    """A path with one leading slash and each segment percent-encoded: safe as a Location
    (``//evil.example`` can never come out of it)."""
    url = "/" + "/".join(quote(s, safe="") for s in segments)
    if trailing_slash and not url.endswith("/"):
        url += "/"
    return url
