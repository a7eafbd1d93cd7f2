"""A scenario on the wire: a session wrapper that times, rewrites and breaks what a simulated
session sends, as its :class:`~adk_realtime.sansio.sim.scenario.Scenario` says, and records
every client message it receives.

Theory of operation
-------------------
A :class:`ScenarioDirector` owns one scenario for a hub: the :class:`ScenarioBrain` the hub's
sessions reply with, the :class:`ClientRecord`, and :meth:`ScenarioDirector.attach`, which
wraps each session the hub opens in a :class:`ScenarioSession`. The wrapper speaks the same
driving contract as the session (``receive_data``/``data_to_send``/``next_event``/
``get_timer``/``handle_timer``/``connection_lost``). After every call into the session it
takes the session's output and files each message in a *timed outbox*: a message is due at
``now`` plus the latency in force (the scenario's ``latency_ms`` plus up to ``jitter_ms``, a
``latency`` fault, a turn's ``first_audio_ms``), never before the message ahead of it. A
message is handed out once due (``get_timer`` includes the next due time), so the sans-IO side
decides every delay and the driver only sleeps.

The brain tells which turn a response belongs to (:attr:`ScenarioBrain.started`); the wrapper
follows the turn through its messages to find its cue points (``response_start``,
``before_first_audio``, ``mid_response`` after ``after_ms`` of audio, ``during_tool_call``),
where it files the turn's fault: a :class:`SimSessionClosed` (``close``, ``drop``, the cap), a
:class:`SimStall` (the driver stops reading and writing), a frame that is not JSON, a
``goAway``. Events go through the same outbox, so a close follows every message filed before it.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adk_realtime.sansio.sim.core import SimSessionClosed, SimSettings, format_duration
from adk_realtime.sansio.sim.gemini import GeminiSimSession
from adk_realtime.sansio.sim.openai import OpenAISimSession
from adk_realtime.sansio.sim.scenario import (
    Scenario,
    ScenarioBrain,
    StartedTurn,
)

__all__ = [
    "ClientRecord",
    "RecordedMessage",
    "ScenarioDirector",
    "ScenarioSession",
    "SimStall",
]

SimSession = OpenAISimSession | GeminiSimSession


@dataclass(frozen=True, slots=True)
class SimStall:
    """The half-dead fault: stop reading and writing on this connection, keep it open (no
    close frame, no FIN) until the peer or the server gives up."""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One client message as a session received it: ``session`` (1 for the hub's first),
    ``provider`` ("openai", "openai-beta" or "gemini"), ``at`` (session time), ``raw``."""

    session: int
    provider: str
    at: float
    raw: str

    def json(self) -> Any:
        """The message parsed (``None`` if it is not JSON)."""
        try:
            return json.loads(self.raw)
        except ValueError:
            return None

    @property
    def type(self) -> str:
        """OpenAI: the event ``type``; Gemini: the message's one top-level key, camelCase
        (``toolResponse``); "" if neither."""
        obj = self.json()
        if not isinstance(obj, dict):
            return ""
        if self.provider.startswith("openai"):
            return str(obj.get("type", ""))
        key = next(iter(obj), "") if len(obj) == 1 else ""
        head, *rest = key.split("_")  # the SDK sends some keys in snake_case: tool_response
        return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(slots=True)
class ClientRecord:
    """Every client message every session received, in order (bounded: the first ``limit``)."""

    messages: list[RecordedMessage] = field(default_factory=list)
    limit: int = 200_000
    dropped: int = 0
    listeners: list[Callable[[RecordedMessage], None]] = field(default_factory=list, repr=False)

    def add(self, message: RecordedMessage) -> None:
        """Keep ``message`` and tell every listener (a test waiting for it)."""
        if len(self.messages) >= self.limit:
            self.dropped += 1
            return
        self.messages.append(message)
        for listener in self.listeners:
            listener(message)

    def of_type(self, kind: str, session: int | None = None) -> list[Any]:
        """The parsed messages of type ``kind`` (see :attr:`RecordedMessage.type`)."""
        return [
            m.json()
            for m in self.messages
            if m.type == kind and (session is None or m.session == session)
        ]

    def json_lines(self) -> str:
        """The record as JSON lines: ``{"session", "provider", "at", "message"}`` each."""
        lines = []
        for m in self.messages:
            parsed = m.json()
            entry = {"session": m.session, "provider": m.provider, "at": round(m.at, 6)}
            entry["message"] = parsed if parsed is not None else m.raw
            lines.append(json.dumps(entry, ensure_ascii=False) + "\n")
        return "".join(lines)


class ScenarioDirector:
    """One scenario for one hub: its brain, its record, and the wrapper of every session.

    Make the hub with :meth:`hub_settings` (the brain, and the scenario's pace and chunk size)
    and give :meth:`attach` every session the hub opens; drive the wrappers instead.
    """

    def __init__(self, scenario: Scenario | None = None) -> None:
        self.brain = ScenarioBrain(scenario if scenario is not None else Scenario())
        self.record = ClientRecord()
        self.sessions = 0
        self.faulted: set[int] = set()  # turns whose fault has fired
        self._settings: SimSettings | None = None

    @property
    def chunk_ms(self) -> int:
        """Audio per output chunk (the bound hub's), to measure a turn's audio by."""
        return self._settings.chunk_ms if self._settings is not None else 100

    @property
    def scenario(self) -> Scenario:
        return self.brain.scenario

    def load(self, scenario: Scenario) -> None:
        """Play ``scenario`` from its first turn in sessions that respond from now on."""
        self.brain.load(scenario)
        self.faulted.clear()
        self._apply_pacing()

    def bind(self, settings: SimSettings) -> None:
        """Use the hub's ``settings``: its brain becomes the scenario's; pacing follows the
        scenario when it sets one."""
        self._settings = settings
        settings.brain = self.brain
        self._apply_pacing()

    def _apply_pacing(self) -> None:
        s = self._settings
        if s is None:
            return
        if self.scenario.pace is not None:
            s.pace = self.scenario.pace
        if self.scenario.chunk_ms is not None:
            s.chunk_ms = self.scenario.chunk_ms

    def attach(self, session: SimSession, now: float) -> ScenarioSession:
        """Wrap a session the hub just opened; drive the wrapper from now on."""
        self.sessions += 1
        return ScenarioSession(session, self, self.sessions, now)


@dataclass(slots=True)
class _Active:
    """A turn being played on this session and how far it has got."""

    started: StartedTurn
    began: bool = False
    audio_ms: float = 0.0
    delay: float = 0.0
    fired: set[str] = field(default_factory=set)
    suppress: bool = False


_Item = str | SimSessionClosed | SimStall


class ScenarioSession:
    """A simulated session playing its director's scenario. Drive it as the session itself:

    1. after opening and after every call below, send every string of :meth:`data_to_send`,
       then read :meth:`next_event` until None;
    2. feed each received frame to :meth:`receive_data` with the current time;
    3. at :meth:`get_timer` call :meth:`handle_timer`;
    4. :class:`SimSessionClosed`: close (``drop``: end without a close frame);
       :class:`SimStall`: stop reading and writing, keep the socket open.
    """

    def __init__(
        self, inner: SimSession, director: ScenarioDirector, number: int, now: float
    ) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.number = number
        self._director = director
        scenario = director.scenario
        self._rng = random.Random(scenario.seed * 7919 + number)
        self._latency = scenario.latency_ms / 1000
        self._jitter = scenario.jitter_ms / 1000
        self._held: deque[tuple[float, _Item]] = deque()
        self._ready: list[str] = []
        self._events: deque[SimSessionClosed | SimStall] = deque()
        self._last_due = now
        self._turn: _Active | None = None
        self._later: list[tuple[float, str]] = []  # (when, action): speech end, goAway close
        self._done = False  # a terminal item is filed: nothing more goes out
        beta = isinstance(inner, OpenAISimSession) and inner.beta
        self.provider = "gemini" if self.kind == "gemini" else ("openai-beta" if beta else "openai")
        self._collect(now)
        self._release(now)

    # -- the driving contract ------------------------------------------------------------------
    def receive_data(self, data: str | bytes, now: float) -> None:
        """Record one client message and hand it to the session; then send and re-arm."""
        if self._done:
            return
        raw = data if isinstance(data, str) else data.decode("utf-8", "replace")
        self._director.record.add(RecordedMessage(self.number, self.provider, now, raw))
        self.inner.receive_data(data, now)
        self._collect(now)
        self._release(now)

    def data_to_send(self) -> list[str]:
        """The messages due now, oldest first."""
        out, self._ready = self._ready, []
        return out

    def next_event(self) -> SimSessionClosed | SimStall | None:
        """:class:`SimSessionClosed` or :class:`SimStall` once due, else None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is next due (the session's pacing, held output, cues)."""
        times = [when for when, _ in self._later]
        if self._held:
            times.append(self._held[0][0])
        if not self._done:
            inner = self.inner.get_timer()
            if inner is not None:
                times.append(inner)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``; then send and re-arm."""
        due = [a for a in self._later if a[0] <= now]
        self._later = [a for a in self._later if a[0] > now]
        for _, action in due:
            self._run_later(action, now)
        if not self._done:
            inner = self.inner.get_timer()
            if inner is not None and inner <= now:
                self.inner.handle_timer(now)
                self._collect(now)
        self._release(now)

    def connection_lost(self) -> None:
        """The socket is gone (idempotent)."""
        self._done = True
        self._held.clear()
        self._later.clear()
        self.inner.connection_lost()
        while self.inner.next_event() is not None:
            pass

    # -- filing --------------------------------------------------------------------------------
    def _file(self, item: _Item, now: float, extra: float = 0.0) -> None:
        jitter = self._rng.uniform(0.0, self._jitter) if self._jitter else 0.0
        due = max(self._last_due, now + self._latency + jitter + extra)
        self._last_due = due
        self._held.append((due, item))

    def _release(self, now: float) -> None:
        while self._held and self._held[0][0] <= now + 1e-9:
            _, item = self._held.popleft()
            if isinstance(item, str):
                self._ready.append(item)
            else:
                self._events.append(item)

    def _collect(self, now: float) -> None:
        """File the session's new output, following the scenario's turn through it."""
        pending_interrupt = False
        while True:
            messages = self.inner.data_to_send()
            new_turns = list(self._director.brain.started)
            self._director.brain.started.clear()
            for message in messages:
                if self._done:
                    break
                if new_turns and _opens_response(self.kind, message):
                    self._turn = _Active(new_turns.pop(0))
                pending_interrupt |= self._follow(message, now)
            if new_turns and not self._done:
                self._turn = _Active(new_turns[-1])
            while (event := self.inner.next_event()) is not None:
                if not self._done:
                    self._file(event, now)
                    self._done = True
            if not pending_interrupt or self._done:
                return
            pending_interrupt = False
            self.inner.barge_in(now)
            turn = self._turn
            if turn is not None and turn.started.turn.interrupt is not None:
                when = now + turn.started.turn.interrupt.speech_ms / 1000
                self._later.append((when, "speech_end"))

    def _follow(self, message: str, now: float) -> bool:
        """File ``message`` with the current turn's effects; True: interrupt after it."""
        turn = self._turn
        if turn is None:
            self._file(message, now)
            return False
        obj = _parse(message)
        spec = turn.started.turn
        if not turn.began:
            turn.began = True
            turn.suppress = spec.error is not None
            self._cue(turn, "response_start", now)
        audio = _is_audio(self.kind, obj)
        if audio and turn.audio_ms == 0.0:
            self._cue(turn, "before_first_audio", now)
            turn.delay = spec.first_audio_ms / 1000
        if self._done:
            return False
        ends = _ends_response(self.kind, obj)
        if turn.suppress:
            self._suppressed(turn, obj, message, ends, now)
            if ends:
                self._turn = None
            return False
        speaks = turn.started.answering or spec.call_tool is None  # the part with the text
        if ends and spec.usage and speaks and _reports_usage(self.kind, obj):
            message = _with_usage(self.kind, obj, spec.usage)
        self._file(message, now, turn.delay)
        interrupt = False
        if audio:
            turn.audio_ms += self._director.chunk_ms
            fault = spec.fault
            if fault is not None and fault.at == "mid_response" and turn.audio_ms >= fault.after_ms:
                self._cue(turn, "mid_response", now)
            stop = spec.interrupt
            if (
                stop is not None
                and "interrupt" not in turn.fired
                and turn.audio_ms >= stop.after_ms
            ):
                turn.fired.add("interrupt")
                interrupt = True
        calling = spec.call_tool is not None and not turn.started.answering
        if calling and (_is_tool_call(self.kind, obj) or (self.kind == "openai" and ends)):
            self._cue(turn, "during_tool_call", now)
        if ends:
            self._turn = None
        return interrupt

    def _suppressed(self, turn: _Active, obj: Any, message: str, ends: bool, now: float) -> None:
        """An error turn: the response is replaced by the provider's error."""
        spec = turn.started.turn
        kind = spec.error or "server_error"
        if self.kind == "gemini":
            code, reason = _GEMINI_ERRORS[kind]
            self._terminate(SimSessionClosed(code, spec.error_message or reason), now)
            return
        is_created = isinstance(obj, dict) and obj.get("type") == "response.created"
        if kind != "invalid_request" and is_created:
            self._file(message, now)
        if not ends:
            return
        err_type, default_code, default_msg = _OPENAI_ERRORS[kind]
        error = {
            "type": err_type,
            "code": spec.error_code or default_code,
            "message": spec.error_message or default_msg,
            "param": None,
            "event_id": None,
        }
        self._file(_dumps({"type": "error", "event_id": self._event_id(), "error": error}), now)
        if kind != "invalid_request" and isinstance(obj, dict):
            response = dict(obj.get("response") or {})
            response.update(status="failed", output=[])
            detail = {"type": error["type"], "code": error["code"]}
            response["status_details"] = {"type": "failed", "error": detail}
            self._file(_dumps({**obj, "response": response}), now)

    def _cue(self, turn: _Active, point: str, now: float) -> None:
        """File the turn's fault if it is due at ``point`` (once per turn, across sessions)."""
        fault = turn.started.turn.fault
        faulted = self._director.faulted
        if fault is None or fault.at != point or turn.started.index in faulted:
            return
        faulted.add(turn.started.index)
        kind = fault.kind
        if kind == "drop":
            reason = fault.reason or "connection dropped (simulated network failure)"
            self._terminate(SimSessionClosed(1006, reason, drop=True), now)
        elif kind == "close":
            self._terminate(SimSessionClosed(fault.code, fault.reason), now)
        elif kind == "stall":
            self._file(SimStall(), now, turn.delay)
            self._done = True
            self.inner.end(1006, "stalled")  # the session is over for the simulator
            while self.inner.next_event() is not None:
                pass
        elif kind == "malformed":
            self._file(_MALFORMED[self.kind], now, turn.delay)
        elif kind == "latency":
            self._latency, self._jitter = fault.latency_ms / 1000, fault.jitter_ms / 1000
        elif self.kind == "gemini":  # session_end, go_away: warn, close 1000 time_left later
            self._file(_dumps({"goAway": {"timeLeft": format_duration(fault.time_left)}}), now)
            self._later.append((now + fault.time_left, "close_1000"))
        else:  # OpenAI session_end (and go_away, which it has not): the cap's error and 1001
            msg = "Your session hit the maximum duration of 60 minutes."
            error: dict[str, Any] = {"type": "invalid_request_error", "code": "session_expired"}
            error.update(message=msg, param=None, event_id=None)
            self._file(_dumps({"type": "error", "event_id": self._event_id(), "error": error}), now)
            self._terminate(SimSessionClosed(1001, msg), now)

    def _terminate(self, closed: SimSessionClosed, now: float) -> None:
        self.inner.end(closed.code, closed.reason)  # ends the simulated session (the ledger too)
        while self.inner.next_event() is not None:
            pass
        self._file(closed, now)
        self._done = True

    def _run_later(self, action: str, now: float) -> None:
        if self._done:
            return
        if action == "speech_end" and isinstance(self.inner, OpenAISimSession):
            self.inner.speech_end(now)
            self._collect(now)
        elif action == "close_1000":
            self._terminate(SimSessionClosed(1000, "session expired"), now)

    def _event_id(self) -> str:
        return "event_" + "".join(
            self._rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(20)
        )


# --- message classification -------------------------------------------------------------------

_OPENAI_ERRORS = {
    "rate_limit": (
        "tokens",
        "rate_limit_exceeded",
        "Rate limit reached for gpt-realtime on tokens per min (TPM): Limit 40000, Used 40000, "
        "Requested 1200. Please try again in 1.8s.",
    ),
    "server_error": (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    "invalid_request": ("invalid_request_error", "invalid_value", "Invalid value in the request."),
}
_GEMINI_ERRORS = {
    "rate_limit": (1011, "Resource has been exhausted (e.g. check quota)."),
    "server_error": (1011, "Internal error encountered."),
    "invalid_request": (1007, "Request contains an invalid argument."),
}
_MALFORMED = {
    "openai": '{"type": "response.output_audio.delta", "delta": "AAAA',
    "gemini": '{"serverContent": {"modelTurn": {"parts": [{"inlineData": ',
}
_OPENAI_AUDIO = ("response.output_audio.delta", "response.audio.delta")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _parse(message: str) -> Any:
    try:
        return json.loads(message)
    except ValueError:
        return None


def _opens_response(kind: str, message: str) -> bool:
    if kind == "openai":
        return '"response.created"' in message
    return '"serverContent"' in message or '"toolCall"' in message


def _is_audio(kind: str, obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if kind == "openai":
        return obj.get("type") in _OPENAI_AUDIO
    turn = (obj.get("serverContent") or {}).get("modelTurn") or {}
    return any("inlineData" in p for p in turn.get("parts") or () if isinstance(p, dict))


def _is_tool_call(kind: str, obj: Any) -> bool:
    return kind == "gemini" and isinstance(obj, dict) and "toolCall" in obj


def _ends_response(kind: str, obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if kind == "openai":
        return obj.get("type") == "response.done"
    content = obj.get("serverContent") or {}
    return bool(content.get("turnComplete") or content.get("interrupted")) or "toolCall" in obj


def _reports_usage(kind: str, obj: Any) -> bool:
    if kind == "openai":
        return isinstance(obj.get("response"), dict)
    return "usageMetadata" in obj


def _with_usage(kind: str, obj: Any, usage: Any) -> str:
    """``obj`` with its usage numbers replaced by the turn's ``usage``."""
    tokens_in = usage.get("input_tokens")
    tokens_out = usage.get("output_tokens")
    if kind == "openai":
        report = dict(obj["response"].get("usage") or {})
        report["input_tokens"] = (
            tokens_in if tokens_in is not None else report.get("input_tokens", 0)
        )
        report["output_tokens"] = (
            tokens_out if tokens_out is not None else report.get("output_tokens", 0)
        )
        report["total_tokens"] = report["input_tokens"] + report["output_tokens"]
        return _dumps({**obj, "response": {**obj["response"], "usage": report}})
    meta = dict(obj.get("usageMetadata") or {})
    meta["promptTokenCount"] = (
        tokens_in if tokens_in is not None else meta.get("promptTokenCount", 0)
    )
    meta["responseTokenCount"] = (
        tokens_out if tokens_out is not None else meta.get("responseTokenCount", 0)
    )
    meta["totalTokenCount"] = meta["promptTokenCount"] + meta["responseTokenCount"]
    meta.pop("promptTokensDetails", None)
    meta.pop("responseTokensDetails", None)
    return _dumps({**obj, "usageMetadata": meta})
