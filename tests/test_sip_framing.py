"""SIP over TCP: the stream framer (RFC 3261 18.3) and what changes in the UAS on a
reliable transport (Via and Contact name TCP; no timer G or E resends; 200 until ACK)."""

from __future__ import annotations

import pytest

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sip.events import CallEnded, IncomingSipCall
from adk_realtime.sansio.sip.framing import FramedMessage, FramingFailed, SipStreamFramer
from adk_realtime.sansio.sip.message import parse_message, parse_via
from adk_realtime.sansio.sip.uas import SipUas
from tests.test_sip_uas import PEER, SDP, US, events, incoming, request, sent


def framed(framer: SipStreamFramer) -> list[object]:
    found = []
    while (event := framer.next_event()) is not None:
        found.append(event)
    return found


def test_a_stream_is_cut_at_each_content_length_whatever_the_chunks() -> None:
    invite = request("INVITE", body=SDP)
    options = request("OPTIONS", branch="z9hG4bK-2", cseq=2)
    stream = b"\r\n\r\n" + invite + b"\r\n" + options  # keepalive CRLFs before and between
    for size in (1, 7, 64, len(stream)):
        framer = SipStreamFramer()
        for start in range(0, len(stream), size):
            framer.receive_data(stream[start : start + size], 0.0)
        assert framed(framer) == [FramedMessage(invite), FramedMessage(options)]
        assert framer.buffered == 0 and not framer.failed
    assert parse_message(invite).body == SDP


def test_a_message_is_held_until_its_body_is_whole() -> None:
    invite = request("INVITE", body=SDP)
    framer = SipStreamFramer()
    framer.receive_data(invite[:-5], 0.0)
    assert framed(framer) == [] and framer.buffered == len(invite) - 5
    framer.receive_data(invite[-5:], 0.0)
    assert framed(framer) == [FramedMessage(invite)]


def test_compact_and_spaced_content_length_frame_too() -> None:
    body = b"v=0\r\n"
    message = b"OPTIONS sip:a@b SIP/2.0\r\nl : 5\r\nCall-ID: x\r\n\r\n" + body
    framer = SipStreamFramer()
    framer.receive_data(message + message, 0.0)
    assert framed(framer) == [FramedMessage(message), FramedMessage(message)]


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n", "Content-Length"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx", "Content-Length"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n", "larger"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 70_000, "headers are longer"),
    ],
)
def test_a_stream_that_cannot_be_framed_fails_once_and_stays_failed(
    stream: bytes, why: str
) -> None:
    framer = SipStreamFramer()
    framer.receive_data(stream, 0.0)
    (failed,) = framed(framer)
    assert isinstance(failed, FramingFailed) and why in failed.reason
    framer.receive_data(request("OPTIONS"), 0.0)
    assert framer.failed and framed(framer) == [] and framer.buffered == 0


def test_over_tcp_the_uas_names_tcp_and_leaves_resends_to_the_transport() -> None:
    uas = SipUas(US, transport="TCP")
    call = incoming(uas)
    uas.answer(call, b"v=0\r\n", 0.0)
    (ok,) = sent(uas)
    assert ok.get("Contact") == "<sip:agent@192.0.2.9:5060;transport=tcp>"
    uas.handle_timer(0.5)
    assert [m.status for m in sent(uas)] == [200]  # the 200 is resent until the ACK
    uas.receive_datagram(request("ACK", branch="z9hG4bK-a", to_tag=call.local_tag), PEER, 0.6)
    events(uas)
    uas.hangup(call, 1.0)
    (bye,) = sent(uas)
    assert parse_via(bye.get("Via") or "").transport == "TCP"
    assert events(uas) == [CallEnded(call, "hung_up")]
    resent = []
    while (due := uas.get_timer()) is not None:  # timer F only: no timer E resend
        uas.handle_timer(due)
        resent += sent(uas, due)
    assert resent == [] and uas.calls == {}
    # a refusal is not resent either (no timer G), and is forgotten at timer H
    uas.receive_datagram(request("INVITE", call_id="c2", branch="z9hG4bK-2"), PEER, 40.0)
    (new,) = events(uas)
    assert isinstance(new, IncomingSipCall)
    uas.reject(new.call, 488, 40.0)
    assert [m.status for m in sent(uas)] == [100, 488]
    assert uas.get_timer() == pytest.approx(40.0 + 64 * 0.5)


def test_the_transport_is_checked() -> None:
    with pytest.raises(ConfigError, match="transport"):
        SipUas(US, transport="SCTP")
