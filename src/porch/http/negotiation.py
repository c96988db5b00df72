"""Content-coding negotiation: reading an Accept-Encoding field (RFC 9110 12.5.3)."""

from __future__ import annotations

__all__ = ["coding_weight", "coding_weights"]


def coding_weights(accept_encoding: str) -> dict[str, float]:
    """Each coding's q-value, by lowercase name (``*`` included); a bad q-value is 0."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights.setdefault(coding.strip().lower(), q)  # the first mention counts
    return weights


def coding_weight(weights: dict[str, float], *names: str) -> float:
    """The q-value of the first of `names` listed, else of ``*``, else 0 (not acceptable)."""
    for name in names:
        if name in weights:
            return weights[name]
    return weights.get("*", 0.0)
