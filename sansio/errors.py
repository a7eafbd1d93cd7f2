"""Errors raised by the sans-IO state machines.

Every decoder and state machine in :mod:`adk_realtime.sansio` raises only
subclasses of :class:`ProtocolError` for bad input; the message says what was
wrong, and the object's state is left as it was before the bad input.
"""

from __future__ import annotations


class RealtimeError(Exception):
    """Base class of every error this library raises on purpose."""


class ProtocolError(RealtimeError):
    """The peer (or the caller) broke the protocol: malformed or unexpected input."""


class DecodeError(ProtocolError):
    """A message could not be decoded (bad JSON, wrong types, missing fields)."""


class ConfigError(RealtimeError, ValueError):
    """A configuration value is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol state does not allow now."""


class MessageTooBig(ProtocolError):
    """An incoming message exceeded the configured maximum size."""


class MessageTooLargeToSend(LocalProtocolError):
    """A command would make a message larger than the provider accepts in one message
    (``ProviderCapabilities.max_message_size``); nothing was queued or sent.

    ``size`` and ``limit`` are in bytes of the message's UTF-8 text.
    """

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(
            f"{what} would make a message of {size} bytes, over the provider's limit of "
            f"{limit} bytes; nothing was sent (make it shorter, or send it in parts)"
        )
        self.size = size
        self.limit = limit


class AuthError(RealtimeError):
    """The provider refused the credentials (HTTP 401/403). Never carries the key."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"authentication failed (HTTP {status}): {message}")
        self.status = status


class ConnectionClosed(RealtimeError):
    """The connection closed; ``code`` and ``reason`` are what the peer (or we) sent."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason
