"""A small jitter buffer for one audio stream, keyed by RTP sequence number.

Theory of operation
-------------------
Packets go in with :meth:`JitterBuffer.receive_data` in arrival order; frames
come out of :meth:`JitterBuffer.next_event` in sequence order, as soon as they
are next in line (no added delay when the network does not reorder). When the next expected packet is missing, later
packets wait until either the buffer holds ``window`` packets or the oldest
waiting one has waited ``max_delay`` seconds (the timer, see
:meth:`JitterBuffer.get_timer`). Then the gap is declared lost: one
:class:`JitterLoss` per missing packet, so the decoder conceals each (Opus PLC);
the loss right before a packet we hold carries that packet's payload as
``fec``, so the decoder can rebuild it from the in-band FEC. At most
``max_conceal`` losses are reported per gap; a longer gap is a discontinuity
and concealing seconds of audio would only add noise.

A packet older than the next expected one arrived too late (it was already
concealed, or it is a duplicate of one played): dropped and counted. A jump of
more than ``reset_distance`` sequence numbers either way is a restarted
stream: what is held is played out and the buffer follows the new numbering.

Bounded: never more than ``window`` packets held, and one input releases at
most ``window`` frames and ``max_conceal`` losses per gap (drain ``next_event``
after each input). Every drop is counted in ``stats``: ``received``,
``emitted``, ``lost``, ``late``, ``duplicate``, ``resets``.

Driving loop::

    jitter.receive_data(rtp_packet, now)      # each accepted RTP packet
    jitter.handle_timer(now)                  # when now >= jitter.get_timer()
    while (item := jitter.next_event()) is not None: decode or conceal it
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.rtp import RtpPacket, seq_distance

__all__ = ["JitterBuffer", "JitterFrame", "JitterItem", "JitterLoss"]


@dataclass(frozen=True, slots=True)
class JitterFrame:
    """A packet to decode, in order."""

    sequence: int
    timestamp: int
    payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class JitterLoss:
    """A packet that will not come: conceal one frame (``fec``: the next payload, for Opus FEC)."""

    sequence: int
    fec: bytes | None = field(default=None, repr=False)


JitterItem = JitterFrame | JitterLoss


class JitterBuffer:
    """Reorder within a small window and report gaps as losses.

    Driving loop: see the module docstring. ``window`` packets are held at most,
    each for ``max_delay`` seconds at most; a gap conceals ``max_conceal`` frames at
    most; a jump of more than ``reset_distance`` sequence numbers restarts the stream.
    """

    def __init__(
        self,
        *,
        window: int = 10,
        max_delay: float = 0.2,
        max_conceal: int = 5,
        reset_distance: int = 500,
    ) -> None:
        require("window", window >= 1, "at least 1 packet", window)
        require("max_delay", max_delay > 0, "a positive number of seconds", max_delay)
        require("max_conceal", max_conceal >= 0, "0 or more frames", max_conceal)
        require(
            "reset_distance",
            reset_distance > window,
            f"more than window ({window})",
            reset_distance,
        )
        self.window = window
        self.max_delay = max_delay
        self.max_conceal = max_conceal
        self.reset_distance = reset_distance
        self._next: int | None = None
        # sequence -> (timestamp, payload, arrival time)
        self._held: dict[int, tuple[int, bytes, float]] = {}
        self._events: deque[JitterItem] = deque()
        self.stats: dict[str, int] = dict.fromkeys(
            ("received", "emitted", "lost", "late", "duplicate", "resets"), 0
        )

    def __len__(self) -> int:
        return len(self._held)

    def receive_data(self, packet: RtpPacket, now: float) -> None:
        """Add one packet that arrived at ``now``.

        Then drain :meth:`next_event` (what can be decoded now, in order) and re-arm
        the timer from :meth:`get_timer`.
        """
        self.stats["received"] += 1
        sequence = packet.sequence
        if sequence == self._next and not self._held:
            # In order with nothing held (the common case): out at once, nothing stored.
            self._events.append(JitterFrame(sequence, packet.timestamp, packet.payload))
            self.stats["emitted"] += 1
            self._next = (sequence + 1) & 0xFFFF
            return
        if self._next is None:
            self._next = sequence
        distance = seq_distance(self._next, sequence)
        if -self.reset_distance <= distance < 0:
            self.stats["late"] += 1
            return
        if abs(distance) > self.reset_distance:
            self._play_out_all()
            self.stats["resets"] += 1
            self._next = sequence
        if sequence in self._held:
            self.stats["duplicate"] += 1
            return
        self._held[sequence] = (packet.timestamp, packet.payload, now)
        self._release(now)

    def next_event(self) -> JitterItem | None:
        """The next `JitterFrame` to decode or `JitterLoss` to conceal, in order; or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When held packets must be released even if the gap is not filled, or ``None``."""
        if not self._held:
            return None
        return min(arrival for _, _, arrival in self._held.values()) + self.max_delay

    def handle_timer(self, now: float) -> None:
        """Release what waited ``max_delay``; then drain :meth:`next_event`."""
        if self._next is None:
            return  # nothing received yet: nothing to release
        self._release(now)

    def flush(self) -> None:
        """Play out everything held (end of stream), gaps as losses; then drain
        :meth:`next_event`."""
        self._play_out_all()

    # -- internals -------------------------------------------------------

    def _drain(self) -> None:
        assert self._next is not None
        out = self._events
        while self._next in self._held:
            timestamp, payload, _ = self._held.pop(self._next)
            out.append(JitterFrame(self._next, timestamp, payload))
            self.stats["emitted"] += 1
            self._next = (self._next + 1) & 0xFFFF

    def _release(self, now: float) -> None:
        self._drain()
        while self._held:
            timer = self.get_timer()
            assert timer is not None
            if len(self._held) < self.window and now < timer:
                return
            self._skip_gap()
            self._drain()

    def _skip_gap(self) -> None:
        """Declare the packets up to the first held one lost."""
        assert self._next is not None
        first = min(self._held, key=lambda s: seq_distance(self._next or 0, s))
        missing = seq_distance(self._next, first)
        self.stats["lost"] += missing
        reported = min(missing, self.max_conceal)
        fec = self._held[first][1]
        for i in range(reported):
            seq = (first - reported + i) & 0xFFFF
            self._events.append(JitterLoss(seq, fec if i == reported - 1 else None))
        self._next = first

    def _play_out_all(self) -> None:
        while self._held:
            self._drain()
            if self._held:
                self._skip_gap()
