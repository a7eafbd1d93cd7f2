"""Run observers: small, generic listeners a runner tells about its run.

``RealtimeRunner(..., observers=[...])``. When a run starts the runner calls
``observer.run_started(runner)``, which returns a :class:`RunListener` for that run
(so one observer may watch many runs at once); the listener then gets every agent
event (provider events wrapped in ``RealtimeEvent``, on the pump, in order) and,
at the end, ``run_ended``. Listeners are called on the event pump: return at once.
An observer that raises is logged and never stops the run.

:class:`adk_realtime.otel.OpenTelemetryObserver` is one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from adk_realtime.agent_events import AgentEvent

if TYPE_CHECKING:  # runner.py imports this module: a cycle at run time
    from adk_realtime.runner import RealtimeRunner

log = logging.getLogger("adk_realtime.runner")


class RunListener(Protocol):
    """Hears one run."""

    def on_event(self, event: AgentEvent) -> None:
        """An agent event (see :mod:`adk_realtime.agent_events`)."""

    def run_ended(self, reason: str, error: BaseException | None) -> None:
        """The run ended (``reason`` as ``EventHandler.on_disconnect`` gets it)."""


class RunObserver(Protocol):
    """Makes a :class:`RunListener` for each run of a runner."""

    def run_started(self, runner: RealtimeRunner) -> RunListener:
        """A run starts (before the model is connected)."""
        ...


class RunListeners:
    """The listeners of one run; a listener that raises is logged and skipped."""

    def __init__(self, observers: list[RunObserver], runner: RealtimeRunner) -> None:
        self.listeners: list[RunListener] = []
        for observer in observers:
            try:
                self.listeners.append(observer.run_started(runner))
            except Exception:
                log.exception("run observer %r failed to start", observer)

    def on_event(self, event: AgentEvent) -> None:
        for listener in self.listeners:
            try:
                listener.on_event(event)
            except Exception:
                log.exception("run listener %r failed", listener)

    def run_ended(self, reason: str, error: BaseException | None) -> None:
        for listener in self.listeners:
            try:
                listener.run_ended(reason, error)
            except Exception:
                log.exception("run listener %r failed", listener)


__all__ = ["RunListener", "RunListeners", "RunObserver"]
