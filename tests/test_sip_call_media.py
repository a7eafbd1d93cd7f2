"""A SIP call's RTP as the bridge's carrier socket (`SipCallMedia`), on a fake clock:
the bridge's stream starts with the call's numbers, caller audio and DTMF reach it,
its audio goes out one RTP packet a tick, marks come back once the audio was sent,
and a clear (barge-in) stops our RTP at once. A-law callers are converted."""

from __future__ import annotations

import struct
from typing import Any

import anyio
import pytest

from adk_realtime.call_bridge import call_info
from adk_realtime.sansio.audio import alaw_encode, ulaw_decode
from adk_realtime.sansio.sip.rtp_session import RtpMediaSession
from adk_realtime.sansio.telephony.events import DtmfReceived, MarkPlayed, MediaReceived
from adk_realtime.sansio.webrtc.rtp import parse_rtp, write_rtp_header
from adk_realtime.sip_call import SipCallMedia, SipMediaStream

pytestmark = pytest.mark.anyio
PEER = ("127.0.0.1", 40000)


def rtp(seq: int, payload: bytes, pt: int = 0) -> bytes:
    packet = bytearray(12 + len(payload))
    write_rtp_header(packet, 0, payload_type=pt, sequence=seq, timestamp=seq * 160, ssrc=7)
    packet[12:] = payload
    return bytes(packet)


async def bridge_side(media: SipCallMedia, stream: SipMediaStream) -> list[Any]:
    """Feed the bridge's codec what the media has queued for it; its events."""
    found = []
    while True:
        try:  # what is queued now, without waiting
            message = media._from_media.receive_nowait()
        except anyio.WouldBlock:
            return found
        stream.receive_data(message, 0.0)
        while (event := stream.next_event()) is not None:
            found.append(event)


async def to_media(media: SipCallMedia, stream: SipMediaStream) -> None:
    for message in stream.data_to_send():
        await media.send(message)


def make(alaw: bool = False) -> SipCallMedia:
    session = RtpMediaSession(
        payload_type=8 if alaw else 0, telephone_event=101, remote=PEER, ssrc=99
    )
    return SipCallMedia(
        call_id="sip-call-1",
        caller="sip:+14155550100@example.com",
        called="sip:agent@127.0.0.1",
        rtp=session,
        sock=None,  # type: ignore[arg-type]  (the clock is driven by hand here)
        alaw=alaw,
    )


async def test_the_bridge_sees_a_sip_call_with_its_numbers_audio_and_dtmf(
    anyio_backend: str,
) -> None:
    media, stream = make(), SipMediaStream()
    media.start(0.0)
    await bridge_side(media, stream)
    info = call_info(stream)
    assert info.carrier == "sip" and info.caller == "sip:+14155550100@example.com"
    assert "+1415" not in repr(info)
    media.receive_rtp(rtp(1, b"\x11" * 160), PEER, 0.005)
    dtmf = struct.pack("!BBH", 9, 0x8A, 800)
    media.receive_rtp(rtp(2, dtmf, pt=101), PEER, 0.006)
    assert media.tick(0.02) == []  # nothing to say yet: no packet
    events = await bridge_side(media, stream)
    audio = [e.payload for e in events if isinstance(e, MediaReceived)]
    assert audio == [b"\x11" * 160]
    assert [e.digit for e in events if isinstance(e, DtmfReceived)] == ["9"]


async def test_audio_goes_out_a_packet_a_tick_and_a_clear_stops_it_at_once(
    anyio_backend: str,
) -> None:
    media, stream = make(), SipMediaStream()
    media.start(0.0)
    await bridge_side(media, stream)
    stream.mark_every_frames = 1
    stream.send_audio(b"\x22" * 160 * 5)
    await to_media(media, stream)
    sent = media.tick(0.02)
    assert [(addr, parse_rtp(data).payload) for data, addr in sent] == [(PEER, b"\x22" * 160)]
    media.tick(0.04)
    marks = [e for e in await bridge_side(media, stream) if isinstance(e, MarkPlayed)]
    assert marks and stream.heard_ms == 20  # heard = what went out, a tick behind
    stream.clear()  # barge-in
    await to_media(media, stream)
    later = media.tick(0.2)
    assert later == [] and stream.heard_ms <= 40


async def test_an_alaw_call_is_converted_both_ways(anyio_backend: str) -> None:
    media, stream = make(alaw=True), SipMediaStream()
    media.start(0.0)
    await bridge_side(media, stream)
    tone = struct.pack("<160h", *([1000, -1000] * 80))
    media.receive_rtp(rtp(1, alaw_encode(tone), pt=8), PEER, 0.005)
    media.tick(0.02)
    (heard,) = [e.payload for e in await bridge_side(media, stream) if isinstance(e, MediaReceived)]
    back = struct.unpack("<160h", ulaw_decode(heard))
    assert all(abs(a - b) < 80 for a, b in zip(back, struct.unpack("<160h", tone), strict=True))
    stream.send_audio(heard)
    await to_media(media, stream)
    (packet,) = media.tick(0.04)
    assert parse_rtp(packet[0]).payload_type == 8


async def test_a_bye_before_the_stream_started_still_stops_the_bridge(anyio_backend: str) -> None:
    media, stream = make(), SipMediaStream()
    media.hang_up()  # the caller's BYE came while the call was being set up
    media.start(0.0)
    await bridge_side(media, stream)
    assert stream.started is not None and stream.stopped
