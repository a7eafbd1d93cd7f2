"""The SCTP association's state machine: its states, what moves between them, and
which states allow what (RFC 4960 4).

Theory of operation
-------------------
This is the definition, in the manner of h11's ``_state``: :data:`TRANSITIONS`
is the whole table and :func:`next_state` the one function that reads it
(refusing anything not in it). ``SctpAssociation._set_state`` is the only caller
that changes state; the handshake only reads states. CLOSED is "no association
yet"; TERMINATED is RFC CLOSED after an association existed (the object is then
inert: make a new one to reconnect)::

    CLOSED --connect--> COOKIE-WAIT --INIT-ACK--> COOKIE-ECHOED --COOKIE-ACK--> ESTABLISHED
    COOKIE-ECHOED --ERROR(stale cookie)--> COOKIE-WAIT (INIT again)
    CLOSED / COOKIE-WAIT / COOKIE-ECHOED --valid COOKIE-ECHO--> ESTABLISHED
    ESTABLISHED --shutdown()--> SHUTDOWN-PENDING --all data acked--> SHUTDOWN-SENT
    ESTABLISHED / SHUTDOWN-PENDING --SHUTDOWN--> SHUTDOWN-RECEIVED --all acked--> SHUTDOWN-ACK-SENT
    SHUTDOWN-SENT --SHUTDOWN (both closing)--> SHUTDOWN-ACK-SENT
    SHUTDOWN-SENT / SHUTDOWN-ACK-SENT --SHUTDOWN-ACK--> TERMINATED (we send SHUTDOWN-COMPLETE)
    SHUTDOWN-ACK-SENT --SHUTDOWN-COMPLETE--> TERMINATED
    any state --ABORT sent or received, too many retransmissions--> TERMINATED
"""

from __future__ import annotations

import enum

from adk_realtime.sansio.errors import LocalProtocolError

__all__ = [
    "ANSWERS_INIT",
    "DATA_IN_STATES",
    "DATA_OUT_STATES",
    "SEND_STATES",
    "SETTING_UP",
    "TRANSITIONS",
    "UP_STATES",
    "SctpState",
    "Trigger",
    "next_state",
]


class SctpState(enum.Enum):
    """Where an association is (the names of RFC 4960 4)."""

    CLOSED = "CLOSED"
    COOKIE_WAIT = "COOKIE-WAIT"
    COOKIE_ECHOED = "COOKIE-ECHOED"
    ESTABLISHED = "ESTABLISHED"
    SHUTDOWN_PENDING = "SHUTDOWN-PENDING"
    SHUTDOWN_SENT = "SHUTDOWN-SENT"
    SHUTDOWN_RECEIVED = "SHUTDOWN-RECEIVED"
    SHUTDOWN_ACK_SENT = "SHUTDOWN-ACK-SENT"
    TERMINATED = "TERMINATED"


class Trigger(enum.Enum):
    """What moves an association between states (the inputs of :data:`TRANSITIONS`)."""

    CONNECT = 1
    INIT_ACK = 2
    COOKIE_ECHO = 3
    COOKIE_ACK = 4
    SHUTDOWN_CALLED = 5
    DRAINED = 6
    SHUTDOWN_IN = 7
    SHUTDOWN_ACK_IN = 8
    SHUTDOWN_COMPLETE_IN = 9
    STALE_COOKIE = 10
    END = 11  # ABORT either way, or failure


S, T = SctpState, Trigger
TRANSITIONS: dict[tuple[SctpState, Trigger], SctpState] = {
    (S.CLOSED, T.CONNECT): S.COOKIE_WAIT,
    (S.COOKIE_WAIT, T.INIT_ACK): S.COOKIE_ECHOED,
    (S.CLOSED, T.COOKIE_ECHO): S.ESTABLISHED,
    (S.COOKIE_WAIT, T.COOKIE_ECHO): S.ESTABLISHED,
    (S.COOKIE_ECHOED, T.COOKIE_ECHO): S.ESTABLISHED,
    (S.COOKIE_ECHOED, T.COOKIE_ACK): S.ESTABLISHED,
    (S.COOKIE_ECHOED, T.STALE_COOKIE): S.COOKIE_WAIT,
    (S.ESTABLISHED, T.SHUTDOWN_CALLED): S.SHUTDOWN_PENDING,
    (S.SHUTDOWN_PENDING, T.DRAINED): S.SHUTDOWN_SENT,
    (S.ESTABLISHED, T.SHUTDOWN_IN): S.SHUTDOWN_RECEIVED,
    (S.SHUTDOWN_PENDING, T.SHUTDOWN_IN): S.SHUTDOWN_RECEIVED,
    (S.SHUTDOWN_SENT, T.SHUTDOWN_IN): S.SHUTDOWN_ACK_SENT,
    (S.SHUTDOWN_RECEIVED, T.DRAINED): S.SHUTDOWN_ACK_SENT,
    (S.SHUTDOWN_SENT, T.SHUTDOWN_ACK_IN): S.TERMINATED,
    (S.SHUTDOWN_ACK_SENT, T.SHUTDOWN_ACK_IN): S.TERMINATED,
    (S.SHUTDOWN_ACK_SENT, T.SHUTDOWN_COMPLETE_IN): S.TERMINATED,
    **{(s, T.END): S.TERMINATED for s in SctpState if s is not S.TERMINATED},
}
del S, T

#: The handshake is under way (or not begun): a valid cookie establishes.
SETTING_UP = frozenset({SctpState.CLOSED, SctpState.COOKIE_WAIT, SctpState.COOKIE_ECHOED})
#: INIT is answered (with our one tag) in these; shutting down or gone, it is ignored.
ANSWERS_INIT = SETTING_UP | {SctpState.ESTABLISHED}
#: ``send`` queues messages (they go out once the association is up).
SEND_STATES = ANSWERS_INIT
#: We transmit DATA and take SACKs.
DATA_OUT_STATES = frozenset(
    {SctpState.ESTABLISHED, SctpState.SHUTDOWN_PENDING, SctpState.SHUTDOWN_RECEIVED}
)
#: We accept the peer's DATA.
DATA_IN_STATES = frozenset(
    {SctpState.ESTABLISHED, SctpState.SHUTDOWN_PENDING, SctpState.SHUTDOWN_SENT}
)
#: The association exists: heartbeats are answered.
UP_STATES = DATA_OUT_STATES | {SctpState.SHUTDOWN_SENT, SctpState.SHUTDOWN_ACK_SENT}


def next_state(state: SctpState, trigger: Trigger) -> SctpState:
    """Where ``trigger`` takes an association in ``state``; `LocalProtocolError` if the
    table has no such transition."""
    new = TRANSITIONS.get((state, trigger))
    if new is None:
        raise LocalProtocolError(f"{trigger.name.lower()} is not allowed in state {state.value}")
    return new
