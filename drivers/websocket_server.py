"""The WebSocket server: :func:`serve` listens and runs one handler per connection.

A shell like the client in :mod:`adk_realtime.drivers.websocket` (which
re-exports :func:`serve` and :class:`WebSocketServerHandle`): per accepted
socket it wraps TLS if asked, lets :class:`~adk_realtime.sansio.websocket.WebSocketServer`
answer the upgrade (``reject`` may refuse it), then runs the connection's
reader, writer and timer tasks next to ``handler(ws)``. The handler's end
closes the connection: 1000 when it returned, 1011 when it raised, 1001 when
the server is shutting down. Every protocol decision stays in the sans-IO machine.

With an ``http_handler`` the same port answers plain HTTP too (a webhook POST, a
health check): :class:`~adk_realtime.sansio.http_server.HttpServerExchange` reads the
first request; an upgrade goes on as above (the bytes already read are fed to the
WebSocket machine), anything else is answered with ``http_handler(request)`` and the
connection is closed. Without one, every request must be an upgrade, as before.
"""

from __future__ import annotations

import inspect
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc
from anyio.streams.stapled import MultiListener
from anyio.streams.tls import TLSStream

from adk_realtime.drivers._asyncio_ws_server import AsyncioServerConnection, open_accepted
from adk_realtime.drivers.websocket import (
    _TRANSPORT_ERRORS,
    RejectCallback,
    WebSocketConnection,
)
from adk_realtime.sansio.errors import ConnectionClosed, ProtocolError
from adk_realtime.sansio.http_server import (
    DEFAULT_MAX_REQUEST_BODY,
    HttpReply,
    HttpRequest,
    HttpServerExchange,
    UpgradeRequested,
)
from adk_realtime.sansio.websocket.connection import DEFAULT_MAX_MESSAGE_SIZE, WebSocketServer

__all__ = ["Handler", "HttpHandler", "WebSocketServerHandle", "serve"]

# The client's logger: server records kept the name they had before the split.
log = logging.getLogger("adk_realtime.drivers.websocket")

Handler = Callable[[WebSocketConnection], Awaitable[None]]
"""``handler(ws)``: talks to one accepted connection; its return closes it (1000)."""

HttpHandler = Callable[[HttpRequest], HttpReply | Awaitable[HttpReply]]
"""``http_handler(request)``: the answer to one plain (not upgrade) request."""

_READ_SIZE = 65536
_LEAVE_GRACE = 2.0  # seconds a leaving server gives the requests it accepted


@dataclass(frozen=True, slots=True)
class WebSocketServerHandle:
    """What :func:`serve` yields: where the server listens."""

    host: str
    port: int
    secure: bool

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.secure else 'ws'}://{host}:{self.port}"


@asynccontextmanager
async def serve(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    reject: RejectCallback | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ping_interval: float | None = None,
    pong_timeout: float = 20.0,
    close_timeout: float = 5.0,
    handshake_timeout: float = 10.0,
    send_queue_size: int = 64,
    receive_queue_size: int = 64,
    http_handler: HttpHandler | None = None,
    max_request_body: int = DEFAULT_MAX_REQUEST_BODY,
    sock: socket.socket | None = None,
    asyncio_fast_path: bool | None = None,
) -> AsyncIterator[WebSocketServerHandle]:
    """Listen on ``host:port`` (0: any free port) and run ``handler(ws)`` per connection.

    ``reject(target, headers)`` may return ``(status, body)`` to refuse an
    upgrade (sync or async). When the handler returns the connection is closed
    with 1000 (1011 if it raised). ``http_handler(request)`` (sync or async)
    answers requests that are not upgrades, whose body is read up to
    ``max_request_body`` bytes (413 beyond); it raising is answered with 500.
    ``handshake_timeout`` bounds the reading of a request. Leaving the ``async
    with`` stops listening, gives the requests already accepted up to 2 s to be
    answered (a worker leaving after its drain still answers a scrape it took), and
    cancels every handler. ``sock``: a TCP socket already
    bound and listening (shared by worker processes) to accept on instead of binding
    ``host:port``; it is closed on the way out. ``asyncio_fast_path`` (``None``: on unless
    ``ADK_REALTIME_ASYNCIO_FAST_PATH=0``): plain TCP connections on asyncio are read in the
    transport's callback and sent to at once (``_asyncio_ws_server``).
    """
    if sock is not None:
        listener = MultiListener([await anyio.abc.SocketListener.from_socket(sock)])
    else:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    handle = WebSocketServerHandle(host, bound, ssl_context is not None)

    # Connections still reading or answering their first (plain HTTP) request: leaving
    # lets them finish (a scrape or a webhook that a draining worker had accepted).
    first_requests = _Pending()

    async def one_connection(client: socket.socket) -> None:
        first_requests.add()
        in_first_request = True
        stream: anyio.abc.ByteStream | None = None

        def first_request_over() -> None:
            nonlocal in_first_request
            if in_first_request:
                in_first_request = False
                first_requests.remove()

        conn_class: type[WebSocketConnection] = WebSocketConnection
        try:
            fast = None if ssl_context else await open_accepted(client, asyncio_fast_path)
            if fast is not None:
                stream, conn_class = fast, AsyncioServerConnection
            else:
                stream = await anyio.abc.SocketStream.from_socket(client)
            if ssl_context is not None:
                with anyio.fail_after(handshake_timeout):
                    stream = await TLSStream.wrap(
                        stream, server_side=True, ssl_context=ssl_context, standard_compatible=False
                    )
            proto = WebSocketServer(
                max_message_size=max_message_size,
                ping_interval=ping_interval,
                pong_timeout=pong_timeout,
                close_timeout=close_timeout,
            )
            if http_handler is not None:
                with anyio.fail_after(handshake_timeout):
                    upgrade = await _read_request(stream, http_handler, max_request_body)
                if upgrade is None:
                    return  # a plain request, answered
                await _feed_upgrade(stream, proto, upgrade)
            first_request_over()
            conn = conn_class(
                stream,
                proto,
                send_queue_size=send_queue_size,
                receive_queue_size=receive_queue_size,
                close_timeout=close_timeout,
                label="server",
            )
            with anyio.fail_after(handshake_timeout):
                accepted = await conn._server_handshake(reject)
            if accepted:
                await _run_handler(conn, handler)
        except (ProtocolError, TimeoutError, *_TRANSPORT_ERRORS, anyio.EndOfStream) as exc:
            log.debug("WebSocket connection ended early: %s", exc)
        except Exception:
            log.exception("WebSocket server connection failed")
        finally:
            first_request_over()
            if stream is None:
                client.close()  # never wrapped (cancelled, or the peer left at once)
            else:
                with anyio.CancelScope(shield=True):
                    await anyio.aclose_forcefully(stream)

    async def accept_loop(sock_listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup) -> None:
        # Wait for the socket to be readable, then accept ourselves: leaving cancels only
        # the wait, never an accept in flight (asyncio 3.11's sock_accept, cancelled in
        # the iteration the kernel completed a connection, lost it). One connection per
        # wake, so worker processes sharing the socket share the connections too.
        raw: socket.socket = sock_listener.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setblocking(False)
        while True:
            await anyio.wait_readable(raw)
            try:
                client, _ = raw.accept()
            except BlockingIOError:
                continue  # another worker took it
            except OSError as exc:  # e.g. out of file descriptors: back off, keep serving
                log.warning("accept() failed: %s", exc)
                await anyio.sleep(0.1)
                continue
            try:
                client.setblocking(False)
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:  # the peer already left: nothing to answer
                log.debug("an accepted connection could not be used: %s", exc)
                client.close()
                continue
            tg.start_soon(one_connection, client)  # it owns (and closes) the socket

    body_error: BaseException | None = None
    try:
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as accepting:
                for sock_listener in listener.listeners:
                    assert isinstance(sock_listener, anyio.abc.SocketListener)
                    accepting.start_soon(accept_loop, sock_listener, tg)
                try:
                    yield handle
                except BaseException as exc:  # re-raised below, outside the task groups
                    body_error = exc
                finally:
                    accepting.cancel_scope.cancel()
            if body_error is None:  # leaving normally: answer what was accepted
                with anyio.move_on_after(min(handshake_timeout, _LEAVE_GRACE)):
                    await first_requests.wait_none()
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()
    if body_error is not None:
        raise body_error


class _Pending:
    """How many connections are in their first request, and a wait for none to be."""

    def __init__(self) -> None:
        self.count = 0
        self._none: anyio.Event | None = None

    def add(self) -> None:
        self.count += 1

    def remove(self) -> None:
        self.count -= 1
        if self.count == 0 and self._none is not None:
            self._none.set()

    async def wait_none(self) -> None:
        while self.count:
            self._none = anyio.Event()
            await self._none.wait()


async def _read_request(
    stream: anyio.abc.ByteStream, http_handler: HttpHandler, max_body: int
) -> UpgradeRequested | None:
    """Read the connection's first request: an upgrade is returned, anything else is
    answered with ``http_handler`` (None then)."""
    exchange = HttpServerExchange(max_body_size=max_body)
    while True:
        try:
            data = await stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            data = b""
        try:
            exchange.receive_data(data, anyio.current_time())
        finally:
            if out := exchange.data_to_send():  # a 100 Continue, or the answer to a bad request
                await stream.send(out)
        event = exchange.next_event()
        if isinstance(event, UpgradeRequested):
            return event
        if event is not None:
            request = event
            break
    try:
        answer = http_handler(request)
        reply = await answer if inspect.isawaitable(answer) else answer
    except Exception:
        log.exception("HTTP handler %r failed", getattr(http_handler, "__name__", http_handler))
        reply = HttpReply.text(500, "Internal Server Error")
    exchange.respond(reply)
    await stream.send(exchange.data_to_send())
    return None


async def _feed_upgrade(
    stream: anyio.abc.ByteStream, proto: WebSocketServer, upgrade: UpgradeRequested
) -> None:
    """Give the WebSocket machine the bytes the HTTP reading took in (it reads the rest)."""
    try:
        proto.receive_data(upgrade.data, anyio.current_time())
    finally:
        if out := proto.data_to_send():  # the 400 of a bad upgrade request
            await stream.send(out)


async def _run_handler(conn: WebSocketConnection, handler: Handler) -> None:
    code = 1000
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn._run, True)  # aclose() below always ends it
        try:
            await handler(conn)
        except ConnectionClosed:
            pass  # the peer went away while the handler was talking: not an error
        except anyio.get_cancelled_exc_class():
            code = 1001  # the server is shutting down
            raise
        except Exception:
            log.exception("WebSocket handler %r failed", getattr(handler, "__name__", handler))
            code = 1011
        finally:
            with anyio.CancelScope(shield=True):
                await conn.aclose(code)
