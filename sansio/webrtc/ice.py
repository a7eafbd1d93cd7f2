"""A full ICE agent (RFC 8445) for one UDP component, sans-IO, STUN codec from aioice.

Theory of operation
-------------------
The agent owns a check list of candidate pairs. A pair joins one of our *host* UDP
candidates (a socket of the driver, named by its index in ``local_candidates``) to a
remote UDP candidate. Our server-reflexive candidates are advertised in SDP but never
paired: their base is a host candidate, so they would only duplicate its pairs
(RFC 8445 section 6.1.2.4).

Every datagram carries a `Route` ``(local, remote)``: ``local`` is the index of the
local candidate (the socket) it leaves from or arrived on, ``remote`` the peer's
``(host, port)``. A driver with several sockets sends ``data`` from socket ``local``
to ``remote``, and passes the index of the receiving socket back in.

Driving loop (everything else is internal)::

    agent.set_remote(ufrag, pwd, candidates, now=now)     # from the SDP answer
    loop:
        on datagram (first byte 0-3, RFC 7983) on socket i from addr:
            agent.receive_datagram(data, (i, addr), now)
        at agent.get_timer():  agent.handle_timer(now)
        agent.send_data(data)  # DTLS/SRTP, once a pair is selected
        after any: send agent.datagrams_to_send(now), read agent.next_event()

Checks: pairs start Frozen; at start one pair per foundation is Waiting. Every Ta
(50 ms) the pacer starts one check: the oldest triggered check, else the best Waiting
pair, else the best Frozen pair. A check is a Binding request (USERNAME
``remote:local``, PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED, MESSAGE-INTEGRITY with
the remote password, FINGERPRINT), retransmitted after 0.5 s, doubling up to 3.2 s,
7 transmissions in all (RFC 8445 section 14.3 with RFC 8489's Rc=7).

Pair states (RFC 8445 section 6.1.2.6)::

    FROZEN      -> WAITING (initial, same foundation succeeded, pacer) | IN_PROGRESS
    WAITING     -> IN_PROGRESS (pacer)
    IN_PROGRESS -> SUCCEEDED (authentic success from the address checked)
                 | FAILED (error response, transaction timeout)
                 | WAITING (487 role conflict: switch role, retry; or a check from the
                   peer on it: the old check stops retransmitting, a fresh one goes out)
    FAILED      -> WAITING (triggered by a request from the peer on that pair)
    SUCCEEDED   -- a nomination request on a valid pair leaves it SUCCEEDED

Nomination: controlling agents use regular nomination (the first valid pair is
checked again with USE-CANDIDATE; that success selects it) or, with
``aggressive_nomination=True``, put USE-CANDIDATE on every check. A controlled agent
selects a pair once it is valid and the peer sent USE-CANDIDATE on it. Selection stops
ordinary checks, emits `SelectedPair` and moves the agent through CONNECTED to
COMPLETED; it then keeps consent (RFC 7675): a Binding request every 5 s (x0.8-1.2),
and FAILED if no authentic response came for 30 s. No selection within
``check_timeout`` seconds of the start is FAILED too (a nomination still being
retransmitted gets its full time). Agent states: `_TRANSITIONS` below.

Input from the network never raises: malformed STUN, failed integrity, responses from
an address other than the one checked and unknown transactions are dropped and
counted in ``stats``. Every queue is bounded (see the limits below). Importing
``aioice.stun`` runs ``aioice/__init__``, which imports (never uses) its asyncio
``Connection``: no loop, socket or task is created by this module. Building and
parsing the Binding messages, and the pair-priority formula, are pure functions in
:mod:`adk_realtime.sansio.webrtc.ice_stun`; every state change is here.
"""

from __future__ import annotations

import ipaddress
import random
from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from aioice import stun

from adk_realtime.sansio.errors import LocalProtocolError
from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.ice_stun import (
    binding_reply,
    binding_request,
    check_request,
    pair_priority,
    parse_stun,
)
from adk_realtime.sansio.webrtc.sdp import IceCandidate

__all__ = [
    "CandidatePair",
    "IceAgent",
    "IceEvent",
    "IceState",
    "IceStateChanged",
    "PairState",
    "Route",
    "SelectedPair",
]

Address = tuple[str, int]

TA = 0.05  # pacing between new checks (RFC 8445 section 14.2)
RTO_INITIAL = 0.5  # RFC 8445 section 14.3: never below 500 ms
RTO_MAX = 3.2
MAX_TRANSMISSIONS = 7  # Rc of RFC 8489 section 6.2.1
CONSENT_INTERVAL = 5.0  # RFC 7675 section 5.1, randomised x0.8-1.2
CONSENT_TIMEOUT = 30.0
CONSENT_TRANSMISSIONS = 3  # one consent request plus two quick retransmissions
CHECK_TIMEOUT = 15.0
MAX_PAIRS = 100  # RFC 8445 section 6.1.2.5 suggests 100
MAX_EARLY_CHECKS = 32  # peer checks received before set_remote(), replayed then
MAX_QUEUED_DATAGRAMS = 256  # when full the oldest is dropped and counted


class IceState(StrEnum):
    NEW = "new"
    CHECKING = "checking"
    CONNECTED = "connected"
    COMPLETED = "completed"
    FAILED = "failed"
    CLOSED = "closed"


_TRANSITIONS: dict[IceState, frozenset[IceState]] = {
    IceState.NEW: frozenset({IceState.CHECKING, IceState.FAILED, IceState.CLOSED}),
    IceState.CHECKING: frozenset({IceState.CONNECTED, IceState.FAILED, IceState.CLOSED}),
    IceState.CONNECTED: frozenset({IceState.COMPLETED, IceState.FAILED, IceState.CLOSED}),
    IceState.COMPLETED: frozenset({IceState.FAILED, IceState.CLOSED}),
    IceState.FAILED: frozenset({IceState.CLOSED}),
    IceState.CLOSED: frozenset(),
}


class PairState(StrEnum):
    FROZEN = "frozen"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Route(NamedTuple):
    """Where a datagram travels: from local candidate ``local`` (index) to ``remote``."""

    local: int
    remote: Address


@dataclass(frozen=True, slots=True)
class IceStateChanged:
    state: IceState


@dataclass(frozen=True, slots=True)
class SelectedPair:
    """The pair data now flows on. Send from socket ``route.local`` to ``route.remote``."""

    local: IceCandidate
    remote: IceCandidate
    route: Route


IceEvent = IceStateChanged | SelectedPair


@dataclass(eq=False, slots=True)
class CandidatePair:
    route: Route
    local: IceCandidate
    remote: IceCandidate
    priority: int = 0
    state: PairState = PairState.FROZEN
    nominated: bool = False
    remote_nominated: bool = False  # the controlling peer sent USE-CANDIDATE on it

    @property
    def foundation(self) -> tuple[str, str]:
        return (self.local.foundation, self.remote.foundation)


@dataclass(eq=False, slots=True)
class _Transaction:
    tid: bytes
    pair: CandidatePair
    request: bytes
    consent: bool
    nominate: bool
    controlling: bool
    next_send: float
    rto: float
    sends: int
    max_sends: int
    cancelled: bool = False  # superseded by a triggered check: no retransmission, no failure


def _ip_text(host: object) -> str | None:
    """The canonical text of an IP literal (so addresses compare equal), else None."""
    try:
        return str(ipaddress.ip_address(host)) if isinstance(host, str) else None
    except ValueError:
        return None


def _pairable(candidate: IceCandidate) -> bool:
    return candidate.transport == "udp" and candidate.component == 1


# Counters in IceAgent.stats: what arrived, and everything dropped (never raised).
_STAT_NAMES = (
    "requests_received responses_received not_stun malformed bad_request bad_username "
    "bad_integrity unknown_transaction unexpected_address unknown_local ignored_messages "
    "role_conflicts retransmissions early_checks_dropped pairs_dropped queue_overflow"
).split()


class IceAgent:
    """A full ICE agent for one component (BUNDLE + rtcp-mux), controlling by default.

    ``local_ufrag``/``local_pwd`` are the credentials written in our offer;
    ``local_candidates`` the candidates in it (indices of this list name the driver's
    sockets); ``tie_breaker`` a random 64-bit integer; ``rng`` draws transaction IDs
    and consent jitter (default: the OS generator). Next: call `set_remote` with the
    answer's credentials and candidates.
    """

    def __init__(
        self,
        local_ufrag: str,
        local_pwd: str,
        *,
        controlling: bool = True,
        tie_breaker: int,
        local_candidates: list[IceCandidate],
        rng: random.Random | None = None,
        check_timeout: float = CHECK_TIMEOUT,
        aggressive_nomination: bool = False,
    ) -> None:
        require(
            "tie_breaker",
            isinstance(tie_breaker, int) and 0 <= tie_breaker < 2**64,
            "a 64-bit unsigned integer",
            tie_breaker,
        )
        require("local_ufrag", bool(local_ufrag), "a non-empty string", local_ufrag)
        # a credential: shown by its length only
        require("local_pwd", bool(local_pwd), "a non-empty string", f"{len(local_pwd)} characters")
        require("check_timeout", check_timeout > 0, "a positive number of seconds", check_timeout)
        self.local_ufrag = local_ufrag
        self._local_key = local_pwd.encode()
        self.controlling = controlling
        self.tie_breaker = tie_breaker
        self.local_candidates = tuple(local_candidates)
        self.remote_ice_lite = False
        self.stats: dict[str, int] = dict.fromkeys(_STAT_NAMES, 0)
        self.failure_reason: str | None = None
        self._rng = rng if rng is not None else random.SystemRandom()
        self._check_timeout = check_timeout
        self._aggressive = aggressive_nomination
        self._state = IceState.NEW
        self._remote_ufrag: str | None = None
        self._remote_key = b""
        self._remote_candidates: list[IceCandidate] = []
        self._prflx_count = 0
        self._pairs: dict[Route, CandidatePair] = {}
        self._checklist: list[CandidatePair] = []  # sorted, best first
        self._triggered: deque[CandidatePair] = deque()
        self._transactions: dict[bytes, _Transaction] = {}
        self._early: deque[tuple[Route, int, bool]] = deque()
        self._out: deque[tuple[bytes, Route]] = deque()
        self._events: deque[IceEvent] = deque()  # bounded: <= 6 states + selections
        self._selected: CandidatePair | None = None
        self._nominating: CandidatePair | None = None
        self._start_pending = False
        self._now = 0.0
        self._next_pace: float | None = None
        self._check_deadline: float | None = None
        self._next_consent: float | None = None
        self._consent_expires: float | None = None
        self._local_pairable = [
            i
            for i, c in enumerate(self.local_candidates)
            if _pairable(c) and c.type == "host" and _ip_text(c.address) is not None
        ]

    # ------------------------------------------------------------------ public API

    @property
    def state(self) -> IceState:
        return self._state

    @property
    def selected_pair(self) -> SelectedPair | None:
        """The selected pair, or None before nomination."""
        pair = self._selected
        return None if pair is None else SelectedPair(pair.local, pair.remote, pair.route)

    @property
    def checklist(self) -> list[CandidatePair]:
        """A copy of the check list, best pair first (for inspection and tests)."""
        return list(self._checklist)

    def set_remote(
        self,
        ufrag: str,
        pwd: str,
        candidates: list[IceCandidate] | tuple[IceCandidate, ...],
        ice_lite: bool = False,
        *,
        now: float | None = None,
    ) -> None:
        """Give the peer's credentials and candidates (from the SDP answer); starts checks.

        With ``now`` the checks start at once; without it they start at the next
        `handle_timer` (`get_timer` then returns a time already due). Unusable
        candidates (TCP, other components, non-IP addresses) are skipped. Next: send
        `datagrams_to_send`, arm `get_timer`.
        """
        if self._state in (IceState.FAILED, IceState.CLOSED):
            raise LocalProtocolError(f"set_remote() on an ICE agent that is {self._state}")
        if self._remote_ufrag is not None:
            raise LocalProtocolError("set_remote() was already called (no ICE restart)")
        if not ufrag or not pwd:
            raise LocalProtocolError("the remote ICE ufrag and pwd must not be empty")
        self._remote_ufrag = ufrag
        self._remote_key = pwd.encode()
        self.remote_ice_lite = ice_lite
        if ice_lite and not self.controlling:
            self._switch_role(True)  # RFC 8445 section 6.1.1: a lite peer is never controlling
        for candidate in candidates:
            self.add_remote_candidate(candidate)
        self._start_pending = True
        if now is not None:
            self._tick(now)

    def add_remote_candidate(self, candidate: IceCandidate) -> bool:
        """Add one remote candidate (trickle); returns False if it is unusable.

        Pairs formed after the start are Waiting; the pacer picks them up.
        """
        address = _ip_text(candidate.address)
        if not _pairable(candidate) or address is None:
            return False
        candidate = replace(candidate, address=address)
        if any(c.addr == candidate.addr for c in self._remote_candidates):
            return True
        self._remote_candidates.append(candidate)
        started = self._state is not IceState.NEW
        for index in self._local_pairable:
            pair = self._add_pair(index, candidate)
            if pair is not None and started and self._selected is None:
                pair.state = PairState.WAITING
                self._arm_pacer()
        return True

    def receive_datagram(self, data: bytes, addr: tuple[int, Address], now: float) -> None:
        """Feed a STUN datagram (first byte 0-3) that arrived on socket ``addr[0]`` from
        ``addr[1]``. Never raises for bad input (counted in ``stats``). Next: send
        `datagrams_to_send`, read `next_event`, re-arm `get_timer`.
        """
        self._tick(now)
        if self._state in (IceState.FAILED, IceState.CLOSED):
            self.stats["ignored_messages"] += 1
            return
        if not data or data[0] > 3:
            self.stats["not_stun"] += 1
            return
        try:
            local, (host, port) = addr
        except (TypeError, ValueError):
            local, host, port = -1, None, -1
        remote_host = _ip_text(host)
        if not (isinstance(local, int) and 0 <= local < len(self.local_candidates)) or not (
            remote_host is not None and isinstance(port, int) and 0 <= port < 65536
        ):
            self.stats["unknown_local"] += 1
            return
        route = Route(local, (remote_host, port))
        message = parse_stun(data)
        if message is None:
            self.stats["malformed"] += 1
            return
        if message.message_method != stun.Method.BINDING:
            self.stats["ignored_messages"] += 1
        elif message.message_class == stun.Class.REQUEST:
            self._on_request(message, route, now)
        elif message.message_class in (stun.Class.RESPONSE, stun.Class.ERROR):
            self._on_response(message, route, now)
        else:
            self.stats["ignored_messages"] += 1  # Binding indications are keepalives

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``: paced checks, retransmissions, timeouts, consent.

        Call it when `get_timer` says. Next: send `datagrams_to_send`, read
        `next_event`, re-arm `get_timer`.
        """
        self._tick(now)
        if self._state in (IceState.FAILED, IceState.CLOSED):
            return
        for tx in list(self._transactions.values()):
            if tx.next_send <= now and tx.tid in self._transactions:
                self._transaction_timer(tx, now)
        if self._next_pace is not None and self._next_pace <= now:
            self._next_pace = now + TA if self._pace(now) else None
        if self._selected is None:
            # A nomination still being retransmitted gets its transaction's full time.
            deadline = self._check_deadline
            if deadline is not None and now >= deadline and self._nominating is None:
                self._fail(f"no candidate pair selected within {self._check_timeout:g} s")
            return
        if self._consent_expires is not None and now >= self._consent_expires:
            self._fail("consent to send expired: no STUN response for 30 s (RFC 7675)")
        elif self._next_consent is not None and now >= self._next_consent:
            self._start_check(self._selected, now, consent=True)
            self._next_consent = now + CONSENT_INTERVAL * self._rng.uniform(0.8, 1.2)

    def get_timer(self) -> float | None:
        """When to call `handle_timer` next (monotonic seconds), or None for never."""
        if self._state in (IceState.FAILED, IceState.CLOSED):
            return None
        if self._start_pending:
            return self._now
        times = [tx.next_send for tx in self._transactions.values()]
        if self._next_pace is not None:
            times.append(self._next_pace)
        if self._selected is None:
            if self._check_deadline is not None and self._nominating is None:
                times.append(self._check_deadline)
        else:
            times += [t for t in (self._next_consent, self._consent_expires) if t is not None]
        return min(times, default=None)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Route]]:
        """Drain the outgoing datagrams: send each ``data`` from socket ``route.local``
        to ``route.remote``. ``now`` is the time they leave (it only moves the clock:
        checks are timed when they are made)."""
        self._now = max(self._now, now)
        out = list(self._out)
        self._out.clear()
        return out

    def next_event(self) -> IceEvent | None:
        """The next `IceStateChanged` or `SelectedPair`, or None."""
        return self._events.popleft() if self._events else None

    def send_data(self, data: bytes) -> None:
        """Queue application data (DTLS, SRTP) for the selected pair.

        It comes out of `datagrams_to_send` with the pair's route, in order with the
        checks. Raises `LocalProtocolError` before a pair is selected (wait for
        `SelectedPair`) or once the agent failed or closed.
        """
        if self._selected is None or self._state in (IceState.FAILED, IceState.CLOSED):
            raise LocalProtocolError(
                f"no selected ICE pair (state {self._state}): wait for SelectedPair"
            )
        self._queue(data, self._selected.route)

    def close(self) -> None:
        """Stop all checks and timers; state CLOSED. Nothing is sent."""
        if self._state is not IceState.CLOSED:
            self._stop_everything()
            self._set_state(IceState.CLOSED)

    # ------------------------------------------------------------------ internals

    def _tick(self, now: float) -> None:
        self._now = max(self._now, now)
        if self._start_pending:
            self._start_pending = False
            self._start(now)

    def _set_state(self, state: IceState) -> None:
        if state is self._state:
            return
        assert state in _TRANSITIONS[self._state], f"ICE {self._state} -> {state}"
        self._state = state
        self._events.append(IceStateChanged(state))

    def _start(self, now: float) -> None:
        self._set_state(IceState.CHECKING)
        self._check_deadline = now + self._check_timeout
        seen: set[tuple[str, str]] = set()
        for pair in self._checklist:  # RFC 8445 section 6.1.2.6: one per foundation
            if pair.foundation not in seen and pair.state is PairState.FROZEN:
                seen.add(pair.foundation)
                pair.state = PairState.WAITING
        while self._early:
            route, priority, use_candidate = self._early.popleft()
            self._triggered_check(route, priority, use_candidate, now)
        self._next_pace = now + TA if self._pace(now) else None

    def _fail(self, reason: str) -> None:
        self.failure_reason = reason
        self._stop_everything()
        self._set_state(IceState.FAILED)

    def _stop_everything(self) -> None:
        self._transactions.clear()
        self._triggered.clear()
        self._early.clear()
        self._next_pace = self._check_deadline = None
        self._next_consent = self._consent_expires = None
        self._start_pending = False

    def _pair_priority(self, local: IceCandidate, remote: IceCandidate) -> int:
        return pair_priority(local.priority, remote.priority, self.controlling)

    def _sort(self) -> None:
        self._checklist.sort(key=lambda p: p.priority, reverse=True)

    def _add_pair(self, index: int, remote: IceCandidate) -> CandidatePair | None:
        local = self.local_candidates[index]
        if (":" in local.address) != (":" in remote.address):
            return None  # pair IPv4 with IPv4, IPv6 with IPv6 (both are IP literals here)
        route = Route(index, remote.addr)
        if route in self._pairs:
            return self._pairs[route]
        if len(self._checklist) >= MAX_PAIRS:
            self.stats["pairs_dropped"] += 1
            return None
        pair = CandidatePair(route, local, remote, self._pair_priority(local, remote))
        self._pairs[route] = pair
        self._checklist.append(pair)
        self._sort()
        return pair

    def _switch_role(self, controlling: bool) -> None:
        self.controlling = controlling
        for pair in self._checklist:
            pair.priority = self._pair_priority(pair.local, pair.remote)
        self._sort()
        if not controlling:
            self._nominating = None

    def _arm_pacer(self) -> None:
        if self._next_pace is None and self._state is not IceState.NEW:
            self._next_pace = self._now

    def _queue(self, data: bytes, route: Route) -> None:
        if len(self._out) >= MAX_QUEUED_DATAGRAMS:
            self._out.popleft()
            self.stats["queue_overflow"] += 1
        self._out.append((data, route))

    def _pace(self, now: float) -> bool:
        """Start one check (RFC 8445 section 6.1.4.2); False when nothing is left."""
        while self._triggered:
            pair = self._triggered.popleft()
            if pair.state is PairState.WAITING:
                self._start_check(pair, now)
                return True
        if self._selected is not None:
            return False  # ordinary checks stop once a pair is selected
        for wanted in (PairState.WAITING, PairState.FROZEN):
            for pair in self._checklist:
                if pair.state is wanted:
                    self._start_check(pair, now)
                    return True
        return False

    def _start_check(
        self, pair: CandidatePair, now: float, *, nominate: bool = False, consent: bool = False
    ) -> None:
        assert self._remote_ufrag is not None
        nominate = self.controlling and not consent and (nominate or self._aggressive)
        tid = self._rng.randbytes(12)
        data = binding_request(
            tid,
            username=f"{self._remote_ufrag}:{self.local_ufrag}",
            local_priority=pair.local.priority,
            controlling=self.controlling,
            tie_breaker=self.tie_breaker,
            nominate=nominate,
            key=self._remote_key,
        )
        if pair.state is not PairState.SUCCEEDED:
            pair.state = PairState.IN_PROGRESS
        tx = _Transaction(
            tid=tid,
            pair=pair,
            request=data,
            consent=consent,
            nominate=nominate,
            controlling=self.controlling,
            next_send=now + RTO_INITIAL,
            rto=RTO_INITIAL,
            sends=1,
            max_sends=CONSENT_TRANSMISSIONS if consent else MAX_TRANSMISSIONS,
        )
        self._transactions[tx.tid] = tx
        self._queue(data, pair.route)

    def _transaction_timer(self, tx: _Transaction, now: float) -> None:
        if tx.sends >= tx.max_sends:
            del self._transactions[tx.tid]
            # A lost consent check is not fatal (expiry decides), nor is a cancelled one,
            # nor an ordinary check on a pair that another check already validated.
            if not (tx.consent or tx.cancelled) and (
                tx.nominate or tx.pair.state is not PairState.SUCCEEDED
            ):
                self._check_failed(tx.pair, now)
            return
        tx.sends += 1
        tx.rto = min(tx.rto * 2, RTO_MAX)
        tx.next_send = now + tx.rto
        self.stats["retransmissions"] += 1
        self._queue(tx.request, tx.pair.route)

    def _check_failed(self, pair: CandidatePair, now: float) -> None:
        if pair is self._selected:
            return  # only consent expiry fails a selected pair
        pair.state = PairState.FAILED
        if pair is self._nominating:
            self._nominating = None
            self._maybe_nominate(now)

    def _respond(
        self, request: stun.Message, route: Route, error: tuple[int, str] | None = None
    ) -> None:
        self._queue(binding_reply(request, route.remote, self._local_key, error), route)

    def _on_request(self, request: stun.Message, route: Route, now: float) -> None:
        """A peer's connectivity check (RFC 8445 section 7.3)."""
        self.stats["requests_received"] += 1
        problem = check_request(request, self.local_ufrag, self._remote_ufrag, self._local_key)
        if problem is not None:
            stat, error = problem
            self.stats[stat] += 1
            self._respond(request, route, error)
            return
        attributes = request.attributes
        priority: int = attributes["PRIORITY"]
        # Role conflicts (RFC 8445 section 7.3.1.1): the larger tie-breaker controls.
        theirs_controlling = attributes.get("ICE-CONTROLLING")
        theirs_controlled = attributes.get("ICE-CONTROLLED")
        if self.controlling and isinstance(theirs_controlling, int):
            self.stats["role_conflicts"] += 1
            if self.tie_breaker >= theirs_controlling:
                self._respond(request, route, (487, "Role Conflict"))
                return
            self._switch_role(False)
        elif not self.controlling and isinstance(theirs_controlled, int):
            self.stats["role_conflicts"] += 1
            if self.tie_breaker < theirs_controlled:
                self._respond(request, route, (487, "Role Conflict"))
                return
            self._switch_role(True)
            self._maybe_nominate(now)
        self._respond(request, route)
        use_candidate = "USE-CANDIDATE" in attributes
        if self._state is IceState.NEW:
            # The peer answered and checks before its answer reached us: replay later.
            if len(self._early) >= MAX_EARLY_CHECKS:
                self._early.popleft()
                self.stats["early_checks_dropped"] += 1
            self._early.append((route, priority, use_candidate))
            return
        self._triggered_check(route, priority, use_candidate, now)

    def _triggered_check(
        self, route: Route, priority: int, use_candidate: bool, now: float
    ) -> None:
        """RFC 8445 sections 7.3.1.3-7.3.1.5, after an authentic request on ``route``."""
        pair = self._pairs.get(route)
        if pair is None:
            if route.local not in self._local_pairable:
                return
            remote = next((c for c in self._remote_candidates if c.addr == route.remote), None)
            if remote is None:  # a peer-reflexive remote candidate
                self._prflx_count += 1
                remote = IceCandidate(
                    foundation=f"prflx{self._prflx_count}",
                    component=1,
                    transport="udp",
                    priority=priority & 0xFFFFFFFF,
                    address=route.remote[0],
                    port=route.remote[1],
                    type="prflx",
                )
            pair = self._add_pair(route.local, remote)
            if pair is None:
                return  # the check list is full (counted)
            if remote.type == "prflx" and pair.remote is remote:
                self._remote_candidates.append(remote)  # bounded by MAX_PAIRS
        if use_candidate and not self.controlling:
            pair.remote_nominated = True
        if pair.state is PairState.SUCCEEDED:
            if pair.remote_nominated and not self.controlling:
                self._select(pair, now)
            return
        if self._selected is not None and self.controlling:
            return  # a controlling agent is done checking once it has selected
        if pair.state is PairState.IN_PROGRESS:
            # RFC 8445 section 7.3.1.4: cancel the check in progress (stop retransmitting
            # it, still accept its response) and check again now; the peer has shown
            # the path works, so a fresh check beats waiting out the back-off.
            for tx in self._transactions.values():
                if tx.pair is pair and not tx.consent:
                    tx.cancelled, tx.max_sends = True, tx.sends
        pair.state = PairState.WAITING
        if pair not in self._triggered:
            self._triggered.append(pair)
        self._arm_pacer()

    def _on_response(self, response: stun.Message, route: Route, now: float) -> None:
        """A response to one of our checks (RFC 8445 section 7.2.5)."""
        self.stats["responses_received"] += 1
        tx = self._transactions.get(response.transaction_id)
        if tx is None:
            self.stats["unknown_transaction"] += 1
            return
        if route != tx.pair.route:
            # RFC 8445 section 7.2.5.2.1 would fail the pair; we drop it and keep
            # retransmitting, so a spoofed response cannot kill a good pair.
            self.stats["unexpected_address"] += 1
            return
        if not response.check_message_integrity(self._remote_key):
            self.stats["bad_integrity"] += 1
            return
        del self._transactions[tx.tid]
        pair = tx.pair
        if response.message_class == stun.Class.ERROR:
            if response.error_code == 487 and not tx.consent:
                # RFC 8445 section 7.2.5.1: take the role opposite to what we claimed.
                self.stats["role_conflicts"] += 1
                if self.controlling == tx.controlling:
                    self._switch_role(not tx.controlling)
                if pair.state is not PairState.SUCCEEDED:
                    pair.state = PairState.WAITING
                if pair not in self._triggered:
                    self._triggered.append(pair)
                self._arm_pacer()
                self._maybe_nominate(now)
            elif not tx.consent:
                self._check_failed(pair, now)
            return
        if tx.consent or pair is self._selected:
            if pair is self._selected:
                self._consent_expires = now + CONSENT_TIMEOUT
            if tx.consent:
                return
        pair.state = PairState.SUCCEEDED
        for tid in [t for t, x in self._transactions.items() if x.pair is pair and not x.nominate]:
            del self._transactions[tid]  # other checks of this pair are moot now
        for other in self._checklist:  # RFC 8445 section 7.2.5.3.3
            if other.state is PairState.FROZEN and other.foundation == pair.foundation:
                other.state = PairState.WAITING
                self._arm_pacer()
        if tx.nominate and self.controlling:
            self._select(pair, now)
        elif pair.remote_nominated and not self.controlling:
            self._select(pair, now)
        else:
            self._maybe_nominate(now)

    def _maybe_nominate(self, now: float) -> None:
        """Regular nomination (RFC 8445 section 8.1.1): re-check one valid pair with
        USE-CANDIDATE once nothing is selected or being nominated."""
        if (
            not self.controlling
            or self._aggressive
            or self._selected is not None
            or self._nominating is not None
            or self._state is not IceState.CHECKING
        ):
            return
        valid = [p for p in self._checklist if p.state is PairState.SUCCEEDED]
        if valid:
            self._nominating = valid[0]
            self._start_check(valid[0], now, nominate=True)

    def _select(self, pair: CandidatePair, now: float) -> None:
        pair.nominated = True
        if pair is self._selected:
            return
        first = self._selected is None
        self._selected = pair
        self._nominating = None
        self._events.append(SelectedPair(pair.local, pair.remote, pair.route))
        if not first:
            return  # the controlling peer moved the nomination (controlled role)
        # RFC 8445 section 8.1.2: stop ordinary checks, keep consent on the pair.
        for tid in [t for t, tx in self._transactions.items() if tx.pair is not pair]:
            del self._transactions[tid]
        self._triggered.clear()
        self._check_deadline = None
        self._consent_expires = now + CONSENT_TIMEOUT
        self._next_consent = now + CONSENT_INTERVAL * self._rng.uniform(0.8, 1.2)
        self._set_state(IceState.CONNECTED)
        self._set_state(IceState.COMPLETED)
