"""Allocations and time per 20 ms frame on the WebRTC audio path.

PCM16 24 kHz -> AudioSender (Opus, RTP, SRTP) -> AudioReceiver (SRTP, RTP
latch, jitter buffer, Opus, PCM16 24 kHz), in process, no sockets.

Measured, after a warm-up:
* net allocated blocks per frame: ``sys.getallocatedblocks()`` before and after
  N round trips (what the path keeps; a leak or a growing cache shows here),
  cross-checked with a tracemalloc snapshot diff;
* transient peak per frame: the most memory a round trip holds at once
  beyond the steady state (tracemalloc peak), i.e. what it allocates and frees;
* time per frame for send and for receive (perf_counter, tracemalloc off).

Two configurations: Opus at the PCM rate (24 kHz, no resampler, the default of
``AudioReceiver``), and Opus at 48 kHz with the streaming resampler both ways.

``--smoke`` runs about a second. Prints one ``SUMMARY media_alloc:`` line.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
import tracemalloc
from typing import Any

import _common as c
import numpy as np

from adk_realtime.sansio.webrtc.media import AudioReceiver, AudioSender
from adk_realtime.sansio.webrtc.opus import OpusEncoder
from adk_realtime.sansio.webrtc.rtp import RtpPacketizer
from adk_realtime.sansio.webrtc.srtp import SrtpKeys, SrtpSession

RATE = 24000
FRAME_BYTES = RATE // 50 * 2


def build(opus_rate: int) -> tuple[AudioSender, AudioReceiver, list[bytes]]:
    key_a, key_b = bytes(range(30)), bytes(range(40, 70))
    sender = AudioSender(
        RtpPacketizer(rng=random.Random(1)),
        OpusEncoder(opus_rate),
        SrtpSession(SrtpKeys(key_a, key_b)),
        RATE,
    )
    receiver = AudioReceiver(
        SrtpSession(SrtpKeys(key_b, key_a)), output_rate=RATE, decode_rate=opus_rate
    )
    # Voiced-speech stand-in: 150 Hz harmonics with a syllable-rate envelope, plus noise.
    t = np.arange(RATE * 2) / RATE
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    noise = np.random.default_rng(0).normal(0, 0.05, len(t))
    pcm = (4000 * (voiced * envelope + noise)).astype(np.int16).tobytes()
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    return sender, receiver, frames


def run(sender: AudioSender, receiver: AudioReceiver, frames: list[bytes], n: int, t0: int) -> None:
    for i in range(n):
        frame = frames[(t0 + i) % len(frames)]
        sender.send_pcm(frame)
        for packet in sender.data_to_send():
            receiver.receive_data(packet, (t0 + i) * 0.02)
        while receiver.next_event() is not None:  # the AudioFrame events, read and dropped
            pass


def measure(opus_rate: int, n_alloc: int, n_time: int) -> dict[str, float]:
    sender, receiver, frames = build(opus_rate)
    run(sender, receiver, frames, 100, 0)  # warm-up: caches, buffers, first-use allocations
    clock = 100

    gc.collect()
    gc.disable()
    try:
        before = sys.getallocatedblocks()
        run(sender, receiver, frames, n_alloc, clock)
        after = sys.getallocatedblocks()
        clock += n_alloc

        tracemalloc.start()
        snap0 = tracemalloc.take_snapshot()
        peaks = []
        for i in range(n_alloc):
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            run(sender, receiver, frames, 1, clock + i)
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        clock += n_alloc
    finally:
        gc.enable()
    ignore = [tracemalloc.Filter(False, __file__), tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = snap1.filter_traces(ignore).compare_to(snap0.filter_traces(ignore), "lineno")
    traced_blocks = sum(d.count_diff for d in diff)

    send_t, recv_t = [], []
    for i in range(n_time):
        frame = frames[(clock + i) % len(frames)]
        s0 = time.perf_counter()
        sender.send_pcm(frame)
        packets = sender.data_to_send()
        s1 = time.perf_counter()
        for packet in packets:
            receiver.receive_data(packet, (clock + i) * 0.02)
        while receiver.next_event() is not None:
            pass
        s2 = time.perf_counter()
        send_t.append(s1 - s0)
        recv_t.append(s2 - s1)
    assert receiver.stats["frames"] > 0 and receiver.srtp.stats["rtp_auth_failed"] == 0
    return {
        "net_blocks": (after - before) / n_alloc,
        "traced_blocks": traced_blocks / n_alloc,
        "peak_bytes": statistics.median(peaks),
        "send_us": statistics.median(send_t) * 1e6,
        "recv_us": statistics.median(recv_t) * 1e6,
    }


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    n_alloc, n_time = (100, 200) if args.smoke else (1000, 3000)
    native = measure(24000, n_alloc, n_time)
    resampled = measure(48000, n_alloc, n_time)
    for name, r in (("opus@24k", native), ("opus@48k+resampler", resampled)):
        print(
            f"{name}: net {r['net_blocks']:.2f} blocks/frame (tracemalloc {r['traced_blocks']:.2f}),"
            f" transient peak {r['peak_bytes']:.0f} B/frame,"
            f" send {r['send_us']:.1f} us, receive {r['recv_us']:.1f} us (median)"
        )
    c.summary(
        "media_alloc",
        f"{native['net_blocks']:.1f} allocated blocks/frame net, "
        f"{native['send_us']:.1f} us/frame send, {native['recv_us']:.1f} us/frame receive "
        f"(24 kHz, 20 ms, Opus at 24 kHz; at 48 kHz with resampling: "
        f"{resampled['net_blocks']:.1f} blocks, {resampled['send_us']:.1f} us send, "
        f"{resampled['recv_us']:.1f} us receive)",
    )

    def draw(plt: Any) -> None:
        labels = ["Opus at 24 kHz", "Opus at 48 kHz + resampling"]
        plt.barh(labels, [native["send_us"], resampled["send_us"]], label="send")
        plt.barh(
            labels,
            [native["recv_us"], resampled["recv_us"]],
            left=[native["send_us"], resampled["send_us"]],
            label="receive",
        )
        plt.xlabel("us per 20 ms frame (median)")
        plt.title("bench_media_alloc: our 20 ms path, send + receive")
        plt.legend()

    c.maybe_plot(args.plot, "bench_media_alloc", draw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
