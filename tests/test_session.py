"""The low-level RealtimeSession against a scripted provider built with ``websockets``.

Server events come from the official SDKs' model classes; every client message
the server receives is validated strictly by the SDK types (no unknown keys).
Each test runs under asyncio and trio.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import anyio
import numpy as np
import pytest

from adk_realtime import (
    AudioDelta,
    AuthError,
    ConnectionClosed,
    FunctionCallDone,
    GeminiLiveBackend,
    GeminiRealtimeModel,
    GoAway,
    OpenAIRealtimeModel,
    RealtimeConfig,
    ResponseDone,
    SessionCreated,
    SessionOptions,
    SessionResumed,
    TextDelta,
    ToolResponse,
    TranscriptDelta,
)
from tests import oracles_gemini, oracles_openai
from tests.fake_server import FakeServer, ScriptConn
from tests.oracles_openai import example_server_event

pytestmark = pytest.mark.anyio

API_KEY = "sk-test-SECRET-0123456789"
GEMINI_KEY = "AIza-test-SECRET-9876543210"
PCM_20MS_24K = (np.sin(np.arange(480) / 3) * 8000).astype("<i2").tobytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def openai_turn(conn: ScriptConn, dialect: str = "ga") -> None:
    """session.created, then answer one response.create with audio, text and a tool call."""
    ev = lambda t, **kw: example_server_event(dialect, t, **kw)  # noqa: E731
    audio_delta = "response.output_audio.delta" if dialect == "ga" else "response.audio.delta"
    transcript_delta = (
        "response.output_audio_transcript.delta"
        if dialect == "ga"
        else "response.audio_transcript.delta"
    )
    text_delta = "response.output_text.delta" if dialect == "ga" else "response.text.delta"
    await conn.send(ev("session.created"))
    while True:
        msg = await conn.recv()
        if msg["type"] == "session.update":
            await conn.send(ev("session.updated"))
        elif msg["type"] == "response.create":
            break
    await conn.send(ev("response.created", response={"id": "resp_1"}))
    await conn.send(
        ev(
            "response.output_item.added",
            response_id="resp_1",
            item={
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": "",
            },
        )
    )
    args = {
        "response_id": "resp_1",
        "item_id": "fc_1",
        "call_id": "call_1",
        "arguments": '{"city":"Paris"}',
    }
    if dialect == "ga":
        args["name"] = "get_weather"
    await conn.send(ev("response.function_call_arguments.done", **args))
    await conn.send(
        ev(audio_delta, response_id="resp_1", item_id="item_1", delta=b64(PCM_20MS_24K))
    )
    await conn.send(ev(transcript_delta, response_id="resp_1", item_id="item_1", delta="It is"))
    await conn.send(ev(text_delta, response_id="resp_1", item_id="item_1", delta="sunny"))
    await conn.send(ev("response.done", response={"id": "resp_1", "status": "completed"}))
    # The client answers the tool call and asks for the follow-up.
    output = await conn.recv_until(lambda m: m["type"] == "conversation.item.create")
    assert output["item"]["type"] == "function_call_output"
    await conn.recv_until(lambda m: m["type"] == "response.create")
    await conn.close(1000, "done")


@pytest.mark.parametrize(
    ("model_name", "dialect"),
    [("gpt-realtime", "ga"), ("gpt-4o-realtime-preview-2024-12-17", "beta")],
)
async def test_low_level_session_snippet_runs_as_written(
    anyio_backend: str, model_name: str, dialect: str
) -> None:
    with FakeServer(lambda c: openai_turn(c, dialect)) as server:
        model = OpenAIRealtimeModel(API_KEY, model_name, base_url=f"{server.url}/v1")
        config = (
            RealtimeConfig()
            .with_instruction("You are a helpful voice assistant.")
            .with_voice("alloy")
        )
        seen: list[Any] = []
        with anyio.fail_after(10):
            async with model.connect(config) as session:
                # The reference's "Using Low-Level Session API", in Python:
                await session.send_text("Hello!")
                await session.create_response()
                try:
                    async for event in session:
                        seen.append(event)
                        match event:
                            case AudioDelta(delta=delta):
                                assert delta == PCM_20MS_24K  # 24 kHz PCM16 bytes
                            case TextDelta(delta=delta):
                                print(delta, end="")
                            case FunctionCallDone(name=name, arguments=arguments, call_id=call_id):
                                assert name == "get_weather" and json.loads(arguments) == {
                                    "city": "Paris"
                                }
                                await session.send_tool_response(
                                    ToolResponse(call_id=call_id, output='{"temp_c": 18}')
                                )
                                await session.create_response()
                except ConnectionClosed as exc:
                    assert exc.code == 1000
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "SessionCreated"
    for needed in (
        "AudioDelta",
        "TranscriptDelta",
        "TextDelta",
        "FunctionCallDone",
        "ResponseDone",
    ):
        assert needed in kinds
    conn = server.connections[0]
    assert conn.path == f"/v1/realtime?model={model_name}"
    assert conn.headers["Authorization"] == f"Bearer {API_KEY}"
    assert (conn.headers.get("OpenAI-Beta") == "realtime=v1") == (dialect == "beta")
    for raw in conn.received:
        oracles_openai.validate_client(dialect, raw)  # strict: no unknown keys
    types_sent = [json.loads(r)["type"] for r in conn.received]
    assert types_sent[0] == "session.update"
    assert types_sent.count("response.create") == 2


async def test_send_audio_is_resampled_to_24k_for_openai(anyio_backend: str) -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(example_server_event("ga", "session.created"))
        await conn.recv_until(lambda m: m["type"] == "input_audio_buffer.commit")
        await conn.close()

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        async with model.connect(RealtimeConfig()) as session:
            one_second_16k = np.zeros(16000, dtype=np.int16)
            for chunk in np.split(one_second_16k, 50):
                await session.send_audio(chunk, sample_rate=16000)
            await session.commit_audio()
            with pytest.raises(ConnectionClosed):
                async for _ in session:
                    pass
    appended = [json.loads(r) for r in server.connections[0].received]
    audio = b"".join(
        base64.b64decode(m["audio"]) for m in appended if m["type"] == "input_audio_buffer.append"
    )
    assert abs(len(audio) // 2 - 24000) <= 48  # one second at 24 kHz


async def test_handshake_401_raises_auth_error_without_the_key(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeServer(openai_turn, reject=(401, f"Incorrect API key provided: {API_KEY}")) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        with pytest.raises(AuthError) as info:
            async with model.connect():
                pass
    assert info.value.status == 401
    assert "Incorrect API key" in str(info.value)
    assert API_KEY not in str(info.value) and API_KEY not in repr(model)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("adk_realtime"))
    assert API_KEY not in ours


async def test_server_close_mid_response_surfaces_within_one_second(anyio_backend: str) -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(example_server_event("ga", "session.created"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.send(example_server_event("ga", "response.created"))
        await conn.send(
            example_server_event("ga", "response.output_audio.delta", delta=b64(PCM_20MS_24K))
        )
        await conn.close(1011, "internal error")

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        async with model.connect(options=SessionOptions(rollover=False)) as session:
            await session.create_response()
            with anyio.fail_after(1), pytest.raises(ConnectionClosed) as info:
                async for _ in session:
                    pass
    assert info.value.code == 1011 and info.value.reason == "internal error"


async def test_dropped_socket_surfaces_within_one_second(anyio_backend: str) -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(example_server_event("ga", "session.created"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        conn.abort()

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        async with model.connect(options=SessionOptions(rollover=False)) as session:
            await session.create_response()
            with anyio.fail_after(1), pytest.raises(ConnectionClosed):
                async for _ in session:
                    pass


async def test_a_dropped_openai_socket_rolls_over_and_asks_again(anyio_backend: str) -> None:
    """By default the drop is not the end: a new connection gets the session config, then
    the response the app had asked for (it never started) is asked for again."""
    seen: list[list[str]] = []

    async def script(conn: ScriptConn) -> None:
        await conn.send(example_server_event("ga", "session.created"))
        got: list[str] = []
        seen.append(got)
        while True:
            message = await conn.recv()
            got.append(message["type"])
            if message["type"] == "response.create":
                break
        if conn.index == 0:
            conn.abort()
            return
        await conn.send(example_server_event("ga", "response.created"))
        await conn.send(example_server_event("ga", "response.done"))
        await conn.close(1000, "done")

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        events: list[Any] = []
        async with model.connect() as session:
            await session.create_response()
            with anyio.fail_after(5):
                async for event in session:
                    events.append(event)
                    if isinstance(event, ResponseDone):
                        break
            assert session.rollovers == 1
    assert [type(e) for e in events if isinstance(e, SessionResumed)] == [SessionResumed]
    assert seen[1] == ["session.update", "response.create"]


# ------------------------------------------------------------------ Gemini


def gemini_audio(pcm: bytes) -> dict[str, Any]:
    return {
        "serverContent": {
            "modelTurn": {
                "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": b64(pcm)}}]
            }
        }
    }


async def gemini_turn(conn: ScriptConn) -> None:
    setup = await conn.recv()
    assert "setup" in setup
    await conn.send({"setupComplete": {}})
    await conn.recv_until(lambda m: "clientContent" in m or "client_content" in m)
    await conn.send(
        {
            "toolCall": {
                "functionCalls": [{"id": "fc-1", "name": "get_weather", "args": {"city": "Paris"}}]
            }
        }
    )
    await conn.recv_until(lambda m: "toolResponse" in m)
    await conn.send(gemini_audio(PCM_20MS_24K))
    await conn.send({"serverContent": {"outputTranscription": {"text": "Sunny"}}})
    await conn.send(
        {"serverContent": {"turnComplete": True}, "usageMetadata": {"totalTokenCount": 9}}
    )
    await conn.close(1000, "done")


async def test_gemini_live_session_with_tool_call(anyio_backend: str) -> None:
    with FakeServer(gemini_turn) as server:
        model = GeminiRealtimeModel(
            GeminiLiveBackend.Public(GEMINI_KEY, base_url=server.url),
            "models/gemini-live-2.5-flash-native-audio",
        )
        seen: list[Any] = []
        with anyio.fail_after(10):
            async with model.connect(
                RealtimeConfig(instruction="You are a helpful assistant.", voice="Puck")
            ) as session:
                await session.send_text("Weather in Paris?")
                try:
                    async for event in session:
                        seen.append(event)
                        if isinstance(event, FunctionCallDone):
                            await session.send_tool_response(
                                ToolResponse(event.call_id, '{"temp_c": 18}')
                            )
                except ConnectionClosed as exc:
                    assert exc.code == 1000
    assert isinstance(seen[0], SessionCreated)
    assert any(isinstance(e, AudioDelta) and e.delta == PCM_20MS_24K for e in seen)
    assert any(isinstance(e, TranscriptDelta) for e in seen)
    assert any(isinstance(e, ResponseDone) for e in seen)
    conn = server.connections[0]
    assert (
        conn.path == "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    assert conn.headers["x-goog-api-key"] == GEMINI_KEY and GEMINI_KEY not in conn.path
    for raw in conn.received:
        oracles_gemini.validate_client(raw)
    tool_response = next(json.loads(r) for r in conn.received if "toolResponse" in json.loads(r))
    (fr,) = tool_response["toolResponse"]["functionResponses"]
    assert fr["id"] == "fc-1" and fr["name"] == "get_weather"


async def test_gemini_ephemeral_token_uses_constrained_endpoint(anyio_backend: str) -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.recv()
        await conn.send({"setupComplete": {}})
        await conn.close()

    with FakeServer(script) as server:
        backend = GeminiLiveBackend.Public(
            "auth_tokens/abc123", api_version="v1alpha", base_url=server.url
        )
        async with GeminiRealtimeModel(backend).connect():
            pass
    conn = server.connections[0]
    assert conn.path.endswith("v1alpha.GenerativeService.BidiGenerateContentConstrained")
    assert conn.headers["Authorization"] == "Token auth_tokens/abc123"


async def test_gemini_go_away_resumes_with_the_handle_and_loses_nothing(anyio_backend: str) -> None:
    resumed_setup: dict[str, Any] = {}

    async def script(conn: ScriptConn) -> None:
        setup = await conn.recv()
        await conn.send({"setupComplete": {}})
        if conn.index == 0:
            assert "handle" not in setup["setup"].get("sessionResumption", {})
            await conn.send({"sessionResumptionUpdate": {"newHandle": "h-1", "resumable": True}})
            await conn.recv_until(lambda m: "realtimeInput" in m)
            await conn.send({"goAway": {"timeLeft": "5s"}})
            # Keep reading until the client leaves; whatever it sends here must be re-sent.
            while True:
                await conn.recv()
        else:
            resumed_setup.update(setup)
            msgs = [await conn.recv() for _ in range(2)]
            assert any("toolResponse" in m for m in msgs)
            assert any("realtimeInput" in m for m in msgs)
            await conn.send({"serverContent": {"turnComplete": True}})
            await conn.close(1000, "bye")

    with FakeServer(script) as server:
        model = GeminiRealtimeModel(GeminiLiveBackend.Public(GEMINI_KEY, base_url=server.url))
        seen: list[Any] = []
        with anyio.fail_after(10):
            async with model.connect(RealtimeConfig()) as session:
                await session.send_audio(np.zeros(320, np.int16), sample_rate=16000)
                try:
                    async for event in session:
                        seen.append(event)
                        if isinstance(event, GoAway):
                            await session.send_tool_response(
                                ToolResponse("fc-9", "{}", name="lookup")
                            )
                            await session.send_audio(np.zeros(320, np.int16), sample_rate=16000)
                except ConnectionClosed as exc:
                    assert exc.code == 1000
    assert resumed_setup["setup"]["sessionResumption"]["handle"] == "h-1"
    assert any(isinstance(e, SessionResumed) and e.handle == "h-1" for e in seen)
    assert len(server.connections) == 2


async def test_vertex_token_is_fetched_again_on_every_connect(anyio_backend: str) -> None:
    calls: list[int] = []

    async def token() -> str:
        calls.append(1)
        return f"ya29.token-{len(calls)}"

    async def script(conn: ScriptConn) -> None:
        setup = await conn.recv()
        assert (
            setup["setup"]["model"]
            == "projects/p1/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
        )
        await conn.send({"setupComplete": {}})
        await conn.close()

    with FakeServer(script) as server:
        backend = GeminiLiveBackend.Vertex("p1", "us-central1", token, base_url=server.url)
        model = GeminiRealtimeModel(backend, "gemini-live-2.5-flash")
        for _ in range(2):
            async with model.connect():
                pass
    assert [c.headers["Authorization"] for c in server.connections] == [
        "Bearer ya29.token-1",
        "Bearer ya29.token-2",
    ]
    assert "ya29" not in repr(model)


async def test_send_audio_is_g711_encoded_when_the_session_asks_for_it(anyio_backend: str) -> None:
    import audioop

    from adk_realtime import AudioFormat

    async def script(conn: ScriptConn) -> None:
        await conn.send(example_server_event("ga", "session.created"))
        await conn.recv_until(lambda m: m["type"] == "input_audio_buffer.commit")
        await conn.close()

    tone_24k = (np.sin(np.arange(24000) * 2 * np.pi * 440 / 24000) * 8000).astype("<i2")
    with FakeServer(script) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        config = RealtimeConfig(input_audio_format=AudioFormat.g711_ulaw())
        async with model.connect(config) as session:
            await session.send_audio(tone_24k, sample_rate=24000)
            await session.commit_audio()
            with pytest.raises(ConnectionClosed):
                async for _ in session:
                    pass
    msgs = [json.loads(r) for r in server.connections[0].received]
    update = msgs[0]["session"]["audio"]["input"]["format"]
    assert update == {"type": "audio/pcmu"}
    ulaw = b"".join(
        base64.b64decode(m["audio"]) for m in msgs if m["type"] == "input_audio_buffer.append"
    )
    assert abs(len(ulaw) - 8000) <= 16  # one second at 8 kHz, one byte a sample
    decoded = np.frombuffer(audioop.ulaw2lin(ulaw, 2), "<i2").astype(float)
    peak = np.fft.rfftfreq(decoded.size, 1 / 8000)[np.argmax(np.abs(np.fft.rfft(decoded)))]
    assert abs(peak - 440) < 5


async def test_gemini_unexpected_close_while_resumable_reconnects_with_the_handle(
    anyio_backend: str,
) -> None:
    setups: list[dict[str, Any]] = []

    async def script(conn: ScriptConn) -> None:
        setups.append(await conn.recv())
        await conn.send({"setupComplete": {}})
        if conn.index == 0:
            await conn.send({"sessionResumptionUpdate": {"newHandle": "h-7", "resumable": True}})
            await conn.recv_until(lambda m: "realtimeInput" in m)
            conn.abort()  # the network drops: no close frame, no goAway
        else:
            await conn.recv_until(lambda m: "realtimeInput" in m)
            await conn.send({"serverContent": {"turnComplete": True}})
            await conn.close(1000, "bye")

    with FakeServer(script) as server:
        model = GeminiRealtimeModel(GeminiLiveBackend.Public(GEMINI_KEY, base_url=server.url))
        seen: list[Any] = []
        with anyio.fail_after(10):
            async with model.connect(RealtimeConfig()) as session:
                await session.send_audio(np.zeros(320, np.int16), sample_rate=16000)
                try:
                    async for event in session:
                        seen.append(event)
                        if isinstance(event, SessionResumed):
                            await session.send_audio(np.zeros(320, np.int16), sample_rate=16000)
                except ConnectionClosed as exc:
                    assert exc.code == 1000
    assert len(setups) == 2 and setups[1]["setup"]["sessionResumption"]["handle"] == "h-7"
    assert any(isinstance(e, SessionResumed) for e in seen)
    assert any(isinstance(e, ResponseDone) for e in seen)  # the resumed connection answered


async def test_http_base_urls_mean_websocket_for_both_providers(anyio_backend: str) -> None:
    # The providers' HTTP SDKs spell base URLs http(s)://; users copy them over.
    async def script(conn: ScriptConn) -> None:
        if "setup" in await conn.recv():
            await conn.send({"setupComplete": {}})
        else:
            await conn.send(example_server_event("ga", "session.created"))
        await conn.close(1000)

    with FakeServer(script) as server:
        http_url = server.url.replace("ws://", "http://")
        assert http_url.startswith("http://")
        models = [
            OpenAIRealtimeModel(API_KEY, base_url=f"{http_url}/v1"),
            GeminiRealtimeModel(GeminiLiveBackend.Public(GEMINI_KEY, base_url=http_url)),
        ]
        for model in models:
            with anyio.fail_after(10):
                async with model.connect() as session:
                    assert isinstance(await session.next_event(), SessionCreated)
    assert len(server.connections) == 2


async def test_event_queue_is_bounded_waits_for_room_and_always_takes_the_end_marker(
    anyio_backend: str,
) -> None:
    from adk_realtime.session_queue import EventQueue as _EventQueue, QueueEnd as _Closed

    queue = _EventQueue(2)
    assert queue.put_nowait(SessionCreated()) and queue.put_nowait(SessionCreated())
    assert not queue.put_nowait(SessionCreated())  # full: refused, nothing queued
    stored: list[str] = []

    async def producer() -> None:
        await queue.put(ResponseDone("r1", "completed"))  # waits until the app reads
        stored.append("third")

    async with anyio.create_task_group() as tg:
        tg.start_soon(producer)
        await anyio.wait_all_tasks_blocked()
        assert stored == []
        assert isinstance(await queue.get(), SessionCreated)
    assert stored == ["third"]
    queue.put_last(_Closed(None))  # past the bound: the end is never dropped
    got = [await queue.get() for _ in range(3)]
    assert isinstance(got[1], ResponseDone) and isinstance(got[2], _Closed)
    with pytest.raises(anyio.EndOfStream):
        await queue.get()
    with pytest.raises(anyio.ClosedResourceError):
        queue.put_nowait(SessionCreated())


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "us-central1-aiplatform.googleapis.com"),
        ("global", "aiplatform.googleapis.com"),
        ("eu", "aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_vertex_endpoint_per_location(location: str, host: str) -> None:
    backend = GeminiLiveBackend.Vertex("p1", location, lambda: "token")
    assert backend.url() == (
        f"wss://{host}/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )


async def test_webrtc_events_dropped_before_the_channel_opens_are_counted_and_logged(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Audio read while the data channel opens is kept up to a bound; every one dropped
    beyond it is counted on the link and in the session's link stats, and logged."""
    from types import SimpleNamespace

    from adk_realtime.sansio.openai.protocol import OpenAIProtocol
    from adk_realtime.sansio.webrtc import peer as p
    from adk_realtime.session import LinkStats, RealtimeSession
    from adk_realtime.webrtc_link import _MAX_EARLY_EVENTS, WebRTCLink

    extra = 44
    frames = [p.AudioFrame(bytes([n % 256]) * 960, 24000) for n in range(_MAX_EARLY_EVENTS + extra)]

    class FakePeer:
        pc = SimpleNamespace(channel_label="oai-events")
        closed = False

        def __init__(self) -> None:
            channel: Any = SimpleNamespace(label="oai-events")  # what ChannelOpened reads
            self.events: list[Any] = [*frames, p.ChannelOpened(channel)]

        async def next_event(self) -> Any:
            return self.events.pop(0)

    stats = LinkStats()
    protocol = OpenAIProtocol("gpt-realtime", transport="webrtc")
    no_factory: Any = None  # the session is never run here
    session = RealtimeSession(
        protocol, RealtimeConfig(), no_factory, provider="openai", media=True, link_stats=stats
    )
    link = WebRTCLink(FakePeer(), protocol, "rtc_1", stats)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="adk_realtime.webrtc"):
        await link._wait_open(5)
    assert link.dropped_early_events == extra == stats.dropped_events
    assert session.dropped_link_events == extra
    assert any(f"dropped {extra} events" in r.getMessage() for r in caplog.records)
    first = await link.receive()  # the oldest kept frame: the dropped ones were the oldest
    assert isinstance(first, AudioDelta) and first.delta == frames[extra].pcm


def _unstarted_session(protocol: Any, *, media: bool = False) -> Any:
    """A session whose supervisor never runs: commands fail or wait before any I/O."""
    from adk_realtime.session import RealtimeSession

    no_factory: Any = None
    return RealtimeSession(protocol, RealtimeConfig(), no_factory, provider="test", media=media)


@pytest.mark.parametrize("media", [False, True])
@pytest.mark.parametrize("rate", [0, -16000, 44100, True])
async def test_send_audio_at_sample_rate_zero_is_refused_like_a_negative_rate(
    anyio_backend: str, media: bool, rate: int
) -> None:
    """0 used to mean "the default" (``sample_rate or default``); it is as wrong as -16000."""
    from adk_realtime import ConfigError
    from adk_realtime.sansio.openai.protocol import OpenAIProtocol

    session = _unstarted_session(OpenAIProtocol(), media=media)
    with anyio.fail_after(5), pytest.raises(ConfigError) as info:
        await session.send_audio(PCM_20MS_24K, sample_rate=rate)
    assert info.value.field == "sample_rate" and repr(rate) in str(info.value)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_send_text_with_a_lone_surrogate_is_refused(
    anyio_backend: str, provider: str
) -> None:
    """A lone surrogate is a str but not Unicode text: it cannot be sent as UTF-8."""
    from adk_realtime.sansio.errors import LocalProtocolError
    from adk_realtime.sansio.gemini.protocol import GeminiProtocol
    from adk_realtime.sansio.openai.protocol import OpenAIProtocol

    protocol = OpenAIProtocol() if provider == "openai" else GeminiProtocol("gemini-live")
    session = _unstarted_session(protocol)
    with pytest.raises(
        LocalProtocolError, match=r"ItemCreate.text .*surrogate '\\ud800' at index 3"
    ):
        await session.send_text("abc\ud800")
    assert protocol.data_to_send() == []  # nothing was queued
    await session.send_text("fine \U0001f600")  # a real astral character is text
    assert len(session._held) == 1  # (held: the session has no link yet)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_a_large_send_audio_reaches_a_peer_with_a_message_limit_intact(
    anyio_backend: str, provider: str
) -> None:
    """3 MB of audio in one call used to be one 4 MB message: the peer (1 MiB per message
    at most, as a provider has its limit) closed with 1009 and the audio was lost."""
    rate = 24000 if provider == "openai" else 16000
    audio = (np.sin(np.arange(1_500_000) / 5) * 8000).astype("<i2").tobytes()
    received = bytearray()

    async def script(conn: ScriptConn) -> None:
        if provider == "gemini":
            await conn.recv()
            await conn.send({"setupComplete": {}})
        while len(received) < len(audio):
            msg = await conn.recv()
            if msg.get("type") == "input_audio_buffer.append":
                received.extend(base64.b64decode(msg["audio"]))
            elif "realtimeInput" in msg and "audio" in msg["realtimeInput"]:
                received.extend(base64.b64decode(msg["realtimeInput"]["audio"]["data"]))
        await conn.close(1000, "all heard")

    with FakeServer(script, max_size=2**20) as server:
        if provider == "openai":
            model: Any = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        else:
            model = GeminiRealtimeModel(GeminiLiveBackend.Public(GEMINI_KEY, base_url=server.url))
        with anyio.fail_after(20):
            async with model.connect(RealtimeConfig()) as session:
                await session.send_audio(audio, sample_rate=rate)
                with pytest.raises(ConnectionClosed) as info:
                    async for _event in session:
                        pass
    assert (info.value.code, info.value.reason) == (1000, "all heard")
    assert bytes(received) == audio


async def test_gemini_close_1009_is_not_hidden_behind_a_resumption(anyio_backend: str) -> None:
    """A close that refuses what we sent ends the session with that error: resuming would
    hide it (and whatever was refused would be lost without a word)."""

    async def script(conn: ScriptConn) -> None:
        await conn.recv()
        await conn.send({"setupComplete": {}})
        if conn.index == 0:
            await conn.send({"sessionResumptionUpdate": {"newHandle": "h-1", "resumable": True}})
            await conn.recv_until(lambda m: "realtimeInput" in m)
            await conn.close(1009, "message too big")
        else:
            await conn.close(1000, "resumed")

    with FakeServer(script) as server:
        model = GeminiRealtimeModel(GeminiLiveBackend.Public(GEMINI_KEY, base_url=server.url))
        with anyio.fail_after(10):
            async with model.connect(RealtimeConfig()) as session:
                await session.send_audio(np.zeros(320, np.int16), sample_rate=16000)
                with pytest.raises(ConnectionClosed) as info:
                    async for _event in session:
                        pass
    assert (info.value.code, info.value.reason) == (1009, "message too big")
    assert len(server.connections) == 1


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_send_raw_over_the_providers_limit_is_refused_before_sending(
    anyio_backend: str, provider: str
) -> None:
    from adk_realtime.sansio.errors import MessageTooLargeToSend
    from adk_realtime.sansio.gemini.protocol import GeminiProtocol
    from adk_realtime.sansio.openai.protocol import OpenAIProtocol

    protocol = OpenAIProtocol() if provider == "openai" else GeminiProtocol("gemini-live")
    session = _unstarted_session(protocol)
    limit = protocol.capabilities.max_message_size
    with pytest.raises(MessageTooLargeToSend, match="send_raw"):
        await session.send_raw('{"x":"' + "\u00e9" * (limit // 2) + '"}')  # 2 bytes each
    assert len(session._held) == 0
    await session.send_raw('{"x":"' + "x" * (limit // 2) + '"}')
    assert len(session._held) == 1  # (held: the session has no link yet)
