"""What the SIP user agent server tells its driver: calls and their events.

A :class:`SipCall` is the handle of one call (one dialog): commands of
:class:`~adk_realtime.sansio.sip.uas.SipUas` take it. Its ``caller`` and ``called``
(the From and To URIs) are never shown by ``repr``: they are people's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CallEndReason",
    "CallEnded",
    "CallEstablished",
    "CallRefused",
    "CallUpdated",
    "IncomingSipCall",
    "MessageDropped",
    "SipCall",
    "SipEvent",
]

Address = tuple[str, int]
CallEndReason = Literal["bye", "cancelled", "rejected", "hung_up", "no_ack", "bye_timeout"]
"""``bye``: the caller hung up; ``cancelled``: the caller gave up before the answer;
``rejected``: we refused it; ``hung_up``: our BYE was answered; ``no_ack``: our 200 was
never acknowledged (64*T1); ``bye_timeout``: our BYE was never answered (timer F)."""


@dataclass(eq=False)
class SipCall:
    """One call. ``offer`` is the SDP of the INVITE (``b""`` when it had none),
    ``remote_addr`` where its signalling comes from (responses and our BYE go there),
    ``state``: ``"incoming"`` (no final answer yet), ``"answered"`` (200 sent, no ACK
    yet), ``"confirmed"``, ``"ended"``."""

    call_id: str
    remote_addr: Address
    caller: str = field(repr=False)
    called: str = field(repr=False)
    offer: bytes = field(repr=False)
    local_tag: str
    remote_tag: str
    state: str = "incoming"
    # the dialog's headers as we send them in our own requests
    from_header: str = field(default="", repr=False)  # the caller's From (our To)
    to_header: str = field(default="", repr=False)  # the INVITE's To with our tag (our From)
    remote_target: str = field(default="", repr=False)
    local_cseq: int = 0
    end_reason: CallEndReason | None = None


@dataclass(frozen=True, slots=True)
class IncomingSipCall:
    """A new INVITE (100 Trying was sent): answer with ``ringing``/``answer``/``reject``."""

    call: SipCall


@dataclass(frozen=True, slots=True)
class CallEstablished:
    """The caller acknowledged our 200 (ACK): media flows both ways."""

    call: SipCall


@dataclass(frozen=True, slots=True)
class CallUpdated:
    """A re-INVITE in the dialog (hold, unhold, new address): answer it with ``answer``
    (the SDP answer) or ``reject``; ``offer`` is its SDP."""

    call: SipCall
    offer: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over (once per call); ``reason`` says how."""

    call: SipCall
    reason: CallEndReason


@dataclass(frozen=True, slots=True)
class CallRefused:
    """A new INVITE was refused at ``max_calls`` with ``status`` (486 or 503) before
    any call was made of it (no :class:`SipCall`): for the application to count."""

    call_id: str
    addr: Address
    status: int


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """A datagram from ``addr`` was not a SIP message we could answer; ``reason`` says why."""

    addr: Address
    reason: str


SipEvent = (
    IncomingSipCall | CallEstablished | CallUpdated | CallEnded | CallRefused | MessageDropped
)
