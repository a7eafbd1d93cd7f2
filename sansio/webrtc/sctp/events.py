"""What an SCTP association tells its caller: events, counters, the buffer-full error.

Theory of operation: ``SctpAssociation.next_event()`` returns these, in the
order things happened; they are plain frozen values. ``SctpStats`` counts
everything that was dropped or repaired, so nothing disappears unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from adk_realtime.sansio.errors import LocalProtocolError

__all__ = [
    "AssociationClosed",
    "AssociationEstablished",
    "AssociationFailed",
    "BufferedAmountLow",
    "DataReceived",
    "SctpBufferFull",
    "SctpEvent",
    "SctpStats",
    "StreamReset",
]


class SctpBufferFull(LocalProtocolError):
    """``send`` would take the send buffer past ``max_buffered``; nothing was queued.

    Wait for a :class:`BufferedAmountLow` event (or fewer ``buffered_amount``
    bytes) and send again.
    """


class SctpEvent:
    """Base class of the events ``SctpAssociation.next_event()`` returns."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class AssociationEstablished(SctpEvent):
    """The handshake finished; ``send`` now reaches the peer."""


@dataclass(frozen=True, slots=True)
class DataReceived(SctpEvent):
    """One complete user message, in stream order (``ordered`` ones)."""

    stream_id: int
    ppid: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamReset(SctpEvent):
    """The peer reset these outgoing streams of its own (our incoming ones), RFC 6525."""

    stream_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AssociationFailed(SctpEvent):
    """The association is gone without a clean close; ``reason`` says why."""

    reason: str


@dataclass(frozen=True, slots=True)
class AssociationClosed(SctpEvent):
    """The association closed: graceful SHUTDOWN finished, or we called ``abort``."""


@dataclass(frozen=True, slots=True)
class BufferedAmountLow(SctpEvent):
    """The send buffer drained to ``buffered_amount_low_threshold`` (or a refused send fits)."""

    buffered_amount: int


@dataclass(slots=True)
class SctpStats:
    """Counters; dropped input is always counted in one of them, never silently lost."""

    packets_received: int = 0
    packets_sent: int = 0
    bad_checksum: int = 0
    malformed: int = 0
    bad_vtag: int = 0
    bad_port: int = 0
    bad_cookie: int = 0
    stale_cookie: int = 0
    unknown_chunks: int = 0
    ignored_chunks: int = 0  # valid chunks that mean nothing in the current state
    data_chunks_received: int = 0
    duplicate_tsns: int = 0
    rwnd_drops: int = 0
    stale_sacks: int = 0
    retransmissions: int = 0
    fast_retransmissions: int = 0
    t3_expirations: int = 0
    heartbeats_sent: int = 0
    reconfig_refused: int = 0
    after_close: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for logs and tests)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
