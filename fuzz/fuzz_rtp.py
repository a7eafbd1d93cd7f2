"""Fuzz the inbound media path: RTP and RTCP parsers, SSRC latching, the jitter
buffer and Opus decoding behind a real SRTP session.

The input is cut into up to 8 plaintext RTP packets; each is SRTP-protected
with a real session (so it authenticates) and fed to a fresh AudioReceiver.
Only RtpError is expected from the parsers; AudioReceiver must never raise.
The same bytes also go through parse_rtcp and the DTLS demultiplexer.
"""

import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.webrtc.dtls import classify_datagram
    from adk_realtime.sansio.webrtc.jitter import JitterBuffer
    from adk_realtime.sansio.webrtc.media import AudioFrame, AudioReceiver
    from adk_realtime.sansio.webrtc.rtp import RtpError, parse_rtcp, parse_rtp
    from adk_realtime.sansio.webrtc.srtp import SrtpKeys, SrtpSession

KEY_A, KEY_B = bytes(range(30)), bytes(range(40, 70))


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    count = fdp.ConsumeIntInRange(1, 8)
    window = fdp.ConsumeIntInRange(1, 12)
    sizes = [fdp.ConsumeIntInRange(0, 400) for _ in range(count)]
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())

    for parser in (parse_rtp, parse_rtcp):
        try:
            parser(rest)
        except RtpError:
            pass
    if rest:
        assert classify_datagram(rest[0]) in ("stun", "dtls", "rtp", "unknown")

    tx = SrtpSession(SrtpKeys(KEY_A, KEY_B))
    receiver = AudioReceiver(
        SrtpSession(SrtpKeys(KEY_B, KEY_A)), jitter=JitterBuffer(window=window, max_delay=0.1)
    )
    offset, now = 0, 0.0
    for size in sizes:
        packet = rest[offset : offset + size]
        offset += size
        now += 0.02
        try:
            protected = tx.protect_rtp(packet)
        except ValueError:  # not protectable (too short, or libsrtp refuses the header)
            protected = packet
        receiver.receive_data(protected, now)
        while (event := receiver.next_event()) is not None:
            assert not isinstance(event, AudioFrame) or len(event.pcm) % 2 == 0
    timer = receiver.get_timer()
    if timer is not None:
        receiver.handle_timer(timer)
        while receiver.next_event() is not None:
            pass
    assert len(receiver.jitter) <= window


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
