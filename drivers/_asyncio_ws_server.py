"""The asyncio fast path of the WebSocket server: what ``_asyncio_ws`` does for the client,
for an accepted connection.

:func:`adk_realtime.drivers.websocket_server.serve` chooses it by itself for a plain TCP
connection on asyncio (or uvloop); TLS and trio keep the anyio path. Opt out per server
with ``serve(..., asyncio_fast_path=False)`` or for the process with
``ADK_REALTIME_ASYNCIO_FAST_PATH=0``.

Reading: as on the client, the transport's read callback feeds the sans-IO machine
(:class:`~adk_realtime.drivers._asyncio_ws.ProtocolStream`). The server's accept loop
hands over the accepted socket itself, and its transport is made with that protocol
(:func:`open_accepted`), so no other reader ever saw a byte of it.
"""

from __future__ import annotations

import asyncio
import socket

from adk_realtime.drivers._asyncio_ws import (
    AsyncioWebSocketConnection,
    ProtocolStream,
    fast_path_enabled,
)

__all__ = ["AsyncioServerConnection", "open_accepted"]


async def open_accepted(sock: socket.socket, requested: bool | None) -> ProtocolStream | None:
    """A transport for the accepted ``sock`` with a :class:`ProtocolStream` as its protocol,
    when running on asyncio (or uvloop) and the fast path is not refused; else ``None``
    (trio, or refused): the caller wraps ``sock`` for the anyio path. Nothing was read
    from ``sock`` yet, so the protocol sees every byte."""
    if not fast_path_enabled(requested):
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # trio
        return None
    _, protocol = await loop.connect_accepted_socket(ProtocolStream, sock)
    return protocol


class AsyncioServerConnection(AsyncioWebSocketConnection):
    """:class:`AsyncioWebSocketConnection` for an accepted socket (sends are written at
    once, as on the client). Same public API and behaviour, plus the simulator's stall."""

    def stall(self) -> None:
        """Fault injection (the simulator's half-dead server): read nothing more, so nothing
        the peer sends, pings included, is answered; the socket stays open until closed."""
        self._stalled = True
        self._stream.pause_reading()  # the bytes wait in the kernel, as on the anyio path

    def _on_data(self, data: bytes) -> None:
        if self._stalled:
            return  # half-dead: what came is never read, nor answered
        super()._on_data(data)

    def _resume(self) -> None:
        if not self._stalled:  # a half-dead connection never reads again
            super()._resume()
