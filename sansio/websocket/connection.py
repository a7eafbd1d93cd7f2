"""WebSocket (RFC 6455), client and server role, sans-IO, over ``wsproto``.

Theory of operation
-------------------
``wsproto`` parses and builds frames and the HTTP/1.1 upgrade; this module adds
what a real-time client needs on top and owns *every* state change of one
connection, so a driver only moves bytes and reads the clock:

* the handshake, both roles: the client queues the upgrade request on
  ``initiate(now)`` and gets ``Accepted`` or ``Rejected`` (status, headers and
  up to 64 KiB of the body); the server gets ``ConnectRequest`` and answers with
  ``accept()`` or ``reject()``;
* whole messages: fragments are reassembled into one ``Message``, and the size
  limit is checked *while* reassembling, so a hostile peer can make us hold at
  most ``max_message_size`` plus one 64 KiB feed slice; past the limit we send
  close 1009 and raise :class:`MessageTooBig`;
* keepalive: a ping every ``ping_interval`` seconds, one at a time; if its pong
  is not back within ``pong_timeout`` we send close 1011 and end with
  ``Closed(1011, "pong timeout")``; keepalive is suspended while the caller
  has paused reading (``pause_reading``), since unread pongs are not silence;
* the close handshake: ``close()`` sends our close frame and gives the peer
  ``close_timeout`` seconds to answer; a close from the peer is echoed at once.

Every connection ends with exactly one ``Closed`` event, always the last one.
Its ``code`` is the peer's close code, 1006 when the transport ended (or the
close handshake timed out) without a close frame, 1009/1011/1002/1007 when we
failed the connection, and ``None`` when the WebSocket never opened (rejected,
closed or lost during the handshake). After ``Closed`` the caller closes the
transport; later bytes are ignored. The event types and the redaction helpers
live in :mod:`adk_realtime.sansio.websocket.events` (re-exported here).

States (``WsState``) and what moves them; everything goes through ``_goto``:

    state        trigger           next         who
    IDLE         initiate          CONNECTING   client: initiate(now)
    CONNECTING   accepted          OPEN         client: 101 with a valid accept token
    CONNECTING   rejected          REJECTING    client: another status, body follows
    CONNECTING   request           REQUESTED    server: a valid upgrade request
    REQUESTED    accept            OPEN         server: accept()
    OPEN         close_sent        CLOSING      close(); deadline now + close_timeout
    any but CLOSED  end            CLOSED       close frame exchanged, EOF, timeout,
                                                rejection done, failure

Driving loop (what a driver does; each method's docstring repeats its part)::

    ws.initiate(now)                      # client only
    loop:
        send(ws.data_to_send())           # after every call below
        data = read(timeout=ws.get_timer() - now)
        if timed out: ws.handle_timer(now)
        else:         ws.receive_data(data, now)      # b"" = EOF
        while (event := ws.next_event()) is not None: handle(event)
        if event was Closed: close the transport, stop
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Sequence

import h11
from wsproto import ConnectionType, WSConnection, events as wse
from wsproto.connection import ConnectionState as _WsprotoState
from wsproto.utilities import ProtocolError as _WsprotoError

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError, MessageTooBig, ProtocolError
from adk_realtime.sansio.websocket.events import (
    Accepted,
    Closed,
    ConnectRequest,
    Headers,
    Message,
    Rejected,
    WsEvent,
    accept_close_1014,
    check_close_args,
    check_text_message,
    is_secret_header,
    redact_headers,
    redact_secrets,
    redact_target,
    secret_parts,
)
from adk_realtime.sansio.websocket.fast_frames import FrameSplitter

__all__ = [
    "Accepted",
    "Closed",
    "ConnectRequest",
    "HandshakeError",
    "Headers",
    "Message",
    "Rejected",
    "WebSocketClient",
    "WebSocketServer",
    "WsEvent",
    "WsState",
    "check_close_args",
    "check_text_message",
    "is_secret_header",
    "redact_headers",
    "redact_target",
]

DEFAULT_MAX_MESSAGE_SIZE = 16 * 2**20
MAX_REJECTION_BODY = 64 * 1024
# wsproto buffers whatever it is fed; feeding in slices bounds that buffer.
_FEED_SLICE = 64 * 1024

_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_RESERVED_REQUEST_HEADERS = frozenset(
    "host upgrade connection sec-websocket-key sec-websocket-version "
    "sec-websocket-extensions sec-websocket-protocol".split()
)


class HandshakeError(ProtocolError):
    """The peer's HTTP upgrade request or response was not a valid WebSocket handshake."""


class WsState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    REJECTING = "rejecting"
    REQUESTED = "requested"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_S = WsState
_TRANSITIONS: dict[tuple[WsState, str], WsState] = {
    (_S.IDLE, "initiate"): _S.CONNECTING,
    (_S.CONNECTING, "accepted"): _S.OPEN,
    (_S.CONNECTING, "rejected"): _S.REJECTING,
    (_S.CONNECTING, "request"): _S.REQUESTED,
    (_S.REQUESTED, "accept"): _S.OPEN,
    (_S.OPEN, "close_sent"): _S.CLOSING,
    **{(state, "end"): _S.CLOSED for state in WsState if state is not _S.CLOSED},
}


def _decode_headers(raw: Sequence[tuple[bytes, bytes]]) -> Headers:
    return tuple((n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in raw)


def _raw_response(status: int, extra: bytes = b"") -> bytes:
    """A minimal HTTP error answer, built by hand because h11 may be in its error state."""
    phrase = {400: b"Bad Request", 426: b"Upgrade Required"}.get(status, b"Error")
    return b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n%s\r\n" % (
        status,
        phrase,
        extra,
    )


# The exceptions wsproto and h11 raise on hostile input (wsproto decodes header
# values with .decode("ascii"/"idna"), which raises UnicodeError, a ValueError).
_PEER_ERRORS = (_WsprotoError, h11.ProtocolError, ValueError)


class _WebSocketBase:
    """What both roles share: messages, keepalive, close, timers, output."""

    def __init__(
        self,
        connection_type: ConnectionType,
        initial: WsState,
        *,
        max_message_size: int,
        ping_interval: float | None,
        pong_timeout: float,
        close_timeout: float,
    ) -> None:
        if max_message_size < 1:
            raise ConfigError("max_message_size", f"must be >= 1, got {max_message_size!r}")
        if ping_interval is not None and ping_interval <= 0:
            raise ConfigError("ping_interval", f"must be > 0 or None, got {ping_interval!r}")
        if pong_timeout <= 0:
            raise ConfigError("pong_timeout", f"must be > 0, got {pong_timeout!r}")
        if close_timeout <= 0:
            raise ConfigError("close_timeout", f"must be > 0, got {close_timeout!r}")
        self._ws = WSConnection(connection_type)
        self._splitter = FrameSplitter(self._ws, max_message_size)
        self._state = initial
        self._max_message_size = max_message_size
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._close_timeout = close_timeout
        self._out: list[bytes] = []
        self._events: deque[WsEvent] = deque()
        # reassembly of the message in progress
        self._parts: list[str | bytes] = []
        self._size = 0
        # timers (absolute times on the caller's clock)
        self._next_ping: float | None = None
        self._pong_deadline: float | None = None
        self._paused_at: float | None = None  # see pause_reading()
        self._ping_payload: bytes | None = None
        self._ping_count = 0
        self._close_deadline: float | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._secrets: tuple[str, ...] = ()  # cut out of close reasons (see WebSocketClient)
        self._now = 0.0

    # -- public API --------------------------------------------------------

    @property
    def state(self) -> WsState:
        return self._state

    @property
    def close_code(self) -> int | None:
        """The code of the final ``Closed`` event (``None`` until then, or if never opened)."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return anything (cheap; pops nothing)."""
        return bool(self._out)

    def data_to_send(self) -> bytes:
        """Bytes to write to the transport now; call after every other method."""
        if not self._out:
            return b""
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        return data

    def next_event(self) -> WsEvent | None:
        """The next event, or ``None``; call until ``None`` after each input.

        After ``Closed``, write ``data_to_send()`` and close the transport.
        """
        return self._events.popleft() if self._events else None

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the transport; ``b""`` means the peer closed it (EOF).

        Then write ``data_to_send()``, drain ``next_event()`` and re-read
        ``get_timer()``. Raises :class:`MessageTooBig` or another
        :class:`ProtocolError` when the peer broke the protocol: the connection
        is then already failed (close frame or HTTP error queued, ``Closed``
        queued), so still flush, drain and close the transport. Bytes arriving
        after ``Closed`` are ignored.
        """
        if self._state is WsState.CLOSED:
            return
        if self._state is WsState.IDLE:
            raise LocalProtocolError("call initiate(now) before feeding received bytes")
        self._now = now
        if not data:
            self._on_eof(now)
            return
        self._splitter.feed(self, data, now)  # the hot path; wsproto gets the rest

    def _feed_wsproto(self, data: bytes, now: float) -> None:
        view = memoryview(data)
        for start in range(0, len(view), _FEED_SLICE):
            if self._closed():
                return  # failed or closed earlier in this buffer: the rest is moot
            chunk = data if len(view) <= _FEED_SLICE else bytes(view[start : start + _FEED_SLICE])
            try:
                self._ws.receive_data(chunk)
                self._process(now)
            except ProtocolError:
                raise
            except _PEER_ERRORS as exc:
                if self._state in (WsState.OPEN, WsState.CLOSING):
                    self._fail_frame(1002, "protocol error")
                    raise ProtocolError(
                        f"the peer broke the WebSocket protocol ({exc}); closed with code 1002"
                    ) from None
                raise self._handshake_failed(exc) from None

    def send_message(self, data: str | bytes) -> None:
        """Queue one message (``str`` as text, bytes-like as binary); then ``data_to_send()``.

        Raises :class:`LocalProtocolError` unless the connection is open (once
        you have seen or caused a close, stop sending), and for a ``str`` that
        is not valid Unicode (a lone surrogate); nothing is queued then.
        """
        if self._state is not WsState.OPEN:
            raise LocalProtocolError(
                f"cannot send a message while the WebSocket is {self._state.value}; "
                "send only between Accepted/accept() and close()"
            )
        if isinstance(data, str):
            check_text_message(data)
        elif not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"a message is str or bytes, not {type(data).__name__}")
        frame = self._splitter.encode(data)  # the hot path; None: wsproto frames it
        if frame is None:
            data = bytes(data) if isinstance(data, memoryview) else data
            event = wse.TextMessage(data) if isinstance(data, str) else wse.BytesMessage(data)
            frame = self._ws.send(event)
        self._out.append(frame)

    def ping(self, now: float) -> None:
        """Send a ping now and expect its pong within ``pong_timeout``.

        Does nothing while an earlier ping still awaits its pong. Then call
        ``data_to_send()`` and ``get_timer()``.
        """
        if self._state is not WsState.OPEN:
            raise LocalProtocolError(f"cannot ping while the WebSocket is {self._state.value}")
        if self._ping_payload is None:
            self._send_ping(now)

    def close(self, code: int = 1000, reason: str = "", *, now: float) -> None:
        """Start the close handshake (send our close frame); idempotent.

        Then write ``data_to_send()`` and keep reading until ``Closed``, which
        comes when the peer answers or at the latest ``close_timeout`` seconds
        later through ``handle_timer``. Before the handshake completed there is
        nothing to close politely: ``Closed(None, ...)`` is queued at once.
        """
        if self._state in (WsState.CLOSING, WsState.CLOSED):
            return
        if self._state is not WsState.OPEN:
            self._end(None, "closed before the handshake completed")
            return
        check_close_args(code, reason)
        self._out.append(self._ws.send(wse.CloseConnection(code=code, reason=reason)))
        self._goto("close_sent")
        self._close_deadline = now + self._close_timeout
        self._next_ping = self._pong_deadline = self._ping_payload = None

    def pause_reading(self, now: float) -> None:
        """The caller stopped reading the transport on purpose (its app is behind).

        Keepalive is suspended until :meth:`resume_reading`: a pong we are not
        reading must not count as the peer's silence. Then re-read ``get_timer()``.
        """
        if self._paused_at is None:
            self._paused_at = now

    def resume_reading(self, now: float) -> None:
        """Reading resumed: pending ping and pong deadlines move by the time paused."""
        if self._paused_at is None:
            return
        paused = max(0.0, now - self._paused_at)
        self._paused_at = None
        if self._pong_deadline is not None:
            self._pong_deadline += paused
        if self._next_ping is not None:
            self._next_ping += paused

    def get_timer(self) -> float | None:
        """When to call ``handle_timer`` next (absolute, on the caller's clock), or ``None``.

        Re-read it after every call: any input may move it.
        """
        if self._state is WsState.OPEN and self._paused_at is not None:
            return None  # keepalive suspended while the caller is not reading
        if self._state is WsState.OPEN:
            if self._pong_deadline is not None:
                return self._pong_deadline
            return self._next_ping
        if self._state is WsState.CLOSING:
            return self._close_deadline
        return None

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now`` (ping, pong deadline, close deadline).

        Then write ``data_to_send()``, drain ``next_event()`` (a ``Closed`` may
        be there) and re-read ``get_timer()``. Calling it early is harmless.
        """
        self._now = now
        if self._state is WsState.CLOSING:
            if self._close_deadline is not None and now >= self._close_deadline:
                self._end(1006, "close handshake timed out")
            return
        if self._state is not WsState.OPEN or self._paused_at is not None:
            return
        if self._pong_deadline is not None:
            if now >= self._pong_deadline:
                self._fail_frame(1011, "pong timeout")
            return
        if self._next_ping is not None and now >= self._next_ping:
            self._send_ping(now)

    # -- internals ---------------------------------------------------------

    def _closed(self) -> bool:
        return self._state is WsState.CLOSED

    def _goto(self, trigger: str) -> None:
        try:
            self._state = _TRANSITIONS[(self._state, trigger)]
        except KeyError:
            raise LocalProtocolError(
                f"{trigger!r} is not possible while the WebSocket is {self._state.value}"
            ) from None

    def _end(self, code: int | None, reason: str) -> None:
        """Move to CLOSED and queue the one ``Closed`` event."""
        if self._state is WsState.CLOSED:
            return
        self._goto("end")
        reason = redact_secrets(reason, self._secrets)  # a peer may echo a credential
        self._close_code, self._close_reason = code, reason
        self._parts.clear()
        self._size = 0
        self._next_ping = self._pong_deadline = self._close_deadline = None
        self._ping_payload = None
        self._events.append(Closed(code, reason))

    def _fail_frame(self, code: int, reason: str) -> None:
        """Fail an open connection: best-effort close frame, then ``Closed(code)``."""
        if self._ws.connection is not None and self._ws.state is _WsprotoState.OPEN:
            self._out.append(self._ws.send(wse.CloseConnection(code=code, reason=reason)))
        self._end(code, reason)

    def _send_ping(self, now: float) -> None:
        self._ping_count = (self._ping_count + 1) & 0xFFFFFFFF
        self._ping_payload = self._ping_count.to_bytes(4, "big")
        self._out.append(self._ws.send(wse.Ping(payload=self._ping_payload)))
        self._pong_deadline = now + self._pong_timeout
        if self._ping_interval is not None:
            self._next_ping = now + self._ping_interval

    def _opened(self, now: float) -> None:
        """The handshake is done: frames flow, so start keepalive and the frame tweaks."""
        if self._ping_interval is not None:
            self._next_ping = now + self._ping_interval
        accept_close_1014(self._ws)  # wsproto's frame parser exists only from now on

    def _process(self, now: float) -> None:
        """Turn what wsproto parsed into our events (and replies: pong, close echo)."""
        for event in self._ws.events():
            if isinstance(event, wse.TextMessage | wse.BytesMessage):
                self._on_data(event.data, event.message_finished)
            elif isinstance(event, wse.Ping):
                if self._ws.state is _WsprotoState.OPEN:
                    self._out.append(self._ws.send(event.response()))
            elif isinstance(event, wse.Pong):
                if self._ping_payload is not None and event.payload == self._ping_payload:
                    self._ping_payload = self._pong_deadline = None
            elif isinstance(event, wse.CloseConnection):
                self._on_close_frame(event)
            else:
                self._on_handshake(event, now)
            if self._state is WsState.CLOSED:
                return

    def _on_data(self, data: str | bytes | bytearray, finished: bool) -> None:
        if isinstance(data, str):
            n = len(data) if data.isascii() else len(data.encode("utf-8"))
        else:
            n = len(data)
        if self._size + n > self._max_message_size:
            self._fail_frame(1009, "message too big")
            raise MessageTooBig(
                f"an incoming message exceeds max_message_size ({self._max_message_size} bytes); "
                "the connection was closed with code 1009. Raise max_message_size if the peer "
                "legitimately sends larger messages"
            )
        chunk = bytes(data) if isinstance(data, bytearray) else data
        if finished and not self._parts:
            self._events.append(Message(chunk))  # the common case: one frame, no copy
            return
        self._parts.append(chunk)
        self._size += n
        if finished:
            parts, self._parts, self._size = self._parts, [], 0
            if isinstance(parts[0], str):
                self._events.append(Message("".join(p for p in parts if isinstance(p, str))))
            else:
                self._events.append(Message(b"".join(p for p in parts if isinstance(p, bytes))))

    def _on_close_frame(self, event: wse.CloseConnection) -> None:
        reason = event.reason or ""
        code = int(event.code)
        if self._ws.state is _WsprotoState.REMOTE_CLOSING:
            # The peer started the close: echo it at once, then we are done.
            self._out.append(self._ws.send(event.response()))
            self._end(code, reason)
        elif self._ws.state is _WsprotoState.CLOSED:
            self._end(code, reason)  # the answer to our own close
        else:
            # wsproto reports a framing error as a close event without changing state.
            self._fail_frame(code, "protocol error")
            raise ProtocolError(
                f"the peer broke the WebSocket framing rules ({reason}); the connection was "
                f"closed with code {code}"
            )

    def _on_eof(self, now: float) -> None:
        if self._state in (WsState.OPEN, WsState.CLOSING):
            self._end(1006, "connection lost without a close frame")
        else:
            self._end(None, "connection lost during the handshake")

    def _on_handshake(self, event: wse.Event, now: float) -> None:
        raise ProtocolError(f"unexpected handshake event {type(event).__name__}")

    def _handshake_failed(self, exc: Exception) -> ProtocolError:
        self._end(None, "invalid handshake")
        return HandshakeError(f"invalid WebSocket handshake from the peer ({exc})")


class WebSocketClient(_WebSocketBase):
    """The client role. ``host`` is the Host header value (``name[:port]``).

    Call ``initiate(now)`` first, write ``data_to_send()``, then feed the
    response; expect ``Accepted`` (or ``Rejected`` followed by ``Closed``).
    """

    def __init__(
        self,
        host: str,
        target: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        subprotocols: Sequence[str] = (),
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        ping_interval: float | None = 20.0,
        pong_timeout: float = 20.0,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            ConnectionType.CLIENT,
            WsState.IDLE,
            max_message_size=max_message_size,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            close_timeout=close_timeout,
        )
        if not host or any(c in host for c in " \r\n\t/"):
            raise ConfigError(
                "host", f"must be a bare host name (with optional :port), got {host!r}"
            )
        if (
            not target.startswith("/")
            or not target.isascii()
            or any(c in target for c in " \r\n\t")
        ):
            raise ConfigError(
                "target",
                "must be an ASCII path starting with '/' and without spaces, "
                f"got {redact_target(target)!r}",
            )
        encoded: list[tuple[bytes, bytes]] = []
        for name, value in headers:
            if not _TOKEN_RE.match(name):
                raise ConfigError("headers", f"invalid header name {name!r}")
            if name.lower() in _RESERVED_REQUEST_HEADERS:
                raise ConfigError(
                    "headers",
                    f"header {name!r} is set by the WebSocket handshake itself; "
                    "pass subprotocols= for Sec-WebSocket-Protocol",
                )
            # Never echo the value: it may be a credential.
            if any(c in value for c in "\r\n\x00") or value != value.strip():
                raise ConfigError(
                    "headers", f"the value of header {name!r} has CR/LF/NUL or padding"
                )
            # Checked, not caught: a UnicodeEncodeError would keep the value as __context__.
            if not name.isascii() or any(ord(c) > 0xFF for c in value):
                raise ConfigError("headers", f"the value of header {name!r} is not latin-1 text")
            encoded.append((name.encode("ascii"), value.encode("latin-1")))
        for proto in subprotocols:
            if not _TOKEN_RE.match(proto):
                raise ConfigError("subprotocols", f"invalid subprotocol {proto!r}")
        self._host = host
        self._target = target
        self._request_headers: Headers = tuple((n, v) for n, v in headers)
        self._encoded_headers = encoded
        # Credentials (whole, or the token of "Bearer <token>") never show in a close reason.
        query = [p.partition("=") for p in target.partition("?")[2].split("&")]
        values = [v for n, v in headers if is_secret_header(n)]
        self._secrets = secret_parts(values + [v for n, _, v in query if is_secret_header(n)])
        self._subprotocols = list(subprotocols)
        self._response_headers: Headers = ()
        self._subprotocol: str | None = None
        self._reject_status = 0
        self._reject_body = bytearray()

    def __repr__(self) -> str:
        return (
            f"WebSocketClient(host={self._host!r}, target={redact_target(self._target)!r}, "
            f"state={self._state.value})"
        )

    @property
    def target(self) -> str:
        return self._target

    @property
    def request_headers(self) -> Headers:
        """The extra headers sent with the upgrade request (may hold credentials)."""
        return self._request_headers

    @property
    def response_headers(self) -> Headers:
        """Headers of the server's answer (101 or the rejection), names lower-case."""
        return self._response_headers

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    def initiate(self, now: float) -> None:
        """Queue the upgrade request; then write ``data_to_send()`` and read the answer."""
        self._goto("initiate")
        self._now = now
        request = wse.Request(
            host=self._host,
            target=self._target,
            extra_headers=self._encoded_headers,
            subprotocols=self._subprotocols,
        )
        self._out.append(self._ws.send(request))

    def _on_handshake(self, event: wse.Event, now: float) -> None:
        if isinstance(event, wse.AcceptConnection):
            self._goto("accepted")
            self._response_headers = _decode_headers(event.extra_headers)
            self._subprotocol = event.subprotocol
            self._events.append(Accepted(self._response_headers, event.subprotocol))
            self._opened(now)
        elif isinstance(event, wse.RejectConnection):
            if event.status_code < 200 and not event.has_body:
                return  # an interim answer (100, 103...): the real one follows
            self._reject_status = event.status_code
            self._response_headers = _decode_headers(event.headers)
            if event.has_body:
                self._goto("rejected")
            else:
                self._finish_rejection()
        elif isinstance(event, wse.RejectData):
            room = MAX_REJECTION_BODY - len(self._reject_body)
            self._reject_body += event.data[:room]
            if event.body_finished or len(event.data) >= room:
                self._finish_rejection()

    def _finish_rejection(self) -> None:
        status = self._reject_status
        self._events.append(Rejected(status, self._response_headers, bytes(self._reject_body)))
        self._reject_body = bytearray()
        self._end(None, f"handshake rejected with HTTP {status}")

    def _on_eof(self, now: float) -> None:
        if self._state is WsState.REJECTING:
            # A body without Content-Length ends at EOF; h11 needs to see it.
            try:
                self._ws.receive_data(None)
                self._process(now)
            except _PEER_ERRORS:
                pass
            if self._state is WsState.REJECTING:
                self._finish_rejection()  # truncated body: report what arrived
            return
        super()._on_eof(now)

    def _handshake_failed(self, exc: Exception) -> ProtocolError:
        if self._state is WsState.REJECTING:
            self._finish_rejection()  # a malformed rejection body is still a rejection
            return HandshakeError(f"the server's rejection response was malformed ({exc})")
        self._end(None, "invalid handshake response")
        return HandshakeError(
            f"the server's answer is not a valid WebSocket handshake ({exc}); check that the "
            "URL points at a WebSocket endpoint"
        )


class WebSocketServer(_WebSocketBase):
    """The server role: feed the request, answer ``ConnectRequest`` with accept/reject."""

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        ping_interval: float | None = None,
        pong_timeout: float = 20.0,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            ConnectionType.SERVER,
            WsState.CONNECTING,
            max_message_size=max_message_size,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            close_timeout=close_timeout,
        )
        self._request: ConnectRequest | None = None
        self._subprotocol: str | None = None

    def __repr__(self) -> str:
        target = redact_target(self._request.target) if self._request else None
        return f"WebSocketServer(target={target!r}, state={self._state.value})"

    @property
    def request(self) -> ConnectRequest | None:
        """The client's upgrade request once received."""
        return self._request

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    def accept(self, subprotocol: str | None = None, *, now: float | None = None) -> None:
        """Accept the ``ConnectRequest``; then write ``data_to_send()``: messages may flow.

        ``now`` starts the keepalive clock (default: the time of the last input).
        Frames the client pipelined behind its request are processed now (drain
        ``next_event()``); if they break the protocol, ``Closed`` is queued.
        """
        if self._state is not WsState.REQUESTED or self._request is None:
            raise LocalProtocolError(
                f"accept() needs a ConnectRequest first (state {self._state.value})"
            )
        if subprotocol is not None and subprotocol not in self._request.subprotocols:
            raise LocalProtocolError(f"the client did not offer subprotocol {subprotocol!r}")
        # Bytes the client sent after its request wait in h11; wsproto (<=1.3) drops them.
        h11_conn = getattr(self._ws.handshake, "_h11_connection", None)
        pipelined = bytes(h11_conn.trailing_data[0]) if h11_conn is not None else b""
        self._out.append(self._ws.send(wse.AcceptConnection(subprotocol=subprotocol)))
        self._goto("accept")
        self._subprotocol = subprotocol
        now = self._now if now is None else now
        self._opened(now)
        if pipelined:
            try:
                self._feed_wsproto(pipelined, now)
            except ProtocolError:
                pass  # the connection failed: its close frame and Closed are queued

    def reject(
        self,
        status: int = 403,
        body: bytes | str = b"",
        *,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Answer the ``ConnectRequest`` with an HTTP error; ``Closed(None)`` follows.

        Then write ``data_to_send()`` and close the transport.
        """
        if self._state is not WsState.REQUESTED:
            raise LocalProtocolError(
                f"reject() needs a ConnectRequest first (state {self._state.value})"
            )
        if not 300 <= status <= 599:
            raise LocalProtocolError(f"a rejection status is 300-599, got {status}")
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        names = {n.lower() for n, _ in headers}
        try:
            raw = [
                (n.encode("ascii"), v.encode("latin-1"))
                for n, v in headers
                if n.lower() != "content-length"
            ]
        except UnicodeEncodeError:
            raise LocalProtocolError("rejection headers must be latin-1 text") from None
        if "content-type" not in names:
            raw.append((b"content-type", b"text/plain; charset=utf-8"))
        raw.append((b"content-length", str(len(payload)).encode()))
        raw.append((b"connection", b"close"))
        try:
            data = self._ws.send(
                wse.RejectConnection(status_code=status, headers=raw, has_body=True)
            )
            data += self._ws.send(wse.RejectData(data=payload, body_finished=True))
        except (h11.ProtocolError, _WsprotoError) as exc:
            raise LocalProtocolError(f"cannot build the rejection response: {exc}") from None
        self._out.append(data)
        self._end(None, f"rejected with HTTP {status}")

    def _on_handshake(self, event: wse.Event, now: float) -> None:
        if isinstance(event, wse.Request):
            headers = (("host", event.host), *_decode_headers(event.extra_headers))
            key = dict(headers).get("sec-websocket-key", "")
            if not re.fullmatch(r"[A-Za-z0-9+/]{22}==", key):  # 16 bytes in base64
                raise ValueError("Sec-WebSocket-Key is not 16 bytes in base64")  # -> HTTP 400
            self._request = ConnectRequest(event.target, headers, tuple(event.subprotocols))
            self._goto("request")
            self._events.append(self._request)

    def _handshake_failed(self, exc: Exception) -> ProtocolError:
        status, extra = 400, b""
        hint = getattr(exc, "event_hint", None)
        if isinstance(hint, wse.RejectConnection) and hint.headers:  # a bad or no version
            status, extra = hint.status_code, b"sec-websocket-version: 13\r\n"
        if self._state is not WsState.REQUESTED:
            self._out.append(_raw_response(status, extra))
        self._end(None, "invalid upgrade request")
        return HandshakeError(
            f"the client's upgrade request is not a valid WebSocket handshake ({exc}); "
            f"answered HTTP {status}"
        )
