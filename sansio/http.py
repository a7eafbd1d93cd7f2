"""One HTTP/1.1 request/response exchange over h11, sans-IO, and the OpenAI WebRTC calls.

Theory of operation
-------------------
`HttpExchange` is one request and its response on a fresh connection (``Connection:
close``): the signalling of a WebRTC session is a single POST, so there is no pooling
or keep-alive to manage. It is a sans-IO machine of the one contract: the driver
writes `HttpExchange.data_to_send` to the socket, feeds every read to
`HttpExchange.receive_data` (``b""`` at end of stream) and asks `HttpExchange.next_event`
after each: the complete `HttpResponse` is the one event. Then it closes the socket.
h11 does the framing (content length, chunked, close-delimited); this file adds a
body size limit and turns h11's errors into our `ProtocolError` subclasses::

    state       input                              -> next
    SENDING     data_to_send()                     -> RECEIVING
    RECEIVING   receive_data() completes a response -> DONE      (event: HttpResponse)
    RECEIVING   malformed / too large / early EOF  -> FAILED    (raises HttpError)
    DONE, FAILED receive_data()                    -> (ignored / raises LocalProtocolError)

Driving loop::

    sock.send(exchange.data_to_send())
    while (response := exchange.next_event()) is None:
        exchange.receive_data(sock.recv(), now)     # b"" once the server closed

The helpers below build the OpenAI Realtime WebRTC requests:

* unified flow: one ``POST /v1/realtime/calls`` with ``multipart/form-data`` holding
  the ``sdp`` offer (``application/sdp``) and the ``session`` JSON; bearer: the API key.
* ephemeral flow: ``POST /v1/realtime/client_secrets`` (JSON ``{"session": {...}}``)
  answers ``{"value": "ek_..."}``; then ``POST /v1/realtime/calls`` with the offer as
  ``application/sdp`` and that token as bearer.

200/201 carries the answer SDP; the ``Location`` header (``/v1/realtime/calls/rtc_x``)
names the call. 401/403 raise `AuthError`; its message never contains a credential.
"""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h11

from adk_realtime.sansio.errors import (
    AuthError,
    ConfigError,
    LocalProtocolError,
    MessageTooBig,
    ProtocolError,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "CallAnswer",
    "HttpError",
    "HttpExchange",
    "HttpResponse",
    "HttpStatusError",
    "HttpUrl",
    "ResponseTooLarge",
    "bearer_header",
    "check_status",
    "client_secret_request",
    "multipart_body",
    "parse_url",
    "read_call_answer",
    "read_client_secret",
    "sdp_call_request",
    "unified_call_request",
]

DEFAULT_MAX_BODY = 1 << 20  # an SDP answer is a few KiB; a JSON secret less
USER_AGENT = "adk-realtime/0.1 (h11)"
_MAX_HEADER_BYTES = 64 * 1024


class HttpError(ProtocolError):
    """The server's reply is not valid HTTP/1.1 (or not what the call needs)."""


class ResponseTooLarge(HttpError, MessageTooBig):
    """The response body is larger than ``max_body_size``; the exchange is abandoned."""


class HttpStatusError(HttpError):
    """The server answered with an unexpected status; ``status`` and a redacted snippet."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpUrl:
    """An ``http``/``https`` URL split for a driver: where to connect, what to ask."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent on the request line

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        """The ``Host`` header value (the port only when it is not the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str) -> HttpUrl:
    """Split ``url``; ``ws``/``wss`` map to ``http``/``https`` (a model's base URL).

    Raises `ConfigError` for anything that is not an absolute http(s) URL.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("url", f"{url!r} is not a valid URL: {exc}") from None
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("url", f"{url!r} must be an absolute http:// or https:// URL")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    default = 443 if scheme == "https" else 80
    return HttpUrl(scheme, parts.hostname, port or default, target)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete response. Header names are lower case; ``body`` is the whole body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON; raises `HttpError` if it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
            raise HttpError(f"HTTP {self.status} body is not JSON: {exc}") from None


class _ExchangeState(enum.Enum):
    SENDING = "sending"
    RECEIVING = "receiving"
    DONE = "done"
    FAILED = "failed"


class HttpExchange:
    """One HTTP/1.1 request and its response (see the module docstring).

    ``headers`` must include ``Host`` unless ``url`` is given (then it is added).
    ``Content-Length`` and ``Connection: close`` are added. ``max_body_size`` bounds the
    response body. The request (which may hold credentials) never shows in ``repr``.
    Next: write `data_to_send` to the connection.
    """

    def __init__(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes = b"",
        *,
        url: HttpUrl | None = None,
        max_body_size: int = DEFAULT_MAX_BODY,
    ) -> None:
        if not (isinstance(max_body_size, int) and max_body_size > 0):
            raise ConfigError(
                "max_body_size", f"must be a positive number of bytes, not {max_body_size!r}"
            )
        names = {k.lower() for k, _ in headers}
        all_headers = list(headers)
        if "host" not in names:
            if url is None:
                raise ConfigError("headers", "an HTTP/1.1 request needs a Host header")
            all_headers.insert(0, ("Host", url.authority))
        if "content-length" not in names and (body or method.upper() in ("POST", "PUT")):
            all_headers.append(("Content-Length", str(len(body))))
        if "connection" not in names:
            all_headers.append(("Connection", "close"))
        if "user-agent" not in names:
            all_headers.append(("User-Agent", USER_AGENT))
        self.method = method.upper()
        self.target = target
        self.url = url
        self.max_body_size = max_body_size
        self._response: HttpResponse | None = None
        self._delivered = False  # the response went out through next_event
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)
        try:
            request = h11.Request(method=self.method, target=target, headers=all_headers)
            self._request = self._conn.send(request) or b""
            if body:
                self._request += self._conn.send(h11.Data(data=body)) or b""
            self._request += self._conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            # h11's message names the bad header, never its value.
            raise LocalProtocolError(f"cannot build the HTTP request: {exc}") from None
        self._state = _ExchangeState.SENDING
        self._status = 0
        self._reason = ""
        self._headers: tuple[tuple[str, str], ...] = ()
        self._body = bytearray()

    def __repr__(self) -> str:
        return f"<HttpExchange {self.method} {self.target} {self._state.value}>"

    @property
    def response(self) -> HttpResponse | None:
        """The complete response once it arrived (also given once by `next_event`)."""
        return self._response

    def data_to_send(self) -> bytes:
        """The request bytes on the first call, ``b""`` after. Write them, then read and
        feed the replies to `receive_data`."""
        if self._state is not _ExchangeState.SENDING:
            return b""
        self._state = _ExchangeState.RECEIVING
        data, self._request = self._request, b""
        return data

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the connection at ``now`` (``b""`` once it closed).

        Then ask `next_event`: the `HttpResponse` once complete (then close the
        connection), else None (read more). The exchange keeps no timers: the driver
        bounds the whole exchange. Raises `HttpError` for a malformed reply or one that
        ended early, and `ResponseTooLarge` past ``max_body_size``; the exchange is
        then finished. Bytes after a complete response are ignored.
        """
        if self._state is _ExchangeState.DONE:
            return
        if self._state is _ExchangeState.FAILED:
            raise LocalProtocolError("this HTTP exchange already failed; start a new one")
        if self._state is _ExchangeState.SENDING:
            raise LocalProtocolError("send data_to_send() before feeding the response")
        try:
            self._conn.receive_data(data)
            self._read_events()
        except h11.RemoteProtocolError as exc:
            self._state = _ExchangeState.FAILED
            raise HttpError(f"malformed HTTP response: {exc}") from None
        except HttpError:
            self._state = _ExchangeState.FAILED
            raise

    def next_event(self) -> HttpResponse | None:
        """The complete `HttpResponse`, once; None before it arrived and after."""
        if self._response is None or self._delivered:
            return None
        self._delivered = True
        return self._response

    def _read_events(self) -> None:
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and friends: the real answer follows
            if isinstance(event, h11.Response):
                self._status = event.status_code
                self._reason = event.reason.decode("latin-1")
                self._headers = tuple(
                    (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers
                )
                length = next((v for k, v in self._headers if k == "content-length"), None)
                if length is not None and length.isdigit() and int(length) > self.max_body_size:
                    raise ResponseTooLarge(
                        f"response body of {length} bytes exceeds the limit of "
                        f"{self.max_body_size} bytes"
                    )
            elif isinstance(event, h11.Data):
                if len(self._body) + len(event.data) > self.max_body_size:
                    raise ResponseTooLarge(
                        f"response body exceeds the limit of {self.max_body_size} bytes"
                    )
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._state = _ExchangeState.DONE
                self._response = HttpResponse(
                    self._status, self._reason, self._headers, bytes(self._body)
                )
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpError("the server closed the connection before a complete response")


# ---------------------------------------------------------------------------- OpenAI calls


def bearer_header(token: str) -> tuple[str, str]:
    """The ``Authorization: Bearer`` header for ``token``; `ConfigError` (without the token)
    if it is empty or holds control characters."""
    if not token or any(c in token for c in "\r\n\x00"):
        raise ConfigError("api_key", "the API key or token is empty or has control characters")
    return ("Authorization", f"Bearer {token}")


def multipart_body(
    parts: Sequence[tuple[str, str, bytes]], *, rng: random.Random | None = None
) -> tuple[bytes, str]:
    """Encode ``(name, content_type, data)`` parts as ``multipart/form-data`` (RFC 7578).

    Returns ``(body, content_type_header_value)``; the boundary is random and checked
    not to occur in any part.
    """
    rng = rng if rng is not None else random.SystemRandom()
    while True:
        boundary = f"adk-realtime-{rng.getrandbits(96):024x}"
        marker = boundary.encode()
        if not any(marker in data for _, _, data in parts):
            break
    out = bytearray()
    for name, content_type, data in parts:
        if not name.isascii() or any(c in name for c in '"\r\n'):
            raise ConfigError("multipart", f"field name {name!r} is not a plain ASCII token")
        out += b"--" + marker + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
        out += f"Content-Type: {content_type}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += b"--" + marker + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def unified_call_request(
    calls_url: str,
    *,
    sdp: str,
    session: Mapping[str, Any],
    api_key: str,
    rng: random.Random | None = None,
) -> HttpExchange:
    """``POST calls_url`` (``.../v1/realtime/calls``) with the offer and the session.

    ``session`` is the GA session object (``type``, ``model``, ``instructions``,
    ``audio``...). Next: run the exchange, then `read_call_answer`.
    """
    url = parse_url(calls_url)
    body, content_type = multipart_body(
        [
            ("sdp", "application/sdp", sdp.encode()),
            ("session", "application/json", json.dumps(dict(session)).encode()),
        ],
        rng=rng,
    )
    headers = [
        bearer_header(api_key),
        ("Content-Type", content_type),
        ("Accept", "application/sdp"),
    ]
    return HttpExchange("POST", url.target, headers, body, url=url)


def client_secret_request(
    client_secrets_url: str, *, session: Mapping[str, Any], api_key: str
) -> HttpExchange:
    """``POST .../v1/realtime/client_secrets`` with ``{"session": session}``; next:
    run it and read the token with `read_client_secret`."""
    url = parse_url(client_secrets_url)
    body = json.dumps({"session": dict(session)}).encode()
    headers = [bearer_header(api_key), ("Content-Type", "application/json")]
    return HttpExchange("POST", url.target, headers, body, url=url)


def sdp_call_request(calls_url: str, *, sdp: str, token: str) -> HttpExchange:
    """``POST calls_url`` with the offer as ``application/sdp`` and an ephemeral token
    (or an API key, with the model in the URL query). Next: `read_call_answer`."""
    url = parse_url(calls_url)
    headers = [bearer_header(token), ("Content-Type", "application/sdp")]
    return HttpExchange("POST", url.target, headers, sdp.encode(), url=url)


@dataclass(frozen=True, slots=True)
class CallAnswer:
    """The answer to a call: the SDP text and the call id from ``Location``."""

    sdp: str = field(repr=False)
    call_id: str | None
    location: str | None


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def _error_message(response: HttpResponse, secrets: Sequence[str]) -> str:
    # The whole body (bounded by max_body_size) is read, so a long JSON error still
    # parses; secrets are cut out before the message is shortened, never after.
    text = response.body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        if not isinstance(error, str):
            error = data.get("message")  # {"message": "..."} from proxies and gateways
        if isinstance(error, str) and error.strip():
            text = error
    text = " ".join(_redact(text or response.reason, secrets).split())
    return text[:300].strip() or "no details"


def check_status(
    response: HttpResponse, ok: tuple[int, ...], *, secrets: Sequence[str] = ()
) -> None:
    """Return if ``response.status`` is in ``ok``; else raise `AuthError` (401/403) or
    `HttpStatusError` with the server's message, ``secrets`` cut out of it."""
    if response.status in ok:
        return
    message = _error_message(response, secrets)
    if response.status in (401, 403):
        raise AuthError(response.status, message)
    raise HttpStatusError(response.status, message)


def read_call_answer(response: HttpResponse, *, secrets: Sequence[str] = ()) -> CallAnswer:
    """The answer SDP and call id of a ``/realtime/calls`` response.

    Raises `AuthError` for 401/403, `HttpStatusError` for other non-2xx statuses and
    `HttpError` for a body that is not SDP text. ``secrets`` are cut out of messages.
    Next: `PeerConnection.set_answer(answer.sdp, now)`.
    """
    check_status(response, (200, 201), secrets=secrets)
    try:
        sdp = response.body.decode("utf-8").lstrip("\ufeff \t\r\n")
    except UnicodeDecodeError:
        raise HttpError("the answer SDP is not UTF-8 text") from None
    if not sdp.startswith("v=0"):
        raise HttpError(f"the call answered HTTP {response.status} without an SDP body")
    location = response.header("location")
    call_id = None
    if location:
        call_id = location.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or None
    return CallAnswer(sdp, call_id, location)


def read_client_secret(response: HttpResponse, *, secrets: Sequence[str] = ()) -> str:
    """The ephemeral key (``ek_...``) of a ``/realtime/client_secrets`` response.

    Accepts the GA shape ``{"value": ...}`` and the older ``{"client_secret":
    {"value": ...}}``. Raises like `read_call_answer`.
    """
    check_status(response, (200, 201), secrets=secrets)
    data = response.json()
    value = data.get("value") if isinstance(data, dict) else None
    if value is None and isinstance(data, dict) and isinstance(data.get("client_secret"), dict):
        value = data["client_secret"].get("value")
    if not isinstance(value, str) or not value:
        raise HttpError("the client secret response has no string 'value'")
    return value
