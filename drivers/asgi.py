"""A plain ASGI 3 application around the callables our own server takes.

:func:`asgi_app` turns ``handler(ws)``, ``reject(target, headers)`` and
``http_handler(request)`` (the arguments of
:func:`~adk_realtime.drivers.websocket_server.serve`) into an ASGI callable, so the
same code runs under uvicorn, hypercorn (asyncio or trio) or mounted in a
Starlette/FastAPI app, with no framework installed:

* ``http``: the body is read up to ``max_request_body`` bytes (413 beyond, before
  reading it when its length is declared), handed over as an
  :class:`~adk_realtime.sansio.http_server.HttpRequest`, and the
  :class:`~adk_realtime.sansio.http_server.HttpReply` is sent back;
* ``websocket``: ``reject`` may refuse the upgrade, with its status and body when
  the server offers the ``websocket.http.response`` extension (uvicorn, hypercorn
  do), else with a close before accepting, which the server answers with 403;
  otherwise it is accepted and ``handler`` gets an :class:`AsgiWebSocket` (``send``,
  ``receive``, ``aclose``, ``request_target``: the methods the handler uses on our
  own server's connections). Its return closes the socket with 1000, an exception
  with 1011;
* ``lifespan``: startup and shutdown are acknowledged; with ``lifespan=`` (a function
  returning an async context manager) that context is entered at ``lifespan.startup``
  and left at ``lifespan.shutdown`` in the lifespan task, so the application can hold
  a task group for work that outlives one request (``startup.failed`` if entering it
  raised).

Targets are given without the ``root_path`` a mount adds, query included. The ASGI
server owns the sockets, framing and limits; this module only translates messages.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import anyio

from adk_realtime.drivers.websocket import RejectCallback
from adk_realtime.drivers.websocket_server import HttpHandler
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.http_server import DEFAULT_MAX_REQUEST_BODY, HttpReply, HttpRequest

__all__ = ["AsgiApp", "AsgiHandler", "AsgiWebSocket", "Lifespan", "asgi_app"]

log = logging.getLogger("adk_realtime.drivers.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Lifespan = Callable[[], AbstractAsyncContextManager[object]]


def _headers(scope: Scope) -> tuple[tuple[str, str], ...]:
    return tuple(
        (bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1"))
        for name, value in scope.get("headers", ())
    )


def _target(scope: Scope) -> str:
    """The request's path inside this app (a mount's ``root_path`` removed) and query."""
    path = str(scope.get("path") or "/")
    root = str(scope.get("root_path") or "")
    if root and (path == root or path.startswith(root.rstrip("/") + "/")):
        path = path[len(root.rstrip("/")) :] or "/"
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    return f"{path}?{query}" if query else path


class AsgiWebSocket:
    """One accepted ASGI WebSocket, with the methods of our own server's connections."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._target = _target(scope)
        self._headers = _headers(scope)
        self._closed: tuple[int | None, str] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"AsgiWebSocket({self._target.partition('?')[0]!r}, {state})"

    @property
    def request_target(self) -> str:
        """The upgrade's target (path and query), without a mount's prefix."""
        return self._target

    @property
    def request_headers(self) -> tuple[tuple[str, str], ...]:
        """The upgrade's headers, names lower case."""
        return self._headers

    @property
    def close_code(self) -> int | None:
        """The close code once closed (the peer's, or ours), else None."""
        return self._closed[0] if self._closed else None

    async def send(self, message: str | bytes) -> None:
        """Send one message (``str``: text); raises `ConnectionClosed` once closed."""
        if self._closed is not None:
            raise ConnectionClosed(*self._closed)
        key = "text" if isinstance(message, str) else "bytes"
        try:
            await self._send({"type": "websocket.send", key: message})
        except (OSError, RuntimeError) as exc:  # the server's word for a socket that is gone
            self._closed = (1006, "the connection is gone")
            raise ConnectionClosed(1006, "the connection is gone") from exc

    async def receive(self) -> str | bytes:
        """The next message; raises `ConnectionClosed` when the peer closed."""
        while self._closed is None:
            message = await self._receive()
            kind = message.get("type")
            if kind == "websocket.receive":
                text = message.get("text")
                return text if text is not None else bytes(message.get("bytes") or b"")
            if kind == "websocket.disconnect":
                self._closed = (message.get("code", 1005), str(message.get("reason") or ""))
        raise ConnectionClosed(*self._closed)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code``; idempotent."""
        if self._closed is not None:
            return
        self._closed = (code, reason)
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except (OSError, RuntimeError):
            pass  # already gone: nothing to say goodbye to


AsgiHandler = Callable[[AsgiWebSocket], Awaitable[None]]


def asgi_app(
    handler: AsgiHandler,
    *,
    reject: RejectCallback | None = None,
    http_handler: HttpHandler | None = None,
    max_request_body: int = DEFAULT_MAX_REQUEST_BODY,
    lifespan: Lifespan | None = None,
) -> AsgiApp:
    """An ASGI 3 application serving ``handler``, ``reject`` and ``http_handler`` (see the
    module docstring). Without ``http_handler`` a plain request is answered 404.
    ``lifespan`` is entered at the server's startup and left at its shutdown."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await _serve_http(scope, receive, send, http_handler, max_request_body)
        elif kind == "websocket":
            await _serve_websocket(scope, receive, send, handler, reject)
        elif kind == "lifespan":
            await _serve_lifespan(receive, send, lifespan)

    return app


async def _serve_lifespan(receive: Receive, send: Send, lifespan: Lifespan | None) -> None:
    if (await receive()).get("type") != "lifespan.startup":
        return
    try:
        async with AsyncExitStack() as stack:
            try:
                if lifespan is not None:
                    await stack.enter_async_context(lifespan())
            except Exception as exc:
                log.exception("the application's lifespan failed to start")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            while (await receive()).get("type") != "lifespan.shutdown":
                pass
    except Exception as exc:
        log.exception("the application's lifespan failed to stop")
        await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
        return
    await send({"type": "lifespan.shutdown.complete"})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is over ``limit`` or the client went away."""
    body = bytearray()
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


async def _serve_http(
    scope: Scope, receive: Receive, send: Send, http_handler: HttpHandler | None, limit: int
) -> None:
    headers = _headers(scope)
    method = str(scope.get("method", "GET")).upper()
    length = next((v for k, v in headers if k == "content-length"), "")
    reply: HttpReply
    if http_handler is None:
        reply = HttpReply.text(404, "Not Found")
    elif length.isdigit() and int(length) > limit:
        reply = HttpReply.text(413, "Content Too Large")
    else:
        body = await _read_body(receive, limit)
        if body is None:
            reply = HttpReply.text(413, "Content Too Large")
        else:
            request = HttpRequest(method, _target(scope), headers, body)
            try:
                answer = http_handler(request)
                reply = await answer if inspect.isawaitable(answer) else answer
            except Exception:
                log.exception(
                    "HTTP handler %r failed", getattr(http_handler, "__name__", http_handler)
                )
                reply = HttpReply.text(500, "Internal Server Error")
    raw = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in reply.headers]
    if reply.body and not any(n == b"content-type" for n, _ in raw):
        raw.append((b"content-type", reply.content_type.encode("latin-1")))
    raw.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})


async def _serve_websocket(
    scope: Scope, receive: Receive, send: Send, handler: AsgiHandler, reject: RejectCallback | None
) -> None:
    if (await receive()).get("type") != "websocket.connect":
        return
    verdict = reject(_target(scope), _headers(scope)) if reject is not None else None
    if inspect.isawaitable(verdict):
        verdict = await verdict
    if verdict is not None:
        status, body = verdict
        if "websocket.http.response" in (scope.get("extensions") or {}):
            start = {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
            await send(start)
            await send({"type": "websocket.http.response.body", "body": body.encode()})
        else:
            await send({"type": "websocket.close", "code": 1008})  # answered 403 by the server
        return
    await send({"type": "websocket.accept"})
    ws = AsgiWebSocket(scope, receive, send)
    code = 1000
    try:
        await handler(ws)
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
            await ws.aclose(code)
