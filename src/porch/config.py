"""One frozen, typed configuration for the server.

Every setting is a field of `Config`, declared once with its default and help text. The
environment (``PORCH_<FIELD>``) is read by `Config.from_env`; the command line's options are
generated from the same fields (`porch.cli`), so a setting is never written twice.
Precedence: command-line flag, then environment variable, then the default.
"""

from __future__ import annotations

import dataclasses
import importlib.util
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
    access_log: bool = _opt(True, "Log each request on porch.access (stdout).")
    access_log_format: str = _opt(
        "combined",
        "Access log line: combined, json, or a template of {fields} (docs/observability.md).",
    )
    health_path: str | None = _opt(
        None, "Answer GET on this path (e.g. /healthz) with 200 ok, before the app: liveness."
    )
    ready_path: str | None = _opt(
        None,
        "Answer GET on this path (e.g. /readyz): 200 while serving, 503 once draining "
        "or when the app's ready() returns False.",
    )
    metrics_path: str | None = _opt(
        None, "Serve Prometheus metrics on this path (e.g. /metrics); protect it at the proxy."
    )
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
    timeout_ready: float = _opt(
        2.0, "Seconds the app's ready() hook may take before the readiness probe fails."
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise ConfigError(
                    f"{_label(f.name)} must be one of {', '.join(choices)}; got {value!r}"
                )
            if f.name.startswith(("limit_", "timeout_")) and not value > 0:
                raise ConfigError(f"{_label(f.name)} must be positive; got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{_label('port')} must be between 0 and 65535; got {self.port}")
        if self.uds is not None and self.fd is not None:
            raise ConfigError("--uds and --fd are alternatives: give one")
        self._check_observability()

    def _check_observability(self) -> None:
        paths = [
            (name, getattr(self, name))
            for name in ("health_path", "ready_path", "metrics_path")
            if getattr(self, name) is not None
        ]
        for name, path in paths:
            if not _is_plain_path(path):
                raise ConfigError(
                    f"{_label(name)} must be a path like /healthz (ASCII, starting with /, "
                    f"no query or spaces); got {path!r}"
                )
        if len({path for _, path in paths}) != len(paths):
            raise ConfigError("--health-path, --ready-path and --metrics-path must differ")
        if self.metrics_path is not None and importlib.util.find_spec("prometheus_client") is None:
            raise ConfigError(
                f"{_label('metrics_path')} needs prometheus-client: "
                "pip install 'porch[metrics]' (or prometheus-client)"
            )
        from porch.server.accesslog import AccessLog  # here: porch.server imports this module

        AccessLog(self.access_log_format)  # raises ConfigError for a bad format

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


def _is_plain_path(path: str) -> bool:
    return (
        path.startswith("/")
        and path.isascii()
        and path.isprintable()
        and not any(c in path for c in " ?#%")
    )


def _label(name: str) -> str:
    """How a field is named to a person: its flag and its variable."""
    return f"--{name.replace('_', '-')} ({ENV_PREFIX}{name.upper()})"
