"""Accept-Encoding q-values, shared by the static engine and the GZip middleware."""

from __future__ import annotations

from porch.http.negotiation import coding_weight, coding_weights


def test_q_values_by_coding() -> None:
    weights = coding_weights("GZIP;q=0.5, br, identity; foo=1; q=0, *;q=bad")
    assert weights == {"gzip": 0.5, "br": 1.0, "identity": 0.0, "*": 0.0}


def test_a_coding_not_listed_takes_the_star_weight() -> None:
    assert coding_weight(coding_weights("*;q=0.3"), "gzip") == 0.3
    assert coding_weight(coding_weights("br"), "gzip") == 0.0
    assert coding_weight(coding_weights("*, gzip;q=0"), "gzip") == 0.0
    assert coding_weight(coding_weights("x-gzip"), "gzip", "x-gzip") == 1.0


def test_the_first_mention_counts() -> None:
    assert coding_weights("gzip;q=0, gzip")["gzip"] == 0.0
