"""The supervisor: one listening socket, N worker processes, signals, recycling, reload.

Workers are spawned, not forked: each is a fresh ``python -m porch serve APP`` that inherits
the listening socket as ``--fd`` (``PORCH_FD``) and the effective configuration as ``PORCH_*``
variables. Spawning costs a second of start-up per worker, and buys what a pre-forking
server has to work around:
- every worker imports the app itself, so SIGHUP (and ``--reload``) pick up new code; a
  fork would inherit the supervisor's modules, and a supervisor that imported the app would
  pin its old code forever;
- a worker is exactly ``porch serve`` with one worker: whatever ``serve`` does (native, ASGI
  or WSGI apps, its logging) needs nothing extra to work under a supervisor;
- no event loop, thread or lock of the supervisor is copied into a child half-alive.

All workers share one socket and one accept queue (not SO_REUSEPORT): with SO_REUSEPORT each
worker owns a queue, and the connections waiting in a stopping worker's queue are reset;
with one shared queue a stopping worker just stops accepting and the others take them. That
is what lets a rolling restart lose no request.

Each worker writes to a pipe (`porch.workers.link`): ready once it listens, a heartbeat on
every tick of its event loop, a request to be replaced after ``--max-requests``. The
supervisor is an asyncio loop driven by events: signals, those pipes, child exits, and a
once-a-second check of heartbeats and memory. After each event `_converge` starts or stops
workers until the state matches what is wanted. With ``--metrics-path`` it also prepares the
workers' shared Prometheus folder (`porch.server.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from porch.config import ENV_PREFIX, Config
from porch.workers.link import LINK_ENV, READY, RETIRE
from porch.workers.sockets import describe, listen

__all__ = ["Supervisor"]

logger = logging.getLogger("porch.error")

_STABLE_AFTER = 10.0  # a worker that lived this long before dying was not crash-looping
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 30.0  # seconds before restarting quickly dying workers
_MAX_BOOT_FAILURES = 5  # fresh workers in a row that did not start: give up
_KILL_MARGIN = 5.0  # seconds past --timeout-graceful before a stopping worker is killed
_DUMP_WAIT = 2.0  # seconds a stuck worker gets to dump its stacks before SIGKILL
_HOUSEKEEPING = 1.0  # seconds between heartbeat and memory checks
_START_ALLOWANCE = 60.0  # seconds a worker may take to start, if --timeout-worker is shorter


class Worker:
    """One worker process, as the supervisor sees it."""

    def __init__(self, proc: subprocess.Popen[bytes], fd: int, generation: int, now: float):
        self.proc = proc
        self.pid = proc.pid
        self.fd = fd  # the read end of its pipe
        self.generation = generation  # SIGHUP and --reload replace older generations
        self.started = self.last_beat = now
        self.ready = False
        self.stopping = False  # SIGTERM sent: it drains and exits
        self.stuck = False  # missed its heartbeat: being killed
        self.retire: str | None = None  # why it should be replaced (max requests, memory)
        self.replacement: Worker | None = None  # the new worker that will take its place
        self.replaces: Worker | None = None  # the old worker this one takes the place of
        self.kill_timer: asyncio.TimerHandle | None = None


class Supervisor:
    """Run `config.workers` workers of ``porch serve APP`` on one socket until stopped.

    `run()` blocks and returns the exit status: 0 after a graceful stop, 1 when the app
    could not start. With `watch` (``--reload``), file changes replace the worker.
    """

    def __init__(
        self,
        app_spec: str,
        app_dir: str,
        config: Config,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.app_spec = app_spec
        self.app_dir = app_dir
        self.config = config
        self.extra_args = tuple(extra_args)
        self.target = config.workers or os.cpu_count() or 1
        self.workers: dict[int, Worker] = {}
        self.generation = 0
        self.stopping = False
        self.exit_code = 0
        self.ever_ready = False  # some worker has started: the app can start
        self.boot_failures = 0  # fresh workers in a row that died before they were ready
        self.streak = 0  # workers in a row that died young
        self.not_before = 0.0  # back-off: no new worker before this loop time
        self.paused = False  # --reload: the code does not start; wait for a change
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[int] | None = None
        self._housekeeping_timer: asyncio.TimerHandle | None = None
        self._metrics_env: dict[str, str] = {}
        self._metrics_tmp: str | None = None

    # --- hooks: Prometheus multiprocess metrics (porch.server.metrics), with --metrics-path --

    def _prepare_metrics(self) -> None:
        """Give the workers one metrics folder: PROMETHEUS_MULTIPROC_DIR, else a temporary
        one (removed at exit); emptied of an earlier run's files."""
        if self.config.metrics_path is None:
            return
        from porch.server.metrics import MULTIPROC_ENV, prepare_multiprocess

        if not os.environ.get(MULTIPROC_ENV):
            self._metrics_tmp = tempfile.mkdtemp(prefix="porch-metrics-")
        self._metrics_env = prepare_multiprocess(self._metrics_tmp)

    def on_worker_spawn(self, env: dict[str, str]) -> None:
        """A worker is about to start with `env`."""
        env.update(self._metrics_env)

    def on_worker_exit(self, pid: int) -> None:
        """Worker `pid` has exited: its live gauges stop counting."""
        if self._metrics_env:
            from porch.server.metrics import process_exited

            process_exited(pid)

    def on_worker_restart(self, reason: str) -> None:
        """A worker is being replaced or restarted, for `reason`: count those that died."""
        if self._metrics_env and reason in ("died", "failed to start"):
            from porch.server.metrics import count_worker_restart

            count_worker_restart()

    # --- running ---------------------------------------------------------------------------

    def run(self) -> int:
        self.sock = listen(self.config)  # ConfigError when the address cannot be had
        try:
            self._prepare_metrics()
            return asyncio.run(self._main())
        finally:
            if self._metrics_tmp is not None:
                shutil.rmtree(self._metrics_tmp, ignore_errors=True)
            for worker in self.workers.values():  # only after a crash of the supervisor
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()
            self.sock.close()
            if self.config.uds and self.config.fd is None:
                with contextlib.suppress(OSError):
                    os.unlink(self.config.uds)

    async def _main(self) -> int:
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        assert self.sock is not None
        mode = "1 worker, reloading on changes" if self.config.reload else f"{self.target} workers"
        logger.info(
            "porch supervisor (pid %d) listening on %s with %s",
            os.getpid(),
            describe(self.sock, self.config),
            mode,
        )
        handlers = {
            signal.SIGTERM: self._on_stop_signal,
            signal.SIGINT: self._on_stop_signal,
            signal.SIGHUP: self._on_hup,
            signal.SIGCHLD: self._reap,
            signal.SIGTTIN: self._on_ttin,
            signal.SIGTTOU: self._on_ttou,
        }
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler, sig)
        self._housekeeping_timer = loop.call_later(_HOUSEKEEPING, self._housekeeping)
        watcher = None
        if self.config.reload:
            from porch.workers.reload import watch

            watcher = asyncio.ensure_future(watch(self.config, self.app_dir, self._reload))
        self._converge()
        try:
            return await self._done
        finally:
            for sig in handlers:
                loop.remove_signal_handler(sig)
            if self._housekeeping_timer is not None:
                self._housekeeping_timer.cancel()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(self.exit_code)

    # --- starting and stopping workers -----------------------------------------------------

    def _worker_env(self) -> dict[str, str]:
        """The environment of a worker: this one, with the effective config as PORCH_*.

        PORCH_* variables that are not server settings (PORCH_SECRET_KEY,
        PORCH_DATABASE_URL, PORCH_REDIS_URL, ...) are the app's: they pass unchanged."""
        env = dict(os.environ)
        # Every setting, None as "" (which unsets it, even over pyproject.toml): a worker
        # serves the socket it is given (PORCH_FD), never a --uds of its own.
        for f in dataclasses.fields(self.config):
            value = None if f.name == "uds" else getattr(self.config, f.name)
            env[ENV_PREFIX + f.name.upper()] = _env_text(value)
        jitter = self.config.max_requests_jitter
        max_requests = self.config.max_requests
        if max_requests:
            max_requests += random.randint(0, jitter) if jitter else 0
        assert self.sock is not None
        env.update(
            {
                ENV_PREFIX + "FD": str(self.sock.fileno()),
                ENV_PREFIX + "WORKERS": "1",
                ENV_PREFIX + "RELOAD": "false",
                ENV_PREFIX + "MAX_REQUESTS": str(max_requests),
                ENV_PREFIX + "MAX_REQUESTS_JITTER": "0",
            }
        )
        return env

    def _spawn(self, replaces: Worker | None = None) -> Worker | None:
        assert self._loop is not None and self.sock is not None
        env = self._worker_env()
        read_end, write_end = os.pipe()
        env[LINK_ENV] = str(write_end)
        self.on_worker_spawn(env)
        command = [sys.executable, "-m", "porch", "serve", self.app_spec]
        command += ["--app-dir", self.app_dir, *self.extra_args]
        # In production, CTRL+C reaches the supervisor only, which tells each worker once.
        # In development (--reload) the worker shares the terminal, so a breakpoint() works.
        dev = self.config.reload
        try:
            proc = subprocess.Popen(
                command,
                env=env,
                stdin=None if dev else subprocess.DEVNULL,
                pass_fds=(self.sock.fileno(), write_end),
                process_group=None if dev else 0,
            )
        except OSError as exc:
            os.close(read_end)
            logger.error("Cannot start a worker: %s", exc)
            self._back_off()
            return None
        finally:
            os.close(write_end)
        os.set_blocking(read_end, False)
        worker = Worker(proc, read_end, self.generation, self._loop.time())
        self.workers[worker.pid] = worker
        self._loop.add_reader(read_end, self._on_message, worker)
        if replaces is not None:
            worker.replaces, replaces.replacement = replaces, worker
        logger.info("Started worker %d", worker.pid)
        return worker

    def _stop_worker(self, worker: Worker, why: str) -> None:
        """Ask a worker to drain and exit; kill it when it overstays the grace time."""
        assert self._loop is not None
        logger.info("Stopping worker %d (%s)", worker.pid, why)
        worker.stopping = True
        self._signal(worker, signal.SIGTERM)
        grace = self.config.timeout_graceful + _KILL_MARGIN
        worker.kill_timer = self._loop.call_later(grace, self._kill, worker, "overstayed")

    def _kill(self, worker: Worker, why: str) -> None:
        if worker.pid in self.workers:
            logger.warning("Killing worker %d (%s)", worker.pid, why)
            self._signal(worker, signal.SIGKILL)

    @staticmethod
    def _signal(worker: Worker, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, sig)

    def _converge(self) -> None:
        """Start or stop workers until their number and generation are what is wanted."""
        assert self._loop is not None
        if self.stopping or self.paused or self._loop.time() < self.not_before:
            return
        active = [w for w in self.workers.values() if not w.stopping]
        filled = [w for w in active if w.replacement is None]
        for _ in range(self.target - len(filled)):
            if self._spawn() is None:
                return
        if any(w.replaces is not None for w in active):
            return  # one replacement at a time: the others keep serving meanwhile
        if len(filled) > self.target:
            # Those still starting first, then the oldest.
            extra = sorted(filled, key=lambda w: (w.ready, w.started))[: len(filled) - self.target]
            for worker in extra:
                self._stop_worker(worker, "fewer workers wanted")
            return
        for worker in sorted(active, key=lambda w: w.started):
            outdated = worker.generation < self.generation
            if worker.ready and worker.replacement is None and (outdated or worker.retire):
                reason = "reload" if outdated else worker.retire or ""
                logger.info("Replacing worker %d (%s)", worker.pid, reason)
                self.on_worker_restart(reason)
                self._spawn(replaces=worker)
                return

    def _back_off(self) -> None:
        """Wait before the next start, longer each time workers die young."""
        assert self._loop is not None
        delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (self.streak - 1)) if self.streak else 0
        if delay:
            logger.warning("Workers keep dying: waiting %.1f s before starting another", delay)
            self.not_before = self._loop.time() + delay
            self._loop.call_later(delay, self._converge)

    # --- events ----------------------------------------------------------------------------

    def _on_message(self, worker: Worker) -> None:
        assert self._loop is not None
        try:
            data = os.read(worker.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the worker closed its end: it is exiting (SIGCHLD follows)
            self._loop.remove_reader(worker.fd)
            return
        worker.last_beat = self._loop.time()
        if READY in data and not worker.ready:
            self._on_ready(worker)
        if RETIRE in data and worker.retire is None:
            worker.retire = "max requests"
            self._converge()

    def _on_ready(self, worker: Worker) -> None:
        logger.info("Worker %d ready", worker.pid)
        worker.ready = True
        self.ever_ready = True
        self.boot_failures = 0
        old = worker.replaces
        if old is not None:
            worker.replaces = old.replacement = None
            if not old.stopping:
                self._stop_worker(old, f"replaced by {worker.pid}")
        self._converge()

    def _reap(self, sig: int = signal.SIGCHLD) -> None:
        for worker in list(self.workers.values()):
            code = worker.proc.poll()
            if code is not None:
                self._on_exit(worker, code)

    def _on_exit(self, worker: Worker, code: int) -> None:
        assert self._loop is not None
        del self.workers[worker.pid]
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(worker.fd)
        os.close(worker.fd)
        if worker.kill_timer is not None:
            worker.kill_timer.cancel()
        how = f"exit code {code}" if code >= 0 else signal.Signals(-code).name
        self.on_worker_exit(worker.pid)
        was_replacement = worker.replaces is not None
        if worker.replaces is not None:
            worker.replaces.replacement = None
        if worker.replacement is not None:
            worker.replacement.replaces = None  # it now simply fills the slot
        if worker.stopping or self.stopping:
            logger.info("Worker %d stopped (%s)", worker.pid, how)
        else:
            young = self._loop.time() - worker.started < _STABLE_AFTER
            self.streak = self.streak + 1 if young else 0
            if worker.ready:
                logger.error("Worker %d died unexpectedly (%s); starting another", worker.pid, how)
                self.on_worker_restart("died")
                self._back_off()
            else:
                self._boot_failed(worker, how, was_replacement)
        if self.stopping and not self.workers:
            self._finish()
        self._converge()

    def _boot_failed(self, worker: Worker, how: str, was_replacement: bool) -> None:
        logger.error("Worker %d failed to start (%s)", worker.pid, how)
        serving = any(w.ready and not w.stopping for w in self.workers.values())
        if self.config.reload:
            for w in self.workers.values():
                w.generation = self.generation
            self.paused = True
            if serving:
                logger.error("Still serving the previous code; save a file to try again")
            else:
                logger.error("Waiting for a file change to try again")
            return
        self.boot_failures += 1
        if not self.ever_ready or (self.boot_failures >= _MAX_BOOT_FAILURES and not serving):
            logger.error(
                "The app does not start in a worker (see the error above): giving up after "
                "%d attempt(s)",
                self.boot_failures,
            )
            self._stop_all(exit_code=1)
            return
        if was_replacement and any(w.generation < self.generation for w in self.workers.values()):
            logger.error("Reload abandoned: the new workers do not start; the others keep serving")
            for w in self.workers.values():
                w.generation = self.generation
        self.on_worker_restart("failed to start")
        self._back_off()

    def _stop_all(self, exit_code: int) -> None:
        if not self.stopping:
            self.stopping = True
            self.exit_code = exit_code
            if self.sock is not None:
                # No worker will start again; once the workers close theirs too, new
                # connections are refused rather than left queued on a socket nobody serves.
                self.sock.close()
        for worker in list(self.workers.values()):
            if not worker.stopping:
                self._stop_worker(worker, "shutting down")
        if not self.workers:
            self._finish()

    def _on_stop_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if not self.stopping:
            logger.info(
                "%s: stopping the workers gracefully (at most %.0f s)",
                name,
                self.config.timeout_graceful,
            )
            self._stop_all(exit_code=0)
        else:
            logger.warning("Second %s: the workers close every connection now", name)
            for worker in list(self.workers.values()):
                self._signal(worker, signal.SIGTERM)  # a worker's second signal cuts it short

    def _on_hup(self, sig: int) -> None:
        if self.stopping:
            return
        logger.info("SIGHUP: replacing the workers one by one")
        self._reload()

    def _reload(self) -> None:
        self.generation += 1
        self.paused = False
        self.boot_failures = 0
        self.not_before = 0.0
        self._converge()

    def _on_ttin(self, sig: int) -> None:
        self.target += 1
        logger.info("SIGTTIN: %d workers wanted", self.target)
        self._converge()

    def _on_ttou(self, sig: int) -> None:
        self.target = max(1, self.target - 1)
        logger.info("SIGTTOU: %d workers wanted", self.target)
        self._converge()

    # --- periodic checks -------------------------------------------------------------------

    def _housekeeping(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        # A developer stopped at a breakpoint must not be killed: no timeout with --reload.
        timeout = 0.0 if self.config.reload else self.config.timeout_worker
        limit = self.config.limit_worker_memory * 1024 * 1024
        for worker in list(self.workers.values()):
            if worker.stopping or worker.stuck:
                continue
            # Starting (importing the app, its startup()) may take longer than a tick should.
            allowed = timeout if worker.ready else max(timeout, _START_ALLOWANCE)
            if timeout and now - worker.last_beat > allowed:
                self._stuck(worker, now - worker.last_beat)
            elif limit and worker.ready and worker.retire is None:
                rss = resident_memory(worker.pid)
                if rss is not None and rss > limit:
                    logger.warning(
                        "Worker %d uses %d MiB (--limit-worker-memory %d): replacing it",
                        worker.pid,
                        rss // (1024 * 1024),
                        self.config.limit_worker_memory,
                    )
                    worker.retire = "memory"
        self._converge()
        self._housekeeping_timer = self._loop.call_later(_HOUSEKEEPING, self._housekeeping)

    def _stuck(self, worker: Worker, silent: float) -> None:
        assert self._loop is not None
        worker.stuck = True
        what = "no heartbeat" if worker.ready else "not started"
        logger.error(
            "Worker %d is stuck: %s for %.0f s (--timeout-worker %g); "
            "dumping its threads' stacks, then killing it",
            worker.pid,
            what,
            silent,
            self.config.timeout_worker,
        )
        self._signal(worker, signal.SIGUSR1)  # faulthandler in the worker (see link.py)
        worker.kill_timer = self._loop.call_later(_DUMP_WAIT, self._kill, worker, "stuck")


def _env_text(value: object) -> str:
    """A setting as `porch.config.parse_value` reads it back from a PORCH_* variable."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def resident_memory(pid: int) -> int | None:
    """A process's resident set size in bytes, from /proc (None where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
