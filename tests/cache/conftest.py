from tests.redis_service import redis_prefix  # noqa: F401 - a fixture
