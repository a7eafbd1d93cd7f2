"""Association setup for :class:`~adk_realtime.sansio.webrtc.sctp.SctpAssociation` (RFC 4960 5.1-5.2).

Theory of operation
-------------------
:class:`Handshake` decides and the association acts. Each method takes one
handshake input (a chunk, or the T1 timer) with the facts it needs about the
association (its state, the peer it adopted, its RTO, the time) and returns a
:class:`SetupStep`: the packets to send, whether to adopt the peer's parameters,
whether to make the state transition that input stands for, whether the
association is now up or has failed. It never reads or writes the association;
the association owns the states and the transition table, and applies each step
in one place (``SctpAssociation._apply_setup``). What the handshake keeps is its
own: the cookie secret and T1 (when it is due, its back-off, what it resends).

    initiator                               responder (keeps no state yet)
    start: INIT (tag 0) ------------------>  on_init: INIT-ACK + sealed cookie
    on_init_ack: COOKIE-ECHO <-------------
                          ---------------->  on_cookie_echo: open cookie, ESTABLISHED
    on_cookie_ack: ESTABLISHED <-----------  COOKIE-ACK

The cookie (``chunks.StateCookie``) carries the peer's INIT parameters, a
timestamp and an HMAC under our secret, so the responder adopts the peer only
when its own cookie comes back. Both sides answer every INIT with their one
verification tag, so simultaneous INITs (RFC 4960 5.2.1/5.2.4 cases B and D)
converge. T1 retries the INIT or COOKIE-ECHO with exponential back-off; a stale
cookie (the echo took longer than the peer's cookie lifetime) restarts with a
fresh INIT a few times at most (5.2.6).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from adk_realtime.sansio.webrtc._checks import require
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
from adk_realtime.sansio.webrtc.sctp.events import SctpStats
from adk_realtime.sansio.webrtc.sctp.states import ANSWERS_INIT, SETTING_UP, SctpState

__all__ = ["Handshake", "SetupStep"]

_M32 = 0xFFFFFFFF
_MAX_STALE_RESTARTS = 3


@dataclass(slots=True)
class SetupStep:
    """What one handshake input asks of the association, applied in field order."""

    adopt: StateCookie | None = None  # the peer's tag, TSN, window and streams (if new)
    advance: bool = False  # make the state transition this input stands for
    restart: bool = False  # forget the inbound queue: a fresh INIT is going out
    established: bool = False  # the association is up (after the transition)
    alone: list[tuple[int, Chunk]] = field(default_factory=list)  # (tag, chunk): a packet each
    bundle: list[bytes] = field(default_factory=list)  # chunks for the next ordinary packet
    failed: str | None = None  # give up with this reason
    proceed: bool = True  # False: drop the rest of the packet


class Handshake:
    """INIT / INIT-ACK / COOKIE-ECHO / COOKIE-ACK decisions and the T1 timer.

    ``stats`` is the association's counter block: dropped handshake chunks are
    counted there. Inputs return a :class:`SetupStep` for the association to apply;
    ``t1_at`` says when :meth:`on_t1` is due (None: not running).
    """

    def __init__(
        self,
        *,
        local_tag: int,
        initial_tsn: int,
        secret: bytes,
        window: int,
        streams: int,
        rto_initial: float,
        rto_max: float,
        max_init_retransmits: int,
        cookie_lifetime: float,
        stats: SctpStats,
    ) -> None:
        retries = max_init_retransmits
        require("max_init_retransmits", retries >= 0, "0 or more", retries)
        positive = "a positive number of seconds"
        require("cookie_lifetime", cookie_lifetime > 0, positive, cookie_lifetime)
        self.local_tag = local_tag
        self.t1_at: float | None = None
        self._initial_tsn = initial_tsn
        self._secret = secret
        self._window = window
        self._streams = streams
        self._rto_initial = rto_initial
        self._rto_max = rto_max
        self._max_init = max_init_retransmits
        self._cookie_life = cookie_lifetime
        self._stats = stats
        self._t1_rto = rto_initial
        self._t1_tries = 0
        self._t1_alone: Chunk | None = None  # INIT being retried (a packet of its own)
        self._t1_bundled = b""  # or the COOKIE-ECHO being retried
        self._stale_restarts = 0

    # --- our side ----------------------------------------------------------------------

    def start(self, now: float) -> SetupStep:
        """Send INIT in a packet of its own (tag 0) and arm T1 afresh."""
        init = self._our_init(InitChunk)
        self._t1_alone, self._t1_bundled = init, b""
        self._arm(now, self._rto_initial)
        return SetupStep(alone=[(0, init)])

    def stop(self) -> None:
        """Stop T1 (the association is up, or gone)."""
        self.t1_at = None

    def on_t1(self, state: SctpState, now: float) -> SetupStep:
        """T1 fired: resend the INIT or COOKIE-ECHO, or fail after too many tries."""
        self._t1_tries += 1
        if self._t1_tries > self._max_init:
            self.t1_at = None
            what = "INIT" if state is SctpState.COOKIE_WAIT else "COOKIE-ECHO"
            return SetupStep(failed=f"no answer to {what} after {self._max_init} retransmissions")
        self._t1_rto = min(self._t1_rto * 2, self._rto_max)
        self.t1_at = now + self._t1_rto
        if self._t1_alone is not None:
            return SetupStep(alone=[(0, self._t1_alone)])
        return SetupStep(bundle=[self._t1_bundled])

    def _arm(self, now: float, rto: float) -> None:
        self._t1_tries = 0
        self._t1_rto = rto
        self.t1_at = now + rto

    def _our_init(self, cls: type[InitChunk], cookie: bytes | None = None) -> InitChunk:
        params: tuple[tuple[int, bytes], ...] = (
            (PARAM_SUPPORTED_EXTENSIONS, bytes([ReconfigChunk.TYPE])),
        )
        if cookie is not None:
            params = ((PARAM_STATE_COOKIE, cookie), *params)
        tsn = self._initial_tsn & _M32
        return cls(self.local_tag, self._window, self._streams, self._streams, tsn, params)

    # --- the peer's chunks -------------------------------------------------------------

    def on_init(self, init: InitChunk, state: SctpState, now: float) -> SetupStep:
        """Answer an INIT with INIT-ACK and a sealed cookie; no state is kept."""
        if state not in ANSWERS_INIT:  # shutting down or terminated
            self._stats.ignored_chunks += 1
            return SetupStep()
        # One tag for the life of this object: the answer is the same whether we are
        # idle, mid-handshake (collision, RFC 4960 5.2.1) or seeing a stale duplicate.
        cookie = StateCookie.for_init(init, self.local_tag, now).seal(self._secret)
        return SetupStep(alone=[(init.initiate_tag, self._our_init(InitAckChunk, cookie))])

    def on_init_ack(self, ack: InitAckChunk, state: SctpState, rto: float, now: float) -> SetupStep:
        """Our INIT was answered: adopt the peer, echo its cookie (T1 at the current RTO)."""
        cookie = ack.param(PARAM_STATE_COOKIE)
        if state is not SctpState.COOKIE_WAIT or cookie is None:
            self._stats.ignored_chunks += 1
            return SetupStep()
        echo = CookieEchoChunk(cookie).encode()
        self._t1_alone, self._t1_bundled = None, echo
        self._arm(now, rto)
        peer = StateCookie.for_init(ack, self.local_tag, now)
        return SetupStep(adopt=peer, advance=True, bundle=[echo])

    def on_cookie_echo(
        self,
        echo: CookieEchoChunk,
        vtag: int,
        state: SctpState,
        peer_tag: int | None,
        now: float,
    ) -> SetupStep:
        """Our cookie came back: adopt the peer it names and answer COOKIE-ACK.

        ``peer_tag`` is the peer the association already has (None if none). A
        refused cookie drops the rest of the packet.
        """
        try:
            cookie = StateCookie.open(echo.cookie, self._secret)
        except SctpError:
            self._stats.bad_cookie += 1
            return SetupStep(proceed=False)
        if cookie.local_tag != self.local_tag or vtag != cookie.local_tag:
            self._stats.bad_vtag += 1
            return SetupStep(proceed=False)
        if now - cookie.timestamp > self._cookie_life:
            self._stats.stale_cookie += 1
            late = now - cookie.timestamp - self._cookie_life
            staleness = struct.pack("!I", min(int(late * 1e6), _M32))
            error = ErrorChunk(((CAUSE_STALE_COOKIE, staleness),))
            return SetupStep(alone=[(cookie.peer_tag, error)], proceed=False)
        ack = CookieAckChunk().encode()  # fresh or duplicate (case D)
        if state in SETTING_UP:
            self.t1_at = None
            return SetupStep(adopt=cookie, advance=True, established=True, bundle=[ack])
        if cookie.peer_tag != peer_tag:
            # The peer restarted (RFC 4960 5.2.4 case A): not supported here.
            self._stats.ignored_chunks += 1
            return SetupStep(proceed=False)
        return SetupStep(bundle=[ack])

    def on_cookie_ack(self, state: SctpState) -> SetupStep:
        """Our COOKIE-ECHO was accepted: the association is up."""
        if state is not SctpState.COOKIE_ECHOED:
            self._stats.ignored_chunks += 1
            return SetupStep()
        self.t1_at = None
        return SetupStep(advance=True, established=True)

    def on_stale_cookie(self, now: float) -> SetupStep:
        """The peer found our cookie stale: start over with a fresh INIT (RFC 4960 5.2.6
        option 1), a few times at most; the rest of the packet is dropped."""
        # A cookie goes stale only when COOKIE-ECHO was lost for about a minute.
        self._stale_restarts += 1
        if self._stale_restarts > _MAX_STALE_RESTARTS:
            self.t1_at = None
            reason = f"the peer rejected our state cookie as stale {self._stale_restarts} times"
            return SetupStep(failed=reason, proceed=False)
        step = self.start(now)
        step.advance = step.restart = True
        step.proceed = False
        return step
