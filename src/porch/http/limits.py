"""Size limits of the protocol layer; the server's `Config` builds one from its flags."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Byte and count limits applied while parsing a request.

    request_line: longest request target, in bytes (over it: 414).
    header_size: largest header block (names and values, trailers included) (over it: 431).
    header_count: most header fields (over it: 431).
    body_size: largest request body, declared or streamed (over it: 413).
    """

    request_line: int = 8190
    header_size: int = 32768
    header_count: int = 100
    body_size: int = 10 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("request_line", "header_size", "header_count", "body_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, not {value!r}")
