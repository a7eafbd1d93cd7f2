"""RTP (RFC 3550) for one Opus audio stream (RFC 7587), plus the minimal RTCP.

Theory of operation
-------------------
Outbound, :class:`RtpPacketizer` owns one SSRC for the whole session (drawn
once from a random source unless given), a sequence number that starts at a
random value and wraps at 2^16, and a timestamp on the 48 kHz Opus clock (RFC
7587: whatever the capture rate, 20 ms is +960). The marker bit is set on the
first packet of a talkspurt: the first packet, and the first after
:meth:`RtpPacketizer.skip` (a pause during which time went on but nothing was
sent). Headers are written with ``struct.pack_into`` into the caller's
preallocated buffer.

Inbound, :class:`RtpDepacketizer` parses headers (CSRCs, extension, padding)
and LATCHES the first SSRC it sees: packets from any other SSRC are ignored
and counted, so a stray or injected stream cannot splice into the audio.
Malformed packets raise :class:`RtpError`; nothing else escapes the parsers.

RTCP (RFC 3550 §6): build sender reports (with SDES CNAME, as compound RTCP
must carry) and receiver reports; parse SR, RR and BYE from a compound packet,
skipping types we do not use (SDES, APP, feedback, XR). RTP and RTCP share the
port (rtcp-mux, RFC 5761); :func:`is_rtcp` tells them apart.

State: the packetizer's counters and the depacketizer's latched SSRC; both
change only in the methods that document it. These are codecs, not sans-IO
machines: no events, no timers, each call returns its result (the media
pipelines in ``webrtc.media`` are the machines built on them).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from adk_realtime.sansio.errors import ProtocolError
from adk_realtime.sansio.webrtc._checks import require

__all__ = [
    "NTP_UNIX_OFFSET",
    "RTP_HEADER_LEN",
    "Bye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "RtpDepacketizer",
    "RtpError",
    "RtpPacket",
    "RtpPacketizer",
    "SenderReport",
    "build_receiver_report",
    "build_sdes_cname",
    "build_sender_report",
    "is_rtcp",
    "parse_rtcp",
    "parse_rtp",
    "seq_distance",
    "write_rtp_header",
]

RTP_HEADER_LEN = 12
#: Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_UNIX_OFFSET = 2_208_988_800
_HEADER = struct.Struct("!BBHII")
_RTCP_HEADER = struct.Struct("!BBH")
_SR_BODY = struct.Struct("!IIIIII")  # ssrc, ntp msw, ntp lsw, rtp ts, packets, octets
_REPORT_BLOCK = struct.Struct("!IIIIII")
RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE = 200, 201, 202, 203


class RtpError(ProtocolError):
    """An RTP or RTCP packet is malformed; the message says how. Drop the packet and go on."""


def seq_distance(a: int, b: int) -> int:
    """Signed distance from sequence number ``a`` to ``b`` on the 16-bit circle (-32768..32767)."""
    return ((b - a + 0x8000) & 0xFFFF) - 0x8000


def is_rtcp(packet: bytes | bytearray | memoryview) -> bool:
    """True if a datagram classified as RTP/RTCP is RTCP (RFC 5761 §4: second byte 192-223)."""
    return len(packet) >= 2 and 192 <= packet[1] <= 223


# -- RTP ------------------------------------------------------------------


def write_rtp_header(
    buf: bytearray | memoryview,
    offset: int,
    *,
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    marker: bool = False,
) -> int:
    """Write a 12-byte RTP header (no CSRC, no extension) at ``offset``; return 12."""
    _HEADER.pack_into(
        buf,
        offset,
        0x80,
        (0x80 if marker else 0) | (payload_type & 0x7F),
        sequence & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc & 0xFFFFFFFF,
    )
    return RTP_HEADER_LEN


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """A parsed RTP packet. ``payload`` excludes header, CSRCs, extension and padding."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes = field(repr=False)
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = field(default=b"", repr=False)
    padding: int = 0


def parse_rtp(packet: bytes | bytearray | memoryview) -> RtpPacket:
    """Parse one RTP packet; raise :class:`RtpError` saying what is wrong if it is malformed."""
    n = len(packet)
    if n < RTP_HEADER_LEN:
        raise RtpError(f"RTP packet truncated: {n} bytes, the fixed header needs 12")
    b0, b1, sequence, timestamp, ssrc = _HEADER.unpack_from(packet, 0)
    if b0 >> 6 != 2:
        raise RtpError(f"RTP version is {b0 >> 6}, expected 2")
    offset = RTP_HEADER_LEN
    cc = b0 & 0x0F
    if cc:
        end = offset + 4 * cc
        if end > n:
            raise RtpError(f"RTP packet truncated: header announces {cc} CSRCs, {n} bytes total")
        csrcs = struct.unpack_from(f"!{cc}I", packet, offset)
        offset = end
    else:
        csrcs = ()
    extension_profile = None
    extension = b""
    if b0 & 0x10:
        if offset + 4 > n:
            raise RtpError("RTP packet truncated inside the header extension")
        extension_profile, words = struct.unpack_from("!HH", packet, offset)
        end = offset + 4 + 4 * words
        if end > n:
            raise RtpError(f"RTP header extension of {words} words overruns the {n}-byte packet")
        extension = bytes(packet[offset + 4 : end])
        offset = end
    end = n
    padding = 0
    if b0 & 0x20:
        padding = packet[n - 1]
        if padding == 0 or offset + padding > n:
            raise RtpError(f"RTP padding count {padding} is invalid for a {n}-byte packet")
        end = n - padding
    return RtpPacket(
        payload_type=b1 & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=bool(b1 & 0x80),
        payload=bytes(packet[offset:end]),
        csrcs=tuple(csrcs),
        extension_profile=extension_profile,
        extension=extension,
        padding=padding,
    )


class RtpPacketizer:
    """Number and timestamp the outbound packets of one audio stream.

    ``ssrc`` defaults to a random 32-bit value drawn from ``rng`` (a
    ``random.Random``; a fresh ``random.SystemRandom`` if omitted), which
    also draws the first sequence number. ``samples_per_packet`` is the
    timestamp step per packet on the ``clock_rate`` clock (960 = 20 ms of
    Opus). Call :meth:`packetize_into` once per encoded frame, then send
    the bytes (through SRTP).
    """

    def __init__(
        self,
        ssrc: int | None = None,
        payload_type: int = 111,
        clock_rate: int = 48000,
        *,
        samples_per_packet: int = 960,
        rng: random.Random | None = None,
    ) -> None:
        require("payload_type", 0 <= payload_type <= 127, "0-127", payload_type)
        require("ssrc", ssrc is None or 0 <= ssrc < 2**32, "None or a 32-bit number", ssrc)
        require("clock_rate", clock_rate > 0, "a positive rate in Hz", clock_rate)
        require(
            "samples_per_packet", samples_per_packet > 0, "a positive count", samples_per_packet
        )
        rng = rng if rng is not None else random.SystemRandom()
        self.ssrc: int = rng.getrandbits(32) if ssrc is None else ssrc & 0xFFFFFFFF
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.samples_per_packet = samples_per_packet
        #: sequence number and timestamp of the next packet
        self.sequence: int = rng.getrandbits(16)
        self.timestamp: int = rng.getrandbits(32)
        self.packet_count = 0
        self.octet_count = 0
        self._marker = True

    def packetize_into(
        self,
        payload: bytes | bytearray | memoryview,
        out: bytearray | memoryview,
        samples: int | None = None,
    ) -> int:
        """Write header + ``payload`` into ``out``; return the packet length.

        ``samples`` is this packet's duration on the RTP clock (default
        ``samples_per_packet``). Advances sequence and timestamp; ``out`` is
        only written, never kept, so reuse one buffer for every packet.
        """
        n = len(payload)
        if len(out) < RTP_HEADER_LEN + n:
            raise ValueError(f"output buffer of {len(out)} bytes cannot hold {n + 12}")
        write_rtp_header(
            out,
            0,
            payload_type=self.payload_type,
            sequence=self.sequence,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            marker=self._marker,
        )
        out[RTP_HEADER_LEN : RTP_HEADER_LEN + n] = payload
        self._marker = False
        self.sequence = (self.sequence + 1) & 0xFFFF
        step = self.samples_per_packet if samples is None else samples
        self.timestamp = (self.timestamp + step) & 0xFFFFFFFF
        self.packet_count += 1
        self.octet_count += n
        return RTP_HEADER_LEN + n

    def skip(self, samples: int) -> None:
        """Account for a pause: advance the timestamp by ``samples`` without sending.

        The sequence number does not move (nothing was lost), and the next
        packet carries the marker bit (start of a talkspurt).
        """
        if samples < 0:
            raise ValueError("cannot skip a negative duration")
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        self._marker = True

    def build_sender_report(self, wallclock: float, cname: str | None = None) -> bytes:
        """Build a compound SR (+ SDES CNAME if ``cname``) for this stream.

        ``wallclock`` is Unix time in seconds from the caller's clock. The RTP
        timestamp in the report is that of the next packet, which is within
        one packet of the true mapping; good enough for audio-only sessions.
        Protect it with ``SrtpSession.protect_rtcp`` before sending.
        """
        report = build_sender_report(
            self.ssrc,
            wallclock=wallclock,
            rtp_timestamp=self.timestamp,
            packet_count=self.packet_count,
            octet_count=self.octet_count,
        )
        if cname is not None:
            report += build_sdes_cname(self.ssrc, cname)
        return report


class RtpDepacketizer:
    """Parse inbound RTP and keep only the first stream (SSRC latching).

    ``payload_type`` (optional) drops other payload types, counted. Call
    :meth:`receive` per decrypted packet; it returns the packet to hand to
    the jitter buffer, or ``None`` if it was ignored. ``stats`` counts
    ``accepted``, ``foreign_ssrc`` and ``wrong_payload_type``.
    """

    def __init__(self, payload_type: int | None = None) -> None:
        require(
            "payload_type",
            payload_type is None or 0 <= payload_type <= 127,
            "None or 0-127",
            payload_type,
        )
        self.payload_type = payload_type
        self.ssrc: int | None = None
        self.stats: dict[str, int] = {"accepted": 0, "foreign_ssrc": 0, "wrong_payload_type": 0}

    def receive(self, packet: bytes | bytearray | memoryview) -> RtpPacket | None:
        """Parse and filter one packet; raises :class:`RtpError` if it is malformed.

        The first well-formed packet of the wanted payload type fixes the SSRC.
        """
        parsed = parse_rtp(packet)
        if self.payload_type is not None and parsed.payload_type != self.payload_type:
            self.stats["wrong_payload_type"] += 1
            return None
        if self.ssrc is None:
            self.ssrc = parsed.ssrc
        elif parsed.ssrc != self.ssrc:
            self.stats["foreign_ssrc"] += 1
            return None
        self.stats["accepted"] += 1
        return parsed

    def relatch(self) -> None:
        """Forget the latched SSRC (after a renegotiation); the next packet latches anew."""
        self.ssrc = None


# -- RTCP -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report (RFC 3550 §6.4.1) about source ``ssrc``."""

    ssrc: int
    fraction_lost: float  # 0.0 .. 255/256 since the previous report
    cumulative_lost: int  # signed: duplicates can make it negative
    highest_sequence: int  # extended (cycles << 16 | seq)
    jitter: int  # interarrival jitter in RTP timestamp units
    last_sr: int = 0  # middle 32 bits of the last SR's NTP timestamp
    delay_since_last_sr: int = 0  # in 1/65536 s


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    @property
    def wallclock(self) -> float:
        """The NTP timestamp as Unix time in seconds."""
        return self.ntp_timestamp / 2**32 - NTP_UNIX_OFFSET


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class Bye:
    ssrcs: tuple[int, ...]
    reason: str = ""


RtcpPacket = SenderReport | ReceiverReport | Bye


def _ntp(wallclock: float) -> int:
    return round((wallclock + NTP_UNIX_OFFSET) * 2**32) & 0xFFFFFFFFFFFFFFFF


def _blocks(reports: tuple[ReportBlock, ...] | list[ReportBlock]) -> bytes:
    if len(reports) > 31:
        raise ValueError("an RTCP report carries at most 31 report blocks")
    out = bytearray()
    for r in reports:
        fraction = max(0, min(255, int(r.fraction_lost * 256)))
        lost = max(-0x800000, min(0x7FFFFF, r.cumulative_lost)) & 0xFFFFFF
        out += _REPORT_BLOCK.pack(
            r.ssrc & 0xFFFFFFFF,
            (fraction << 24) | lost,
            r.highest_sequence & 0xFFFFFFFF,
            r.jitter & 0xFFFFFFFF,
            r.last_sr & 0xFFFFFFFF,
            r.delay_since_last_sr & 0xFFFFFFFF,
        )
    return bytes(out)


def build_sender_report(
    ssrc: int,
    *,
    wallclock: float,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    reports: tuple[ReportBlock, ...] | list[ReportBlock] = (),
) -> bytes:
    """Build one RTCP SR; ``wallclock`` is Unix seconds (becomes the NTP timestamp)."""
    ntp = _ntp(wallclock)
    body = _SR_BODY.pack(
        ssrc & 0xFFFFFFFF,
        ntp >> 32,
        ntp & 0xFFFFFFFF,
        rtp_timestamp & 0xFFFFFFFF,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
    ) + _blocks(reports)
    return _RTCP_HEADER.pack(0x80 | len(reports), RTCP_SR, (len(body) + 4) // 4 - 1) + body


def build_receiver_report(
    ssrc: int, reports: tuple[ReportBlock, ...] | list[ReportBlock] = ()
) -> bytes:
    """Build one RTCP RR from ``ssrc`` carrying ``reports``."""
    body = struct.pack("!I", ssrc & 0xFFFFFFFF) + _blocks(reports)
    return _RTCP_HEADER.pack(0x80 | len(reports), RTCP_RR, (len(body) + 4) // 4 - 1) + body


def build_sdes_cname(ssrc: int, cname: str) -> bytes:
    """Build an SDES packet with one chunk holding the CNAME item."""
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc & 0xFFFFFFFF, 1, len(text)) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _RTCP_HEADER.pack(0x81, RTCP_SDES, (len(chunk) + 4) // 4 - 1) + chunk


def _parse_blocks(
    data: bytes | memoryview, offset: int, count: int, end: int
) -> tuple[ReportBlock, ...]:
    if offset + 24 * count > end:
        raise RtpError(f"RTCP report announces {count} blocks but is too short for them")
    blocks = []
    for i in range(count):
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset + 24 * i)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        blocks.append(
            ReportBlock(
                ssrc=ssrc,
                fraction_lost=(lost >> 24) / 256,
                cumulative_lost=cumulative,
                highest_sequence=highest,
                jitter=jitter,
                last_sr=lsr,
                delay_since_last_sr=dlsr,
            )
        )
    return tuple(blocks)


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Parse a compound RTCP packet into SR / RR / BYE; other types are skipped.

    Raises :class:`RtpError` if any packet's framing is malformed (then none
    of the compound is returned: it is one datagram, one verdict).
    """
    view = bytes(data)
    n = len(view)
    if n < 4:
        raise RtpError(f"RTCP packet truncated: {n} bytes, the header needs 4")
    out: list[RtcpPacket] = []
    offset = 0
    while offset < n:
        if n - offset < 4:
            raise RtpError(f"RTCP compound has {n - offset} trailing bytes, not a packet")
        b0, pt, words = _RTCP_HEADER.unpack_from(view, offset)
        if b0 >> 6 != 2:
            raise RtpError(f"RTCP version is {b0 >> 6}, expected 2")
        end = offset + 4 * (words + 1)
        if end > n:
            raise RtpError(
                f"RTCP packet type {pt} claims {4 * (words + 1)} bytes, {n - offset} left"
            )
        body_end = end
        if b0 & 0x20:
            pad = view[end - 1]
            if pad == 0 or pad > end - offset - 4:
                raise RtpError(f"RTCP padding count {pad} is invalid")
            body_end = end - pad
        count = b0 & 0x1F
        if pt == RTCP_SR:
            if body_end - offset < 28:
                raise RtpError("RTCP sender report truncated")
            ssrc, msw, lsw, rtp_ts, packets, octets = _SR_BODY.unpack_from(view, offset + 4)
            blocks = _parse_blocks(view, offset + 28, count, body_end)
            out.append(SenderReport(ssrc, (msw << 32) | lsw, rtp_ts, packets, octets, blocks))
        elif pt == RTCP_RR:
            if body_end - offset < 8:
                raise RtpError("RTCP receiver report truncated")
            (ssrc,) = struct.unpack_from("!I", view, offset + 4)
            out.append(ReceiverReport(ssrc, _parse_blocks(view, offset + 8, count, body_end)))
        elif pt == RTCP_BYE:
            if offset + 4 + 4 * count > body_end:
                raise RtpError(f"RTCP BYE announces {count} sources but is too short")
            ssrcs = struct.unpack_from(f"!{count}I", view, offset + 4)
            reason = ""
            at = offset + 4 + 4 * count
            if at < body_end:
                length = view[at]
                reason = view[at + 1 : min(at + 1 + length, body_end)].decode("utf-8", "replace")
            out.append(Bye(tuple(ssrcs), reason))
        offset = end
    return out
