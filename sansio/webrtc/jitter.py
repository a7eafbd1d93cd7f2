"""A small jitter buffer for one audio stream, keyed by RTP sequence number.

Theory of operation
-------------------
Packets go in with :meth:`JitterBuffer.push` in arrival order; frames come out
in sequence order, as soon as they are next in line (no added delay when the
network does not reorder). When the next expected packet is missing, later
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

Bounded: never more than ``window`` packets held. Every drop is counted in
``stats``: ``received``, ``emitted``, ``lost``, ``late``, ``duplicate``, ``resets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adk_realtime.sansio.webrtc.rtp import seq_distance

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

    Driving loop: ``push()`` each accepted RTP packet and decode what it
    returns in order; arm a timer from :meth:`get_timer` and call
    :meth:`handle_timer` when it fires (it may release held frames).
    """

    def __init__(
        self,
        *,
        window: int = 10,
        max_delay: float = 0.2,
        max_conceal: int = 5,
        reset_distance: int = 500,
    ) -> None:
        if window < 1 or max_delay <= 0 or max_conceal < 0 or reset_distance <= window:
            raise ValueError("invalid jitter buffer bounds")
        self.window = window
        self.max_delay = max_delay
        self.max_conceal = max_conceal
        self.reset_distance = reset_distance
        self._next: int | None = None
        # sequence -> (timestamp, payload, arrival time)
        self._held: dict[int, tuple[int, bytes, float]] = {}
        self.stats: dict[str, int] = dict.fromkeys(
            ("received", "emitted", "lost", "late", "duplicate", "resets"), 0
        )

    def __len__(self) -> int:
        return len(self._held)

    def push(self, sequence: int, timestamp: int, payload: bytes, now: float) -> list[JitterItem]:
        """Add one packet; return what can be decoded now, in order (possibly nothing).

        Afterwards re-arm the timer from :meth:`get_timer`.
        """
        self.stats["received"] += 1
        out: list[JitterItem] = []
        if self._next is None:
            self._next = sequence
        distance = seq_distance(self._next, sequence)
        if -self.reset_distance <= distance < 0:
            self.stats["late"] += 1
            return out
        if abs(distance) > self.reset_distance:
            self._play_out_all(out)
            self.stats["resets"] += 1
            self._next = sequence
        if sequence in self._held:
            self.stats["duplicate"] += 1
            return out
        self._held[sequence] = (timestamp, payload, now)
        self._release(out, now)
        return out

    def get_timer(self) -> float | None:
        """When held packets must be released even if the gap is not filled, or ``None``."""
        if not self._held:
            return None
        return min(arrival for _, _, arrival in self._held.values()) + self.max_delay

    def handle_timer(self, now: float) -> list[JitterItem]:
        """Release what waited ``max_delay``; decode the returned items in order."""
        out: list[JitterItem] = []
        if self._next is None:
            return out  # nothing received yet: nothing to release
        self._release(out, now)
        return out

    def flush(self) -> list[JitterItem]:
        """Play out everything held (end of stream), gaps as losses."""
        out: list[JitterItem] = []
        self._play_out_all(out)
        return out

    # -- internals -------------------------------------------------------

    def _drain(self, out: list[JitterItem]) -> None:
        assert self._next is not None
        while self._next in self._held:
            timestamp, payload, _ = self._held.pop(self._next)
            out.append(JitterFrame(self._next, timestamp, payload))
            self.stats["emitted"] += 1
            self._next = (self._next + 1) & 0xFFFF

    def _release(self, out: list[JitterItem], now: float) -> None:
        self._drain(out)
        while self._held:
            timer = self.get_timer()
            assert timer is not None
            if len(self._held) < self.window and now < timer:
                return
            self._skip_gap(out)
            self._drain(out)

    def _skip_gap(self, out: list[JitterItem]) -> None:
        """Declare the packets up to the first held one lost."""
        assert self._next is not None
        first = min(self._held, key=lambda s: seq_distance(self._next or 0, s))
        missing = seq_distance(self._next, first)
        self.stats["lost"] += missing
        reported = min(missing, self.max_conceal)
        fec = self._held[first][1]
        for i in range(reported):
            seq = (first - reported + i) & 0xFFFF
            out.append(JitterLoss(seq, fec if i == reported - 1 else None))
        self._next = first

    def _play_out_all(self, out: list[JitterItem]) -> None:
        while self._held:
            self._drain(out)
            if self._held:
                self._skip_gap(out)
