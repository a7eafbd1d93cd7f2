"""The 20 ms audio pipelines: PCM -> Opus -> RTP -> SRTP and back, with loss and
reordering, plus Opus interop with aiortc's codec (PyAV's own libopus build)."""

from __future__ import annotations

import fractions
import random
import struct
import sys

import av
import numpy as np
import numpy.typing as npt
import pytest
from aiortc.codecs.opus import OpusDecoder as AiortcOpusDecoder, OpusEncoder as AiortcOpusEncoder
from aiortc.jitterbuffer import JitterFrame as AiortcJitterFrame

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.webrtc import opus
from adk_realtime.sansio.webrtc.jitter import JitterBuffer
from adk_realtime.sansio.webrtc.media import AudioFrame, AudioReceiver, AudioSender, MediaEvent
from adk_realtime.sansio.webrtc.opus import OpusDecoder, OpusEncoder, OpusUnavailable
from adk_realtime.sansio.webrtc.rtp import RtpPacketizer, SenderReport, parse_rtp
from adk_realtime.sansio.webrtc.srtp import SrtpKeys, SrtpSession

KEY_A, KEY_B = bytes(range(30)), bytes(range(50, 80))


def sessions() -> tuple[SrtpSession, SrtpSession]:
    return SrtpSession(SrtpKeys(KEY_A, KEY_B)), SrtpSession(SrtpKeys(KEY_B, KEY_A))


def sent(sender: AudioSender, pcm: bytes | None = None) -> list[bytes]:
    """What one command put on the wire: ``send_pcm(pcm)`` (or ``flush()``), then the packets."""
    if pcm is None:
        sender.flush()
    else:
        sender.send_pcm(pcm)
    return sender.data_to_send()


def fed(receiver: AudioReceiver, packet: bytes, now: float) -> list[bytes]:
    """The PCM frames one datagram released (``receive_data`` then ``next_event``)."""
    receiver.receive_data(packet, now)
    return pcm_events(receiver)


def timed(receiver: AudioReceiver, now: float) -> list[bytes]:
    """The PCM frames ``handle_timer(now)`` released."""
    receiver.handle_timer(now)
    return pcm_events(receiver)


def pcm_events(receiver: AudioReceiver) -> list[bytes]:
    return [e.pcm for e in events_of(receiver) if isinstance(e, AudioFrame)]


def events_of(receiver: AudioReceiver) -> list[MediaEvent]:
    out = []
    while (event := receiver.next_event()) is not None:
        out.append(event)
    return out


def tone(freq: float, rate: int, seconds: float, amplitude: int = 8000) -> npt.NDArray[np.int16]:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peaks(pcm: bytes, rate: int, count: int = 1, skip: float = 0.1) -> list[float]:
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)[int(rate * skip) :]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    found: list[float] = []
    for index in np.argsort(spectrum)[::-1]:
        if all(abs(freqs[index] - f) > 50 for f in found):
            found.append(float(freqs[index]))
        if len(found) == count:
            break
    return sorted(found)


@pytest.mark.parametrize(("encoder_rate", "decode_rate"), [(48000, 48000), (24000, None)])
def test_1khz_tone_survives_loss_and_reordering(encoder_rate: int, decode_rate: int | None) -> None:
    tx, rx = sessions()
    sender = AudioSender(RtpPacketizer(rng=random.Random(5)), OpusEncoder(encoder_rate), tx, 24000)
    receiver = AudioReceiver(rx, output_rate=24000, decode_rate=decode_rate)
    pcm = tone(1000, 24000, 2.0).tobytes()
    packets: list[bytes] = []
    for start in range(0, len(pcm), 2000):  # ~41.7 ms chunks, not frame-aligned
        packets += sent(sender, pcm[start : start + 2000])
    assert len(packets) == 100
    lost = {10, 30, 31, 77}
    order = [i for i in range(100) if i not in lost]
    for a, b in ((50, 51), (60, 63), (80, 81)):  # reorder
        ia, ib = order.index(a), order.index(b)
        order[ia], order[ib] = order[ib], order[ia]
    out: list[bytes] = []
    now = 0.0
    for i in order:
        now += 0.02
        out += fed(receiver, packets[i], now)
        timer = receiver.get_timer()
        if timer is not None and timer <= now:
            out += timed(receiver, now)
    if receiver.get_timer() is not None:
        out += timed(receiver, now + 1.0)
    assert len(out) == 100  # every 20 ms slot played: received, FEC-rebuilt or concealed
    assert all(len(frame) == 960 for frame in out)  # 20 ms at 24 kHz
    assert receiver.stats["concealed"] + receiver.stats["fec_recovered"] == len(lost)
    assert receiver.stats["fec_recovered"] >= 2  # the packet after a single loss carries FEC
    audio = b"".join(out)
    (peak,) = peaks(audio, 24000)
    assert abs(peak - 1000) < 5
    level = np.frombuffer(audio, dtype=np.int16)[2400:].astype(np.float64).std()
    assert 0.5 * 8000 / np.sqrt(2) < level < 1.5 * 8000 / np.sqrt(2)


def test_stereo_packets_from_aiortc_are_downmixed_to_mono() -> None:
    # aiortc (PyAV's libopus) always sends stereo Opus; left 500 Hz, right 1500 Hz.
    encoder = AiortcOpusEncoder()
    left, right = tone(500, 48000, 1.0), tone(1500, 48000, 1.0)
    stereo = np.empty(2 * len(left), dtype=np.int16)
    stereo[0::2], stereo[1::2] = left, right
    payloads: list[bytes] = []
    for start in range(0, len(left), 960):
        frame = av.AudioFrame.from_ndarray(
            stereo[2 * start : 2 * start + 1920].reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts, frame.time_base = start, fractions.Fraction(1, 48000)
        payloads += encoder.encode(frame)[0]
    tx, rx = sessions()
    packetizer = RtpPacketizer(payload_type=96, rng=random.Random(1))
    buf = bytearray(1500)
    receiver = AudioReceiver(rx, output_rate=24000, payload_type=96)
    out: list[bytes] = []
    for n, payload in enumerate(payloads):
        length = packetizer.packetize_into(payload, buf)
        out += fed(receiver, tx.protect_rtp(bytes(buf[:length])), n * 0.02)
    assert len(out) == len(payloads) >= 45
    assert peaks(b"".join(out), 24000, count=2) == pytest.approx([500, 1500], abs=5)


def test_our_opus_packets_decode_in_aiortc() -> None:
    tx, _ = sessions()
    sender = AudioSender(RtpPacketizer(rng=random.Random(2)), OpusEncoder(48000), tx, 16000)
    _, rx = sessions()
    rx = SrtpSession(SrtpKeys(KEY_B, KEY_A))
    decoder = AiortcOpusDecoder()
    pcm = bytearray()
    for packet in sent(sender, tone(700, 16000, 1.0).tobytes()):
        plain = rx.unprotect_rtp(packet)
        assert plain is not None
        rtp = parse_rtp(plain)
        for frame in decoder.decode(AiortcJitterFrame(data=rtp.payload, timestamp=rtp.timestamp)):
            pcm += frame.to_ndarray().reshape(-1, 2)[:, 0].astype(np.int16).tobytes()
    assert len(pcm) == 2 * 48000
    assert peaks(bytes(pcm), 48000) == pytest.approx([700], abs=5)


def test_receiver_counts_garbage_instead_of_raising() -> None:
    tx, rx = sessions()
    receiver = AudioReceiver(rx)
    rng = random.Random(9)
    for _ in range(200):
        assert fed(receiver, rng.randbytes(rng.randrange(0, 300)), 0.0) == []
    # authentic but malformed RTP (version 1), and an authentic undecodable Opus payload
    assert fed(receiver, tx.protect_rtp(b"\x40" + bytes(30)), 0.0) == []
    packetizer = RtpPacketizer(rng=random.Random(3))
    buf = bytearray(200)
    n = packetizer.packetize_into(b"\xff\xff\xff\xff\xff", buf)  # code 3, bogus frame count
    frames = fed(receiver, tx.protect_rtp(bytes(buf[:n])), 0.0)
    # every garbage datagram was dropped by SRTP (those shaped like RTCP by its side)
    dropped = ("rtp_auth_failed", "rtp_rejected", "rtcp_auth_failed", "rtcp_rejected")
    assert sum(rx.stats[k] for k in dropped) == 200
    assert receiver.stats["malformed"] == 1
    assert receiver.stats["undecodable"] == 1 and len(frames) == 1  # concealed instead


def test_receiver_timer_releases_frames_held_behind_a_gap() -> None:
    tx, rx = sessions()
    sender = AudioSender(RtpPacketizer(rng=random.Random(4)), OpusEncoder(24000), tx, 24000)
    receiver = AudioReceiver(rx, jitter=JitterBuffer(window=10, max_delay=0.2))
    packets = sent(sender, tone(300, 24000, 0.1).tobytes())
    assert len(packets) == 5
    assert len(fed(receiver, packets[0], 0.0)) == 1
    assert fed(receiver, packets[2], 0.02) == []
    assert fed(receiver, packets[3], 0.04) == []
    assert receiver.get_timer() == pytest.approx(0.22)
    assert len(timed(receiver, 0.22)) == 3  # FEC for 1, then 2 and 3
    assert receiver.stats["fec_recovered"] == 1


def test_flush_pads_the_partial_frame_and_skip_marks_the_next_talkspurt() -> None:
    tx, rx = sessions()
    sender = AudioSender(RtpPacketizer(rng=random.Random(6)), OpusEncoder(48000), tx, 24000)
    assert sent(sender, b"\x01\x00" * 300) == []  # 12.5 ms: held
    assert sent(sender, b"\x01") == []  # half a sample: carried
    (packet,) = sent(sender)
    assert sent(sender) == []
    sender.skip(1.0)
    (nxt,) = sent(sender, b"\x00" + b"\x00\x00" * 479)  # completes the carried byte
    first, second = (parse_rtp(rx.unprotect_rtp(p) or b"") for p in (packet, nxt))
    assert first.marker and second.marker
    assert (second.timestamp - first.timestamp) % 2**32 == 960 + 48000
    assert second.sequence == (first.sequence + 1) & 0xFFFF


def test_opus_concealment_and_fec_give_one_frame_each() -> None:
    encoder, decoder = OpusEncoder(48000), OpusDecoder(48000)
    packets = [encoder.encode(tone(440, 48000, 0.02).tobytes()) for _ in range(3)]
    assert len(decoder.decode(packets[0])) == 1920
    assert len(decoder.conceal()) == 1920
    assert len(decoder.decode_fec(packets[2])) == 1920
    assert len(decoder.decode(packets[2])) == 1920
    with pytest.raises(ValueError, match="1920 bytes"):
        encoder.encode(b"\x00" * 10)
    stereo = OpusDecoder(48000, channels=2)
    assert len(stereo.decode(packets[0])) == 3840


def test_missing_libopus_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    opus._load.cache_clear()
    monkeypatch.setitem(sys.modules, "opuslib.api", None)  # import now fails
    try:
        with pytest.raises(OpusUnavailable, match="apt-get install libopus0") as info:
            OpusEncoder()
        assert "brew install opus" in str(info.value)
        with pytest.raises(OpusUnavailable):
            OpusDecoder()
    finally:
        monkeypatch.undo()
        opus._load.cache_clear()
    assert OpusDecoder() is not None


def test_sender_report_reaches_the_receiver_over_srtcp() -> None:
    tx, rx = sessions()
    sender = AudioSender(
        RtpPacketizer(ssrc=1234, rng=random.Random(8)), OpusEncoder(24000), tx, 24000
    )
    receiver = AudioReceiver(rx)
    packets = sent(sender, tone(440, 24000, 0.1).tobytes())
    sender.send_sender_report(1_700_000_000.0, cname="adk")
    (sr,) = sender.data_to_send()
    receiver.receive_data(sr, 0.1)
    (report,) = events_of(receiver)
    assert isinstance(report, SenderReport)
    assert report.ssrc == 1234 and report.packet_count == len(packets) == 5
    assert report.wallclock == pytest.approx(1_700_000_000.0)
    receiver.receive_data(b"\x80\xc9\x00\x01" + bytes(20), 0.2)  # junk
    assert events_of(receiver) == []
    sender.send_sender_report(1_700_000_001.0)
    tampered = bytearray(sender.data_to_send()[0])
    tampered[10] ^= 1
    receiver.receive_data(bytes(tampered), 0.3)
    assert events_of(receiver) == []
    assert rx.stats["rtcp_auth_failed"] == 1 and rx.stats["rtcp_unprotected"] == 1


def test_the_20ms_path_retains_nothing_and_allocates_little_per_frame() -> None:
    """PCM -> Opus -> RTP -> SRTP and back reuses its buffers: after warm-up, 500 frames
    leave no memory behind, and one frame's transient peak stays around the size of
    the packets and PCM it hands out (a fresh work buffer per frame would exceed it)."""
    import gc
    import sys
    import tracemalloc

    from adk_realtime.sansio.webrtc.media import AudioReceiver, AudioSender
    from adk_realtime.sansio.webrtc.opus import OpusEncoder
    from adk_realtime.sansio.webrtc.rtp import RtpPacketizer
    from adk_realtime.sansio.webrtc.srtp import SrtpKeys, SrtpSession

    key_a, key_b = bytes(range(30)), bytes(range(40, 70))
    sender = AudioSender(
        RtpPacketizer(rng=random.Random(1)),
        OpusEncoder(24000),
        SrtpSession(SrtpKeys(key_a, key_b)),
        24000,
    )
    receiver = AudioReceiver(SrtpSession(SrtpKeys(key_b, key_a)), output_rate=24000)
    t = np.arange(24000) / 24000
    pcm = (np.sin(2 * np.pi * 220 * t) * 6000).astype("<i2").tobytes()
    frames = [pcm[i : i + 960] for i in range(0, len(pcm), 960)]

    def run(n: int, start: int) -> None:
        for i in range(n):
            for packet in sent(sender, frames[(start + i) % len(frames)]):
                fed(receiver, packet, (start + i) * 0.02)

    run(100, 0)  # warm-up: caches and first-use buffers
    gc.collect()
    gc.disable()
    try:
        before = sys.getallocatedblocks()
        run(500, 100)
        retained = sys.getallocatedblocks() - before
        tracemalloc.start()
        peaks = []
        for i in range(50):
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            run(1, 600 + i)
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
    finally:
        gc.enable()
    assert retained < 50, f"{retained} blocks retained over 500 frames"
    assert sorted(peaks)[len(peaks) // 2] < 3072, (
        f"median transient peak {sorted(peaks)[25]} bytes/frame"
    )
    assert receiver.stats["frames"] >= 500


def test_packets_with_csrcs_extensions_and_padding_decode_through_srtp() -> None:
    """Other stacks add CSRCs, one-byte (0xBEDE) and two-byte (0x100x) header
    extensions and padding: the Opus payload is still found and decoded."""
    tx, rx = sessions()
    receiver = AudioReceiver(rx, 24000, payload_type=111)
    encoder = OpusEncoder(48000)
    pcm = tone(440, 48000, 0.02).tobytes()
    csrcs = struct.pack("!II", 11, 22)
    shapes = [
        (0x30, struct.pack("!HH", 0xBEDE, 1) + bytes([0x10, 0x7F, 0, 0]), b"\x00\x00\x00\x04"),
        (0x10, struct.pack("!HH", 0x1000, 2) + bytes([1, 2, 0xAA, 0xBB, 0, 0, 0, 0]), b""),
        (0x20, b"", b"\x00" * 7 + b"\x08"),
    ]
    frames: list[bytes] = []
    for i in range(6):
        bits, extension, padding = shapes[i % 3]
        header = struct.pack(
            "!BBHII", 0x80 | bits | 2, 111 | (0x80 if i == 0 else 0), 100 + i, 960 * i, 0xABCD
        )
        packet = header + csrcs + extension + encoder.encode(pcm) + padding
        frames += fed(receiver, tx.protect_rtp(packet), i * 0.02)
    assert len(frames) == 6 and {len(f) for f in frames} == {960}
    assert receiver.stats["malformed"] == 0 and receiver.stats["undecodable"] == 0
    assert receiver.depacketizer.stats["accepted"] == 6


@pytest.mark.parametrize(
    ("field", "build", "shown"),
    [
        ("encoder", lambda tx: AudioSender(RtpPacketizer(), OpusEncoder(48000, 2), tx, 24000), "2"),
        (
            "packetizer",
            lambda tx: AudioSender(RtpPacketizer(clock_rate=90000), OpusEncoder(), tx, 24000),
            "90000",
        ),
        ("input_rate", lambda tx: AudioSender(RtpPacketizer(), OpusEncoder(), tx, 11025), "11025"),
        ("output_rate", lambda tx: AudioReceiver(tx, output_rate=44100), "44100"),
        ("decode_rate", lambda tx: AudioReceiver(tx, decode_rate=44100), "44100"),
        ("sample_rate", lambda tx: OpusEncoder(44100), "44100"),
        ("channels", lambda tx: OpusDecoder(48000, 3), "3"),  # type: ignore[arg-type]
        ("application", lambda tx: OpusEncoder(application="music"), "'music'"),  # type: ignore[arg-type]
        ("frame_size", lambda tx: OpusEncoder(48000, frame_size=1000), "1000"),
        ("expected_loss", lambda tx: OpusEncoder(expected_loss=101), "101"),
        ("bitrate", lambda tx: OpusEncoder(bitrate=0), "0"),
    ],
)
def test_bad_media_settings_name_the_field_and_value(field: str, build: object, shown: str) -> None:
    tx, _rx = sessions()
    with pytest.raises(ConfigError) as info:
        build(tx)  # type: ignore[operator]
    assert info.value.field == field and f"not {shown}" in str(info.value)
