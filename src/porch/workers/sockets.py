"""The listening socket a supervisor binds once and hands to every worker."""

from __future__ import annotations

import os
import socket

from porch.config import Config
from porch.errors import ConfigError

__all__ = ["describe", "listen"]


def listen(config: Config) -> socket.socket:
    """Bind and listen as configured: ``--fd`` (adopted as is), ``--uds`` or host and port.
    A socket that cannot be had raises `ConfigError` with one line saying why."""
    from porch.server.server import _remove_stale_socket

    try:
        if config.fd is not None:
            sock = socket.socket(fileno=config.fd)
        elif config.uds is not None:
            _remove_stale_socket(config.uds)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(config.uds)
        else:
            family, kind, proto, _, address = socket.getaddrinfo(
                config.host or None,
                config.port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE,
            )[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        sock.listen(config.backlog)
    except OSError as exc:
        where = config.uds or (
            f"fd {config.fd}" if config.fd is not None else f"{config.host}:{config.port}"
        )
        raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    os.set_inheritable(sock.fileno(), False)  # passed to workers explicitly, to no one else
    return sock


def describe(sock: socket.socket, config: Config) -> str:
    from porch.server.server import _describe

    return _describe(sock, "https" if config.ssl_certfile else "http")
