"""The asyncio fast path of the WebSocket server: what ``_asyncio_ws`` does for the client,
for an accepted connection.

:func:`adk_realtime.drivers.websocket_server.serve` chooses it by itself for a plain TCP
connection on asyncio (or uvloop); TLS and trio keep the anyio path. Opt out per server
with ``serve(..., asyncio_fast_path=False)`` or for the process with
``ADK_REALTIME_ASYNCIO_FAST_PATH=0``.

Reading: as on the client, the transport's read callback feeds the sans-IO machine
(:class:`~adk_realtime.drivers._asyncio_ws.ProtocolStream`). An accepted socket may have
read the start of the upgrade request before the handler's task first runs: those bytes
move to the new protocol, in order, so nothing is lost or reordered.
"""

from __future__ import annotations

from collections import deque

import anyio.abc

from adk_realtime.drivers._asyncio_ws import (
    _ANYIO_ASYNCIO,
    AsyncioWebSocketConnection,
    ProtocolStream,
    fast_path_enabled,
)

__all__ = ["AsyncioServerConnection", "take_over_accepted"]


def take_over_accepted(
    stream: anyio.abc.ByteStream, requested: bool | None
) -> ProtocolStream | None:
    """``stream``'s transport with a :class:`ProtocolStream` as its protocol, when ``stream``
    is anyio's plain TCP stream on asyncio that nobody has read from yet (bytes the
    transport already buffered are carried over); else ``None``: keep ``stream``."""
    if not fast_path_enabled(requested) or type(stream).__module__ != _ANYIO_ASYNCIO:
        return None
    transport = getattr(stream, "_transport", None)
    old = getattr(stream, "_protocol", None)
    if transport is None or not hasattr(transport, "set_protocol") or transport.is_closing():
        return None
    queue = getattr(old, "read_queue", None)
    if type(queue) is not deque or getattr(old, "exception", None) is not None:
        return None  # anyio changed, or the connection already failed: the anyio path
    protocol = ProtocolStream()
    protocol.connection_made(transport)
    transport.set_protocol(protocol)
    while queue:
        protocol.deliver_buffered(queue.popleft())
    if getattr(old, "is_at_eof", False):
        protocol.eof_received()
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
