"""SRTP sessions, the RTP/RTCP codec (checked against aiortc's, an independent
implementation), SSRC latching and the jitter buffer."""

from __future__ import annotations

import itertools
import os
import random
import struct

import numpy as np
import pytest
from aiortc import rtp as aiortc_rtp
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.errors import ConfigError, ProtocolError
from adk_realtime.sansio.webrtc.jitter import JitterBuffer, JitterFrame, JitterLoss
from adk_realtime.sansio.webrtc.opus import OpusEncoder
from adk_realtime.sansio.webrtc.rtp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtpDepacketizer,
    RtpError,
    RtpPacket,
    RtpPacketizer,
    SenderReport,
    build_receiver_report,
    build_sender_report,
    is_rtcp,
    parse_rtcp,
    parse_rtp,
    seq_distance,
)
from adk_realtime.sansio.webrtc.srtp import SrtpKeys, SrtpSession

KEY_A, KEY_B = bytes(range(30)), bytes(range(100, 130))


def session_pair(
    profile: str = "SRTP_AES128_CM_SHA1_80", fast: bool = True
) -> tuple[SrtpSession, SrtpSession]:
    size = 30 if profile == "SRTP_AES128_CM_SHA1_80" else 28
    a, b = KEY_A[:size], KEY_B[:size]
    return (
        SrtpSession(SrtpKeys(local=a, remote=b, profile=profile), use_fast_path=fast),
        SrtpSession(SrtpKeys(local=b, remote=a, profile=profile), use_fast_path=fast),
    )


def rtp_packet(seq: int = 1, ssrc: int = 0x11223344, payload: bytes = b"opus!" * 10) -> bytes:
    out = bytearray(1500)
    p = RtpPacketizer(ssrc=ssrc, payload_type=111, rng=random.Random(0))
    p.sequence = seq
    n = p.packetize_into(payload, out)
    return bytes(out[:n])


# -- SRTP -----------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("profile", ["SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_128_GCM"])
def test_srtp_round_trips_rtp_and_rtcp(profile: str, fast: bool) -> None:
    alice, bob = session_pair(profile, fast)
    packet = rtp_packet()
    protected = alice.protect_rtp(packet)
    assert protected != packet and len(protected) > len(packet)
    assert protected[:12] == packet[:12]  # header stays in the clear
    assert bob.unprotect_rtp(protected) == packet
    report = build_sender_report(1, wallclock=1.7e9, rtp_timestamp=5, packet_count=1, octet_count=2)
    assert bob.unprotect_rtcp(alice.protect_rtcp(report)) == report
    assert bob.stats["rtp_unprotected"] == 1 and bob.stats["rtcp_unprotected"] == 1
    assert alice.stats["rtp_protected"] == 1


def test_in_place_protection_matches_pylibsrtp_public_api() -> None:
    fast, _ = session_pair(fast=True)
    public, _ = session_pair(fast=False)
    buf = bytearray(1500)
    for seq in range(5):
        packet = rtp_packet(seq)
        buf[: len(packet)] = packet
        n = fast.protect_rtp_into(buf, len(packet))
        assert bytes(buf[:n]) == public.protect_rtp(packet)


@pytest.mark.parametrize("fast", [True, False])
def test_tampered_packet_is_dropped_and_counted(fast: bool) -> None:
    alice, bob = session_pair(fast=fast)
    protected = bytearray(alice.protect_rtp(rtp_packet()))
    protected[20] ^= 0x01
    assert bob.unprotect_rtp(bytes(protected)) is None
    assert bob.stats["rtp_auth_failed"] == 1 and bob.stats["rtp_unprotected"] == 0
    rtcp = bytearray(alice.protect_rtcp(build_receiver_report(7)))
    rtcp[-1] ^= 0xFF
    assert bob.unprotect_rtcp(bytes(rtcp)) is None
    assert bob.stats["rtcp_auth_failed"] == 1


@pytest.mark.parametrize("fast", [True, False])
def test_replayed_packet_is_dropped_and_counted(fast: bool) -> None:
    alice, bob = session_pair(fast=fast)
    protected = alice.protect_rtp(rtp_packet(seq=10))
    assert bob.unprotect_rtp(protected) is not None
    assert bob.unprotect_rtp(protected) is None
    assert bob.stats["rtp_replayed"] == 1


def test_wrong_key_and_junk_are_dropped_not_raised() -> None:
    alice, _ = session_pair()
    stranger = SrtpSession(SrtpKeys(local=os.urandom(30), remote=os.urandom(30)))
    assert stranger.unprotect_rtp(alice.protect_rtp(rtp_packet())) is None
    assert stranger.unprotect_rtp(b"\x80") is None
    assert stranger.unprotect_rtp(b"\x80" * 3000) is None
    assert stranger.unprotect_rtcp(b"") is None
    assert stranger.stats["rtp_auth_failed"] == 1
    assert stranger.stats["rtp_rejected"] == 2 and stranger.stats["rtcp_rejected"] == 1


def test_srtp_keys_are_validated_and_hidden_from_repr() -> None:
    with pytest.raises(ValueError, match="30 bytes"):
        SrtpSession(SrtpKeys(local=b"short", remote=KEY_B))
    with pytest.raises(ValueError, match="unsupported"):
        SrtpSession(SrtpKeys(local=KEY_A, remote=KEY_B, profile="NULL"))
    assert KEY_A.hex() not in repr(SrtpKeys(KEY_A, KEY_B)) and "local" not in repr(
        SrtpKeys(KEY_A, KEY_B)
    )


# -- RTP packetizer ---------------------------------------------------------


@pytest.mark.parametrize("input_rate", [16000, 24000, 48000])
def test_timestamps_advance_960_per_20ms_frame_whatever_the_input_rate(input_rate: int) -> None:
    from adk_realtime.sansio.webrtc.media import AudioSender

    alice, bob = session_pair()
    sender = AudioSender(
        RtpPacketizer(rng=random.Random(input_rate)), OpusEncoder(48000), alice, input_rate
    )
    tone = (3000 * np.sin(2 * np.pi * 440 * np.arange(input_rate) / input_rate)).astype(np.int16)
    packets: list[bytes] = []
    # odd-sized chunks: framing must not depend on how the PCM was cut
    raw = tone.tobytes()
    cuts = sorted(random.Random(1).sample(range(1, len(raw)), 36))
    for lo, hi in zip([0, *cuts], [*cuts, len(raw)]):
        sender.send_pcm(raw[lo:hi])
        packets += sender.data_to_send()
    parsed = [parse_rtp(p) for p in (bob.unprotect_rtp(x) for x in packets) if p is not None]
    assert len(parsed) == len(packets) >= 49
    for prev, cur in itertools.pairwise(parsed):
        assert (cur.timestamp - prev.timestamp) % 2**32 == 960
        assert (cur.sequence - prev.sequence) % 2**16 == 1
    assert parsed[0].marker and not any(p.marker for p in parsed[1:])
    assert {p.ssrc for p in parsed} == {sender.packetizer.ssrc}


def test_ssrc_is_stable_across_1000_frames_and_random_per_session() -> None:
    p = RtpPacketizer()
    out = bytearray(200)
    ssrcs = set()
    for _ in range(1000):
        n = p.packetize_into(b"x" * 40, out)
        ssrcs.add(parse_rtp(bytes(out[:n])).ssrc)
    assert ssrcs == {p.ssrc}
    assert len({RtpPacketizer().ssrc for _ in range(20)}) > 15
    seeded = [RtpPacketizer(rng=random.Random(7)) for _ in range(2)]
    assert seeded[0].ssrc == seeded[1].ssrc and seeded[0].sequence == seeded[1].sequence


def test_sequence_and_timestamp_wrap() -> None:
    p = RtpPacketizer(ssrc=5, rng=random.Random(1))
    p.sequence, p.timestamp = 65534, 2**32 - 960
    out = bytearray(100)
    got = []
    for _ in range(4):
        n = p.packetize_into(b"abc", out)
        pkt = parse_rtp(bytes(out[:n]))
        got.append((pkt.sequence, pkt.timestamp))
    assert got == [(65534, 2**32 - 960), (65535, 0), (0, 960), (1, 1920)]


def test_skip_advances_time_not_sequence_and_marks_the_next_packet() -> None:
    p = RtpPacketizer(ssrc=5, rng=random.Random(1))
    out = bytearray(100)
    first = parse_rtp(bytes(out[: p.packetize_into(b"a", out)]))
    second = parse_rtp(bytes(out[: p.packetize_into(b"b", out)]))
    p.skip(48000)  # one second of silence
    third = parse_rtp(bytes(out[: p.packetize_into(b"c", out)]))
    assert first.marker and not second.marker and third.marker
    assert third.sequence == (second.sequence + 1) & 0xFFFF
    assert (third.timestamp - second.timestamp) % 2**32 == 960 + 48000


def test_our_packets_parse_in_aiortc_and_aiortcs_in_ours() -> None:
    p = RtpPacketizer(ssrc=0xDEADBEEF, payload_type=111, rng=random.Random(3))
    out = bytearray(300)
    n = p.packetize_into(b"payload", out)
    theirs = aiortc_rtp.RtpPacket.parse(bytes(out[:n]))
    assert (theirs.ssrc, theirs.payload_type, theirs.marker, theirs.payload) == (
        0xDEADBEEF, 111, 1, b"payload",
    )  # fmt: skip
    packet = aiortc_rtp.RtpPacket(
        payload_type=96, sequence_number=65535, timestamp=7, ssrc=9, payload=b"p" * 33
    )
    packet.csrc = [1, 2, 3]
    packet.padding_size = 6
    ours = parse_rtp(packet.serialize())
    assert (ours.payload_type, ours.sequence, ours.timestamp, ours.ssrc) == (96, 65535, 7, 9)
    assert ours.csrcs == (1, 2, 3) and ours.payload == b"p" * 33 and ours.padding == 6


def test_parser_handles_csrcs_extension_and_padding() -> None:
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0x80 | 111, 9, 10, 11)
    body = struct.pack("!II", 100, 200) + struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    packet = parse_rtp(header + body + b"OPUS" + b"\x00\x00\x03")
    assert packet.csrcs == (100, 200) and packet.extension_profile == 0xBEDE
    assert packet.extension == b"\x10\xaa\x00\x00" and packet.payload == b"OPUS"
    assert packet.marker and packet.padding == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"\x80\x6f\x00\x01" + b"\x00" * 7, "truncated"),
        (b"\x40" + b"\x00" * 20, "version"),
        (b"\x8f" + b"\x00" * 20, "CSRC"),
        (b"\x90" + b"\x00" * 11 + b"\xbe\xde", "extension"),
        (b"\x90" + b"\x00" * 11 + b"\xbe\xde\x00\x09" + b"\x00" * 8, "overruns"),
        (b"\xa0" + b"\x00" * 11 + b"ab\x00", "padding"),
        (b"\xa0" + b"\x00" * 11 + b"ab\x09", "padding"),
    ],
)
def test_hostile_rtp_raises_rtp_error_saying_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        parse_rtp(data)
    assert issubclass(RtpError, ProtocolError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_rtp_parser_raises_only_rtp_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    assert len(packet.payload) + 12 + 4 * len(packet.csrcs) + packet.padding <= len(data)


@settings(max_examples=150, deadline=None)
@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15),
    ext=st.one_of(st.none(), st.binary(max_size=12).map(lambda b: b + b"\x00" * (-len(b) % 4))),
    payload=st.binary(max_size=100),
    padding=st.integers(0, 20),
)
def test_rtp_parser_agrees_with_aiortc_serializer(
    pt: int, seq: int, ts: int, ssrc: int, marker: bool, csrcs: list[int],
    ext: bytes | None, payload: bytes, padding: int,
) -> None:  # fmt: skip
    header = struct.pack(
        "!BBHII",
        0x80 | (0x20 if padding else 0) | (0x10 if ext is not None else 0) | len(csrcs),
        (0x80 if marker else 0) | pt, seq, ts, ssrc,
    )  # fmt: skip
    data = header + b"".join(struct.pack("!I", c) for c in csrcs)
    if ext is not None:
        data += struct.pack("!HH", 0x0001, len(ext) // 4) + ext
    data += payload + (b"\x00" * (padding - 1) + bytes([padding]) if padding else b"")
    ours = parse_rtp(data)
    theirs = aiortc_rtp.RtpPacket.parse(data)
    assert (ours.payload_type, ours.sequence, ours.timestamp, ours.ssrc) == (pt, seq, ts, ssrc)
    assert ours.marker == marker and list(ours.csrcs) == theirs.csrc == csrcs
    assert ours.payload == theirs.payload == payload and ours.padding == padding
    if ext is not None:
        assert ours.extension == ext


# -- SSRC latching ------------------------------------------------------------


def test_inbound_latches_first_ssrc_and_ignores_a_second_one() -> None:
    depacketizer = RtpDepacketizer(payload_type=111)
    assert depacketizer.receive(rtp_packet(1, ssrc=1000)) is not None
    assert depacketizer.receive(rtp_packet(2, ssrc=2000)) is None
    assert depacketizer.receive(rtp_packet(3, ssrc=2000)) is None
    accepted = depacketizer.receive(rtp_packet(4, ssrc=1000))
    assert accepted is not None and accepted.sequence == 4
    assert depacketizer.ssrc == 1000
    assert depacketizer.stats == {"accepted": 2, "foreign_ssrc": 2, "wrong_payload_type": 0}
    other_pt = bytearray(rtp_packet(5, ssrc=1000))
    other_pt[1] = 0
    assert depacketizer.receive(bytes(other_pt)) is None
    assert depacketizer.stats["wrong_payload_type"] == 1
    depacketizer.relatch()
    assert depacketizer.receive(rtp_packet(6, ssrc=2000)) is not None


def test_rtp_and_rtcp_are_told_apart_on_a_muxed_port() -> None:
    assert not is_rtcp(rtp_packet())
    assert is_rtcp(build_receiver_report(1))
    assert is_rtcp(
        build_sender_report(1, wallclock=0, rtp_timestamp=0, packet_count=0, octet_count=0)
    )


# -- RTCP -------------------------------------------------------------------


def test_sender_report_carries_ntp_time_from_the_given_wallclock() -> None:
    p = RtpPacketizer(ssrc=77, rng=random.Random(2))
    out = bytearray(100)
    for _ in range(3):
        p.packetize_into(b"12345", out)
    compound = p.build_sender_report(wallclock=1_700_000_000.25, cname="adk")
    (sr,) = parse_rtcp(compound)  # the SDES is skipped
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == 77 and sr.packet_count == 3 and sr.octet_count == 15
    assert sr.rtp_timestamp == p.timestamp
    assert sr.wallclock == pytest.approx(1_700_000_000.25, abs=1e-6)
    assert sr.ntp_timestamp >> 32 == 1_700_000_000 + 2_208_988_800
    theirs = aiortc_rtp.RtcpPacket.parse(compound)
    assert isinstance(theirs[0], aiortc_rtp.RtcpSrPacket)
    assert theirs[0].sender_info.ntp_timestamp == sr.ntp_timestamp
    assert theirs[1].chunks[0].items == [(1, b"adk")]


def test_receiver_report_from_aiortc_parses_fraction_lost_and_jitter() -> None:
    info = aiortc_rtp.RtcpReceiverInfo(
        ssrc=42,
        fraction_lost=64,
        packets_lost=-3,
        highest_sequence=70000,
        jitter=123,
        lsr=5,
        dlsr=6,
    )
    rr = bytes(aiortc_rtp.RtcpRrPacket(ssrc=9, reports=[info]))
    sr = bytes(
        aiortc_rtp.RtcpSrPacket(
            ssrc=10,
            sender_info=aiortc_rtp.RtcpSenderInfo(
                ntp_timestamp=2**40, rtp_timestamp=1, packet_count=2, octet_count=3
            ),
            reports=[info],
        )
    )
    bye = bytes(aiortc_rtp.RtcpByePacket(sources=[9]))
    psfb = bytes(aiortc_rtp.RtcpPsfbPacket(fmt=1, ssrc=1, media_ssrc=2))
    packets = parse_rtcp(psfb + rr + sr + bye)
    assert [type(p) for p in packets] == [ReceiverReport, SenderReport, Bye]
    rr_parsed = packets[0]
    assert isinstance(rr_parsed, ReceiverReport) and rr_parsed.ssrc == 9
    block = rr_parsed.reports[0]
    assert block.ssrc == 42 and block.fraction_lost == 0.25 and block.cumulative_lost == -3
    assert block.highest_sequence == 70000 and block.jitter == 123
    assert block.last_sr == 5 and block.delay_since_last_sr == 6
    assert isinstance(packets[1], SenderReport) and packets[1].reports == (block,)
    assert packets[2] == Bye((9,))


def test_built_receiver_report_parses_in_aiortc() -> None:
    block = ReportBlock(
        ssrc=1, fraction_lost=0.5, cumulative_lost=1000, highest_sequence=5, jitter=9
    )
    (theirs,) = aiortc_rtp.RtcpPacket.parse(build_receiver_report(3, [block]))
    assert isinstance(theirs, aiortc_rtp.RtcpRrPacket)
    assert theirs.reports[0].fraction_lost == 128 and theirs.reports[0].packets_lost == 1000


@pytest.mark.parametrize(
    "data",
    [b"\x80\xc8", b"\x80\xc8\x00\x06" + b"\x00" * 8, b"\x40\xc9\x00\x01\x00\x00\x00\x00",
     b"\x81\xc9\x00\x01\x00\x00\x00\x00", b"\xa0\xc9\x00\x01\x00\x00\x00\x00",
     b"\x80\xc9\x00\x01\x00\x00\x00\x00\x00\x00"],
)  # fmt: skip
def test_malformed_rtcp_raises_rtp_error(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtcp(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_rtcp_parser_raises_only_rtp_error(data: bytes) -> None:
    try:
        parse_rtcp(data)
    except RtpError:
        pass


# -- jitter buffer --------------------------------------------------------------


def drain(jb: JitterBuffer) -> list[JitterFrame | JitterLoss]:
    items = []
    while (item := jb.next_event()) is not None:
        items.append(item)
    return items


def push(
    jb: JitterBuffer, seq: int, ts: int, payload: bytes, now: float
) -> list[JitterFrame | JitterLoss]:
    """One packet in (``receive_data``), what it released out (``next_event``)."""
    jb.receive_data(RtpPacket(111, seq, ts, 0x1234, False, payload), now)
    return drain(jb)


def timer_fired(jb: JitterBuffer, now: float) -> list[JitterFrame | JitterLoss]:
    jb.handle_timer(now)
    return drain(jb)


def frames_of(items: list[JitterFrame | JitterLoss]) -> list[tuple[str, int]]:
    return [("frame" if isinstance(i, JitterFrame) else "loss", i.sequence) for i in items]


def test_reordered_packets_come_out_in_order() -> None:
    jb = JitterBuffer(window=10, max_delay=0.2)
    got = []
    for n, seq in enumerate([100, 102, 101, 104, 103, 105]):
        got += push(jb, seq, seq * 960, bytes([seq % 256]), now=n * 0.02)
    assert frames_of(got) == [("frame", s) for s in range(100, 106)]
    assert jb.stats["lost"] == 0 and len(jb) == 0


def test_a_lost_packet_produces_one_concealment_carrying_the_next_payload_for_fec() -> None:
    jb = JitterBuffer(window=4, max_delay=0.2)
    got = []
    for n, seq in enumerate([10, 11, 13, 14, 15]):
        got += push(jb, seq, seq * 960, b"p%d" % seq, n * 0.02)
    assert got[:2] == [JitterFrame(10, 9600, b"p10"), JitterFrame(11, 10560, b"p11")]
    assert len(got) == 2 and len(jb) == 3  # waiting for 12
    timer = jb.get_timer()
    assert timer == pytest.approx(0.04 + 0.2)
    got = timer_fired(jb, timer)
    assert frames_of(got) == [("loss", 12), ("frame", 13), ("frame", 14), ("frame", 15)]
    loss = got[0]
    assert isinstance(loss, JitterLoss) and loss.fec == b"p13"
    assert jb.stats["lost"] == 1 and jb.get_timer() is None


def test_full_window_declares_the_gap_without_waiting() -> None:
    jb = JitterBuffer(window=3, max_delay=10.0)
    got = push(jb, 1, 0, b"a", 0.0) + push(jb, 3, 0, b"c", 0.0) + push(jb, 4, 0, b"d", 0.0)
    assert frames_of(got) == [("frame", 1)]
    got = push(jb, 5, 0, b"e", 0.0)
    assert frames_of(got) == [("loss", 2), ("frame", 3), ("frame", 4), ("frame", 5)]


def test_late_and_duplicate_packets_are_dropped_and_counted() -> None:
    jb = JitterBuffer(window=3)
    push(jb, 1, 0, b"a", 0.0)
    push(jb, 3, 0, b"c", 0.0)
    assert push(jb, 3, 0, b"c", 0.0) == []
    timer_fired(jb, 1.0)  # 2 declared lost
    assert push(jb, 2, 0, b"b", 1.0) == []  # too late now
    assert push(jb, 1, 0, b"a", 1.0) == []
    assert jb.stats["late"] == 2 and jb.stats["duplicate"] == 1 and jb.stats["lost"] == 1


def test_long_gap_conceals_a_bounded_number_of_frames_and_wraps() -> None:
    jb = JitterBuffer(window=2, max_conceal=3)
    got = push(jb, 65530, 0, b"a", 0.0) + push(jb, 65535, 0, b"b", 0.0) + push(jb, 3, 0, b"c", 0.0)
    # 4 lost (65531..65534), only the 3 nearest the next packet are concealed
    assert frames_of(got) == [
        ("frame", 65530), ("loss", 65532), ("loss", 65533), ("loss", 65534), ("frame", 65535),
    ]  # fmt: skip
    got = timer_fired(jb, 1.0)  # across the wrap
    assert frames_of(got) == [("loss", 0), ("loss", 1), ("loss", 2), ("frame", 3)]
    assert jb.stats["lost"] == 4 + 3
    got = push(jb, 4000, 0, b"z", 1.0)  # a restarted stream
    assert frames_of(got) == [("frame", 4000)] and jb.stats["resets"] == 1
    assert frames_of(push(jb, 10, 0, b"y", 1.0)) == [("frame", 10)]  # restarted backwards
    assert jb.stats["resets"] == 2


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_jitter_output_is_strictly_ordered_and_bounded(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, 0xFFFF))
    count = data.draw(st.integers(1, 60))
    seqs = [(start + i) & 0xFFFF for i in range(count) if not data.draw(st.booleans()) or i == 0]
    arrival = sorted(range(len(seqs)), key=lambda i: i + data.draw(st.integers(0, 4)))
    jb = JitterBuffer(window=6, max_delay=0.1)
    out = []
    for n, i in enumerate(arrival):
        out += push(jb, seqs[i], 0, b"x", n * 0.02)
        assert len(jb) <= 6
    jb.flush()
    out += drain(jb)
    emitted = [i.sequence for i in out]
    for a, b in itertools.pairwise(emitted):
        assert seq_distance(a, b) > 0
    frames = {i.sequence for i in out if isinstance(i, JitterFrame)}
    assert frames <= set(seqs) and len(frames) + jb.stats["late"] + jb.stats["duplicate"] == len(
        seqs
    )


def test_jitter_timer_before_any_packet_releases_nothing() -> None:
    buffer = JitterBuffer()
    assert buffer.get_timer() is None
    assert timer_fired(buffer, 5.0) == []


# -- bad settings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kwargs", "shown"),
    [
        ("window", {"window": 0}, "not 0"),
        ("max_delay", {"max_delay": 0.0}, "not 0.0"),
        ("max_conceal", {"max_conceal": -1}, "not -1"),
        ("reset_distance", {"window": 10, "reset_distance": 5}, "not 5"),
    ],
)
def test_bad_jitter_buffer_bounds_name_the_field_and_value(
    field: str, kwargs: dict[str, float], shown: str
) -> None:
    with pytest.raises(ConfigError) as info:
        JitterBuffer(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and shown in str(info.value)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("payload_type", {"payload_type": 128}),
        ("ssrc", {"ssrc": 2**32}),
        ("clock_rate", {"clock_rate": 0}),
        ("samples_per_packet", {"samples_per_packet": -960}),
    ],
)
def test_bad_packetizer_settings_name_the_field_and_value(
    field: str, kwargs: dict[str, int]
) -> None:
    with pytest.raises(ConfigError) as info:
        RtpPacketizer(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and f"not {kwargs[field]!r}" in str(info.value)
    with pytest.raises(ConfigError, match=r"payload_type: .*not 200"):
        RtpDepacketizer(200)


def test_bad_srtp_keys_name_the_field_and_show_only_their_length() -> None:
    secret = bytes(range(100, 129))  # 29 bytes: one short
    with pytest.raises(ConfigError) as info:
        SrtpSession(SrtpKeys(local=KEY_A, remote=secret))
    assert info.value.field == "keys.remote" and "not '29 bytes'" in str(info.value)
    assert secret.hex() not in str(info.value) and repr(secret) not in str(info.value)
