"""LiveKit integration (the ``livekit`` extra): a model in a room, hearing and speaking.

* ``join_room(url, token, runner)`` connects, publishes the agent's voice and bridges the
  first caller; the voice is a :class:`RoomSpeaker` the runner plays into next to your
  event handler (``runner.add_audio_output``), so your handler is never wrapped.
* ``bridge_input(track, runner)`` brings a track's audio to the model.
* :class:`LiveKitEventHandler` is the one-handler form of the same speaker, for
  ``RealtimeRunner(event_handler=LiveKitEventHandler(source, inner))``.

See :mod:`adk_realtime.drivers.livekit` for how audio rates and interruptions are handled,
and why the room's voice is an audio output rather than a wrapping handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livekit import rtc

from adk_realtime.drivers import livekit as _driver
from adk_realtime.drivers.livekit import (
    BridgeHandle,
    RoomAgent,
    RoomRunner,
    RoomSpeaker,
    bridge_input,
    make_token,
)
from adk_realtime.runner import EventHandler, RealtimeRunner

if TYPE_CHECKING:
    # The driver reaches the runner only through RoomRunner: mypy proves here that the
    # runner is one (its input rate, send_audio and the audio output list).
    _RUNNER_IS_A_ROOM_RUNNER: type[RoomRunner] = RealtimeRunner


class LiveKitEventHandler(EventHandler):
    """An :class:`EventHandler` that plays the model's voice into a LiveKit ``AudioSource``
    and passes every callback on to ``inner`` (whose result, maybe awaitable, the runner
    awaits); a callback ``inner`` lacks is skipped.

    For code that gives the runner one handler:
    ``RealtimeRunner(event_handler=LiveKitEventHandler(source, inner))``. The voice itself
    is a :class:`RoomSpeaker` (``speaker``); only the three moments a room needs (audio,
    end of a response, barge-in) are spelled out here. The other callbacks are generated
    from :class:`EventHandler` below, so one added there is passed on without being copied.
    Without a single handler, ``runner.add_audio_output(RoomSpeaker(source))`` plays the same
    voice and leaves your handler unwrapped (that is what :func:`join_room` does).
    """

    def __init__(
        self,
        source: rtc.AudioSource,
        inner: Any | None = None,
        *,
        max_queued_ms: int = 120_000,
        prebuffer_ms: int = 150,
    ) -> None:
        self.speaker = RoomSpeaker(source, max_queued_ms=max_queued_ms, prebuffer_ms=prebuffer_ms)
        self.inner = inner

    @property
    def source(self) -> rtc.AudioSource:
        return self.speaker.source

    @property
    def frames_captured(self) -> int:
        return self.speaker.frames_captured

    @property
    def dropped_frames(self) -> int:
        return self.speaker.dropped_frames

    def on_audio(self, audio: bytes, item_id: str) -> Any:
        self.speaker.play(audio, item_id)
        return self._pass_on("on_audio", audio, item_id)

    def on_response_done(self, event: Any) -> Any:
        self.speaker.end_of_response()
        return self._pass_on("on_response_done", event)

    def on_interrupted(self, event: Any) -> Any:
        self.speaker.interrupt()
        return self._pass_on("on_interrupted", event)

    async def flush(self) -> None:
        """Play out the end of the current answer (see :meth:`RoomSpeaker.flush`)."""
        await self.speaker.flush()

    async def aclose(self) -> None:
        await self.speaker.aclose()

    def _pass_on(self, name: str, *args: Any) -> Any:
        method = getattr(self.inner, name, None) if self.inner is not None else None
        return method(*args) if method is not None else None


def _passing_on(name: str) -> Callable[..., Any]:
    def callback(self: LiveKitEventHandler, *args: Any) -> Any:
        return self._pass_on(name, *args)

    callback.__name__ = name
    callback.__qualname__ = f"LiveKitEventHandler.{name}"
    callback.__doc__ = f"Passed on to ``inner.{name}``."
    return callback


def _pass_on_the_other_callbacks(cls: type[LiveKitEventHandler]) -> None:
    for name in vars(EventHandler):
        if name.startswith("on_") and name not in vars(cls):
            setattr(cls, name, _passing_on(name))


_pass_on_the_other_callbacks(LiveKitEventHandler)


async def join_room(
    url: str,
    token: str,
    runner: RealtimeRunner,
    *,
    sample_rate: int = 48000,
    track_name: str = "agent-voice",
) -> RoomAgent:
    """Connect to a LiveKit room, publish the agent's voice and bridge the first remote
    participant's audio into ``runner``. The voice (``room_agent.speaker``) is added to the
    runner as an audio output; the runner's event handler stays yours.
    ``room_agent.aclose()`` leaves."""
    return await _driver.join_room(
        url, token, runner, sample_rate=sample_rate, track_name=track_name
    )


__all__ = [
    "BridgeHandle",
    "LiveKitEventHandler",
    "RoomAgent",
    "RoomSpeaker",
    "bridge_input",
    "join_room",
    "make_token",
]
