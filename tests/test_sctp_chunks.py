"""SCTP packet codec: CRC32c, chunk parsing and round trips, hostile input."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.webrtc.sctp import chunks as chunks
from adk_realtime.sansio.webrtc.sctp.association import (
    DataReceived,
)
from adk_realtime.sansio.webrtc.sctp.chunks import (
    AbortChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatChunk,
    InitAckChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    SctpError,
    ShutdownChunk,
    UnknownChunk,
    crc32c,
    crc32c_python,
    encode_packet,
    parse_packet,
)

# --- the simulated network -------------------------------------------------------------
from tests.sctp_net import connected

# --- CRC32c and the codec --------------------------------------------------------------

RFC3720_VECTORS = [
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (
        bytes.fromhex(
            "01c00000000000000000000000000000140000000000040000000014000000182800000000000000"
            "0200000000000000"
        ),
        0xD9963A56,
    ),
]


@pytest.mark.parametrize(("data", "expected"), RFC3720_VECTORS)
def test_crc32c_matches_rfc3720_known_answers(data: bytes, expected: int) -> None:
    assert crc32c_python(data) == expected
    assert crc32c(data) == expected


def test_crc32c_table_and_accelerated_paths_agree() -> None:
    rng = random.Random(5)
    for n in (0, 1, 3, 17, 1200, 4099):
        data = rng.randbytes(n)
        assert crc32c_python(data) == crc32c(data)
    assert crc32c_python(b"123456789") == 0xE3069283


def test_bad_checksum_is_dropped_counted_and_changes_nothing() -> None:
    net = connected()
    net.a.send(1, b"payload", 53, net.now)
    pkt = net.a.data_to_send()[0]
    corrupt = bytearray(pkt)
    corrupt[-1] ^= 0x01
    net.b.receive_data(bytes(corrupt), net.now)
    assert net.b.stats.bad_checksum == 1
    assert net.b.next_event() is None and net.b.data_to_send() == []
    net.b.receive_data(pkt, net.now)  # the intact packet still works
    assert net.b.next_event() == DataReceived(1, 53, b"payload")


def test_parse_packet_reports_what_is_wrong() -> None:
    with pytest.raises(SctpError, match="shorter than the 16-byte minimum"):
        parse_packet(b"\x00" * 10)
    good = encode_packet(5000, 5000, 1, [SackChunk(1, 2).encode()])
    with pytest.raises(SctpError, match="bad checksum"):
        parse_packet(good[:-1] + b"\x01")
    bad_len = bytearray(good)
    struct.pack_into("!H", bad_len, 14, 400)
    struct.pack_into("<I", bad_len, 8, 0)
    struct.pack_into("<I", bad_len, 8, crc32c(bad_len))
    with pytest.raises(SctpError, match="bad length 400"):
        parse_packet(bytes(bad_len))
    empty_data = encode_packet(1, 2, 3, [bytes([0, 3, 0, 16]) + bytes(12)])
    with pytest.raises(SctpError, match="no user data"):
        parse_packet(empty_data)


u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
small_bytes = st.binary(max_size=40)
params = st.lists(st.tuples(st.integers(1, 0xFFFF), small_bytes), max_size=3).map(tuple)
any_chunk = st.one_of(
    st.builds(DataChunk, st.integers(0, 7), u32, u16, u16, u32, st.binary(min_size=1, max_size=60)),
    st.builds(InitChunk, st.integers(1, 2**32 - 1), u32, st.integers(1, 0xFFFF), st.integers(1, 0xFFFF), u32, params),
    st.builds(InitAckChunk, st.integers(1, 2**32 - 1), u32, st.integers(1, 0xFFFF), st.integers(1, 0xFFFF), u32, params),
    st.builds(SackChunk, u32, u32, st.lists(st.tuples(u16, u16), max_size=5).map(tuple), st.lists(u32, max_size=5).map(tuple)),
    st.builds(HeartbeatChunk, small_bytes),
    st.builds(AbortChunk, st.integers(0, 1), params),
    st.builds(ShutdownChunk, u32),
    st.builds(ErrorChunk, params),
    st.builds(CookieEchoChunk, small_bytes),
    st.builds(ReconfigChunk, st.lists(st.tuples(u16, small_bytes), min_size=1, max_size=2).map(tuple)),
    st.builds(ForwardTsnChunk, u32, st.lists(st.tuples(u16, u16), max_size=3).map(tuple)),
    st.builds(UnknownChunk, st.integers(15, 127), st.integers(0, 255), small_bytes),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(any_chunk, min_size=1, max_size=4), u16, u16, u32)
def test_every_chunk_round_trips_through_the_codec(
    items: list[chunks.Chunk], src: int, dst: int, vtag: int
) -> None:
    pkt = encode_packet(src, dst, vtag, [c.encode() for c in items])
    parsed = parse_packet(pkt)
    assert (parsed.source_port, parsed.destination_port, parsed.verification_tag) == (
        src,
        dst,
        vtag,
    )
    assert list(parsed.chunks) == items


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_chunk_parser_raises_only_sctp_error(body: bytes) -> None:
    pkt = bytearray(struct.pack("!HHII", 5000, 5000, 7, 0) + body)
    struct.pack_into("<I", pkt, 8, crc32c(pkt))  # a valid checksum, so the chunks get parsed
    try:
        parse_packet(bytes(pkt))
    except SctpError:
        pass


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=64)), max_size=4
    )
)
def test_garbage_chunks_with_valid_tag_never_raise(raw: list[tuple[int, int, bytes]]) -> None:
    net = connected(seed=3)
    body = b"".join(
        struct.pack("!BBH", t, f, 4 + len(v)) + v + bytes(-len(v) % 4) for t, f, v in raw
    )
    pkt = bytearray(struct.pack("!HHII", 5000, 5000, net.b._local_tag, 0) + body)
    struct.pack_into("<I", pkt, 8, crc32c(pkt))
    net.b.receive_data(bytes(pkt), net.now)  # must not raise, whatever the chunks say
    while net.b.next_event() is not None:
        pass
    net.b.data_to_send()
    net.b.handle_timer(net.now + 100)  # timers stay sane too


def test_malformed_packet_leaves_state_and_queues_untouched() -> None:
    net = connected()
    b = net.b
    before = (b.state, b.stats.packets_sent, len(b._events), dict(b._timers))
    # A valid SACK followed by a chunk with a bad length: the whole packet goes.
    body = SackChunk(0, 0).encode() + bytes([3, 0, 0, 200])
    pkt = bytearray(struct.pack("!HHII", 5000, 5000, b._local_tag, 0) + body)
    struct.pack_into("<I", pkt, 8, crc32c(pkt))
    b.receive_data(bytes(pkt), net.now)
    assert b.stats.malformed == 1
    assert (b.state, b.stats.packets_sent, len(b._events), dict(b._timers)) == before


def test_wrong_verification_tag_is_dropped() -> None:
    net = connected()
    net.a.send(0, b"x", 53, net.now)
    pkt = net.a.data_to_send()[0]
    p = parse_packet(pkt)
    forged = encode_packet(5000, 5000, p.verification_tag ^ 1, [c.encode() for c in p.chunks])
    net.b.receive_data(forged, net.now)
    assert net.b.stats.bad_vtag == 1 and net.b.next_event() is None


def test_unknown_chunk_types_follow_their_high_bits() -> None:
    net = connected()
    net.a.send(0, b"after-skip", 53, net.now)
    data = parse_packet(net.a.data_to_send()[0]).chunks[-1]
    tag = net.b._local_tag
    skip = encode_packet(5000, 5000, tag, [UnknownChunk(0xC5, 0, b"zz").encode(), data.encode()])
    net.b.receive_data(skip, net.now)
    assert net.b.next_event() == DataReceived(0, 53, b"after-skip")
    assert isinstance(data, DataChunk)
    data2 = DataChunk(data.flags, data.tsn + 1, 0, data.ssn + 1, 53, b"never")
    stop = encode_packet(5000, 5000, tag, [UnknownChunk(0x25, 0, b"").encode(), data2.encode()])
    net.b.receive_data(stop, net.now)
    assert net.b.next_event() is None
    assert net.b.stats.unknown_chunks == 2


def test_browser_style_init_with_extra_parameters_establishes() -> None:
    """usrsctp (Chrome) and pion send Forward-TSN-Supported, AUTH parameters and the
    like; parameters we do not use are skipped and the handshake completes."""
    from adk_realtime.sansio.webrtc.sctp.association import AssociationEstablished, SctpAssociation

    ours = SctpAssociation(is_client=False, rng=random.Random(3))
    params = (
        (0xC000, b""),  # Forward-TSN-Supported (RFC 3758)
        (0x8008, bytes([0xC0, 0x82, 0x0F])),  # Supported Extensions: FWD-TSN, RE-CONFIG, AUTH
        (0x8002, bytes(range(32))),  # Random (RFC 4895)
        (0x8003, bytes([0xC0])),  # Chunk List
        (0x8004, struct.pack("!H", 1)),  # Requested HMAC Algorithm
        (0x4ABC, b"report me"),  # unknown, 01: skip and report
        (0x0ABC, b"stop"),  # unknown, 00: stop processing parameters
    )
    init = chunks.InitChunk(0xFEEDBEEF, 131072, 1024, 1024, 77, params)
    ours.receive_data(encode_packet(5000, 5000, 0, [init.encode()]), 0.0)
    (reply,) = ours.data_to_send()
    packet = parse_packet(reply)
    assert packet.verification_tag == 0xFEEDBEEF
    (ack,) = packet.chunks
    assert isinstance(ack, chunks.InitAckChunk)
    cookie = ack.param(chunks.PARAM_STATE_COOKIE)
    assert cookie is not None
    echo = encode_packet(5000, 5000, ack.initiate_tag, [chunks.CookieEchoChunk(cookie).encode()])
    ours.receive_data(echo, 0.1)
    assert ours.next_event() == AssociationEstablished()
    (cookie_ack,) = ours.data_to_send()
    assert isinstance(parse_packet(cookie_ack).chunks[0], chunks.CookieAckChunk)
    assert ours.outbound_streams == 1024 and ours.inbound_streams == 1024
    data = chunks.DataChunk(0x03, 77, 0, 0, 51, b"hello")
    ours.receive_data(encode_packet(5000, 5000, ack.initiate_tag, [data.encode()]), 0.2)
    assert ours.next_event() == DataReceived(0, 51, b"hello")
