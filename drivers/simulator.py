"""Serve the offline provider simulator over real WebSocket (optionally TLS) on loopback.

One listening socket answers both protocols, by path:

* OpenAI Realtime: ``/v1/realtime?model=...`` (point ``AsyncOpenAI(websocket_base_url=
  server.openai_base_url)`` at it);
* Gemini Live: ``/ws/google.ai.generativelanguage.{v1,v1alpha,v1beta}.GenerativeService.
  BidiGenerateContent`` (and ``...Constrained``); ``google-genai`` needs TLS, so pass an
  ``ssl_context`` and give the client ``http_options.base_url = server.gemini_base_url``.

This module only moves messages and time: every protocol decision is in
:mod:`adk_realtime.sansio.sim.hub`. Per connection it runs the session's driving loop:
feed each frame to ``receive_data(frame, now)``, send ``data_to_send()`` in order, sleep
until ``get_timer()`` and call ``handle_timer(now)``, and close the socket when ``next_event()``
gives a ``SimSessionClosed`` (one with ``drop=True`` is the abrupt-drop fault: what was
queued is sent, then the connection ends without a close frame, see
:meth:`WebSocketConnection.drop`). Sessions get the wall clock at open (``wall_clock``) for
OpenAI's ``expires_at``.

    async with run_simulator(hub=SimulatorHub(pace=1.0)) as server:
        ...  # server.openai_base_url, server.gemini_base_url, server.port
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from adk_realtime.drivers.websocket import WebSocketConnection, serve
from adk_realtime.sansio.errors import ConfigError, ConnectionClosed
from adk_realtime.sansio.http_server import HttpReply, HttpRequest
from adk_realtime.sansio.sim.hub import SimSession, SimSessionClosed, SimulatorHub
from adk_realtime.sansio.sim.scenario_session import ScenarioDirector, ScenarioSession, SimStall
from adk_realtime.sansio.websocket.connection import Headers

__all__ = ["SimulatorServer", "run_simulator"]

_HTTP_REASON = {401: "Incorrect API key provided.", 404: "No such endpoint."}


@dataclass(slots=True)
class SimulatorServer:
    """A running simulator: where it listens and what it has served."""

    host: str
    port: int
    secure: bool
    hub: SimulatorHub
    active_sessions: int = 0
    sessions_served: int = 0
    _sessions: set[SimSession] = field(default_factory=set, repr=False)
    _idle: anyio.Event = field(default_factory=anyio.Event, repr=False)
    _requests: anyio.Event = field(default_factory=anyio.Event, repr=False)
    _pokes: dict[SimSession, Callable[[], Awaitable[None]]] = field(
        default_factory=dict, repr=False
    )

    async def wait_idle(self) -> None:
        """Until no session is being served (returns at once when none is)."""
        while self.active_sessions:
            await self._idle.wait()

    def _session_ended(self) -> None:
        self.active_sessions -= 1
        if not self.active_sessions:
            self._idle.set()
            self._idle = anyio.Event()

    def ring(self, *, now: int, **call: str) -> tuple[str, bytes]:
        """Ring a SIP call (:meth:`SimCalls.ring`): its id and the webhook body to deliver."""
        return self.hub.calls.ring(now=now, **call)

    async def hang_up(self, call_id: str) -> None:
        """The caller hangs up ``call_id``: its attached session (if any) closes (1000)."""
        session = self.hub.calls.hang_up(call_id)
        poke = self._pokes.get(session) if session is not None else None
        if poke is not None:
            await poke()

    async def wait_call_requests(self, count: int) -> None:
        """Until the simulator has taken ``count`` call-control requests in all
        (``hub.calls.log``; returns at once when it has)."""
        while len(self.hub.calls.log) < count:
            await self._requests.wait()

    def _request_taken(self) -> None:
        self._requests.set()
        self._requests = anyio.Event()

    # -- the hub's input audio ledger (SimulatorHub(record_input=True)) --
    def input_ledger(self) -> bytes:
        """Every input audio byte committed to a turn, in order (:meth:`SimulatorHub.input_ledger`)."""
        return self.hub.input_ledger()

    def input_ledger_count(self) -> int:
        """How many bytes :meth:`input_ledger` holds."""
        return self.hub.input_ledger_count()

    def input_ledger_sha256(self) -> str:
        """The hex SHA-256 of :meth:`input_ledger`."""
        return self.hub.input_ledger_sha256()

    @property
    def discarded_input(self) -> list[bytes]:
        """What each ended session held uncommitted, one entry per session."""
        return self.hub.discarded_input

    @property
    def session_max_seconds(self) -> float | None:
        """The hub's session cap (seconds), or None."""
        return self.hub.settings.session_max_seconds

    @property
    def url(self) -> str:
        """``ws://host:port`` (``wss://`` with TLS)."""
        return f"{'wss' if self.secure else 'ws'}://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``AsyncOpenAI(websocket_base_url=...)``: ``ws://127.0.0.1:P/v1``."""
        return f"{self.url}/v1"

    @property
    def gemini_base_url(self) -> str:
        """For ``google-genai``'s ``HttpOptions(base_url=...)``: ``https://127.0.0.1:P``."""
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"


async def _serve_session(
    ws: WebSocketConnection,
    session: SimSession | ScenarioSession,
    clock: Callable[[], float],
    pokes: dict[SimSession, Callable[[], Awaitable[None]]],
) -> None:
    """Run one session's driving loop until either side closes."""
    # The outbox is FIFO: whoever takes from it sends before the next (the lock is FIFO too).
    send_lock = anyio.Lock(fast_acquire=True)
    timer_changed = anyio.Event()
    waiting_for: float | None = None  # the deadline the timers task sleeps until
    ended: SimSessionClosed | None = None  # the session's own close, once it asked for one
    stalled = False  # the half-dead fault: neither read nor write again
    peer_gone = False
    key = session.inner if isinstance(session, ScenarioSession) else session

    async def flush() -> None:
        nonlocal ended, stalled
        messages = session.data_to_send()
        if messages:  # (most input makes no output: then no lock either)
            async with send_lock:
                for message in messages:
                    if not stalled:
                        await ws.send(message)
        while (event := session.next_event()) is not None:
            if isinstance(event, SimStall):
                stalled = True
                ws.stall()
            else:
                ended = event

    def lost() -> None:
        nonlocal peer_gone
        peer_gone = True
        session.connection_lost()

    async def poke() -> None:
        # Something outside this connection changed the session (a hung-up call).
        with contextlib.suppress(ConnectionClosed):
            await flush()
        timer_changed.set()

    pokes[key] = poke

    async def timers(cancel: anyio.CancelScope) -> None:
        nonlocal timer_changed, waiting_for
        try:
            while ended is None and not stalled:
                deadline = waiting_for = session.get_timer()
                changed = timer_changed = anyio.Event()
                if deadline is None:
                    await changed.wait()
                    continue
                delay = deadline - clock()
                if delay > 0:
                    with anyio.move_on_after(delay):
                        await changed.wait()
                        continue
                session.handle_timer(clock())
                await flush()
        except ConnectionClosed:
            lost()
        if stalled:
            await anyio.sleep_forever()  # half-dead: the reader holds the socket open, unread
        cancel.cancel()  # the session asked to close (or the peer left): stop reading

    async with anyio.create_task_group() as tg:
        tg.start_soon(timers, tg.cancel_scope)
        try:
            await flush()
            async for frame in ws:
                session.receive_data(frame, clock())
                await flush()
                if ended is not None or stalled or session.get_timer() != waiting_for:
                    timer_changed.set()  # (the timers task sleeps on when nothing moved)
                if ended is not None or stalled:
                    break
            if stalled:  # keep the socket open, unread, until the server stops
                await anyio.sleep_forever()
        except ConnectionClosed:
            pass  # the peer went away
        finally:
            pokes.pop(key, None)
            if ended is None and not peer_gone:
                lost()
            tg.cancel_scope.cancel()
    if ended is not None and not peer_gone:
        with contextlib.suppress(ConnectionClosed):
            await flush()
            if ended.drop:
                await ws.drop()  # the fault: no close frame, the client sees 1006
            else:
                await ws.aclose(ended.code, ended.reason)


@asynccontextmanager
async def run_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    hub: SimulatorHub | None = None,
    clock: Callable[[], float] = anyio.current_time,
    wall_clock: Callable[[], float] = time.time,
    max_message_size: int = 16 * 2**20,
    session_max_seconds: float | None = None,
    drop_after: float | None = None,
    drops: int = 1,
    record_input: bool = False,
    director: ScenarioDirector | None = None,
    sock: socket.socket | None = None,
) -> AsyncIterator[SimulatorServer]:
    """Listen on ``host:port`` (0: a free port), or accept on ``sock`` (a listening socket
    several simulator processes may share), and serve simulated sessions until exit.

    ``hub`` (default: a new :class:`SimulatorHub`) decides what the model says and how fast;
    keep it to inspect stats or to share resumption handles between servers. ``clock`` is the
    monotonic time the sessions are driven with, ``wall_clock`` the unix time (OpenAI's
    ``expires_at``). ``session_max_seconds``, ``drop_after``, ``drops`` and ``record_input``
    make the default hub with them (see :class:`SimulatorHub`); with your own ``hub``, give
    them to it instead. ``director`` plays a scenario (``sansio/sim/scenario_session.py``): it
    is bound to the hub and wraps every session (a stall fault keeps the socket open, unread,
    until the block exits). Leaving the block stops listening and closes every session (1001).
    """
    faults = (session_max_seconds, drop_after, drops, record_input) != (None, None, 1, False)
    if hub is not None and faults:
        msg = "give session_max_seconds, drop_after, drops and record_input to the hub you pass"
        raise ConfigError("hub", msg)
    if hub is None:
        hub = SimulatorHub(
            session_max_seconds=session_max_seconds,
            drop_after=drop_after,
            drops=drops,
            record_input=record_input,
        )
    if director is not None:
        director.bind(hub.settings)
    state: SimulatorServer | None = None

    def reject(target: str, headers: Headers) -> tuple[int, str] | None:
        kind = hub.route(target)
        status = 404 if kind is None else hub.authorize(kind, target, headers)
        if status is None:
            return None
        error = {"type": "invalid_request_error", "code": str(status)}
        error["message"] = _HTTP_REASON.get(status, "Refused.")
        return status, json.dumps({"error": error})

    async def handler(ws: WebSocketConnection) -> None:
        assert state is not None
        target = ws.request_target
        kind = hub.route(target)
        if kind is None:  # reject() already refused these; keep the types honest
            await ws.aclose(1008, "no such endpoint")
            return
        session = hub.open_session(
            kind, path=target, headers=ws.request_headers, now=clock(), wall_now=wall_clock()
        )
        state.active_sessions += 1
        state.sessions_served += 1
        state._sessions.add(session)
        served = director.attach(session, clock()) if director is not None else session
        try:
            await _serve_session(ws, served, clock, state._pokes)
        finally:
            state._session_ended()
            state._sessions.discard(session)

    async def http_handler(request: HttpRequest) -> HttpReply:
        # OpenAI's SIP call control (POST /v1/realtime/calls/{id}/{action}); else 404.
        ended: list[SimSession] = []
        status, body = hub.handle_http(
            request.method, request.target, request.headers, request.body, ended.append
        )
        for session in ended:
            poke = state._pokes.get(session) if state is not None else None
            if poke is not None:
                await poke()
        if state is not None:
            state._request_taken()
        return HttpReply(status, body, "application/json")

    async with serve(
        handler,
        host,
        port,
        ssl_context=ssl_context,
        reject=reject,
        max_message_size=max_message_size,
        http_handler=http_handler,
        sock=sock,
    ) as handle:
        state = SimulatorServer(handle.host, handle.port, handle.secure, hub)
        yield state
