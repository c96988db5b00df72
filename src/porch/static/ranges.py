"""Byte ranges (RFC 9110 14): parse a Range header against a representation's size."""

from __future__ import annotations

__all__ = ["MAX_RANGES", "Unsatisfiable", "parse_ranges"]

# More ranges than this (before merging) and the header is ignored: the whole file is sent.
MAX_RANGES = 64


class Unsatisfiable(Exception):
    """No range of a valid Range header overlaps the representation: answer 416."""


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The ranges to send as sorted, merged ``(start, end_inclusive)`` pairs.

    None means "ignore the header and send everything" (not a ``bytes`` range, invalid syntax,
    or more than `MAX_RANGES` ranges). Raises `Unsatisfiable` when the syntax is valid but no
    range overlaps ``[0, size)``. Overlapping and adjacent ranges are merged after one sort,
    so a hostile list costs O(n log n) with n <= MAX_RANGES.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        return None
    wanted: list[tuple[int, int]] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue  # RFC 9110 5.6.1: empty list elements are allowed
        one = _one_range(part, size)
        if one is None:
            return None
        if one != _EMPTY:
            wanted.append(one)
    if not wanted:
        raise Unsatisfiable
    wanted.sort()
    merged = [wanted[0]]
    for start, end in wanted[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            if end > last_end:
                merged[-1] = (last_start, end)
        else:
            merged.append((start, end))
    return merged


_EMPTY = (-1, -1)  # a valid range that selects nothing of this representation


def _one_range(part: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` clamped to the size, `_EMPTY` if it lies beyond, None if invalid."""
    first, dash, last = part.partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not _digits(first) or not _digits(last):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        return (max(size - suffix, 0), size - 1) if suffix > 0 and size > 0 else _EMPTY
    start = int(first)
    if last and int(last) < start:
        return None  # "5-2" is invalid syntax: the whole header is ignored
    if start >= size:
        return _EMPTY
    end = min(int(last), size - 1) if last else size - 1
    return (start, end)


def _digits(text: str) -> bool:
    return text == "" or (text.isascii() and text.isdigit())
