"""SDP offer/answer for telephone audio and the G.711 RTP session of a SIP call."""

from __future__ import annotations

import struct

import pytest

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sip.rtp_session import DtmfDigit, RtpAudioFrame, RtpMediaSession
from adk_realtime.sansio.sip.sdp_audio import (
    SdpAudioError,
    build_answer,
    negotiate,
    parse_audio_offer,
)
from adk_realtime.sansio.webrtc.rtp import parse_rtp, write_rtp_header

BARESIP_OFFER = (
    b"v=0\r\no=- 123 456 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)


def test_the_offer_is_read_and_pcmu_chosen_with_telephone_event() -> None:
    offer = parse_audio_offer(BARESIP_OFFER)
    assert (offer.address, offer.port, offer.payload_types, offer.ptime) == (
        "127.0.0.1",
        10000,
        (0, 8, 101),
        20,
    )
    plan = negotiate(offer)
    assert plan is not None
    assert (plan.codec, plan.payload_type, plan.telephone_event, plan.remote) == (
        "PCMU",
        0,
        101,
        ("127.0.0.1", 10000),
    )
    answer = build_answer(plan, "127.0.0.1", 20000).decode()
    assert "m=audio 20000 RTP/AVP 0 101\r\n" in answer
    assert (
        "a=rtpmap:101 telephone-event/8000" in answer
        and "a=ptime:20" in answer
        and "a=sendrecv" in answer
    )
    assert parse_audio_offer(answer).port == 20000  # our answer reads back


def test_pcma_only_is_chosen_and_no_known_codec_is_none() -> None:
    pcma = BARESIP_OFFER.replace(b"RTP/AVP 0 8 101", b"RTP/AVP 8")
    plan = negotiate(parse_audio_offer(pcma))
    assert plan is not None and plan.codec == "PCMA" and plan.telephone_event is None
    opus = BARESIP_OFFER.replace(b"RTP/AVP 0 8 101", b"RTP/AVP 96").replace(
        b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:96 opus/48000/2"
    )
    assert negotiate(parse_audio_offer(opus)) is None
    refused = BARESIP_OFFER.replace(b"m=audio 10000", b"m=audio 0")
    assert negotiate(parse_audio_offer(refused)) is None


def test_hold_directions_and_media_level_connection() -> None:
    def direction(sdp: bytes) -> str:
        plan = negotiate(parse_audio_offer(sdp))
        assert plan is not None
        return plan.direction

    assert direction(BARESIP_OFFER.replace(b"a=sendrecv", b"a=sendonly")) == "recvonly"
    assert direction(BARESIP_OFFER.replace(b"a=sendrecv", b"a=inactive")) == "inactive"
    assert (
        direction(BARESIP_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 0.0.0.0")) == "inactive"
    )
    media_c = BARESIP_OFFER.replace(b"a=ptime:20", b"c=IN IP4 192.0.2.7\r\na=ptime:20")
    assert parse_audio_offer(media_c).address == "192.0.2.7"


@pytest.mark.parametrize(
    "sdp", [b"", b"v=0\r\n", b"m=audio x RTP/AVP 0\r\n", b"\xff\xfe", b"m=audio 4 RTP/AVP 0\r\n"]
)
def test_bad_offers_raise_sdp_error(sdp: bytes) -> None:
    with pytest.raises(SdpAudioError):
        parse_audio_offer(sdp)


# -- RTP ------------------------------------------------------------------------------

PEER = ("192.0.2.1", 10000)
NAT = ("198.51.100.4", 40000)


def rtp(
    seq: int, ts: int, payload: bytes, pt: int = 0, ssrc: int = 0xABC, marker: bool = False
) -> bytes:
    packet = bytearray(12 + len(payload))
    write_rtp_header(
        packet, 0, payload_type=pt, sequence=seq, timestamp=ts, ssrc=ssrc, marker=marker
    )
    packet[12:] = payload
    return bytes(packet)


def session(**kw: object) -> RtpMediaSession:
    args: dict[str, object] = {
        "payload_type": 0,
        "telephone_event": 101,
        "remote": PEER,
        "ssrc": 0x1234,
        "sequence": 65534,
        "timestamp": 1000,
    }
    args.update(kw)
    return RtpMediaSession(**args)  # type: ignore[arg-type]


def drain(s: RtpMediaSession) -> list[object]:
    found = []
    while (event := s.next_event()) is not None:
        found.append(event)
    return found


def test_packets_have_stable_ssrc_and_steady_numbers_with_marker_on_talkspurts() -> None:
    s = session()
    for _ in range(3):
        s.send_audio(b"\x01" * 160)
    s.skip()
    s.send_audio(b"\x02" * 160)
    packets = [parse_rtp(data) for data, addr in s.datagrams_to_send(0.0)]
    assert [p.ssrc for p in packets] == [0x1234] * 4
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [1000, 1160, 1320, 1640]
    assert [p.marker for p in packets] == [True, False, False, True]


def test_jitter_buffer_reorders_drops_late_and_counts_losses() -> None:
    s = session()
    s.receive_datagram(rtp(10, 0, b"a" * 160), PEER, 0.0)
    s.receive_datagram(rtp(12, 320, b"c" * 160), PEER, 0.02)
    s.receive_datagram(rtp(11, 160, b"b" * 160), PEER, 0.03)
    assert [e.payload[:1] for e in drain(s) if isinstance(e, RtpAudioFrame)] == [b"a", b"b", b"c"]
    s.receive_datagram(rtp(11, 160, b"b" * 160), PEER, 0.04)  # late duplicate
    s.receive_datagram(rtp(14, 640, b"e" * 160), PEER, 0.05)
    assert drain(s) == []
    due = s.get_timer()
    assert due is not None
    s.handle_timer(due)
    frames = drain(s)
    assert [(f.lost, f.payload[:1]) for f in frames if isinstance(f, RtpAudioFrame)] == [
        (True, b"\xff"),
        (False, b"e"),
    ]
    assert s.stats["lost"] == 1 and s.stats["late"] == 1


def test_dtmf_end_packets_make_one_digit() -> None:
    s = session()
    for duration, end in ((160, False), (320, False), (640, True), (640, True), (640, True)):
        payload = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, duration)
        s.receive_datagram(rtp(1, 8000, payload, pt=101), PEER, 0.0)
    s.receive_datagram(rtp(2, 9600, struct.pack("!BBH", 11, 0x8A, 800), pt=101), PEER, 0.1)
    digits = [e for e in drain(s) if isinstance(e, DtmfDigit)]
    assert [(d.digit, d.duration_ms) for d in digits] == [("5", 80), ("#", 100)]
    assert "5" not in repr(digits[0])


def test_rtcp_unknown_types_and_garbage_are_counted_not_raised() -> None:
    s = session()
    s.receive_datagram(b"\x80\xc8" + b"\x00" * 26, PEER, 0.0)  # an RTCP SR
    s.receive_datagram(rtp(1, 0, b"x", pt=18), PEER, 0.0)
    s.receive_datagram(b"\x00", PEER, 0.0)
    assert (s.stats["rtcp"], s.stats["unknown_payload"], s.stats["malformed"]) == (1, 1, 1)
    assert drain(s) == [] and not s.latched


def test_symmetric_rtp_answers_where_packets_come_from() -> None:
    s = session()
    s.send_audio(b"\xff" * 160)
    assert s.datagrams_to_send(0.0)[0][1] == PEER
    s.receive_datagram(rtp(1, 0, b"\xff" * 160), NAT, 0.0)
    s.send_audio(b"\xff" * 160)
    assert s.datagrams_to_send(0.0)[0][1] == NAT and s.latched


def test_on_hold_nothing_is_sent() -> None:
    s = session()
    s.sending = False
    s.send_audio(b"\xff" * 160)
    assert s.datagrams_to_send(0.0) == [] and s.stats["held"] == 1


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="payload_type"):
        session(payload_type=3)
    with pytest.raises(ConfigError, match="ssrc"):
        session(ssrc=-1)
