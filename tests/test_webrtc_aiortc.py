"""Interop: our offerer (PeerConnection on the anyio UDP driver) against aiortc as the
answerer on 127.0.0.1. ICE, DTLS, SRTP, SCTP and the data channel all run between two
independent implementations; audio is checked by the FFT peak of a tone each way."""

from __future__ import annotations

import asyncio
import fractions
import math
import re
import time
from typing import Any

import anyio
import numpy as np
import pytest

aiortc = pytest.importorskip("aiortc")
av = pytest.importorskip("av")
aioice_ice = pytest.importorskip("aioice.ice")

from adk_realtime.drivers.webrtc import open_peer  # noqa: E402
from adk_realtime.sansio.errors import LocalProtocolError  # noqa: E402
from adk_realtime.sansio.webrtc.dtls import DtlsCertificate  # noqa: E402
from adk_realtime.sansio.webrtc.peer import (  # noqa: E402
    AudioFrame,
    ChannelMessage,
    ChannelOpened,
    ConnectionStateChanged,
    PeerState,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiortc runs on asyncio only


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def tone(freq: float, rate: int, samples: int, start: int = 0) -> np.ndarray:
    t = (np.arange(samples) + start) / rate
    return (np.sin(2 * math.pi * freq * t) * 12000).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


class ToneTrack(aiortc.AudioStreamTrack):  # type: ignore[misc]
    """aiortc's side of the call: a 660 Hz tone, 20 ms frames at 48 kHz, paced in real time."""

    def __init__(self) -> None:
        super().__init__()
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> Any:
        if self._start is None:
            self._start = time.time()
        wait = self._start + self._sent / 48000 - time.time()
        if wait > 0:
            await asyncio.sleep(wait)  # real-time pacing of a media source, not a sync
        frame = av.AudioFrame.from_ndarray(
            tone(660, 48000, 960, self._sent).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = 48000
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, 48000)
        self._sent += 960
        return frame


@pytest.mark.anyio
async def test_offerer_interoperates_with_aiortc_audio_and_data_channel_both_ways() -> None:
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    heard: list[np.ndarray] = []  # what aiortc decoded from us (48 kHz, interleaved)
    heard_rate: list[int] = []
    got_messages: list[str] = []
    remote_ice: list[str] = []
    pullers: list[asyncio.Future[None]] = []

    @pc.on("track")  # type: ignore[untyped-decorator]
    def on_track(track: Any) -> None:
        async def pull() -> None:
            while True:
                try:
                    frame = await track.recv()
                except aiortc.mediastreams.MediaStreamError:
                    return
                data = frame.to_ndarray().reshape(-1)
                channels = len(frame.layout.channels)
                heard.append(data[::channels].copy())
                heard_rate.append(frame.sample_rate)

        pullers.append(asyncio.ensure_future(pull()))

    @pc.on("datachannel")  # type: ignore[untyped-decorator]
    def on_datachannel(channel: Any) -> None:
        assert channel.label == "oai-events"

        @channel.on("message")  # type: ignore[untyped-decorator]
        def on_message(message: str) -> None:
            got_messages.append(message)
            channel.send(f"echo:{message}")

    @pc.on("iceconnectionstatechange")  # type: ignore[untyped-decorator]
    def on_ice() -> None:
        remote_ice.append(pc.iceConnectionState)

    try:
        async with open_peer(local_addresses=["127.0.0.1"]) as peer:
            peer.send_message("queued before the answer")  # waits in the pending queue
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(peer.offer, "offer"))
            pc.addTrack(ToneTrack())
            await pc.setLocalDescription(await pc.createAnswer())
            peer.set_answer(pc.localDescription.sdp)

            ours: list[bytes] = []
            echoes: list[str] = []
            states: list[PeerState] = []
            opened = anyio.Event()
            sent_ms = 0

            async def talk() -> None:
                nonlocal sent_ms
                start = anyio.current_time()
                chunk = 480  # 20 ms at 24 kHz
                while sent_ms < 3000:
                    if peer.state is PeerState.CONNECTED:
                        pcm = tone(440, 24000, chunk, sent_ms * 24).tobytes()
                        peer.send_audio(pcm, 24000)
                        sent_ms += 20
                    # real-time pacing of the microphone stand-in
                    await anyio.sleep(
                        max(0.0, start + (sent_ms + 20) / 1000 - anyio.current_time())
                    )

            async def listen() -> None:
                while len(ours) < 75 or len(echoes) < 2 or len(heard) < 75:
                    event = await peer.next_event()
                    assert event is not None
                    if isinstance(event, AudioFrame):
                        assert event.sample_rate == 24000
                        ours.append(event.pcm)
                    elif isinstance(event, ChannelOpened):
                        assert event.label == "oai-events"
                        opened.set()
                        peer.send_message("after open")
                    elif isinstance(event, ChannelMessage):
                        assert isinstance(event.data, str)
                        echoes.append(event.data)
                    elif isinstance(event, ConnectionStateChanged):
                        states.append(event.state)
                        assert event.state is not PeerState.FAILED, event.reason

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(talk)
                    await listen()
                    tg.cancel_scope.cancel()

            assert opened.is_set()
            assert states[:2] == [PeerState.CHECKING, PeerState.CONNECTED]
            assert got_messages == ["queued before the answer", "after open"]
            assert echoes == ["echo:queued before the answer", "echo:after open"]
            # aiortc -> us: its 660 Hz tone, decoded to 24 kHz PCM16 frames of 20 ms
            assert {len(p) for p in ours} == {960}
            received = np.frombuffer(b"".join(ours[25:]), dtype="<i2")
            assert abs(peak_hz(received, 24000) - 660) < 10
            assert np.abs(received).max() > 3000
            # us -> aiortc: our 440 Hz tone
            assert set(heard_rate) == {48000}
            decoded = np.concatenate(heard[25:])
            assert abs(peak_hz(decoded, 48000) - 440) < 10
            assert np.abs(decoded).max() > 3000
            # the outbound stream: one SSRC, what our offer announced, as aiortc saw it
            receiver = next(t.receiver for t in pc.getTransceivers() if t.kind == "audio")
            stats = await receiver.getStats()
            ssrcs = {s.ssrc for s in stats.values() if s.type == "inbound-rtp"}
            assert ssrcs == {peer.pc.local_ssrc}
            assert peer.pc.audio_receiver is not None
            assert peer.pc.audio_receiver.depacketizer.stats["foreign_ssrc"] == 0
            assert "completed" in remote_ice or "connected" in remote_ice
    finally:
        await pc.close()


@pytest.mark.anyio
async def test_aiortc_hanging_up_is_seen_within_a_second() -> None:
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        async with open_peer(local_addresses=["127.0.0.1"]) as peer:
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(peer.offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            peer.set_answer(pc.localDescription.sdp)
            with anyio.fail_after(15):
                while not isinstance(event := await peer.next_event(), ChannelOpened):
                    assert not isinstance(event, ConnectionStateChanged) or event.state in (
                        PeerState.CHECKING,
                        PeerState.CONNECTED,
                    )
            await pc.close()
            start = anyio.current_time()
            with anyio.fail_after(1):
                while True:
                    event = await peer.next_event()
                    if isinstance(event, ConnectionStateChanged) and event.state in (
                        PeerState.FAILED,
                        PeerState.CLOSED,
                    ):
                        break
            assert anyio.current_time() - start < 1
    finally:
        await pc.close()


def with_another_fingerprint(offer: str) -> str:
    """Our offer naming another certificate: the answerer will refuse the one we show."""
    other = DtlsCertificate.generate().fingerprint_sdp
    return re.sub(r"a=fingerprint:sha-256 \S+", f"a=fingerprint:sha-256 {other}", offer)


@pytest.mark.anyio
async def test_aiortc_refusing_our_certificate_fails_fast_and_never_says_connected() -> None:
    """aiortc finishes its DTLS handshake, then finds our certificate is not the one in
    the offer and goes quiet. The peer must not report CONNECTED, must fail within
    setup_timeout saying why, and must refuse messages from then on."""
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        async with open_peer(local_addresses=["127.0.0.1"], setup_timeout=2.0) as peer:
            offer = with_another_fingerprint(peer.offer)
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            peer.set_answer(pc.localDescription.sdp)
            peer.send_message("queued while connecting")  # accepted: it may still open
            start = anyio.current_time()
            states: list[PeerState] = []
            reason = ""
            with anyio.fail_after(10):
                while PeerState.FAILED not in states:
                    event = await peer.next_event()
                    assert not isinstance(event, ChannelOpened)
                    if isinstance(event, ConnectionStateChanged):
                        states.append(event.state)
                        reason = event.reason
            assert states == [PeerState.CHECKING, PeerState.FAILED]
            assert "certificate" in reason and "DTLS" in reason
            assert anyio.current_time() - start < 4
            assert pc.connectionState == "failed"  # aiortc did refuse our certificate
            with pytest.raises(LocalProtocolError):
                peer.send_message("too late")
    finally:
        await pc.close()
