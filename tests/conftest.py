"""Shared fixtures: a real porch server on 127.0.0.1 in a background thread, and raw sockets."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from porch.web.testing import live_server

# The library's own live server is the fixture: real sockets, a free port, a graceful stop.
running = live_server


@pytest.fixture
def serve() -> Callable[..., Any]:
    """``with serve(app, **config) as srv:`` runs a real server for the test."""
    return running


def recv_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read until the peer closes; fail (not hang) if it does not within `timeout`."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(
                f"connection still open after {timeout}s; got {b''.join(chunks)[:300]!r}"
            ) from None
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a new connection, half-close nothing, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return recv_all(sock, timeout)


class Reader:
    """Reads responses one by one from a socket, keeping what arrives early (pipelining)."""

    def __init__(self, sock: socket.socket, timeout: float = 5.0) -> None:
        self.sock = sock
        self.buf = b""
        sock.settimeout(timeout)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError(f"connection closed; unread: {self.buf[:300]!r}")
        self.buf += data

    def _take(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._more()
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        """One response: (status, headers with lowercase names, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status < 200 or status in (204, 304):
            return status, headers, b""
        if "content-length" in headers:
            return status, headers, self._take(int(headers["content-length"]))
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self._line(), 16)
                body += self._take(size)
                if self._take(2) != b"\r\n":
                    raise AssertionError("bad chunk framing from the server")
                if size == 0:
                    return status, headers, body
        # close-delimited
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                body, self.buf = self.buf, b""
                return status, headers, body
            self.buf += data


def read_response(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Read exactly one response from a socket that carries nothing else yet."""
    reader = Reader(sock, timeout)
    result = reader.response()
    if reader.buf:
        raise AssertionError(f"unexpected bytes after the response: {reader.buf!r}")
    return result
