"""Serve on one host as N worker processes sharing one port, drained on SIGTERM.

``supervise("myapp.phone:make_server", port=8080, workers=4, drain_seconds=60)`` runs a
supervisor: it binds ``host:port`` once, starts ``workers`` processes
(``python -m adk_realtime.serving``) that all accept on that socket, forwards SIGTERM
and SIGINT to them, restarts one that crashed, and returns 0 once every worker drained
and exited 0 (1 otherwise). ``adk-realtime phone serve --workers N`` is this with the
demo phone server.

The server to run is generic: ``factory`` names (``"module:attribute"``, importable in a
fresh process) a function of :class:`WorkerInfo` returning an async context manager
that yields a :class:`Servable`. :class:`~adk_realtime.phone_server.PhoneServer` is one;
any server of ours with ``listen(sock)``, ``start_drain()`` and ``drain(deadline)`` is
another. Pass ``worker.id`` on (``PhoneServer(worker_id=...)``: it reaches
``CallInfo.worker``) and ``worker.stream_key`` (the media tokens one worker mints,
another must accept).

Why a pre-bound socket and not ``SO_REUSEPORT``: the supervisor binds and listens, and
the workers inherit the socket (``pass_fds``). Port 0 works (the supervisor knows the
port before any worker starts); a connection waiting in the queue is never lost when a
worker crashes, restarts or drains (with ``SO_REUSEPORT`` each worker has its own queue,
and what waits in it is reset when that worker closes it); it is the same on every Unix.
The price: the kernel does not balance connections, the first worker to accept wins; a
busy worker accepts later, so load still spreads (and ``max_calls`` bounds each one).

Drain, per worker: on SIGTERM (or SIGINT) the server stops taking new calls at once
(``start_drain``: ``/readyz`` 503, webhooks refused the carrier's way), lets the active
calls finish for up to ``drain_seconds``, ends the rest, and the worker exits 0. Give
Kubernetes a ``terminationGracePeriodSeconds`` a little over ``drain_seconds``.

Metrics: the supervisor gives its workers a ``PROMETHEUS_MULTIPROC_DIR`` (a fresh
temporary folder unless one is set), so ``/metrics`` on any worker sums them all (see
:mod:`adk_realtime.metrics`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import anyio.abc

from adk_realtime.sansio.errors import ConfigError

__all__ = [
    "Servable",
    "ServerFactory",
    "WorkerInfo",
    "bind_listening_socket",
    "freeze_startup_heap",
    "load_factory",
    "main",
    "run_worker",
    "supervise",
]

log = logging.getLogger("adk_realtime.serving")

STREAM_KEY_ENV = "ADK_REALTIME_STREAM_KEY"
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_RESTART_LIMIT = 5  # crashes within _RESTART_WINDOW seconds: the worker is broken, stop
_RESTART_WINDOW = 30.0
_RESTART_PAUSE = 0.5
_EXIT_GRACE = 10.0  # beyond drain_seconds, how long a worker may take to exit when asked


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """Who a worker process is: ``index`` (1..N), ``pid``, the app's own ``argv`` and the
    ``stream_key`` every worker shares (never shown by ``repr``)."""

    index: int
    pid: int
    argv: tuple[str, ...] = ()
    stream_key: bytes = field(default=b"", repr=False)

    @property
    def id(self) -> str:
        """``"<index>-<pid>"``: what ``CallInfo.worker`` holds."""
        return f"{self.index}-{self.pid}"


class Servable(Protocol):
    """What a worker runs (``PhoneServer`` is one)."""

    def listen(self, sock: socket.socket) -> AbstractAsyncContextManager[Any]:
        """Serve on ``sock`` (bound and listening) for the life of the block."""
        ...

    def start_drain(self) -> None:
        """Take no new work from now on."""
        ...

    async def drain(self, deadline: float) -> int:
        """Stop taking work, let what runs finish for up to ``deadline`` seconds, end the
        rest; returns how many were ended at the deadline."""
        ...


ServerFactory = Callable[[WorkerInfo], AbstractAsyncContextManager[Servable]]


def load_factory(spec: str) -> ServerFactory:
    """The factory named ``"module:attribute"`` (``ConfigError`` if it is not there)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError("factory", f"name it as 'module:attribute', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError("factory", f"cannot import {module_name!r}: {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError("factory", f"{spec!r} is not a function in {module_name!r}")
    result: ServerFactory = factory
    return result


# ------------------------------------------------------------------------- a worker


async def run_worker(
    factory: ServerFactory,
    worker: WorkerInfo,
    sock: socket.socket,
    drain_seconds: float,
    *,
    ready: Callable[[], Awaitable[None] | None] | None = None,
) -> int:
    """Run one worker: serve on ``sock`` until SIGTERM or SIGINT, then drain (see the
    module docstring). Returns the exit status (0)."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with factory(worker) as server, server.listen(sock):
            freeze_startup_heap()
            log.info("worker %s serving", worker.id)
            if ready is not None:
                await _maybe_await(ready())
            async for signum in signals:
                log.info("worker %s: %s, draining", worker.id, signal.Signals(signum).name)
                break
            # Still inside the receiver: a second signal (Ctrl-C twice) does not cut the drain.
            ended = await server.drain(drain_seconds)
            if ended:
                log.warning("worker %s: %d calls ended at the drain deadline", worker.id, ended)
    log.info("worker %s drained", worker.id)
    return 0


def freeze_startup_heap() -> None:
    """Leave what the process holds once it is ready to serve (modules, the app) out of the
    garbage collector's passes (``gc.freeze``): a full pass then scans only what calls
    created, so its pause, which stops every call of the worker, is shorter (37-54 ms
    -> 21-25 ms with 50 phone calls per worker in ``bench_phone``)."""
    gc.collect()
    gc.freeze()


async def _maybe_await(value: Awaitable[None] | None) -> None:
    if value is not None:
        await value


def main(argv: Sequence[str]) -> int:
    """``python -m adk_realtime.serving supervise FACTORY [--workers N ...] [-- APP ARGS]``
    runs the supervisor; ``... worker`` is how it starts each worker."""
    parser = argparse.ArgumentParser(prog="python -m adk_realtime.serving")
    commands = parser.add_subparsers(dest="command", required=True)
    boss = commands.add_parser("supervise", help="run N workers of FACTORY on one port")
    boss.add_argument("factory", help="module:attribute, a function of WorkerInfo")
    boss.add_argument("--host", default="127.0.0.1")
    boss.add_argument("--port", type=int, default=8080)
    boss.add_argument("--workers", type=int, default=2)
    boss.add_argument("--drain-seconds", type=float, default=30.0)
    worker = commands.add_parser("worker", help="one worker (the supervisor starts these)")
    worker.add_argument("--factory", required=True)
    worker.add_argument("--fd", type=int, required=True)
    worker.add_argument("--index", type=int, required=True)
    worker.add_argument("--drain-seconds", type=float, required=True)
    for sub in (boss, worker):
        sub.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)  # after "--": the app's own
    args = parser.parse_args(argv[:split])
    app_args = tuple(argv[split + 1 :])
    level = os.environ.get("ADK_REALTIME_LOG_LEVEL", "WARNING").upper()
    if args.command == "supervise":
        logging.basicConfig(level=level, format="[supervisor] %(levelname)s %(message)s")

        def listening(port: int) -> None:
            print(
                f"serving {args.factory} on http://{args.host}:{port} with {args.workers} workers",
                flush=True,
            )

        status: int = anyio.run(
            functools.partial(
                supervise,
                args.factory,
                host=args.host,
                port=args.port,
                workers=args.workers,
                drain_seconds=args.drain_seconds,
                app_args=app_args,
                backend=args.backend,
                on_listening=listening,
            ),
            backend=args.backend,
        )
        return status
    key_hex = os.environ.get(STREAM_KEY_ENV, "")
    info = WorkerInfo(args.index, os.getpid(), app_args, bytes.fromhex(key_hex))
    logging.basicConfig(
        level=level, format=f"[worker {info.id}] %(levelname)s %(name)s: %(message)s"
    )
    factory = load_factory(args.factory)
    sock = socket.socket(fileno=args.fd)
    status = anyio.run(run_worker, factory, info, sock, args.drain_seconds, backend=args.backend)
    return status


# --------------------------------------------------------------------- the supervisor


def bind_listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, inheritable by child processes
    (the numeric address is bound as is: nothing is resolved)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class _Supervisor:
    factory: str
    sock: socket.socket
    workers: int
    drain_seconds: float
    app_args: tuple[str, ...]
    env: dict[str, str]
    backend: str
    draining: bool = False
    failed: bool = False
    processes: dict[int, anyio.abc.Process] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)

    async def spawn(self, index: int) -> anyio.abc.Process:
        fd = self.sock.fileno()
        command = [
            sys.executable,
            "-m",
            "adk_realtime.serving",
            "worker",
            "--factory",
            self.factory,
            "--fd",
            str(fd),
            "--index",
            str(index),
            "--drain-seconds",
            repr(self.drain_seconds),
            "--backend",
            self.backend,
            "--",
            *self.app_args,
        ]
        # A new session: a terminal's Ctrl-C reaches the supervisor only, which forwards it.
        process = await anyio.open_process(
            command,
            stdin=subprocess.DEVNULL,
            stdout=None,
            stderr=None,
            env=self.env,
            pass_fds=[fd],
            start_new_session=True,
        )
        self.processes[index] = process
        return process

    async def keep(self, index: int, stop: anyio.CancelScope) -> None:
        """Run worker ``index``; restart it when it dies before the drain."""
        crashes: list[float] = []
        while not self.draining:  # (a drain may begin while a restart waits)
            process = await self.spawn(index)
            status = await process.wait()
            if self.draining and status == -signal.SIGTERM:
                # Our drain signal came before the worker set its handler, which it does
                # before it listens: it never took a call, so it drained.
                status = 0
            self.statuses[index] = status
            self._forget(process.pid)
            if self.draining:
                return
            now = anyio.current_time()
            crashes = [t for t in crashes if now - t < _RESTART_WINDOW] + [now]
            log.warning("worker %d (pid %d) exited with %s; restarting", index, process.pid, status)
            if len(crashes) > _RESTART_LIMIT:
                log.error("worker %d keeps crashing: stopping the server", index)
                self.failed = True
                stop.cancel()
                return
            await anyio.sleep(_RESTART_PAUSE)

    def signal_all(self, signum: signal.Signals) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    def _forget(self, pid: int) -> None:
        """A dead worker's live gauges leave the sum (multiprocess metrics)."""
        folder = self.env.get(_MULTIPROC_ENV)
        if not folder:
            return
        try:
            from prometheus_client import multiprocess  # lazy: an optional extra
        except ImportError:
            return
        multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


async def supervise(
    factory: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 2,
    drain_seconds: float = 30.0,
    app_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    backend: str = "asyncio",
    sock: socket.socket | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> int:
    """Run ``workers`` processes of ``factory`` on ``host:port`` until SIGTERM/SIGINT, then
    drain them (see the module docstring). ``app_args`` reach ``WorkerInfo.argv``; ``env``
    is the workers' environment (this one's by default); ``sock`` a socket already
    listening (then ``host``/``port`` are not bound); ``on_listening(port)`` is called
    once bound. Returns 0 when every worker drained and exited 0, else 1."""
    if type(workers) is not int or not 1 <= workers <= 1024:
        raise ConfigError("workers", f"must be an int from 1 to 1024, got {workers!r}")
    if not isinstance(drain_seconds, int | float) or not 0 < drain_seconds < 86400:
        raise ConfigError("drain_seconds", f"must be seconds > 0, got {drain_seconds!r}")
    load_factory(factory)  # fail here, not in N workers
    owned = sock is None
    sock = sock if sock is not None else bind_listening_socket(host, port)
    children_env = dict(os.environ if env is None else env)
    children_env.setdefault(STREAM_KEY_ENV, secrets.token_hex(32))
    metrics_dir: str | None = None
    if not children_env.get(_MULTIPROC_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="adk-realtime-metrics-")
        children_env[_MULTIPROC_ENV] = metrics_dir
    state = _Supervisor(
        factory, sock, workers, float(drain_seconds), tuple(app_args), children_env, backend
    )
    try:
        if on_listening is not None:
            on_listening(sock.getsockname()[1])
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as tg:
                for index in range(1, workers + 1):
                    tg.start_soon(state.keep, index, tg.cancel_scope)
                async for signum in signals:
                    log.info("supervisor: %s, draining the workers", signal.Signals(signum).name)
                    break
                state.draining = True
                state.signal_all(signal.SIGTERM)
                with anyio.move_on_after(drain_seconds + _EXIT_GRACE) as waited:
                    for process in list(state.processes.values()):
                        await process.wait()  # keep() collects the status; this bounds it
                if waited.cancelled_caught:
                    log.error("supervisor: workers still up after the drain: killing them")
                    state.failed = True
                    state.signal_all(signal.SIGKILL)
    finally:
        state.draining = True
        state.signal_all(signal.SIGKILL)  # only those still up (a crash of ours)
        if owned:
            sock.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    if state.failed or any(status != 0 for status in state.statuses.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
