"""A SIP user agent server over datagrams (RFC 3261), sans-IO: it answers calls.

Theory of operation
-------------------
The driver feeds every datagram of the SIP socket to ``receive_datagram(data, addr,
now)``, sends every ``(data, addr)`` of ``datagrams_to_send(now)``, drains
``next_event()`` and calls ``handle_timer(now)`` when ``get_timer()`` is due.

* INVITE (new dialog): 100 Trying at once, then :class:`IncomingSipCall`. The
  application calls ``ringing(call)`` (180), ``answer(call, sdp, now)`` (200 with the
  SDP answer) or ``reject(call, code, now)``. At ``max_calls`` live calls the INVITE
  is refused with ``busy_code`` (486 Busy Here or 503) and :class:`CallRefused` tells
  it (no call is made of it).
* The 200 is resent at T1, 2*T1... capped at T2 until the ACK comes (RFC 3261
  13.3.1.4); after 64*T1 without one the call ends (``no_ack``) and a BYE is sent.
  A non-2xx final answer is resent the same way (timer G) until its ACK, for at most
  64*T1 (timer H).
* A retransmitted request (same Via branch and method) is answered with the last
  response sent for it, never handled twice (server transaction absorption); final
  responses to non-INVITE requests are kept 64*T1 (timer J).
* BYE from the caller: 200, :class:`CallEnded` (``bye``). ``hangup(call, now)``: our
  BYE, resent at T1 doubling to T2 (timer E) until a final response or 64*T1 (timer
  F). CANCEL of a pending INVITE: 200 to the CANCEL, 487 to the INVITE,
  :class:`CallEnded` (``cancelled``). OPTIONS: 200 (trunks' keepalive).
  A re-INVITE in the dialog is :class:`CallUpdated`; ``answer`` or ``reject`` it.
* Optional: ``digest`` (a :class:`DigestAuth`): an INVITE without valid credentials
  gets 401 with a challenge; ``allowed_sources`` (host strings): requests from other
  hosts get 403.
* Bad input: a datagram that is not a SIP message is dropped with
  :class:`MessageDropped`; a request parseable enough to answer gets 400 (the reason
  phrase says what is wrong); an unknown method 405, an unknown URI scheme 416, a
  ``Require``d extension 420, a non-SDP body 415. ``receive_datagram`` never raises.

Over TCP (``transport="TCP"``) the driver frames the stream
(:class:`~adk_realtime.sansio.sip.framing.SipStreamFramer`) and feeds each message as a
datagram from the connection's peer, sending each ``(data, addr)`` on that peer's
connection; the machine writes ``TCP`` in its own Via and ``;transport=tcp`` in its
Contact, and leaves the retransmissions of non-2xx answers (timer G) and of its BYE
(timer E) to the reliable transport (RFC 3261 17.2.1, 17.1.2.2); its 200 is still resent
until the ACK (13.3.1.4), and every timeout stays.

Signalling is symmetric: responses go to the address the request came from (RFC
3581 ``rport`` and ``received`` are added to the top Via), and our BYE goes to where
the INVITE came from, which is what works behind a NAT.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.sip.digest import DigestAuth
from adk_realtime.sansio.sip.events import (
    Address,
    CallEnded,
    CallEndReason,
    CallEstablished,
    CallRefused,
    CallUpdated,
    IncomingSipCall,
    MessageDropped,
    SipCall,
    SipEvent,
)
from adk_realtime.sansio.sip.message import (
    SipMessage,
    SipParseError,
    parse_cseq,
    parse_message,
    parse_name_addr,
    parse_via,
)

__all__ = ["ALLOWED_METHODS", "REASONS", "SipUas"]

ALLOWED_METHODS = "INVITE, ACK, BYE, CANCEL, OPTIONS"
REASONS = {
    100: "Trying", 180: "Ringing", 200: "OK", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    503: "Service Unavailable", 505: "Version Not Supported", 603: "Decline",
}  # fmt: skip
_SCHEMES = ("sip", "sips", "tel")
_RPORT = re.compile(r";\s*rport(?=\s*(;|$))", re.IGNORECASE)


@dataclass(eq=False, slots=True)
class _ServerTxn:
    """A request we answered: its last response, resent on retransmission."""

    addr: Address
    request: SipMessage
    call: SipCall | None
    response: bytes = b""
    final: int = 0  # the final status sent, 0 while none
    resend_at: float | None = None  # timer G: a non-2xx final to an INVITE, until ACK
    interval: float = 0.0
    expires_at: float | None = None  # timers H and J: forget it then


@dataclass(eq=False, slots=True)
class _Resend:
    """Something we resend until it is acknowledged: our 200 (until ACK) or our BYE."""

    data: bytes
    addr: Address
    at: float
    interval: float
    deadline: float
    cseq: int


class SipUas:
    """Answers SIP calls arriving on one UDP address (see the module docstring).

    ``local_addr``: the (host, port) we listen on, written in Via and Contact (a host
    the caller can reach). ``user``: the Contact's user part. ``max_calls``: live calls
    at most (None: no limit); ``busy_code``: 486 or 503 beyond it. ``t1``/``t2``: RFC
    3261 timers in seconds. ``seed``: mixed into our tags and branches (pass a few random
    bytes; the machine draws none). ``digest``, ``allowed_sources``: optional caller
    checks. ``transport``: ``"UDP"`` or ``"TCP"`` (see the module docstring).
    """

    def __init__(
        self,
        local_addr: Address,
        *,
        user: str = "agent",
        max_calls: int | None = None,
        busy_code: int = 486,
        t1: float = 0.5,
        t2: float = 4.0,
        seed: bytes = b"",
        digest: DigestAuth | None = None,
        allowed_sources: Collection[str] | None = None,
        server_name: str = "adk-realtime",
        transport: str = "UDP",
    ) -> None:
        if not (isinstance(local_addr, tuple) and len(local_addr) == 2):
            raise ConfigError("local_addr", f"must be a (host, port) tuple, got {local_addr!r}")
        if max_calls is not None and (type(max_calls) is not int or max_calls < 0):
            raise ConfigError("max_calls", f"must be None or an int >= 0, got {max_calls!r}")
        if busy_code not in (486, 503):
            raise ConfigError("busy_code", f"must be 486 or 503, got {busy_code!r}")
        if not (isinstance(t1, int | float) and isinstance(t2, int | float) and 0 < t1 <= t2):
            raise ConfigError("t1", f"t1 and t2 must be seconds with 0 < t1 <= t2, got {t1!r}")
        if transport not in ("UDP", "TCP"):
            raise ConfigError("transport", f"must be 'UDP' or 'TCP', got {transport!r}")
        self.transport = transport
        self.reliable = transport == "TCP"
        self.local_addr = local_addr
        self.user = user
        self.max_calls = max_calls
        self.busy_code = busy_code
        self.t1 = float(t1)
        self.t2 = float(t2)
        self.digest = digest
        self.allowed_sources = None if allowed_sources is None else frozenset(allowed_sources)
        self.server_name = server_name
        self.calls: dict[str, SipCall] = {}
        """Live calls (and ended ones with something still to resend), by Call-ID."""
        self.dropped = 0
        """Datagrams dropped as not SIP (each also a :class:`MessageDropped`)."""
        self._seed = bytes(seed)
        self._serial = 0
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[SipEvent] = deque()
        self._txns: dict[tuple[str, str], _ServerTxn] = {}
        self._pending_invite: dict[str, _ServerTxn] = {}  # call_id -> INVITE not answered
        self._ok: dict[str, _Resend] = {}  # call_id -> our 200 awaiting ACK
        self._bye: dict[str, _Resend] = {}  # call_id -> our BYE awaiting a response

    # -- the contract -----------------------------------------------------------------

    def receive_datagram(
        self, data: bytes | bytearray | memoryview, addr: Address, now: float
    ) -> None:
        """Handle one datagram from ``addr``. Then send ``datagrams_to_send(now)``, drain
        ``next_event()`` and re-arm ``get_timer()``. Never raises for bad input."""
        try:
            message = parse_message(data)
        except SipParseError as exc:
            if exc.message is not None:
                self._reply_bare(exc.message, addr, exc.status, _reason(str(exc)))
            else:
                self.dropped += 1
                self._events.append(MessageDropped(addr, str(exc)[:200]))
            return
        try:
            if message.is_request:
                self._on_request(message, addr, now)
            else:
                self._on_response(message)
        except SipParseError as exc:  # a header the handler needed was unreadable
            if message.is_request and message.method != "ACK":
                self._reply_bare(message, addr, 400, _reason(str(exc)))
            else:
                self.dropped += 1
                self._events.append(MessageDropped(addr, str(exc)[:200]))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """What to send, each ``(data, addr)``, in order."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> SipEvent | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When ``handle_timer`` is next due (None: nothing is waiting)."""
        times = [r.at for r in self._ok.values()] + [r.at for r in self._bye.values()]
        for txn in self._txns.values():
            times += [t for t in (txn.resend_at, txn.expires_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Resend what is due, give up on what timed out; then send and drain events."""
        for call_id, ok in list(self._ok.items()):
            if ok.deadline <= now:
                del self._ok[call_id]
                call = self.calls.get(call_id)
                if call is not None and call.state != "ended":
                    self._send_bye(call, now)
                    self._end(call, "no_ack")
            elif ok.at <= now:
                self._resend(ok, now)
        for call_id, bye in list(self._bye.items()):
            if bye.deadline <= now:
                del self._bye[call_id]
                self._forget_if_done(call_id)
            elif bye.at <= now:
                self._resend(bye, now)
        for key, txn in list(self._txns.items()):
            if txn.expires_at is not None and txn.expires_at <= now:
                del self._txns[key]
            elif txn.resend_at is not None and txn.resend_at <= now:
                self._out.append((txn.response, txn.addr))
                txn.interval = min(txn.interval * 2, self.t2)
                txn.resend_at = now + txn.interval

    # -- commands -----------------------------------------------------------------------

    @property
    def live_calls(self) -> int:
        """Calls not ended."""
        return sum(1 for call in self.calls.values() if call.state != "ended")

    def ringing(self, call: SipCall) -> None:
        """Send 180 Ringing for the call's pending INVITE (then ``answer`` or ``reject``)."""
        txn = self._pending(call, "ringing")
        self._respond(txn, 180, to_tag=call.local_tag)

    def answer(self, call: SipCall, sdp: bytes, now: float) -> None:
        """Answer the pending INVITE (the first, or a re-INVITE) with 200 and ``sdp``; the
        200 is resent until the ACK (:class:`CallEstablished` for the first)."""
        txn = self._pending(call, "answer")
        headers = [("Contact", self._contact()), ("Content-Type", "application/sdp")]
        data = self._respond(txn, 200, to_tag=call.local_tag, extra=headers, body=bytes(sdp))
        del self._pending_invite[call.call_id]
        txn.expires_at = now + 64 * self.t1  # RFC 6026 "Accepted": a resent INVITE gets the 200
        cseq, _method = parse_cseq(txn.request.get("CSeq") or "")
        self._ok[call.call_id] = _Resend(
            data, txn.addr, now + self.t1, self.t1, now + 64 * self.t1, cseq
        )
        if call.state == "incoming":
            call.state = "answered"

    def reject(self, call: SipCall, code: int, now: float) -> None:
        """Refuse the pending INVITE with ``code`` (4xx-6xx: 486, 488, 603...). A refused
        first INVITE ends the call (:class:`CallEnded` ``rejected``); a refused re-INVITE
        leaves the call as it was."""
        if type(code) is not int or not 300 <= code <= 699:
            raise LocalProtocolError(f"reject takes a status from 300 to 699, got {code!r}")
        txn = self._pending(call, "reject")
        del self._pending_invite[call.call_id]
        self._final_to_invite(txn, code, now)
        if call.state == "incoming":
            self._end(call, "rejected")

    def hangup(self, call: SipCall, now: float) -> None:
        """End the call from our side: BYE once answered (:class:`CallEnded` ``hung_up``
        when it is answered, ``bye_timeout`` after 64*T1), 480 while still ringing.
        Nothing for a call already ended."""
        if call.state == "ended":
            return
        if call.state == "incoming":
            self.reject(call, 480, now)
            return
        self._ok.pop(call.call_id, None)
        pending = self._pending_invite.pop(call.call_id, None)
        if pending is not None:
            self._final_to_invite(pending, 487, now)
        self._send_bye(call, now)
        self._end(call, "hung_up")

    # -- requests -----------------------------------------------------------------------

    def _on_request(self, request: SipMessage, addr: Address, now: float) -> None:
        method = request.method or ""
        if self.allowed_sources is not None and addr[0] not in self.allowed_sources:
            if method != "ACK":
                self._reply_bare(request, addr, 403)
            return
        if method == "ACK":
            self._on_ack(request, now)
            return
        txn = self._txns.get(_key(request))
        if txn is not None:  # a retransmission: the last response again
            if txn.response:
                self._out.append((txn.response, addr))
            return
        txn = _ServerTxn(addr, request, None)
        self._txns[_key(request)] = txn
        scheme = (request.uri or "").partition(":")[0].lower()
        if scheme not in _SCHEMES:
            self._final(txn, 416, now)
        elif request.get("Require") is not None and method not in ("CANCEL",):
            self._final(txn, 420, now, extra=[("Unsupported", request.get("Require") or "")])
        elif method == "INVITE":
            self._on_invite(txn, now)
        elif method == "BYE":
            self._on_bye(txn, now)
        elif method == "CANCEL":
            self._on_cancel(txn, now)
        elif method == "OPTIONS":
            accept = [("Allow", ALLOWED_METHODS), ("Accept", "application/sdp")]
            self._final(txn, 200, now, extra=accept)
        else:
            self._final(txn, 405, now, extra=[("Allow", ALLOWED_METHODS)])

    def _on_invite(self, txn: _ServerTxn, now: float) -> None:
        request = txn.request
        call_id = request.get("Call-ID") or ""
        to = parse_name_addr(request.get("To") or "")
        sender = parse_name_addr(request.get("From") or "")
        body_type = (request.get("Content-Type") or "application/sdp").split(";")[0].strip()
        if request.body and body_type.lower() != "application/sdp":
            self._final(txn, 415, now, extra=[("Accept", "application/sdp")])
            return
        if to.tag is not None:
            self._on_reinvite(txn, to.tag, now)
            return
        if call_id in self.calls:
            self._final(txn, 482, now)  # a fork of a call we have, or a looped request
            return
        if self.digest is not None:
            verdict = self.digest.check(request.get("Authorization"), "INVITE", now)
            if verdict != "ok":
                challenge = self.digest.challenge(now, stale=verdict == "stale")
                self._final(txn, 401, now, extra=[("WWW-Authenticate", challenge)])
                return
        if self.max_calls is not None and self.live_calls >= self.max_calls:
            self._final(txn, self.busy_code, now, extra=[("Retry-After", "30")])
            self._events.append(CallRefused(call_id, txn.addr, self.busy_code))
            return
        contact = request.get_all("Contact")
        call = SipCall(
            call_id=call_id,
            remote_addr=txn.addr,
            caller=sender.uri,
            called=to.uri,
            offer=request.body,
            local_tag=self._token("tag", call_id)[:16],
            remote_tag=sender.tag or "",
            from_header=request.get("From") or "",
            remote_target=parse_name_addr(contact[0]).uri if contact else sender.uri,
        )
        call.to_header = f"{request.get('To')};tag={call.local_tag}"
        txn.call = call
        self.calls[call_id] = call
        self._pending_invite[call_id] = txn
        self._respond(txn, 100)
        self._events.append(IncomingSipCall(call))

    def _on_reinvite(self, txn: _ServerTxn, to_tag: str, now: float) -> None:
        call_id = txn.request.get("Call-ID") or ""
        call = self.calls.get(call_id)
        if call is None or call.local_tag != to_tag or call.state == "ended":
            self._final(txn, 481, now)
            return
        if call_id in self._pending_invite or call_id in self._ok:
            self._final(txn, 491, now)  # an INVITE of ours is still in progress
            return
        txn.call = call
        self._pending_invite[call_id] = txn
        self._respond(txn, 100)
        self._events.append(CallUpdated(call, txn.request.body))

    def _on_ack(self, request: SipMessage, now: float) -> None:
        call_id = request.get("Call-ID") or ""
        ok = self._ok.get(call_id)
        cseq, _method = parse_cseq(request.get("CSeq") or "")
        if ok is not None and ok.cseq == cseq:
            del self._ok[call_id]
            call = self.calls[call_id]
            if call.state == "answered":
                call.state = "confirmed"
                self._events.append(CallEstablished(call))
            return
        txn = self._txns.get(_key(request))
        if txn is not None and txn.final >= 300:
            txn.resend_at = None  # timer G stops; the transaction absorbs ACKs until H
            self._forget_if_done(call_id)

    def _on_bye(self, txn: _ServerTxn, now: float) -> None:
        request = txn.request
        call_id = request.get("Call-ID") or ""
        call = self.calls.get(call_id)
        to = parse_name_addr(request.get("To") or "")
        if call is None or to.tag != call.local_tag or call.state == "incoming":
            self._final(txn, 481, now)
            return
        self._final(txn, 200, now)
        self._ok.pop(call_id, None)
        pending = self._pending_invite.pop(call_id, None)
        if pending is not None:
            self._final_to_invite(pending, 487, now)
        self._end(call, "bye")

    def _on_cancel(self, txn: _ServerTxn, now: float) -> None:
        invite_key = (parse_via(txn.request.get_all("Via")[0]).branch, "INVITE")
        invite = self._txns.get(invite_key)
        if invite is None or invite.call is None:
            self._final(txn, 481, now)
            return
        self._final(txn, 200, now)
        call = invite.call
        if self._pending_invite.get(call.call_id) is invite:
            del self._pending_invite[call.call_id]
            self._final_to_invite(invite, 487, now)
            if call.state == "incoming":
                self._end(call, "cancelled")

    # -- responses to our BYE -------------------------------------------------------------

    def _on_response(self, response: SipMessage) -> None:
        call_id = response.get("Call-ID") or ""
        _cseq, method = parse_cseq(response.get("CSeq") or "")
        bye = self._bye.get(call_id)
        if method == "BYE" and bye is not None and (response.status or 0) >= 200:
            del self._bye[call_id]
            self._forget_if_done(call_id)
        # anything else (a 1xx, a stray response) needs nothing from us

    # -- building and sending -----------------------------------------------------------

    def _pending(self, call: SipCall, command: str) -> _ServerTxn:
        txn = self._pending_invite.get(call.call_id)
        if txn is None or txn.call is not call:
            raise LocalProtocolError(f"{command}: the call has no INVITE waiting for an answer")
        return txn

    def _final(
        self,
        txn: _ServerTxn,
        status: int,
        now: float,
        *,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """A final response to a request no call will answer (INVITEs: with timer G)."""
        if txn.request.method == "INVITE":
            self._final_to_invite(txn, status, now, extra=extra)
            return
        self._respond(
            txn, status, to_tag=self._token("tag", _key(txn.request)[0])[:16], extra=extra
        )
        txn.expires_at = now + 64 * self.t1  # timer J

    def _final_to_invite(
        self,
        txn: _ServerTxn,
        status: int,
        now: float,
        *,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        tag = (
            txn.call.local_tag
            if txn.call is not None
            else self._token("tag", _key(txn.request)[0])[:16]
        )
        self._respond(txn, status, to_tag=tag, extra=extra)
        self._txns[_key(txn.request)] = txn  # (kept, or put back: it absorbs retransmissions)
        txn.resend_at = None if self.reliable else now + self.t1
        txn.interval = self.t1
        txn.expires_at = now + 64 * self.t1  # timer H

    def _respond(
        self,
        txn: _ServerTxn,
        status: int,
        *,
        to_tag: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> bytes:
        data = self._response(
            txn.request, txn.addr, status, REASONS.get(status, ""), to_tag, extra, body
        )
        txn.response = data
        if status >= 200:
            txn.final = status
        self._out.append((data, txn.addr))
        return data

    def _reply_bare(
        self, request: SipMessage, addr: Address, status: int, reason: str = ""
    ) -> None:
        """A response outside any transaction (400 for a broken request, 403)."""
        try:
            data = self._response(request, addr, status, reason or REASONS[status], "", None, b"")
        except SipParseError as exc:
            self.dropped += 1
            self._events.append(MessageDropped(addr, str(exc)[:200]))
            return
        self._out.append((data, addr))

    def _response(
        self,
        request: SipMessage,
        addr: Address,
        status: int,
        reason: str,
        to_tag: str | None,
        extra: list[tuple[str, str]] | None,
        body: bytes,
    ) -> bytes:
        vias = request.get_all("Via")
        top = parse_via(vias[0])
        first = vias[0]
        if "rport" in top.params:
            first = _RPORT.sub(f";rport={addr[1]}", first, count=1)
        if top.host != addr[0]:
            first += f";received={addr[0]}"
        headers = [("Via", first)] + [("Via", via) for via in vias[1:]]
        to = request.get("To") or ""
        if to_tag and status != 100 and parse_name_addr(to).tag is None:
            to += f";tag={to_tag}"
        headers += [
            ("From", request.get("From") or ""),
            ("To", to),
            ("Call-ID", request.get("Call-ID") or ""),
            ("CSeq", request.get("CSeq") or ""),
            ("Server", self.server_name),
        ]
        headers += extra or []
        response = SipMessage(status=status, reason=reason, headers=headers, body=body)
        return response.serialize()

    def _send_bye(self, call: SipCall, now: float) -> None:
        call.local_cseq += 1
        host, port = self.local_addr
        branch = "z9hG4bK" + self._token("bye", call.call_id)[:20]
        bye = SipMessage(
            method="BYE",
            uri=call.remote_target,
            headers=[
                ("Via", f"SIP/2.0/{self.transport} {host}:{port};branch={branch};rport"),
                ("Max-Forwards", "70"),
                ("From", call.to_header),
                ("To", call.from_header),
                ("Call-ID", call.call_id),
                ("CSeq", f"{call.local_cseq} BYE"),
                ("User-Agent", self.server_name),
            ],
        )
        data = bye.serialize()
        self._out.append((data, call.remote_addr))
        # Over TCP only timer F runs: the first "resend" is the give-up time.
        first = now + (64 * self.t1 if self.reliable else self.t1)
        self._bye[call.call_id] = _Resend(
            data, call.remote_addr, first, self.t1, now + 64 * self.t1, call.local_cseq
        )

    def _resend(self, item: _Resend, now: float) -> None:
        self._out.append((item.data, item.addr))
        item.interval = min(item.interval * 2, self.t2)
        item.at = now + item.interval

    def _contact(self) -> str:
        host, port = self.local_addr
        transport = ";transport=tcp" if self.reliable else ""
        return f"<sip:{self.user}@{host}:{port}{transport}>"

    def _token(self, kind: str, text: str) -> str:
        """A tag or branch: unique per call by the serial, unguessable by the seed."""
        self._serial += 1
        material = b"%s|%s|%s|%d" % (self._seed, kind.encode(), text.encode(), self._serial)
        return hashlib.sha256(material).hexdigest()

    def _end(self, call: SipCall, reason: CallEndReason) -> None:
        if call.state == "ended":
            return
        call.state = "ended"
        call.end_reason = reason
        self._events.append(CallEnded(call, reason))
        self._forget_if_done(call.call_id)

    def _forget_if_done(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is not None and call.state == "ended" and call_id not in self._bye:
            if call_id not in self._ok and call_id not in self._pending_invite:
                del self.calls[call_id]


def _key(request: SipMessage) -> tuple[str, str]:
    """A server transaction's key: the top Via's branch and the method (an ACK matches
    the INVITE it acknowledges)."""
    via = parse_via(request.get_all("Via")[0])
    method = request.method or ""
    branch = via.branch or f"{request.get('Call-ID')}|{request.get('CSeq')}|{via.host}"
    return branch, "INVITE" if method == "ACK" else method


def _reason(text: str) -> str:
    """A reason phrase from an error message: one printable line, short."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned[:80] or "Bad Request"
