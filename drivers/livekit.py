"""LiveKit bridge: any realtime model in a LiveKit room (asyncio only; the ``livekit`` extra).

* :func:`bridge_input` — hearing: subscribes to an audio track through
  ``rtc.AudioStream`` at the provider's input rate (24 kHz OpenAI, 16 kHz
  Gemini), mono, and forwards 20 ms chunks to a runner's ``send_audio``.
* :class:`RoomSpeaker` — speaking: pushes the model's 24 kHz mono PCM16 to an
  ``rtc.AudioSource`` at the source's own rate and channel count, in 10 ms
  frames. An interruption clears both our queue and the source's, so the
  room stops hearing the old answer at once.
* :func:`join_room` — both, in a room: publishes the agent's voice and bridges
  the first remote participant's audio.

How the room's voice reaches the runner (the seam)
--------------------------------------------------
The speaker is an *audio output* the runner notifies next to the user's event
handler (``runner.add_audio_output(speaker)``), not an event handler wrapping
the user's one. The runner already knows when audio arrives, when a response
ends and when the user barges in; those three moments are all a room needs.
Wrapping instead meant copying every ``EventHandler`` callback by hand to pass
it on, replacing ``runner.handler`` and ``runner.context.event_handler`` behind
the user's back, and forgetting whatever callback is added later. With an
output the user's handler stays exactly what they passed, and a second sink (a
recorder, another room) is one more ``add_audio_output``.

This module sits below the agent layer, so it sees the runner only through the
:class:`RoomRunner` protocol (its input rate, ``send_audio`` and the output
list); ``RealtimeRunner`` satisfies it, checked by mypy in ``adk_realtime.livekit``.

Model audio arrives faster than real time. The speaker therefore queues frames
(bounded: ``max_queued_ms``) and a writer task feeds ``capture_frame`` at the
source's pace, so the runner's event pump never waits on the room.

An ``AudioSource`` plays in real time on the SDK's own clock and fills every
10 ms it finds its buffer empty with silence. Fed one 10 ms frame per
``capture_frame`` round trip, the start of an answer (when that buffer is
empty) races the clock: a busy event loop lets silence into the first syllable.
So the writer hands the source everything queued at once (the whole pre-buffer
at the start, up to ``max(prebuffer, 200 ms)`` per call); from then on the
source's buffer, not Python's timing, carries the lead. Nothing is
lost silently: frames refused by a full queue or by the SDK, bytes of half a
sample left over, chunks the bridge could not deliver and remote tracks nobody
listens to are counted (``dropped_frames``, ``dropped_bytes``,
``ignored_tracks``) and logged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import Protocol

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


class RoomAudioInput(Protocol):
    """What :func:`bridge_input` feeds: a ``RealtimeRunner``, or anything with these two."""

    @property
    def input_sample_rate(self) -> int:
        """The PCM16 rate the provider takes (the room's audio is read at this rate)."""
        ...

    async def send_audio(self, pcm: bytes, sample_rate: int | None = None) -> None: ...


class RoomRunner(RoomAudioInput, Protocol):
    """What :func:`join_room` needs of a runner: audio in, and a place for the room's voice."""

    def add_audio_output(self, output: RoomSpeaker) -> None:
        """From now on, play model audio into ``output`` too."""
        ...

    def remove_audio_output(self, output: RoomSpeaker) -> None:
        """Stop playing into ``output``."""
        ...


class BridgeHandle:
    """A running :func:`bridge_input`: ``await handle.stop()`` or ``await handle.wait()``."""

    def __init__(self, task: asyncio.Task[None], stream: rtc.AudioStream, sample_rate: int) -> None:
        self._task = task
        self._stream = stream
        self.sample_rate = sample_rate
        self.chunks_forwarded = 0
        #: room audio read but not delivered (the runner's session closed under it, or
        #: half a sample at the end of the track)
        self.dropped_bytes = 0
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
    runner: RoomAudioInput,
    *,
    sample_rate: int | None = None,
    chunk_ms: int = 20,
) -> BridgeHandle:
    """Forward ``track``'s audio to ``runner`` (call from a running asyncio loop).

    The stream is read mono at the provider's input rate (``runner.input_sample_rate``
    unless ``sample_rate`` is given) in ``chunk_ms`` chunks (20–40 ms). The bridge ends
    by itself when the track ends or the runner's session closes.
    """
    if not 10 <= chunk_ms <= 40:
        raise ValueError(f"chunk_ms must be within 10..40, got {chunk_ms}")
    rate = sample_rate or runner.input_sample_rate
    stream = rtc.AudioStream.from_track(
        track=track, sample_rate=rate, num_channels=1, frame_size_ms=chunk_ms
    )
    chunk_bytes = rate * 2 * chunk_ms // 1000
    handle: BridgeHandle

    async def forward(chunk: bytes) -> None:
        try:
            await runner.send_audio(chunk, rate)
        except ConnectionClosed:
            handle.dropped_bytes += len(chunk)
            raise
        handle.chunks_forwarded += 1

    async def pump() -> None:
        pending = bytearray()
        try:
            async for frame_event in stream:
                pending += frame_event.frame.data.cast("B")
                while len(pending) >= chunk_bytes:
                    chunk = bytes(pending[:chunk_bytes])
                    del pending[:chunk_bytes]
                    await forward(chunk)
            if len(pending) % 2:
                handle.dropped_bytes += 1
                log.debug("the track ended inside a sample: its last byte is dropped")
            if len(pending) > 1:
                await forward(bytes(pending[: len(pending) & ~1]))
        except ConnectionClosed as exc:
            handle.error = exc  # the runner's session is gone: stop quietly
            log.info(
                "room audio bridge stopped: the session closed (%s); %d bytes not delivered",
                exc,
                handle.dropped_bytes,
            )
        finally:
            # Shielded: the SDK's aclose awaits its reader task, and a second
            # cancellation arriving there must not escape from stop().
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(stream.aclose())

    task = asyncio.get_running_loop().create_task(pump(), name="livekit-bridge-input")
    handle = BridgeHandle(task, stream, rate)
    return handle


class RoomSpeaker:
    """Plays the model's voice into a LiveKit ``AudioSource``: an audio output of a runner.

    ``runner.add_audio_output(RoomSpeaker(source))`` (what :func:`join_room` does) and the
    runner calls :meth:`play` with each audio delta, :meth:`end_of_response` when a response
    ends and :meth:`interrupt` when the user barges in, each just before the event handler's
    matching callback. None of them blocks: audio is resampled and queued here, and a writer
    task feeds the source in real time. Call :meth:`aclose` when done.

    Playback starts once ``prebuffer_ms`` is queued (or the answer ended), so a provider
    streaming at real-time pace does not turn every stall into a gap. At most
    ``max_queued_ms`` waits; beyond that frames are dropped, counted in ``dropped_frames``
    and logged.
    """

    def __init__(
        self, source: rtc.AudioSource, *, max_queued_ms: int = 120_000, prebuffer_ms: int = 150
    ) -> None:
        self.source = source
        self.rate = source.sample_rate
        self.channels = source.num_channels
        self._frame_samples = self.rate // 100  # 10 ms
        self._frame_bytes = self._frame_samples * 2 * self.channels
        self._max_frames = max(1, max_queued_ms // 10)
        self._prebuffer_frames = max(1, prebuffer_ms // 10)
        self._primed = False
        self._queue: collections.deque[bytes] = collections.deque()  # 10 ms frames
        self._batch_frames = max(self._prebuffer_frames, 20)  # frames per capture_frame call
        self._generation = 0  # bumped by interrupt(): a capture in flight is stale
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()  # set while nothing waits in the queue
        self._drained.set()
        self._writer: asyncio.Task[None] | None = None
        self._resampler = Resampler(PROVIDER_OUTPUT_RATE, self.rate)
        self._odd: dict[str, bytes] = {}  # item id -> a dangling byte of an odd-length delta
        self._partial = bytearray()  # output samples short of a whole 10 ms frame
        self._item: str | None = None
        # Inside a run of frames dropped for a full queue / refused by the SDK: each kind
        # of run is logged once, not once a frame.
        self._overflowing = False
        self._refused = False
        self.frames_captured = 0
        #: 10 ms frames lost: the queue was full, or the SDK refused them
        self.dropped_frames = 0
        #: bytes of half a sample given up when many answers left one dangling
        self.dropped_bytes = 0

    # ------------------------------------------------------------ the runner calls these

    def play(self, audio: bytes, item_id: str) -> None:
        """Model audio (24 kHz mono PCM16) of answer ``item_id``: resample and queue it."""
        if item_id != self._item:
            self._start_item(item_id)
        data, rest = whole_samples(self._odd.pop(item_id, b""), audio)
        if rest:
            self._odd[item_id] = rest
        if data:
            self._enqueue(self._resampler.process(data))

    def end_of_response(self) -> None:
        """The answer ended: push its last partial frame and play even a short answer."""
        self._flush_partial()
        self._start_playback()  # a short answer may never fill the pre-buffer

    def interrupt(self) -> None:
        """Barge-in: drop everything queued so the room stops hearing the old answer."""
        self._queue.clear()
        self._drained.set()
        self._primed = False
        self._partial.clear()
        self._odd.clear()
        self._resampler.reset()
        self._item = None
        self._generation += 1
        self.source.clear_queue()

    # ------------------------------------------------------------ the app calls these

    async def flush(self) -> None:
        """Push the last partial frame (end of an answer) into the source and play it."""
        self.end_of_response()

    async def wait_drained(self) -> None:
        """Return once every queued frame has been handed to the source (or dropped).

        Playback must have started (pre-buffer full, or :meth:`end_of_response`), else
        this waits for that too.
        """
        await self._drained.wait()

    async def aclose(self) -> None:
        """Stop the writer (what is still queued is not played)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    # ------------------------------------------------------------ internals

    def _start_item(self, item_id: str) -> None:
        # A new answer: the filter state of the previous one must not bleed in.
        self._flush_partial()
        self._resampler.reset()
        self._item = item_id
        if len(self._odd) > 16:
            self.dropped_bytes += len(self._odd)
            log.debug("dropping the dangling half samples of %d answers", len(self._odd))
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
            if not self._overflowing:
                self._overflowing = True
                log.warning(
                    "room audio queue full (%d ms): dropping model audio (%d frames so far)",
                    self._max_frames * 10,
                    self.dropped_frames,
                )
            return
        self._overflowing = False
        self._queue.append(data)
        self._drained.clear()
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
                count = min(len(self._queue), self._batch_frames)
                data = b"".join(self._queue.popleft() for _ in range(count))
                frame = rtc.AudioFrame(data, self.rate, self.channels, self._frame_samples * count)
                generation = self._generation
                try:
                    await self.source.capture_frame(frame)
                except Exception as exc:  # the SDK raises plain Exception (e.g. source gone)
                    self.dropped_frames += count
                    if not self._refused:
                        self._refused = True
                        log.warning("the room refused model audio (%s): dropping it", exc)
                    continue
                self._refused = False
                if generation != self._generation:
                    # Interrupted while this waited for room in the source: it landed after
                    # interrupt() cleared the source, so clear it again (it is the old answer).
                    self.source.clear_queue()
                    continue
                self.frames_captured += count
            if not self._queue:
                self._primed = False  # ran dry: buffer again before the next frames
                self._drained.set()
            self._wakeup.clear()
            await self._wakeup.wait()

    def _start_playback(self) -> None:
        self._primed = True
        self._wakeup.set()


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
    """An agent attached to a room: its published voice (``speaker``) and the input bridge.

    Only the first remote audio track is heard; later ones are counted in
    ``ignored_tracks`` (and logged). ``caller`` is the identity of the participant heard;
    ``caller_left`` is set when that participant leaves the room.
    """

    def __init__(
        self,
        room: rtc.Room,
        source: rtc.AudioSource,
        speaker: RoomSpeaker,
        runner: RoomRunner,
        *,
        owns_connection: bool = True,
    ) -> None:
        self.room = room
        self.source = source
        self.speaker = speaker
        self.track: rtc.LocalAudioTrack | None = None
        self.bridge: BridgeHandle | None = None
        self.bridged = asyncio.Event()
        self.caller: str | None = None
        self.caller_left = asyncio.Event()
        self.ignored_tracks = 0
        self._runner = runner
        self._owns_connection = owns_connection
        self._closed = False

    def hear(self, track: rtc.Track, participant_identity: str, publication_sid: str) -> bool:
        """Bridge ``track`` into the runner if nobody is heard yet; else count it. Returns
        whether this track is the one heard."""
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return False
        if self.bridge is None:
            self.bridge = bridge_input(track, self._runner)
            self.caller = participant_identity
            self.bridged.set()
            return True
        self.ignored_tracks += 1
        log.info(
            "not listening to audio track %s of %s: the agent hears one caller",
            publication_sid,
            participant_identity,
        )
        return False

    async def aclose(self) -> None:
        """Leave: stop hearing, detach the voice from the runner, and disconnect when this
        agent made the connection (:func:`join_room`; a room passed to
        :func:`attach_room` stays connected: its owner disconnects it)."""
        if self._closed:
            return
        self._closed = True
        if self.bridge is not None:
            await self.bridge.stop()
        self._runner.remove_audio_output(self.speaker)
        await self.speaker.aclose()
        if self._owns_connection:
            await self.room.disconnect()


async def attach_room(
    room: rtc.Room,
    runner: RoomRunner,
    *,
    sample_rate: int = 48000,
    track_name: str = "agent-voice",
    owns_connection: bool = False,
) -> RoomAgent:
    """Publish the agent's voice in a connected ``room`` and bridge the first remote
    participant's audio track into ``runner`` (one already subscribed, or the first to be).

    For rooms someone else connects (a LiveKit Agents job's ``ctx.room``); the voice is a
    :class:`RoomSpeaker` added to the runner as an audio output. ``aclose()`` on the
    returned :class:`RoomAgent` undoes it and leaves the connection to its owner.
    """
    source = rtc.AudioSource(sample_rate, 1)
    speaker = RoomSpeaker(source)
    agent = RoomAgent(room, source, speaker, runner, owns_connection=owns_connection)

    def on_track(
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        agent.hear(track, participant.identity, publication.sid)

    def on_left(participant: rtc.RemoteParticipant) -> None:
        if agent.caller is not None and participant.identity == agent.caller:
            agent.caller_left.set()

    room.on("track_subscribed", on_track)
    room.on("participant_disconnected", on_left)
    _hear_tracks_already_there(room, agent)
    track = rtc.LocalAudioTrack.create_audio_track(track_name, source)
    agent.track = track
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    runner.add_audio_output(speaker)
    return agent


def _hear_tracks_already_there(room: rtc.Room, agent: RoomAgent) -> None:
    """A room connected before :func:`attach_room` may have subscribed to tracks already:
    their ``track_subscribed`` went by before anyone listened."""
    participants = getattr(room, "remote_participants", None)
    if not isinstance(participants, dict):
        return
    for participant in list(participants.values()):
        publications = getattr(participant, "track_publications", None)
        if not isinstance(publications, dict):
            continue
        for publication in list(publications.values()):
            track = getattr(publication, "track", None)
            if isinstance(track, rtc.Track) and agent.hear(
                track, participant.identity, publication.sid
            ):
                return


async def join_room(
    url: str,
    token: str,
    runner: RoomRunner,
    *,
    sample_rate: int = 48000,
    track_name: str = "agent-voice",
) -> RoomAgent:
    """Connect to a room, publish the agent's voice and bridge the first remote
    participant's audio into ``runner``.

    The voice is a :class:`RoomSpeaker` added to the runner as an audio output once the
    track is published; the runner's event handler is left as it is. ``aclose()`` on the
    returned :class:`RoomAgent` undoes all of it, disconnecting too.
    """
    room = rtc.Room()
    await room.connect(url, token)
    try:
        return await attach_room(
            room, runner, sample_rate=sample_rate, track_name=track_name, owns_connection=True
        )
    except BaseException:
        await room.disconnect()
        raise
