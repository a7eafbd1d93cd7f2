"""SCTP over DTLS (RFC 4960/8260/8261/6525) for WebRTC data channels.

The implementation lives in the submodules; this package re-exports their public names."""

from adk_realtime.sansio.webrtc.sctp.association import (
    AssociationClosed as AssociationClosed,
    AssociationEstablished as AssociationEstablished,
    AssociationFailed as AssociationFailed,
    BufferedAmountLow as BufferedAmountLow,
    DataReceived as DataReceived,
    SctpAssociation as SctpAssociation,
    SctpBufferFull as SctpBufferFull,
    SctpError as SctpError,
    SctpEvent as SctpEvent,
    SctpState as SctpState,
    SctpStats as SctpStats,
    StreamReset as StreamReset,
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
