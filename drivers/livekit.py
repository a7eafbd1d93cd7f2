"""LiveKit bridge: any realtime model in a LiveKit room (asyncio only; the ``livekit`` extra).

* :func:`bridge_input` — hearing: subscribes to an audio track through
  ``rtc.AudioStream`` at the provider's input rate (24 kHz OpenAI, 16 kHz
  Gemini), mono, and forwards 20 ms chunks to a runner's ``send_audio``.
* :class:`LiveKitEventHandler` — speaking: wraps any event handler, forwards
  every callback to it, and pushes the model's 24 kHz mono PCM16 to an
  ``rtc.AudioSource`` at the source's own rate and channel count, in 10 ms
  frames. An interruption clears both our queue and the source's, so the
  room stops hearing the old answer at once.

Model audio arrives faster than real time. The handler therefore queues frames
(bounded: ``max_queued_ms``; beyond it frames are counted in ``dropped_frames``)
and a writer task feeds ``capture_frame`` at the source's pace, so the runner's
event pump never waits on the room.

This module depends on the runner only by duck typing (``send_audio``,
``model.input_sample_rate``) so that it stays below the agent layer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from adk_realtime.sansio.audio import Resampler, whole_samples
from adk_realtime.sansio.errors import ConnectionClosed

try:
    from livekit import rtc
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the LiveKit bridge needs the livekit extra: pip install 'adk-realtime[livekit]'"
    ) from exc

log = logging.getLogger("adk_realtime.livekit")

PROVIDER_OUTPUT_RATE = 24000


class AudioSink(Protocol):
    """What ``bridge_input`` feeds: a runner (or session) with ``send_audio``."""

    async def send_audio(self, pcm: bytes, sample_rate: int | None = None) -> None: ...


def _input_rate(runner: Any) -> int:
    model = getattr(runner, "model", None)
    rate = getattr(model, "input_sample_rate", None)
    return int(rate) if rate else 24000


class BridgeHandle:
    """A running :func:`bridge_input`: ``await handle.stop()`` or ``await handle.wait()``."""

    def __init__(self, task: asyncio.Task[None], stream: rtc.AudioStream, sample_rate: int) -> None:
        self._task = task
        self._stream = stream
        self.sample_rate = sample_rate
        self.chunks_forwarded = 0
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def wait(self) -> None:
        """Until the track ends or the runner closes."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop forwarding; the pump closes the stream (once) on its way out."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def bridge_input(
    track: rtc.Track,
    runner: AudioSink,
    *,
    sample_rate: int | None = None,
    chunk_ms: int = 20,
) -> BridgeHandle:
    """Forward ``track``'s audio to ``runner`` (call from a running asyncio loop).

    The stream is read mono at the provider's input rate (``runner.model.input_sample_rate``
    unless ``sample_rate`` is given) in ``chunk_ms`` chunks (20–40 ms). The bridge ends
    by itself when the track ends or the runner's session closes.
    """
    if not 10 <= chunk_ms <= 40:
        raise ValueError(f"chunk_ms must be within 10..40, got {chunk_ms}")
    rate = sample_rate or _input_rate(runner)
    stream = rtc.AudioStream.from_track(
        track=track, sample_rate=rate, num_channels=1, frame_size_ms=chunk_ms
    )
    chunk_bytes = rate * 2 * chunk_ms // 1000
    handle: BridgeHandle

    async def pump() -> None:
        pending = bytearray()
        try:
            async for frame_event in stream:
                pending += frame_event.frame.data.cast("B")
                while len(pending) >= chunk_bytes:
                    chunk = bytes(pending[:chunk_bytes])
                    del pending[:chunk_bytes]
                    await runner.send_audio(chunk, rate)
                    handle.chunks_forwarded += 1
            if pending:
                await runner.send_audio(bytes(pending[: len(pending) & ~1]), rate)
                handle.chunks_forwarded += 1
        except ConnectionClosed as exc:
            handle.error = exc  # the runner's session is gone: stop quietly
        finally:
            # Shielded: the SDK's aclose awaits its reader task, and a second
            # cancellation arriving there must not escape from stop().
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(stream.aclose())

    task = asyncio.get_running_loop().create_task(pump(), name="livekit-bridge-input")
    handle = BridgeHandle(task, stream, rate)
    return handle


class LiveKitEventHandler:
    """Plays the model's voice into a LiveKit ``AudioSource``; forwards everything to ``inner``."""

    def __init__(
        self,
        source: rtc.AudioSource,
        inner: Any | None = None,
        *,
        max_queued_ms: int = 120_000,
        prebuffer_ms: int = 150,
    ) -> None:
        self.source = source
        self.inner = inner
        self.rate = source.sample_rate
        self.channels = source.num_channels
        self._frame_samples = self.rate // 100  # 10 ms
        self._frame_bytes = self._frame_samples * 2 * self.channels
        self._max_frames = max(1, max_queued_ms // 10)
        # Playback starts once this much is queued (or the answer ended), so a
        # provider streaming at real-time pace does not turn every stall into a gap.
        self._prebuffer_frames = max(1, prebuffer_ms // 10)
        self._primed = False
        self._queue: collections.deque[rtc.AudioFrame] = collections.deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._resampler = Resampler(PROVIDER_OUTPUT_RATE, self.rate)
        self._odd: dict[str, bytes] = {}  # item id -> a dangling byte of an odd-length delta
        self._partial = bytearray()  # output samples short of a whole 10 ms frame
        self._item: str | None = None
        self.frames_captured = 0
        self.dropped_frames = 0

    def _forwarder(self, name: str) -> Callable[..., Any]:
        def forward(*args: Any) -> Any:
            method = getattr(self.inner, name, None) if self.inner is not None else None
            return method(*args) if method is not None else None

        return forward

    # Every other callback goes to ``inner`` unchanged (its result, maybe awaitable,
    # is returned for the runner to await). Spelled out so type checkers see them.

    def on_text(self, text: str, item_id: str) -> Any:
        return self._forwarder("on_text")(text, item_id)

    def on_transcript(self, text: str, item_id: str) -> Any:
        return self._forwarder("on_transcript")(text, item_id)

    def on_input_transcript(self, text: str, item_id: str) -> Any:
        return self._forwarder("on_input_transcript")(text, item_id)

    def on_speech_started(self, audio_start_ms: int) -> Any:
        return self._forwarder("on_speech_started")(audio_start_ms)

    def on_speech_stopped(self, audio_end_ms: int) -> Any:
        return self._forwarder("on_speech_stopped")(audio_end_ms)

    def on_tool_call(self, name: str, arguments: str, call_id: str) -> Any:
        return self._forwarder("on_tool_call")(name, arguments, call_id)

    def on_handoff(self, from_agent: str, to_agent: str) -> Any:
        return self._forwarder("on_handoff")(from_agent, to_agent)

    def on_error(self, error: Any) -> Any:
        return self._forwarder("on_error")(error)

    def on_disconnect(self, reason: str) -> Any:
        return self._forwarder("on_disconnect")(reason)

    # --------------------------------------------------------------- speaking

    def on_audio(self, audio: bytes, item_id: str) -> Any:
        if item_id != self._item:
            self._start_item(item_id)
        data, rest = whole_samples(self._odd.pop(item_id, b""), audio)
        if rest:
            self._odd[item_id] = rest
        if data:
            self._enqueue(self._resampler.process(data))
        if self.inner is not None and hasattr(self.inner, "on_audio"):
            return self.inner.on_audio(audio, item_id)
        return None

    def _start_item(self, item_id: str) -> None:
        # A new answer: the filter state of the previous one must not bleed in.
        self._flush_partial()
        self._resampler.reset()
        self._item = item_id
        if len(self._odd) > 16:
            self._odd.clear()

    def _enqueue(self, pcm: bytes) -> None:
        if self.channels > 1:
            mono = np.frombuffer(pcm, "<i2")
            pcm = np.repeat(mono, self.channels).tobytes()
        self._partial += pcm
        fb = self._frame_bytes
        whole = len(self._partial) // fb * fb
        for offset in range(0, whole, fb):
            self._push_frame(bytes(self._partial[offset : offset + fb]))
        del self._partial[:whole]

    def _flush_partial(self) -> None:
        if self._partial:
            self._push_frame(bytes(self._partial).ljust(self._frame_bytes, b"\0"))
            self._partial.clear()

    def _push_frame(self, data: bytes) -> None:
        if len(self._queue) >= self._max_frames:
            self.dropped_frames += 1
            return
        self._queue.append(rtc.AudioFrame(data, self.rate, self.channels, self._frame_samples))
        if not self._primed and len(self._queue) >= self._prebuffer_frames:
            self._primed = True
        if self._primed:
            self._wakeup.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name="livekit-speaker"
            )

    async def _write(self) -> None:
        while True:
            while self._primed and self._queue:
                frame = self._queue.popleft()
                await self.source.capture_frame(frame)
                self.frames_captured += 1
            if not self._queue:
                self._primed = False  # ran dry: buffer again before the next frames
            self._wakeup.clear()
            await self._wakeup.wait()

    def _start_playback(self) -> None:
        self._primed = True
        self._wakeup.set()

    async def flush(self) -> None:
        """Push the last partial frame (end of an answer) into the source and play it."""
        self._flush_partial()
        self._start_playback()

    def on_response_done(self, event: Any) -> Any:
        self._flush_partial()
        self._start_playback()  # a short answer may never fill the pre-buffer
        return self._forwarder("on_response_done")(event)

    def on_interrupted(self, event: Any) -> Any:
        """Barge-in: drop everything queued so the room stops hearing the old answer."""
        self._queue.clear()
        self._primed = False
        self._partial.clear()
        self._odd.clear()
        self._resampler.reset()
        self._item = None
        self.source.clear_queue()
        return self._forwarder("on_interrupted")(event)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


# ------------------------------------------------------------------- room helper


def make_token(api_key: str, api_secret: str, room: str, identity: str = "adk-agent") -> str:
    """A room-join token for ``identity`` (needs ``livekit-api``)."""
    from livekit import api

    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


class RoomAgent:
    """A connected room: the agent's published track and the input bridge."""

    def __init__(
        self, room: rtc.Room, source: rtc.AudioSource, handler: LiveKitEventHandler
    ) -> None:
        self.room = room
        self.source = source
        self.handler = handler
        self.bridge: BridgeHandle | None = None
        self.bridged = asyncio.Event()

    async def aclose(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()
        await self.handler.aclose()
        await self.room.disconnect()


async def join_room(
    url: str,
    token: str,
    runner: Any,
    *,
    inner_handler: Any | None = None,
    sample_rate: int = 48000,
    track_name: str = "agent-voice",
    handler_class: type[LiveKitEventHandler] = LiveKitEventHandler,
) -> RoomAgent:
    """Connect to a room, publish the agent's voice, and bridge the first remote
    participant's audio into ``runner``. Set ``runner.handler`` to the returned
    ``room_agent.handler`` before ``runner.run()`` (this function does it, and
    points ``runner.context.event_handler`` at it too)."""
    room = rtc.Room()
    source = rtc.AudioSource(sample_rate, 1)
    handler = handler_class(source, inner_handler or getattr(runner, "handler", None))
    runner.handler = handler
    context = getattr(runner, "context", None)
    if context is not None and hasattr(context, "event_handler"):
        context.event_handler = handler
    agent = RoomAgent(room, source, handler)

    def on_track(track: rtc.Track, *_: Any) -> None:
        if agent.bridge is None and track.kind == rtc.TrackKind.KIND_AUDIO:
            agent.bridge = bridge_input(track, runner)
            agent.bridged.set()

    room.on("track_subscribed", on_track)
    await room.connect(url, token)
    track = rtc.LocalAudioTrack.create_audio_track(track_name, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    return agent
