"""SCTP data path: the send queue with congestion control, and the receive queue.

Theory of operation. The association (``association.py``) owns the lifecycle; these two
classes own the bytes once the association is up, and neither knows about
packets, timers or states:

* :class:`OutboundQueue` cuts each user message into DATA chunks that fit the
  MTU, numbers them (TSN, and SSN for ordered messages), and holds every chunk
  until the peer's cumulative ack covers it. ``transmit(now)`` hands out the
  chunks that the congestion window (RFC 4960 7.2) and the peer's receive window
  (6.1) allow, retransmissions first; ``on_sack`` applies a SACK (RTT sample,
  cwnd growth, miss indications and fast retransmit, 7.2.4); ``on_t3_expiry``
  marks everything outstanding for retransmission and collapses cwnd (6.3.3).
* :class:`InboundQueue` records which TSNs arrived (cumulative point, gap
  blocks, duplicates), reassembles fragments (B/E flags) and releases whole
  messages in SSN order per stream (unordered ones at once). It refuses chunks
  that would overflow the advertised window, so memory stays bounded.

TSNs and SSNs are kept internally as unbounded integers ("unwrapped") and
reduced modulo 2**32 / 2**16 only on the wire, which makes comparisons plain.
"""

from __future__ import annotations

import heapq
import struct
from collections import deque

from adk_realtime.sansio.webrtc.sctp.chunks import (
    FLAG_BEGIN,
    FLAG_END,
    FLAG_UNORDERED,
    DataChunk,
    SackChunk,
    SctpError,
)

_M32 = 0xFFFFFFFF
_pad = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")


def unwrap32(value: int, near: int) -> int:
    """The unwrapped integer congruent to ``value`` mod 2**32 closest to ``near``."""
    return near + ((value - near + 0x80000000) & _M32) - 0x80000000


class OutChunk:
    """One DATA chunk we sent or will send, encoded once."""

    __slots__ = (
        "acked",
        "fast_done",
        "in_flight",
        "misses",
        "rtx",
        "sent_count",
        "size",
        "stream_id",
        "tsn",
        "wire",
    )

    def __init__(self, tsn: int, stream_id: int, size: int, wire: bytes) -> None:
        self.tsn = tsn
        self.stream_id = stream_id
        self.size = size  # user data bytes: what cwnd, rwnd and buffered amounts count
        self.wire = wire
        self.sent_count = 0
        self.acked = False  # covered by a gap-ack block
        self.in_flight = False
        self.rtx = False  # marked for retransmission
        self.misses = 0
        self.fast_done = False


class OutboundQueue:
    """Send side: fragmentation, TSN assignment, retransmission and congestion control."""

    def __init__(self, *, initial_tsn: int, mtu: int, peer_rwnd: int, max_burst: int = 4) -> None:
        self.mtu = mtu
        self.max_payload = (mtu - 12 - 16) & ~3
        self.next_tsn = initial_tsn
        self.cum_acked = initial_tsn - 1
        self.pending: deque[OutChunk] = deque()  # numbered, never sent
        self.sent: deque[OutChunk] = deque()  # sent at least once, above the cumulative ack
        self._rtx_heap: list[tuple[int, OutChunk]] = []
        self._fast_burst = False
        self.flight = 0
        self.cwnd = min(4 * mtu, max(2 * mtu, 4380))  # RFC 4960 7.2.1
        self.ssthresh = peer_rwnd
        self.partial_bytes_acked = 0
        self.peer_rwnd = peer_rwnd
        self.max_burst = max_burst
        self.fast_recovery_exit: int | None = None
        self.buffered = 0
        self.stream_buffered: dict[int, int] = {}
        self._ssn: dict[int, int] = {}
        self._rtt: tuple[int, float] | None = None  # (tsn, time sent) of the timed chunk
        self.retransmissions = 0
        self.fast_retransmissions = 0

    # --- enqueue -----------------------------------------------------------------------

    def enqueue(self, stream_id: int, data: bytes, ppid: int, ordered: bool) -> None:
        """Fragment one message into numbered DATA chunks at the tail of the queue."""
        ssn = self._ssn.get(stream_id, 0) if ordered else 0
        if ordered:
            self._ssn[stream_id] = (ssn + 1) & 0xFFFF
        unordered = 0 if ordered else FLAG_UNORDERED
        view = memoryview(data)
        total = len(data)
        step = self.max_payload
        pos = 0
        while True:
            piece = view[pos : pos + step]
            flags = unordered | (FLAG_BEGIN if pos == 0 else 0)
            pos += step
            if pos >= total:
                flags |= FLAG_END
            n = len(piece)
            length = 16 + n
            tsn = self.next_tsn
            head = struct.pack(
                "!BBHIHHI", 0, flags, length, tsn & _M32, stream_id, ssn, ppid & _M32
            )
            self.pending.append(OutChunk(tsn, stream_id, n, head + piece + _pad[length & 3]))
            self.next_tsn = tsn + 1
            if pos >= total:
                break
        self.buffered += total
        self.stream_buffered[stream_id] = self.stream_buffered.get(stream_id, 0) + total

    def reset_ssn(self, stream_id: int) -> None:
        """Our outgoing stream was reset (RFC 6525): its next SSN is 0 again."""
        self._ssn.pop(stream_id, None)

    @property
    def outstanding(self) -> bool:
        """True while any DATA chunk has not been covered by the peer's cumulative ack."""
        return bool(self.sent or self.pending)

    # --- transmit ----------------------------------------------------------------------

    def _mark_sent(self, c: OutChunk, now: float) -> None:
        if c.sent_count == 0:
            self.sent.append(c)
            if self._rtt is None:
                self._rtt = (c.tsn, now)
        else:
            self.retransmissions += 1
            if self._rtt is not None and self._rtt[0] == c.tsn:
                self._rtt = None  # Karn: never time a retransmitted chunk
        c.sent_count += 1
        c.rtx = False
        c.in_flight = True
        c.misses = 0
        self.flight += c.size
        self.peer_rwnd = max(0, self.peer_rwnd - c.size)

    def _next_rtx(self) -> OutChunk | None:
        heap = self._rtx_heap
        while heap:
            c = heap[0][1]
            if c.rtx and not c.acked and c.tsn > self.cum_acked:
                return c
            heapq.heappop(heap)
        return None

    def transmit(self, now: float, *, allow_new: bool = True) -> list[OutChunk]:
        """Chunks to put on the wire now, in order; the caller packs them into packets."""
        out: list[OutChunk] = []
        if self._fast_burst:  # one packet of fast retransmissions, whatever cwnd says
            self._fast_burst = False
            space = self.mtu - 12
            while (c := self._next_rtx()) is not None and len(c.wire) <= space:
                heapq.heappop(self._rtx_heap)
                space -= len(c.wire)
                self._mark_sent(c, now)
                out.append(c)
        # Max.Burst (RFC 4960 6.1): never let a single call dump a whole stale cwnd.
        if self.flight + self.max_burst * self.mtu < self.cwnd:
            self.cwnd = self.flight + self.max_burst * self.mtu
        while self.flight < self.cwnd:
            c = self._next_rtx()
            if c is not None:
                heapq.heappop(self._rtx_heap)
            elif allow_new and self.pending:
                c = self.pending[0]
                if c.size > self.peer_rwnd and self.flight > 0:
                    break  # peer's window is full; a lone chunk may probe it when idle
                self.pending.popleft()
            else:
                break
            self._mark_sent(c, now)
            out.append(c)
        return out

    # --- acknowledgements --------------------------------------------------------------

    def on_sack(self, sack: SackChunk) -> tuple[bool, int, float | None]:
        """Apply a SACK: returns (valid, newly acked bytes, send time of the timed chunk).

        The third item is not None when the chunk being timed for RTT was acked.

        ``valid`` is False for a stale SACK (its cumulative ack is behind ours) or
        one that acks TSNs never sent; such a SACK changes nothing.
        """
        cum = unwrap32(sack.cumulative_tsn, self.cum_acked)
        highest_sent = self.sent[-1].tsn if self.sent else self.cum_acked
        if cum < self.cum_acked or cum > highest_sent:
            return False, 0, None
        for start, end in sack.gaps:
            if start == 0 or end < start or cum + end > highest_sent:
                return False, 0, None
        flight_before = self.flight
        cum_advanced = cum > self.cum_acked
        acked_bytes, htna, timed = self._ack_cumulative(cum)
        gap_bytes, gap_htna, highest_reported = self._ack_gaps(sack, cum)
        acked_bytes += gap_bytes
        htna = max(htna, gap_htna)
        if timed is not None:
            self._rtt = None
        # Miss indications (RFC 4960 7.2.4, with the HTNA rule; in fast recovery a
        # SACK that advances the cumulative ack counts every reported gap).
        limit = htna
        if self.fast_recovery_exit is not None and cum_advanced:
            limit = max(limit, highest_reported)
        fast = self._miss_indications(limit)
        if self.fast_recovery_exit is not None and cum >= self.fast_recovery_exit:
            self.fast_recovery_exit = None
        if acked_bytes and self.fast_recovery_exit is None:
            self._grow_cwnd(acked_bytes, cum_advanced, flight_before)
        if self.flight == 0:
            self.partial_bytes_acked = 0
        if fast:
            self._fast_retransmit(fast)
        self.peer_rwnd = max(0, sack.a_rwnd - self.flight)
        return True, acked_bytes, timed

    def _ack_cumulative(self, cum: int) -> tuple[int, int, float | None]:
        """Drop every chunk up to ``cum``: (newly acked bytes, highest TSN newly acked or
        -1, send time of the timed chunk if it was among them)."""
        acked_bytes = 0
        htna = -1
        timed: float | None = None
        sent = self.sent
        while sent and sent[0].tsn <= cum:
            c = sent.popleft()
            if not c.acked:
                acked_bytes += c.size
                htna = c.tsn
            if c.in_flight:
                self.flight -= c.size
            if self._rtt is not None and c.tsn == self._rtt[0]:
                timed = self._rtt[1]
            self.buffered -= c.size
            left = self.stream_buffered[c.stream_id] - c.size
            if left:
                self.stream_buffered[c.stream_id] = left
            else:
                del self.stream_buffered[c.stream_id]
        self.cum_acked = cum
        return acked_bytes, htna, timed

    def _ack_gaps(self, sack: SackChunk, cum: int) -> tuple[int, int, int]:
        """Mark the chunks the gap-ack blocks cover: (newly acked bytes, highest TSN
        newly acked or -1, highest TSN reported)."""
        acked_bytes = 0
        htna = -1
        highest_reported = cum
        sent = self.sent
        if not sent:
            return acked_bytes, htna, highest_reported
        base = sent[0].tsn
        for start, end in sack.gaps:
            highest_reported = max(highest_reported, cum + end)
            for tsn in range(cum + start, cum + end + 1):
                c = sent[tsn - base]
                if not c.acked:
                    c.acked = True
                    acked_bytes += c.size
                    htna = max(htna, tsn)
                    if c.in_flight:
                        c.in_flight = False
                        self.flight -= c.size
                    c.rtx = False
        return acked_bytes, htna, highest_reported

    def _miss_indications(self, limit: int) -> list[OutChunk]:
        """Count a miss for every unacked chunk in flight below ``limit``; the ones at
        three misses that were not fast-retransmitted yet."""
        fast: list[OutChunk] = []
        for c in self.sent:
            if c.tsn >= limit:
                break
            if not c.acked and c.in_flight:
                c.misses += 1
                if c.misses >= 3 and not c.fast_done:
                    fast.append(c)
        return fast

    def _grow_cwnd(self, acked_bytes: int, cum_advanced: bool, flight_before: int) -> None:
        """Congestion control (RFC 4960 7.2.1, 7.2.2): grow only when the window was in use."""
        if self.cwnd <= self.ssthresh:
            if cum_advanced and flight_before >= self.cwnd:
                self.cwnd += min(acked_bytes, self.mtu)
        else:
            self.partial_bytes_acked += acked_bytes
            if self.partial_bytes_acked >= self.cwnd and flight_before >= self.cwnd:
                self.partial_bytes_acked -= self.cwnd
                self.cwnd += self.mtu

    def _fast_retransmit(self, fast: list[OutChunk]) -> None:
        """Enter fast recovery (once) and queue ``fast`` for the next transmit (7.2.4)."""
        if self.fast_recovery_exit is None:
            self.ssthresh = max(self.cwnd // 2, 4 * self.mtu)
            self.cwnd = self.ssthresh
            self.partial_bytes_acked = 0
            self.fast_recovery_exit = self.sent[-1].tsn
        for c in fast:
            c.fast_done = True
            c.in_flight = False
            c.rtx = True
            self.flight -= c.size
            heapq.heappush(self._rtx_heap, (c.tsn, c))
            if self._rtt is not None and self._rtt[0] == c.tsn:
                self._rtt = None
        self.fast_retransmissions += len(fast)
        self._fast_burst = True

    def on_t3_expiry(self) -> int:
        """T3-rtx fired: mark every unacked chunk for retransmission; returns how many."""
        self.ssthresh = max(self.cwnd // 2, 4 * self.mtu)
        self.cwnd = self.mtu
        self.partial_bytes_acked = 0
        self.fast_recovery_exit = None
        self._rtt = None
        marked = 0
        for c in self.sent:
            if not c.acked:
                if not c.rtx:
                    c.rtx = True
                    heapq.heappush(self._rtx_heap, (c.tsn, c))
                c.in_flight = False
                c.misses = 0
                c.fast_done = False  # a new round: fast retransmit may help it again
                marked += 1
        self.flight = 0
        return marked


class _InChunk:
    __slots__ = ("data", "flags", "ppid", "size", "ssn", "start", "stream_id", "tsn")

    def __init__(self, c: DataChunk, tsn: int) -> None:
        self.tsn = tsn
        self.stream_id = c.stream_id
        self.ssn = c.ssn
        self.ppid = c.ppid
        self.flags = c.flags
        self.data = c.user_data
        self.start: int | None = None  # TSN of the B fragment this one is contiguous with
        self.size = 0  # bytes from that B fragment up to and including this one


class InboundQueue:
    """Receive side: TSN bookkeeping for SACKs, reassembly, per-stream ordering."""

    NEW, DUPLICATE, NO_ROOM = 0, 1, 2

    def __init__(self, *, peer_initial_tsn: int, window: int, max_message_size: int) -> None:
        self.cum = peer_initial_tsn - 1
        self.window = window
        self.max_message_size = max_message_size
        self.above: set[int] = set()
        self.duplicates: list[int] = []
        self.held = 0  # bytes in reassembly and waiting for an earlier SSN
        self.app_bytes = 0  # bytes delivered as events the application has not taken yet
        self._chunks: dict[int, _InChunk] = {}
        self._next_ssn: dict[int, int] = {}
        self._ready: dict[int, dict[int, tuple[int, bytes]]] = {}
        self.messages: deque[tuple[int, int, bytes]] = deque()  # (stream, ppid, data)

    @property
    def a_rwnd(self) -> int:
        """Receive window to advertise: what is left of ``window``."""
        return max(0, self.window - self.held - self.app_bytes)

    def receive(self, chunk: DataChunk) -> int:
        """Take one DATA chunk; returns NEW, DUPLICATE or NO_ROOM (dropped, not acked).

        Complete messages are appended to ``messages``. Raises :class:`SctpError`
        when the peer broke the fragmentation rules (the caller should abort).
        """
        tsn = unwrap32(chunk.tsn, self.cum)
        if tsn <= self.cum or tsn in self.above:
            if len(self.duplicates) < 16:
                self.duplicates.append(chunk.tsn)
            return self.DUPLICATE
        size = len(chunk.user_data)
        if tsn - self.cum > 0xFFFF:
            return self.NO_ROOM  # beyond what a gap-ack block can report
        if self.held + self.app_bytes + size > self.window:
            # Full: still take the next in-sequence chunk so reassembly can finish,
            # unless the application itself is sitting on a full window.
            if tsn != self.cum + 1 or self.app_bytes >= self.window:
                return self.NO_ROOM
            if self.held > self.window + self.max_message_size:
                return self.NO_ROOM
        if tsn == self.cum + 1:
            self.cum = tsn
            above = self.above
            while self.cum + 1 in above:
                self.cum += 1
                above.discard(self.cum)
        else:
            self.above.add(tsn)
        flags = chunk.flags
        if flags & 3 == 3:  # unfragmented: skip the reassembly table
            self._deliver(chunk.stream_id, chunk.ssn, chunk.ppid, flags, chunk.user_data)
            return self.NEW
        c = _InChunk(chunk, tsn)
        self._chunks[tsn] = c
        self.held += size
        if flags & FLAG_BEGIN:
            c.start, c.size = tsn, size
        else:
            prev = self._chunks.get(tsn - 1)
            if prev is not None and prev.start is not None and not prev.flags & FLAG_END:
                self._check_same_message(prev, c)
                c.start, c.size = prev.start, prev.size + size
        if c.start is None:
            return self.NEW
        cur = c
        while not cur.flags & FLAG_END:
            nxt = self._chunks.get(cur.tsn + 1)
            if nxt is None or nxt.flags & FLAG_BEGIN:
                break
            self._check_same_message(cur, nxt)
            nxt.start, nxt.size = cur.start, cur.size + len(nxt.data)
            cur = nxt
        if cur.size > self.max_message_size:
            raise SctpError(
                f"peer sent a message on stream {cur.stream_id} longer than "
                f"max_message_size ({self.max_message_size} bytes)"
            )
        if cur.flags & FLAG_END:
            assert cur.start is not None
            parts = [self._chunks.pop(t).data for t in range(cur.start, cur.tsn + 1)]
            self.held -= cur.size
            self._deliver(cur.stream_id, cur.ssn, cur.ppid, cur.flags, b"".join(parts))
        return self.NEW

    @staticmethod
    def _check_same_message(a: _InChunk, b: _InChunk) -> None:
        if (
            a.stream_id != b.stream_id
            or (a.flags ^ b.flags) & FLAG_UNORDERED
            or (not a.flags & FLAG_UNORDERED and a.ssn != b.ssn)
        ):
            raise SctpError(
                f"fragments at TSN {a.tsn & _M32} and {b.tsn & _M32} disagree on stream, "
                "SSN or ordering"
            )

    def _deliver(self, sid: int, ssn: int, ppid: int, flags: int, data: bytes) -> None:
        if flags & FLAG_UNORDERED:
            self.messages.append((sid, ppid, data))
            return
        expected = self._next_ssn.get(sid, 0)
        s = expected + ((ssn - expected + 0x8000) & 0xFFFF) - 0x8000
        if s == expected:
            self.messages.append((sid, ppid, data))
            expected += 1
            ready = self._ready.get(sid)
            while ready and expected in ready:
                ppid2, data2 = ready.pop(expected)
                self.held -= len(data2)
                self.messages.append((sid, ppid2, data2))
                expected += 1
            self._next_ssn[sid] = expected
        elif s > expected:
            self._ready.setdefault(sid, {})[s] = (ppid, data)
            self.held += len(data)
        # s < expected: an SSN we already delivered under a fresh TSN; the peer is
        # confused (or reset without telling us). Nothing sensible to deliver.

    def reset_stream(self, sid: int) -> None:
        """The peer reset its outgoing stream ``sid`` (RFC 6525): SSNs start at 0."""
        self._next_ssn.pop(sid, None)
        for _ppid, data in self._ready.pop(sid, {}).values():
            self.held -= len(data)

    def make_sack(self, max_gap_blocks: int) -> SackChunk:
        """A SACK for what has arrived; clears the duplicate list."""
        gaps: list[tuple[int, int]] = []
        if self.above:
            cum = self.cum
            run_start = run_end = -1
            for tsn in sorted(self.above):
                if tsn == run_end + 1:
                    run_end = tsn
                    continue
                if run_start >= 0:
                    gaps.append((run_start - cum, run_end - cum))
                run_start = run_end = tsn
            gaps.append((run_start - cum, run_end - cum))
            del gaps[max_gap_blocks:]
        dups = tuple(self.duplicates)
        self.duplicates.clear()
        return SackChunk(self.cum & _M32, self.a_rwnd, tuple(gaps), dups)
