"""Fault management for an SCTP association: the RTO, the error counter, heartbeats.

Theory of operation
-------------------
:class:`PathMonitor` answers two questions for the association (RFC 4960 6.3
and 8): how long to wait before retransmitting (``rto``), and when the peer is
to be declared unreachable. It keeps the RTT estimate (SRTT/RTTVAR, 6.3.1), the
exponential back-off (6.3.3), the association error counter (8.1) and the
heartbeat probe (8.3): its nonce, its send time inside the chunk, and whether
one is outstanding. It never reads a clock or touches the association: the
association calls it when a timer fires or an acknowledgement arrives, and acts
on what it returns (a heartbeat chunk to send, a failure reason).

Deliberate deviation, for lossy paths: an ack of new data drops the back-off at
once (:meth:`PathMonitor.end_back_off`) instead of waiting for a fresh RTT
sample, which Karn's rule can withhold for many round trips.
"""

from __future__ import annotations

import struct

from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.sctp.chunks import HeartbeatChunk

__all__ = ["PathMonitor"]

_HEARTBEAT_INFO = struct.Struct("!dQ")  # send time, nonce: echoed back by the peer


class PathMonitor:
    """RTO estimation, the association error counter and the heartbeat probe."""

    def __init__(
        self,
        *,
        rto_initial: float,
        rto_min: float,
        rto_max: float,
        max_retransmits: int,
        heartbeat_interval: float,
        nonce: int,
    ) -> None:
        require("rto_initial", rto_initial > 0, "a positive number of seconds", rto_initial)
        require("rto_min", rto_min > 0, "a positive number of seconds", rto_min)
        require("rto_max", rto_max >= rto_min, f"at least rto_min ({rto_min})", rto_max)
        require("max_retransmits", max_retransmits >= 0, "0 or more", max_retransmits)
        positive = "a positive number of seconds"
        require("heartbeat_interval", heartbeat_interval > 0, positive, heartbeat_interval)
        self.rto = rto_initial
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_outstanding = False
        self._rto_min, self._rto_max = rto_min, rto_max
        self._rto_base = rto_initial  # RTO from the RTT estimate, before any back-off
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._errors = 0
        self._max_retransmits = max_retransmits
        self._nonce = nonce

    def next_heartbeat(self, now: float) -> float:
        """When to probe an idle peer, counting from ``now``."""
        return now + self.heartbeat_interval + self.rto

    def rtt_sample(self, rtt: float) -> None:
        """A measured round trip (RFC 4960 6.3.1): new SRTT, RTTVAR and RTO."""
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        self.rto = min(max(self._srtt + 4 * self._rttvar, self._rto_min), self._rto_max)
        self._rto_base = self.rto

    def back_off(self) -> None:
        """A retransmission timer expired: double the RTO (RFC 4960 6.3.3 E2)."""
        self.rto = min(self.rto * 2, self._rto_max)

    def end_back_off(self) -> None:
        """The peer acks new data again: back to the RTO of the RTT estimate."""
        self.rto = self._rto_base

    def peer_alive(self) -> None:
        """The peer answered (new data acked, a zero-window probe's SACK, the handshake):
        the error count starts over."""
        self._errors = 0

    def heard_from_peer(self) -> None:
        """Any packet from the peer: no heartbeat is waiting for an answer any more."""
        self.heartbeat_outstanding = False

    def count_error(self, what: str) -> str | None:
        """One more unanswered retransmission (RFC 4960 8.1); the failure reason once
        there were more than ``max_retransmits`` in a row, else None."""
        self._errors += 1
        if self._errors > self._max_retransmits:
            return (
                f"{what}: no acknowledgement after {self._max_retransmits} retransmissions "
                f"(RTO reached {self.rto:g} s)"
            )
        return None

    def heartbeat(self, now: float) -> bytes:
        """The encoded HEARTBEAT chunk to send at ``now``; it is now outstanding."""
        self._nonce = (self._nonce + 1) & 0xFFFFFFFFFFFFFFFF
        self.heartbeat_outstanding = True
        return HeartbeatChunk(_HEARTBEAT_INFO.pack(now, self._nonce)).encode()

    def heartbeat_ack(self, info: bytes, now: float) -> bool:
        """Check a HEARTBEAT-ACK's echoed info; if it answers our probe, the peer is
        alive and the round trip is sampled. False: not ours (ignore the chunk)."""
        if len(info) != _HEARTBEAT_INFO.size:
            return False
        sent_at, nonce = _HEARTBEAT_INFO.unpack(info)
        if nonce != self._nonce or not self.heartbeat_outstanding or sent_at > now:
            return False
        self.heartbeat_outstanding = False
        self._errors = 0
        self.rtt_sample(now - sent_at)
        return True
