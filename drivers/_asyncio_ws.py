"""The asyncio fast path of the WebSocket client: bytes go from the socket to the machine
in the transport's callback, with no reader task.

:func:`adk_realtime.drivers.websocket.connect` and ``open_websocket`` choose it by
themselves when anyio's ``connect_tcp`` gave a plain TCP socket on asyncio (or uvloop),
i.e. for ``ws://``; trio and ``wss://`` keep the anyio path. Opt out per connection with
``asyncio_fast_path=False`` or for the process with ``ADK_REALTIME_ASYNCIO_FAST_PATH=0``.

Why: on the anyio path every read is a task wake-up of the reader, an epoll
register/unregister of the socket (anyio's asyncio stream pauses the transport
after each read) and a backend look-up per ``anyio.Event``. Here an
``asyncio.BufferedProtocol`` feeds each chunk to the same sans-IO
:class:`~adk_realtime.sansio.websocket.connection.WebSocketClient` from inside the
event loop's read callback, puts the messages in the inbox and wakes the one task
waiting in ``receive()`` with a plain future. The machine stays the single truth:
this module only moves bytes and wakes tasks. Backpressure: a full inbox pauses
the transport (``pause_reading``), taking a message resumes it, exactly where the
anyio reader would stop and resume reading.

Sending: a voice session sends 50 audio messages a second, a phone bridge ~100 per
call-second. On the anyio path each one is a hop through the send queue to the writer
task and a lock; here :meth:`AsyncioWebSocketConnection.send` has the machine frame the
message and writes it to the transport at once, and waits only when the transport
pushes back (the kernel's buffer is full: the peer does not read), where the writer
would have waited too. It stays a checkpoint, as anyio's operations are: it yields to
the loop once before writing, so a task sending in a loop neither starves the others
nor misses its cancellation (a cancelled send sends nothing; the simulator's Gemini
handoff relies on this). Ordering holds because every write is synchronous: a message
is on the transport before ``send`` returns, and a close or drop (which still goes
through the writer) is queued only after sends are refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import anyio
import anyio.abc

from adk_realtime.drivers.websocket import _READ_SIZE, WebSocketConnection
from adk_realtime.sansio.errors import LocalProtocolError, ProtocolError
from adk_realtime.sansio.websocket.connection import (
    Closed,
    Message,
    WebSocketClient,
    WebSocketServer,
    WsState,
)

__all__ = [
    "AsyncioWebSocketConnection",
    "MessageSink",
    "ProtocolStream",
    "client_connection_class",
    "fast_path_enabled",
    "take_over",
]

MessageSink = Callable[[str | bytes], Any]
"""``sink(message)`` inside the read callback: ``None`` when it took the message, else the
object ``receive()`` returns in its place (the message itself, or anything the owner of the
sink understands)."""

# One read buffer per thread's loop: the read callback copies each chunk out of it at once
# (buffer_updated), and callbacks never interleave, so connections need not own 64 KiB each.
_READ_BUFFERS: dict[asyncio.AbstractEventLoop, memoryview] = {}

log = logging.getLogger("adk_realtime.drivers.websocket")

FAST_PATH_ENV = "ADK_REALTIME_ASYNCIO_FAST_PATH"
_ANYIO_ASYNCIO = "anyio._backends._asyncio"  # where anyio's asyncio SocketStream lives


def fast_path_enabled(requested: bool | None) -> bool:
    """Whether to use the fast path here: asked for (or not refused by the environment)
    and running on an asyncio loop."""
    if requested is None:
        requested = os.environ.get(FAST_PATH_ENV, "1").strip().lower() not in ("0", "false", "no")
    if not requested:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio (or no loop): the anyio path
        return False
    return True


class ProtocolStream(asyncio.BufferedProtocol, anyio.abc.ByteStream):
    """A TCP connection as the byte stream :class:`WebSocketConnection` writes to.

    Until :meth:`attach` (the handshake) it is read with ``receive()``; afterwards each
    chunk goes straight to the attached callback (``b""`` for the end of the stream).
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._view = _READ_BUFFERS.get(self._loop) or _loop_buffer(self._loop)
        self.transport: asyncio.Transport | None = None
        self._on_data: Callable[[bytes], None] | None = None
        self._chunks: deque[bytes] = deque()  # before attach()
        self._readable: asyncio.Future[None] | None = None
        self._eof = False  # the peer's end of stream (or the connection lost) was seen
        self._eof_sent = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._lost = self._loop.create_future()

    # -- asyncio.BufferedProtocol ----------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's is not a subclass)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self._deliver(bytes(self._view[:nbytes]))

    def eof_received(self) -> bool:
        self._deliver(b"")
        return True  # keep the write side: the machine may still answer, then we close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._eof:
            self._deliver(b"")
        if not self._lost.done():
            self._lost.set_result(None)
        self._wake_drained()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drained()

    # -- reading ---------------------------------------------------------------

    def _deliver(self, data: bytes) -> None:
        if self._eof:
            return
        if not data:
            self._eof = True
        if self._on_data is not None:
            self._on_data(data)
            return
        # Before attach() read one chunk at a time (as anyio's stream does): a chunk
        # not taken yet holds the socket, so backpressure starts from there.
        self._chunks.append(data)
        self.pause_reading()
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    def attach(self, on_data: Callable[[bytes], None]) -> None:
        """From now on every chunk read (``b""``: end of stream) goes to ``on_data``."""
        self._on_data = on_data
        self.resume_reading()  # on_data may pause it again (a full inbox)
        while self._chunks:
            on_data(self._chunks.popleft())

    async def receive(self, max_bytes: int = _READ_SIZE) -> bytes:
        """The next chunk (before :meth:`attach`); ``anyio.EndOfStream`` at the end."""
        while not self._chunks:
            self.resume_reading()
            self._readable = self._loop.create_future()
            try:
                await self._readable
            finally:
                self._readable = None
        data = self._chunks.popleft()
        if not data:
            self._chunks.appendleft(data)  # the end stays the end
            raise anyio.EndOfStream
        return data

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # -- writing (the anyio ByteStream calls WebSocketConnection makes) --------

    def write(self, data: bytes) -> bool:
        """Write now, without waiting; False if the connection can no longer write."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._eof_sent:
            return False
        transport.write(data)
        return True

    async def send(self, data: bytes) -> None:
        if not self.write(data):
            raise anyio.BrokenResourceError
        await self.drain()

    async def drain(self) -> None:
        """Wait while the transport pushes back (after :meth:`write`), or until it is lost."""
        while self._write_paused and not self._lost.done():
            self._drained = self._loop.create_future()
            try:
                await self._drained
            finally:
                self._drained = None

    def _wake_drained(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def send_eof(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise anyio.BrokenResourceError
        if not transport.can_write_eof():
            raise NotImplementedError
        if not self._eof_sent:
            self._eof_sent = True
            transport.write_eof()

    async def aclose(self) -> None:
        if self.transport is not None:
            self.transport.close()
        await asyncio.shield(self._lost)  # the socket is closed once connection_lost ran


def _loop_buffer(loop: asyncio.AbstractEventLoop) -> memoryview:
    for old in [known for known in _READ_BUFFERS if known.is_closed()]:
        del _READ_BUFFERS[old]  # (a closed loop reads nothing more)
    view = _READ_BUFFERS[loop] = memoryview(bytearray(_READ_SIZE))
    return view


def take_over(stream: anyio.abc.ByteStream, requested: bool | None) -> ProtocolStream | None:
    """``stream``'s transport with a :class:`ProtocolStream` as its protocol, when ``stream``
    is anyio's plain TCP stream on asyncio that has read nothing yet; else ``None`` (TLS,
    trio, a stream a test made, or the fast path refused): keep ``stream``.

    anyio's connect stays the one way to connect (address families, errors); only its
    reading is replaced, before anything was read, so no byte is left behind.
    """
    if not fast_path_enabled(requested) or type(stream).__module__ != _ANYIO_ASYNCIO:
        return None
    transport = getattr(stream, "_transport", None)
    old = getattr(stream, "_protocol", None)
    if transport is None or not hasattr(transport, "set_protocol") or transport.is_closing():
        return None
    if getattr(old, "read_queue", True) or getattr(old, "is_at_eof", True):
        return None  # something was read already (or anyio changed): stay on the anyio path
    protocol = ProtocolStream()
    protocol.connection_made(transport)
    transport.set_protocol(protocol)
    return protocol


def client_connection_class(
    stream: anyio.abc.ByteStream, requested: bool | None
) -> tuple[type[WebSocketConnection], anyio.abc.ByteStream]:
    """The connection class for a client ``stream`` and the stream it reads: the fast
    path when it applies (a plain asyncio TCP socket, see :func:`take_over`)."""
    fast = take_over(stream, requested)
    if fast is None:
        return WebSocketConnection, stream
    return AsyncioWebSocketConnection, fast


class AsyncioWebSocketConnection(WebSocketConnection):
    """:class:`WebSocketConnection` whose reading happens in the transport's callback.

    Same public API and behaviour; only the reader differs (no task, no per-read
    wake-up) and ``receive()`` waits on a plain asyncio future.
    """

    _stream: ProtocolStream

    def __init__(
        self,
        stream: ProtocolStream,
        proto: WebSocketClient | WebSocketServer,
        *,
        send_queue_size: int,
        receive_queue_size: int,
        close_timeout: float,
        label: str,
    ) -> None:
        super().__init__(
            stream,
            proto,
            send_queue_size=send_queue_size,
            receive_queue_size=receive_queue_size,
            close_timeout=close_timeout,
            label=label,
        )
        self._loop = asyncio.get_running_loop()
        self._waiters: list[asyncio.Future[None]] = []
        self._ended: asyncio.Future[None] | None = None
        self._sink: MessageSink | None = None

    def set_message_sink(self, sink: MessageSink | None) -> None:
        """Offer each message to ``sink`` in the read callback, before the inbox (``None``:
        stop). It is offered a message only while the inbox is empty, so the order holds:
        once the sink hands one back, later messages queue behind it until ``receive()``
        has taken them all. The owner of the sink decodes there, saving a task hop."""
        self._sink = sink

    async def receive(self) -> str | bytes:
        """The next whole message; raises :class:`ConnectionClosed` once closed."""
        inbox = self._inbox
        while True:
            if inbox:
                message = inbox.popleft()
                if self._reader_paused and len(inbox) < self._receive_limit:
                    self._resume()
                return message
            if self._close_info is not None:
                raise self._closed_error()
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:  # cancelled while waiting
                    self._waiters.remove(waiter)

    async def send(self, message: str | bytes) -> None:
        """Send one message (``str``: text, bytes-like: binary) now.

        Waits while the transport pushes back; raises :class:`ConnectionClosed` once
        the connection is closing or closed, and :class:`LocalProtocolError` for a
        ``str`` that is not valid Unicode (refused, nothing sent, the connection stays
        open)."""
        if not isinstance(message, str | bytes | bytearray | memoryview):
            raise TypeError(f"a message is str or bytes, not {type(message).__name__}")
        await asyncio.sleep(0)  # the checkpoint (see the module docstring)
        refused = self._write_now((message,))
        if refused is not None:
            raise refused
        await self._stream.drain()

    async def send_many(self, messages: Iterable[str | bytes]) -> None:
        """Send ``messages`` in order, as :meth:`send` each, in one write and one checkpoint.

        Nothing runs between them, so no other send comes in between. A refused
        message (a lone surrogate) raises :class:`LocalProtocolError` after the
        messages before it were sent; it and those after it are not."""
        batch = tuple(messages)
        for message in batch:
            if not isinstance(message, str | bytes | bytearray | memoryview):
                raise TypeError(f"a message is str or bytes, not {type(message).__name__}")
        await asyncio.sleep(0)  # the checkpoint (see the module docstring)
        refused = self._write_now(batch)
        if refused is not None:
            raise refused
        await self._stream.drain()

    def _write_now(self, batch: tuple[str | bytes, ...]) -> LocalProtocolError | None:
        """Frame ``batch`` and give it to the transport in one write. Returns the refusal
        of a message that is not valid Unicode (those before it were written; it and the
        rest are not); raises :class:`ConnectionClosed` once closing or closed."""
        if self._close_info is not None or self._close_requested is not None or self._dropping:
            raise self._closed_error()
        proto = self._proto
        refused: LocalProtocolError | None = None
        for message in batch:
            try:
                proto.send_message(message)
            except LocalProtocolError as exc:
                if proto.state is not WsState.OPEN:
                    raise self._closed_error() from None
                refused = exc  # a lone surrogate: refused, the connection goes on
                break
        if not self._stream.write(proto.data_to_send()):
            self._on_data(b"")  # the transport is gone: the machine learns it as an EOF
            raise self._closed_error()
        return refused

    async def _reader(self) -> None:
        """Hands reading to the transport's callback, then waits for the end of it."""
        self._ended = self._loop.create_future()
        self._stream.attach(self._on_data)
        if self._close_info is None and not self._ended.done():
            self._pump_events()  # what came with the handshake answer
            self._after_input()
        if self._close_info is None:
            await self._ended
        await self._finish()

    def _on_data(self, data: bytes) -> None:
        """One chunk from the socket (``b""``: its end), inside the loop's read callback."""
        if self._close_info is not None or (self._dropped and data):
            return  # dropped: the peer's bytes go nowhere until its end of stream
        try:
            try:
                self._proto.receive_data(data, self._loop.time())
            except ProtocolError as exc:
                self._error = exc  # the machine already queued its close and Closed
                log.debug("%s: %s", self._label, exc)
            if not self._dropped and self._proto.has_data_to_send:
                if not self._stream.write(self._proto.data_to_send()):
                    self._proto.receive_data(b"", self._loop.time())
            self._pump_events()
            self._after_input()
        except Exception as exc:  # a bug here must end the connection, as in a reader task
            if self._ended is not None and not self._ended.done():
                self._ended.set_exception(exc)
            else:
                raise

    def _pump_events(self) -> None:
        """As the base class does; a message goes to the sink first when one is set."""
        sink = self._sink
        if sink is None:
            super()._pump_events()
            return
        proto, inbox = self._proto, self._inbox
        grew = False
        while (event := proto.next_event()) is not None:
            if isinstance(event, Message):
                data: Any = event.data
                if not inbox and (data := sink(data)) is None:
                    continue  # taken
                inbox.append(data)
                grew = True
            elif isinstance(event, Closed):
                self._close_info = (event.code, event.reason)
                grew = True
        if grew:
            self._wake("_changed")
        if proto.get_timer() != self._timer_seen:
            super()._wake("_timer_wake")

    def _after_input(self) -> None:
        if self._close_requested is not None:
            # The app is closing and reads no more: keep reading (the close answer
            # must get through) but hold no more than the limit.
            while len(self._inbox) > self._receive_limit:
                self._inbox.pop()
        if self._close_info is not None:
            if self._ended is not None and not self._ended.done():
                self._ended.set_result(None)  # the reader task flushes and closes
            return
        if (
            len(self._inbox) >= self._receive_limit
            and self._close_requested is None
            and not self._reader_paused
        ):
            self._reader_paused = True
            self._paused_event.set()
            self._proto.pause_reading(self._loop.time())  # unread pongs are not silence
            self._stream.pause_reading()
            super()._wake("_timer_wake")

    def _resume(self) -> None:
        if not self._reader_paused:
            return
        self._reader_paused = False
        self._proto.resume_reading(self._loop.time())
        self._stream.resume_reading()
        super()._wake("_timer_wake")

    def _wake(self, name: str) -> None:
        if name == "_changed":
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        elif name == "_space":
            self._resume()
        else:
            super()._wake(name)
