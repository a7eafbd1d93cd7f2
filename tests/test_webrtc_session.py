"""RealtimeSession over transport="webrtc" against a fake OpenAI WebRTC server
(`tests.fake_webrtc_server`): aiohttp answers the signalling (unified multipart flow,
ephemeral client secrets), aiortc is the media peer (echoes our audio back, answers the
oai-events channel with events built from the official SDK models) and every client event
it receives is validated strictly against the SDK's GA types. The server runs on its own
thread and asyncio loop, so every test here runs under asyncio and trio."""

from __future__ import annotations

import math
import re
import socket
import sys
from typing import Any

import anyio
import anyio.abc
import numpy as np
import pytest

pytest.importorskip("aiortc")
pytest.importorskip("aiohttp.web")
aioice_ice = pytest.importorskip("aioice.ice")

from adk_realtime.openai import OpenAIRealtimeModel  # noqa: E402
from adk_realtime.sansio import events as ev  # noqa: E402
from adk_realtime.sansio.config import RealtimeConfig  # noqa: E402
from adk_realtime.sansio.errors import AuthError, ConfigError, ConnectionClosed  # noqa: E402
from adk_realtime.session import SessionOptions  # noqa: E402
from adk_realtime.webrtc_link import WebRTCOptions  # noqa: E402
from tests.fake_webrtc_server import KEY, TOKEN, FakeOpenAI  # noqa: E402


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # a module attribute, so the fake server's thread sees the patch too
    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def tone(freq: float, rate: int, samples: int, start: int) -> bytes:
    t = (np.arange(samples) + start) / rate
    return (np.sin(2 * math.pi * freq * t) * 12000).astype("<i2").tobytes()


def peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def model_for(server: FakeOpenAI, key: str = KEY, **options: Any) -> OpenAIRealtimeModel:
    return OpenAIRealtimeModel(
        key,
        "gpt-realtime",
        transport="webrtc",
        base_url=server.base_url,
        webrtc_options=WebRTCOptions(local_addresses=["127.0.0.1"], **options),
    )


async def talk(session: Any, seconds: float) -> None:
    """A microphone stand-in: a 440 Hz tone at 24 kHz in 20 ms chunks, real-time paced."""
    start = anyio.current_time()
    for i in range(int(seconds * 50)):
        await session.send_audio(tone(440, 24000, 480, i * 480), 24000)
        await anyio.sleep(max(0.0, start + (i + 1) * 0.02 - anyio.current_time()))


@pytest.mark.anyio
async def test_a_turn_over_webrtc_events_and_audio_both_ways_then_the_peer_vanishes() -> None:
    async with FakeOpenAI() as server:
        config = RealtimeConfig(instruction="You are a test.", voice="alloy")
        with anyio.fail_after(25):
            # (without rollover: with it, the vanished peer would be replaced by a new one)
            options = SessionOptions(rollover=False)
            async with model_for(server).connect(config, options=options) as session:
                seen: list[Any] = []
                audio: list[ev.AudioDelta] = []
                async with anyio.create_task_group() as tg:
                    tg.start_soon(talk, session, 10.0)
                    async for event in session:
                        if isinstance(event, ev.AudioDelta):
                            audio.append(event)
                            if len(audio) == 50:
                                await session.create_response()
                            if event.item_id == "item_1" and not any(
                                isinstance(e, ev.OutputAudioCleared) for e in seen
                            ):
                                if not any(e == "interrupt" for e in seen):
                                    seen.append("interrupt")
                                    await session.interrupt()
                        else:
                            seen.append(event)
                        if isinstance(event, ev.ResponseDone):
                            break
                    tg.cancel_scope.cancel()

                kinds = [type(e).__name__ for e in seen if not isinstance(e, str)]
                assert kinds[:2] == ["SessionCreated", "SessionUpdated"]
                for name in ("ResponseCreated", "TranscriptDelta", "OutputAudioCleared"):
                    assert name in kinds
                assert kinds[-1] == "ResponseDone"
                # audio came back: 24 kHz PCM16 frames of 20 ms carrying our tone
                assert {len(a.delta) for a in audio} == {960}
                assert abs(peak_hz(b"".join(a.delta for a in audio[25:]), 24000) - 440) < 10
                assert any(a.item_id == "item_1" and a.response_id == "r1" for a in audio)
                # what the server got: the multipart call and strictly valid GA events
                call = server.requests[0]
                assert call["type"] == "multipart/form-data" and call["auth"] == f"Bearer {KEY}"
                assert call["parts"]["sdp"][0] == "application/sdp"
                assert call["parts"]["session"][0] == "application/json"
                assert call["session"]["model"] == "gpt-realtime"
                assert call["session"]["type"] == "realtime"
                assert call["session"]["instructions"] == "You are a test."
                sent = [e["type"] for e in server.client_events]
                assert sent[0] == "session.update"
                assert "response.create" in sent
                assert sent[-2:] == ["response.cancel", "output_audio_buffer.clear"]
                assert server.invalid == []

                # The server disappears: the session ends with ConnectionClosed within 1 s.
                await server.hang_up()
                start = anyio.current_time()
                with pytest.raises(ConnectionClosed):
                    with anyio.fail_after(1):
                        async for _event in session:
                            pass
                assert anyio.current_time() - start < 1


@pytest.mark.anyio
async def test_ephemeral_flow_mints_a_client_secret_then_calls_with_it() -> None:
    async with FakeOpenAI() as server:
        with anyio.fail_after(20):
            async with model_for(server, flow="ephemeral").connect(RealtimeConfig()) as session:
                kinds = []
                async for event in session:
                    if not isinstance(event, ev.AudioDelta):
                        kinds.append(type(event).__name__)
                    if isinstance(event, ev.SessionUpdated):
                        break
                assert kinds == ["SessionCreated", "SessionUpdated"]
        secret, call = server.requests
        assert secret["path"] == "/v1/realtime/client_secrets"
        assert secret["auth"] == f"Bearer {KEY}"
        assert secret["json"]["session"]["model"] == "gpt-realtime"
        assert secret["json"]["session"]["type"] == "realtime"
        assert call["path"] == "/v1/realtime/calls"
        assert call["type"] == "application/sdp" and call["auth"] == f"Bearer {TOKEN}"
        assert server.invalid == []


@pytest.mark.anyio
@pytest.mark.parametrize("flow", ["unified", "ephemeral"])
async def test_a_refused_key_is_an_auth_error_that_does_not_show_the_key(flow: str) -> None:
    wrong = "sk-wrong-key-abcdef0123456789"
    async with FakeOpenAI() as server:
        with pytest.raises(AuthError) as info, anyio.fail_after(10):
            async with model_for(server, key=wrong, flow=flow).connect(RealtimeConfig()):
                pass
        assert info.value.status == 401
        assert wrong not in str(info.value) and "Incorrect API key" in str(info.value)
        assert server.pcs == []


@pytest.mark.anyio
async def test_no_answer_from_the_media_peer_fails_connect_within_the_timeout() -> None:
    async with FakeOpenAI() as server:

        async def silent_answer(offer: str) -> str:
            answer = await FakeOpenAI.answer(server, offer)
            await server.close_peers()  # its UDP sockets close: ICE can never succeed
            return answer

        server.answer = silent_answer  # type: ignore[method-assign]
        start = anyio.current_time()
        with pytest.raises(ConnectionClosed, match="not established"), anyio.fail_after(10):
            async with model_for(server, connect_timeout=1.5).connect(RealtimeConfig()):
                pass
        assert anyio.current_time() - start < 5


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        WebRTCOptions(flow="browser")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        WebRTCOptions(local_addresses="127.0.0.1")
    with pytest.raises(ConfigError, match=r"setup_timeout: .*not 0"):
        WebRTCOptions(setup_timeout=0)
    assert WebRTCOptions(local_addresses=["127.0.0.1"]).local_addresses == ("127.0.0.1",)
    beta = OpenAIRealtimeModel(
        KEY, "gpt-4o-realtime-preview-2024-12-17", transport="webrtc", base_url="http://h/v1"
    )
    with pytest.raises(ConfigError, match="GA"):
        from adk_realtime.sansio.openai.protocol import OpenAIProtocol
        from adk_realtime.webrtc_link import webrtc_link_factory

        webrtc_link_factory(beta, OpenAIProtocol(beta.model_id), RealtimeConfig())


@pytest.mark.anyio
async def test_a_realtime_agent_runs_over_webrtc_by_changing_one_argument() -> None:
    from adk_realtime import EventHandler, RealtimeAgent, RealtimeRunner, function_tool

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    class Handler(EventHandler):
        def __init__(self) -> None:
            self.transcript: list[str] = []
            self.heard = anyio.Event()
            self.done = anyio.Event()

        def on_transcript(self, text: str, item_id: str) -> None:
            self.transcript.append(text)
            self.heard.set()

        def on_response_done(self, event: ev.ResponseDone) -> None:
            self.done.set()

    async with FakeOpenAI() as server:
        agent = RealtimeAgent(
            "assistant", model_for(server), instruction="Be brief.", tools=[get_weather]
        )
        handler = Handler()
        runner = RealtimeRunner(agent=agent, event_handler=handler)
        with anyio.fail_after(25):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.run)
                await runner.send_text("hi")
                await handler.heard.wait()
                await runner.interrupt()
                await handler.done.wait()
                await runner.close()
    assert handler.transcript == ["Hello"]
    update = server.client_events[0]
    assert update["type"] == "session.update"
    assert update["session"]["instructions"] == "Be brief."
    assert [t["name"] for t in update["session"]["tools"]] == ["get_weather"]
    sent = [e["type"] for e in server.client_events]
    assert "conversation.item.create" in sent and sent[-2:] == [
        "response.cancel",
        "output_audio_buffer.clear",
    ]
    assert server.invalid == []


@pytest.mark.anyio
async def test_an_oversized_event_raises_without_closing_the_link() -> None:
    """Over the peer's max-message-size is the caller's error, not a dead connection;
    once the peer failed, sending is ConnectionClosed."""
    from adk_realtime.sansio.errors import LocalProtocolError
    from adk_realtime.sansio.webrtc.peer import PeerState
    from adk_realtime.webrtc_link import WebRTCLink

    class FakePeer:
        closed = False
        state = PeerState.CONNECTED

        def send_message(self, data: str) -> None:
            raise LocalProtocolError("message of 70000 bytes exceeds the peer's max-message-size")

    peer = FakePeer()
    link = WebRTCLink(peer, None, "rtc_1")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="max-message-size") as info:
        await link.send("x" * 70000)
    assert not isinstance(info.value, ConnectionClosed)
    peer.state = PeerState.FAILED
    with pytest.raises(ConnectionClosed):
        await link.send("{}")


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform != "linux", reason="IP_RECVERR is Linux's")
async def test_a_udp_receive_error_does_not_stop_the_peer_reading() -> None:
    """An ICMP error read on the socket (Linux with IP_RECVERR, Windows always) is
    skipped: under trio it arrives as BrokenResourceError from OSError."""
    from adk_realtime.drivers.webrtc import open_peer

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # nobody listens there once closed
    async with open_peer(local_addresses=["127.0.0.1"]) as peer:
        sock = peer._sockets[0]
        sock.extra(anyio.abc.SocketAttribute.raw_socket).setsockopt(socket.SOL_IP, 11, 1)
        got = anyio.Event()
        original = peer.pc.receive_datagram

        def receive(data: bytes, route: Any, now: float) -> None:
            if data == b"after the error":
                got.set()
            original(data, route, now)

        peer.pc.receive_datagram = receive  # type: ignore[method-assign]
        await sock.sendto(b"to nobody", "127.0.0.1", dead_port)  # ICMP port unreachable
        port = sock.extra(anyio.abc.SocketAttribute.local_port)
        async with await anyio.create_udp_socket(local_host="127.0.0.1") as other:
            await other.sendto(b"after the error", "127.0.0.1", port)
            with anyio.fail_after(5):
                await got.wait()


@pytest.mark.anyio
async def test_a_media_peer_refusing_our_certificate_fails_connect_fast_saying_why() -> None:
    """The server's aiortc is given an offer naming another certificate: it refuses ours
    after its DTLS handshake, silently. Connecting fails within setup_timeout with that
    reason, not after connect_timeout with a generic one."""
    from adk_realtime.sansio.webrtc.dtls import DtlsCertificate

    other = DtlsCertificate.generate().fingerprint_sdp

    async with FakeOpenAI() as server:

        async def refusing_answer(offer: str) -> str:
            offer = re.sub(r"a=fingerprint:sha-256 \S+", f"a=fingerprint:sha-256 {other}", offer)
            return await FakeOpenAI.answer(server, offer)

        server.answer = refusing_answer  # type: ignore[method-assign]
        start = anyio.current_time()
        with pytest.raises(ConnectionClosed, match="refused our DTLS certificate"):
            with anyio.fail_after(15):
                async with model_for(server, setup_timeout=2.0).connect(RealtimeConfig()):
                    pass
        assert anyio.current_time() - start < 6  # connect_timeout is 20 s
