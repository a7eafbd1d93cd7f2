"""A scripted provider in memory, in the test's own event loop.

Real sockets and simulated time do not mix (a packet may arrive after the
clock jumped), so the tests that run on a mock clock talk to this instead: a
:class:`ScriptedModel` gives a real :class:`RealtimeSession` (with the real
provider protocol) whose link is a pair of in-memory queues, and a script
plays the provider on the other end, like ``tests.fake_server``'s scripts.
:func:`byte_stream_pair` goes one layer lower: two connected in-memory byte
streams, to run the WebSocket driver itself without a socket.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from adk_realtime.models import RealtimeModel
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.history import History
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from adk_realtime.sansio.protocol import RealtimeProtocol
from adk_realtime.session import Link, RealtimeSession, SessionOptions, open_session


class MemoryByteStream(anyio.abc.ByteStream):
    """One end of :func:`byte_stream_pair`."""

    def __init__(
        self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._send = send
        self._receive = receive
        self._pending = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._pending:
            self._pending = await self._receive.receive()
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        await self._send.send(bytes(item))

    async def send_eof(self) -> None:
        await self._send.aclose()

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def byte_stream_pair() -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected byte streams (unbounded buffers: a peer that does not read never
    blocks the writer, as with a large socket buffer)."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](math.inf)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](math.inf)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


class MemoryLink:
    """The client's end: a :class:`~adk_realtime.session.Link` over memory streams."""

    def __init__(
        self,
        to_peer: MemoryObjectSendStream[str],
        from_peer: MemoryObjectReceiveStream[str | _Close],
        to_self: MemoryObjectSendStream[str | _Close],
    ) -> None:
        self._to_peer = to_peer
        self._from_peer = from_peer
        self._to_self = to_self
        self.close_info: _Close | None = None

    async def send(self, message: str) -> None:
        if self.close_info is not None:
            raise ConnectionClosed(self.close_info.code, self.close_info.reason)
        try:
            await self._to_peer.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ConnectionClosed(1006, "peer gone") from None

    async def receive(self) -> str:
        if self.close_info is None:
            try:
                item = await self._from_peer.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                item = _Close(1006, "peer gone")
            if isinstance(item, str):
                return item
            self.close_info = item
        raise ConnectionClosed(self.close_info.code, self.close_info.reason)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        if self.close_info is None:
            self._to_self.send_nowait(_Close(code, reason))
        self._to_peer.close()


class Peer:
    """The script's view of one connection."""

    def __init__(
        self,
        inbox: MemoryObjectReceiveStream[str],
        outbox: MemoryObjectSendStream[str | _Close],
        index: int,
    ) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self.index = index  # 0 for the first connection, 1 after a reconnect...
        self.received: list[dict[str, Any]] = []

    async def recv(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await self._inbox.receive())
        self.received.append(message)
        return message

    async def recv_until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            message = await self.recv()
            if predicate(message):
                return message

    async def send(self, message: str | dict[str, Any]) -> None:
        await self._outbox.send(message if isinstance(message, str) else json.dumps(message))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            await self._outbox.send(_Close(code, reason))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass


Script = Callable[[Peer], Awaitable[None]]


class ScriptedModel(RealtimeModel):
    """A model whose provider is ``script``, run once per connection (see the module doc)."""

    provider = "scripted"

    def __init__(
        self, script: Script, protocol: Callable[[], RealtimeProtocol] = OpenAIProtocol
    ) -> None:
        self._script = script
        self._make_protocol = protocol
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []

    def connect(
        self,
        config: RealtimeConfig | None = None,
        *,
        options: SessionOptions | None = None,
        history: History | None = None,
        resume_handle: str | None = None,
    ) -> AbstractAsyncContextManager[RealtimeSession]:
        return self._connect(config or RealtimeConfig(), options, history)

    @asynccontextmanager
    async def _connect(
        self, config: RealtimeConfig, options: SessionOptions | None, history: History | None
    ) -> AsyncIterator[RealtimeSession]:
        session = RealtimeSession(
            self._make_protocol(),
            config,
            self._link,
            provider=self.provider,
            options=options,
            history=history,
        )
        async with open_session(session) as opened:
            yield opened

    @asynccontextmanager
    async def _link(self, _handle: str | None) -> AsyncIterator[Link]:
        to_peer, peer_inbox = anyio.create_memory_object_stream[str](math.inf)
        to_client, client_inbox = anyio.create_memory_object_stream[str | _Close](math.inf)
        peer = Peer(peer_inbox, to_client, len(self.peers))
        self.peers.append(peer)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._play, peer)
            try:
                yield MemoryLink(to_peer, client_inbox, to_client.clone())
            finally:
                tg.cancel_scope.cancel()

    async def _play(self, peer: Peer) -> None:
        try:
            await self._script(peer)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the client left
        except Exception as exc:
            self.errors.append(exc)
            raise
        await peer.close(1000, "script done")
