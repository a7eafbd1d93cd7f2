"""The runner's audio path: a received chunk to the playback clock, the audio outputs and
the handlers, synchronously wherever the handlers are synchronous.

That lets the session's read path play a chunk itself while the runner waits for its next
event (:meth:`AudioDispatch._audio_now`, the event queue's consumer): no task wakes per
chunk, as in a bare client, and nothing else changes. The consumer is offered an event only
while the runner waits on an empty queue, i.e. exactly where the runner would handle it
next, so the order of everything the app sees holds. Whatever needs to wait (the agent
event sink pushing back, the first output of a turn with its metrics, an async handler)
is handed back as an awaitable that the runner awaits, in order, before its next event.
A handler's exception is raised in the runner's task, as if it had dispatched the chunk,
and the chunk is played in a copy of the runner task's context taken when it began to
wait (its context variables: log fields, a current span).
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from adk_realtime.agent_events import RealtimeEvent
from adk_realtime.sansio import events as ev
from adk_realtime.tools import maybe_await

if TYPE_CHECKING:  # types only: the runner imports this module (a cycle at run time)
    from adk_realtime.agent import RealtimeAgent  # (cycle: types only)
    from adk_realtime.handlers import AudioOutput, EventHandler  # (cycle: types only)
    from adk_realtime.observers import RunListeners  # (cycle: types only)
    from adk_realtime.playback import PlaybackTracker  # (cycle: types only)
    from adk_realtime.runner import AgentEventSink  # (cycle: types only)


class AudioDispatch:
    """Mixed into :class:`~adk_realtime.runner.RealtimeRunner` (whose state it uses)."""

    handler: EventHandler
    active_agent: RealtimeAgent | None
    playback: PlaybackTracker
    _silenced: collections.deque[str]
    _audio_outputs: list[AudioOutput]
    _turn_started: float | None
    _audio_since_response: bool
    _audio_produced: bool
    _listeners: RunListeners | None
    _sink: AgentEventSink | None
    _now: Callable[[], float]

    async def _first_output(self, now: float) -> None:
        raise NotImplementedError  # (the runner's)

    def _announce(self, event: ev.ServerEvent) -> Awaitable[Any] | None:
        """Show a server event to the observers and the agent event sink, first of all;
        what the sink asks to await (its buffer is full), if anything."""
        if self._listeners is not None:
            self._listeners.on_event(RealtimeEvent(event))
        if self._sink is not None:
            return self._sink(RealtimeEvent(event))
        return None

    def _audio(self, event: ev.AudioDelta, agent: RealtimeAgent | None) -> Awaitable[Any] | None:
        """Play one chunk; what is left to await, if anything (the sink and listeners have
        seen it already)."""
        if self._silenced and event.item_id in self._silenced:
            return None  # in flight when the user barged in: already flushed, never play it
        now = self._now()
        self.playback.on_audio(event.item_id, len(event.delta), now)
        self._audio_since_response = self._audio_produced = True
        if self._turn_started is not None:
            return self._play_after_first_output(event, agent, now)
        return self._play(event, agent)

    def _play(self, event: ev.AudioDelta, agent: RealtimeAgent | None) -> Awaitable[Any] | None:
        for output in self._audio_outputs:
            output.play(event.delta, event.item_id)
        played = self.handler.on_audio(event.delta, event.item_id)
        if agent is not None and agent.on_audio is not None:
            return self._play_to_agent(played, event, agent)
        return played  # type: ignore[no-any-return]  # None from a sync handler

    async def _play_after_first_output(
        self, event: ev.AudioDelta, agent: RealtimeAgent | None, now: float
    ) -> None:
        await self._first_output(now)
        rest = self._play(event, agent)
        if rest is not None:
            await maybe_await(rest)

    async def _play_to_agent(self, played: Any, event: ev.AudioDelta, agent: RealtimeAgent) -> None:
        if played is not None:
            await maybe_await(played)
        assert agent.on_audio is not None
        await maybe_await(agent.on_audio(event.delta, event.item_id))

    def _audio_now(self, event: ev.ServerEvent) -> bool | Awaitable[Any]:
        """The event queue's consumer while the runner waits (see the module docstring)."""
        if type(event) is not ev.AudioDelta:
            return False  # the runner dispatches it in its task
        agent = self.active_agent
        if (waiting := self._announce(event)) is not None:
            return self._audio_after(waiting, event, agent)
        rest = self._audio(event, agent)
        return True if rest is None else maybe_await(rest)

    async def _audio_after(
        self, waiting: Awaitable[Any], event: ev.AudioDelta, agent: RealtimeAgent | None
    ) -> None:
        await waiting
        rest = self._audio(event, agent)
        if rest is not None:
            await maybe_await(rest)
