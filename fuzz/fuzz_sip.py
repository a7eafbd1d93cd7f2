"""Fuzz adk_realtime.sansio.sip: the message parser, the UAS, the audio SDP, the RTP session.

``parse_message`` may raise only SipParseError and ``parse_audio_offer`` only
SdpAudioError; ``SipUas.receive_datagram`` and ``RtpMediaSession.receive_datagram``
raise nothing at all (bad input is answered 400, dropped or counted); the TCP stream
framer raises nothing and what it frames goes to a TCP UAS. Half the inputs
are spliced into a valid INVITE, so the fuzzer reaches the header readers and the
dialog logic; a run may also answer the call it started, to reach the in-dialog paths.
"""

import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.sip.events import IncomingSipCall
    from adk_realtime.sansio.sip.framing import FramedMessage, SipStreamFramer
    from adk_realtime.sansio.sip.message import SipParseError, parse_message
    from adk_realtime.sansio.sip.rtp_session import RtpMediaSession
    from adk_realtime.sansio.sip.sdp_audio import SdpAudioError, parse_audio_offer
    from adk_realtime.sansio.sip.uas import SipUas

PEER = ("192.0.2.1", 5062)
BASE = [
    "INVITE sip:agent@192.0.2.9 SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK-f;rport",
    "Max-Forwards: 70",
    "From: <sip:a@example.com>;tag=f1",
    "To: <sip:agent@192.0.2.9>",
    "Call-ID: fuzz-1",
    "CSeq: 1 INVITE",
    "Contact: <sip:a@192.0.2.1:5062>",
    "Content-Type: application/sdp",
]
SDP = "v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    splice = fdp.ConsumeBool()
    answer = fdp.ConsumeBool()
    where = fdp.ConsumeIntInRange(0, len(BASE))
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    if splice:
        head = "\r\n".join(BASE[:where]).encode() + b"\r\n" + raw + b"\r\n"
        message = head + "\r\n".join(BASE[where:]).encode() + b"\r\n\r\n" + SDP.encode()
    else:
        message = raw
    try:
        parse_message(message)
    except SipParseError:
        pass
    try:
        parse_audio_offer(raw)
    except SdpAudioError:
        pass
    uas = SipUas(("192.0.2.9", 5060), max_calls=2)
    uas.receive_datagram(message, PEER, 0.0)
    while (event := uas.next_event()) is not None:
        if answer and isinstance(event, IncomingSipCall):
            uas.answer(event.call, b"v=0\r\n", 0.0)
    uas.receive_datagram(raw, PEER, 0.1)
    uas.datagrams_to_send(0.1)
    while uas.get_timer() is not None:
        uas.handle_timer(uas.get_timer() or 0.0)
    framer = SipStreamFramer()
    tcp = SipUas(("192.0.2.9", 5060), transport="TCP")
    framer.receive_data(message[: len(message) // 2], 0.0)
    framer.receive_data(message[len(message) // 2 :] + raw, 0.0)
    while (framed := framer.next_event()) is not None:
        if isinstance(framed, FramedMessage):
            tcp.receive_datagram(framed.data, PEER, 0.0)
    while (due := tcp.get_timer()) is not None:
        tcp.handle_timer(due)
    rtp = RtpMediaSession(payload_type=0, telephone_event=101, remote=PEER, ssrc=1)
    rtp.receive_datagram(raw, PEER, 0.0)
    rtp.handle_timer(1.0)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
