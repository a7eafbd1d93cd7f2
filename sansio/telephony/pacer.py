"""Model audio to a carrier in real time: 20 ms frames leave when they are due.

Theory of operation
-------------------
A model produces its answer faster than real time, in bursts. A carrier plays
what it receives from a buffer of its own, so a bridge that forwarded every
burst at once would leave seconds of audio at the carrier: a barge-in would
depend entirely on the carrier's ``clear``, and a late model delta would be
queued behind audio nobody will hear. :class:`OutboundPacer` keeps the answer on
our side and hands the carrier codec one 20 ms frame at a time, on a send clock:

* ``playout_end``: when the carrier will have played everything released so
  far, if it plays each frame from the moment it has it (our clock; the carrier
  does not tell us its own);
* a frame may leave at ``now`` when, with it, the carrier holds at most
  ``max_ahead_ms``: ``max(playout_end, now) + 20 ms <= now + max_ahead_ms``.

So a response starts with ``max_ahead_ms / 20`` frames at once, then one frame
every 20 ms, and the carrier's buffer stays between ``max_ahead_ms - 20`` and
``max_ahead_ms``: a late wake-up of the sender shorter than that costs nothing
audible, and a barge-in drops at most ``max_ahead_ms`` at the carrier; the rest
of the answer is dropped here, before it was ever sent.

Responses: :meth:`push` queues μ-law for a response ``key`` (a new key ends the
previous response); :meth:`end_response` says the open one is complete. When a
response's first frame leaves, the codec's ``begin_response(key)`` opens it on
the playback timeline, so ``stream.response_heard_ms(key)`` later says how much
of it the caller heard; its last, partial frame leaves with ``flush()`` (padded
with μ-law silence, a mark placed at its end).

:meth:`interrupt` (the caller barged in) drops every frame not yet released and
every message not yet taken, and queues the codec's ``clear`` as the only
message: nothing of what was queued reaches the carrier after the clear.

The sans-IO contract: no clock, no task. Commands (:meth:`push`,
:meth:`end_response`, :meth:`interrupt`) are the input; the driver calls
:meth:`handle_timer` at :meth:`get_timer` (and after a command) and sends what
:meth:`data_to_send` returns, in order, one WebSocket text message each. The queue is bounded: audio beyond ``max_queued_ms`` is dropped and
counted in :attr:`overflow_ms`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.telephony.media_stream import FRAME_BYTES, FRAME_MS, CarrierMediaStream

__all__ = ["DEFAULT_MAX_AHEAD_MS", "DEFAULT_MAX_QUEUED_MS", "OutboundPacer"]

DEFAULT_MAX_AHEAD_MS = 100
"""Audio the carrier may hold ahead of real time (see :class:`OutboundPacer`)."""
DEFAULT_MAX_QUEUED_MS = 300_000
"""Audio the pacer keeps waiting at most: five minutes (2.4 MB of μ-law)."""

_FRAME_S = FRAME_MS / 1000
_COMPACT_AT = 16 * FRAME_BYTES  # drop the sent prefix of a segment's buffer past this


@dataclass(slots=True)
class _Segment:
    """The queued audio of one response: ``data[offset:]`` is still to be released."""

    key: str
    data: bytearray = field(default_factory=bytearray)
    offset: int = 0
    ended: bool = False
    begun: bool = False  # its first frame left (the codec's begin_response was called)

    @property
    def waiting(self) -> int:
        return len(self.data) - self.offset


class OutboundPacer:
    """The carrier's side of a bridge's outbound audio, paced by a send clock (see the module).

    ``stream`` is the call's carrier codec, already started; the pacer sends on it
    (``begin_response``, ``send_audio``, ``flush``, ``clear``) and takes its
    messages. ``max_ahead_ms`` (at least one frame) bounds the audio at the carrier;
    ``max_queued_ms`` the audio waiting here.
    """

    def __init__(
        self,
        stream: CarrierMediaStream,
        *,
        max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS,
        max_queued_ms: int = DEFAULT_MAX_QUEUED_MS,
    ) -> None:
        if type(max_ahead_ms) is not int or not FRAME_MS <= max_ahead_ms <= 60_000:
            raise ConfigError(
                "max_ahead_ms", f"must be an int from {FRAME_MS} to 60000, got {max_ahead_ms!r}"
            )
        if type(max_queued_ms) is not int or max_queued_ms < FRAME_MS:
            raise ConfigError(
                "max_queued_ms", f"must be an int of at least {FRAME_MS}, got {max_queued_ms!r}"
            )
        self.stream = stream
        self.max_ahead_ms = max_ahead_ms
        self._lead = (max_ahead_ms - FRAME_MS) / 1000  # playout_end may be this far ahead
        self._max_queued_bytes = max_queued_ms * FRAME_BYTES // FRAME_MS
        self._segments: deque[_Segment] = deque()
        self._queued_bytes = 0
        self._out: deque[str] = deque()
        self.playout_end = 0.0
        """When the carrier will have played every frame released so far (send clock)."""
        self.frames_sent = 0
        """Frames released to the carrier since the start."""
        self.unsent_ms = 0
        """Audio dropped here by :meth:`interrupt` before it was ever sent."""
        self.overflow_ms = 0
        """Audio refused by :meth:`push` because ``max_queued_ms`` was waiting."""
        self.clears = 0
        """Clears sent to the carrier."""

    # -- state -----------------------------------------------------------

    @property
    def queued_ms(self) -> int:
        """Audio waiting here, not yet released (a partial frame counts as a whole one)."""
        return -(-self._queued_bytes // FRAME_BYTES) * FRAME_MS

    @property
    def sent_ms(self) -> int:
        """Audio released to the carrier since the start (``frames_sent`` x 20 ms)."""
        return self.frames_sent * FRAME_MS

    def ahead_ms(self, now: float) -> float:
        """Audio released and (by our clock) not yet played by the carrier at ``now``."""
        return max(0.0, self.playout_end - now) * 1000

    @property
    def idle(self) -> bool:
        """Nothing waits here and no message waits to be sent."""
        return not self._segments and not self._out

    @property
    def open_response(self) -> str | None:
        """The key of the response :meth:`push` adds to, if it has not ended."""
        if self._segments and not self._segments[-1].ended:
            return self._segments[-1].key
        return None

    # -- the bridge's commands ---------------------------------------------

    def push(self, key: str, ulaw: bytes | bytearray | memoryview) -> None:
        """Queue μ-law (8 kHz) audio of response ``key``; a new key ends the open response.

        Audio past ``max_queued_ms`` waiting is dropped (counted in ``overflow_ms``).
        A key names one response: ``LocalProtocolError`` for a key that ended or was
        used before (nothing is queued)."""
        if self.stream.stopped:
            return
        last = self._segments[-1] if self._segments else None
        if last is None or last.key != key or last.ended:
            if self.stream.ledger.knows_response(key) or any(s.key == key for s in self._segments):
                raise LocalProtocolError(
                    f"response {key!r} was already queued; keys name one response"
                )
            if last is not None and not last.ended:
                self._end(last)
            last = _Segment(key)
            self._segments.append(last)
        room = self._max_queued_bytes - self._queued_bytes
        if len(ulaw) > room:
            self.overflow_ms += (len(ulaw) - room) * FRAME_MS // FRAME_BYTES
            ulaw = memoryview(ulaw)[:room]
        last.data += ulaw
        self._queued_bytes += len(ulaw)

    def end_response(self) -> None:
        """The open response's audio is complete: its last partial frame may leave."""
        if self._segments and not self._segments[-1].ended:
            self._end(self._segments[-1])

    def interrupt(self, now: float) -> None:
        """The caller barged in: drop every unreleased frame and untaken message, and
        queue the carrier's ``clear`` (the codec cuts its books at what was heard)."""
        for segment in self._segments:
            self.unsent_ms += -(-segment.waiting // FRAME_BYTES) * FRAME_MS
        self._segments.clear()
        self._queued_bytes = 0
        self._out.clear()
        self.playout_end = min(self.playout_end, now)  # the carrier drops what it holds
        stream = self.stream
        if stream.started is not None and not stream.stopped:
            stream.clear()
            self._out.extend(stream.data_to_send())
            self.clears += 1

    # -- the driver's side -------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` can next release a frame; ``None`` while no whole
        frame (or ended response's rest) waits."""
        return self.playout_end - self._lead if self._releasable() else None

    def handle_timer(self, now: float) -> None:
        """Release every frame due at ``now`` to the codec; their messages wait in
        :meth:`data_to_send`."""
        if self.stream.stopped:
            self._segments.clear()
            self._queued_bytes = 0
            return
        while self._releasable() and self.playout_end - self._lead <= now + 1e-9:
            self._release_frame()
            self.playout_end = max(self.playout_end, now) + _FRAME_S
        self._out.extend(self.stream.data_to_send())

    def data_to_send(self) -> list[str]:
        """The messages for the carrier, in order; send each as one text message."""
        out = list(self._out)
        self._out.clear()
        return out

    # -- inside -------------------------------------------------------------

    def _releasable(self) -> bool:
        """Whether a frame can leave (time aside): a whole one, or an ended response's rest.

        Only the head segment can be open or empty: a segment ends when a later one
        begins, and one that ends with nothing left is retired at once (``_end``)."""
        if not self._segments:
            return False
        head = self._segments[0]
        return head.waiting >= FRAME_BYTES or (head.ended and head.waiting > 0)

    def _end(self, segment: _Segment) -> None:
        """End the last segment; with nothing left to release it is retired now, and a
        response already begun is closed on the codec (its end mark leaves at once)."""
        segment.ended = True
        if segment.waiting:
            return
        self._segments.pop()
        if segment.begun and not self.stream.stopped:
            self.stream.flush()
            self._out.extend(self.stream.data_to_send())

    def _release_frame(self) -> None:
        head = self._segments[0]
        stream = self.stream
        if not head.begun:
            head.begun = True
            stream.begin_response(head.key)
        size = min(FRAME_BYTES, head.waiting)
        frame = bytes(head.data[head.offset : head.offset + size])
        head.offset += size
        self._queued_bytes -= size
        stream.send_audio(frame)
        self.frames_sent += 1
        if head.offset >= _COMPACT_AT:
            del head.data[: head.offset]
            head.offset = 0
        if head.ended and not head.waiting:  # the response's end: pad its rest, mark its end
            self._segments.popleft()
            stream.flush()
