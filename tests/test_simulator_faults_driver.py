"""The simulator's continuity knobs over real loopback sockets: the abrupt drop (a 1006 after
everything sent, seen by the ``websockets`` library and by our client under asyncio and trio),
the session cap, and seeded history through the official SDKs.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from typing import Any

import anyio
import pytest
from google import genai
from google.genai import types as genai_types

from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.drivers.websocket import WebSocketConnection, open_websocket
from adk_realtime.sansio.errors import ConfigError, ConnectionClosed
from adk_realtime.sansio.sim.hub import SimulatorBrain, SimulatorHub, synthesize_speech
from tests.test_simulator_driver import (
    GEMINI_METHOD,
    TappedHub,
    tls as tls,
)

OPENAI_PATH = "/v1/realtime?model=gpt-realtime"
LONG = "ok " * 20  # a reply of about 4 s
HI = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}
APPEND = json.dumps(
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(960)).decode()}
)


async def keep_appending(ws: WebSocketConnection, sent: list[bytes]) -> None:
    """Stream 20 ms of silence every 20 ms until the connection ends (talking over the drop)."""
    try:
        while True:
            await ws.send(APPEND)
            sent.append(bytes(960))
            await anyio.sleep(0.02)
    except ConnectionClosed:
        pass


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_drop_gives_the_websockets_client_1006_after_everything_sent(
    anyio_backend: str,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    hub = TappedHub(pace=1.0, chunk_ms=50, drop_after=0.6, brain=SimulatorBrain({"hi": LONG}))
    received: list[str | bytes] = []
    async with run_simulator(hub=hub) as server:
        async with connect(f"{server.url}{OPENAI_PATH}") as ws:
            received.append(await ws.recv())
            await ws.send(json.dumps(HI))
            await ws.send(json.dumps({"type": "response.create"}))
            with anyio.fail_after(10), pytest.raises(ConnectionClosedError) as closed:
                while True:
                    received.append(await ws.recv())
                    await ws.send(APPEND)  # the server reads and discards these after the drop
        with anyio.fail_after(10):
            await server.wait_idle()
    assert closed.value.rcvd is None and closed.value.sent is None  # no close frame either way
    assert received == hub.sent  # every message the session sent arrived, in order
    kinds = [json.loads(m)["type"] for m in received]
    assert kinds.count("response.output_audio.delta") >= 10 and "response.done" not in kinds


@pytest.mark.anyio
async def test_drop_then_a_new_session_works_and_the_uncommitted_audio_is_discarded(
    anyio_backend: str,
) -> None:
    hub = SimulatorHub(pace=0, drop_after=0.3, drops=1, record_input=True)
    sent: list[bytes] = []
    async with run_simulator(hub=hub) as server:
        async with open_websocket(f"{server.url}{OPENAI_PATH}") as ws:
            assert json.loads(await ws.receive())["type"] == "session.created"
            async with anyio.create_task_group() as tg:
                tg.start_soon(keep_appending, ws, sent)
                with anyio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await ws.receive()
                tg.cancel_scope.cancel()
        assert closed.value.code == 1006
        async with open_websocket(f"{server.url}{OPENAI_PATH}") as ws:  # drops=1: not this one
            assert json.loads(await ws.receive())["type"] == "session.created"
            await ws.send(json.dumps(HI))
            await ws.send(json.dumps({"type": "response.create"}))
            with anyio.fail_after(10):
                while json.loads(await ws.receive())["type"] != "response.done":
                    pass
        with anyio.fail_after(10):
            await server.wait_idle()
        (discarded, empty) = server.discarded_input
    # What the session received before the drop (silence: nothing committed) was discarded.
    assert discarded and b"".join(sent).startswith(discarded) and empty == b""
    assert server.input_ledger() == b"" and server.input_ledger_count() == 0


@pytest.mark.anyio
async def test_openai_cap_over_the_socket(anyio_backend: str) -> None:
    async with run_simulator(session_max_seconds=0.5) as server:
        before = time.time()
        async with open_websocket(f"{server.url}{OPENAI_PATH}") as ws:
            created = json.loads(await ws.receive())
            with anyio.fail_after(5):
                error = json.loads(await ws.receive())
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.receive()
    assert int(before) <= created["session"]["expires_at"] <= int(time.time() + 0.5)
    message = "Your session hit the maximum duration of 0.00833333 minutes."
    assert error["type"] == "error" and error["error"]["code"] == "session_expired"
    assert error["error"]["message"] == message
    assert (closed.value.code, closed.value.reason) == (1001, message)
    assert server.session_max_seconds == 0.5


@pytest.mark.anyio
async def test_gemini_cap_over_the_socket(anyio_backend: str) -> None:
    hub = SimulatorHub(pace=0, session_max_seconds=0.3, go_away_time_left=0.1)
    async with run_simulator(hub=hub) as server:
        async with open_websocket(server.url + GEMINI_METHOD) as ws:
            await ws.send(json.dumps({"setup": {"model": "models/x"}}))
            assert json.loads(await ws.receive()) == {"setupComplete": {}}
            with anyio.fail_after(5):
                assert json.loads(await ws.receive()) == {"goAway": {"timeLeft": "0.100s"}}
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.receive()
    assert closed.value.code == 1000


@pytest.mark.anyio
async def test_gemini_transparent_indices_over_the_socket(anyio_backend: str) -> None:
    hub = SimulatorHub(pace=0, record_input=True)
    pcm = bytes(3200) + synthesize_speech("hello", 16000) + bytes(22400)
    pieces = [pcm[i : i + 640] for i in range(0, len(pcm), 640)]
    async with run_simulator(hub=hub) as server:
        async with open_websocket(server.url + GEMINI_METHOD) as ws:
            setup = {"model": "models/x", "sessionResumption": {"transparent": True}}
            await ws.send(json.dumps({"setup": setup}))
            for piece in pieces:
                blob = {
                    "data": base64.b64encode(piece).decode(),
                    "mimeType": "audio/pcm;rate=16000",
                }
                await ws.send(json.dumps({"realtimeInput": {"audio": blob}}))
            indices: list[int] = []
            with anyio.fail_after(10):
                while True:  # the update of a turn comes just before its turnComplete
                    message = json.loads(await ws.receive())
                    update = message.get("sessionResumptionUpdate")
                    if update:
                        indices.append(int(update["lastConsumedClientMessageIndex"]))
                    if message.get("serverContent", {}).get("turnComplete"):
                        break
        with anyio.fail_after(10):
            await server.wait_idle()
    assert indices[0] == 0 and indices == sorted(indices)
    assert server.input_ledger() == pcm[: len(server.input_ledger())]
    assert server.input_ledger() + server.discarded_input[0] == pcm


@pytest.mark.anyio
async def test_run_simulator_refuses_fault_settings_beside_a_hub(anyio_backend: str) -> None:
    with pytest.raises(ConfigError) as raised:
        async with run_simulator(hub=SimulatorHub(), drop_after=1.0):
            pass
    assert raised.value.field == "hub"


# --- the official SDKs -------------------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_official_openai_client_replays_history_and_sees_the_cap(anyio_backend: str) -> None:
    from openai import AsyncOpenAI

    replay: list[dict[str, Any]] = [
        {
            "id": "item_u1",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "What's the weather in Paris?"}],
        },
        {
            "id": "item_fc",
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"id": "item_fo", "type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    events: list[Any] = []
    async with run_simulator(hub=SimulatorHub(pace=0, session_max_seconds=1.0)) as server:
        client = AsyncOpenAI(api_key="sk-test", websocket_base_url=server.openai_base_url)
        with anyio.fail_after(20):
            async with client.realtime.connect(model="gpt-realtime") as conn:
                for item in replay:
                    await conn.conversation.item.create(item=item)  # type: ignore[arg-type]
                question = {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "What city did I ask about?"}],
                }
                await conn.conversation.item.create(item=question)  # type: ignore[arg-type]
                await conn.response.create()
                async for event in conn:  # ends when the server closes (1001 is a normal close)
                    events.append(event)
    created = events[0]
    assert created.type == "session.created" and created.session.model_extra["expires_at"] > 0
    done = [e for e in events if e.type == "response.output_audio_transcript.done"]
    assert [e.transcript for e in done] == ["You asked about Paris."]
    assert [e.item.id for e in events if e.type == "conversation.item.done"][:3] == [
        "item_u1",
        "item_fc",
        "item_fo",
    ]
    assert events[-1].type == "error" and events[-1].error.code == "session_expired"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_official_genai_client_seeds_history_then_asks(
    anyio_backend: str, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls
    config = genai_types.LiveConnectConfig(
        response_modalities=[genai_types.Modality.AUDIO],
        history_config=genai_types.HistoryConfig(initial_history_in_client_content=True),
        session_resumption=genai_types.SessionResumptionConfig(),
        output_audio_transcription=genai_types.AudioTranscriptionConfig(),
    )
    history = [
        genai_types.Content(role="user", parts=[genai_types.Part(text="Is it cold in Oslo?")]),
        genai_types.Content(
            role="model",
            parts=[
                genai_types.Part(
                    function_call=genai_types.FunctionCall(
                        id="c1", name="get_weather", args={"city": "Oslo"}
                    )
                )
            ],
        ),
        genai_types.Content(
            role="user",
            parts=[
                genai_types.Part(
                    function_response=genai_types.FunctionResponse(
                        id="c1", name="get_weather", response={"output": "-3 C"}
                    )
                )
            ],
        ),
    ]
    transcript = ""
    async with run_simulator(ssl_context=server_ctx, hub=SimulatorHub(pace=0)) as server:
        options = genai_types.HttpOptions(
            base_url=server.gemini_base_url,
            api_version="v1beta",
            async_client_args={"ssl": client_ctx},
        )
        client = genai.Client(api_key="test-key", http_options=options)
        with anyio.fail_after(20):
            async with client.aio.live.connect(
                model="gemini-live-2.5-flash", config=config
            ) as session:
                await session.send_client_content(turns=history, turn_complete=True)
                await session.send_realtime_input(text="What city did I ask about?")
                async for message in session.receive():
                    content = message.server_content
                    if content and content.output_transcription:
                        transcript += content.output_transcription.text or ""
                    if content and content.turn_complete:
                        break
    assert transcript == "You asked about Oslo."
