"""Helpers for the static file tests: raw requests, multipart parsing, a porch subprocess."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Reader, recv_all

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 10.0  # the longest any single wait may take before the test fails


@dataclass
class Raw:
    """One response read from a raw socket, with every byte the server sent."""

    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes  # the whole exchange as received: head, body and anything after it
    extra: bytes  # bytes after the response (must be empty: the request said close)


def raw_request(
    port: int,
    target: bytes | str,
    method: bytes | str = b"GET",
    headers: dict[str, str] | None = None,
    timeout: float = DEADLINE,
) -> Raw:
    """Send exactly ``METHOD TARGET HTTP/1.1`` with ``Connection: close``; read to the close.

    The target is sent byte for byte (no client normalises ``..`` or ``//`` away)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    if isinstance(method, str):
        method = method.encode("ascii")
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: t", b"Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}".encode("latin-1"))
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        everything = recv_all(sock, timeout)
    reader = _BufferReader(everything)
    status, head, body = reader.response(head_only=method == b"HEAD")
    return Raw(status, head, body, everything, reader.buf)


class _BufferReader(Reader):
    """`Reader` over bytes already received."""

    def __init__(self, data: bytes) -> None:
        self.buf = data

    def _more(self) -> None:
        raise AssertionError(f"response incomplete; got {self.buf[:300]!r}")


def expected_range(size: int, spec: str) -> tuple[int, int]:
    """(start, end inclusive) of one valid, satisfiable byte-range spec for `size` bytes."""
    first, _, last = spec.partition("-")
    if first == "":
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    return start, end


def parse_multipart(
    body: bytes, content_type: str, size: int
) -> list[tuple[tuple[int, int], str, bytes]]:
    """Parse a multipart/byteranges body strictly: ((start, end), part content-type, data).

    Each part's data is taken by the length its Content-Range gives, so the framing around it
    (CRLF, delimiters, closing delimiter) is checked byte for byte."""
    match = re.fullmatch(
        r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})", content_type
    )
    assert match, content_type
    delimiter = b"--" + match.group(1).encode("ascii")
    parts = []
    pos = 0
    while True:
        assert body.startswith(delimiter, pos), body[pos : pos + 100]
        pos += len(delimiter)
        if body[pos:] == b"--\r\n":
            break
        assert body.startswith(b"\r\n", pos), body[pos : pos + 100]
        head_end = body.index(b"\r\n\r\n", pos)
        head = {}
        for line in body[pos + 2 : head_end].decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            head[name.strip().lower()] = value.strip()
        found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", head["content-range"])
        assert found, head
        start, end, total = (int(g) for g in found.groups())
        assert total == size
        pos = head_end + 4
        data = body[pos : pos + end - start + 1]
        assert len(data) == end - start + 1
        pos += len(data)
        assert body.startswith(b"\r\n", pos), body[pos : pos + 100]
        pos += 2
        parts.append(((start, end), head["content-type"], data))
    return parts


class PorchProcess:
    """``python -m <module> <args>`` with cwd at the repository root.

    A thread reads stderr line by line so that a line can be awaited with a deadline."""

    def __init__(self, *args: str, module: str = "porch") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORCH_")}
        self.command = [sys.executable, "-m", module, *args]
        self.proc = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} within {timeout}s: {self.lines}") from None
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"stderr closed before {pattern!r}: {self.lines}")
            match = re.search(pattern, line)
            if match:
                return match

    def finish(self, timeout: float = DEADLINE) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def __enter__(self) -> PorchProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE)
        self._reader.join(DEADLINE)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
