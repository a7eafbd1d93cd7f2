"""The session decoding in the link's read callback (``adk_realtime.session_sink``).

On asyncio the fast path's WebSocket offers each message to the session's decoder in its
read callback (one task hop fewer); on trio the pump task decodes as before. Either way
the app sees every event once, in the server's order, the event queue's bound pushes back
on the socket, and a failure while decoding ends the session with that error. Each test
runs under asyncio and trio.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import anyio
import pytest

from adk_realtime import (
    AudioDelta,
    OpenAIRealtimeModel,
    ResponseDone,
    SessionCreated,
    SessionOptions,
    TranscriptDelta,
)
from adk_realtime.sansio import events as ev
from adk_realtime.session_sink import ReadPathDecoder
from tests.fake_server import FakeServer, ScriptConn
from tests.oracles_openai import example_server_event

pytestmark = pytest.mark.anyio

API_KEY = "sk-test-read-path"
PAIRS = 150  # audio + transcript each: far more than the event queue and the link's inbox


def audio(i: int) -> str:
    pcm = struct.pack("<I", i) * 120  # 480 bytes (10 ms at 24 kHz) that say which they are
    return example_server_event(
        "ga",
        "response.output_audio.delta",
        item_id="item_1",
        response_id="resp_1",
        delta=base64.b64encode(pcm).decode(),
    )


def transcript(i: int) -> str:
    return example_server_event(
        "ga",
        "response.output_audio_transcript.delta",
        item_id="item_1",
        response_id="resp_1",
        delta=f"t{i} ",
    )


def response(kind: str) -> str:
    return example_server_event("ga", kind, response={"id": "resp_1", "status": "completed"})


def described(event: ev.ServerEvent) -> str:
    if isinstance(event, AudioDelta):
        return f"a{struct.unpack_from('<I', event.delta)[0]}"
    if isinstance(event, TranscriptDelta):
        return event.delta.strip()
    return type(event).__name__


def expected() -> list[str]:
    half = PAIRS // 2
    pairs = [x for i in range(PAIRS) for x in (f"a{i}", f"t{i}")]
    return [
        "SessionCreated",
        "ResponseCreated",
        *pairs[: 2 * half],
        "ResponseDone",  # a lifecycle event in the middle: the pump notes it first
        "ResponseCreated",
        *pairs[2 * half :],
        "ResponseDone",
    ]


async def burst(conn: ScriptConn) -> None:
    await conn.send(example_server_event("ga", "session.created"))
    await conn.send(response("response.created"))
    for i in range(PAIRS):
        if i == PAIRS // 2:
            await conn.send(response("response.done"))
            await conn.send(response("response.created"))
        await conn.send(audio(i))
        await conn.send(transcript(i))
    await conn.send(response("response.done"))
    await conn.recv_until(lambda m: False)  # until the app leaves


async def test_every_event_once_in_order_while_the_queue_pushes_back(anyio_backend: str) -> None:
    with FakeServer(burst) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        options = SessionOptions(event_queue_size=4)
        async with model.connect(options=options) as session:
            link: Any = session._link
            if anyio_backend == "asyncio":  # the fast path: decoded in the read callback
                assert isinstance(link._sink, ReadPathDecoder)
            with anyio.fail_after(10):
                # The app reads nothing until the socket was paused: the queue is full,
                # the pump waits, the link's inbox fills up behind it.
                await link._paused_event.wait()
                got = [described(await anext(session)) for _ in range(len(expected()))]
                left = session._events._items  # nothing more was queued (nor lost)
                assert not left and not link.pending_messages
    assert got == expected()
    assert got.count("SessionCreated") == 1 and got.count("ResponseDone") == 2


async def test_a_failure_while_decoding_ends_the_session_with_it_after_what_came_before(
    anyio_backend: str,
) -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(example_server_event("ga", "session.created"))
        for i in range(3):
            await conn.send(audio(i))
        await conn.send(transcript(99))  # the protocol below fails on this one
        await conn.send(audio(3))
        await conn.recv_until(lambda m: False)

    class Broken(RuntimeError):
        pass

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        got: list[str] = []
        with pytest.raises(Broken):
            async with model.connect() as session:
                receive_data = session.protocol.receive_data

                def failing(data: Any, now: float) -> None:
                    if "t99" in str(data):
                        raise Broken("a bug while decoding")
                    receive_data(data, now)

                session.protocol.receive_data = failing  # type: ignore[method-assign]
                with anyio.fail_after(10):
                    async for event in session:
                        got.append(described(event))
    # (session.created may have been decoded before the protocol was patched)
    assert [g for g in got if g != "SessionCreated"] == ["a0", "a1", "a2"]


async def test_a_session_created_by_the_read_path_is_seen_once(anyio_backend: str) -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(example_server_event("ga", "session.created"))
        await conn.recv_until(lambda m: m["type"] == "input_audio_buffer.clear")
        await conn.send(example_server_event("ga", "session.updated"))
        await conn.send(audio(7))
        await conn.recv_until(lambda m: False)  # until the app leaves

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        async with model.connect() as session:
            with anyio.fail_after(10):
                first = await anext(session)
                await session.clear_audio()
                rest = [await anext(session) for _ in range(2)]
    assert isinstance(first, SessionCreated)
    assert [described(e) for e in rest] == ["SessionUpdated", "a7"]
    assert not any(isinstance(e, ResponseDone) for e in rest)
