"""A test-only Twilio: the carrier's side of one bidirectional Media Stream, in real time.

:class:`TwilioCaller` plays what Twilio does on a call's WebSocket (the messages of
https://www.twilio.com/docs/voice/media-streams/websocket-messages):

* it sends ``connected`` and ``start`` (with custom parameters, the caller's number
  among them), then the caller's microphone: one 20 ms ``media`` frame of μ-law
  every 20 ms by its own clock, what :meth:`TwilioCaller.say` queued or silence;
* it plays what it receives on a playout clock: a frame arriving at ``t`` plays
  from ``max(t, end of the frame before)`` for 20 ms; a ``mark`` is sent back when
  the audio before it has played; a ``clear`` drops the audio not yet played (the
  frame playing is cut where it is) and sends back every mark still waiting, as
  Twilio does;
* it can send ``dtmf`` and ``stop``, and records everything it received, with times.

The socket is anything with ``send``/``receive``/``aclose`` (a real WebSocket, or
:func:`memory_socket_pair`). Time is ``anyio.current_time()``: the pacing of the
microphone and of the playout is the carrier's own behaviour, not a test's sleep.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from adk_realtime.sansio.audio import Resampler, ulaw_decode, ulaw_encode
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

FRAME_S = 0.02
FRAME_BYTES = 160
SILENCE = b"\xff" * FRAME_BYTES


def ulaw_speech(text: str) -> bytes:
    """What the caller says: the simulator's speech code for ``text``, as a phone sends it
    (synthesized at 16 kHz, resampled to 8 kHz, μ-law)."""
    pcm16k = synthesize_speech(text, 16000)
    resampler = Resampler(16000, 8000)
    return ulaw_encode(resampler.process(pcm16k) + resampler.flush())


def heard_text(ulaw: bytes) -> str:
    """What the simulator's speech decoder reads in μ-law 8 kHz audio."""
    recognizer = SpeechRecognizer(8000)
    recognizer.feed(ulaw_decode(ulaw) + bytes(8000))  # half a second of silence ends it
    return recognizer.text


class PeerSocket(Protocol):
    async def send(self, message: str) -> None: ...
    async def receive(self) -> str | bytes: ...
    async def aclose(self, code: int = 1000, reason: str = "") -> None: ...


class MemorySocket:
    """One end of an in-memory message pipe with WebSocket-like closing."""

    def __init__(self, tx: Any, rx: Any) -> None:
        self._tx = tx
        self._rx = rx
        self.peer: MemorySocket | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    async def send(self, message: str | bytes) -> None:
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, "closed")
        try:
            await self._tx.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise self._peer_closed() from None

    async def receive(self) -> str | bytes:
        try:
            message: str | bytes = await self._rx.receive()
            return message
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise self._peer_closed() from None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self._tx.close()
        self._rx.close()

    def _peer_closed(self) -> ConnectionClosed:
        peer = self.peer
        if self.close_code is not None:
            return ConnectionClosed(self.close_code, self.close_reason)
        code = peer.close_code if peer is not None and peer.close_code is not None else 1006
        return ConnectionClosed(code, peer.close_reason if peer is not None else "")


def memory_socket_pair() -> tuple[MemorySocket, MemorySocket]:
    """Two connected ends: what one sends, the other receives."""
    a_tx, b_rx = anyio.create_memory_object_stream[str | bytes](1000)
    b_tx, a_rx = anyio.create_memory_object_stream[str | bytes](1000)
    a, b = MemorySocket(a_tx, a_rx), MemorySocket(b_tx, b_rx)
    a.peer, b.peer = b, a
    return a, b


@dataclass
class _Utterance:
    frames: list[bytes]
    done: anyio.Event
    sent: int = 0
    started_at: float = 0.0


@dataclass
class HeardFrame:
    """One outbound frame of the bridge, as the caller's playout clock placed it."""

    payload: bytes
    arrived: float
    start: float
    cut_at: float | None = None  # a clear stopped it here (at or before its start: unheard)

    @property
    def end(self) -> float:
        return self.start + FRAME_S

    @property
    def played(self) -> bytes:
        if self.cut_at is None:
            return self.payload
        samples = max(0, min(FRAME_BYTES, round((self.cut_at - self.start) * 8000)))
        return self.payload[:samples]


@dataclass
class EchoedMark:
    name: str
    arrived: float
    frames_before: int  # frames received before it
    echoed_at: float | None = None
    played: bool = False  # sent back because its audio played (not because of a clear)


@dataclass
class CallerRecord:
    """Everything the caller received, with ``anyio.current_time()`` of arrival."""

    frames: list[HeardFrame] = field(default_factory=list)
    marks: list[EchoedMark] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    other: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed_at: float | None = None

    def heard(self, since: int = 0, until: int | None = None) -> bytes:
        """The audio the caller heard, frames ``since:until``, as played (clears cut it)."""
        return b"".join(f.played for f in self.frames[since:until])

    def received(self, since: int = 0, until: int | None = None) -> bytes:
        """The payload bytes received, frames ``since:until``, as they came."""
        return b"".join(f.payload for f in self.frames[since:until])


class TwilioCaller:
    """Twilio's side of one Media Stream (see the module docstring)."""

    def __init__(
        self,
        socket: PeerSocket,
        *,
        caller: str = "+14155550199",
        custom_parameters: dict[str, str] | None = None,
        stream_sid: str = "MZ0000000000000000000000000000beef",
        call_sid: str = "CA0000000000000000000000000000beef",
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.socket = socket
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.parameters = {"caller": caller, **(custom_parameters or {})}
        self.clock = clock
        self.record = CallerRecord()
        self._seq = 0
        self._speech: deque[_Utterance] = deque()  # what the microphone sends next
        self._changed = anyio.Event()
        self._play_end = 0.0
        self._waiting_marks: deque[EchoedMark] = deque()
        self._marks_changed = anyio.Event()
        self._stopped = False
        self.frames_sent = 0
        self.sent_audio = bytearray()  # everything the microphone sent, in order

    # -- what the test does --------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect (``connected``, ``start``), then talk and listen until the socket closes."""
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "start": {
                    "accountSid": "AC0000000000000000000000000000beef",
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": self.stream_sid,
            }
        )
        task_status.started()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._microphone)
            tg.start_soon(self._echo_marks)
            try:
                await self._listen()
            finally:
                tg.cancel_scope.cancel()

    async def say(self, ulaw: bytes) -> float:
        """Speak ``ulaw`` (8 kHz μ-law) into the call, after anything said before; returns
        once its last frame was sent, with the time its first frame was sent."""
        frames = [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]
        frames[-1] = frames[-1].ljust(FRAME_BYTES, b"\xff")
        utterance = _Utterance(frames, anyio.Event())
        self._speech.append(utterance)
        await utterance.done.wait()
        return utterance.started_at

    async def dtmf(self, digit: str) -> None:
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def stop(self) -> None:
        """Hang up: Twilio's ``stop``, then the close of the socket."""
        self._stopped = True
        await self._send(
            {
                "event": "stop",
                "streamSid": self.stream_sid,
                "stop": {
                    "accountSid": "AC0000000000000000000000000000beef",
                    "callSid": self.call_sid,
                },
            }
        )
        await self.socket.aclose(1000, "")

    async def wait_for(self, condition: Callable[[CallerRecord], bool]) -> None:
        """Until ``condition(record)`` holds (checked after everything received or played)."""
        while not condition(self.record):
            changed = self._changed
            if changed.is_set():
                changed = self._changed = anyio.Event()
            await changed.wait()

    def heard_ms(self, now: float | None = None) -> float:
        """Milliseconds of bridge audio the caller has heard by ``now`` (played, not cut)."""
        now = self.clock() if now is None else now
        total = 0.0
        for frame in self.record.frames:
            end = frame.end if frame.cut_at is None else min(frame.end, frame.cut_at)
            total += max(0.0, min(end, now) - frame.start)
        return total * 1000

    # -- inside ----------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        self._seq += 1
        message.setdefault("sequenceNumber", str(self._seq))
        await self.socket.send(json.dumps(message))

    def _notify(self) -> None:
        self._changed.set()

    async def _microphone(self) -> None:
        """One media frame every 20 ms by this clock: what was said, else silence."""
        t0 = self.clock()
        chunk = 0
        while not self._stopped:
            if self._speech:
                utterance = self._speech[0]
                if not utterance.sent:
                    utterance.started_at = self.clock()
                frame = utterance.frames[utterance.sent]
                utterance.sent += 1
                if utterance.sent == len(utterance.frames):
                    self._speech.popleft()
                    utterance.done.set()
            else:
                frame = SILENCE
            chunk += 1
            try:
                await self._send(
                    {
                        "event": "media",
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(chunk),
                            "timestamp": str(round(chunk * 20)),
                            "payload": base64.b64encode(frame).decode(),
                        },
                    }
                )
            except ConnectionClosed:
                return
            self.frames_sent += 1
            self.sent_audio += frame
            delay = t0 + chunk * FRAME_S - self.clock()
            if delay > 0:
                await anyio.sleep(delay)  # the phone's own 20 ms clock

    async def _listen(self) -> None:
        try:
            while True:
                message = json.loads(await self.socket.receive())
                now = self.clock()
                event = message.get("event")
                if event == "media":
                    payload = base64.b64decode(message["media"]["payload"])
                    start = max(now, self._play_end)
                    self._play_end = start + FRAME_S
                    self.record.frames.append(HeardFrame(payload, now, start))
                elif event == "mark":
                    mark = EchoedMark(message["mark"]["name"], now, len(self.record.frames))
                    self.record.marks.append(mark)
                    self._waiting_marks.append(mark)
                    self._marks_changed.set()
                elif event == "clear":
                    await self._clear(now)
                else:
                    self.record.other.append((now, message))
                self._notify()
        except ConnectionClosed:
            self.record.closed_at = self.clock()
            self._notify()

    async def _clear(self, now: float) -> None:
        self.record.clears.append(now)
        for frame in reversed(self.record.frames):
            if frame.end <= now:
                break
            frame.cut_at = now
        self._play_end = now
        while self._waiting_marks:  # Twilio sends back every mark still waiting
            await self._echo(self._waiting_marks.popleft(), played=False)

    async def _echo_marks(self) -> None:
        """Send each mark back when the audio before it has played."""
        while True:
            if not self._waiting_marks:
                self._marks_changed = anyio.Event()
                await self._marks_changed.wait()
                continue
            mark = self._waiting_marks[0]
            frames = self.record.frames[: mark.frames_before]
            due = max((f.end for f in frames if f.cut_at is None), default=mark.arrived)
            delay = due - self.clock()
            if delay > 0:
                self._marks_changed = anyio.Event()
                with anyio.move_on_after(delay):
                    await self._marks_changed.wait()  # a clear may send it back first
                continue
            self._waiting_marks.popleft()
            await self._echo(mark, played=True)

    async def _echo(self, mark: EchoedMark, *, played: bool) -> None:
        mark.echoed_at, mark.played = self.clock(), played
        try:
            await self._send(
                {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": mark.name}}
            )
        except ConnectionClosed:
            pass
        self._notify()


def confirmed_frames(record: CallerRecord, before: float) -> int:
    """Frames the caller's mark echoes confirmed played before ``before``: those received
    before the last mark sent back as played by then."""
    played = [
        m for m in record.marks if m.played and m.echoed_at is not None and m.echoed_at < before
    ]
    return max((m.frames_before for m in played), default=0)


def steady_jitter_ms(frames: list[HeardFrame], lead_frames: int) -> list[float]:
    """``|inter-arrival - 20 ms|`` of frames in steady state: within a talk spurt (frames less
    than half a second apart), after its first ``lead_frames`` (sent at once by design)."""
    out: list[float] = []
    spurt = 0
    for before, frame in itertools.pairwise(frames):
        gap = frame.arrived - before.arrived
        spurt = spurt + 1 if gap < 0.5 else 0
        if spurt >= lead_frames:
            out.append(abs(gap - FRAME_S) * 1000)
    return out


def playout_gaps_ms(frames: list[HeardFrame]) -> list[float]:
    """Silences the playout clock had to insert inside talk spurts (a frame came after the
    one before it had finished playing), in ms."""
    out: list[float] = []
    for before, frame in itertools.pairwise(frames):
        gap = frame.start - before.end
        if 1e-4 < gap < 0.5 and before.cut_at is None:
            out.append(gap * 1000)
    return out
