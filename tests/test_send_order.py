"""The session's send path keeps the order ``data_to_send()`` handed messages out in.

Gemini's transparent resumption numbers each connection's client messages in that
order (``ClientMessageLog``) and the server counts them in wire order: the two must
agree, also when commands come from several tasks at once and each queues more than
one message while the link's ``send`` lets other tasks run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.session import Link, RealtimeSession, SessionOptions, open_session


class YieldingLink:
    """Records what is sent; every send lets other tasks run (as a socket write may)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._inbox: list[str] = [json.dumps({"setupComplete": {}})]
        self._closed = anyio.Event()

    async def send(self, message: str) -> None:
        await anyio.sleep(0)
        self.sent.append(message)
        await anyio.sleep(0)

    async def receive(self) -> str:
        if self._inbox:
            return self._inbox.pop(0)
        await self._closed.wait()
        raise ConnectionClosed(1000, "")

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        self._closed.set()


@pytest.mark.parametrize("senders", [2, 4])
async def test_concurrent_commands_reach_the_link_in_the_order_handed_out(
    anyio_backend: str, senders: int
) -> None:
    protocol = GeminiProtocol("gemini-live-2.5-flash-preview", transparent_resumption=True)
    handed: list[str] = []
    original = protocol.data_to_send

    def recording_data_to_send() -> list[str]:
        out = original()
        handed.extend(out)
        return out

    protocol.data_to_send = recording_data_to_send  # type: ignore[method-assign]
    link = YieldingLink()

    @asynccontextmanager
    async def factory(_handle: str | None) -> AsyncIterator[Link]:
        yield link

    session = RealtimeSession(
        protocol, RealtimeConfig(), factory, provider="gemini", options=SessionOptions()
    )
    # 2.5 s of audio per command: three realtimeInput messages each, told apart by sender
    pieces = [bytes([n + 1]) * (16000 * 2 * 5 // 2) for n in range(senders)]

    async def sender(piece: bytes) -> None:
        for _ in range(3):
            await session.send_audio(piece, 16000)
            await session.send_text("between")

    async with open_session(session):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for piece in pieces:
                    tg.start_soon(sender, piece)
    sent_after_setup = link.sent[1:]
    assert len(sent_after_setup) == senders * 3 * 4
    assert sent_after_setup == handed[1:]  # (the setup went first, from start())


def test_the_log_numbers_what_data_to_send_hands_out() -> None:
    protocol = GeminiProtocol("gemini-live-2.5-flash-preview", transparent_resumption=True)
    protocol.start(RealtimeConfig())
    setup: Any = protocol.data_to_send()
    assert len(setup) == 1
    protocol.send_audio(bytes(16000 * 2 * 5 // 2))
    first = protocol.data_to_send()
    protocol.send_audio(bytes(3200))
    second = protocol.data_to_send()
    # Message 0 is the setup; the server consumed up to message 2 (the second audio piece)
    protocol.receive_data(
        json.dumps(
            {
                "sessionResumptionUpdate": {
                    "newHandle": "h1",
                    "resumable": True,
                    "lastConsumedClientMessageIndex": "2",
                }
            }
        ),
        0.0,
    )
    protocol.start(RealtimeConfig())
    protocol.data_to_send()  # the resuming setup
    protocol.receive_data(json.dumps({"setupComplete": {}}), 0.0)
    while protocol.next_event() is not None:
        pass
    assert protocol.data_to_send() == first[2:] + second
