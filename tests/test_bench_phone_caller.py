"""bench_phone's lean WebSocket client (bench/_phone_caller.py) speaks RFC 6455: checked
byte by byte against a scripted server, and end to end against the library's server.

The client is plain asyncio by design (a load generator's process runs ``asyncio.run``),
so these tests run on asyncio only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import _phone_caller as pc
import bench_phone


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked server frame, with the shortest length encoding."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 1 << 16:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


def read_client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of each frame the client wrote; every one must be a
    final, masked frame."""
    frames, pos = [], 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        assert first & 0x80 and not first & 0x70 and second & 0x80
        n, pos = second & 0x7F, pos + 2
        if n == 126:
            n, pos = int.from_bytes(data[pos : pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos : pos + 8], "big"), pos + 8
        key, pos = data[pos : pos + 4], pos + 4
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos : pos + n]))
        frames.append((first & 0x0F, payload))
        pos += n
    return frames


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        assert not self.closed
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


class Messages:
    def __init__(self) -> None:
        self.got: list[tuple[str, float]] = []

    def received(self, message: str, now: float) -> None:
        self.got.append((message, now))


def accept_answer(key: str, accept: str | None = None) -> bytes:
    if accept is None:
        accept = base64.b64encode(
            hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        ).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


def opened(messages: Messages) -> tuple[pc.LeanWebSocket, Transport]:
    ws = pc.LeanWebSocket(messages, "127.0.0.1", 8080, "/call")
    transport = Transport()
    ws.connection_made(transport)
    return ws, transport


@pytest.mark.parametrize("n", [0, 5, 125, 126, 300, 65535, 65536, 70000])
def test_client_frames_are_final_masked_and_carry_the_payload(n: int) -> None:
    payload = bytes(i % 251 for i in range(n))
    frame = pc.client_frame(pc.OP_TEXT, payload)
    assert read_client_frames(frame) == [(pc.OP_TEXT, payload)]
    header = 2 if n < 126 else 4 if n < 1 << 16 else 10  # the shortest length encoding
    assert frame[header : header + 4] == pc.MASK_KEY and len(frame) == header + 4 + n


def test_upgrade_then_frames_split_anywhere_reach_the_receiver() -> None:
    async def scenario() -> None:
        messages = Messages()
        ws, transport = opened(messages)
        request = bytes(transport.written).decode()
        assert request.startswith("GET /call HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
        for header in ("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"):
            assert f"\r\n{header}\r\n" in request
        assert (
            f"\r\nSec-WebSocket-Key: {ws.key}\r\n" in request
            and len(base64.b64decode(ws.key)) == 16
        )
        transport.written.clear()

        big = "x" * 70000
        head = (
            accept_answer(ws.key)
            + server_frame(pc.OP_TEXT, b'{"event":"media"}')  # in the 101's own read
            + server_frame(pc.OP_TEXT, ("m" * 300).encode())
        )
        for k, byte in enumerate(head):  # one byte per read: every partial frame waits
            ws.data_received(bytes([byte]))
            if k == len(accept_answer(ws.key)) - 1:
                assert ws.opened.done() and ws.open
        wire = server_frame(pc.OP_TEXT, big.encode())
        for k in range(0, len(wire), 997):
            ws.data_received(wire[k : k + 997])
        wire = (
            server_frame(pc.OP_PING, b"p1")
            + server_frame(pc.OP_TEXT, "h\u00e9".encode(), fin=False)
            + server_frame(pc.OP_PING, b"p2")  # a control frame between fragments
            + server_frame(pc.OP_CONTINUATION, b"llo", fin=False)
            + server_frame(pc.OP_CONTINUATION, b"!")
            + server_frame(pc.OP_PONG, b"")
        )
        for byte in wire:
            ws.data_received(bytes([byte]))
        assert [m for m, _ in messages.got] == ['{"event":"media"}', "m" * 300, big, "héllo!"]
        assert read_client_frames(bytes(transport.written)) == [
            (pc.OP_PONG, b"p1"),
            (pc.OP_PONG, b"p2"),
        ]
        transport.written.clear()

        ws.send(pc.text_frame("hi"))
        ws.close()
        ws.send(pc.text_frame("after close"))  # not written: the close went
        assert read_client_frames(bytes(transport.written)) == [
            (pc.OP_TEXT, b"hi"),
            (pc.OP_CLOSE, (1000).to_bytes(2, "big")),
        ]
        ws.data_received(server_frame(pc.OP_CLOSE, (1000).to_bytes(2, "big")))
        assert transport.closed
        ws.connection_lost(None)
        assert ws.finished.done() and ws.error is None  # we hung up: no error

    asyncio.run(scenario())


def test_one_read_of_several_frames_is_delivered_with_its_read_time() -> None:
    async def scenario() -> None:
        messages = Messages()
        ws, _ = opened(messages)
        ws.data_received(accept_answer(ws.key))
        ws.data_received(server_frame(pc.OP_TEXT, b"a") + server_frame(pc.OP_TEXT, b"b"))
        (a, at_a), (b, at_b) = messages.got
        assert (a, b) == ("a", "b") and at_a == at_b

    asyncio.run(scenario())


def test_a_server_close_is_answered_and_counted_as_an_early_end() -> None:
    async def scenario() -> None:
        ws, transport = opened(Messages())
        ws.data_received(accept_answer(ws.key))
        transport.written.clear()
        ws.data_received(server_frame(pc.OP_CLOSE, (1011).to_bytes(2, "big") + b"boom"))
        assert read_client_frames(bytes(transport.written)) == [
            (pc.OP_CLOSE, (1011).to_bytes(2, "big"))
        ]
        assert transport.closed and ws.error == "closed early: code 1011 'boom'"
        ws.connection_lost(None)
        assert ws.error == "closed early: code 1011 'boom'"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "handshake: status"),
        (None, "handshake: Sec-WebSocket-Accept"),
    ],
)
def test_a_refused_or_wrong_upgrade_fails_the_connection(answer: bytes | None, error: str) -> None:
    async def scenario() -> None:
        ws, transport = opened(Messages())
        ws.data_received(answer or accept_answer(ws.key, accept="d3Jvbmc="))
        assert transport.closed and not ws.open and ws.error is not None
        assert ws.error.startswith(error)
        ws.connection_lost(None)
        with pytest.raises(ConnectionError, match=error):
            await ws.opened

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "frame",
    [
        bytes((0x81, 0x81)) + b"\0\0\0\0x",  # masked by the server
        bytes((0xC1, 1)) + b"x",  # RSV1 without an extension
        server_frame(pc.OP_BINARY, b"x"),
        server_frame(pc.OP_CONTINUATION, b"x"),  # nothing to continue
        server_frame(pc.OP_PING, b"x" * 126),
        server_frame(0x3, b""),
    ],
)
def test_a_frame_no_server_may_send_fails_the_connection(frame: bytes) -> None:
    async def scenario() -> None:
        messages = Messages()
        ws, transport = opened(messages)
        ws.data_received(accept_answer(ws.key))
        transport.written.clear()
        ws.data_received(frame + server_frame(pc.OP_TEXT, b"after"))
        assert ws.error is not None and ws.error.startswith("protocol: ")
        assert transport.closed and messages.got == []
        assert read_client_frames(bytes(transport.written)) == [
            (pc.OP_CLOSE, (1002).to_bytes(2, "big"))
        ]

    asyncio.run(scenario())


def test_the_lean_client_against_the_library_server() -> None:
    """Echoes of every length encoding come back whole; our close ends the call cleanly;
    the server hanging up first is an early end."""
    import anyio

    from adk_realtime.drivers.websocket import serve

    sizes = [10, 300, 70000]

    async def echo(ws: Any) -> None:
        async for message in ws:
            if message == "hang up":
                return
            await ws.send(message)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with serve(echo) as server:
            done = asyncio.Event()

            class Counting(Messages):
                def received(self, message: str, now: float) -> None:
                    super().received(message, now)
                    if len(self.got) == len(sizes):
                        done.set()

            messages = Counting()
            _, ws = await loop.create_connection(
                lambda: pc.LeanWebSocket(messages, "127.0.0.1", server.port),
                "127.0.0.1",
                server.port,
            )
            await ws.opened
            for n in sizes:
                ws.send(pc.text_frame("é" * (n // 2)))
            await done.wait()
            assert [m for m, _ in messages.got] == ["é" * (n // 2) for n in sizes]
            ws.close()
            await ws.finished
            assert ws.error is None

            _, ws2 = await loop.create_connection(
                lambda: pc.LeanWebSocket(Messages(), "127.0.0.1", server.port),
                "127.0.0.1",
                server.port,
            )
            await ws2.opened
            ws2.send(pc.text_frame("hang up"))
            await ws2.finished
            assert ws2.error == "closed early: code 1000 ''"

    anyio.run(scenario, backend="asyncio")


def test_mark_names_are_read_in_place_or_decoded() -> None:
    sid = bench_phone.SID
    assert bench_phone.mark_name(bench_phone.mark_message("m-7")) == "m-7"
    assert bench_phone.mark_name('{"event":"mark","mark":{"name":"a\\"b"}}') == 'a"b'
    spaced = '{"event": "mark", "streamSid": "' + sid + '", "mark": {"name": "x"}}'
    assert bench_phone.mark_name(spaced) == "x"

    caller = bench_phone.Caller(0, [], pc.text_frame("silence"), 0.0)
    caller.received('{"event":"mark","sequenceNumber":"3","mark":{"name":"a\\u00e9"}}', 1.0)
    assert list(caller.marks) == [(0.0, "a\u00e9")]
    frames = read_client_frames(caller.tick(1.0))
    assert [payload.decode() for _, payload in frames] == [
        "silence",
        bench_phone.mark_message("a\u00e9"),
    ]


def test_a_caller_that_cannot_connect_is_an_error_with_its_kind() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caller = bench_phone.Caller(0, [], b"", 0.0)
    asyncio.run(bench_phone.connect_caller(caller, port))
    assert caller.ws is None and caller.error is not None
    assert caller.error.startswith("connect: ConnectionRefusedError")
