"""The simulator served over real WebSocket on loopback, talked to by the official SDKs.

The SDKs are asyncio-only, so their tests pin ``anyio_backend`` to asyncio; the load test runs
our own WebSocket client under both asyncio and trio.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
from typing import Any

import anyio
import pytest
import trustme
from google import genai
from google.genai import types as genai_types

from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.drivers.websocket import HandshakeRejected, open_websocket
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.sim.hub import (
    SimSession,
    SimulatorBrain,
    SimulatorHub,
    SpeechRecognizer,
    synthesize_speech,
)
from tests.loop_lag import watch_loop_lag
from tests.test_simulator import GA_SERVER, QUESTION, TOOL_GA, assert_no_extra

GEMINI_METHOD = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


class TappedHub(SimulatorHub):
    """A hub that also keeps a copy of every message its sessions send (for the oracles)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[str] = []

    def open_session(self, *args: Any, **kwargs: Any) -> SimSession:
        session = super().open_session(*args, **kwargs)
        take = session.data_to_send

        def tapped() -> list[str]:
            out = take()
            self.sent.extend(out)
            return out

        session.data_to_send = tapped  # type: ignore[method-assign]
        return session


def speech_with_pauses(text: str, rate: int) -> bytes:
    return bytes(rate // 5 * 2) + synthesize_speech(text, rate) + bytes(rate * 2 * 7 // 10)


def decode(pcm: bytes, rate: int) -> str:
    ears = SpeechRecognizer(rate)
    ears.feed(pcm)
    return ears.text


@pytest.fixture
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_official_openai_client_holds_a_voice_turn_with_a_tool_call(
    anyio_backend: str,
) -> None:
    from openai import AsyncOpenAI

    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        client = AsyncOpenAI(api_key="sk-test", websocket_base_url=server.openai_base_url)
        received: list[dict[str, Any]] = []
        with anyio.fail_after(30):
            async with client.realtime.connect(model="gpt-realtime") as conn:

                async def until(kind: str) -> dict[str, Any]:
                    while True:
                        raw = await conn.recv_bytes()
                        event = json.loads(raw)
                        assert_no_extra(GA_SERVER.validate_python(event))
                        assert conn.parse_event(raw).type == event["type"]
                        received.append(event)
                        if event["type"] == kind:
                            return event

                await until("session.created")
                await conn.session.update(session={"type": "realtime", "tools": [TOOL_GA]})  # type: ignore[typeddict-item]
                await until("session.updated")
                pcm = speech_with_pauses(QUESTION, 24000)
                for i in range(0, len(pcm), 960):
                    await conn.input_audio_buffer.append(
                        audio=base64.b64encode(pcm[i : i + 960]).decode()
                    )
                call = await until("response.function_call_arguments.done")
                assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {
                    "city": "Paris"
                }
                await until("response.done")
                output = {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": "sunny, 22 C",
                }
                await conn.conversation.item.create(item=output)  # type: ignore[arg-type]
                await conn.response.create()
                done = await until("response.done")
    assert done["response"]["status"] == "completed"
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in received if e["type"] == "response.output_audio.delta"
    )
    assert decode(audio, 24000) == "Here is the weather: sunny, 22 C."
    assert "input_audio_buffer.speech_started" in [e["type"] for e in received]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_official_genai_client_holds_a_voice_turn_with_a_tool_call_over_tls(
    anyio_backend: str, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls
    hub = TappedHub(pace=0)
    weather = genai_types.FunctionDeclaration(
        name="get_weather",
        description="Current weather for a city",
        parameters=genai_types.Schema(
            type=genai_types.Type.OBJECT,
            properties={"city": genai_types.Schema(type=genai_types.Type.STRING)},
            required=["city"],
        ),
    )
    config = genai_types.LiveConnectConfig(
        response_modalities=[genai_types.Modality.AUDIO],
        tools=[genai_types.Tool(function_declarations=[weather])],
        input_audio_transcription=genai_types.AudioTranscriptionConfig(),
        output_audio_transcription=genai_types.AudioTranscriptionConfig(),
    )
    async with run_simulator(ssl_context=server_ctx, hub=hub) as server:
        options = genai_types.HttpOptions(
            base_url=server.gemini_base_url,
            api_version="v1beta",
            async_client_args={"ssl": client_ctx},
        )
        client = genai.Client(api_key="test-key", http_options=options)
        audio = b""
        transcript = ""
        with anyio.fail_after(30):
            async with client.aio.live.connect(
                model="gemini-live-2.5-flash", config=config
            ) as session:
                pcm = speech_with_pauses(QUESTION, 16000)
                for i in range(0, len(pcm), 640):
                    blob = genai_types.Blob(data=pcm[i : i + 640], mime_type="audio/pcm;rate=16000")
                    await session.send_realtime_input(audio=blob)
                call = None
                async for message in session.receive():
                    if message.tool_call and message.tool_call.function_calls:
                        call = message.tool_call.function_calls[0]
                        break
                assert (
                    call is not None
                    and call.name == "get_weather"
                    and call.args == {"city": "Paris"}
                )
                reply = genai_types.FunctionResponse(
                    id=call.id, name=call.name, response={"output": "sunny, 22 C"}
                )
                await session.send_tool_response(function_responses=[reply])
                async for message in session.receive():
                    audio += message.data or b""
                    content = message.server_content
                    if (
                        content
                        and content.output_transcription
                        and content.output_transcription.text
                    ):
                        transcript += content.output_transcription.text
                    if content and content.turn_complete:
                        break
    assert decode(audio, 24000) == transcript == "Here is the weather: sunny, 22 C."
    assert hub.sent and all(genai_types.LiveServerMessage.model_validate_json(m) for m in hub.sent)
    assert json.loads(hub.sent[0]) == {"setupComplete": {}}


async def _one_raw_session(url: str, n: int, finished: list[int]) -> None:
    if n % 2:
        async with open_websocket(f"{url}/v1/realtime?model=gpt-realtime") as ws:
            assert json.loads(await ws.receive())["type"] == "session.created"
            item = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            }
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create"}))
            transcript = ""
            while (event := json.loads(await ws.receive()))["type"] != "response.done":
                if event["type"] == "response.output_audio_transcript.delta":
                    transcript += event["delta"]
            assert event["response"]["status"] == "completed" and transcript == "ok"
    else:
        async with open_websocket(url + GEMINI_METHOD) as ws:
            await ws.send(json.dumps({"setup": {"model": "models/gemini-live-2.5-flash"}}))
            assert json.loads(await ws.receive()) == {"setupComplete": {}}
            turn = {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": True}
            await ws.send(json.dumps({"clientContent": turn}))
            while not json.loads(await ws.receive()).get("serverContent", {}).get("turnComplete"):
                pass
    finished.append(n)


@pytest.mark.anyio
async def test_two_hundred_concurrent_sessions_both_protocols(anyio_backend: str) -> None:
    hub = SimulatorHub(pace=0, brain=SimulatorBrain({"hi": "ok"}))
    finished: list[int] = []
    async with run_simulator(hub=hub) as server:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for n in range(200):
                    tg.start_soon(_one_raw_session, server.url, n, finished)
        assert sorted(finished) == list(range(200))
        assert server.sessions_served == 200
        with anyio.fail_after(5):
            await server.wait_idle()


@pytest.mark.anyio
async def test_simulators_sharing_one_listening_socket_serve_every_session(
    anyio_backend: str,
) -> None:
    """Load generators run several simulator processes on one port (``sock=``); here two
    servers in one process, each with its own hub, accept from the same socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    hubs = [SimulatorHub(pace=0, brain=SimulatorBrain({"hi": "ok"})) for _ in range(2)]
    finished: list[int] = []
    try:
        twin = socket.socket(fileno=os.dup(listener.fileno()))
        async with (
            run_simulator(hub=hubs[0], sock=listener) as first,
            run_simulator(hub=hubs[1], sock=twin) as second,
        ):
            assert first.port == second.port == port
            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for n in range(40):
                        tg.start_soon(_one_raw_session, first.url, n, finished)
            assert sorted(finished) == list(range(40))
            assert first.sessions_served + second.sessions_served == 40
    finally:
        listener.close()


@pytest.mark.anyio
async def test_paced_audio_arrives_in_real_time(anyio_backend: str) -> None:
    hub = SimulatorHub(pace=1.0, chunk_ms=100, brain=SimulatorBrain({"hi": "ok okay"}))
    async with run_simulator(hub=hub) as server:
        async with open_websocket(f"{server.url}/v1/realtime?model=gpt-realtime") as ws:
            await ws.receive()
            item = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            }
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create"}))
            times = []
            with anyio.fail_after(10):
                async with watch_loop_lag() as lag:
                    while (event := json.loads(await ws.receive()))["type"] != "response.done":
                        if event["type"] == "response.output_audio.delta":
                            times.append(anyio.current_time())
    assert len(times) >= 5
    span, real_time = times[-1] - times[0], 0.1 * (len(times) - 1)
    # Never early; late only by scheduling: a little, plus what the loop was late by.
    # (A first delta read late shortens the span by as much.)
    assert real_time - 0.01 - lag.worst <= span < real_time + 0.5 + lag.total


@pytest.mark.anyio
async def test_gemini_go_away_then_close_1000_over_the_socket(anyio_backend: str) -> None:
    hub = SimulatorHub(pace=0, go_away_after=0.2, go_away_time_left=0.1)
    async with run_simulator(hub=hub) as server:
        async with open_websocket(server.url + GEMINI_METHOD) as ws:
            await ws.send(json.dumps({"setup": {"model": "models/x", "sessionResumption": {}}}))
            assert json.loads(await ws.receive()) == {"setupComplete": {}}
            assert json.loads(await ws.receive())["sessionResumptionUpdate"]["resumable"]
            with anyio.fail_after(5):
                assert json.loads(await ws.receive()) == {"goAway": {"timeLeft": "0.100s"}}
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.receive()
    assert closed.value.code == 1000


@pytest.mark.anyio
async def test_unknown_paths_and_bad_keys_are_refused_at_the_handshake(anyio_backend: str) -> None:
    async with run_simulator(hub=SimulatorHub(api_key="sk-right")) as server:
        with pytest.raises(HandshakeRejected) as refused:
            async with open_websocket(f"{server.url}/v2/nothing"):
                pass
        assert refused.value.status == 404
        with pytest.raises(HandshakeRejected) as refused:
            async with open_websocket(
                f"{server.url}/v1/realtime", headers=[("Authorization", "Bearer sk-wrong")]
            ):
                pass
        assert refused.value.status == 401
        async with open_websocket(
            f"{server.url}/v1/realtime", headers=[("Authorization", "Bearer sk-right")]
        ) as ws:
            assert json.loads(await ws.receive())["type"] == "session.created"


@pytest.mark.anyio
async def test_garbage_from_a_gemini_client_closes_with_1007(anyio_backend: str) -> None:
    async with run_simulator(hub=SimulatorHub()) as server:
        async with open_websocket(server.url + GEMINI_METHOD) as ws:
            await ws.send("{definitely not json")
            with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
    assert closed.value.code == 1007


@pytest.mark.anyio
async def test_lone_surrogate_from_an_openai_client_is_an_error_event_over_the_socket(
    anyio_backend: str,
) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": ""}]}
    async with run_simulator(
        hub=SimulatorHub(pace=0, brain=SimulatorBrain({"hi": "ok"}))
    ) as server:
        async with open_websocket(f"{server.url}/v1/realtime?model=gpt-realtime") as ws:
            assert json.loads(await ws.receive())["type"] == "session.created"
            item["content"][0]["text"] = "hi \ud800"  # json.dumps sends it as an escape
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            with anyio.fail_after(5):
                error = json.loads(await ws.receive())
            assert error["type"] == "error" and error["error"]["code"] == "invalid_value"
            assert error["error"]["param"] == "item.content[0].text"
            # The session is still there and answers the next, valid, turn.
            item["content"][0]["text"] = "hi"
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create"}))
            transcript = ""
            with anyio.fail_after(5):
                while (event := json.loads(await ws.receive()))["type"] != "response.done":
                    if event["type"] == "response.output_audio_transcript.delta":
                        transcript += event["delta"]
            assert event["response"]["status"] == "completed" and transcript == "ok"


@pytest.mark.anyio
async def test_lone_surrogate_from_a_gemini_client_closes_with_1007_over_the_socket(
    anyio_backend: str,
) -> None:
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        async with open_websocket(server.url + GEMINI_METHOD) as ws:
            await ws.send(json.dumps({"setup": {"model": "models/gemini-live-2.5-flash"}}))
            assert json.loads(await ws.receive()) == {"setupComplete": {}}
            await ws.send(json.dumps({"realtimeInput": {"text": "hi \udc00"}}))
            with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
    assert closed.value.code == 1007 and "lone surrogate" in closed.value.reason


@pytest.mark.anyio
async def test_client_leaving_mid_reply_ends_the_session_quietly(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with run_simulator(hub=SimulatorHub(pace=1.0)) as server:
        async with open_websocket(f"{server.url}/v1/realtime?model=gpt-realtime") as ws:
            await ws.receive()
            await ws.send(json.dumps({"type": "response.create"}))
            while json.loads(await ws.receive())["type"] != "response.output_audio.delta":
                pass
        with anyio.fail_after(5):
            await server.wait_idle()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
