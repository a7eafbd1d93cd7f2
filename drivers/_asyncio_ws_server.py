"""The asyncio fast path of the WebSocket server: what ``_asyncio_ws`` does for the client,
for an accepted connection, plus direct sends.

:func:`adk_realtime.drivers.websocket_server.serve` chooses it by itself for a plain TCP
connection on asyncio (or uvloop); TLS and trio keep the anyio path. Opt out per server
with ``serve(..., asyncio_fast_path=False)`` or for the process with
``ADK_REALTIME_ASYNCIO_FAST_PATH=0``.

Reading: as on the client, the transport's read callback feeds the sans-IO machine
(:class:`~adk_realtime.drivers._asyncio_ws.ProtocolStream`). An accepted socket may have
read the start of the upgrade request before the handler's task first runs: those bytes
move to the new protocol, in order, so nothing is lost or reordered.

Sending: a phone bridge sends ~100 small messages per call-second (20 ms ``media``
frames and marks). On the anyio path each one is a hop through the send queue to the
writer task and a lock; here :meth:`AsyncioServerConnection.send` has the machine
frame the message and writes it to the transport at once, and waits only when the
transport pushes back (the kernel's buffer is full: the peer does not read), where the
writer would have waited too. It stays a checkpoint, as anyio's operations are: it
yields to the loop once before writing, so a task sending in a loop neither starves the
others nor misses its cancellation (a cancelled send sends nothing; the simulator's
Gemini handoff relies on this). Ordering holds because every write is synchronous: a
message is on the transport before ``send`` returns, and a close or drop (which still
goes through the writer) is queued only after sends are refused.
"""

from __future__ import annotations

import asyncio
from collections import deque

import anyio.abc

from adk_realtime.drivers._asyncio_ws import (
    _ANYIO_ASYNCIO,
    AsyncioWebSocketConnection,
    ProtocolStream,
    fast_path_enabled,
)
from adk_realtime.sansio.errors import LocalProtocolError
from adk_realtime.sansio.websocket.connection import WsState

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
    """:class:`AsyncioWebSocketConnection` for an accepted socket, whose :meth:`send`
    writes at once (see the module docstring). Same public API and behaviour."""

    async def send(self, message: str | bytes) -> None:
        """Send one message (``str``: text, bytes-like: binary) now.

        Waits while the transport pushes back; raises :class:`ConnectionClosed` once
        the connection is closing or closed, and :class:`LocalProtocolError` for a
        ``str`` that is not valid Unicode (refused, nothing sent, the connection stays
        open)."""
        if not isinstance(message, str | bytes | bytearray | memoryview):
            raise TypeError(f"a message is str or bytes, not {type(message).__name__}")
        await asyncio.sleep(0)  # the checkpoint (see the module docstring)
        if self._close_info is not None or self._close_requested is not None or self._dropping:
            raise self._closed_error()
        proto = self._proto
        try:
            proto.send_message(message)
        except LocalProtocolError:
            if proto.state is WsState.OPEN:
                raise  # a lone surrogate: this message is refused, the connection goes on
            raise self._closed_error() from None
        stream = self._stream
        if not stream.write(proto.data_to_send()):
            self._on_data(b"")  # the transport is gone: the machine learns it as an EOF
            raise self._closed_error()
        await stream.drain()

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
