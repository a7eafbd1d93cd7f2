"""Call recording: one stereo WAV per session, the user on the left, the agent on the right.

Opt in with ``RealtimeRunner(..., recording=Recording("calls/"))`` (a directory: one
``call-<time>-<id>.wav`` per run) or ``Recording("call.wav")`` (that file).

Both sides share one timeline, the runner's clock from the moment the session
connected, at ``Recording.sample_rate`` (24 kHz by default), 16-bit PCM: silence
where nobody spoke. User audio is what ``runner.send_audio`` /
``send_encoded_audio`` was given, laid where it was sent (a burst faster than real
time is laid end to end, and so is a chunk up to 500 ms late: jitter, not a pause).
Agent audio is what the runner played: an assistant item starts where its first
chunk came (or, if later, where the previous item or the user audio sent so far
ended) and plays in real time, the same assumption the runner's
:class:`~adk_realtime.playback.PlaybackTracker` makes; after a barge-in the
agent's side ends where the listener stopped hearing (the ``played_ms`` of the
``AudioInterrupted`` event, from ``runner.audio_played`` when the app reports it).

Nothing here runs on the audio path but an append to a queue: resampling,
G.711 decoding, the timeline and the file writes run on one writer thread. The
queue holds at most ``max_queued_chunks`` audio chunks; when it is full a chunk
is dropped and counted (``CallRecorder.dropped_chunks`` / ``dropped_ms``), never
waited for, and the end of the run logs the drops and leaves a
:class:`RecordingReport` in ``runner.recording_report``.
"""

from __future__ import annotations

import logging
import os
import queue
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
import anyio.to_thread
import numpy as np

from adk_realtime.sansio import audio as _audio
from adk_realtime.sansio.config import AudioEncoding, AudioFormat
from adk_realtime.sansio.errors import ConfigError

if TYPE_CHECKING:
    from adk_realtime.runner import RealtimeRunner  # (type-only: a cycle at runtime)
    from adk_realtime.session import RealtimeSession

__all__ = ["CallRecorder", "Recording", "RecordingReport"]

log = logging.getLogger("adk_realtime.recording")

_HEADER = 44  # bytes of the canonical PCM WAV header
_FRAME = 4  # bytes per stereo frame: two int16 samples
_USER, _AGENT = 0, 1  # channels
_MAX_ITEMS = 64  # assistant items whose start is remembered (for a late cut)
# User audio sent up to this late still follows the previous chunk (a busy event loop,
# network jitter); a longer pause is silence on the timeline.
_JITTER_MS = 500


@dataclass(frozen=True, slots=True)
class Recording:
    """Where and how to record calls (give it to ``RealtimeRunner(recording=...)``).

    ``target``: a ``.wav`` path (that file, overwritten) or a directory (created if
    needed; one ``call-<UTC time>-<id>.wav`` per run). ``sample_rate``: of the WAV.
    ``max_queued_chunks``: audio chunks waiting for the writer at most (then drops).
    """

    target: str | os.PathLike[str]
    sample_rate: int = 24000
    max_queued_chunks: int = 512

    def __post_init__(self) -> None:
        if not isinstance(self.target, str | os.PathLike) or not str(self.target):
            raise ConfigError("recording.target", f"must be a path, got {self.target!r}")
        if self.sample_rate not in _audio.SUPPORTED_RATES or isinstance(self.sample_rate, bool):
            raise ConfigError(
                "recording.sample_rate",
                f"must be one of {_audio.SUPPORTED_RATES}, got {self.sample_rate!r}",
            )
        if type(self.max_queued_chunks) is not int or self.max_queued_chunks < 1:
            raise ConfigError(
                "recording.max_queued_chunks",
                f"must be a positive int, got {self.max_queued_chunks!r}",
            )

    def path_for_new_call(self) -> Path:
        """The file the next call goes to."""
        target = Path(self.target)
        if target.suffix.lower() == ".wav":
            return target
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        return target / f"call-{stamp}-{uuid.uuid4().hex[:8]}.wav"

    def open(self, output_format: AudioFormat, now: float) -> CallRecorder:
        """Start recording a call whose agent audio comes in ``output_format``; ``now`` is
        the start of its timeline. Blocking (creates the file): call it in a thread."""
        return CallRecorder(self, output_format, now)


@dataclass(frozen=True, slots=True)
class RecordingReport:
    """A finished recording: its file, length and what the full queue made it drop."""

    path: Path
    duration_ms: int
    dropped_chunks: int
    dropped_ms: int


class CallRecorder:
    """One call's recording: a front end for the event loop and a writer thread.

    The runner calls :meth:`user_audio`, :meth:`play` (it is an ``AudioOutput``) and
    :meth:`heard`; each only queues. :meth:`close` (blocking) drains the queue and
    finishes the file.
    """

    def __init__(
        self,
        recording: Recording,
        output_format: AudioFormat,
        now: float,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.recording = recording
        self.path = recording.path_for_new_call()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(self.path, "w+b")
        self._file.write(_wav_header(recording.sample_rate, 0))
        self._clock = clock
        self._timeline = _Timeline(recording.sample_rate, output_format, now)
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._room = threading.BoundedSemaphore(recording.max_queued_chunks)
        self.dropped_chunks = 0
        self.dropped_ms = 0.0
        self.failed_ops = 0  # chunks the writer could not record (logged once)
        self._frames = 0  # the file's length in frames (writer thread)
        self._report: RecordingReport | None = None
        self._writer = threading.Thread(target=self._run, name="call-recorder", daemon=True)
        self._writer.start()

    # -- front end (the event loop; never waits)

    def user_audio(
        self,
        pcm: bytes | bytearray | memoryview | np.ndarray,
        sample_rate: int,
        encoding: AudioEncoding = AudioEncoding.PCM16,
    ) -> None:
        """The user's audio as sent (PCM16 at ``sample_rate``, or G.711 bytes at 8 kHz)."""
        data = _audio.array_to_pcm16(pcm) if isinstance(pcm, np.ndarray) else bytes(pcm)
        width = 2 if encoding is AudioEncoding.PCM16 else 1
        self._put(
            ("user", self._clock(), sample_rate, encoding, data), len(data) // width, sample_rate
        )

    def play(self, audio: bytes, item_id: str) -> None:
        """Agent audio as the runner plays it (``AudioOutput``)."""
        fmt = self._timeline.output_format
        self._put(
            ("agent", self._clock(), item_id, audio),
            len(audio) // fmt.bytes_per_sample,
            fmt.sample_rate,
        )

    def heard(self, item_id: str, played_ms: int) -> None:
        """A barge-in: the listener heard ``played_ms`` of ``item_id``; the agent's side
        ends there. Never dropped (it is small and rare)."""
        self._queue.put(("cut", item_id, played_ms))

    def end_of_response(self) -> None:
        """Nothing to flush: the timeline already knows where the response ends."""

    def interrupt(self) -> None:
        """Nothing here: :meth:`heard` carries where the listener stopped hearing."""

    def _put(self, op: tuple[Any, ...], samples: int, rate: int) -> None:
        if self._room.acquire(blocking=False):
            self._queue.put(op)
        else:  # the writer is behind: drop, count, go on
            self.dropped_chunks += 1
            self.dropped_ms += samples * 1000 / rate

    # -- the end

    def close(self) -> RecordingReport:
        """Write what is queued, finish the WAV header, close the file; log drops.
        Blocking (joins the writer thread): run it in a thread."""
        if self._report is None:
            self._queue.put(None)
            self._writer.join()
            rate = self.recording.sample_rate
            self._report = RecordingReport(
                self.path, self._frames * 1000 // rate, self.dropped_chunks, round(self.dropped_ms)
            )
            if self.dropped_chunks:
                log.warning(
                    "call recording %s dropped %d audio chunks (%d ms): the writer fell behind",
                    self.path,
                    self.dropped_chunks,
                    self._report.dropped_ms,
                )
            else:
                log.info("call recording %s: %d ms", self.path, self._report.duration_ms)
        return self._report

    # -- writer thread

    def _run(self) -> None:
        try:
            while (op := self._queue.get()) is not None:
                if op[0] != "cut":
                    self._room.release()
                try:
                    self._apply(op)
                except Exception:  # bad audio (the session refuses it too): skip it
                    self.failed_ops += 1
                    if self.failed_ops == 1:
                        log.exception("call recording %s: could not record a chunk", self.path)
        finally:
            self._file.seek(0)
            self._file.write(_wav_header(self.recording.sample_rate, self._frames))
            self._file.close()

    def _apply(self, op: tuple[Any, ...]) -> None:
        timeline = self._timeline
        if op[0] == "user":
            _, now, rate, encoding, data = op
            start, samples = timeline.user(now, rate, encoding, data)
            self._write(_USER, start, samples)
        elif op[0] == "agent":
            _, now, item_id, data = op
            placed = timeline.agent(now, item_id, data)
            if placed is not None:
                self._write(_AGENT, *placed)
        else:
            cut = timeline.cut(op[1], op[2])
            if cut is not None:
                self._silence(_AGENT, *cut)

    def _write(self, channel: int, start: int, samples: np.ndarray) -> None:
        if samples.size:
            frames = self._frames_at(start, samples.size)
            frames[:, channel] = samples
            self._store(start, frames)

    def _silence(self, channel: int, start: int, end: int) -> None:
        end = min(end, self._frames)
        if end > start:
            frames = self._frames_at(start, end - start)
            frames[:, channel] = 0
            self._store(start, frames)

    def _frames_at(self, start: int, count: int) -> np.ndarray:
        # What the file holds for frames [start, start + count), zeros past its end.
        self._file.seek(_HEADER + start * _FRAME)
        raw = self._file.read(count * _FRAME)
        frames = np.zeros((count, 2), dtype="<i2")
        frames.reshape(-1)[: len(raw) // 2] = np.frombuffer(raw, dtype="<i2", count=len(raw) // 2)
        return frames

    def _store(self, start: int, frames: np.ndarray) -> None:
        self._file.seek(_HEADER + start * _FRAME)  # past the end: the gap reads as silence
        self._file.write(frames.tobytes())
        self._frames = max(self._frames, start + len(frames))


class _Timeline:
    """Where each side's audio goes, in frames of the recording (writer thread only)."""

    def __init__(self, rate: int, output_format: AudioFormat, start: float) -> None:
        self.rate = rate
        self.output_format = output_format
        self.start = start
        self.user_end = 0
        self.agent_end = 0
        self.items: dict[str, int] = {}  # assistant item -> its first frame
        self.current: str | None = None
        self._resamplers: dict[tuple[int, int], _audio.Resampler] = {}

    def _frame(self, now: float) -> int:
        return max(0, round((now - self.start) * self.rate))

    def _pcm(self, channel: int, data: bytes, rate: int, encoding: AudioEncoding) -> np.ndarray:
        if encoding is AudioEncoding.G711_ULAW:
            data, rate = _audio.ulaw_decode(data), 8000
        elif encoding is AudioEncoding.G711_ALAW:
            data, rate = _audio.alaw_decode(data), 8000
        if rate != self.rate:
            resampler = self._resamplers.get((channel, rate))
            if resampler is None:
                resampler = self._resamplers[(channel, rate)] = _audio.Resampler(rate, self.rate)
            data = resampler.process(data)
        return _audio.pcm16_to_array(data[: len(data) // 2 * 2])

    def user(
        self, now: float, rate: int, encoding: AudioEncoding, data: bytes
    ) -> tuple[int, np.ndarray]:
        samples = self._pcm(_USER, data, rate, encoding)
        start = self._frame(now)
        if start <= self.user_end + self.rate * _JITTER_MS // 1000:
            start = self.user_end  # a chunk sent a little late follows on: no gap
        self.user_end = start + samples.size
        return start, samples

    def agent(self, now: float, item_id: str, data: bytes) -> tuple[int, np.ndarray] | None:
        fmt = self.output_format
        samples = self._pcm(_AGENT, data, fmt.sample_rate, fmt.encoding)
        if item_id != self.current:
            if item_id in self.items:
                return None  # an item already cut (a late chunk)
            self.current = item_id
            # Not before the user audio sent so far: audio sent faster than real time
            # (a file, a test) was still being "spoken" when the answer came.
            self.agent_end = max(self.agent_end, self._frame(now), self.user_end)
            self.items[item_id] = self.agent_end
            if len(self.items) > _MAX_ITEMS:
                del self.items[next(iter(self.items))]
        start = self.agent_end
        self.agent_end += samples.size
        return start, samples

    def cut(self, item_id: str, played_ms: int) -> tuple[int, int] | None:
        first = self.items.get(item_id)
        if first is None:
            return None
        heard_end = first + played_ms * self.rate // 1000
        if item_id == self.current:
            self.current = None  # later chunks of it are not played
        if heard_end >= self.agent_end:
            return None
        span = (heard_end, self.agent_end)
        self.agent_end = heard_end
        return span


# -- the runner's hooks (a few lines there, the rest here)


def check_recording(recording: object) -> Recording | None:
    """``RealtimeRunner(recording=...)``: a :class:`Recording` or ``None``."""
    if recording is not None and not isinstance(recording, Recording):
        raise ConfigError("recording", f"expected Recording, got {type(recording).__name__}")
    return recording


async def start_recorder(runner: RealtimeRunner, session: RealtimeSession) -> CallRecorder | None:
    """The run connected: open its recording (if asked) and play agent audio into it."""
    if runner.recording is None:
        return None
    fmt = session.protocol.output_audio_format
    now = anyio.current_time()
    recorder = await anyio.to_thread.run_sync(runner.recording.open, fmt, now)
    runner.add_audio_output(recorder)
    return recorder


async def finish_recorder(runner: RealtimeRunner) -> RecordingReport | None:
    """The run ended: finish the file (in a thread) and give its report."""
    recorder, runner.recorder = runner.recorder, None
    if recorder is None:
        return None
    runner.remove_audio_output(recorder)
    return await anyio.to_thread.run_sync(recorder.close)


def _wav_header(rate: int, frames: int) -> bytes:
    data = frames * _FRAME
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * _FRAME, _FRAME, 16)
        + b"data"
        + struct.pack("<I", data)
    )
