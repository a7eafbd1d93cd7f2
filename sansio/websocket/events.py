"""WebSocket events and header helpers shared by the sans-IO machine and its drivers.

:class:`~adk_realtime.sansio.websocket.WebSocketClient` and
:class:`~adk_realtime.sansio.websocket.WebSocketServer` (which own every state
change) emit these events; they are plain frozen values. The ``repr`` of each
hides what may carry a credential: header values whose name looks secret
(``Authorization``, ``api-key``, cookies...) and every query value of a
request target (``?key=...``). Use :func:`redact_headers` and
:func:`redact_target` the same way before logging anything of a handshake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wsproto import WSConnection
from wsproto.frame_protocol import Frame

from adk_realtime.sansio.errors import LocalProtocolError

__all__ = [
    "Accepted",
    "Closed",
    "ConnectRequest",
    "Headers",
    "Message",
    "Rejected",
    "WsEvent",
    "accept_close_1014",
    "check_close_args",
    "check_text_message",
    "is_secret_header",
    "redact_headers",
    "redact_secrets",
    "redact_target",
    "secret_parts",
]

Headers = tuple[tuple[str, str], ...]
"""HTTP headers as (name, value) pairs; received names are lower-case."""

# Names that carry credentials (Authorization, api-key, x-goog-api-key, cookies...).
_SECRET_WORDS = ("auth", "key", "token", "secret", "cookie", "password", "signature", "credential")


def is_secret_header(name: str) -> bool:
    """True when a header of this name may carry a credential (never show its value)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """A copy of ``headers`` safe to print: credential-like values become ``<redacted>``."""
    return [(n, "<redacted>" if is_secret_header(n) else v) for n, v in headers]


def secret_parts(values: Iterable[str]) -> tuple[str, ...]:
    """What to cut out of text a peer may echo: each credential whole and each of its
    words ("Bearer <token>" echoed as the bare token), longest first."""
    parts = {part for value in values for part in (value, *value.split()) if len(part) >= 8}
    return tuple(sorted(parts, key=len, reverse=True))


def redact_secrets(text: str, parts: Sequence[str]) -> str:
    """``text`` with every one of ``parts`` (from :func:`secret_parts`) replaced."""
    for part in parts:
        text = text.replace(part, "<redacted>")
    return text


def redact_target(target: str) -> str:
    """``target`` with every query value hidden (``?key=...`` carries API keys)."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    names = [part.partition("=")[0] for part in query.split("&") if part]
    return path + "?" + "&".join(f"{name}=<redacted>" for name in names)


# -- close codes (RFC 6455 section 7.4 and the IANA registry) ------------------

# Close codes an endpoint may put in a close frame, and so also accept from its
# peer: 1012-1014 (service restart, try again later, bad gateway) are registered.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)})
_MAX_CLOSE_REASON_BYTES = 123


def check_close_args(code: int, reason: str) -> None:
    """Raise :class:`LocalProtocolError` unless ``code``/``reason`` fit in a close frame."""
    if code not in SENDABLE_CLOSE_CODES:
        raise LocalProtocolError(
            f"close code {code} cannot be sent; use 1000, 1001, 1002, 1003, 1007-1014 or 3000-4999"
        )
    size = len(reason.encode("utf-8"))
    if size > _MAX_CLOSE_REASON_BYTES:
        raise LocalProtocolError(
            f"close reason is {size} bytes of UTF-8; at most {_MAX_CLOSE_REASON_BYTES} fit "
            "in a close frame"
        )


# -- events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class Accepted:
    """Client: the server accepted the upgrade; messages may flow now."""

    headers: Headers
    subprotocol: str | None = None

    def __repr__(self) -> str:
        return (
            f"Accepted(subprotocol={self.subprotocol!r}, headers={redact_headers(self.headers)!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class Rejected:
    """Client: the server answered the upgrade with ``status``; ``body`` is capped at 64 KiB."""

    status: int
    headers: Headers
    body: bytes

    def __repr__(self) -> str:
        return (
            f"Rejected(status={self.status}, headers={redact_headers(self.headers)!r}, "
            f"body={len(self.body)} bytes)"
        )


@dataclass(frozen=True, slots=True, repr=False)
class ConnectRequest:
    """Server: a client asks to upgrade; answer with ``accept()`` or ``reject()``."""

    target: str
    headers: Headers
    subprotocols: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"ConnectRequest(target={redact_target(self.target)!r}, "
            f"headers={redact_headers(self.headers)!r}, subprotocols={self.subprotocols!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class Message:
    """One whole message (text as ``str``, binary as ``bytes``), reassembled."""

    data: str | bytes

    def __repr__(self) -> str:
        kind = "text" if isinstance(self.data, str) else "binary"
        return f"Message({kind}, {len(self.data)} {'chars' if kind == 'text' else 'bytes'})"


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection is over (always the last event, exactly once); close the transport."""

    code: int | None
    reason: str = ""


WsEvent = Accepted | Rejected | ConnectRequest | Message | Closed


def check_text_message(text: str) -> None:
    """Raise :class:`LocalProtocolError` unless ``text`` can go out as a text message.

    A text message is UTF-8 on the wire; a ``str`` holding a lone surrogate
    (``"\\ud800"``) has no UTF-8 form. ASCII text (every JSON message the
    protocols build) is recognised in constant time.
    """
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(
            "a text message must be valid Unicode: it holds a lone surrogate "
            f"{text[exc.start]!r} at index {exc.start}; nothing was sent"
        ) from None


def accept_close_1014(ws: WSConnection) -> None:
    """Make wsproto accept close code 1014 (Bad Gateway, sent by proxies), which it fails
    as reserved: parse it as 3000 (same reason checks), then restore the code. Best effort.
    """
    proto = getattr(ws.connection, "_proto", None)
    original: Callable[[Frame], Frame] | None = getattr(proto, "_process_close", None)
    if original is None:
        return

    def process_close(frame: Frame) -> Frame:
        payload = frame.payload
        if not isinstance(payload, bytes | bytearray) or payload[:2] != b"\x03\xf6":
            return original(frame)
        parsed = original(Frame(frame.opcode, b"\x0b\xb8" + payload[2:], True, True))
        assert isinstance(parsed.payload, tuple)
        return Frame(parsed.opcode, (1014, parsed.payload[1]), True, True)

    setattr(proto, "_process_close", process_close)  # noqa: B010
