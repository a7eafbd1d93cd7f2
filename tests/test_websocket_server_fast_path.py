"""The asyncio fast path of the WebSocket server (``drivers/_asyncio_ws_server.py``).

When it is chosen (asyncio, plain TCP, not refused) and when not (trio, TLS,
``asyncio_fast_path=False``); that a client's upgrade and first messages sent at once are
all kept; that direct sends keep order and push back when the peer does not read; that a
message sent after the peer went away is a ``ConnectionClosed``. (``test_websocket_driver``
and ``test_websocket_fast_path`` also run our server on this path under asyncio, since it
is the default there.)
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import anyio
import pytest

from adk_realtime.drivers._asyncio_ws_server import AsyncioServerConnection
from adk_realtime.drivers.websocket import WebSocketConnection, open_websocket, serve
from adk_realtime.sansio.errors import ConnectionClosed, LocalProtocolError
from tests.test_websocket_sansio import frame

pytestmark = pytest.mark.anyio

TEXT = 0x1


@pytest.fixture(params=[True, False], ids=["fast", "anyio"])
def fast(request: pytest.FixtureRequest, anyio_backend: str) -> bool:
    return bool(request.param)


def expected_class(fast: bool, anyio_backend: str) -> type[WebSocketConnection]:
    if fast and anyio_backend == "asyncio":
        return AsyncioServerConnection
    return WebSocketConnection


async def test_the_path_is_chosen_by_loop_and_option(fast: bool, anyio_backend: str) -> None:
    kinds: list[type] = []

    async def echo(ws: WebSocketConnection) -> None:
        kinds.append(type(ws))
        async for message in ws:
            await ws.send(message)

    async with serve(echo, asyncio_fast_path=fast) as srv:
        async with open_websocket(srv.url) as ws:
            with anyio.fail_after(10):
                await ws.send("hi")
                assert await ws.receive() == "hi"
    assert kinds == [expected_class(fast, anyio_backend)]


async def test_an_upgrade_and_messages_sent_at_once_are_all_kept(fast: bool) -> None:
    """A raw client writes its upgrade request and three messages in one go, at once."""
    got: list[str | bytes] = []
    done = anyio.Event()

    async def handler(ws: WebSocketConnection) -> None:
        for _ in range(3):
            got.append(await ws.receive())
        done.set()
        await ws.send("thanks")

    request = (
        b"GET /media HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    burst = request + b"".join(frame(TEXT, f"m{i}".encode(), mask=True) for i in range(3))
    async with serve(handler, asyncio_fast_path=fast) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as raw:
            raw.sendall(burst)
            with anyio.fail_after(10):
                await done.wait()
            reply = b""
            while b"thanks" not in reply:
                chunk = await anyio.to_thread.run_sync(raw.recv, 65536)
                assert chunk, "the server closed before answering"
                reply += chunk
    assert got == ["m0", "m1", "m2"]
    assert reply.startswith(b"HTTP/1.1 101")


async def test_many_sends_arrive_in_order_and_a_bad_text_is_refused(fast: bool) -> None:
    async def talker(ws: WebSocketConnection) -> None:
        assert await ws.receive() == "go"
        with pytest.raises(LocalProtocolError):
            await ws.send("lone \ud800 surrogate")  # refused; the connection goes on
        for i in range(2000):
            await ws.send(f"{i}" if i % 2 else f"{i}".encode())
        await ws.send(b"\x00" * 300_000)

    async with serve(talker, asyncio_fast_path=fast) as srv:
        async with open_websocket(srv.url) as ws:
            await ws.send("go")
            with anyio.fail_after(20):
                got = [await ws.receive() for _ in range(2001)]
    expected: list[Any] = [f"{i}" if i % 2 else f"{i}".encode() for i in range(2000)]
    assert got == [*expected, b"\x00" * 300_000]


async def test_send_many_sends_in_order_and_stops_at_a_refused_text(fast: bool) -> None:
    """``send_many``: the messages in order (text and binary), as ``send`` each; a lone
    surrogate is refused after the ones before it went, the rest are not sent, the
    connection goes on; an empty batch sends nothing; once the peer left, ConnectionClosed."""
    outcome: list[Any] = []
    done = anyio.Event()

    async def talker(ws: WebSocketConnection) -> None:
        assert await ws.receive() == "go"
        await ws.send_many([])
        await ws.send_many(["a", b"b", bytearray(b"c"), "d" * 70_000])
        with pytest.raises(LocalProtocolError):
            await ws.send_many(["e", "lone \ud800", "never"])
        await ws.send_many(iter(["f", "end"]))
        assert await ws.receive() == "bye"
        with anyio.fail_after(10):
            while True:
                try:
                    await ws.send_many(["x" * 1000, "y"])
                except ConnectionClosed as exc:
                    outcome.append(exc.code)
                    break
                await anyio.sleep(0)
        done.set()

    async with serve(talker, asyncio_fast_path=fast) as srv:
        async with open_websocket(srv.url) as ws:
            await ws.send("go")
            with anyio.fail_after(10):
                got = [await ws.receive() for _ in range(7)]
            await ws.send("bye")
        with anyio.fail_after(10):
            await done.wait()
    assert got == ["a", b"b", b"c", "d" * 70_000, "e", "f", "end"]
    assert outcome[0] in (1000, 1006)


async def test_send_many_is_a_checkpoint(fast: bool) -> None:
    """In a cancelled scope nothing of the batch is sent."""

    async def handler(ws: WebSocketConnection) -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await ws.send_many(["cancelled", "too"])
        await ws.send_many(["after"])

    async with serve(handler, asyncio_fast_path=fast) as srv:
        async with open_websocket(srv.url) as ws:
            with anyio.fail_after(10):
                assert await ws.receive() == "after"


async def test_send_waits_while_the_peer_does_not_read_and_loses_nothing(fast: bool) -> None:
    total, size = 400, 64 * 1024
    sent = 0
    blocked = anyio.Event()

    async def sender(ws: WebSocketConnection) -> None:
        nonlocal sent
        for i in range(total):
            await ws.send(struct.pack("!I", i) + bytes(size - 4))
            sent += 1
        await ws.send("end")

    async with serve(sender, asyncio_fast_path=fast, send_queue_size=2) as srv:
        async with open_websocket(srv.url, receive_queue_size=1) as ws:
            with anyio.fail_after(10):
                await ws._paused_event.wait()  # our reader stopped: the server must wait
                await anyio.wait_all_tasks_blocked()
            assert sent < total  # 26 MB do not fit in the buffers
            blocked.set()
            with anyio.fail_after(30):
                got = [await ws.receive() for _ in range(total + 1)]
    assert [g[:4] for g in got[:-1]] == [struct.pack("!I", i) for i in range(total)]
    assert got[-1] == "end"


async def test_a_send_after_the_peer_left_is_connection_closed(fast: bool) -> None:
    outcome: list[Any] = []
    done = anyio.Event()

    async def handler(ws: WebSocketConnection) -> None:
        assert await ws.receive() == "bye"
        with anyio.fail_after(10):
            while True:
                try:
                    await ws.send("x" * 1000)
                except ConnectionClosed as exc:
                    outcome.append(exc.code)
                    break
                await anyio.sleep(0)
        done.set()

    async with serve(handler, asyncio_fast_path=fast) as srv:
        async with open_websocket(srv.url) as ws:
            await ws.send("bye")
        with anyio.fail_after(10):
            await done.wait()
    assert outcome and outcome[0] in (1000, 1006)


async def test_a_stalled_server_answers_no_ping(fast: bool) -> None:
    """``stall()`` (the simulator's half-dead fault): nothing more is read, so the client's
    pings go unanswered and its keepalive ends the connection."""
    stalled = anyio.Event()

    async def handler(ws: WebSocketConnection) -> None:
        assert await ws.receive() == "hello"
        ws.stall()
        stalled.set()
        await anyio.sleep_forever()

    async with serve(handler, asyncio_fast_path=fast) as srv:
        async with open_websocket(srv.url, ping_interval=0.2, pong_timeout=0.3) as ws:
            await ws.send("hello")
            with anyio.fail_after(10):
                await stalled.wait()
                with pytest.raises(ConnectionClosed) as info:
                    await ws.receive()
    assert (info.value.code, info.value.reason) == (1011, "pong timeout")


def test_the_server_fast_path_runs_on_uvloop() -> None:
    """uvloop (the ``fast`` extra): accepted transports take the fast path too."""
    pytest.importorskip("uvloop")

    async def main() -> tuple[list[type], list[str | bytes]]:
        kinds: list[type] = []

        async def echo(ws: WebSocketConnection) -> None:
            kinds.append(type(ws))
            async for message in ws:
                await ws.send(message)

        async with serve(echo) as srv:
            async with open_websocket(srv.url) as ws:
                with anyio.fail_after(10):
                    for i in range(20):
                        await ws.send(f"m{i}")
                    got = [await ws.receive() for _ in range(20)]
        return kinds, got

    kinds, got = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    assert (kinds, got) == ([AsyncioServerConnection], [f"m{i}" for i in range(20)])


async def test_a_send_is_a_checkpoint(fast: bool) -> None:
    """As on the anyio path: a task sending in a loop lets others run, and a send in a
    cancelled scope is cancelled before anything is sent."""
    ran: list[int] = []

    async def handler(ws: WebSocketConnection) -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await anyio.sleep(0)
            before = ticks
            for _ in range(50):
                await ws.send("tick")
            ran.append(ticks - before)
            tg.cancel_scope.cancel()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await ws.send("cancelled")
        await ws.send("after")

    async with serve(handler, asyncio_fast_path=fast) as srv:
        async with open_websocket(srv.url) as ws:
            with anyio.fail_after(10):
                got = [await ws.receive() for _ in range(51)]
    assert got == ["tick"] * 50 + ["after"]
    assert ran and ran[0] >= 25  # the other task ran while this one sent
