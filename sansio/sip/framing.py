"""SIP over a byte stream (TCP, RFC 3261 section 18.3): cut the stream into messages.

On a stream a message ends where its ``Content-Length`` says (mandatory there), after
the empty line that ends its headers. :class:`SipStreamFramer` is fed the bytes of
one connection (``receive_data(data, now)``) and hands out each whole message as a
:class:`FramedMessage` (``next_event()``), ready for
:meth:`~adk_realtime.sansio.sip.uas.SipUas.receive_datagram` with the connection's
peer address. CRLFs between messages (keepalives, RFC 5626 section 3.5.1) are skipped.
A header block over ``MAX_MESSAGE_BYTES``, a missing or unreadable ``Content-Length``
or a body too large cannot be framed: :class:`FramingFailed`, after which the stream
is lost (nothing more is framed) and the driver closes the connection.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from adk_realtime.sansio.sip.message import MAX_MESSAGE_BYTES

__all__ = ["FramedMessage", "FramingEvent", "FramingFailed", "SipStreamFramer"]

_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*$", re.I | re.M)


@dataclass(frozen=True, slots=True)
class FramedMessage:
    """One whole SIP message (headers and body) as it came."""

    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class FramingFailed:
    """The stream cannot be cut into messages any more (``reason`` says why): close it."""

    reason: str


FramingEvent = FramedMessage | FramingFailed


class SipStreamFramer:
    """Cuts one connection's bytes into SIP messages (see the module docstring)."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self.failed = False
        self._buffer = bytearray()
        self._events: deque[FramingEvent] = deque()

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Bytes from the connection; then drain ``next_event()`` (an empty ``data``: the
        peer closed its side, and a message cut short there is lost)."""
        if self.failed:
            return
        self._buffer += data
        while self._frame_one():
            pass

    def next_event(self) -> FramingEvent | None:
        """The next whole message, or the failure; None when nothing is pending."""
        return self._events.popleft() if self._events else None

    @property
    def buffered(self) -> int:
        """Bytes held for a message not yet whole."""
        return len(self._buffer)

    def _frame_one(self) -> bool:
        """Frame the next message if it is all here; False when more bytes are needed."""
        buffer = self._buffer
        skipped = len(buffer) - len(buffer.lstrip(b"\r\n"))
        del buffer[:skipped]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > self.max_message_bytes:
                self._fail("the headers are longer than a message may be")
            return False
        if end > self.max_message_bytes:
            self._fail("the headers are longer than a message may be")
            return False
        head = bytes(buffer[:end])
        lengths = _CONTENT_LENGTH.findall(head.replace(b"\r\n", b"\n"))
        if len(lengths) != 1 or not lengths[0].isdigit():
            self._fail("no single readable Content-Length (mandatory on a stream)")
            return False
        total = end + 4 + int(lengths[0])
        if total > self.max_message_bytes:
            self._fail(f"a {total}-byte message is larger than allowed")
            return False
        if len(buffer) < total:
            return False
        self._events.append(FramedMessage(bytes(buffer[:total])))
        del buffer[:total]
        return True

    def _fail(self, reason: str) -> None:
        self.failed = True
        self._buffer.clear()
        self._events.append(FramingFailed(reason))
