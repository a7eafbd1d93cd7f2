"""WebSocket over TCP/TLS with anyio (asyncio or trio): the shell around the sans-IO machine.

All protocol decisions live in :mod:`adk_realtime.sansio.websocket.connection`; this module
moves bytes, reads the clock and runs tasks. Client::

    async with open_websocket("wss://host/path", headers=[("Authorization", ...)]) as ws:
        await ws.send("hello")
        async for message in ws:      # str or bytes; ends on a normal close
            ...

or ``ws = await connect(url, task_group=tg)`` ... ``await ws.aclose()`` when you own a
task group: trio has no detached tasks, so the connection's run in yours.
Server: ``async with serve(handler, "127.0.0.1", 0) as server:`` runs ``handler(ws)`` per
connection (:mod:`adk_realtime.drivers.websocket_server`, re-exported here).

Per open connection three tasks run: the *reader* (socket -> ``receive_data``
-> flush -> messages into a bounded inbox; when the inbox holds
``receive_queue_size`` messages it stops reading, so TCP pushes back on the
peer), the *writer* (drains the bounded send queue of ``send_queue_size``
messages; a full queue makes ``send`` wait) and the *timer* (sleeps until
``get_timer()``, then ``handle_timer``). The first task to see ``Closed``
flushes the last bytes, closes the socket and cancels the other two. (The asyncio
fast path, ``_asyncio_ws``, reads in the transport's callback and writes at once.)

Keepalive caveat (as in every library that pushes back): an application that
stops reading for longer than ``pong_timeout`` also stops the pongs from being
read, and the connection then ends with 1011 "pong timeout".
"""

from __future__ import annotations

import inspect
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

import anyio
import anyio.abc

from adk_realtime.sansio.errors import (
    ConfigError,
    ConnectionClosed,
    LocalProtocolError,
    ProtocolError,
    RealtimeError,
)
from adk_realtime.sansio.websocket.connection import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Accepted,
    Closed,
    ConnectRequest,
    Headers,
    Message,
    Rejected,
    WebSocketClient,
    WebSocketServer,
    check_close_args,
    check_text_message,
    redact_target,
)
from adk_realtime.sansio.websocket.events import redact_secrets, secret_parts
from adk_realtime.sansio.websocket.url import parse_websocket_url

if TYPE_CHECKING:  # websocket_server imports this module: a runtime import would be a cycle
    from adk_realtime.drivers.websocket_server import Handler, WebSocketServerHandle, serve

__all__ = [
    "ClientOptions",
    "ConnectError",
    "Handler",
    "HandshakeRejected",
    "RejectCallback",
    "WebSocketConnection",
    "WebSocketServerHandle",
    "connect",
    "open_websocket",
    "serve",
]

log = logging.getLogger("adk_realtime.drivers.websocket")

_READ_SIZE = 65536
_WRITE_BATCH = 64  # messages encoded per socket write...
# ...and at most about this many bytes, so that a ping waits for one short write at most
# (its pong deadline runs from when it was queued) even while large messages go out.
_WRITE_BATCH_BYTES = 256 * 1024
_TRANSPORT_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
# A peer's close that is not a failure (1005: its close frame carried no code).
_NORMAL_CLOSE_CODES = (1000, 1001, 1005)

RejectCallback = Callable[
    [str, Headers], tuple[int, str] | Awaitable[tuple[int, str] | None] | None
]
"""``reject(target, headers)``: ``(status, body)`` refuses the upgrade, ``None`` accepts it."""


class HandshakeRejected(RealtimeError):
    """The server answered the upgrade with an HTTP error (``status``, ``headers``, ``body``).

    ``body`` holds at most 64 KiB. The message shows the start of the body with
    every request header value removed, so it is safe to log.
    """

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        *,
        redact: Sequence[str] = (),
        url: str = "",
    ) -> None:
        # A server may echo a credential, whole or just its token ("Bearer <token>").
        # Cut it out before shortening the text: a cut would keep the start of a key.
        snippet = redact_secrets(body.decode("utf-8", "replace"), secret_parts(redact))
        snippet = snippet[:300].strip()
        message = f"WebSocket handshake rejected with HTTP {status}"
        if url:
            message = f"{url}: {message}"
        location = next((v for k, v in headers if k.lower() == "location"), None)
        if 300 <= status < 400 and location:
            message += (
                f" (redirected to {redact_target(location)}; redirects are not followed: "
                "connect to that URL)"
            )
        super().__init__(f"{message}: {snippet}" if snippet else message)
        self.url = url  # where the request went, credentials in its query hidden
        self.status = status
        self.headers = headers
        self.body = body


class ConnectError(RealtimeError):
    """The TCP connection, TLS handshake or WebSocket handshake failed or timed out."""


@dataclass(frozen=True, slots=True)
class _CloseRequest:
    code: int
    reason: str


class _DropRequest:
    """In the send queue: what precedes it is written, then the write side is shut."""

    def __init__(self) -> None:
        self.written = anyio.Event()


_Outgoing = str | bytes | _CloseRequest | _DropRequest


class WebSocketConnection:
    """One open WebSocket, either role. Made by :func:`open_websocket`, :func:`connect`
    or :func:`serve`; not constructed directly."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        proto: WebSocketClient | WebSocketServer,
        *,
        send_queue_size: int,
        receive_queue_size: int,
        close_timeout: float,
        label: str,
    ) -> None:
        if send_queue_size < 1:
            raise ConfigError("send_queue_size", f"must be >= 1, got {send_queue_size}")
        if receive_queue_size < 1:
            raise ConfigError("receive_queue_size", f"must be >= 1, got {receive_queue_size}")
        self._stream = stream
        self._proto = proto
        self._label = label
        self._close_timeout = close_timeout
        self._receive_limit = receive_queue_size
        self._inbox: deque[str | bytes] = deque()
        self._send_tx, self._send_rx = anyio.create_memory_object_stream[_Outgoing](send_queue_size)
        self._write_lock = anyio.Lock()
        self._changed = anyio.Event()  # inbox grew or the connection ended
        self._space = anyio.Event()  # the app made room in the inbox
        self._timer_wake = anyio.Event()
        self._timer_seen: float | None = None
        self._reader_paused = False
        self._paused_event = anyio.Event()  # set once the reader first pushes back (tests)
        self._done = anyio.Event()  # socket closed, tasks finishing
        self._close_info: tuple[int | None, str] | None = None
        self._close_requested: _CloseRequest | None = None
        self._error: ProtocolError | None = None
        self._finishing = False
        self._scope: anyio.CancelScope | None = None
        self._dropping = False  # drop() was called: nothing more may be sent
        self._stalled = False  # stall() was called: nothing more is read
        self._dropped = False  # the write side is shut: read and discard until the peer's EOF

    def __repr__(self) -> str:
        return f"WebSocketConnection({self._label}, state={self._proto.state.value})"

    # -- public API --------------------------------------------------------

    @property
    def close_code(self) -> int | None:
        """The close code once closed (1006: lost without a close frame), else ``None``."""
        return self._close_info[0] if self._close_info else None

    @property
    def close_reason(self) -> str:
        return self._close_info[1] if self._close_info else ""

    @property
    def closed(self) -> bool:
        return self._close_info is not None

    @property
    def subprotocol(self) -> str | None:
        return self._proto.subprotocol

    @property
    def request_target(self) -> str:
        """The request target (path and query): the client's request on the server side."""
        if isinstance(self._proto, WebSocketClient):
            return self._proto.target
        request = self._proto.request
        return request.target if request else ""

    @property
    def request_headers(self) -> Headers:
        """Server side: the client's request headers; client side: the extra headers sent."""
        if isinstance(self._proto, WebSocketClient):
            return self._proto.request_headers
        request = self._proto.request
        return request.headers if request else ()

    @property
    def response_headers(self) -> Headers:
        """Client side: the headers of the server's 101 answer."""
        if isinstance(self._proto, WebSocketClient):
            return self._proto.response_headers
        return ()

    @property
    def pending_messages(self) -> int:
        """Messages received and not yet taken by :meth:`receive`."""
        return len(self._inbox)

    async def send(self, message: str | bytes) -> None:
        """Queue one message (``str``: text, bytes-like: binary) for the writer.

        Waits while ``send_queue_size`` messages are already queued; raises
        :class:`ConnectionClosed` once the connection is closing or closed, and
        :class:`LocalProtocolError` for a ``str`` that is not valid Unicode (a
        lone surrogate has no UTF-8 form): that message is refused here, nothing
        is sent and the connection stays open.
        """
        if isinstance(message, str):
            check_text_message(message)
        elif not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError(f"a message is str or bytes, not {type(message).__name__}")
        if self._close_info is not None or self._close_requested is not None or self._dropping:
            raise self._closed_error()
        if not isinstance(message, str | bytes):
            message = bytes(message)  # the caller may reuse its buffer once we return
        try:
            await self._send_tx.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise self._closed_error() from None

    async def send_many(self, messages: Iterable[str | bytes]) -> None:
        """Send ``messages`` in order, as :meth:`send` each (the asyncio fast path
        writes them at once, with one checkpoint)."""
        for message in messages:
            await self.send(message)

    async def receive(self) -> str | bytes:
        """The next whole message; raises :class:`ConnectionClosed` once closed.

        Messages that arrived before the close are still returned first.
        """
        while True:
            if self._inbox:
                message = self._inbox.popleft()
                if self._reader_paused and len(self._inbox) < self._receive_limit:
                    self._wake("_space")
                return message
            if self._close_info is not None:
                raise self._closed_error()
            await self._changed.wait()

    def __aiter__(self) -> WebSocketConnection:
        return self

    async def __anext__(self) -> str | bytes:
        """Iteration ends on a normal close (1000/1001, an empty close frame reported
        as 1005, or one we asked for)."""
        try:
            return await self.receive()
        except ConnectionClosed as exc:
            if exc.code in _NORMAL_CLOSE_CODES or self._close_requested is not None:
                raise StopAsyncIteration from None
            raise

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close politely: messages already queued go first, then the close frame.

        Returns once the peer answered, or after ``close_timeout`` + 1 s at
        most (then the socket is simply closed). Idempotent.
        """
        check_close_args(code, reason)
        with anyio.move_on_after(self._close_timeout + 1.0):
            if self._close_info is None and self._close_requested is None:
                request = _CloseRequest(code, reason)
                self._close_requested = request
                self._wake("_space")  # a paused reader must read the close answer
                try:
                    await self._send_tx.send(request)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
            await self._done.wait()
        if not self._done.is_set():
            await self._abort("aclose timed out")

    async def drop(self) -> None:
        """End the connection as a network failure would: no closing handshake.

        Messages already queued are written first; then the write side is shut (TCP FIN; TLS
        cannot half-close, so there the socket is closed), so the peer reads everything sent,
        then the end of the stream without a close frame (1006 on its side). What the peer
        sends afterwards is read and discarded until it closes (``close_timeout`` at most).
        For fault injection (the simulator's ``drop_after``). Idempotent.
        """
        if self._close_info is not None or self._close_requested is not None or self._dropping:
            await self._done.wait()
            return
        self._dropping = True
        request = _DropRequest()
        with anyio.move_on_after(self._close_timeout):
            try:
                await self._send_tx.send(request)
                await request.written.wait()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the connection ended meanwhile
            await self._done.wait()
        if not self._done.is_set():
            await self._abort("dropped; the peer did not close")

    def stall(self) -> None:
        """Fault injection (the simulator's half-dead server): read nothing more, so nothing
        the peer sends, pings included, is answered; the socket stays open until closed."""
        self._stalled = True

    async def _shut_write(self) -> None:
        async with self._write_lock:  # after any write under way
            self._dropped = True
            try:
                await self._stream.send_eof()
            except NotImplementedError:
                await anyio.aclose_forcefully(self._stream)
            except _TRANSPORT_ERRORS:
                pass  # already gone: the reader sees the end

    async def __aenter__(self) -> WebSocketConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            await self.aclose(1000 if exc_info[0] is None else 1011)

    # -- the tasks ---------------------------------------------------------

    async def _run(self, shield: bool = False) -> None:
        """Reader, writer and timer until the connection ends; then the socket is closed.

        ``shield=True`` keeps the tasks alive through an outer cancellation so
        that the ``aclose()`` its owner is guaranteed to call (bounded by
        ``close_timeout``) can still close politely.
        """
        with anyio.CancelScope(shield=shield):
            try:
                async with anyio.create_task_group() as tg:
                    self._scope = tg.cancel_scope
                    tg.start_soon(self._reader)
                    tg.start_soon(self._writer)
                    tg.start_soon(self._timer)
            finally:
                with anyio.CancelScope(shield=True):
                    await self._abort("connection tasks ended")

    async def _reader(self) -> None:
        while True:
            self._pump_events()
            if self._close_info is not None:
                break
            if self._close_requested is not None:
                # The app is closing and reads no more: keep reading (the close
                # answer must get through) but hold no more than the limit.
                while len(self._inbox) > self._receive_limit:
                    self._inbox.pop()
            while (
                len(self._inbox) >= self._receive_limit
                and self._close_info is None
                and self._close_requested is None
            ):
                space = self._space
                self._reader_paused = True
                self._paused_event.set()
                self._proto.pause_reading(anyio.current_time())  # unread pongs are not silence
                self._wake("_timer_wake")
                try:
                    await space.wait()
                finally:
                    self._reader_paused = False
                    self._proto.resume_reading(anyio.current_time())
                    self._wake("_timer_wake")
            if self._close_info is not None:
                break
            data = await self._read_chunk()
            if self._stalled:
                await anyio.sleep_forever()  # half-dead: what came is never read, nor answered
            if self._dropped and data:
                continue  # dropped: the peer's bytes go nowhere until its end of stream
            try:
                self._proto.receive_data(data, anyio.current_time())
            except ProtocolError as exc:
                self._error = exc  # the machine already queued its close and Closed
                log.debug("%s: %s", self._label, exc)
            await self._flush()
        await self._finish()

    async def _writer(self) -> None:
        while True:
            try:
                first = await self._send_rx.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return
            batch = [first]
            size = len(first) if isinstance(first, str | bytes) else 0
            while len(batch) < _WRITE_BATCH and size < _WRITE_BATCH_BYTES:
                try:
                    item = self._send_rx.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                batch.append(item)
                size += len(item) if isinstance(item, str | bytes) else 0
            for item in batch:
                if isinstance(item, _DropRequest):
                    await self._flush()
                    await self._shut_write()
                    item.written.set()
                    return
                if isinstance(item, _CloseRequest):
                    self._proto.close(item.code, item.reason, now=anyio.current_time())
                else:
                    try:
                        self._proto.send_message(item)
                    except LocalProtocolError:
                        pass  # closing: the sender learns it from ConnectionClosed
            await self._flush()
            self._pump_events()
            if self._close_info is not None:
                await self._finish()
                return

    async def _timer(self) -> None:
        while True:
            wake = self._timer_wake
            deadline = self._proto.get_timer()
            self._timer_seen = deadline
            if deadline is None:
                await wake.wait()
                continue
            delay = deadline - anyio.current_time()
            if delay > 0:
                with anyio.move_on_after(delay):
                    await wake.wait()
                continue
            self._proto.handle_timer(anyio.current_time())
            await self._flush()
            self._pump_events()
            if self._close_info is not None:
                await self._finish()
                return

    # -- helpers -----------------------------------------------------------

    def _wake(self, name: str) -> None:
        event: anyio.Event = getattr(self, name)
        event.set()
        setattr(self, name, anyio.Event())

    def _pump_events(self) -> None:
        """Move the machine's events into the inbox (sync, so no task interleaves)."""
        grew = False
        while (event := self._proto.next_event()) is not None:
            if isinstance(event, Message):
                self._inbox.append(event.data)
                grew = True
            elif isinstance(event, Closed):
                self._close_info = (event.code, event.reason)
                grew = True
        if grew:
            self._wake("_changed")
        if self._proto.get_timer() != self._timer_seen:
            self._wake("_timer_wake")

    async def _flush(self) -> None:
        """Write what the machine queued; a dead socket is fed to it as EOF."""
        if self._dropped or not self._proto.has_data_to_send:
            return  # the common case on the read path: no lock, no checkpoint
        async with self._write_lock:
            data = self._proto.data_to_send()
            if not data:
                return
            try:
                await self._stream.send(data)
            except _TRANSPORT_ERRORS:
                self._proto.receive_data(b"", anyio.current_time())

    async def _finish(self) -> None:
        """Called by the first task that sees ``Closed``: last bytes, socket, other tasks."""
        if self._finishing:
            return
        self._finishing = True
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(min(self._close_timeout, 2.0)):
                await self._flush()
            await self._close_transport()
        if self._scope is not None:
            self._scope.cancel()

    async def _close_transport(self) -> None:
        self._send_rx.close()  # blocked senders get ConnectionClosed
        self._send_tx.close()
        with anyio.move_on_after(1.0):
            try:
                await self._stream.aclose()
            except Exception:  # a broken socket may fail to close; it is gone anyway
                pass
        if self._close_info is None:
            self._close_info = (1006, "connection aborted")
        self._done.set()
        self._wake("_changed")
        self._wake("_space")

    async def _abort(self, why: str) -> None:
        if self._close_info is None:
            self._proto.receive_data(b"", anyio.current_time())
            self._pump_events()
            log.debug("%s: %s", self._label, why)
        if self._scope is not None:
            self._scope.cancel()
        if not self._done.is_set():
            with anyio.CancelScope(shield=True):
                await self._close_transport()

    def _closed_error(self) -> ConnectionClosed:
        if self._close_info is not None:
            code, reason = self._close_info
        elif self._close_requested is not None:
            code, reason = self._close_requested.code, "closed by this side"
        elif self._dropping:
            code, reason = 1006, "dropped by this side"
        else:  # pragma: no cover - callers check first
            code, reason = None, "closed"
        exc = ConnectionClosed(code, reason)
        exc.__cause__ = self._error
        return exc

    # -- handshakes (before the tasks start) ---------------------------------

    async def _read_chunk(self) -> bytes:
        """The next bytes from the socket; ``b""`` (end of stream) for EOF or a dead transport."""
        try:
            return await self._stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, *_TRANSPORT_ERRORS):
            return b""

    async def _read_into_machine(self) -> None:
        data = await self._read_chunk()
        try:
            self._proto.receive_data(data, anyio.current_time())
        finally:
            await self._flush()

    async def _client_handshake(self, redact: Sequence[str]) -> None:
        assert isinstance(self._proto, WebSocketClient)
        self._proto.initiate(anyio.current_time())
        await self._flush()
        while True:
            while (event := self._proto.next_event()) is not None:
                if isinstance(event, Accepted):
                    return  # messages that came along stay queued for the reader
                if isinstance(event, Rejected):
                    raise HandshakeRejected(
                        event.status, event.headers, event.body, redact=redact, url=self._label
                    )
                if isinstance(event, Closed):
                    raise ConnectError(
                        f"{self._label}: the server closed the connection during the handshake"
                    )
            await self._read_into_machine()

    async def _server_handshake(self, reject: RejectCallback | None) -> bool:
        assert isinstance(self._proto, WebSocketServer)
        while True:
            while (event := self._proto.next_event()) is not None:
                if isinstance(event, ConnectRequest):
                    self._label = f"server {redact_target(event.target)}"
                    verdict = reject(event.target, event.headers) if reject else None
                    if inspect.isawaitable(verdict):
                        verdict = await verdict
                    if verdict is not None:
                        status, body = verdict
                        self._proto.reject(status, body)
                        await self._flush()
                        return False
                    self._proto.accept(now=anyio.current_time())
                    await self._flush()
                    return True
                if isinstance(event, Closed):
                    return False
            await self._read_into_machine()


# -- client ---------------------------------------------------------------------


class ClientOptions(TypedDict, total=False):
    """The keyword options of :func:`connect` and :func:`open_websocket`; all optional.

    ``headers`` extra upgrade-request headers (their values are never logged);
    ``subprotocols`` offered; ``ssl_context`` for ``wss://`` (default: the system
    CAs, verification on); ``max_message_size`` (16 MiB); ``ping_interval``
    (20 s, ``None``: no keepalive), ``pong_timeout`` (20 s), ``close_timeout``
    (5 s); ``connect_timeout`` for TCP, TLS and handshake together (10 s);
    ``send_queue_size`` and ``receive_queue_size`` in messages (64 each);
    ``asyncio_fast_path`` (``None``: on unless ``ADK_REALTIME_ASYNCIO_FAST_PATH=0``): see _asyncio_ws.
    """

    headers: Sequence[tuple[str, str]]
    subprotocols: Sequence[str]
    ssl_context: ssl.SSLContext | None
    max_message_size: int
    ping_interval: float | None
    pong_timeout: float
    close_timeout: float
    connect_timeout: float
    send_queue_size: int
    receive_queue_size: int
    asyncio_fast_path: bool | None


async def _open_client(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ping_interval: float | None = 20.0,
    pong_timeout: float = 20.0,
    close_timeout: float = 5.0,
    connect_timeout: float = 10.0,
    send_queue_size: int = 64,
    receive_queue_size: int = 64,
    asyncio_fast_path: bool | None = None,
) -> WebSocketConnection:
    """Connect and handshake; the defaults of every :class:`ClientOptions` live here."""
    where = parse_websocket_url(url)
    proto = WebSocketClient(
        where.host_header,
        where.target,
        headers=headers,
        subprotocols=subprotocols,
        max_message_size=max_message_size,
        ping_interval=ping_interval,
        pong_timeout=pong_timeout,
        close_timeout=close_timeout,
    )
    if where.secure and ssl_context is None:
        ssl_context = ssl.create_default_context()  # verification on, SNI = host
    stream: anyio.abc.ByteStream | None = None
    try:
        with anyio.fail_after(connect_timeout):
            try:
                if where.secure:
                    assert ssl_context is not None
                    stream = await anyio.connect_tcp(
                        where.host,
                        where.port,
                        ssl_context=ssl_context,
                        tls_hostname=where.host,
                        tls_standard_compatible=False,
                    )
                else:
                    stream = await anyio.connect_tcp(where.host, where.port)
            except ssl.SSLCertVerificationError as exc:
                raise ConnectError(
                    f"{where.label}: TLS certificate verification failed ({exc.verify_message}); "
                    "pass ssl_context= with the right CA if the server uses a private one"
                ) from exc
            except ssl.SSLError as exc:
                raise ConnectError(f"{where.label}: TLS handshake failed ({exc.reason})") from exc
            except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                # e.g. wss:// to a server that speaks plain TCP and hangs up
                raise ConnectError(
                    f"{where.label}: the connection closed during the TLS handshake "
                    "(does the server speak TLS? ws:// is plain)"
                ) from exc
            except OSError as exc:
                raise ConnectError(f"{where.label}: could not connect ({exc})") from exc
            # lazily: _asyncio_ws subclasses WebSocketConnection from this module (a cycle)
            from adk_realtime.drivers._asyncio_ws import client_connection_class

            conn_class, stream = client_connection_class(stream, asyncio_fast_path)
            conn = conn_class(
                stream,
                proto,
                send_queue_size=send_queue_size,
                receive_queue_size=receive_queue_size,
                close_timeout=close_timeout,
                label=where.label,
            )
            try:
                await conn._client_handshake(redact=[v for _, v in headers])
            except BaseException:
                conn._send_tx.close()  # the connection never ran: release its send queue
                conn._send_rx.close()
                raise
            return conn
    except TimeoutError:
        if stream is not None:
            await anyio.aclose_forcefully(stream)
        raise ConnectError(
            f"{where.label}: no WebSocket connection within connect_timeout={connect_timeout} s"
        ) from None
    except BaseException:
        if stream is not None:
            await anyio.aclose_forcefully(stream)
        raise


async def connect(
    url: str, *, task_group: anyio.abc.TaskGroup, **options: Unpack[ClientOptions]
) -> WebSocketConnection:
    """Open a client connection whose tasks run in ``task_group``; ``await ws.aclose()`` it.

    ``options`` are those of :class:`ClientOptions`. Raises :class:`HandshakeRejected`
    for an HTTP error answer, :class:`ConnectError` when the connection, TLS or
    handshake fails or exceeds ``connect_timeout``,
    :class:`~adk_realtime.sansio.websocket.HandshakeError` for a garbled answer.
    """
    conn = await _open_client(url, **options)
    task_group.start_soon(conn._run)
    return conn


@asynccontextmanager
async def open_websocket(
    url: str, **options: Unpack[ClientOptions]
) -> AsyncIterator[WebSocketConnection]:
    """``async with open_websocket(url) as ws``: connect, and close (1000; 1011 on error) on exit.

    ``options`` are those of :class:`ClientOptions`. Same errors as :func:`connect`.
    Exceptions from the body come out unchanged (not wrapped in an exception group).
    """
    conn = await _open_client(url, **options)
    body_error: BaseException | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn._run, True)  # aclose() below always ends it
        try:
            yield conn
        except BaseException as exc:  # re-raised below, outside the task group
            body_error = exc
        finally:
            failed = body_error is not None and isinstance(body_error, Exception)
            with anyio.CancelScope(shield=True):
                await conn.aclose(1011 if failed else 1000)
    if body_error is not None:
        raise body_error


# serve() lives in websocket_server, which imports this module; it is loaded on
# first use so that either module may be imported first.
_SERVER_NAMES = frozenset({"Handler", "WebSocketServerHandle", "serve"})


def __getattr__(name: str) -> object:
    if name in _SERVER_NAMES:
        # lazily, to break the cycle described above
        from adk_realtime.drivers import websocket_server

        return getattr(websocket_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
