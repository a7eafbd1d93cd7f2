"""The offline provider simulator: the server side of OpenAI Realtime and Gemini Live, sans-IO.

Theory of operation
-------------------
A :class:`SimulatorHub` is one simulated provider. A driver (``adk_realtime.drivers.simulator``,
or a test with a fake clock) asks it for a session per accepted connection and then moves
messages and time, nothing else:

    hub = SimulatorHub(pace=0)                       # pace 0: replies come out at once
    kind = hub.route(path)                           # "openai" | "gemini" | None (404)
    status = hub.authorize(kind, path, headers)      # None, or an HTTP status to refuse with
    session = hub.open_session(kind, path=path, headers=headers, now=clock())
    send(session.data_to_send())                     # session.created / nothing until setup
    session.receive_data(frame, now=clock());  send(session.data_to_send())
    at session.get_timer():  session.handle_timer(clock());  send(session.data_to_send())
    after each step: while (event := session.next_event()) is not None:
        SimSessionClosed(code, reason) -> close the socket with that code and reason

The hub owns what outlives one connection: the brain (the script that decides replies), the
settings (pace, chunk size, the session cap, the drop fault), a cache of rendered speech, the
bounded registry of Gemini resumption handles (a reconnect presenting a handle resumes the
conversation) and, opt-in, the input audio ledger (``ledger.py``). It holds no global state:
run as many hubs as you like.

How the simulated model talks and listens is in ``speech.py`` (a tone code that carries
text inside audio); the two wire protocols are in ``openai.py`` and ``gemini.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.core import (
    CallTool,
    CallTools,
    InputLedger,
    Reply,
    ResumptionRegistry,
    Say,
    SimSessionClosed,
    SimSettings,
    SimStats,
    SimulatorBrain,
    ToolSpec,
    Turn,
)
from adk_realtime.sansio.sim.gemini import GeminiSimSession
from adk_realtime.sansio.sim.openai import OpenAISimSession
from adk_realtime.sansio.sim.openai_calls import SimCalls
from adk_realtime.sansio.sim.speech import (
    EnergyVad,
    SpeechRecognizer,
    speech_duration,
    synthesize_speech,
)

__all__ = [
    "CallTool",
    "CallTools",
    "EnergyVad",
    "GeminiSimSession",
    "InputLedger",
    "OpenAISimSession",
    "Reply",
    "Say",
    "SimSession",
    "SimSessionClosed",
    "SimStats",
    "SimulatorBrain",
    "SimulatorHub",
    "SpeechRecognizer",
    "ToolSpec",
    "Turn",
    "speech_duration",
    "synthesize_speech",
]

SimSession = OpenAISimSession | GeminiSimSession
Kind = Literal["openai", "gemini"]
Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]

_GEMINI_PREFIX = "/ws/google.ai.generativelanguage."
_GEMINI_METHODS = (
    "GenerativeService.BidiGenerateContent",
    "GenerativeService.BidiGenerateContentConstrained",
)
_GEMINI_VERSIONS = ("v1", "v1alpha", "v1beta")
_VERTEX_PATH = "LlmBidiService/BidiGenerateContent"


def _headers(headers: Headers) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = {}
    for key, value in items:
        k = key.decode("latin-1") if isinstance(key, bytes) else key
        v = value.decode("latin-1") if isinstance(value, bytes) else value
        out[k.lower()] = v
    return out


class SimulatorHub:
    """A simulated provider serving OpenAI Realtime and Gemini Live sessions.

    ``brain`` decides what the model says (default: :class:`SimulatorBrain`'s script).
    ``pace`` scales output timing: 1.0 real time, 0 everything at once. ``chunk_ms`` is the audio
    per delta message. ``api_key``, when set, is the only key :meth:`authorize` accepts. ``seed``
    makes every id and handle reproducible.

    Session cap, ``session_max_seconds`` (seconds from open; None: no cap), as the real services
    end a session: OpenAI's ``session.created``/``session.updated`` carry ``session.expires_at``
    (unix seconds: ``wall_now`` at open plus the cap); at the cap OpenAI sends an ``error``
    (``session_expired``, "Your session hit the maximum duration of N minutes.") and closes
    1001 with that message; Gemini sends ``goAway`` with ``timeLeft`` ``go_away_time_left``
    before the cap and closes (1000) at it. ``go_away_after`` is the older spelling (give one of
    the two): the warning at ``go_away_after`` and the close ``go_away_time_left`` later, for
    both protocols (OpenAI: the error, then 1000), and no ``expires_at``.

    Abrupt drop, ``drop_after`` (seconds from open): the first ``drops`` sessions opened end
    like a network failure, the queued output sent and then no close frame (the client sees
    1006); what they had received and not committed is discarded.

    ``record_input`` keeps the input audio ledger (:class:`InputLedger`, see
    :meth:`input_ledger`): every input byte committed to a turn, in order, across sessions, and
    what each ended session discarded.
    """

    def __init__(
        self,
        *,
        brain: SimulatorBrain | None = None,
        pace: float = 1.0,
        chunk_ms: int = 100,
        session_max_seconds: float | None = None,
        go_away_after: float | None = None,
        go_away_time_left: float = 1.0,
        drop_after: float | None = None,
        drops: int = 1,
        record_input: bool = False,
        api_key: str | None = None,
        seed: int = 0,
        max_resumable: int = 4096,
        openai_session_extras: bool = False,
    ) -> None:
        if pace < 0 or chunk_ms <= 0:
            raise ValueError("pace must be >= 0 and chunk_ms > 0")
        _check_seconds("session_max_seconds", session_max_seconds, positive=True)
        _check_seconds("go_away_after", go_away_after)
        _check_seconds("go_away_time_left", go_away_time_left)
        _check_seconds("drop_after", drop_after)
        if session_max_seconds is not None and go_away_after is not None:
            msg = "give session_max_seconds (the cap) or its older spelling, not both"
            raise ConfigError("go_away_after", msg)
        if not isinstance(drops, int) or isinstance(drops, bool) or drops < 0:
            raise ConfigError("drops", f"a count of sessions >= 0, got {drops!r}")
        self.settings = SimSettings(
            brain=brain if brain is not None else SimulatorBrain(),
            pace=pace,
            chunk_ms=chunk_ms,
            session_max_seconds=session_max_seconds,
            go_away_after=go_away_after,
            go_away_time_left=go_away_time_left,
            drop_after=drop_after,
            openai_session_extras=openai_session_extras,
            ledger=InputLedger() if record_input else None,
        )
        self.drops = drops
        self.registry = ResumptionRegistry(max_resumable)
        self._api_key = api_key
        self._rng = random.Random(seed)
        self.sessions_opened = 0
        self.calls = SimCalls(random.Random(seed + 1))
        """OpenAI's SIP side: ring calls, see the call-control requests (``openai_calls.py``)."""

    def __repr__(self) -> str:
        return f"SimulatorHub(pace={self.settings.pace}, sessions_opened={self.sessions_opened})"

    # -- the input audio ledger (record_input=True) --
    @property
    def ledger(self) -> InputLedger:
        """The input audio ledger; :class:`ConfigError` if the hub does not record input."""
        if self.settings.ledger is None:
            msg = "this hub records no input audio: make it with SimulatorHub(record_input=True)"
            raise ConfigError("record_input", msg)
        return self.settings.ledger

    def input_ledger(self) -> bytes:
        """Every input audio byte committed to a turn, in commit order, across sessions."""
        return self.ledger.data()

    def input_ledger_count(self) -> int:
        """How many bytes :meth:`input_ledger` holds."""
        return self.ledger.size

    def input_ledger_sha256(self) -> str:
        """The hex SHA-256 of :meth:`input_ledger`."""
        return self.ledger.sha256()

    @property
    def discarded_input(self) -> list[bytes]:
        """What each ended session held uncommitted, one entry per session (the last 1024)."""
        return list(self.ledger.discarded)

    @staticmethod
    def route(path: str) -> Kind | None:
        """Which protocol a WebSocket request path speaks; None means "no such endpoint" (404)."""
        p = urlsplit(path).path.rstrip("/")
        if p == "/v1/realtime":
            return "openai"
        if p.startswith(_GEMINI_PREFIX):
            rest = p[len(_GEMINI_PREFIX) :]
            version, _, method = rest.partition(".")
            if version in _GEMINI_VERSIONS and method in _GEMINI_METHODS:
                return "gemini"
        if p.startswith("/ws/google.cloud.aiplatform.") and p.endswith(_VERTEX_PATH):
            return "gemini"
        return None

    def authorize(self, kind: Kind, path: str, headers: Headers) -> int | None:
        """None if the request may connect; else the HTTP status to refuse it with (401).

        Without ``api_key`` every request is accepted. OpenAI presents the key as
        ``Authorization: Bearer``; Gemini as ``x-goog-api-key``, ``?key=``, or an ephemeral
        token (``Authorization: Token``, ``?access_token=``) which is accepted as is.
        """
        if self._api_key is None:
            return None
        h = _headers(headers)
        query = parse_qs(urlsplit(path).query)
        auth = h.get("authorization", "")
        if kind == "openai":
            ok = auth == f"Bearer {self._api_key}"
        else:
            ok = (
                h.get("x-goog-api-key") == self._api_key
                or query.get("key", [""])[0] == self._api_key
                or auth.startswith("Token ")
                or bool(query.get("access_token"))
            )
        if not ok:
            return 401
        call_id = SimCalls.call_id_of(path) if kind == "openai" else None
        if call_id is not None and self.calls.attachable(call_id) is None:
            return 404  # no such call, or not accepted, or attached already
        return None

    def handle_http(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        on_end: Callable[[SimSession], None],
    ) -> tuple[int, bytes]:
        """A plain HTTP request (OpenAI's call-control REST): ``(status, JSON body)``.
        ``on_end(session)`` gets each session a hangup ended (flush it)."""
        if not self.calls.handles(target):
            return (
                404,
                b'{"error": {"type": "invalid_request_error", "message": "No such endpoint."}}',
            )
        if self._api_key is not None and _headers(headers).get("authorization") != (
            f"Bearer {self._api_key}"
        ):
            return 401, b'{"error": {"type": "invalid_request_error", "code": "invalid_api_key"}}'
        return self.calls.answer(method, target, body, on_end)

    def open_session(
        self,
        kind: Kind,
        *,
        path: str = "",
        headers: Headers = (),
        now: float,
        transport: Literal["websocket", "webrtc"] = "websocket",
        wall_now: float | None = None,
    ) -> SimSession:
        """Start a session for an accepted connection; then send its ``data_to_send()``.

        ``now`` is the session clock (monotonic seconds); ``wall_now`` the unix time at that
        moment, for OpenAI's ``expires_at`` (default: ``now`` read as unix time).

        OpenAI: the model comes from ``?model=`` (default ``gpt-realtime``); the beta dialect is
        used when the ``OpenAI-Beta: realtime=v1`` header is present, whatever the model, as on
        the real service (the official SDK's GA client talks GA to ``gpt-4o-realtime-preview*``).
        ``transport="webrtc"`` adds the output-audio-buffer events of WebRTC sessions.
        """
        if kind not in ("openai", "gemini"):
            raise ValueError(f"unknown simulator kind {kind!r}: use 'openai' or 'gemini'")
        self.sessions_opened += 1
        seed = self._rng.getrandbits(64)
        # The first ``drops`` sessions opened (either protocol) get the drop fault.
        drop = self.settings.drop_after if self.sessions_opened <= self.drops else None
        if kind == "openai":
            query = parse_qs(urlsplit(path).query)
            model = query.get("model", ["gpt-realtime"])[0]
            beta = "realtime=v1" in _headers(headers).get("openai-beta", "")
            webrtc = transport == "webrtc"
            call_id = SimCalls.call_id_of(path)
            call = self.calls.attachable(call_id) if call_id is not None else None
            if call_id is not None and call is None:
                raise ValueError("no accepted call to attach to: authorize() refuses these")
            if call is not None:
                model = call.model
            session = OpenAISimSession(
                self.settings,
                now,
                seed,
                model=model,
                beta=beta,
                webrtc=webrtc,
                wall_now=wall_now,
                drop_after=drop,
                cfg=call.cfg if call is not None else None,
            )
            if call is not None:
                call.session = session
            return session
        return GeminiSimSession(
            self.settings, self.registry, now, seed, path=path, wall_now=wall_now, drop_after=drop
        )


def _check_seconds(name: str, value: float | None, *, positive: bool = False) -> None:
    if value is None:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if not ok or value < 0 or (positive and value == 0) or value == float("inf"):
        want = "> 0" if positive else ">= 0"
        raise ConfigError(name, f"must be a number of seconds {want}, got {value!r}")
