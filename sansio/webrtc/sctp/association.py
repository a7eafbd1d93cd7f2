"""Sans-IO SCTP association for WebRTC data channels (RFC 8261 over DTLS; RFC 9260 subset).

Theory of operation
-------------------
One :class:`SctpAssociation` is one SCTP association between two fixed ports,
carried inside DTLS application data: every ``bytes`` in or out is exactly one
SCTP packet. Nothing here reads a clock; every input carries ``now``.

Driving loop (what a driver does, in this order, forever)::

    assoc.connect(now)                          # once, on the DTLS client (both may)
    assoc.receive_data(dtls_plaintext, now)     # for each DTLS record received
    assoc.handle_timer(now)                     # when now >= assoc.get_timer()
    assoc.send(stream_id, data, ppid, now)      # commands carry the time they happen
    while (ev := assoc.next_event()) is not None: ...
    for pkt in assoc.data_to_send(): dtls.send(pkt)

Every input and command carries ``now``; ``data_to_send`` stamps what it
transmits (RTT sample, T3) with the latest of them, which is the time of the
call that produced the output.

States: RFC 4960 4, defined in ``states`` (the table, the one function reading
it); ``_set_state`` is the only place here that changes state.

Deliberate deviations, for lossy paths: an ack of new data drops the T3
back-off at once (RFC 4960 waits for a fresh RTT sample, which Karn's rule can
withhold for many round trips), and any packet from the peer postpones the
heartbeat, so a side that only sends SACKs is not declared dead by heartbeats.

The responder keeps no state before its cookie comes back, and simultaneous
INITs converge because each side answers every INIT with its one tag (see
``handshake``).

This file owns the association's life (``_set_state``), chunk dispatch, the
timers (T2-shutdown, T3-rtx, delayed SACK, heartbeat, RE-CONFIG) and packet
assembly. Around it, each a piece with explicit inputs and outputs that never
touches the association: ``handshake`` (INIT to COOKIE-ACK and T1: decides each
step, which ``_apply_setup`` carries out), ``chunks`` (wire codec, CRC32c, state
cookie), ``queues`` (send queue with congestion control; receive queue with
reassembly), ``reconfig`` (stream-reset bookkeeping, whose outcomes
``_apply_reconfig`` carries out), ``path`` (RTO, error counter, heartbeats),
``states`` (the state machine's table) and ``events`` (events, counters).
"""

from __future__ import annotations

import random
from collections import deque

from adk_realtime.sansio.errors import LocalProtocolError
from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.sctp.chunks import (
    CAUSE_STALE_COOKIE,
    CAUSE_USER_ABORT,
    FLAG_T,
    AbortChunk,
    Chunk,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitAckChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    SctpError,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    StateCookie,
    UnknownChunk,
    encode_packet,
    pack_chunks,
    parse_packet,
)
from adk_realtime.sansio.webrtc.sctp.events import (
    AssociationClosed,
    AssociationEstablished,
    AssociationFailed,
    BufferedAmountLow,
    DataReceived,
    SctpBufferFull,
    SctpEvent,
    SctpStats,
    StreamReset,
)
from adk_realtime.sansio.webrtc.sctp.handshake import Handshake, SetupStep
from adk_realtime.sansio.webrtc.sctp.path import PathMonitor
from adk_realtime.sansio.webrtc.sctp.queues import InboundQueue, OutboundQueue
from adk_realtime.sansio.webrtc.sctp.reconfig import ReconfigOutcome, StreamResetter
from adk_realtime.sansio.webrtc.sctp.states import (
    DATA_IN_STATES,
    DATA_OUT_STATES,
    SEND_STATES,
    UP_STATES,
    SctpState,
    Trigger as _T,
    next_state,
)

__all__ = [
    "AssociationClosed",
    "AssociationEstablished",
    "AssociationFailed",
    "BufferedAmountLow",
    "DataReceived",
    "SctpAssociation",
    "SctpBufferFull",
    "SctpError",
    "SctpEvent",
    "SctpState",
    "SctpStats",
    "StreamReset",
]

_M32 = 0xFFFFFFFF


class SctpAssociation:
    """One SCTP association (see the module docstring for the driving loop).

    ``rng`` supplies the verification tag, initial TSN and cookie secret: pass
    ``random.SystemRandom()`` in production, a seeded ``random.Random`` in tests.
    ``mtu`` is the largest SCTP packet we build (DTLS overhead comes on top).
    """

    def __init__(
        self,
        *,
        is_client: bool,
        local_port: int = 5000,
        remote_port: int = 5000,
        max_message_size: int = 262144,
        rng: random.Random,
        mtu: int = 1200,
        max_buffered: int = 1 << 20,
        receive_window: int = 1 << 20,
        streams: int = 65535,
        rto_initial: float = 1.0,
        rto_min: float = 1.0,
        rto_max: float = 60.0,
        max_retransmits: int = 10,
        max_init_retransmits: int = 8,
        heartbeat_interval: float = 30.0,
        cookie_lifetime: float = 60.0,
    ) -> None:
        require("mtu", 256 <= mtu <= 65535, "256-65535 bytes", mtu)
        require("local_port", 0 < local_port < 65536, "1-65535", local_port)
        require("remote_port", 0 < remote_port < 65536, "1-65535", remote_port)
        require("max_message_size", max_message_size > 0, "a positive size", max_message_size)
        at_least = f"at least max_message_size ({max_message_size})"
        require("max_buffered", max_buffered >= max_message_size, at_least, max_buffered)
        require("receive_window", receive_window >= max_message_size, at_least, receive_window)
        require("streams", 1 <= streams <= 65535, "1-65535", streams)
        self.is_client = is_client
        self.local_port = local_port
        self.remote_port = remote_port
        self.max_message_size = max_message_size
        self.max_buffered = max_buffered
        self.buffered_amount_low_threshold = max(
            0, min(max_buffered // 2, max_buffered - max_message_size)
        )
        self.stats = SctpStats()
        self._mtu = mtu
        self._window = receive_window
        self._streams = streams
        self._local_tag = rng.getrandbits(32) or 1
        self._initial_tsn = rng.getrandbits(32)
        secret = rng.getrandbits(256).to_bytes(32, "big")
        self._path = PathMonitor(
            rto_initial=rto_initial, rto_min=rto_min, rto_max=rto_max,
            max_retransmits=max_retransmits, heartbeat_interval=heartbeat_interval,
            nonce=rng.getrandbits(64),
        )  # fmt: skip
        self._setup = Handshake(
            local_tag=self._local_tag, initial_tsn=self._initial_tsn, secret=secret,
            window=receive_window, streams=streams, rto_initial=rto_initial, rto_max=rto_max,
            max_init_retransmits=max_init_retransmits, cookie_lifetime=cookie_lifetime,
            stats=self.stats,
        )  # fmt: skip
        self._state = SctpState.CLOSED
        self._now = 0.0
        self._events: deque[SctpEvent] = deque()
        self._packets: list[bytes] = []  # fully built packets (INIT, INIT-ACK, ABORT, ...)
        self._control: list[bytes] = []  # chunks for the next normal packet
        self._timers: dict[str, float] = {}
        # peer, known after INIT-ACK or a valid cookie
        self._peer_tag: int | None = None
        self._peer_reconfig = False
        self.outbound_streams = streams
        self.inbound_streams = streams
        self._out = OutboundQueue(initial_tsn=self._initial_tsn, mtu=mtu, peer_rwnd=receive_window)
        self._in: InboundQueue | None = None
        self._t2_chunk = b""
        self._sack_needed = False
        self._data_packets_unacked = 0
        self._low_armed = False
        self._refused = 0
        self._resets = StreamResetter(self._initial_tsn)

    # --- public properties -------------------------------------------------------------

    @property
    def state(self) -> SctpState:
        """Current association state."""
        return self._state

    @property
    def buffered_amount(self) -> int:
        """User bytes queued or sent but not yet acknowledged by the peer."""
        return self._out.buffered

    def stream_buffered_amount(self, stream_id: int) -> int:
        """The part of ``buffered_amount`` that belongs to ``stream_id``."""
        return self._out.stream_buffered.get(stream_id, 0)

    def stream_is_resetting(self, stream_id: int) -> bool:
        """True while our reset of ``stream_id`` waits for the peer's answer."""
        return stream_id in self._resets.resetting

    @property
    def rto(self) -> float:
        """Current retransmission timeout (seconds)."""
        return self._path.rto

    @property
    def peer_supports_reconfig(self) -> bool:
        """True once the peer advertised RE-CONFIG (needed by ``reset_streams``)."""
        return self._peer_reconfig

    @property
    def cwnd(self) -> int:
        """Congestion window, bytes (for tests and diagnostics)."""
        return self._out.cwnd

    # --- commands ----------------------------------------------------------------------

    def connect(self, now: float) -> None:
        """Start the handshake by sending INIT. Then call ``data_to_send()``.

        Call on the DTLS client; the DTLS server may call it too (WebRTC peers
        often both do) and the INIT collision is resolved by the cookies. A call
        once the handshake is under way (or done) does nothing.
        """
        if self._state in (SctpState.COOKIE_WAIT, SctpState.COOKIE_ECHOED, SctpState.ESTABLISHED):
            return
        self._now = now
        self._set_state(_T.CONNECT)
        self._apply_setup(self._setup.start(now))

    def send(
        self, stream_id: int, data: bytes, ppid: int, now: float, *, ordered: bool = True
    ) -> None:
        """Queue one message at time ``now``; then call ``data_to_send()``.

        Raises :class:`SctpBufferFull` (nothing queued) if ``buffered_amount``
        would exceed ``max_buffered``; wait for :class:`BufferedAmountLow`.
        Messages queued before the association is up go out once it is.
        """
        if self._state not in SEND_STATES:
            raise LocalProtocolError(
                f"cannot send on an association in state {self._state.value}; "
                "open a new association"
            )
        if not 0 <= stream_id < self.outbound_streams:
            raise LocalProtocolError(
                f"stream id {stream_id} out of range (0..{self.outbound_streams - 1})"
            )
        if stream_id in self._resets.resetting:
            raise LocalProtocolError(f"stream {stream_id} is being reset; open another stream")
        if not 0 <= ppid <= _M32:
            raise LocalProtocolError(f"ppid {ppid} does not fit in 32 bits")
        n = len(data)
        if n == 0:
            raise LocalProtocolError("SCTP cannot carry an empty message (DCEP uses PPID 56/57)")
        if n > self.max_message_size:
            raise LocalProtocolError(
                f"message of {n} bytes exceeds max_message_size ({self.max_message_size})"
            )
        self._now = now
        if self._out.buffered + n > self.max_buffered:
            self._refused = n
            raise SctpBufferFull(
                f"SCTP send buffer holds {self._out.buffered} bytes; {n} more would exceed "
                f"max_buffered ({self.max_buffered}); wait for BufferedAmountLow"
            )
        self._out.enqueue(stream_id, bytes(data), ppid, ordered)
        if self._out.buffered > self.buffered_amount_low_threshold:
            self._low_armed = True

    def reset_streams(self, stream_ids: list[int] | tuple[int, ...], now: float) -> None:
        """Reset our outgoing streams (RFC 6525) at ``now``, e.g. to close data channels.

        The peer sees a ``StreamReset``; sending on these streams is refused
        until the peer confirms. Then call ``data_to_send()``.
        """
        if self._state is not SctpState.ESTABLISHED:
            raise LocalProtocolError(f"cannot reset streams in state {self._state.value}")
        if not self._peer_reconfig:
            raise LocalProtocolError("the peer did not advertise RE-CONFIG; cannot reset streams")
        for sid in stream_ids:
            if not 0 <= sid < self.outbound_streams:
                raise LocalProtocolError(f"stream id {sid} out of range")
        self._now = now
        self._resets.add(stream_ids)
        self._next_reconfig()

    def shutdown(self, now: float) -> None:
        """Close gracefully (from ``now``) once all queued data is acknowledged.

        Keep driving the loop (``data_to_send``, timers) until ``AssociationClosed``.
        """
        self._now = now
        if self._state is SctpState.ESTABLISHED:
            self._set_state(_T.SHUTDOWN_CALLED)
            self._progress_shutdown()
        elif self._state in (SctpState.CLOSED, SctpState.COOKIE_WAIT, SctpState.COOKIE_ECHOED):
            self._terminate(AssociationClosed(), abort_reason="shutdown before established")

    def abort(self, reason: str = "") -> None:
        """End now, dropping queued data; emits AssociationClosed.

        Call ``data_to_send()`` once more to get the ABORT packet out.
        """
        if self._state is not SctpState.TERMINATED:
            self._terminate(AssociationClosed(), abort_reason=reason or "user abort")

    # --- outputs -----------------------------------------------------------------------

    def next_event(self) -> SctpEvent | None:
        """The next event, or None. Call ``data_to_send()`` after draining events."""
        if not self._events:
            return None
        ev = self._events.popleft()
        if isinstance(ev, DataReceived) and self._in is not None:
            before = self._in.a_rwnd
            self._in.app_bytes -= len(ev.data)
            # Window update: tell a stalled sender the window opened again.
            if before < self._window // 4 <= self._window // 2 <= self._in.a_rwnd:
                self._sack_needed = True
        return ev

    def get_timer(self) -> float | None:
        """When ``handle_timer`` should next be called (monotonic seconds), or None."""
        t1 = self._setup.t1_at
        earliest = min(self._timers.values(), default=None)
        if t1 is None or (earliest is not None and earliest < t1):
            return earliest
        return t1

    def data_to_send(self) -> list[bytes]:
        """SCTP packets to send now, in order, each to become one DTLS record.

        What goes out is timed (RTT sample, T3) at the ``now`` of the latest input
        or command, the one that produced it.
        """
        now = self._now
        out = self._packets
        self._packets = []
        if self._peer_tag is not None and self._state is not SctpState.TERMINATED:
            data = []
            if self._state in DATA_OUT_STATES:
                data = self._out.transmit(now)
                self.stats.retransmissions = self._out.retransmissions
                if data:
                    self._timers.setdefault("t3", now + self._path.rto)
                    self._timers["hb"] = self._path.next_heartbeat(now)
            chunks: list[bytes] = []
            if self._in is not None and (self._sack_needed or (data and "sack" in self._timers)):
                chunks.append(self._in.make_sack((self._mtu - 32) // 4).encode())
                self._sack_needed = False
                self._data_packets_unacked = 0
                self._timers.pop("sack", None)
            chunks += self._control
            self._control.clear()
            chunks += [c.wire for c in data]
            ports = (self.local_port, self.remote_port)
            out += pack_chunks(*ports, self._peer_tag, chunks, self._mtu)
        self.stats.packets_sent += len(out)
        return out

    # --- timers ------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``; then drain events and call ``data_to_send``."""
        self._now = now
        due = [(name, when) for name, when in self._timers.items() if when <= now]
        t1 = self._setup.t1_at
        if t1 is not None and t1 <= now:
            due.append(("t1", t1))
        for name, when in sorted(due, key=lambda item: item[1]):
            if name == "t1":
                if self._setup.t1_at == when:
                    self._apply_setup(self._setup.on_t1(self._state, now))
            elif self._timers.get(name) == when:
                del self._timers[name]
                getattr(self, "_on_" + name)(now)
            if self._state is SctpState.TERMINATED:
                return

    def _count_error(self, what: str) -> bool:
        """Association error counter (RFC 4960 8.1); True if the association failed."""
        reason = self._path.count_error(what)
        if reason is not None:
            self._fail(reason)
        return reason is not None

    def _on_t2(self, now: float) -> None:
        self._path.back_off()
        if not self._count_error("shutdown"):
            self._control.append(self._t2_chunk)
            self._timers["t2"] = now + self._path.rto

    def _on_t3(self, now: float) -> None:
        self.stats.t3_expirations += 1
        self._path.back_off()
        if self._count_error("data"):
            return
        self._out.on_t3_expiry()
        self._timers["t3"] = now + self._path.rto

    def _on_sack(self, now: float) -> None:
        self._sack_needed = True

    def _on_hb(self, now: float) -> None:
        if self._state is not SctpState.ESTABLISHED:
            return
        if self._path.heartbeat_outstanding and self._count_error("heartbeat"):
            return
        self._control.append(self._path.heartbeat(now))
        self.stats.heartbeats_sent += 1
        self._timers["hb"] = self._path.next_heartbeat(now)

    def _on_reconfig(self, now: float) -> None:
        chunk = self._resets.retransmission()
        if chunk is None or self._state is not SctpState.ESTABLISHED:
            return
        if not self._count_error("stream reset"):
            self._control.append(chunk.encode())
            self._timers["reconfig"] = now + self._path.rto

    # --- state helpers -----------------------------------------------------------------

    def _set_state(self, trigger: _T) -> None:
        self._state = next_state(self._state, trigger)

    def _terminate(self, event: SctpEvent, *, abort_reason: str | None) -> None:
        if abort_reason is not None and self._peer_tag is not None:
            self._send_alone(
                None, AbortChunk(0, ((CAUSE_USER_ABORT, abort_reason.encode()[:200]),))
            )
        self._set_state(_T.END)
        self._timers.clear()
        self._setup.stop()
        self._control.clear()
        self._events.append(event)

    def _send_alone(self, vtag: int | None, chunk: Chunk) -> bytes:
        """Queue a packet holding only ``chunk`` (with the peer's tag if ``vtag`` is None)."""
        tag = self._peer_tag if vtag is None else vtag
        assert tag is not None
        pkt = encode_packet(self.local_port, self.remote_port, tag, [chunk.encode()])
        self._packets.append(pkt)
        return pkt

    def _fail(self, reason: str) -> None:
        self._terminate(AssociationFailed(reason), abort_reason=reason)

    def _progress_shutdown(self) -> None:
        if self._out.outstanding or self._in is None:
            return
        if self._state is SctpState.SHUTDOWN_PENDING:
            self._set_state(_T.DRAINED)
            self._t2_chunk = ShutdownChunk(self._in.cum & _M32).encode()
        elif self._state is SctpState.SHUTDOWN_RECEIVED:
            self._set_state(_T.DRAINED)
            self._t2_chunk = ShutdownAckChunk().encode()
        else:
            return
        self._timers.pop("t3", None)
        self._timers.pop("hb", None)
        self._control.append(self._t2_chunk)
        self._timers["t2"] = self._now + self._path.rto

    # --- input -------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed one SCTP packet (one DTLS record's plaintext).

        Bad packets are dropped and counted in ``stats``; this never raises
        for anything the peer sends. Then drain ``next_event()``, call
        ``data_to_send()`` and re-arm the timer from ``get_timer()``.
        """
        self._now = now
        self.stats.packets_received += 1
        if self._state is SctpState.TERMINATED:
            self._after_close(data)
            return
        try:
            pkt = parse_packet(data)
        except SctpError as exc:
            if str(exc).startswith("bad checksum"):
                self.stats.bad_checksum += 1
            else:
                self.stats.malformed += 1
            return
        if pkt.destination_port != self.local_port or pkt.source_port != self.remote_port:
            self.stats.bad_port += 1
            return
        if not pkt.chunks:
            self.stats.malformed += 1
            return
        if not self._vtag_ok(pkt.verification_tag, pkt.chunks):
            self.stats.bad_vtag += 1
            return
        if "hb" in self._timers:  # we heard from the peer: no need to probe it yet
            self._timers["hb"] = self._path.next_heartbeat(now)
            self._path.heard_from_peer()
        had_data = False
        for chunk in pkt.chunks:
            if self._ended():
                break
            if isinstance(chunk, DataChunk):
                had_data = True
                if not self._on_data(chunk):
                    break
            elif not self._on_chunk(chunk, pkt.verification_tag, now):
                break
        if self._in is not None and not self._ended():
            self._after_input(had_data, now)

    def _after_close(self, data: bytes) -> None:
        self.stats.after_close += 1
        try:
            pkt = parse_packet(data)
        except SctpError:
            return
        # Our SHUTDOWN-COMPLETE was lost and the peer repeats SHUTDOWN-ACK: answer
        # without a TCB, reflecting its tag (RFC 4960 8.4 item 5, 8.5.1 C).
        if any(isinstance(c, ShutdownAckChunk) for c in pkt.chunks):
            self._send_alone(pkt.verification_tag, ShutdownCompleteChunk(FLAG_T))

    def _ended(self) -> bool:
        return self._state is SctpState.TERMINATED

    def _vtag_ok(self, vtag: int, chunks: tuple[Chunk, ...]) -> bool:
        first = chunks[0]
        if type(first) is InitChunk:
            return vtag == 0 and len(chunks) == 1
        if isinstance(first, (AbortChunk, ShutdownCompleteChunk)):
            reflected = first.flags & FLAG_T and vtag == self._peer_tag
            return vtag == self._local_tag or bool(reflected)
        if isinstance(first, CookieEchoChunk):
            return True  # checked against the tag inside the cookie
        return vtag == self._local_tag

    def _after_input(self, had_data: bool, now: float) -> None:
        assert self._in is not None
        inq = self._in
        while inq.messages:
            sid, ppid, payload = inq.messages.popleft()
            inq.app_bytes += len(payload)
            self._events.append(DataReceived(sid, ppid, payload))
        if (done := self._resets.check_deferred(inq.cum)) is not None:
            self._apply_reconfig(done)
        if had_data:
            if self._state is SctpState.SHUTDOWN_SENT:
                self._sack_needed = True
                self._control.append(self._t2_chunk)
                self._timers["t2"] = now + self._path.rto
            elif inq.above or inq.duplicates or self._data_packets_unacked >= 1:
                self._sack_needed = True  # gaps, duplicates, or every second packet
            else:
                self._data_packets_unacked += 1
                self._timers.setdefault("sack", now + 0.2)
        self._check_low()
        self._progress_shutdown()

    def _closed(self, trigger: _T) -> bool:
        self._set_state(trigger)
        self._timers.clear()
        self._setup.stop()
        self._events.append(AssociationClosed())
        return False  # nothing after this in the packet matters

    def _check_low(self) -> None:
        b = self._out.buffered
        if (self._low_armed and b <= self.buffered_amount_low_threshold) or (
            self._refused and b + self._refused <= self.max_buffered
        ):
            self._low_armed = b > self.buffered_amount_low_threshold
            self._refused = 0
            self._events.append(BufferedAmountLow(b))

    def _on_data(self, chunk: DataChunk) -> bool:
        if self._state not in DATA_IN_STATES or self._in is None:
            self.stats.ignored_chunks += 1
            return True
        self.stats.data_chunks_received += 1
        try:
            result = self._in.receive(chunk)
        except SctpError as exc:
            self._fail(f"protocol violation: {exc}")
            return False
        if result == InboundQueue.DUPLICATE:
            self.stats.duplicate_tsns += 1
        elif result == InboundQueue.NO_ROOM:
            self.stats.rwnd_drops += 1
            self._sack_needed = True
        return True

    def _on_chunk(self, chunk: Chunk, vtag: int, now: float) -> bool:
        """Handle one non-DATA chunk; False stops processing the rest of the packet."""
        st = self._state
        if isinstance(chunk, SackChunk):
            if st in DATA_OUT_STATES:
                self._on_sack_chunk(chunk, now)
            else:
                self.stats.ignored_chunks += 1
        elif type(chunk) is InitChunk:
            return self._apply_setup(self._setup.on_init(chunk, st, now))
        elif isinstance(chunk, InitAckChunk):
            step = self._setup.on_init_ack(chunk, st, self._path.rto, now)
            return self._apply_setup(step, _T.INIT_ACK)
        elif isinstance(chunk, CookieEchoChunk):
            step = self._setup.on_cookie_echo(chunk, vtag, st, self._peer_tag, now)
            return self._apply_setup(step, _T.COOKIE_ECHO)
        elif isinstance(chunk, CookieAckChunk):
            return self._apply_setup(self._setup.on_cookie_ack(st), _T.COOKIE_ACK)
        elif isinstance(chunk, HeartbeatAckChunk):
            if not self._path.heartbeat_ack(chunk.info, now):
                self.stats.ignored_chunks += 1
        elif isinstance(chunk, HeartbeatChunk):
            if st in UP_STATES:
                self._control.append(HeartbeatAckChunk(chunk.info).encode())
        elif isinstance(chunk, AbortChunk):
            if st is SctpState.CLOSED:  # no association to tear down (RFC 4960 8.4)
                self.stats.ignored_chunks += 1
                return False
            reason = f"peer aborted the association: {chunk.describe()}"
            self._terminate(AssociationFailed(reason), abort_reason=None)
            return False
        elif isinstance(chunk, ShutdownChunk):
            self._on_shutdown(chunk)
        elif isinstance(chunk, ShutdownAckChunk):
            if st in (SctpState.SHUTDOWN_SENT, SctpState.SHUTDOWN_ACK_SENT):
                self._send_alone(None, ShutdownCompleteChunk(0))
                return self._closed(_T.SHUTDOWN_ACK_IN)
            self.stats.ignored_chunks += 1
        elif isinstance(chunk, ShutdownCompleteChunk):
            if st is SctpState.SHUTDOWN_ACK_SENT:
                return self._closed(_T.SHUTDOWN_COMPLETE_IN)
            self.stats.ignored_chunks += 1
        elif isinstance(chunk, ErrorChunk):
            if st is SctpState.COOKIE_ECHOED and any(
                c == CAUSE_STALE_COOKIE for c, _ in chunk.causes
            ):
                return self._apply_setup(self._setup.on_stale_cookie(now), _T.STALE_COOKIE)
            self.stats.ignored_chunks += 1
        elif isinstance(chunk, ReconfigChunk):
            self._on_reconfig_chunk(chunk)
        else:
            # Unknown type (or FORWARD-TSN, which we never advertised): RFC 4960 3.2.
            self.stats.unknown_chunks += 1
            ctype = chunk.type if isinstance(chunk, UnknownChunk) else 192
            return bool(ctype & 0x80)  # 00/01: stop processing this packet; 10/11: skip
        return True

    # --- setup (the handshake decides, this applies) ------------------------------------

    def _apply_setup(self, step: SetupStep, trigger: _T | None = None) -> bool:
        """Carry out a handshake step; ``trigger`` is the transition its input stands
        for. False drops the rest of the packet."""
        peer = step.adopt
        if peer is not None and (peer.peer_tag != self._peer_tag or self._in is None):
            self._adopt_peer(peer)
        if step.advance:
            assert trigger is not None
            self._set_state(trigger)
        if step.restart:
            self._in = None  # a fresh cookie brings the peer's parameters again
        if step.established:
            self._established()
        for vtag, chunk in step.alone:
            self._send_alone(vtag, chunk)
        self._control += step.bundle
        if step.failed is not None:
            self._fail(step.failed)
            return False
        return step.proceed

    def _adopt_peer(self, peer: StateCookie) -> None:
        self._peer_tag = peer.peer_tag
        self._peer_reconfig = peer.peer_reconfig
        self.outbound_streams = min(self._streams, peer.peer_mis)
        self.inbound_streams = min(self._streams, peer.peer_os)
        self._out.peer_rwnd = self._out.ssthresh = peer.peer_rwnd
        self._in = InboundQueue(
            peer_initial_tsn=peer.peer_tsn,
            window=self._window,
            max_message_size=self.max_message_size,
        )
        self._resets.peer_expected = peer.peer_tsn

    def _established(self) -> None:
        self._setup.stop()
        self._path.peer_alive()
        self._timers["hb"] = self._path.next_heartbeat(self._now)
        self._events.append(AssociationEstablished())

    # --- data-path control -------------------------------------------------------------

    def _on_sack_chunk(self, sack: SackChunk, now: float) -> None:
        before = self._out.cum_acked
        valid, acked, timed = self._out.on_sack(sack)
        if not valid:
            self.stats.stale_sacks += 1
            return
        self.stats.fast_retransmissions = self._out.fast_retransmissions
        if acked or sack.a_rwnd == 0:
            # New data acked; or the peer answers our zero-window probes, which must
            # not count as errors: its application may hold the window shut for long.
            self._path.peer_alive()
        if timed is not None:
            self._path.rtt_sample(now - timed)
        elif acked:
            # The peer is acking new data again: drop the T3 back-off now rather than
            # wait for an RTT sample, which Karn's rule may withhold for many round
            # trips on a lossy path (what TCP stacks and dcSCTP do too).
            self._path.end_back_off()
        if not self._out.sent:
            self._timers.pop("t3", None)
        elif self._out.cum_acked > before:
            self._timers["t3"] = now + self._path.rto

    def _on_shutdown(self, chunk: ShutdownChunk) -> None:
        st = self._state
        if st not in (SctpState.ESTABLISHED, SctpState.SHUTDOWN_PENDING, SctpState.SHUTDOWN_SENT):
            self.stats.ignored_chunks += 1
            return
        rwnd = self._out.peer_rwnd + self._out.flight
        self._on_sack_chunk(SackChunk(chunk.cumulative_tsn, rwnd), self._now)
        self._set_state(_T.SHUTDOWN_IN)
        if st is SctpState.SHUTDOWN_SENT:  # both closing at once
            self._t2_chunk = ShutdownAckChunk().encode()
            self._control.append(self._t2_chunk)
            self._timers["t2"] = self._now + self._path.rto

    # --- RE-CONFIG (RFC 6525) ----------------------------------------------------------

    def _next_reconfig(self) -> None:
        chunk = self._resets.next_request(self._out.next_tsn - 1)
        if chunk is not None:
            self._control.append(chunk.encode())
            self._timers["reconfig"] = self._now + self._path.rto

    def _on_reconfig_chunk(self, chunk: ReconfigChunk) -> None:
        if self._state is not SctpState.ESTABLISHED or self._in is None:
            self.stats.ignored_chunks += 1
            return
        self._apply_reconfig(self._resets.on_chunk(chunk, self._in.cum))

    def _apply_reconfig(self, out: ReconfigOutcome) -> None:
        assert self._in is not None
        self._control += [c.encode() for c in out.send]
        for streams in out.peer_reset:
            for sid in streams:
                self._in.reset_stream(sid)
            self._events.append(StreamReset(streams))
        for sid in out.ours_reset:
            self._out.reset_ssn(sid)
        self.stats.reconfig_refused += out.refused
        self.stats.malformed += out.malformed
        if out.retry_later:
            self._timers["reconfig"] = self._now + self._path.rto  # ask again later
        if out.finished:
            self._timers.pop("reconfig", None)
            self._next_reconfig()
