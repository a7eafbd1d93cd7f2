"""RealtimeSession over transport="webrtc" against a fake OpenAI WebRTC server written here:
aiohttp answers the signalling (unified multipart flow, ephemeral client secrets), aiortc
is the media peer (echoes our audio back, answers the oai-events channel with events
built from the official SDK models) and every client event it receives is validated
strictly against the SDK's GA types."""

from __future__ import annotations

import json
import math
from typing import Any

import anyio
import numpy as np
import pytest

aiortc = pytest.importorskip("aiortc")
web = pytest.importorskip("aiohttp.web")
aioice_ice = pytest.importorskip("aioice.ice")

from adk_realtime.openai import OpenAIRealtimeModel  # noqa: E402
from adk_realtime.sansio import events as ev  # noqa: E402
from adk_realtime.sansio.config import RealtimeConfig  # noqa: E402
from adk_realtime.sansio.errors import AuthError, ConfigError, ConnectionClosed  # noqa: E402
from adk_realtime.webrtc_link import WebRTCOptions  # noqa: E402
from tests.oracles_openai import example_server_event, validate_ga_client  # noqa: E402

KEY = "sk-test-0123456789abcdef"
TOKEN = "ek_test_0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the fake server is aiortc + aiohttp, both asyncio


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


class EchoTrack(aiortc.MediaStreamTrack):  # type: ignore[misc]
    """Sends back every frame the caller sends (the 'model' speaks with your voice)."""

    kind = "audio"

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> Any:
        return await self.source.recv()


class FakeOpenAI:
    """POST /v1/realtime/calls and /v1/realtime/client_secrets, answered by aiortc."""

    def __init__(self) -> None:
        self.pcs: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self.client_events: list[dict[str, Any]] = []
        self.invalid: list[str] = []
        self.port = 0
        self._runner: Any = None

    async def __aenter__(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/realtime/calls", self.calls)
        app.router.add_post("/v1/realtime/client_secrets", self.client_secrets)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def hang_up(self) -> None:
        for pc in self.pcs:
            await pc.close()

    @staticmethod
    def refuse(token: str) -> Any:
        # Like the real API, the message echoes the credential (masked there, not here):
        # the client must keep it out of its errors.
        body = {"error": {"message": f"Incorrect API key provided: {token}", "type": "auth"}}
        return web.json_response(body, status=401)

    async def client_secrets(self, request: Any) -> Any:
        auth = request.headers.get("Authorization", "")
        body = await request.json()
        self.requests.append({"path": request.path, "auth": auth, "json": body})
        if auth != f"Bearer {KEY}":
            return self.refuse(auth.removeprefix("Bearer "))
        return web.json_response({"value": TOKEN, "expires_at": 2_000_000_000})

    async def calls(self, request: Any) -> Any:
        auth = request.headers.get("Authorization", "")
        record: dict[str, Any] = {"path": request.path, "auth": auth, "type": request.content_type}
        self.requests.append(record)
        if request.content_type == "multipart/form-data":
            if auth != f"Bearer {KEY}":
                return self.refuse(auth.removeprefix("Bearer "))
            reader = await request.multipart()
            parts = {}
            while (part := await reader.next()) is not None:
                parts[part.name] = (part.headers.get("Content-Type"), await part.text())
            record["parts"] = parts
            offer = parts["sdp"][1]
            record["session"] = json.loads(parts["session"][1])
        elif request.content_type == "application/sdp":
            if auth != f"Bearer {TOKEN}":
                return self.refuse(auth.removeprefix("Bearer "))
            offer = await request.text()
        else:
            return web.json_response({"error": {"message": "bad content type"}}, status=400)
        answer = await self.answer(offer)
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={"Location": f"/v1/realtime/calls/rtc_{len(self.pcs)}"},
        )

    async def answer(self, offer: str) -> str:
        pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.pcs.append(pc)

        @pc.on("track")  # type: ignore[untyped-decorator]
        def on_track(track: Any) -> None:
            pc.addTrack(EchoTrack(track))

        @pc.on("datachannel")  # type: ignore[untyped-decorator]
        def on_datachannel(channel: Any) -> None:
            assert channel.label == "oai-events"
            channel.send(example_server_event("ga", "session.created"))

            @channel.on("message")  # type: ignore[untyped-decorator]
            def on_message(message: str) -> None:
                self.on_client_event(channel, message)

        await pc.setRemoteDescription(aiortc.RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def on_client_event(self, channel: Any, message: str) -> None:
        event = json.loads(message)
        try:
            validate_ga_client(event)
        except AssertionError as exc:
            self.invalid.append(f"{event.get('type')}: {exc}")
        self.client_events.append(event)
        kind = event["type"]
        if kind == "session.update":
            channel.send(example_server_event("ga", "session.updated"))
        elif kind == "response.create":
            channel.send(example_server_event("ga", "response.created", response={"id": "r1"}))
            channel.send(
                example_server_event(
                    "ga",
                    "response.output_item.added",
                    response_id="r1",
                    item={"id": "item_1", "type": "message", "role": "assistant"},
                )
            )
            channel.send(
                example_server_event(
                    "ga",
                    "response.output_audio_transcript.delta",
                    delta="Hello",
                    item_id="item_1",
                    response_id="r1",
                )
            )
        elif kind == "output_audio_buffer.clear":
            channel.send(
                example_server_event("ga", "output_audio_buffer.cleared", response_id="r1")
            )
            channel.send(
                example_server_event(
                    "ga", "response.done", response={"id": "r1", "status": "cancelled"}
                )
            )


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
            async with model_for(server).connect(config) as session:
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
            await server.hang_up()  # its UDP sockets close: ICE can never succeed
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
    assert WebRTCOptions(local_addresses=["127.0.0.1"]).local_addresses == ("127.0.0.1",)
    beta = OpenAIRealtimeModel(
        KEY, "gpt-4o-realtime-preview-2024-12-17", transport="webrtc", base_url="http://h/v1"
    )
    with pytest.raises(ConfigError, match="GA"):
        from adk_realtime.sansio.openai import OpenAIProtocol
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
