"""Association setup for :class:`~adk_realtime.sansio.webrtc.sctp.SctpAssociation` (RFC 4960 5.1-5.2).

Theory of operation
-------------------
The four-way handshake, as a mixin the association inherits: ``sctp`` owns the
states and the transition table and dispatches each chunk here; this module
says what each handshake chunk does and which transition it asks for.

    initiator                               responder (keeps no state yet)
    connect: INIT (tag 0) ---------------->  _on_init: INIT-ACK + sealed cookie
    _on_init_ack: COOKIE-ECHO <------------
                          ---------------->  _on_cookie_echo: open cookie, ESTABLISHED
    _on_cookie_ack: ESTABLISHED <---------  COOKIE-ACK

The cookie (``sctp_chunks.StateCookie``) carries the peer's INIT parameters,
a timestamp and an HMAC under our secret, so the responder adopts the peer only
when its own cookie comes back. Both sides answer every INIT with their one
verification tag, so simultaneous INITs (RFC 4960 5.2.1/5.2.4 cases B and D)
converge. T1 retries the INIT or COOKIE-ECHO with exponential back-off; a stale
cookie (the echo took longer than the peer's cookie lifetime) restarts with a
fresh INIT a few times at most (5.2.6).
"""

from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING

from adk_realtime.sansio.webrtc.sctp.chunks import (
    CAUSE_STALE_COOKIE,
    PARAM_STATE_COOKIE,
    PARAM_SUPPORTED_EXTENSIONS,
    Chunk,
    CookieAckChunk,
    CookieEchoChunk,
    ErrorChunk,
    InitAckChunk,
    InitChunk,
    ReconfigChunk,
    SctpError,
    StateCookie,
)
from adk_realtime.sansio.webrtc.sctp.events import AssociationEstablished, SctpEvent, SctpStats
from adk_realtime.sansio.webrtc.sctp.queues import InboundQueue, OutboundQueue
from adk_realtime.sansio.webrtc.sctp.reconfig import StreamResetter
from adk_realtime.sansio.webrtc.sctp.states import State, Trigger

__all__ = ["HandshakeMixin"]

_M32 = 0xFFFFFFFF
_SETTING_UP = (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED)
_ANSWERS_INIT = (*_SETTING_UP, State.ESTABLISHED)


class HandshakeMixin:
    """INIT / INIT-ACK / COOKIE-ECHO / COOKIE-ACK handling and the T1 timer.

    Not usable alone: :class:`~adk_realtime.sansio.webrtc.sctp.SctpAssociation`
    provides the attributes and helpers declared below and calls these methods.
    """

    if TYPE_CHECKING:  # provided by SctpAssociation
        stats: SctpStats
        max_message_size: int
        outbound_streams: int
        inbound_streams: int
        _state: State
        _now: float
        _events: deque[SctpEvent]
        _packets: list[bytes]
        _control: list[bytes]
        _timers: dict[str, float]
        _window: int
        _streams: int
        _rto: float
        _rto_initial: float
        _rto_max: float
        _max_init: int
        _hb_interval: float
        _cookie_life: float
        _local_tag: int
        _initial_tsn: int
        _secret: bytes
        _peer_tag: int | None
        _peer_reconfig: bool
        _out: OutboundQueue
        _in: InboundQueue | None
        _resets: StreamResetter
        _error_count: int
        _t1_rto: float
        _t1_tries: int
        _t1_chunk: bytes
        _stale_restarts: int

        def _set_state(self, trigger: Trigger) -> None: ...
        def _send_alone(self, vtag: int | None, chunk: Chunk) -> bytes: ...
        def _fail(self, reason: str) -> None: ...

    # --- sending our side --------------------------------------------------------------

    def _send_init(self, now: float) -> None:
        """Send INIT in a packet of its own (tag 0) and arm T1 afresh."""
        self._t1_chunk = self._send_alone(0, self._our_init(InitChunk))
        self._t1_tries = 0
        self._t1_rto = self._rto_initial
        self._timers["t1"] = now + self._t1_rto

    def _our_init(self, cls: type[InitChunk], cookie: bytes | None = None) -> InitChunk:
        params: tuple[tuple[int, bytes], ...] = (
            (PARAM_SUPPORTED_EXTENSIONS, bytes([ReconfigChunk.TYPE])),
        )
        if cookie is not None:
            params = ((PARAM_STATE_COOKIE, cookie), *params)
        tsn = self._initial_tsn & _M32
        return cls(self._local_tag, self._window, self._streams, self._streams, tsn, params)

    def _on_t1(self, now: float) -> None:
        self._t1_tries += 1
        if self._t1_tries > self._max_init:
            what = "INIT" if self._state is State.COOKIE_WAIT else "COOKIE-ECHO"
            self._fail(f"no answer to {what} after {self._max_init} retransmissions")
            return
        self._t1_rto = min(self._t1_rto * 2, self._rto_max)
        if self._state is State.COOKIE_WAIT:
            self._packets.append(self._t1_chunk)
        else:
            self._control.append(self._t1_chunk)
        self._timers["t1"] = now + self._t1_rto

    # --- the peer's chunks -------------------------------------------------------------

    def _on_init(self, init: InitChunk, now: float) -> None:
        if self._state not in _ANSWERS_INIT:  # shutting down or terminated
            self.stats.ignored_chunks += 1
            return
        # One tag for the life of this object: the answer is the same whether we are
        # idle, mid-handshake (collision, RFC 4960 5.2.1) or seeing a stale duplicate.
        cookie = StateCookie.for_init(init, self._local_tag, now).seal(self._secret)
        self._send_alone(init.initiate_tag, self._our_init(InitAckChunk, cookie))

    def _on_init_ack(self, ack: InitAckChunk, now: float) -> None:
        cookie = ack.param(PARAM_STATE_COOKIE)
        if self._state is not State.COOKIE_WAIT or cookie is None:
            self.stats.ignored_chunks += 1
            return
        self._adopt_peer(StateCookie.for_init(ack, self._local_tag, now))
        self._set_state(Trigger.INIT_ACK)
        self._t1_chunk = CookieEchoChunk(cookie).encode()
        self._control.append(self._t1_chunk)
        self._t1_tries = 0
        self._t1_rto = self._rto
        self._timers["t1"] = now + self._t1_rto

    def _on_cookie_echo(self, echo: CookieEchoChunk, vtag: int, now: float) -> bool:
        """False stops processing the rest of the packet (the cookie was refused)."""
        try:
            cookie = StateCookie.open(echo.cookie, self._secret)
        except SctpError:
            self.stats.bad_cookie += 1
            return False
        if cookie.local_tag != self._local_tag or vtag != cookie.local_tag:
            self.stats.bad_vtag += 1
            return False
        peer = cookie.peer_tag
        if now - cookie.timestamp > self._cookie_life:
            self.stats.stale_cookie += 1
            late = now - cookie.timestamp - self._cookie_life
            staleness = struct.pack("!I", min(int(late * 1e6), _M32))
            self._send_alone(peer, ErrorChunk(((CAUSE_STALE_COOKIE, staleness),)))
            return False
        st = self._state
        if st in _SETTING_UP:
            if self._peer_tag != peer or self._in is None:
                self._adopt_peer(cookie)
            self._set_state(Trigger.COOKIE_ECHO)
            self._established()
        elif peer != self._peer_tag:
            # The peer restarted (RFC 4960 5.2.4 case A): not supported here.
            self.stats.ignored_chunks += 1
            return False
        self._control.append(CookieAckChunk().encode())  # fresh or duplicate (case D)
        return True

    def _on_cookie_ack(self) -> None:
        if self._state is State.COOKIE_ECHOED:
            self._set_state(Trigger.COOKIE_ACK)
            self._established()
        else:
            self.stats.ignored_chunks += 1

    def _on_stale_cookie(self, now: float) -> bool:
        """The peer found our cookie stale; always False (drop the rest of the packet)."""
        # RFC 4960 5.2.6 option 1: start over with a fresh INIT (a few times at most:
        # a cookie goes stale only when COOKIE-ECHO was lost for about a minute).
        self._stale_restarts += 1
        if self._stale_restarts > 3:
            self._fail("the peer rejected our state cookie as stale 4 times")
            return False
        self._set_state(Trigger.STALE_COOKIE)
        self._in = None
        self._send_init(now)
        return False

    # --- becoming established ----------------------------------------------------------

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
        self._timers.pop("t1", None)
        self._error_count = 0
        self._timers["hb"] = self._now + self._hb_interval + self._rto
        self._events.append(AssociationEstablished())
