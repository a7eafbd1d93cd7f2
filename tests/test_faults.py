"""Faults, load and bad input, on simulated time: a provider that stops answering,
a tool that never returns, an app that stops reading, a consumer that iterates
``agent.run`` from another cancel scope.

Every test runs under asyncio and trio, both on a simulated clock
(``tests.virtual_clock``), against in-memory peers (``tests.memory_provider``):
waiting 30 s for a timeout takes no real time, and nothing depends on how fast
the machine is.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.abc
import pytest

from adk_realtime import (
    ConnectionClosed,
    GeminiLiveBackend,
    GeminiRealtimeModel,
    OpenAIRealtimeModel,
    RealtimeConfig,
    SessionOptions,
)
from adk_realtime.sansio.websocket.connection import ConnectRequest, Message, WebSocketServer
from tests.memory_provider import MemoryByteStream, byte_stream_pair
from tests.virtual_clock import simulated_time

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return simulated_time(str(request.param))


# -- a half-dead provider ---------------------------------------------------------------


async def _answers_then_goes_silent(stream: MemoryByteStream, setup_reply: str | None) -> None:
    """A WebSocket peer that accepts, answers the first message with ``setup_reply`` (if
    any), then stops reading and answering, without closing: a half-dead provider."""
    ws = WebSocketServer()
    waiting_for_setup = setup_reply is not None
    accepted = False
    while not accepted or waiting_for_setup:
        ws.receive_data(await stream.receive(), anyio.current_time())
        while (event := ws.next_event()) is not None:
            if isinstance(event, ConnectRequest):
                ws.accept(now=anyio.current_time())
                accepted = True
            elif isinstance(event, Message) and setup_reply is not None:
                ws.send_message(setup_reply)
                waiting_for_setup = False
        await stream.send(ws.data_to_send())
    await anyio.sleep_forever()


def _model(provider: str) -> OpenAIRealtimeModel | GeminiRealtimeModel:
    if provider == "openai":
        return OpenAIRealtimeModel("sk-test", base_url="ws://provider.test/v1")
    return GeminiRealtimeModel(GeminiLiveBackend.Public("k", base_url="ws://provider.test"))


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize(
    ("options", "limit"),
    [(None, 15.0), (SessionOptions(keepalive_interval=2.0, keepalive_timeout=1.0), 3.0)],
    ids=["defaults", "settable"],
)
async def test_a_provider_that_stops_answering_is_noticed_within_the_keepalive_limit(
    anyio_backend: Any,
    provider: str,
    options: SessionOptions | None,
    limit: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole stack (model, session, WebSocket driver and machine) over an in-memory
    socket: the peer goes silent after the setup; the session ends with 1011 in time."""
    setup_reply = json.dumps({"setupComplete": {}}) if provider == "gemini" else None
    async with anyio.create_task_group() as tg:

        async def connect_tcp(host: str, port: int, **_: Any) -> anyio.abc.ByteStream:
            ours, theirs = byte_stream_pair()
            tg.start_soon(_answers_then_goes_silent, theirs, setup_reply)
            return ours

        monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
        async with _model(provider).connect(RealtimeConfig(), options=options) as session:
            started = anyio.current_time()
            with pytest.raises(ConnectionClosed) as info:
                async for _event in session:
                    pass
            noticed_after = anyio.current_time() - started
        tg.cancel_scope.cancel()
    assert (info.value.code, info.value.reason) == (1011, "pong timeout")
    assert noticed_after <= limit


async def test_large_messages_go_out_in_short_writes_so_a_ping_never_waits_behind_megabytes(
    anyio_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ping's pong deadline runs from when it was queued: after a congested write, the
    writer must not hand the socket the 64 queued messages of 64 KiB (4 MiB) as one write
    that a ping would then wait behind."""
    from adk_realtime.drivers.websocket import open_websocket

    writes: list[int] = []
    congested = False
    released = anyio.Event()

    class Congested(MemoryByteStream):
        async def send(self, item: bytes) -> None:
            writes.append(len(item))
            if congested:
                await released.wait()
            await super().send(item)

    async with anyio.create_task_group() as tg:

        async def connect_tcp(host: str, port: int, **_: Any) -> anyio.abc.ByteStream:
            ours, theirs = byte_stream_pair()
            tg.start_soon(_answers_then_goes_silent, theirs, None)
            return Congested(ours._send, ours._receive)

        monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
        async with open_websocket("ws://peer.test/", send_queue_size=64) as ws:
            writes.clear()  # (the handshake)
            congested = True
            for _ in range(1 + 64):  # one in the stuck write, 64 queued behind it
                await ws.send(b"x" * 65536)
            released.set()
            await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert sum(writes) > 65 * 65536
    assert max(writes) <= 256 * 1024 + 65536 + 64  # one batch: 256 KiB and one message
