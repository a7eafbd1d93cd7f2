"""A pytest plugin: the simulator as an offline provider for your app's tests.

Registered through the ``pytest11`` entry point, it only adds the ``realtime_simulator``
fixture; nothing runs and no I/O library is imported until a test asks for the fixture.
The fixture's :class:`RealtimeSimulator` serves OpenAI Realtime (``ws://``) and Gemini Live
(``wss://``, with a test CA for ``google-genai``) on free loopback ports, from a background
thread with its own event loop, so sync tests, asyncio, trio and any client library work::

    def test_weather(realtime_simulator):
        realtime_simulator.play({"turns": [{"say": "Hello!"}]})   # or a Scenario, or a file
        client = AsyncOpenAI(api_key="sk-test", websocket_base_url=realtime_simulator.openai_base_url)
        ...
        assert realtime_simulator.record.of_type("conversation.item.truncate")
        realtime_simulator.validate_record()     # every client message, by the official types

Use it outside pytest too: ``with RealtimeSimulator(scenario) as sim: ...``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import ssl

    from anyio.from_thread import BlockingPortal

    from adk_realtime.drivers.simulator import SimulatorServer
    from adk_realtime.sansio.sim.scenario import Scenario
    from adk_realtime.sansio.sim.scenario_session import ClientRecord, ScenarioDirector

__all__ = ["RealtimeSimulator", "realtime_simulator"]


def _as_scenario(scenario: Any) -> Scenario:
    # lazy: the simulator is imported when a scenario is played, not when pytest loads us
    from adk_realtime.sansio.sim.scenario import Scenario, parse_scenario

    if scenario is None:
        return Scenario()
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, str | Path):
        # lazy: as above
        from adk_realtime.scenario_file import load_scenario

        return load_scenario(scenario)
    return parse_scenario(scenario)


class RealtimeSimulator:
    """The simulator on loopback for one test (a context manager; the fixture manages it).

    ``scenario``: a :class:`~adk_realtime.sansio.sim.scenario.Scenario`, a mapping in the file
    format, or a path to a YAML/JSON file (None: the default brain). ``pace`` overrides the
    scenario's (1.0 real time; 0 everything at once). ``tls``: also serve Gemini over TLS
    (``google-genai`` insists on it; needs ``trustme``). ``api_key``: the only key accepted.
    The server starts on first use of a URL (or :meth:`start`).
    """

    def __init__(
        self,
        scenario: Any = None,
        *,
        pace: float | None = None,
        tls: bool = True,
        api_key: str | None = None,
    ) -> None:
        self._scenario = _as_scenario(scenario)
        self._pace, self._tls, self._api_key = pace, tls, api_key
        self._stack: list[AbstractContextManager[Any]] = []
        self._portal: BlockingPortal | None = None
        self._director: ScenarioDirector | None = None
        self._plain: SimulatorServer | None = None
        self._secure: SimulatorServer | None = None
        self._client_ssl: ssl.SSLContext | None = None
        self._changed = threading.Condition()
        self._version = 0  # messages recorded: what a waiter compares

    # -- life cycle --
    def start(self) -> RealtimeSimulator:
        """Start serving (idempotent)."""
        if self._portal is not None:
            return self
        # lazy: the drivers and anyio are imported only when a test starts the simulator
        from anyio.from_thread import start_blocking_portal

        from adk_realtime.drivers.simulator import run_simulator
        from adk_realtime.sansio.sim.hub import SimulatorHub
        from adk_realtime.sansio.sim.scenario_session import ScenarioDirector

        portal_cm = start_blocking_portal("asyncio")
        self._portal = portal_cm.__enter__()
        self._stack.append(portal_cm)
        try:
            self._director = ScenarioDirector(self._scenario)
            self._director.record.listeners.append(self._heard)
            hub = SimulatorHub(api_key=self._api_key, pace=1.0)
            self._director.bind(hub.settings)
            if self._pace is not None:
                hub.settings.pace = self._pace
            plain = self._portal.wrap_async_context_manager(
                run_simulator(hub=hub, director=self._director)
            )
            self._plain = plain.__enter__()
            self._stack.append(plain)
            if self._tls:
                server_ssl, self._client_ssl = _test_tls()
                secure = self._portal.wrap_async_context_manager(
                    run_simulator(hub=hub, director=self._director, ssl_context=server_ssl)
                )
                self._secure = secure.__enter__()
                self._stack.append(secure)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop serving: every session is closed, the thread ends (idempotent)."""
        while self._stack:
            self._stack.pop().__exit__(None, None, None)
        self._portal = None

    def __enter__(self) -> RealtimeSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- where to connect --
    @property
    def openai_base_url(self) -> str:
        """For ``AsyncOpenAI(websocket_base_url=...)`` and our ``OpenAIRealtimeModel(base_url=...)``."""
        self.start()
        assert self._plain is not None
        return self._plain.openai_base_url

    @property
    def gemini_ws_url(self) -> str:
        """Plain ``ws://`` for Gemini clients that allow it (ours: ``GeminiLiveBackend.Public(
        key, base_url=...)``)."""
        self.start()
        assert self._plain is not None
        return self._plain.url

    @property
    def gemini_base_url(self) -> str:
        """``https://127.0.0.1:P`` for ``google-genai``'s ``HttpOptions(base_url=...)`` (TLS)."""
        self.start()
        if self._secure is None:
            raise RuntimeError("this simulator serves no TLS: make it with tls=True")
        return self._secure.gemini_base_url

    @property
    def gemini_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the simulator's test CA (``async_client_args={"ssl": ...}``)."""
        self.start()
        if self._client_ssl is None:
            raise RuntimeError("this simulator serves no TLS: make it with tls=True")
        return self._client_ssl

    def gemini_http_options(self) -> Any:
        """``google.genai.types.HttpOptions`` pointing ``genai.Client`` at the simulator."""
        # lazy: google-genai is only needed by tests that use it
        from google.genai import types

        return types.HttpOptions(
            base_url=self.gemini_base_url,
            api_version="v1beta",
            async_client_args={"ssl": self.gemini_ssl_context},
        )

    # -- the scenario and the record --
    def play(self, scenario: Any) -> None:
        """Play ``scenario`` (as the constructor takes it) from its first turn, from now on."""
        self._scenario = _as_scenario(scenario)
        if self._portal is not None and self._director is not None:
            self._portal.call(self._director.load, self._scenario)
            if self._pace is not None and self._plain is not None:
                self._plain.hub.settings.pace = self._pace

    @property
    def record(self) -> ClientRecord:
        """A copy of the record so far: every client message of every session, in order."""
        if self._portal is None or self._director is None:
            # lazy: as above
            from adk_realtime.sansio.sim.scenario_session import ClientRecord

            return ClientRecord()
        director = self._director

        def snapshot() -> ClientRecord:
            return replace(director.record, messages=list(director.record.messages))

        return self._portal.call(snapshot)

    @property
    def sessions(self) -> int:
        """How many sessions were opened (both protocols)."""
        return self._director.sessions if self._director is not None else 0

    def validate_record(self) -> None:
        """AssertionError naming the first client message the official types refuse."""
        # lazy: the official SDKs are needed only for this check
        from adk_realtime.testing_validate import client_message_problem

        for n, message in enumerate(self.record.messages):
            problem = client_message_problem(message.provider, message.raw)
            if problem is not None:
                raise AssertionError(
                    f"client message {n} (session {message.session}, {message.provider}, "
                    f"{message.type or '?'}): {problem}\n{message.raw[:500]}"
                )

    def write_record(self, path: str | Path) -> Path:
        """Write the record as JSON lines to ``path``; returns the path."""
        out = Path(path)
        out.write_text(self.record.json_lines(), "utf-8")
        return out

    def wait_for(self, kind: str, *, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Block until the record holds ``count`` client messages of type ``kind`` (OpenAI's
        ``type``, Gemini's top-level key); returns them parsed. TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                version = self._version
            found = self.record.of_type(kind)  # not under the lock: the server thread takes it
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{count} {kind!r} client message(s) not seen in {timeout} s")
            with self._changed:
                if self._version == version:
                    self._changed.wait(left)

    async def wait_for_async(
        self, kind: str, *, count: int = 1, timeout: float = 10.0
    ) -> list[Any]:
        """:meth:`wait_for` from async code (asyncio or trio): the wait runs in a worker thread,
        so the test's own loop (and the client in it) goes on."""
        # lazy: anyio is imported by start() already
        import anyio.to_thread

        return await anyio.to_thread.run_sync(
            lambda: self.wait_for(kind, count=count, timeout=timeout)
        )

    def _heard(self, message: Any) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no session is being served (TimeoutError after ``timeout`` seconds)."""
        if self._portal is None:
            return
        servers = [s for s in (self._plain, self._secure) if s is not None]

        async def idle() -> None:
            # lazy: anyio is imported by start() already
            import anyio

            with anyio.fail_after(timeout):
                for server in servers:
                    await server.wait_idle()

        self._portal.call(idle)


def _test_tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 from a fresh test CA, and a client
    context trusting that CA."""
    try:
        # lazy: only TLS (for google-genai) needs them
        import ssl

        import trustme
    except ImportError:
        msg = "serving Gemini over TLS needs trustme (pip install trustme), or use tls=False"
        raise RuntimeError(msg) from None
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture
def realtime_simulator() -> Iterator[RealtimeSimulator]:
    """The offline provider for one test: OpenAI Realtime and Gemini Live on loopback.

    Give it a scenario with :meth:`RealtimeSimulator.play`; read :attr:`RealtimeSimulator.record`.
    Nothing starts until the test uses a URL (or calls ``start()``).
    """
    simulator = RealtimeSimulator()
    try:
        yield simulator
    finally:
        simulator.close()
