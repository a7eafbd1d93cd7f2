"""The server side of one HTTP/1.1 request over h11, sans-IO: answered, or handed on as an upgrade.

Theory of operation
-------------------
A server that speaks WebSocket also has to answer plain requests on the same port: a
phone carrier's webhook is a POST, a load balancer's health check a GET. `HttpServerExchange`
reads the first request of a fresh connection and decides which it is:

* an upgrade (``Upgrade: websocket``): the event is `UpgradeRequested`, carrying every
  byte received so far; the driver feeds them to a
  :class:`~adk_realtime.sansio.websocket.connection.WebSocketServer` and goes on with it;
* any other request: its body is read, up to ``max_body_size`` bytes, and the event is
  the whole `HttpRequest`; the driver answers with `HttpServerExchange.respond` (an
  `HttpReply`), writes `HttpServerExchange.data_to_send` and closes the connection.

One request per connection (the answer says ``Connection: close``): a webhook is one
POST, and no keep-alive state has to be managed or bounded. h11 does the framing; this
file adds the limits and turns bad input into `BadRequest`, whose ``status`` (400, 413,
431) is also queued as the answer, so the driver flushes, closes and logs::

    state      input                                       -> next      event / output
    READING    receive_data() completes an upgrade's head  -> UPGRADE   UpgradeRequested
    READING    receive_data() completes a request          -> REQUEST   HttpRequest
    READING    malformed, too large, early end             -> FAILED    raises BadRequest
    REQUEST    respond(reply)                              -> ANSWERED  the reply's bytes

Driving loop::

    while (event := exchange.next_event()) is None:
        exchange.receive_data(sock.recv(), now)       # b"" once the client closed
    if isinstance(event, UpgradeRequested): ws = WebSocketServer(); ws.receive_data(event.data, now)
    else: exchange.respond(handle(event)); sock.send(exchange.data_to_send()); sock.close()

The exchange keeps no timers: the driver bounds the whole read (a client that sends
one byte a minute is the driver's to cut off).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import h11

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError, ProtocolError

__all__ = [
    "DEFAULT_MAX_REQUEST_BODY",
    "BadRequest",
    "HttpReply",
    "HttpRequest",
    "HttpServerExchange",
    "UpgradeRequested",
]

DEFAULT_MAX_REQUEST_BODY = 64 * 1024  # a carrier's webhook is a few KiB of form fields
_MAX_HEAD = 16 * 1024  # request line and headers
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    426: b"Upgrade Required",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


class BadRequest(ProtocolError):
    """The client's request is not one this server reads; ``status`` is the answer that
    was queued (400 malformed or cut short, 413 body too large, 431 head too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _lower_headers(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in raw)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A whole plain request. Header names are lower case; ``body`` (which may carry a
    caller's number) is left out of ``repr``, as is the query."""

    method: str
    target: str = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes = field(default=b"", repr=False)

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        """The target's query (after ``?``), or ``""``."""
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)


@dataclass(frozen=True, slots=True)
class UpgradeRequested:
    """The request asks for a WebSocket: feed ``data`` (every byte received, the request
    and anything after it) to a ``WebSocketServer``, which answers the upgrade."""

    target: str = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class HttpReply:
    """An answer to an `HttpRequest`. ``headers`` are extra (``Content-Type``,
    ``Content-Length`` and ``Connection: close`` are written for you); the body may be
    call markup holding a caller's number, so ``repr`` leaves it out."""

    status: int
    body: bytes = field(default=b"", repr=False)
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, status: int, message: str, *headers: tuple[str, str]) -> HttpReply:
        """A short plain-text answer (``message`` and a newline)."""
        return cls(status, f"{message}\n".encode(), headers=headers)


class _State(enum.Enum):
    READING = "reading"
    UPGRADE = "upgrade"
    REQUEST = "request"
    ANSWERED = "answered"
    FAILED = "failed"


def _error_bytes(status: int, message: str) -> bytes:
    """A complete answer built by hand (h11 may be in its error state)."""
    body = f"{message}\n".encode("utf-8", "replace")
    reason = _REASONS.get(status, b"Error")
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(body), body)
    )


class HttpServerExchange:
    """Our side of one request on a fresh connection (see the module docstring).

    ``max_body_size`` bounds the body read into memory (a longer one is refused with
    413 before it is read, when its length is declared). Feed what the socket reads to
    `receive_data`, then ask `next_event`.
    """

    def __init__(self, *, max_body_size: int = DEFAULT_MAX_REQUEST_BODY) -> None:
        if type(max_body_size) is not int or max_body_size < 0:
            raise ConfigError("max_body_size", f"must be a number of bytes, not {max_body_size!r}")
        self.max_body_size = max_body_size
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        self._state = _State.READING
        self._raw = bytearray()  # what came in until the request head was complete
        self._method = ""
        self._target = ""
        self._headers: tuple[tuple[str, str], ...] = ()
        self._body = bytearray()
        self._event: HttpRequest | UpgradeRequested | None = None
        self._out = bytearray()

    def __repr__(self) -> str:
        return f"<HttpServerExchange {self._method or '-'} {self._state.value}>"

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the client at ``now`` (``b""`` once it closed its side).

        Then ask `next_event`. Raises `BadRequest` for a request this exchange refuses
        (its answer is queued: write `data_to_send`, then close). Bytes after a whole
        request are ignored; feeding after a failure raises `LocalProtocolError`.
        """
        if self._state is _State.FAILED:
            raise LocalProtocolError("this exchange already failed; close the connection")
        if self._state is not _State.READING:
            return
        if len(self._raw) <= _MAX_HEAD + 1:
            self._raw += data  # kept only until the head is whole: an upgrade needs it all
        try:
            self._conn.receive_data(bytes(data))
            self._read_events()
        except h11.RemoteProtocolError as exc:
            status = 431 if exc.error_status_hint == 431 else 400
            # h11's message may quote the request line, which can carry a token: not kept.
            self._fail(status, "malformed request (not HTTP/1.1, or a header too long or bad)")
        except BadRequest as exc:
            self._fail(exc.status, str(exc).partition(": ")[2])

    def next_event(self) -> HttpRequest | UpgradeRequested | None:
        """The request (`HttpRequest`) or the upgrade (`UpgradeRequested`) once it is
        whole, given once; None before (read more) and after."""
        event, self._event = self._event, None
        return event

    def respond(self, reply: HttpReply) -> None:
        """Answer the `HttpRequest` with ``reply``; then write `data_to_send` and close.

        Raises `LocalProtocolError` if there is no request to answer (or it was
        answered) or the reply cannot be written (a status outside 200-599, a header
        value with a line break).
        """
        if self._state is not _State.REQUEST:
            raise LocalProtocolError(f"respond() needs a whole request (state {self._state.value})")
        if not 200 <= reply.status <= 599:
            raise LocalProtocolError(f"an answer's status is 200-599, got {reply.status}")
        headers = [
            (n, v) for n, v in reply.headers if n.lower() not in ("content-length", "connection")
        ]
        if not any(n.lower() == "content-type" for n, _ in headers) and reply.body:
            headers.append(("content-type", reply.content_type))
        headers += [("content-length", str(len(reply.body))), ("connection", "close")]
        try:
            out = (
                self._conn.send(
                    h11.Response(
                        status_code=reply.status,
                        headers=headers,
                        reason=_REASONS.get(reply.status, b""),
                    )
                )
                or b""
            )
            if reply.body and self._method != "HEAD":
                out += self._conn.send(h11.Data(data=reply.body)) or b""
            out += self._conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"cannot write the answer: {exc}") from None
        self._out += out
        self._state = _State.ANSWERED

    def data_to_send(self) -> bytes:
        """Bytes to write now (a ``100 Continue``, the answer, or an error answer)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- inside --------------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        self._state = _State.FAILED
        self._raw.clear()
        self._body.clear()
        self._out += _error_bytes(status, _REASONS.get(status, b"Error").decode())
        raise BadRequest(status, message)

    def _read_events(self) -> None:
        while self._state is _State.READING:
            event = self._conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._on_head(event)
            elif isinstance(event, h11.Data):
                if len(self._body) + len(event.data) > self.max_body_size:
                    raise BadRequest(413, f"the body is over {self.max_body_size} bytes")
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._state = _State.REQUEST
                self._event = HttpRequest(
                    self._method, self._target, self._headers, bytes(self._body)
                )
                self._body.clear()
            elif isinstance(event, h11.ConnectionClosed):
                raise BadRequest(400, "the client closed the connection before a whole request")

    def _on_head(self, request: h11.Request) -> None:
        self._method = request.method.decode("ascii", "replace").upper()
        self._target = request.target.decode("latin-1")
        self._headers = _lower_headers(list(request.headers))
        upgrade = next((v for k, v in self._headers if k == "upgrade"), "")
        if "websocket" in upgrade.lower():
            self._state = _State.UPGRADE
            self._event = UpgradeRequested(self._target, self._headers, bytes(self._raw))
            self._raw.clear()
            return
        self._raw.clear()
        if not self._target.startswith("/"):  # origin form only: no proxy, no OPTIONS *
            raise BadRequest(400, "the request target is not an absolute path")
        length = next((v for k, v in self._headers if k == "content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.max_body_size:
            raise BadRequest(413, f"the body is over {self.max_body_size} bytes")
        if self._conn.they_are_waiting_for_100_continue:
            self._out += (
                self._conn.send(
                    h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                )
                or b""
            )
