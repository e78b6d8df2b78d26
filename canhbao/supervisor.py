"""`canhbao serve`'s processes: the web process as a supervised child, restarted with backoff.

The serve process starts the web process (`canhbao web`) with one end of a socket pair (the
link; what crosses it is the linked components' business) and its stdout as a pipe on which the
child says READY once it listens. A web process that dies is started again after a backoff that
doubles from BACKOFF_MIN_S to BACKOFF_MAX_S and starts over once a child has lived STABLE_S; one
that dies before its first READY ends serve (a port in use or a broken config would only die
again). The child dies with serve: PR_SET_PDEATHSIG, and its end of the link closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from canhbao.clock import Clock
from canhbao.errors import CanhbaoError
from canhbao.health import HealthRegistry
from canhbao.logs import AccessLogger

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0  # a child that lived this long restarts at once after its next death
RECENT = timedelta(minutes=10)  # restarts within this window keep the component degraded
READY = b"READY"
PARENT_ENV = "CANHBAO_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1

LinkHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


class ChildFailed(CanhbaoError):
    """The child died before it was ever ready: starting it again would not help."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # the child's exit code (2: it said why in one line on stderr)


class Supervisor:
    """Runs one child process until stop(), restarting it when it dies."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        on_link: LinkHandler,
        health: HealthRegistry,
        metrics: CollectorRegistry,
        clock: Clock,
        *,
        stop_timeout_s: float,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._on_link = on_link
        self._health = health
        self._clock = clock
        self._stop_timeout_s = stop_timeout_s
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()  # set when a child first says READY
        self._process: asyncio.subprocess.Process | None = None
        self._restarts = 0
        self._last_restart: str = ""
        self._restarted_at = clock.now() - 2 * RECENT
        self._restart_counter = Counter(
            "canhbao_process_restarts",
            "Times serve started a child process again after it died, by process.",
            ["process"],
            registry=metrics,
        )
        self._up = Gauge(
            "canhbao_process_up",
            "1 while serve's child process is running and ready, by process.",
            ["process"],
            registry=metrics,
        )
        self._up.labels(name).set(0)
        self._restart_counter.labels(name)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after stop_timeout_s) and do not restart it."""
        self._stopping.set()

    async def run(self) -> None:
        """Until stop(): start the child, wait for its death, start it again after a backoff."""
        backoff = BACKOFF_MIN_S
        ever_ready = False
        while not self._stopping.is_set():
            started = time.monotonic()
            ready, code = await self._run_once()
            if self._stopping.is_set():
                break
            reason = _exit_reason(code)
            if not ready and not ever_ready:
                raise ChildFailed(f"the {self.name} process {reason} before it was ready", code)
            ever_ready = ever_ready or ready
            if time.monotonic() - started >= STABLE_S:
                backoff = BACKOFF_MIN_S
            self._restarts += 1
            self._restarted_at = self._clock.now()
            self._last_restart = f"last {reason} at {self._clock.now():%Y-%m-%d %H:%M:%S} UTC"
            self._restart_counter.labels(self.name).inc()
            log.error(
                "child process died; starting it again",
                extra={"child": self.name, "exit": code, "backoff_s": backoff},
            )
            self._health.report(
                f"process.{self.name}", "failing",
                f"{reason}; starting again in {backoff:g} s ({self._restarts} restarts)",
                at=self._clock.now(), critical=False,
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._stopping.wait()
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _run_once(self) -> tuple[bool, int]:
        """One child's life: (whether it said READY, its exit code)."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                "--link-fd",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdout=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, PARENT_ENV: str(os.getpid())},
            )
        finally:
            theirs.close()
        self._process = process
        # Before the child can answer anything: a new web process must not show the dead one's
        # "failing" as its own state while it starts.
        self._report_running(process.pid, False)
        reader, writer = await asyncio.open_connection(sock=ours)
        link = asyncio.create_task(self._on_link(reader, writer), name=f"{self.name}-link")
        ready = False
        try:
            if process.stdout is None:
                raise RuntimeError("the child's stdout is not a pipe")
            waiting = asyncio.create_task(process.wait())
            stopping = asyncio.create_task(self._stopping.wait())
            readiness = asyncio.create_task(process.stdout.readline())
            pending = {waiting, stopping, readiness}
            while True:
                done, pending = await asyncio.wait(
                    pending, timeout=self._settle_s(), return_when=asyncio.FIRST_COMPLETED
                )
                if readiness in done:
                    line = readiness.result()
                    if line.strip() == READY and not ready:
                        ready = True
                        self.ready.set()
                        self._up.labels(self.name).set(1)
                        log.info("child process ready", extra={"child": self.name,
                                                                "pid": process.pid})  # fmt: skip
                    elif line:  # what else the child prints (a first-start link) is ours
                        sys.stdout.buffer.write(line)
                        sys.stdout.buffer.flush()
                    if line:
                        readiness = asyncio.create_task(process.stdout.readline())
                        pending.add(readiness)
                self._report_running(process.pid, ready)
                if waiting in done or stopping in done:
                    break
            if stopping in done or self._stopping.is_set():
                await self._terminate(process)
            for task in pending:
                task.cancel()
            code = await process.wait()
            return ready, code
        finally:
            self._up.labels(self.name).set(0)
            self._process = None
            writer.close()
            link.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await link

    def _settle_s(self) -> float | None:
        """When a degraded report after a restart should turn ok again."""
        left = (self._restarted_at + RECENT - self._clock.now()).total_seconds()
        return left if left > 0 else None

    def _report_running(self, pid: int, ready: bool) -> None:
        detail = f"pid {pid}, {'ready' if ready else 'starting'}"
        if self._restarts:
            detail += f"; {self._restarts} restarts, {self._last_restart}"
        recent = self._clock.now() - self._restarted_at < RECENT
        self._health.report(
            f"process.{self.name}", "degraded" if recent else "ok", detail,
            at=self._clock.now(), critical=False,
        )  # fmt: skip

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self._stop_timeout_s):
                await process.wait()
        except TimeoutError:
            log.warning("child process did not stop in time; killing it",
                        extra={"child": self.name})  # fmt: skip
            with contextlib.suppress(ProcessLookupError):
                process.kill()


def _exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


# -- the child's side ------------------------------------------------------------------------


def die_with_parent() -> None:
    """In a supervised child: be killed when the supervisor dies, however it dies (Linux's
    PR_SET_PDEATHSIG; elsewhere the link's end closing stops the child instead)."""
    expected = os.environ.get(PARENT_ENV)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The supervisor may have died before prctl: then we already belong to someone else.
    if expected is not None and str(os.getppid()) != expected:
        raise ChildFailed("the supervising process is gone")


async def run_web(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout_s: float,
    stop: asyncio.Event,
    *,
    on_listening: Callable[[], None] = lambda: None,
) -> None:
    """Serve `app` until SIGTERM, SIGINT or `stop`; once listening, call `on_listening` (what it
    prints on stdout, the supervisor prints on its own) and say READY on stdout."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=shutdown_timeout_s)
        await site.start()
        on_listening()
        sys.stdout.flush()
        sys.stdout.buffer.write(READY + b"\n")
        sys.stdout.buffer.flush()
        await stop.wait()
    finally:
        await runner.cleanup()
