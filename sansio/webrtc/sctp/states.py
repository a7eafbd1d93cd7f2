"""The names of the SCTP association states and of what moves between them.

Only the names live here, so that both :mod:`~adk_realtime.sansio.webrtc.sctp.association`
and :mod:`~adk_realtime.sansio.webrtc.sctp.handshake` can use them without
importing each other. The transition table, the diagram and the one method that
changes state (``SctpAssociation._set_state``) stay in ``sctp``, which owns the
state machine.
"""

from __future__ import annotations

import enum

__all__ = ["State", "Trigger"]


class State(enum.Enum):
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
