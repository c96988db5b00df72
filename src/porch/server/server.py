"""Binding, serving and stopping: the asyncio server around `HTTPProtocol`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
import ssl
import stat
import threading
import time
from typing import TYPE_CHECKING, Any

from porch.config import Config
from porch.errors import ConfigError
from porch.server.observe import protocol_class
from porch.server.protocol import HTTPProtocol
from porch.server.proxy_protocol import ProxyProtocolHTTP
from porch.server.state import App, ServerState
from porch.server.tls import create_ssl_context

if TYPE_CHECKING:
    from porch.workers.link import WorkerLink

__all__ = ["Server", "new_event_loop", "run"]

logger = logging.getLogger("porch.error")


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """A uvloop loop when available (``auto``/``uvloop``), else the stdlib's."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise ConfigError("loop uvloop was asked for but is not installed") from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


class Server:
    """Serve one app on the configured socket until stopped.

    `run()` blocks (signals SIGINT/SIGTERM start a graceful shutdown; a second signal cuts it
    short). `serve()` is the coroutine behind it. `stop()` may be called from any thread.
    `started` is set once the sockets listen; `addresses` then lists where.
    """

    def __init__(self, app: App, config: Config | None = None, **options: Any) -> None:
        self.app = app
        self.config = config if config is not None else Config(**options)
        self.started = threading.Event()
        self.addresses: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._force: asyncio.Event | None = None
        self._stop_requested = False  # stop() before the loop ran
        self._state: ServerState | None = None
        self._ssl: ssl.SSLContext | None = None

    def run(self, *, install_signals: bool = True) -> None:
        with asyncio.Runner(loop_factory=lambda: new_event_loop(self.config.loop)) as runner:
            runner.run(self.serve(install_signals=install_signals))

    def stop(self) -> None:
        """Begin a graceful shutdown (thread-safe; harmless before start and after the end)."""
        self._stop_requested = True
        loop, event = self._loop, self._stop
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    @property
    def state(self) -> ServerState:
        if self._state is None:
            raise RuntimeError("the server is not running")
        return self._state

    async def serve(self, *, install_signals: bool = True) -> None:
        self._ssl = create_ssl_context(self.config)  # a bad certificate fails before startup
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._loop = loop
        if self._stop_requested:
            self._stop.set()
        state = self._state = ServerState(self.app, self.config, loop)
        from porch.workers.link import WorkerLink  # here: porch.workers imports this module

        link = WorkerLink.from_environ(self.stop, self.config.max_requests)
        await self._app_hook("startup")
        try:
            servers = await self._bind(loop, state)
        except BaseException:
            await self._app_hook("shutdown")
            raise
        for server in servers:
            for sock in server.sockets:
                self.addresses.append(_describe(sock, "https" if self._ssl else "http"))
        for address in self.addresses:
            logger.info("porch listening on %s (press CTRL+C to quit)", address)
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal, sig)
        ticker = self._schedule_tick(loop, state, link)
        self.started.set()
        if link is not None:
            link.ready()
        try:
            await self._stop.wait()
            await self._shutdown(servers, state)
            if state.observer is not None:
                state.observer.publish()  # the last counts, for the other workers' scrapes
            await self._app_hook("shutdown")
        finally:
            self._loop = None
            ticker[0].cancel()
            if link is not None:
                link.close()
            if install_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            if self.config.uds and os.path.exists(self.config.uds):
                with contextlib.suppress(OSError):
                    os.unlink(self.config.uds)

    async def _app_hook(self, name: str) -> None:
        """Run the app's ``startup()`` / ``shutdown()`` coroutine, if it has one."""
        hook = getattr(self.app, name, None)
        if hook is None or not inspect.iscoroutinefunction(hook):
            return
        try:
            if name == "startup" and "config" in inspect.signature(hook).parameters:
                await hook(config=self.config)  # e.g. porch.App checks its secret in production
            else:
                await hook()
        except ConfigError as exc:
            if name == "startup":
                raise  # says what failed already
            logger.error("App %s failed: %s", name, exc)
        except Exception as exc:
            logger.error("App %s failed", name, exc_info=exc)
            if name == "startup":
                raise ConfigError(f"the app's startup failed: {exc!r}") from exc

    def _on_signal(self, sig: int) -> None:
        assert self._stop is not None and self._force is not None
        if self._stop.is_set():
            logger.warning("Second %s: closing every connection now", signal.Signals(sig).name)
            self._force.set()
        else:
            logger.info(
                "%s: finishing requests in flight, then stopping", signal.Signals(sig).name
            )
            self._stop.set()

    @staticmethod
    def _schedule_tick(
        loop: asyncio.AbstractEventLoop, state: ServerState, link: WorkerLink | None
    ) -> list[asyncio.TimerHandle]:
        handle: list[asyncio.TimerHandle] = []

        def tick() -> None:
            state.tick()
            if link is not None:
                link.tick(state.requests)  # the heartbeat: stops when the loop is blocked
            # Land just after each wall-clock second, so the Date header is exact.
            handle[0] = loop.call_later(1.0 - time.time() % 1.0 + 0.001, tick)

        handle.append(loop.call_later(1.0 - time.time() % 1.0 + 0.001, tick))
        return handle

    async def _bind(
        self, loop: asyncio.AbstractEventLoop, state: ServerState
    ) -> list[asyncio.base_events.Server]:
        config = self.config
        protocol = protocol_class(state, self.app)
        if config.proxy_protocol:
            protocol = (
                ProxyProtocolHTTP
                if protocol is HTTPProtocol
                else type("ProxyProtocolObserved", (ProxyProtocolHTTP, protocol), {})
            )

        def factory() -> HTTPProtocol:
            return protocol(state)

        tls: dict[str, Any] = {}
        if self._ssl is not None:
            # A handshake must finish within the head timeout, like a request head.
            tls = {"ssl": self._ssl, "ssl_handshake_timeout": config.timeout_head}
        try:
            if config.fd is not None:
                sock = socket.socket(fileno=config.fd)
                if sock.family == socket.AF_UNIX:
                    server = await loop.create_unix_server(
                        factory, sock=sock, backlog=config.backlog, **tls
                    )
                else:
                    server = await loop.create_server(
                        factory, sock=sock, backlog=config.backlog, **tls
                    )
            elif config.uds is not None:
                _remove_stale_socket(config.uds)
                server = await loop.create_unix_server(
                    factory, path=config.uds, backlog=config.backlog, **tls
                )
            else:
                server = await loop.create_server(
                    factory,
                    config.host,
                    config.port,
                    backlog=config.backlog,
                    reuse_address=True,
                    **tls,
                )
        except OSError as exc:
            where = config.uds or (
                f"fd {config.fd}" if config.fd is not None else f"{config.host}:{config.port}"
            )
            raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}") from None
        return [server]

    async def _shutdown(
        self, servers: list[asyncio.base_events.Server], state: ServerState
    ) -> None:
        assert self._force is not None
        state.draining = True
        for server in servers:
            server.close()
        for conn in list(state.connections):
            conn.shutdown()
        deadline = state.loop.time() + self.config.timeout_graceful
        force = asyncio.ensure_future(self._force.wait())
        try:
            if state.connections:
                closed = asyncio.ensure_future(state.all_closed.wait())
                await asyncio.wait(
                    {closed, force},
                    timeout=deadline - state.loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                closed.cancel()
            # Apps may still run for clients that left; they get the rest of the grace time.
            while not force.done():
                pending = {task for task in state.tasks if not task.done()}
                remaining = deadline - state.loop.time()
                if not pending or remaining <= 0:
                    break
                await asyncio.wait(
                    pending | {force}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            forced = force.done()
            force.cancel()
        leftover = len(state.connections)
        if leftover and not forced:
            logger.warning("Graceful shutdown timed out: closing %d connection(s)", leftover)
        for conn in list(state.connections):
            conn.transport.abort()
        for task in list(state.tasks):
            task.cancel()
        if state.tasks:
            await asyncio.wait(list(state.tasks), timeout=1.0)
        logger.info("porch stopped")


def _remove_stale_socket(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a leftover of a server that died
    else:
        raise ConfigError(f"another server is listening on {path}")
    finally:
        probe.close()


def _describe(sock: Any, scheme: str) -> str:
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}"
    if sock.family == socket.AF_INET6:
        return f"{scheme}://[{name[0]}]:{name[1]}"
    return f"{scheme}://{name[0]}:{name[1]}"


def run(app: App, **options: Any) -> None:
    """Serve `app` until SIGINT/SIGTERM: ``porch.run(app, port=8000)``."""
    Server(app, Config.from_env(**options)).run()
