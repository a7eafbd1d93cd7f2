"""SCTP wire format: CRC32c, the common header, and the chunks WebRTC uses.

Theory of operation: this module is a pure codec with no state. ``parse_packet``
takes one SCTP packet (the payload of one DTLS application-data record, RFC 8261)
and returns a :class:`Packet` holding typed chunk objects, or raises
:class:`SctpError` saying what was wrong; it checks every length before it reads,
so a bad packet never yields a half-parsed result. ``encode_packet`` does the
reverse and fills in the CRC32c checksum (RFC 4960 appendix B / RFC 3309).
Each chunk class has ``encode() -> bytes`` (header, value and padding).

Chunks we do not know are returned as :class:`UnknownChunk`; what to do with
them (the two high bits of the type, RFC 4960 3.2) is the association's call.
Parameters inside INIT, INIT-ACK, HEARTBEAT and RE-CONFIG are kept as
``(type, value)`` pairs; RE-CONFIG parameters have their own small decoders.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from adk_realtime.sansio.errors import ProtocolError

__all__ = [
    "AbortChunk",
    "Chunk",
    "CookieAckChunk",
    "CookieEchoChunk",
    "DataChunk",
    "ErrorChunk",
    "ForwardTsnChunk",
    "HeartbeatAckChunk",
    "HeartbeatChunk",
    "InitAckChunk",
    "InitChunk",
    "OutgoingResetRequest",
    "Packet",
    "ReconfigChunk",
    "ReconfigResponse",
    "SackChunk",
    "SctpError",
    "ShutdownAckChunk",
    "ShutdownChunk",
    "ShutdownCompleteChunk",
    "StateCookie",
    "UnknownChunk",
    "crc32c",
    "crc32c_python",
    "encode_packet",
    "pack_chunks",
    "parse_packet",
]


class SctpError(ProtocolError):
    """An SCTP packet or chunk is malformed; the message says which field is wrong."""


# --- CRC32c (Castagnoli), table-driven, reflected polynomial 0x82F63B78 ---------------

_CRC_TABLE: list[int] = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c_python(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC32c of ``data`` (continuing from ``value``), one table lookup per byte."""
    crc = value ^ 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # The same function in C (a dependency of aiortc) is ~500x faster; use it if present.
    from google_crc32c import extend as _fast_extend
except ImportError:  # pragma: no cover - exercised only where google-crc32c is absent
    crc32c = crc32c_python
else:

    def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
        """CRC32c of ``data`` (continuing from ``value``); C implementation."""
        return int(_fast_extend(value, data if type(data) is bytes else bytes(data)))


# --- constants -------------------------------------------------------------------------

COMMON_HEADER_SIZE = 12
CHUNK_HEADER_SIZE = 4
DATA_HEADER_SIZE = 16  # chunk header + TSN, stream, SSN, PPID

# DATA chunk flags (RFC 4960 3.3.1).
FLAG_END = 0x01
FLAG_BEGIN = 0x02
FLAG_UNORDERED = 0x04
# ABORT / SHUTDOWN-COMPLETE: the verification tag is the sender's own ("reflected").
FLAG_T = 0x01

# Parameter types.
PARAM_HEARTBEAT_INFO = 0x0001
PARAM_STATE_COOKIE = 0x0007
PARAM_OUTGOING_RESET = 0x000D
PARAM_INCOMING_RESET = 0x000E
PARAM_RECONFIG_RESPONSE = 0x0010
PARAM_ADD_OUTGOING_STREAMS = 0x0011
PARAM_ADD_INCOMING_STREAMS = 0x0012
PARAM_SUPPORTED_EXTENSIONS = 0x8008
PARAM_FORWARD_TSN_SUPPORTED = 0xC000

# Error cause codes (RFC 4960 3.3.10).
CAUSE_INVALID_STREAM = 1
CAUSE_STALE_COOKIE = 3
CAUSE_PROTOCOL_VIOLATION = 13
CAUSE_USER_ABORT = 12

# RE-CONFIG results (RFC 6525 4.4).
RESULT_SUCCESS_NOTHING = 0
RESULT_SUCCESS_PERFORMED = 1
RESULT_DENIED = 2
RESULT_BAD_SEQUENCE = 5
RESULT_IN_PROGRESS = 6

_pad = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")


def _chunk(ctype: int, flags: int, value: bytes) -> bytes:
    length = CHUNK_HEADER_SIZE + len(value)
    return struct.pack("!BBH", ctype, flags, length) + value + _pad[length & 3]


def _parse_params(value: bytes, what: str) -> tuple[tuple[int, bytes], ...]:
    params: list[tuple[int, bytes]] = []
    pos, end = 0, len(value)
    while pos < end:
        if end - pos < 4:
            raise SctpError(f"{what}: {end - pos} trailing bytes, too short for a parameter")
        ptype, plen = struct.unpack_from("!HH", value, pos)
        if plen < 4 or pos + plen > end:
            raise SctpError(f"{what}: parameter 0x{ptype:04x} has bad length {plen}")
        params.append((ptype, value[pos + 4 : pos + plen]))
        pos += (plen + 3) & ~3
    return tuple(params)


def encode_params(params: Iterable[tuple[int, bytes]]) -> bytes:
    """Type-length-value parameters, each padded to 4 bytes."""
    out = bytearray()
    for ptype, pvalue in params:
        length = 4 + len(pvalue)
        out += struct.pack("!HH", ptype, length) + pvalue + _pad[length & 3]
    return bytes(out)


# --- chunk classes ---------------------------------------------------------------------


@dataclass(slots=True)
class DataChunk:
    """DATA (type 0): one fragment of one user message."""

    TYPE: ClassVar[int] = 0
    flags: int
    tsn: int
    stream_id: int
    ssn: int
    ppid: int
    user_data: bytes

    def encode(self) -> bytes:
        length = DATA_HEADER_SIZE + len(self.user_data)
        return (
            struct.pack(
                "!BBHIHHI", 0, self.flags, length, self.tsn, self.stream_id, self.ssn, self.ppid
            )
            + self.user_data
            + _pad[length & 3]
        )


@dataclass(slots=True, frozen=True)
class InitChunk:
    """INIT (type 1): opens an association; ``params`` are (type, value) pairs."""

    TYPE: ClassVar[int] = 1
    initiate_tag: int
    a_rwnd: int
    outbound_streams: int
    inbound_streams: int
    initial_tsn: int
    params: tuple[tuple[int, bytes], ...] = ()

    def encode(self) -> bytes:
        fixed = struct.pack(
            "!IIHHI",
            self.initiate_tag,
            self.a_rwnd,
            self.outbound_streams,
            self.inbound_streams,
            self.initial_tsn,
        )
        return _chunk(self.TYPE, 0, fixed + encode_params(self.params))

    def param(self, ptype: int) -> bytes | None:
        """The value of the first parameter of type ``ptype``, or None."""
        for t, v in self.params:
            if t == ptype:
                return v
        return None

    def supports(self, chunk_type: int) -> bool:
        """True if the Supported Extensions parameter lists ``chunk_type``."""
        return chunk_type in (self.param(PARAM_SUPPORTED_EXTENSIONS) or b"")


@dataclass(slots=True, frozen=True)
class InitAckChunk(InitChunk):
    """INIT-ACK (type 2): the answer to INIT, carrying the state cookie."""

    TYPE: ClassVar[int] = 2


@dataclass(slots=True, frozen=True)
class SackChunk:
    """SACK (type 3): cumulative ack, gap-ack blocks (offsets from it), duplicate TSNs."""

    TYPE: ClassVar[int] = 3
    cumulative_tsn: int
    a_rwnd: int
    gaps: tuple[tuple[int, int], ...] = ()
    duplicates: tuple[int, ...] = ()

    def encode(self) -> bytes:
        out = bytearray(
            struct.pack(
                "!IIHH", self.cumulative_tsn, self.a_rwnd, len(self.gaps), len(self.duplicates)
            )
        )
        for start, end in self.gaps:
            out += struct.pack("!HH", start, end)
        for tsn in self.duplicates:
            out += struct.pack("!I", tsn)
        return _chunk(self.TYPE, 0, bytes(out))


@dataclass(slots=True, frozen=True)
class HeartbeatChunk:
    """HEARTBEAT (type 4): ``info`` is the opaque Heartbeat Info value."""

    TYPE: ClassVar[int] = 4
    info: bytes

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, encode_params([(PARAM_HEARTBEAT_INFO, self.info)]))


@dataclass(slots=True, frozen=True)
class HeartbeatAckChunk(HeartbeatChunk):
    """HEARTBEAT-ACK (type 5): echoes the HEARTBEAT's info."""

    TYPE: ClassVar[int] = 5


@dataclass(slots=True, frozen=True)
class AbortChunk:
    """ABORT (type 6): ``causes`` are (code, value) error causes."""

    TYPE: ClassVar[int] = 6
    flags: int = 0
    causes: tuple[tuple[int, bytes], ...] = ()

    def encode(self) -> bytes:
        return _chunk(self.TYPE, self.flags, encode_params(self.causes))

    def describe(self) -> str:
        """Human-readable reason: the text of user/protocol-violation causes, else codes."""
        parts = [
            v.decode("utf-8", "replace")
            if c in (CAUSE_USER_ABORT, CAUSE_PROTOCOL_VIOLATION) and v
            else f"cause {c}"
            for c, v in self.causes
        ]
        return "; ".join(parts) or "no cause given"


@dataclass(slots=True, frozen=True)
class ShutdownChunk:
    """SHUTDOWN (type 7): carries the sender's cumulative TSN ack."""

    TYPE: ClassVar[int] = 7
    cumulative_tsn: int

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, struct.pack("!I", self.cumulative_tsn))


@dataclass(slots=True, frozen=True)
class ShutdownAckChunk:
    """SHUTDOWN-ACK (type 8)."""

    TYPE: ClassVar[int] = 8

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, b"")


@dataclass(slots=True, frozen=True)
class ErrorChunk:
    """ERROR (type 9): one or more (code, value) error causes."""

    TYPE: ClassVar[int] = 9
    causes: tuple[tuple[int, bytes], ...] = ()

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, encode_params(self.causes))


@dataclass(slots=True, frozen=True)
class CookieEchoChunk:
    """COOKIE-ECHO (type 10): returns the state cookie from INIT-ACK."""

    TYPE: ClassVar[int] = 10
    cookie: bytes

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, self.cookie)


@dataclass(slots=True, frozen=True)
class CookieAckChunk:
    """COOKIE-ACK (type 11)."""

    TYPE: ClassVar[int] = 11

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, b"")


@dataclass(slots=True, frozen=True)
class ShutdownCompleteChunk:
    """SHUTDOWN-COMPLETE (type 14)."""

    TYPE: ClassVar[int] = 14
    flags: int = 0

    def encode(self) -> bytes:
        return _chunk(self.TYPE, self.flags, b"")


@dataclass(slots=True, frozen=True)
class ReconfigChunk:
    """RE-CONFIG (type 130, RFC 6525): one or two (type, value) parameters."""

    TYPE: ClassVar[int] = 130
    params: tuple[tuple[int, bytes], ...]

    def encode(self) -> bytes:
        return _chunk(self.TYPE, 0, encode_params(self.params))


@dataclass(slots=True, frozen=True)
class ForwardTsnChunk:
    """FORWARD-TSN (type 192, RFC 3758): new cumulative TSN and (stream, SSN) pairs."""

    TYPE: ClassVar[int] = 192
    new_cumulative_tsn: int
    streams: tuple[tuple[int, int], ...] = ()

    def encode(self) -> bytes:
        body = struct.pack("!I", self.new_cumulative_tsn)
        body += b"".join(struct.pack("!HH", s, n) for s, n in self.streams)
        return _chunk(self.TYPE, 0, body)


@dataclass(slots=True, frozen=True)
class UnknownChunk:
    """A chunk type this codec does not decode; kept verbatim."""

    type: int
    flags: int
    value: bytes

    def encode(self) -> bytes:
        return _chunk(self.type, self.flags, self.value)


Chunk = (
    DataChunk
    | InitChunk
    | InitAckChunk
    | SackChunk
    | HeartbeatChunk
    | HeartbeatAckChunk
    | AbortChunk
    | ShutdownChunk
    | ShutdownAckChunk
    | ErrorChunk
    | CookieEchoChunk
    | CookieAckChunk
    | ShutdownCompleteChunk
    | ReconfigChunk
    | ForwardTsnChunk
    | UnknownChunk
)


# --- RE-CONFIG parameters (RFC 6525 4.1 and 4.4) ---------------------------------------


@dataclass(slots=True, frozen=True)
class OutgoingResetRequest:
    """Outgoing SSN Reset Request: the sender resets its outgoing ``streams``."""

    request_seq: int
    response_seq: int
    last_tsn: int
    streams: tuple[int, ...]

    def param(self) -> tuple[int, bytes]:
        head = struct.pack("!III", self.request_seq, self.response_seq, self.last_tsn)
        return PARAM_OUTGOING_RESET, head + b"".join(struct.pack("!H", s) for s in self.streams)

    @classmethod
    def decode(cls, value: bytes) -> OutgoingResetRequest:
        if len(value) < 12 or len(value) % 2:
            raise SctpError(f"outgoing SSN reset request: bad length {len(value) + 4}")
        req, resp, last = struct.unpack_from("!III", value)
        streams = struct.unpack_from(f"!{(len(value) - 12) // 2}H", value, 12)
        return cls(req, resp, last, tuple(streams))


@dataclass(slots=True, frozen=True)
class ReconfigResponse:
    """Re-configuration Response: ``result`` for the request numbered ``response_seq``."""

    response_seq: int
    result: int

    def param(self) -> tuple[int, bytes]:
        return PARAM_RECONFIG_RESPONSE, struct.pack("!II", self.response_seq, self.result)

    @classmethod
    def decode(cls, value: bytes) -> ReconfigResponse:
        if len(value) not in (8, 16):
            raise SctpError(f"re-configuration response: bad length {len(value) + 4}")
        seq, result = struct.unpack_from("!II", value)
        return cls(seq, result)


# --- state cookie (our own format; only we ever read it) -------------------------------


@dataclass(slots=True, frozen=True)
class StateCookie:
    """The peer's INIT parameters, a timestamp and our tag, sealed with HMAC-SHA256."""

    timestamp: float
    local_tag: int
    peer_tag: int
    peer_tsn: int
    peer_rwnd: int
    peer_os: int
    peer_mis: int
    peer_reconfig: bool

    _FMT: ClassVar[struct.Struct] = struct.Struct("!dIIIIHHB")

    @classmethod
    def for_init(cls, init: InitChunk, local_tag: int, now: float) -> StateCookie:
        """What to remember about ``init`` (also used for an INIT-ACK's parameters)."""
        return cls(
            now,
            local_tag,
            init.initiate_tag,
            init.initial_tsn,
            init.a_rwnd,
            init.outbound_streams,
            init.inbound_streams,
            init.supports(ReconfigChunk.TYPE),
        )

    def seal(self, secret: bytes) -> bytes:
        body = self._FMT.pack(
            self.timestamp,
            self.local_tag,
            self.peer_tag,
            self.peer_tsn,
            self.peer_rwnd,
            self.peer_os,
            self.peer_mis,
            int(self.peer_reconfig),
        )
        return body + hmac.new(secret, body, hashlib.sha256).digest()

    @classmethod
    def open(cls, data: bytes, secret: bytes) -> StateCookie:
        """Verify and decode; raises :class:`SctpError` if the signature does not match."""
        n = cls._FMT.size
        if len(data) != n + 32 or not hmac.compare_digest(
            hmac.new(secret, data[:n], hashlib.sha256).digest(), data[n:]
        ):
            raise SctpError("state cookie signature does not verify (forged or not ours)")
        ts, local, peer, tsn, rwnd, os_, mis, ext = cls._FMT.unpack_from(data)
        return cls(ts, local, peer, tsn, rwnd, os_, mis, bool(ext))


# --- packets ---------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Packet:
    """One decoded SCTP packet."""

    source_port: int
    destination_port: int
    verification_tag: int
    chunks: tuple[Chunk, ...]


def _parse_chunk(ctype: int, flags: int, value: bytes) -> Chunk:
    n = len(value)
    if ctype == 0:
        if n <= 12:
            raise SctpError(f"DATA chunk of length {n + 4} carries no user data (minimum 17)")
        tsn, sid, ssn, ppid = struct.unpack_from("!IHHI", value)
        return DataChunk(flags, tsn, sid, ssn, ppid, value[12:])
    if ctype in (1, 2):
        name = "INIT" if ctype == 1 else "INIT-ACK"
        if n < 16:
            raise SctpError(f"{name} chunk too short: length {n + 4}, minimum 20")
        tag, rwnd, os_, mis, itsn = struct.unpack_from("!IIHHI", value)
        if tag == 0 or os_ == 0 or mis == 0:
            raise SctpError(f"{name} has a zero initiate tag or zero stream count")
        params = _parse_params(value[16:], name)
        cls = InitChunk if ctype == 1 else InitAckChunk
        return cls(tag, rwnd, os_, mis, itsn, params)
    if ctype == 3:
        if n < 12:
            raise SctpError(f"SACK chunk too short: length {n + 4}, minimum 16")
        cum, rwnd, ngaps, ndups = struct.unpack_from("!IIHH", value)
        if n != 12 + 4 * ngaps + 4 * ndups:
            raise SctpError(
                f"SACK length {n + 4} does not match {ngaps} gap blocks and {ndups} duplicates"
            )
        flat = struct.unpack_from(f"!{2 * ngaps}H", value, 12)
        gaps = tuple(zip(flat[0::2], flat[1::2]))
        dups = struct.unpack_from(f"!{ndups}I", value, 12 + 4 * ngaps)
        return SackChunk(cum, rwnd, gaps, tuple(dups))
    if ctype in (4, 5):
        params = _parse_params(value, "HEARTBEAT")
        if not params or params[0][0] != PARAM_HEARTBEAT_INFO:
            raise SctpError("HEARTBEAT chunk without a Heartbeat Info parameter")
        return (HeartbeatChunk if ctype == 4 else HeartbeatAckChunk)(params[0][1])
    if ctype == 6:
        return AbortChunk(flags, _parse_params(value, "ABORT"))
    if ctype == 7:
        if n != 4:
            raise SctpError(f"SHUTDOWN chunk must be 8 bytes long, got {n + 4}")
        return ShutdownChunk(struct.unpack("!I", value)[0])
    if ctype == 8:
        return ShutdownAckChunk()
    if ctype == 9:
        return ErrorChunk(_parse_params(value, "ERROR"))
    if ctype == 10:
        return CookieEchoChunk(value)
    if ctype == 11:
        return CookieAckChunk()
    if ctype == 14:
        return ShutdownCompleteChunk(flags)
    if ctype == 130:
        params = _parse_params(value, "RE-CONFIG")
        if not params or len(params) > 2:
            raise SctpError(f"RE-CONFIG chunk must carry 1 or 2 parameters, got {len(params)}")
        return ReconfigChunk(params)
    if ctype == 192:
        if n < 4 or n % 4:
            raise SctpError(f"FORWARD-TSN chunk has bad length {n + 4}")
        flat = struct.unpack_from(f"!I{(n - 4) // 2}H", value)
        return ForwardTsnChunk(flat[0], tuple(zip(flat[1::2], flat[2::2])))
    return UnknownChunk(ctype, flags, value)


def parse_packet(data: bytes, *, verify_checksum: bool = True) -> Packet:
    """Decode one SCTP packet; raises :class:`SctpError` if anything is malformed.

    The checksum is checked first (a mismatch says so in the message, which
    starts with ``"bad checksum"``); then every chunk is decoded, so either the
    whole packet is returned or nothing is.
    """
    data = bytes(data)
    if len(data) < COMMON_HEADER_SIZE + CHUNK_HEADER_SIZE:
        raise SctpError(f"SCTP packet of {len(data)} bytes is shorter than the 16-byte minimum")
    src, dst, vtag = struct.unpack_from("!HHI", data)
    if verify_checksum:
        calc = crc32c(data[:8] + b"\x00\x00\x00\x00" + data[12:])
        # The checksum travels in the byte order the CRC produces (RFC 4960 B).
        if struct.unpack_from("<I", data, 8)[0] != calc:
            raise SctpError("bad checksum: CRC32c does not match the packet contents")
    chunks: list[Chunk] = []
    pos, end = COMMON_HEADER_SIZE, len(data)
    while pos < end:
        if end - pos < CHUNK_HEADER_SIZE:
            raise SctpError(f"{end - pos} trailing bytes after the last chunk")
        ctype, flags, length = struct.unpack_from("!BBH", data, pos)
        if length < CHUNK_HEADER_SIZE or pos + length > end:
            raise SctpError(f"chunk type {ctype} has bad length {length} ({end - pos} left)")
        chunks.append(_parse_chunk(ctype, flags, data[pos + 4 : pos + length]))
        pos += (length + 3) & ~3
    return Packet(src, dst, vtag, tuple(chunks))


def encode_packet(src: int, dst: int, vtag: int, chunks: Iterable[bytes]) -> bytes:
    """Concatenate already-encoded chunks behind a common header; fill in the CRC32c."""
    buf = bytearray(struct.pack("!HHII", src, dst, vtag, 0))
    for c in chunks:
        buf += c
    struct.pack_into("<I", buf, 8, crc32c(buf))
    return bytes(buf)


def pack_chunks(src: int, dst: int, vtag: int, chunks: list[bytes], mtu: int) -> list[bytes]:
    """Encoded chunks, in order, bundled into as few packets of at most ``mtu`` bytes as
    they go (a chunk bigger than that goes alone)."""
    packets: list[bytes] = []
    current: list[bytes] = []
    size = 12
    for chunk in chunks:
        if current and size + len(chunk) > mtu:
            packets.append(encode_packet(src, dst, vtag, current))
            current, size = [], 12
        current.append(chunk)
        size += len(chunk)
    if current:
        packets.append(encode_packet(src, dst, vtag, current))
    return packets
