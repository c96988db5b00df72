"""One frozen, typed configuration for the server.

Every setting is a field of `Config`, declared once with its default and help text. The
environment (``PORCH_<FIELD>``) is read by `Config.from_env`; the command line's options are
generated from the same fields (`porch.cli`), so a setting is never written twice.
Precedence: command-line flag, then environment variable, then the default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from porch.errors import ConfigError
from porch.http.limits import Limits

__all__ = ["Config", "ENV_PREFIX"]

ENV_PREFIX = "PORCH_"
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_LOOPS = ("auto", "asyncio", "uvloop")
_ENVS = ("development", "production")
# These limits and timeouts turn a feature off with 0; every other one must be positive.
_ZERO_IS_OFF = frozenset({"limit_worker_memory", "timeout_worker"})


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True, slots=True)
class Config:
    """Server settings. Build with keyword arguments; invalid values raise `ConfigError`."""

    host: str = _opt("127.0.0.1", "Address to bind: an IPv4 or IPv6 address or a name.")
    port: int = _opt(8000, "TCP port to bind; 0 picks a free port.")
    uds: str | None = _opt(None, "Bind a UNIX domain socket at this path instead of TCP.")
    fd: int | None = _opt(None, "Serve on an inherited, already bound socket (file descriptor).")
    backlog: int = _opt(2048, "Most pending connections the kernel queues for accept().")
    loop: str = _opt("auto", "Event loop: uvloop when installed (auto), or asyncio.", _LOOPS)
    log_level: str = _opt("info", "Lowest level of the error log.", _LOG_LEVELS)
    access_log: bool = _opt(True, "Log each request in combined log format (porch.access).")
    server_header: bool = _opt(True, "Send 'server: porch' on every response.")
    limit_request_line: int = _opt(8190, "Longest request target in bytes (else 414).")
    limit_header_size: int = _opt(32768, "Largest header block in bytes (else 431).")
    limit_header_count: int = _opt(100, "Most header fields in a request (else 431).")
    limit_body_size: int = _opt(10 * 1024 * 1024, "Largest request body in bytes (else 413).")
    limit_connections: int = _opt(
        10000, "Most open connections; more are answered 503 and closed."
    )
    limit_pipeline: int = _opt(
        64, "Most pipelined requests queued on one connection before reading pauses."
    )
    timeout_keep_alive: float = _opt(5.0, "Seconds an idle keep-alive connection stays open.")
    timeout_head: float = _opt(
        10.0, "Seconds to receive a whole request head, from its first byte or from connect."
    )
    timeout_body: float = _opt(30.0, "Seconds without body bytes while the app waits (408).")
    timeout_write: float = _opt(60.0, "Seconds a client may leave a response unread.")
    timeout_graceful: float = _opt(
        20.0, "Seconds in-flight requests get to finish after SIGTERM/SIGINT."
    )

    workers: int = _opt(
        1, "Worker processes sharing the socket under a supervisor; 0 = one per CPU core."
    )
    max_requests: int = _opt(
        0, "Replace a worker after it has answered this many requests (0 = never)."
    )
    max_requests_jitter: int = _opt(
        0, "Add a random 0..N to --max-requests per worker, so they do not all recycle at once."
    )
    limit_worker_memory: int = _opt(
        0, "Replace a worker whose resident memory exceeds this many MiB (0 = off)."
    )
    timeout_worker: float = _opt(
        30.0, "Seconds a worker's event loop may stay blocked before it is replaced (0 = off)."
    )
    reload: bool = _opt(False, "Development: restart the server when a watched file changes.")
    reload_dir: str | None = _opt(
        None, "Folders --reload watches, separated by commas (default: --app-dir)."
    )
    reload_include: str = _opt(
        "*.py", "File name patterns that trigger --reload, separated by commas."
    )
    reload_exclude: str | None = _opt(
        None, "File name patterns --reload ignores, separated by commas."
    )
    env: str | None = _opt(
        None,
        "development or production (unset: production, or development with --reload).",
        _ENVS,
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            choices = f.metadata.get("choices")
            if choices and value is not None and value not in choices:
                raise ConfigError(
                    f"{_label(f.name)} must be one of {', '.join(choices)}; got {value!r}"
                )
            if f.name in _ZERO_IS_OFF:
                if not value >= 0:
                    raise ConfigError(f"{_label(f.name)} must be 0 (off) or more; got {value!r}")
            elif f.name.startswith(("limit_", "timeout_")) and not value > 0:
                raise ConfigError(f"{_label(f.name)} must be positive; got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{_label('port')} must be between 0 and 65535; got {self.port}")
        if self.uds is not None and self.fd is not None:
            raise ConfigError("--uds and --fd are alternatives: give one")
        self._check_workers()

    def _check_workers(self) -> None:
        for name in ("workers", "max_requests", "max_requests_jitter"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_label(name)} must be 0 or more; got {getattr(self, name)}")
        if self.reload:
            if self.env == "production":
                raise ConfigError(
                    "--reload is for development: it cannot run with --env production"
                )
            if self.workers != 1:
                raise ConfigError("--reload runs one worker: it cannot be combined with --workers")
        if self.env is None:
            # Frozen: the resolved value is set once, here, and never again.
            object.__setattr__(self, "env", "development" if self.reload else "production")

    @property
    def limits(self) -> Limits:
        return Limits(
            request_line=self.limit_request_line,
            header_size=self.limit_header_size,
            header_count=self.limit_header_count,
            body_size=self.limit_body_size,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> Config:
        """Defaults, replaced by ``PORCH_*`` variables, replaced by `overrides` (not None)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and overrides.get(f.name) is None:
                values[f.name] = parse_value(f, raw, source=ENV_PREFIX + f.name.upper())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def field_type(f: dataclasses.Field[Any]) -> type:
    """The plain type of a field (``int`` for ``int | None``)."""
    hint = typing.get_type_hints(Config)[f.name]
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return typing.cast(type, hint)


def parse_value(f: dataclasses.Field[Any], raw: str, source: str) -> Any:
    kind = field_type(f)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}
        what = expected.get(kind, kind.__name__)
        raise ConfigError(f"{source}: {raw!r} is not {what}") from None


def _label(name: str) -> str:
    """How a field is named to a person: its flag and its variable."""
    return f"--{name.replace('_', '-')} ({ENV_PREFIX}{name.upper()})"
