"""The lean WebSocket client of bench_phone's callers (not a benchmark itself).

A load generator has to cost much less than the code it loads, so this is the least a
client may do on plain asyncio (no anyio, no task or lock per message): the HTTP upgrade
written by hand and its ``101`` checked (status, ``Upgrade``, ``Connection``,
``Sec-WebSocket-Accept``); outgoing text frames built by :func:`text_frame`, once for the
fixed ones (masked with one random key per process: the mask defends a browser's
intermediaries, not a load generator's) and written straight to the transport; incoming
frames parsed with only what a server may send (unmasked; 7/16/64-bit lengths; text, also
fragmented; ping answered with a pong; close answered with a close). Every text message
goes to the receiver's ``received(message, now)``, ``now`` the loop's clock when the bytes
carrying it were read.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Protocol

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MASK_KEY = os.urandom(4)  # one per process (see the module docstring)
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_MESSAGE = 1 << 24  # 16 MiB, the library's own limit: a bigger frame is an error here
MAX_HEAD = 1 << 16  # the upgrade answer's header
NOT_ON_THE_WIRE = {1005, 1006, 1015}  # close codes that only report, never sent


class Receiver(Protocol):
    def received(self, message: str, now: float) -> None: ...


def masked(payload: bytes, key: bytes = MASK_KEY) -> bytes:
    """``payload`` XOR the repeated 4-byte ``key`` (RFC 6455 5.3), as one big-int XOR."""
    n = len(payload)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes, key: bytes = MASK_KEY) -> bytes:
    """One complete masked client frame (FIN set) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + key + masked(payload, key)


def text_frame(text: str) -> bytes:
    """One text message as the bytes to write: build fixed ones once and write them often."""
    return client_frame(OP_TEXT, text.encode())


def accept_value(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key: key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def upgrade_request(host: str, port: int, path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class LeanWebSocket(asyncio.Protocol):
    """One client connection: ``loop.create_connection(lambda: LeanWebSocket(...), ...)``,
    await ``opened`` (fails on a refused upgrade), then :meth:`send` frames; :meth:`close`
    starts the closing handshake and ``finished`` resolves once the connection is gone.
    ``error`` then says why it ended early, or is None (we closed it, the server agreed)."""

    def __init__(self, receiver: Receiver, host: str, port: int, path: str = "/") -> None:
        loop = asyncio.get_running_loop()
        self.receiver = receiver
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.request = upgrade_request(host, port, path, self.key)
        self.opened: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.error: str | None = None
        self.open = False  # upgraded, and no close frame sent yet: send() writes
        self.closing = False  # we sent a close frame
        self._clock = loop.time
        self._transport: asyncio.Transport | None = None
        self._head = b""  # the upgrade answer, until its blank line
        self._partial = b""  # the start of a frame not yet whole
        self._fragments: list[bytes] | None = None  # a fragmented text message so far

    # -- commands

    def send(self, frame: bytes) -> None:
        """Write complete frame(s) (from :func:`text_frame`); nothing once closing or closed."""
        if self.open:
            assert self._transport is not None
            self._transport.write(frame)

    def close(self, code: int = 1000) -> None:
        """Send a close frame; the server's answer (or the end of the connection) then
        resolves ``finished``."""
        if self.open:
            self._send_close(code)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        try:
            if not self.opened.done():
                data = self._handshake(data)
            if data:
                if self._partial:
                    data = self._partial + data
                self._partial = self._frames(data, self._clock())
        except Exception as exc:  # the receiver's too: the connection ends, counted
            self._fail(f"receive: {exc!r}")

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.error is None and not self.closing:
            self.error = f"connection lost: {exc!r}" if exc else "connection lost: EOF"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(self.error))
        if not self.finished.done():
            self.finished.set_result(None)

    # -- input

    def _handshake(self, data: bytes) -> bytes:
        """Read the upgrade answer; returns the bytes after it (frames already sent)."""
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > MAX_HEAD:
                self._fail("handshake: header too long")
            self._head = head
            return b""
        self._head = b""
        lines = head[:end].decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = lines[0].split(" ", 2)
        connection = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        if status[0] != "HTTP/1.1" or len(status) < 2 or status[1] != "101":
            problem = f"status {lines[0]!r}"
        elif headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in connection:
            problem = "no Upgrade: websocket / Connection: upgrade"
        elif headers.get("sec-websocket-accept") != accept_value(self.key):
            problem = f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}"
        elif "sec-websocket-extensions" in headers or "sec-websocket-protocol" in headers:
            problem = "an extension or subprotocol that was not asked for"
        else:
            self.open = True
            self.opened.set_result(None)
            return head[end + 4 :]
        self._fail(f"handshake: {problem}")
        return b""

    def _frames(self, data: bytes, now: float) -> bytes:
        """Deliver every whole frame of ``data``; returns the partial one at its end."""
        pos, end = 0, len(data)
        received = self.receiver.received
        while end - pos >= 2:
            first, second = data[pos], data[pos + 1]
            length, start = second & 0x7F, pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length, start = int.from_bytes(data[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, start = int.from_bytes(data[pos + 2 : pos + 10], "big"), pos + 10
            if second & 0x80 or first & 0x70 or length > MAX_MESSAGE:
                self._fail(f"protocol: bad frame header {first:#04x} {second:#04x}, {length} bytes")
                return b""
            stop = start + length
            if stop > end:
                break
            pos = stop
            if first == 0x80 | OP_TEXT and self._fragments is None:  # the common case
                received(data[start:stop].decode(), now)
            elif not self._other_frame(first, data[start:stop], now):
                return b""
        return data[pos:]

    def _other_frame(self, first: int, payload: bytes, now: float) -> bool:
        """A control frame or a fragment; False once the connection is ending."""
        fin, opcode = first & 0x80, first & 0x0F
        if opcode >= OP_CLOSE:
            if not fin or len(payload) > 125:
                self._fail(f"protocol: control frame {opcode} fragmented or too long")
            elif opcode == OP_PING:
                self.send(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._on_close(payload)
            elif opcode != OP_PONG:
                self._fail(f"protocol: opcode {opcode}")
            return not self._ended
        if opcode == OP_TEXT and self._fragments is None:
            self._fragments = [payload]
        elif opcode == OP_CONTINUATION and self._fragments is not None:
            self._fragments.append(payload)
        else:  # a binary message, or a data frame where a continuation must come
            self._fail(f"protocol: unexpected data frame, opcode {opcode}")
            return False
        if fin:
            message, self._fragments = b"".join(self._fragments), None
            if len(message) > MAX_MESSAGE:
                self._fail(f"protocol: message of {len(message)} bytes")
                return False
            self.receiver.received(message.decode(), now)
        return True

    @property
    def _ended(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def _on_close(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        if not self.closing:  # the server ended the call: answer, and say so
            self.error = f"closed early: code {code} {payload[2:].decode(errors='replace')!r}"
            self._send_close(1000 if code in NOT_ON_THE_WIRE else code)
        assert self._transport is not None
        self._transport.close()  # both close frames went: nothing more to read

    def _send_close(self, code: int) -> None:
        assert self._transport is not None
        self.open, self.closing = False, True
        self._transport.write(client_frame(OP_CLOSE, code.to_bytes(2, "big")))

    def _fail(self, reason: str) -> None:
        """A broken peer: say why, send close 1002 if we still may, and end."""
        if self.error is None:
            self.error = reason
        if self.open:
            self._send_close(1002)
        if self._transport is not None:
            self._transport.close()
