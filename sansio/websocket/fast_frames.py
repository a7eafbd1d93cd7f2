"""The client's hot path: whole unfragmented data frames from the server, parsed here.

A server's frames reach the client unmasked, and in a voice session nearly all of them are
one-frame text messages (JSON events). wsproto parses each through a generator, a frame
object, a message decoder and an incremental UTF-8 decoder; for these frames that is most
of the WebSocket cost. :class:`FrameSplitter` takes them itself, and only them: a frame
that is final, unmasked, without RSV bits, text or binary, no larger than the message
limit, and (text) valid UTF-8 becomes a :class:`Message` here. Every other frame (control
frames, fragments, anything odd or invalid) goes to wsproto whole, so wsproto still owns
the handshake, pings, close and every protocol error, with the same outcome as before.

The server side (issue 15: a phone bridge reads ~50 carrier frames per call-second) takes
the same frames from its clients, which mask them: there a simple frame must be masked, and
its payload is unmasked here with one big-integer XOR; an unmasked data frame from a client
(a protocol error) goes to wsproto, which fails the connection as before.

The splitter only parses while wsproto holds nothing: no partial frame in its buffer and
no fragmented message under way. Then frame boundaries are the same for both, and a
frame handed over is a whole frame. A frame cut by the end of a read is kept here (up to
:data:`CARRY_LIMIT` bytes) until the rest arrives; a larger one goes to wsproto, which
streams it.
"""

from __future__ import annotations

import codecs
import os
from typing import TYPE_CHECKING, Any

from wsproto import WSConnection

from adk_realtime.sansio.websocket.events import Message

if TYPE_CHECKING:  # connection.py imports this module: a runtime import would be a cycle
    from adk_realtime.sansio.websocket.connection import _WebSocketBase

__all__ = ["CARRY_LIMIT", "FrameSplitter"]

CARRY_LIMIT = 256 * 1024  # a cut frame up to this size waits here for its rest
_TEXT, _BINARY, _CLOSE = 0x1, 0x2, 0x8
# Frames flow (ours and wsproto's OPEN, or our close sent and the peer's answer awaited).
_SPLIT_STATES = frozenset({"open", "closing"})


def _frame(payload: bytes, opcode: int, masked: bool) -> bytes:
    """One final frame of ``payload`` (RFC 6455 5.2); ``masked`` (a client's) with a fresh
    random key, as wsproto draws it (5.3: from a strong source of entropy)."""
    size = len(payload)
    bit = 0x80 if masked else 0
    if size < 126:
        head = bytes((0x80 | opcode, bit | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, bit | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, bit | 127)) + size.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + _unmask(payload, key)


def _unmask(payload: bytes | memoryview, mask: bytes) -> bytes:
    """``payload`` XORed with the repeated 4-byte ``mask`` (RFC 6455 5.3), in one step."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


def _utf8_prefix(data: bytes | memoryview) -> bool:
    """Whether ``data`` can start valid UTF-8 (wsproto fails a text frame on its first bad
    byte, before the frame is complete)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


class FrameSplitter:
    """Splits received bytes into ready :class:`Message` events and bytes for wsproto."""

    def __init__(self, ws: WSConnection, max_message_size: int) -> None:
        self._ws = ws
        self._max = max_message_size
        self._carry = b""
        self._masked = False  # frames from a client are masked (learnt from wsproto)
        self._decoders: tuple[Any, Any] | None = None  # wsproto's, once found (see below)

    def _wsproto_idle(self) -> bool:
        """wsproto holds no partial frame and no unfinished message (no extensions)."""
        decoders = self._decoders or self._find_decoders()
        if decoders is None:
            return False
        frames, messages = decoders
        return frames.header is None and not len(frames.buffer) and messages.opcode is None

    def _find_decoders(self) -> tuple[Any, Any] | None:
        """wsproto's frame and message decoders (made once per connection: kept from the
        first time they are there), or ``None`` where this splitter must not parse."""
        proto = getattr(self._ws.connection, "_proto", None)
        frames = getattr(proto, "_frame_decoder", None)
        messages = getattr(proto, "_message_decoder", None)
        client = getattr(proto, "client", None)
        if frames is None or messages is None or type(client) is not bool:
            return None  # a wsproto this was not written for
        self._masked = not client  # a server reads masked frames
        if getattr(proto, "extensions", True):
            return None  # an extension (permessage-deflate) transforms payloads: wsproto's job
        self._decoders = (frames, messages)
        return self._decoders

    def encode(self, data: str | bytes | bytearray | memoryview) -> bytes | None:
        """``data`` (already checked: text is valid Unicode) as one final data frame, or
        ``None`` when wsproto must frame it (an extension, or a state this does not know).
        Call only while the connection is open."""
        proto = getattr(self._ws.connection, "_proto", None)
        client = getattr(proto, "client", None)
        if type(client) is not bool or getattr(proto, "extensions", True):
            return None
        if getattr(proto, "_outbound_opcode", True) is not None:
            return None  # a fragmented message of wsproto's under way (or wsproto changed)
        if isinstance(data, str):
            return _frame(data.encode("utf-8"), _TEXT, client)
        return _frame(bytes(data), _BINARY, client)

    def feed(self, conn: _WebSocketBase, data: bytes, now: float) -> None:
        """``conn.receive_data``'s work: messages taken here, the rest fed to wsproto."""
        if conn._state.value not in _SPLIT_STATES:
            conn._feed_wsproto(data, now)
            return
        for piece in self.split(data):
            if conn._closed():
                return  # failed or closed earlier in this buffer: the rest is moot
            if type(piece) is Message:
                conn._events.append(piece)
            else:
                assert isinstance(piece, bytes)
                conn._feed_wsproto(piece, now)

    def split(self, data: bytes) -> list[Message | bytes]:
        """``data`` as a list of ready messages and byte strings to feed to wsproto, in order."""
        if self._carry:
            data, self._carry = self._carry + data, b""
        elif not self._wsproto_idle():
            return [data]
        out: list[Message | bytes] = []
        view = memoryview(data)
        pos, end_of_data, masked = 0, len(data), self._masked
        while pos < end_of_data:
            b0 = data[pos]
            if end_of_data - pos < 2:
                self._carry = data[pos:]
                break
            b1 = data[pos + 1]
            opcode = b0 & 0x0F
            simple = (b0 & 0xF0) == 0x80 and opcode in (_TEXT, _BINARY)
            simple = simple and bool(b1 & 0x80) is masked
            if not simple and opcode <= _CLOSE:
                out.append(data[pos:])  # a fragment, close or anything odd: wsproto from here
                break
            length, head = b1 & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            if masked and b1 & 0x80:
                head += 4  # the masking key (a client's frame: the only kind read masked)
            stop = pos + head + length
            if end_of_data - pos < head:
                # The header is cut by the end of this read: only a data frame waits here
                # (wsproto judges anything else from its first bytes, as before).
                if simple and length <= self._max:
                    self._carry = data[pos:]
                else:
                    out.append(data[pos:])
                break
            if length > self._max or (stop > end_of_data and length > CARRY_LIMIT):
                out.append(data[pos:])  # too big to hold here: wsproto streams (or refuses) it
                break
            payload: bytes | memoryview = view[pos + head : stop]
            if simple and masked:
                payload = _unmask(payload, data[pos + head - 4 : pos + head])
            if stop > end_of_data:
                if not simple or (opcode == _TEXT and not _utf8_prefix(payload)):
                    out.append(data[pos:])  # wsproto sees what is wrong as early as before
                else:
                    self._carry = data[pos:]  # cut by the end of this read
                break
            if not simple:
                out.append(data[pos:stop])  # a whole control frame (ping, pong)
            elif opcode == _TEXT:
                try:
                    out.append(Message(str(payload, "utf-8")))
                except UnicodeDecodeError:
                    out.append(data[pos:])  # wsproto fails it (1007)
                    break
            else:
                out.append(Message(bytes(payload)))
            pos = stop
        return out
