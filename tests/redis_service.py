"""The real Redis of the test machine (127.0.0.1:6379, or PORCH_TEST_REDIS_URL), shared with
other test runs: every test gets its own key prefix and removes its keys afterwards, and
tests skip with the reason when Redis is not there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("PORCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); .ci/services.sh starts it")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix in the real Redis; the keys under it are deleted afterwards."""
    import redis

    redis_or_skip()
    prefix = f"porch-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=500))
    if keys:
        client.delete(*keys)
    client.close()
