"""WebRTC media path per 20 ms frame: PCM 24 kHz -> Opus -> RTP -> SRTP and back.

Paths over the same 24 kHz mono PCM16 frames (tone-coded speech from the
simulator's synthesizer plus noise, so Opus has real work), no network, each
frame sent and received (one frame in, one frame of PCM out):

  ours     ``AudioSender.send_pcm`` + ``data_to_send`` (Opus mono, RTP, SRTP in
           place) then ``AudioReceiver.receive_data`` + ``next_event`` (SRTP, RTP,
           jitter buffer, Opus decode, one ``AudioFrame`` event per frame),
           configured as ``webrtc.peer`` does for 24 kHz PCM: Opus at 24 kHz
           both ways, no resampler.
  ours48   the same with Opus at 48 kHz: resample 24->48 kHz before the encoder
           and decode at 48 kHz then resample to 24 kHz.
  floor    libopus alone through opuslib: encode + decode one frame with our
           encoder's settings (mono, VoIP, in-band FEC for 5 % loss), at 24 kHz
           for ``ours`` and at 48 kHz for ``ours48`` (input resampled beforehand,
           outside the timing). No resampling, RTP or SRTP.
  aiortc   what ``RTCRtpSender._run_rtp`` and ``RTCRtpReceiver._handle_rtp_packet``
           + its decoder thread do per frame, called directly (no event loop, no
           thread hop, which only flatters aiortc): ``av.AudioFrame`` from the
           PCM, ``compute_audio_level_dbov``, ``aiortc.codecs.opus.OpusEncoder``
           (PyAV's libopus, 48 kHz stereo, 96 kb/s), ``RtpPacket`` with
           abs-send-time, mid and audio-level extensions, ``serialize``, pylibsrtp
           ``protect``; then ``unprotect``, ``RtpPacket.parse``, ``depayload``,
           aiortc's ``JitterBuffer``, ``OpusDecoder`` and an ``av.AudioResampler``
           to 24 kHz mono PCM bytes (what an app talking to a 24 kHz model needs).

PyAV bundles its own libopus (1.6.1 here) while opuslib and ours load the
system's (1.3.1 on Debian 12), and aiortc's encoder settings differ from ours,
so two more floors run on PyAV's libopus (our settings; aiortc's) plus a
what-if: ``ours`` built on PyAV's libopus.

Allocations (tracemalloc, Python-heap only; libopus/libav mallocs are invisible):
  retained  blocks still alive after N frames / N, outputs kept: what one frame
            hands out (packet, PCM, lists) plus anything leaked or cached
  peak      extra bytes at the peak inside one frame (median over frames)

Goals: ours <= 1.15x the floor; ours >= 2x faster than aiortc.
"""

from __future__ import annotations

import ctypes
import fractions
import glob
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import _common as c
import numpy as np

RATE = 24000
FRAME_SAMPLES = RATE // 50  # 480
FRAME_BYTES = FRAME_SAMPLES * 2

Step = Callable[[bytes, float], Any]


def speech_frames(count: int) -> list[bytes]:
    """``count`` distinct 20 ms frames of 24 kHz speech-like audio."""
    from adk_realtime.sansio.sim.speech import synthesize_speech

    text = "the quick brown fox jumps over the lazy dog while the model keeps talking "
    pcm = b""
    while len(pcm) < count * FRAME_BYTES:
        pcm += synthesize_speech(text, RATE)
    # Some noise on top so silence frames are not trivially cheap for the encoder.
    samples = np.frombuffer(pcm[: count * FRAME_BYTES], dtype="<i2").astype(np.int32)
    rng = np.random.default_rng(7)
    samples = np.clip(samples + rng.integers(-300, 300, samples.size), -32768, 32767)
    data = samples.astype("<i2").tobytes()
    return [data[i * FRAME_BYTES : (i + 1) * FRAME_BYTES] for i in range(count)]


def to_48k(frames: list[bytes]) -> list[bytes]:
    """The frames resampled to 48 kHz once, outside any timing (for the 48 kHz floors)."""
    from adk_realtime.sansio.audio import Resampler

    pcm48 = bytes(Resampler(RATE, 48000).process(b"".join(frames)))
    pcm48 += bytes(len(frames) * 1920 - len(pcm48))  # the resampler's delay: pad the tail
    return [pcm48[i * 1920 : (i + 1) * 1920] for i in range(len(frames))]


# --------------------------------------------------------------------------- ours


def make_ours(opus_rate: int, libopus_path: str | None = None) -> Step:
    """Our pipeline with Opus at ``opus_rate``; ``libopus_path`` builds it on another
    libopus (a what-if, bench only)."""
    from adk_realtime.sansio.webrtc import opus
    from adk_realtime.sansio.webrtc.media import AudioReceiver, AudioSender
    from adk_realtime.sansio.webrtc.rtp import RtpPacketizer
    from adk_realtime.sansio.webrtc.srtp import SrtpKeys, SrtpSession

    a, b = os.urandom(30), os.urandom(30)

    def build() -> tuple[AudioSender, AudioReceiver]:
        sender = AudioSender(
            RtpPacketizer(ssrc=0x1234, payload_type=111),
            opus.OpusEncoder(opus_rate, 1),
            SrtpSession(SrtpKeys(local=a, remote=b)),
            input_rate=RATE,
        )
        receiver = AudioReceiver(
            SrtpSession(SrtpKeys(local=b, remote=a)),
            RATE,
            payload_type=111,
            decode_rate=opus_rate,
        )
        return sender, receiver

    if libopus_path is None:
        sender, receiver = build()
    else:
        # opus._load() takes its functions from opuslib.api.libopus; point that at the
        # other build while the coder objects are made, then put everything back.
        import opuslib.api

        saved = opuslib.api.libopus
        opus._load.cache_clear()
        opuslib.api.libopus = ctypes.CDLL(libopus_path)
        try:
            sender, receiver = build()
        finally:
            opuslib.api.libopus = saved
            opus._load.cache_clear()
    send_pcm, data_to_send = sender.send_pcm, sender.data_to_send
    receive_data, next_event = receiver.receive_data, receiver.next_event

    def step(pcm: bytes, now: float) -> list[bytes]:
        send_pcm(pcm)
        for packet in data_to_send():  # the steady state: 20 ms in, one packet out
            receive_data(packet, now)
        out: list[bytes] = []
        while (event := next_event()) is not None:
            out.append(event.pcm)  # type: ignore[union-attr]  # AudioFrame: no RTCP here
        return out

    return step


# -------------------------------------------------------------------------- floors


def make_floor(rate: int) -> Step:
    """opuslib (the system libopus) encode + decode of one frame at ``rate``, our settings."""
    import opuslib
    import opuslib.api.ctl
    import opuslib.api.encoder

    enc = opuslib.Encoder(rate, 1, opuslib.APPLICATION_VOIP)
    # As our OpusEncoder (fec=True, expected_loss=5). opuslib's property setters are
    # broken in 3.0.1 (they drop the value), so call the ctl directly.
    ctl = opuslib.api.encoder.encoder_ctl
    ctl(enc.encoder_state, opuslib.api.ctl.set_inband_fec, 1)
    ctl(enc.encoder_state, opuslib.api.ctl.set_packet_loss_perc, 5)
    assert enc.inband_fec == 1 and enc.packet_loss_perc == 5
    dec = opuslib.Decoder(rate, 1)
    encode, decode = enc.encode, dec.decode
    samples = rate // 50

    def step(pcm: bytes, now: float) -> bytes:
        return decode(encode(pcm, samples), samples)

    return step


def make_ctypes_floor(path: str, rate: int, *, aiortc_settings: bool = False) -> Step:
    """libopus encode + decode alone through plain ctypes, on the build at ``path``.

    Default: our encoder's settings (mono, VoIP, in-band FEC for 5 % loss) at ``rate``.
    ``aiortc_settings``: stereo, VoIP, 96 kb/s, no FEC, decoding to stereo; its input
    is a stereo frame (see :func:`stereo`).
    """
    lib = ctypes.CDLL(path)
    vp, cp, ci, i32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int32
    lib.opus_encoder_create.restype = vp
    lib.opus_decoder_create.restype = vp
    lib.opus_encode.argtypes = [vp, cp, ci, cp, i32]
    lib.opus_decode.argtypes = [vp, cp, i32, cp, ci, ci]
    channels = 2 if aiortc_settings else 1
    err = ctypes.c_int()
    enc = ctypes.c_void_p(lib.opus_encoder_create(rate, channels, 2048, ctypes.byref(err)))
    assert err.value == 0
    if aiortc_settings:
        lib.opus_encoder_ctl(enc, 4002, ctypes.c_int(96000))  # OPUS_SET_BITRATE
    else:
        lib.opus_encoder_ctl(enc, 4012, ctypes.c_int(1))  # OPUS_SET_INBAND_FEC
        lib.opus_encoder_ctl(enc, 4014, ctypes.c_int(5))  # OPUS_SET_PACKET_LOSS_PERC
    dec = ctypes.c_void_p(lib.opus_decoder_create(rate, channels, ctypes.byref(err)))
    assert err.value == 0
    samples = rate // 50
    packet = ctypes.create_string_buffer(1500)
    pcm_out = ctypes.create_string_buffer(samples * 2 * channels)
    encode, decode = lib.opus_encode, lib.opus_decode

    def step(pcm: bytes, now: float) -> bytes:
        n = encode(enc, pcm, samples, packet, 1500)
        decode(dec, packet, n, pcm_out, samples, 0)
        return pcm_out.raw

    return step


def stereo(frames: list[bytes]) -> list[bytes]:
    return [np.repeat(np.frombuffer(f, dtype=np.int16), 2).tobytes() for f in frames]


def libopus_versions() -> tuple[str, str | None]:
    """(the libopus opuslib and ours load, the path of PyAV's bundled libopus or None)."""
    import av
    import opuslib.api

    fn = opuslib.api.libopus.opus_get_version_string
    fn.restype = ctypes.c_char_p
    system = fn().decode()
    libs = os.path.join(os.path.dirname(av.__file__), "..", "av.libs", "libopus*")
    bundled = sorted(glob.glob(libs))
    return system, (bundled[0] if bundled else None)


def lib_version(path: str) -> str:
    fn = ctypes.CDLL(path).opus_get_version_string
    fn.restype = ctypes.c_char_p
    return fn().decode()


# ------------------------------------------------------------------------- aiortc


def make_aiortc() -> tuple[Callable[[bytes, float], list[bytes]], Callable[[bool], None]]:
    import av
    import pylibsrtp
    from aiortc import clock
    from aiortc.codecs import depayload
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterBuffer
    from aiortc.rtcrtpparameters import (
        RTCRtpCodecParameters,
        RTCRtpHeaderExtensionParameters,
        RTCRtpParameters,
    )
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket, compute_audio_level_dbov

    codec = RTCRtpCodecParameters(
        mimeType="audio/opus", clockRate=48000, channels=2, payloadType=96
    )
    params = RTCRtpParameters(
        codecs=[codec],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            ),
            RTCRtpHeaderExtensionParameters(
                id=3, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
            ),
        ],
    )
    ext_map = HeaderExtensionsMap()
    ext_map.configure(params)
    a, b = os.urandom(30), os.urandom(30)
    profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    tx = pylibsrtp.Session(
        pylibsrtp.Policy(key=a, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
    )
    rx = pylibsrtp.Session(
        pylibsrtp.Policy(key=a, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    )
    del b
    encoder = OpusEncoder()
    decoder = OpusDecoder()
    jitter = JitterBuffer(capacity=16, prefetch=4)  # RTCRtpReceiver's audio settings
    to_app = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    time_base = fractions.Fraction(1, RATE)
    state = {"pts": 0, "seq": 1000, "ts0": 12345, "audio_level": True}

    def set_audio_level(on: bool) -> None:
        state["audio_level"] = on

    def step(pcm: bytes, now: float) -> list[bytes]:
        # RTCRtpSender: a track's frame, its audio level, the encoder.
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = RATE
        frame.pts = state["pts"]
        frame.time_base = time_base
        state["pts"] += FRAME_SAMPLES
        level = compute_audio_level_dbov(frame) if state["audio_level"] else None
        payloads, timestamp = encoder.encode(frame)
        out: list[bytes] = []
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=96, sequence_number=state["seq"], timestamp=state["ts0"] + timestamp
            )
            packet.ssrc = 0x1234
            packet.payload = payload
            packet.marker = 1 if i == len(payloads) - 1 else 0
            packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
            packet.extensions.mid = "0"
            if level is not None:
                packet.extensions.audio_level = (False, -level)
            state["seq"] = (state["seq"] + 1) & 0xFFFF
            wire = tx.protect(packet.serialize(ext_map))
            # RTCDtlsTransport + RTCRtpReceiver._handle_rtp_packet + decoder_worker.
            plain = rx.unprotect(wire)
            rtp = RtpPacket.parse(plain, ext_map)
            rtp._data = depayload(codec, rtp.payload) if rtp.payload else b""  # type: ignore[attr-defined]
            _, encoded = jitter.add(rtp)
            if encoded is not None:
                for decoded in decoder.decode(encoded):
                    for f in to_app.resample(decoded):
                        out.append(f.to_ndarray().tobytes())
        return out

    return step, set_audio_level


# -------------------------------------------------------------------------- timing


def time_per_frame(step: Callable[[bytes, float], Any], frames: list[bytes]) -> float:
    """CPU seconds per frame for one pass over ``frames`` (process time: all threads)."""
    now = 1000.0
    start = time.process_time()
    for f in frames:
        step(f, now)
        now += 0.02
    return (time.process_time() - start) / len(frames)


def allocations(step: Callable[[bytes, float], Any], frames: list[bytes]) -> tuple[float, float]:
    """(retained blocks per frame, median peak transient bytes per frame)."""
    for f in frames[:20]:  # warm caches outside the trace
        step(f, 0.0)
    keep: list[Any] = [None] * len(frames)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        now = 2000.0
        for i, f in enumerate(frames):
            keep[i] = step(f, now)
            now += 0.02
        after = tracemalloc.take_snapshot()
        retained = sum(s.count_diff for s in after.compare_to(before, "filename"))
        peaks = []
        for f in frames:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            out = step(f, now)
            now += 0.02
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
            del out
    finally:
        tracemalloc.stop()
    # The snapshots themselves are not traced; the keep list was preallocated.
    return retained / len(frames), statistics.median(peaks)


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    n_frames, rounds = (50, 2) if args.smoke else (500, 7)
    frames = speech_frames(n_frames)
    frames48 = to_48k(frames)
    system_opus, bundled_path = libopus_versions()
    bundled_opus = lib_version(bundled_path) if bundled_path else "none"
    ours, ours48 = make_ours(24000), make_ours(48000)
    aio, set_audio_level = make_aiortc()

    # Sanity: every path gives back 20 ms of audio per frame.
    for name, step in (("ours", ours), ("ours48", ours48), ("aiortc", aio)):
        got = [p for f in frames[:20] for p in step(f, 0.0)]
        assert len(got) >= 15 and all(len(p) == FRAME_BYTES for p in got[1:-1]), name

    paths: dict[str, tuple[Step, list[bytes]]] = {
        "ours": (ours, frames),
        "floor": (make_floor(24000), frames),
        "ours48": (ours48, frames),
        "floor48": (make_floor(48000), frames48),
        "aiortc": (aio, frames),
    }
    if bundled_path:
        paths["ours_av"] = (make_ours(24000, bundled_path), frames)
        paths["floor_av"] = (make_ctypes_floor(bundled_path, 24000), frames)
        paths["floor_aio"] = (
            make_ctypes_floor(bundled_path, 48000, aiortc_settings=True),
            stereo(frames48),
        )
    best = dict.fromkeys([*paths, "aiortc_nolevel"], 1.0)
    for _ in range(rounds):
        for name, (step, data) in paths.items():
            best[name] = min(best[name], time_per_frame(step, data))
        set_audio_level(False)
        best["aiortc_nolevel"] = min(best["aiortc_nolevel"], time_per_frame(aio, frames))
        set_audio_level(True)

    alloc_frames = frames[: (50 if args.smoke else 200)]
    allocs = {
        "ours": allocations(ours, alloc_frames),
        "ours48": allocations(ours48, alloc_frames),
        "aiortc": allocations(aio, alloc_frames),
    }

    us = {k: v * 1e6 for k, v in best.items()}
    c.note(f"machine: {c.machine()}; {c.load_note()}")
    c.note(f"libopus: system {system_opus} (opuslib, ours); PyAV/aiortc bundles {bundled_opus}")
    c.note(f"frames per round: {n_frames}, rounds: {rounds} (best round kept), CPU time")
    labels = {
        "ours": "ours, Opus at 24 kHz (as webrtc.peer builds it)",
        "floor": f"floor: opuslib 24 kHz encode+decode, {system_opus}",
        "ours48": "ours, Opus at 48 kHz + resampling both ways",
        "floor48": f"floor: opuslib 48 kHz encode+decode, {system_opus}",
        "aiortc": "aiortc path",
        "aiortc_nolevel": "aiortc path without compute_audio_level_dbov",
        "ours_av": f"ours (24 kHz) built on {bundled_opus} (PyAV's; what-if)",
        "floor_av": f"floor: ctypes 24 kHz encode+decode, {bundled_opus}",
        "floor_aio": f"floor: {bundled_opus} with aiortc's settings (48 kHz stereo 96 kb/s, no FEC)",
    }
    for k, v in us.items():
        c.note(f"{labels[k]}: {v:.1f} us per 20 ms frame, send + receive")
    for k, (ret, peak) in allocs.items():
        c.note(f"{k}: {ret:.1f} retained blocks/frame, peak transient {peak / 1024:.1f} KiB/frame")
    vs_floor = us["ours"] / us["floor"]
    vs_floor48 = us["ours48"] / us["floor48"]
    vs_aio = us["aiortc"] / us["ours"]

    def verdict(goal: str, ok: bool) -> str:
        return c.judged(f", {goal}{' ' if goal else ''}{'met' if ok else 'MISSED'}")

    text = (
        f"ours {us['ours']:.0f} us/frame vs libopus floor {us['floor']:.0f} us ({vs_floor:.2f}x"
        f"{verdict('goal <=1.15x', vs_floor <= 1.15)}); at 48 kHz with resampling "
        f"{us['ours48']:.0f} vs {us['floor48']:.0f} us ({vs_floor48:.2f}x"
        f"{verdict('', vs_floor48 <= 1.15)}); aiortc {us['aiortc']:.0f} us (aiortc/ours "
        f"{vs_aio:.2f}x{verdict('goal >=2x', vs_aio >= 2)})"
    )
    if "floor_aio" in us:
        ours_extra = us["ours"] - us["floor"]
        aio_extra = us["aiortc"] - us["floor_aio"]
        text += (
            f"; code beyond libopus ours {ours_extra:+.0f} us vs aiortc {aio_extra:+.0f} us "
            f"(its {bundled_opus} with its settings: {us['floor_aio']:.0f} us); "
            f"ours on {bundled_opus} {us['ours_av']:.0f} us vs floor {us['floor_av']:.0f} us"
        )
    text += (
        f"; allocs/frame retained ours {allocs['ours'][0]:.1f} vs aiortc "
        f"{allocs['aiortc'][0]:.1f} blocks, peak {allocs['ours'][1] / 1024:.1f} vs "
        f"{allocs['aiortc'][1] / 1024:.1f} KiB"
    )
    c.summary("media", text)

    def draw(plt: Any) -> None:
        keys = [k for k in labels if k in us]
        plt.barh([labels[k] for k in keys][::-1], [us[k] for k in keys][::-1])
        plt.xlabel("us per 20 ms frame, send + receive (lower is better)")
        plt.title("bench_media: PCM -> Opus/RTP/SRTP -> PCM")

    c.maybe_plot(args.plot, "bench_media", draw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
