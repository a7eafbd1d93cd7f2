"""A scripted provider on loopback, built with the ``websockets`` library.

``websockets`` is an independent WebSocket implementation, so tests that talk
to this server check our client against a peer we did not write. The server
runs on its own thread with its own asyncio loop, which lets the same server
serve tests running under asyncio *and* trio.

A script is a function ``(conn: ScriptConn) -> Awaitable[None]`` that reads
the client's messages and sends server messages, just like a provider would.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response


@dataclass
class Connection:
    """What one client connection looked like, for assertions."""

    path: str
    headers: Headers
    received: list[str | bytes] = field(default_factory=list)


class ScriptConn:
    """The script's view of one connection."""

    def __init__(self, ws: ServerConnection, record: Connection, index: int) -> None:
        self.ws = ws
        self.record = record
        self.index = index  # 0 for the first connection, 1 after a reconnect...

    async def recv(self) -> Any:
        data = await self.ws.recv()
        self.record.received.append(data)
        return json.loads(data)

    async def recv_until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            msg = await self.recv()
            if predicate(msg):
                return dict(msg)

    async def send(self, message: str | dict[str, Any]) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        self.ws.transport.abort()


Script = Callable[[ScriptConn], Awaitable[None]]


class FakeServer:
    """``with FakeServer(script) as server: ... server.url ...``

    ``max_size`` limits the size of one message from the client, as a provider does
    (``None``: no limit); a larger one is closed with 1009.
    """

    def __init__(
        self,
        script: Script,
        *,
        ssl_context: ssl.SSLContext | None = None,
        reject: tuple[int, str] | None = None,
        max_size: int | None = None,
    ) -> None:
        self.script = script
        self.max_size = max_size  # the largest message taken (websockets closes with 1009)
        self.ssl_context = ssl_context
        self.reject = reject
        self.connections: list[Connection] = []
        self.errors: list[BaseException] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        fut: Future[None] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        if self.errors and exc[0] is None:
            raise self.errors[0]

    async def _start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=self.ssl_context,
            process_request=self._process_request,
            max_size=self.max_size,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.connections.append(Connection(request.path, request.headers))
        if self.reject is not None:
            status, body = self.reject
            return ws.respond(status, body)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        index = len(self.connections) - 1
        conn = ScriptConn(ws, self.connections[index], index)
        try:
            await self.script(conn)
        except Exception as exc:  # ConnectionClosed from the client side ends scripts too
            if type(exc).__module__.startswith("websockets"):
                return
            self.errors.append(exc)
            raise
