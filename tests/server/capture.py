"""Capture what a logger writes, for tests that check log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())  # under the handler's own lock


def capture(name: str) -> Iterator[list[str]]:
    """Yield the list of messages `name` logs (INFO and up) until the generator is closed;
    for a fixture: ``yield from capture("porch.access")``."""
    logger = logging.getLogger(name)
    handler = Lines()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
