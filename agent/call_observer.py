"""``CallObserver``: what a phone call tells whoever counts (metrics, traces, logs).

The call bridge and the phone server call an observer at a few moments of a call; the
observer turns them into figures. Prometheus (:mod:`adk_realtime.metrics`) is one
observer; an OpenTelemetry one, or a test's recorder, is another. Nothing a method
receives holds a secret; :class:`~adk_realtime.call_bridge.CallInfo` holds the caller's
numbers, so an observer must never put ``info.caller``/``info.called`` in a label or an
attribute (``carrier``, ``worker`` and the call id are fine).

Every method is synchronous and must be quick and never raise: it runs on the call's
event loop between two audio frames. :class:`NullObserver` does nothing (subclass it and
override what you need); :class:`ObserverFanOut` passes each call to several.

``CallWatch`` is the bridge's side: it reads the runner's agent events as they pass and
calls the observer (first audio after each turn, tool latency, provider errors).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, Protocol

import anyio

from adk_realtime.agent_events import (
    AgentEvent,
    RealtimeEvent,
    ToolCallCompleted,
    ToolCallStarted,
    ToolCallTimedOut,
)
from adk_realtime.sansio import events as ev

if TYPE_CHECKING:  # types only: call_bridge imports this module (a cycle)
    from adk_realtime.call_bridge import CallInfo

__all__ = [
    "CallObserver",
    "CallOutcome",
    "CallWatch",
    "NullObserver",
    "ObserverFanOut",
    "RefusalReason",
    "error_kind",
]

log = logging.getLogger("adk_realtime.phone")

CallOutcome = str
"""How a call ended: ``CallSummary.ended_by`` (``carrier_stop``, ``carrier_closed``,
``agent_ended``, ``model_error``), ``not_started`` (no carrier ``start``, a stream that
could not be bridged), ``ended_by_drain`` (still up at the drain deadline), or for an
OpenAI SIP call ``ended``/``failed``; a direct SIP call (``carrier="sip"``) may also end
``no_codec`` (answered 488) or ``cancelled`` (CANCEL before our answer)."""

RefusalReason = Literal["draining", "full"]

_KIND = re.compile(r"[a-z][a-z0-9_.]{0,47}")


def error_kind(code: object, default: str = "provider_error") -> str:
    """A label-safe kind for a provider's error code: a short lower-case identifier as it
    came, else ``default`` (a code is the provider's text: never let odd text into a label)."""
    if isinstance(code, str) and _KIND.fullmatch(code):
        return code
    return default


class CallObserver(Protocol):
    """The moments of a call an observer hears about (see the module docstring)."""

    def call_started(self, info: CallInfo) -> None:
        """The carrier's stream started (or an OpenAI SIP call was accepted)."""

    def call_refused(self, carrier: str, reason: RefusalReason) -> None:
        """A new call was refused by load: the server drains, or is at ``max_calls``."""

    def draining(self) -> None:
        """The server stopped taking new calls (it is shutting down)."""

    def session_opened(self, info: CallInfo) -> None:
        """The call's provider session is connected."""

    def session_closed(self, info: CallInfo) -> None:
        """The call's provider session ended (only after ``session_opened``)."""

    def first_audio(self, info: CallInfo, seconds: float) -> None:
        """The model's first audio of a turn, ``seconds`` after the caller stopped
        speaking (or after the session opened, for a greeting)."""

    def tool_done(self, info: CallInfo, name: str, seconds: float, outcome: str) -> None:
        """A tool call ended: ``outcome`` is ``ok``, ``error`` or ``timeout``."""

    def error(self, info: CallInfo | None, kind: str) -> None:
        """Something failed: ``kind`` is a short identifier (``model_error``,
        ``carrier_error``, ``bad_message``, a provider's error code...)."""

    def rollover(self, info: CallInfo, kind: Literal["rollover", "resumption"], count: int) -> None:
        """The provider session was replaced ``count`` times (rolled over, or resumed by
        handle); told once, when the call ends."""

    def audio_dropped(self, info: CallInfo, frames: int, nbytes: int) -> None:
        """Model audio was dropped unsent because too much waited (20 ms μ-law frames)."""

    def call_ended(self, info: CallInfo | None, carrier: str, outcome: CallOutcome) -> None:
        """The call is over (``info`` is None when it never started)."""


class NullObserver:
    """An observer that does nothing: subclass it and override what you count."""

    def call_started(self, info: CallInfo) -> None:
        pass

    def call_refused(self, carrier: str, reason: RefusalReason) -> None:
        pass

    def draining(self) -> None:
        pass

    def session_opened(self, info: CallInfo) -> None:
        pass

    def session_closed(self, info: CallInfo) -> None:
        pass

    def first_audio(self, info: CallInfo, seconds: float) -> None:
        pass

    def tool_done(self, info: CallInfo, name: str, seconds: float, outcome: str) -> None:
        pass

    def error(self, info: CallInfo | None, kind: str) -> None:
        pass

    def rollover(self, info: CallInfo, kind: Literal["rollover", "resumption"], count: int) -> None:
        pass

    def audio_dropped(self, info: CallInfo, frames: int, nbytes: int) -> None:
        pass

    def call_ended(self, info: CallInfo | None, carrier: str, outcome: CallOutcome) -> None:
        pass


class ObserverFanOut(NullObserver):
    """Passes every moment to each observer in turn; one that raises is logged and the
    others still hear it (an observer must never break a call)."""

    def __init__(self, observers: Iterable[CallObserver]) -> None:
        self.observers = tuple(observers)

    def _each(self, method: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, method)(*args)
            except Exception:  # a broken observer must not end the call
                log.exception("call observer %s.%s failed", type(observer).__name__, method)

    def call_started(self, info: CallInfo) -> None:
        self._each("call_started", info)

    def call_refused(self, carrier: str, reason: RefusalReason) -> None:
        self._each("call_refused", carrier, reason)

    def draining(self) -> None:
        self._each("draining")

    def session_opened(self, info: CallInfo) -> None:
        self._each("session_opened", info)

    def session_closed(self, info: CallInfo) -> None:
        self._each("session_closed", info)

    def first_audio(self, info: CallInfo, seconds: float) -> None:
        self._each("first_audio", info, seconds)

    def tool_done(self, info: CallInfo, name: str, seconds: float, outcome: str) -> None:
        self._each("tool_done", info, name, seconds, outcome)

    def error(self, info: CallInfo | None, kind: str) -> None:
        self._each("error", info, kind)

    def rollover(self, info: CallInfo, kind: Literal["rollover", "resumption"], count: int) -> None:
        self._each("rollover", info, kind, count)

    def audio_dropped(self, info: CallInfo, frames: int, nbytes: int) -> None:
        self._each("audio_dropped", info, frames, nbytes)

    def call_ended(self, info: CallInfo | None, carrier: str, outcome: CallOutcome) -> None:
        self._each("call_ended", info, carrier, outcome)


class CallWatch:
    """The bridge's side of one call: reads the runner's agent events and tells
    ``observer`` (time to first audio per turn, tool latency, provider errors)."""

    def __init__(self, observer: CallObserver, info: CallInfo) -> None:
        self.observer = observer
        self.info = info
        self._turn_start: float | None = None  # waiting for the first audio since then
        self._tools: dict[str, float] = {}  # call id -> when it started
        self.session_open = False

    def opened(self) -> None:
        """The provider session connected: a greeting's first audio counts from here."""
        self.session_open = True
        self._turn_start = anyio.current_time()
        self.observer.session_opened(self.info)

    def closed(self) -> None:
        if self.session_open:
            self.session_open = False
            self.observer.session_closed(self.info)

    def see(self, event: AgentEvent) -> None:
        """One agent event as it passes the bridge's sink."""
        now = anyio.current_time()
        if isinstance(event, RealtimeEvent):
            inner = event.event
            if isinstance(inner, ev.SpeechStopped):
                self._turn_start = now
            elif isinstance(inner, ev.AudioDelta) and self._turn_start is not None:
                self.observer.first_audio(self.info, now - self._turn_start)
                self._turn_start = None
            elif isinstance(inner, ev.Error) and not inner.benign:
                self.observer.error(self.info, error_kind(inner.code))
        elif isinstance(event, ToolCallStarted):
            self._tools[event.call_id] = now
        elif isinstance(event, ToolCallCompleted | ToolCallTimedOut):
            started = self._tools.pop(event.call_id, None)
            if started is not None:
                if isinstance(event, ToolCallTimedOut):
                    outcome = "timeout"
                else:
                    outcome = "error" if event.error else "ok"
                self.observer.tool_done(self.info, event.name, now - started, outcome)
