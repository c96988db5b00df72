"""One frozen, typed configuration for the server.

Every setting is a field of `Config`, declared once with its default and help text. The
environment (``PORCH_<FIELD>``) is read by `Config.from_env`; the command line's options are
generated from the same fields (`porch.cli`), so a setting is never written twice.
`Config.load` also reads ``[tool.porch]`` in pyproject.toml. Precedence: command-line flag,
then environment variable, then pyproject.toml, then the default.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from porch.errors import ConfigError
from porch.http.forwarded import TrustedProxies
from porch.http.limits import Limits

__all__ = ["Config", "ENV_PREFIX", "SOURCES", "load_config", "read_pyproject"]

ENV_PREFIX = "PORCH_"
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_LOOPS = ("auto", "asyncio", "uvloop")
_INTERFACES = ("auto", "porch", "asgi3", "asgi2", "wsgi")
_LIFESPAN = ("auto", "on", "off")
_CERT_REQS = ("required", "optional")
_ENVS = ("development", "production")
# These limits and timeouts turn a feature off with 0; every other one must be positive.
_ZERO_IS_OFF = frozenset({"limit_worker_memory", "timeout_worker"})


def _opt(
    default: Any, help: str, choices: tuple[str, ...] | None = None, secret: bool = False
) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, "secret": secret})


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
    interface: str = _opt(
        "auto", "How to call the app: detected (auto), or porch, asgi3, asgi2, wsgi.", _INTERFACES
    )
    root_path: str = _opt(
        "", "URL prefix the app is mounted at behind a proxy (ASGI root_path, SCRIPT_NAME)."
    )
    lifespan: str = _opt(
        "auto",
        "ASGI lifespan: run it if the app supports it (auto), require it, or not.",
        _LIFESPAN,
    )
    timeout_lifespan: float = _opt(30.0, "Seconds an ASGI app's lifespan shutdown may take.")
    wsgi_threads: int = _opt(16, "Threads that run a WSGI app: the most requests it runs at once.")
    static: tuple[str, ...] = _opt(
        (), "Serve a folder beside the app: /prefix=DIR (repeatable; env: comma-separated)."
    )
    ssl_certfile: str | None = _opt(
        None, "Serve HTTPS with this PEM certificate (chain); the key may be in it."
    )
    ssl_keyfile: str | None = _opt(None, "PEM private key of --ssl-certfile.")
    ssl_keyfile_password: str | None = _opt(
        None, "Password of an encrypted --ssl-keyfile.", secret=True
    )
    ssl_ca_certs: str | None = _opt(
        None, "PEM file of the CAs that sign client certificates: turns on client auth."
    )
    ssl_cert_reqs: str = _opt(
        "required",
        "With --ssl-ca-certs: must every client show a valid certificate, or may it show none.",
        _CERT_REQS,
    )
    ssl_ciphers: str | None = _opt(
        None, "OpenSSL cipher string for TLS 1.2 (TLS 1.3 suites are OpenSSL's own)."
    )
    proxy_headers: bool = _opt(
        False,
        "Take the client address, scheme and host from X-Forwarded-* and Forwarded headers "
        "sent by --forwarded-allow-ips peers.",
    )
    forwarded_allow_ips: str = _opt(
        "127.0.0.1,::1",
        "Comma-separated IPs and CIDR networks of trusted proxies; '*' trusts every peer.",
    )
    proxy_protocol: bool = _opt(
        False,
        "Expect a PROXY protocol v1/v2 header first on connections from "
        "--forwarded-allow-ips peers.",
    )
    timeout_ready: float = _opt(
        2.0, "Seconds the app's ready() hook may take before the readiness probe fails."
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
    reload_dir: tuple[str, ...] = _opt(
        (), "A folder --reload watches (repeatable; env: comma-separated); default: --app-dir."
    )
    reload_include: tuple[str, ...] = _opt(
        ("*.py",), "File name pattern that triggers --reload (repeatable; env: comma-separated)."
    )
    reload_exclude: tuple[str, ...] = _opt(
        (), "File name pattern --reload ignores (repeatable; env: comma-separated)."
    )
    env: str | None = _opt(
        None,
        "development or production (unset: production, or development with --reload).",
        _ENVS,
    )
    ws_max_size: int = _opt(
        1024 * 1024, "Largest incoming WebSocket message in bytes (else close 1009)."
    )
    ws_max_queue: int = _opt(
        32, "Received WebSocket messages held for the app before reading the socket pauses."
    )
    ws_ping_interval: float = _opt(
        20.0, "Seconds between keep-alive pings on each WebSocket (0 = no pings)."
    )
    ws_ping_timeout: float = _opt(
        20.0, "Seconds a WebSocket peer has to answer a ping before it is closed (1011)."
    )
    ws_close_timeout: float = _opt(
        10.0, "Seconds a WebSocket closing handshake may take before the socket is cut."
    )
    ws_per_message_deflate: bool = _opt(
        True, "Offer permessage-deflate compression to WebSocket clients that ask for it."
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
        _check_websocket(self)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{_label('port')} must be between 0 and 65535; got {self.port}")
        if self.wsgi_threads < 1:
            raise ConfigError(
                f"{_label('wsgi_threads')} must be at least 1; got {self.wsgi_threads}"
            )
        if self.root_path and not self.root_path.startswith("/"):
            raise ConfigError(f"{_label('root_path')} must start with '/'; got {self.root_path!r}")
        if self.uds is not None and self.fd is not None:
            raise ConfigError("--uds and --fd are alternatives: give one")
        if self.ssl_certfile is None:
            for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs", "ssl_ciphers"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{_label(name)} needs {_label('ssl_certfile')}")
        elif self.proxy_protocol:
            raise ConfigError(
                f"{_label('proxy_protocol')} cannot be combined with TLS: "
                "terminate TLS at the proxy, or send the PROXY header to a plain port"
            )
        try:
            self.trusted_proxies  # noqa: B018 - validates the list when the config is built
        except ValueError as exc:
            raise ConfigError(f"{_label('forwarded_allow_ips')}: {exc}") from None
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
    def trusted_proxies(self) -> TrustedProxies:
        """The parsed --forwarded-allow-ips (raises ValueError for a bad entry)."""
        return TrustedProxies.parse(self.forwarded_allow_ips)

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
        return cls(**_gather(overrides, environ, {})[0])

    @classmethod
    def load(
        cls, *, app_dir: str = ".", environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Config:
        """Defaults, replaced by ``[tool.porch]`` of ``app_dir/pyproject.toml``, by
        ``PORCH_*`` variables, then by `overrides` (not None): the command line's order."""
        return load_config(overrides, app_dir=app_dir, environ=environ)[0]


SOURCES = ("flag", "env", "pyproject", "default")


def load_config(
    overrides: Mapping[str, Any],
    *,
    app_dir: str = ".",
    environ: Mapping[str, str] | None = None,
) -> tuple[Config, dict[str, str]]:
    """The effective `Config` and, per field, where its value came from (one of `SOURCES`)."""
    values, sources = _gather(overrides, environ, read_pyproject(app_dir))
    return Config(**values), sources


def _gather(
    overrides: Mapping[str, Any], environ: Mapping[str, str] | None, from_file: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    overrides = {k: v for k, v in overrides.items() if v is not None and v != ()}
    for f in dataclasses.fields(Config):
        variable = ENV_PREFIX + f.name.upper()
        if overrides.get(f.name) is not None:
            values[f.name], sources[f.name] = overrides[f.name], "flag"
        elif (raw := environ.get(variable)) is not None:
            values[f.name], sources[f.name] = parse_value(f, raw, source=variable), "env"
        elif f.name in from_file:
            values[f.name], sources[f.name] = from_file[f.name], "pyproject"
        else:
            sources[f.name] = "default"
    values.update({k: v for k, v in overrides.items() if v is not None})  # unknown: TypeError
    return values, sources


def read_pyproject(folder: str) -> dict[str, Any]:
    """The settings in ``[tool.porch]`` of `folder`'s pyproject.toml (none without the file
    or the table), checked against the fields: an unknown key or a wrong type is a
    `ConfigError`. Keys may be spelled with ``_`` or ``-``."""
    path = os.path.join(folder, "pyproject.toml")
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    tool = document.get("tool", {})
    table = tool.get("porch", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.porch] in {path} must be a table, not {table!r}")
    fields = {f.name: f for f in dataclasses.fields(Config)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"[tool.porch] in {path}: unknown key {key!r}{hint}")
        if name in values:
            raise ConfigError(f"[tool.porch] in {path}: {name} is given twice ({key!r})")
        values[name] = _checked(fields[name], value, f"[tool.porch] {key}")
    return values


def _checked(f: dataclasses.Field[Any], value: Any, where: str) -> Any:
    """A TOML value of the field's type (an integer is a valid float); else ConfigError."""
    kind = field_type(f)
    if kind is float and type(value) is int:
        return float(value)
    if kind is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if type(value) is kind:
        return value
    expected = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        tuple: "a list of strings",
    }
    raise ConfigError(f"{where}: expected {expected.get(kind, kind.__name__)}, got {value!r}")


def field_type(f: dataclasses.Field[Any]) -> type:
    """The plain type of a field (``int`` for ``int | None``)."""
    hint = typing.get_type_hints(Config)[f.name]
    if typing.get_origin(hint) is tuple:
        return tuple
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return typing.cast(type, hint)


def parse_value(f: dataclasses.Field[Any], raw: str, source: str) -> Any:
    """A variable's text as the field's type. An empty variable unsets an optional setting
    (one whose default is None), also over pyproject.toml."""
    kind = field_type(f)
    if f.default is None and not raw.strip():
        return None
    try:
        if kind is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
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


def _check_websocket(config: Config) -> None:
    """The WebSocket settings: sizes and timeouts positive, pings 0 (off) or more."""
    for name in ("ws_max_size", "ws_max_queue", "ws_ping_timeout", "ws_close_timeout"):
        if not getattr(config, name) > 0:
            raise ConfigError(f"{_label(name)} must be positive; got {getattr(config, name)!r}")
    if not config.ws_ping_interval >= 0:
        raise ConfigError(
            f"{_label('ws_ping_interval')} must be 0 (off) or more; "
            f"got {config.ws_ping_interval!r}"
        )
