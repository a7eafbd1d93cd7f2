"""The anyio WebSocket driver against an independent implementation (``websockets``).

Our client meets a ``websockets`` asyncio server running in its own thread and
event loop (so the same server serves the asyncio and the trio runs); our
``serve`` meets ``websockets`` clients, also on their own thread's loop. Every
test runs under asyncio and trio.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from http import HTTPStatus
from typing import Any

import anyio
import pytest
import trustme
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve as ws_serve
from websockets.http11 import Request

from adk_realtime.drivers.websocket import (
    ConnectError,
    HandshakeRejected,
    WebSocketConnection,
    connect,
    open_websocket,
    serve,
)
from adk_realtime.sansio.errors import ConnectionClosed, LocalProtocolError, MessageTooBig

pytestmark = pytest.mark.anyio

SECRET = "sk-test-SECRET-0123456789"


# -- an independent server: websockets on its own thread and loop ---------------------


async def _route(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request else "/"
    if path.startswith("/echo"):
        async for message in ws:
            await ws.send(message)
    elif path.startswith("/headers"):
        assert ws.request is not None
        await ws.send(repr(sorted(ws.request.headers.raw_items())))
        await ws.wait_closed()
    elif path.startswith("/close"):
        for i in range(3):
            await ws.send(f"m{i}")
        await ws.close(4001, "server done")
    elif path.startswith("/drop"):
        await ws.send("about to vanish")
        ws.transport.abort()
    elif path.startswith("/burst"):
        n = int(path.split("n=")[1])
        for i in range(n):
            await ws.send(f"{i:06d}" + "x" * 1024)
        await ws.send("done")
        await ws.wait_closed()


def _process_request(connection: ServerConnection, request: Request) -> Any:
    if request.path.startswith("/reject"):
        token = request.headers.get("Authorization", "").split()[-1]  # echo the bare key
        return connection.respond(HTTPStatus.UNAUTHORIZED, f"invalid key {token}\n")
    return None


class ThreadedServer:
    """A ``websockets`` server in a thread with its own asyncio loop."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),))

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with ws_serve(
            _route,
            "127.0.0.1",
            0,
            ssl=self._ssl,
            process_request=_process_request,
            max_size=None,
            compression=None,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        assert self._ready.wait(10), "websockets server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[ThreadedServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with ThreadedServer(context) as srv:
        yield srv


def url(srv: ThreadedServer, path: str, scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{srv.port}{path}"


async def in_asyncio_thread(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a ``websockets`` client coroutine on a fresh asyncio loop in a worker thread."""
    return await anyio.to_thread.run_sync(lambda: asyncio.run(fn()))  # type: ignore[arg-type]


# -- our client against websockets' server --------------------------------------------


async def test_echo_text_and_binary(server: ThreadedServer) -> None:
    async with open_websocket(url(server, "/echo")) as ws:
        await ws.send("hello")
        await ws.send(b"\x00\x01\x02")
        assert await ws.receive() == "hello"
        assert await ws.receive() == b"\x00\x01\x02"
    assert ws.close_code == 1000


async def test_a_text_with_a_lone_surrogate_is_refused_by_send_and_the_connection_stays_up(
    server: ThreadedServer,
) -> None:
    """The writer task would fail to encode it later and take the connection down (1006)."""
    async with open_websocket(url(server, "/echo")) as ws:
        with pytest.raises(LocalProtocolError, match=r"lone surrogate '\\ud800' at index 3"):
            await ws.send("abc\ud800")
        await ws.send("still open \U0001f600")  # a real astral character is text
        assert await ws.receive() == "still open \U0001f600"
    assert ws.close_code == 1000


async def test_handshake_sends_the_given_headers(server: ThreadedServer) -> None:
    headers = [("Authorization", f"Bearer {SECRET}"), ("OpenAI-Beta", "realtime=v1")]
    async with open_websocket(url(server, "/headers?model=x"), headers=headers) as ws:
        seen = await ws.receive()
    assert ("Authorization", f"Bearer {SECRET}") in eval(seen)
    assert ("OpenAI-Beta", "realtime=v1") in eval(seen)
    assert SECRET not in repr(ws)


async def test_a_large_message_round_trips(server: ThreadedServer) -> None:
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    async with open_websocket(url(server, "/echo")) as ws:
        await ws.send(payload)
        assert await ws.receive() == payload


async def test_an_incoming_message_over_the_limit_closes_1009(server: ThreadedServer) -> None:
    async with open_websocket(url(server, "/echo"), max_message_size=1000) as ws:
        await ws.send("small")
        assert await ws.receive() == "small"
        await ws.send("x" * 5000)  # the echo is too big for us
        with anyio.fail_after(1), pytest.raises(ConnectionClosed) as info:
            await ws.receive()
    assert info.value.code == 1009
    assert isinstance(info.value.__cause__, MessageTooBig)


async def test_a_server_close_mid_stream_surfaces_within_a_second(server: ThreadedServer) -> None:
    async with open_websocket(url(server, "/close")) as ws:
        with anyio.fail_after(1):
            assert [await ws.receive() for _ in range(3)] == ["m0", "m1", "m2"]
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
    assert (info.value.code, info.value.reason) == (4001, "server done")
    assert (ws.close_code, ws.close_reason) == (4001, "server done")
    with pytest.raises(ConnectionClosed):
        await ws.send("after the close")


async def test_a_dropped_socket_surfaces_as_1006_within_a_second(server: ThreadedServer) -> None:
    async with open_websocket(url(server, "/drop")) as ws:
        with anyio.fail_after(1):
            assert await ws.receive() == "about to vanish"
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
    assert info.value.code == 1006


async def test_iteration_ends_on_a_normal_close(server: ThreadedServer) -> None:
    async with open_websocket(url(server, "/echo")) as ws:
        for i in range(5):
            await ws.send(str(i))
        received = []
        async for message in ws:
            received.append(message)
            if len(received) == 5:
                await ws.aclose()
    assert received == ["0", "1", "2", "3", "4"]


async def test_a_401_raises_handshake_rejected_without_leaking_the_key(
    server: ThreadedServer,
) -> None:
    with pytest.raises(HandshakeRejected) as info:
        async with open_websocket(
            url(server, "/reject"), headers=[("Authorization", f"Bearer {SECRET}")]
        ):
            pass
    assert info.value.status == 401
    assert info.value.body == f"invalid key {SECRET}\n".encode()  # the server echoed it...
    assert SECRET not in str(info.value)  # ...the message does not
    assert SECRET not in repr(info.value)
    assert ("content-type", "text/plain; charset=utf-8") in info.value.headers


async def test_no_connection_leaves_an_unclosed_send_queue_behind(server: ThreadedServer) -> None:
    """Neither a finished connection nor a refused handshake: each left its send queue
    open, and anyio warned (ResourceWarning) when it was collected."""
    import gc
    import warnings

    gc.collect()  # earlier tests' garbage (their in-memory pipes) is not this test's
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        async with open_websocket(url(server, "/echo")) as ws:
            await ws.send("hi")
            assert await ws.receive() == "hi"
        del ws
        with pytest.raises(HandshakeRejected):
            async with open_websocket(url(server, "/reject")):
                pass
        gc.collect()
    assert [str(w.message) for w in seen if "MemoryObject" in str(w.message)] == []


async def test_a_closed_port_is_a_clear_connect_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with pytest.raises(ConnectError, match="could not connect"):
        async with open_websocket(f"ws://127.0.0.1:{port}/"):
            pass


async def test_a_silent_server_is_a_connect_timeout() -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        with pytest.raises(ConnectError, match="connect_timeout"):
            async with open_websocket(f"ws://127.0.0.1:{port}/", connect_timeout=0.3):
                pass


async def hand_made_handshake(stream: anyio.abc.SocketStream, then: bytes = b"") -> None:
    """Read an upgrade request and answer 101 by hand, followed by raw bytes ``then``."""
    request = b""
    while b"\r\n\r\n" not in request:
        request += await stream.receive()
    key = re.search(rb"(?i)sec-websocket-key: *([^\r]+)", request)
    assert key is not None
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    token = base64.b64encode(hashlib.sha1(key.group(1) + guid).digest())
    await stream.send(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + token + b"\r\n\r\n" + then
    )


async def test_an_empty_close_frame_ends_iteration_like_a_normal_close() -> None:
    """A close frame without a code (reported as 1005) is how some servers say goodbye."""

    async def peer(stream: anyio.abc.SocketStream) -> None:
        await hand_made_handshake(stream, then=b"\x81\x02hi" + b"\x88\x00")
        with anyio.move_on_after(5):
            await stream.receive()  # our echoed close

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, peer)
            with anyio.fail_after(5):
                async with open_websocket(f"ws://127.0.0.1:{port}/") as ws:
                    got = [message async for message in ws]
            tg.cancel_scope.cancel()
    assert got == ["hi"]
    assert ws.close_code == 1005


async def test_a_redirect_says_where_it_points_without_query_secrets() -> None:
    async def peer(stream: anyio.abc.SocketStream) -> None:
        await stream.receive()
        await stream.send(
            b"HTTP/1.1 301 Moved Permanently\r\n"
            b"Location: wss://elsewhere.example/v1/realtime?key=" + SECRET.encode() + b"\r\n"
            b"Content-Length: 0\r\n\r\n"
        )

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, peer)
            with pytest.raises(HandshakeRejected) as info:
                async with open_websocket(f"ws://127.0.0.1:{port}/"):
                    pass
            tg.cancel_scope.cancel()
    assert info.value.status == 301
    assert "redirected to wss://elsewhere.example/v1/realtime?key=<redacted>" in str(info.value)
    assert SECRET not in str(info.value)


async def test_a_peer_that_stops_answering_pings_is_dropped_with_1011() -> None:
    """A hand-made peer completes the handshake, then reads and never answers."""

    async def mute_peer(stream: anyio.abc.SocketStream) -> None:
        await hand_made_handshake(stream)
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, mute_peer)
            async with open_websocket(
                f"ws://127.0.0.1:{port}/", ping_interval=0.1, pong_timeout=0.2
            ) as ws:
                with anyio.fail_after(2), pytest.raises(ConnectionClosed) as info:
                    await ws.receive()
            tg.cancel_scope.cancel()
    assert (info.value.code, info.value.reason) == (1011, "pong timeout")


async def test_a_slow_reader_pushes_back_and_loses_nothing(server: ThreadedServer) -> None:
    n = 300
    async with open_websocket(url(server, f"/burst?n={n}"), receive_queue_size=4) as ws:
        with anyio.fail_after(5):
            await ws._paused_event.wait()  # the reader stopped reading the socket
        # at most the limit plus what one 64 KiB read decodes to (~60 of these)
        assert 4 <= ws.pending_messages <= 4 + 64
        with anyio.fail_after(10):
            got = [await ws.receive() for _ in range(n + 1)]
    assert [m[:6] for m in got[:n]] == [f"{i:06d}" for i in range(n)]
    assert got[n] == "done"


async def test_a_stalled_app_is_not_mistaken_for_a_dead_peer(server: ThreadedServer) -> None:
    """While back-pressure keeps us from reading, unread pongs are not the peer's silence."""
    n = 300
    async with open_websocket(
        url(server, f"/burst?n={n}"), receive_queue_size=4, ping_interval=0.05, pong_timeout=0.2
    ) as ws:
        with anyio.fail_after(5):
            await ws._paused_event.wait()
        await anyio.sleep(0.6)  # the app stalls for three pong timeouts: the behaviour under test
        with anyio.fail_after(10):
            got = [await ws.receive() for _ in range(n + 1)]
        assert got[n] == "done"
        assert ws.close_code is None  # still open: keepalive resumed where it paused


async def test_connect_runs_in_the_callers_task_group(server: ThreadedServer) -> None:
    async with anyio.create_task_group() as tg:
        ws = await connect(url(server, "/echo"), task_group=tg)
        await ws.send("via task group")
        assert await ws.receive() == "via task group"
        await ws.aclose()
    assert ws.close_code == 1000


# -- TLS ------------------------------------------------------------------------------


async def test_tls_with_a_trusted_ca_connects(tls_server: ThreadedServer, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with open_websocket(url(tls_server, "/echo", "wss"), ssl_context=context) as ws:
        await ws.send("secure")
        assert await ws.receive() == "secure"


async def test_tls_with_an_untrusted_certificate_is_refused(tls_server: ThreadedServer) -> None:
    with pytest.raises(ConnectError, match="certificate verification failed") as info:
        async with open_websocket(url(tls_server, "/echo", "wss")):  # default trust store
            pass
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_wss_to_a_plain_server_that_hangs_up_is_a_connect_error() -> None:
    async def plain_peer(stream: anyio.abc.SocketStream) -> None:
        await stream.receive()  # the TLS ClientHello, which it does not understand
        await stream.aclose()

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, plain_peer)
            with anyio.fail_after(5), pytest.raises(ConnectError, match="TLS handshake"):
                async with open_websocket(f"wss://127.0.0.1:{port}/"):
                    pass
            tg.cancel_scope.cancel()


# -- our serve against websockets' client ------------------------------------------------


async def echo_handler(ws: WebSocketConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def test_serve_echoes_for_a_websockets_client() -> None:
    async with serve(echo_handler) as srv:

        async def client() -> list[str | bytes]:
            async with ws_connect(srv.url + "/chat?x=1") as ws:
                await ws.send("hi")
                await ws.send(b"\x01\x02")
                return [await ws.recv(), await ws.recv()]

        assert await in_asyncio_thread(client) == ["hi", b"\x01\x02"]


async def test_serve_reject_answers_401_with_a_body() -> None:
    def reject(target: str, headers: Any) -> tuple[int, str] | None:
        keys = [v for n, v in headers if n == "authorization"]
        return None if keys == ["Bearer good"] else (401, "bad credentials")

    async with serve(echo_handler, reject=reject) as srv:

        async def client() -> tuple[int, bytes]:
            try:
                async with ws_connect(srv.url, additional_headers={"Authorization": "Bearer x"}):
                    pass
            except websockets.InvalidStatus as exc:
                return exc.response.status_code, bytes(exc.response.body)
            raise AssertionError("the upgrade was not rejected")

        assert await in_asyncio_thread(client) == (401, b"bad credentials")


async def test_serve_closes_1000_when_the_handler_returns_and_1011_when_it_fails() -> None:
    async def handler(ws: WebSocketConnection) -> None:
        message = await ws.receive()
        assert ws.request_target == "/t"
        if message == "fail":
            raise RuntimeError("handler bug")
        await ws.send("ok")

    async with serve(handler) as srv:

        async def client(text: str) -> tuple[int | None, list[Any]]:
            got = []
            async with ws_connect(srv.url + "/t") as ws:
                await ws.send(text)
                try:
                    async for message in ws:
                        got.append(message)
                except websockets.ConnectionClosedError:
                    pass  # how websockets reports a close code other than 1000/1001
            return ws.close_code, got

        assert await in_asyncio_thread(lambda: client("hello")) == (1000, ["ok"])
        assert await in_asyncio_thread(lambda: client("fail")) == (1011, [])


async def test_serve_over_tls_for_a_websockets_client(ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with serve(echo_handler, ssl_context=server_context) as srv:
        assert srv.url.startswith("wss://")

        async def client() -> Any:
            async with ws_connect(srv.url, ssl=client_context) as ws:
                await ws.send("over tls")
                return await ws.recv()

        assert await in_asyncio_thread(client) == "over tls"


async def test_serve_handles_200_concurrent_websockets_clients() -> None:
    n = 200
    live = 0
    peak = 0

    async def handler(ws: WebSocketConnection) -> None:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        try:
            async for message in ws:
                assert isinstance(message, str)
                await ws.send(f"echo {message}")
        finally:
            live -= 1

    async with serve(handler) as srv:

        async def clients() -> list[Any]:
            all_open = asyncio.Barrier(n)

            async def one(i: int) -> Any:
                async with ws_connect(srv.url, open_timeout=30) as ws:
                    await all_open.wait()  # every connection is open at once
                    await ws.send(str(i))
                    return await ws.recv()

            return await asyncio.gather(*(one(i) for i in range(n)))

        with anyio.fail_after(60):
            replies = await in_asyncio_thread(clients)
    assert replies == [f"echo {i}" for i in range(n)]
    assert peak == n


async def test_send_waits_when_the_peer_does_not_read_and_nothing_is_lost() -> None:
    """Send-side back-pressure: our client to our server whose handler pauses."""
    total, size = 400, 64 * 1024
    release = anyio.Event()
    received: list[bytes] = []

    async def handler(ws: WebSocketConnection) -> None:
        await release.wait()
        while len(received) < total:
            message = await ws.receive()
            assert isinstance(message, bytes)
            received.append(message[:4])
        await ws.send("all received")

    sent = 0
    async with serve(handler, receive_queue_size=2) as srv:
        async with open_websocket(srv.url, send_queue_size=2) as ws:

            async def sender() -> None:
                nonlocal sent
                for i in range(total):
                    await ws.send(i.to_bytes(4, "big") + bytes(size - 4))
                    sent += 1

            async with anyio.create_task_group() as tg:
                tg.start_soon(sender)
                await anyio.wait_all_tasks_blocked()
                assert sent < total  # the sender is held back (26 MB do not fit in buffers)
                assert ws._send_tx.statistics().current_buffer_used <= 2
                release.set()
            with anyio.fail_after(20):
                assert await ws.receive() == "all received"
    assert received == [i.to_bytes(4, "big") for i in range(total)]


async def test_a_body_error_comes_out_unwrapped_and_closes_1011(server: ThreadedServer) -> None:
    with pytest.raises(KeyError):
        async with open_websocket(url(server, "/echo")) as ws:
            raise KeyError("application bug")
    assert ws.close_code == 1011


async def test_leaving_serve_closes_open_connections_with_1001() -> None:
    handler_started = anyio.Event()

    async def handler(ws: WebSocketConnection) -> None:
        handler_started.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        async with serve(handler) as srv:
            ws = await connect(srv.url, task_group=tg)
            await handler_started.wait()
        with anyio.fail_after(1), pytest.raises(ConnectionClosed) as info:
            await ws.receive()
        assert info.value.code == 1001


async def test_drop_sends_what_was_queued_then_ends_without_a_close_frame() -> None:
    """``drop()``: the peer reads every message queued before it, then 1006 (no close frame),
    even while it is still sending (its bytes are read and discarded, so no reset eats the
    tail); our side reads 1006 too and refuses to send more."""
    n = 300
    after: list[Any] = []

    async def handler(ws: WebSocketConnection) -> None:
        assert await ws.receive() == "go"
        for i in range(n):
            await ws.send(f"{i:06d}" + "x" * 1024)
        await ws.drop()
        after.append(ws.close_code)
        with pytest.raises(ConnectionClosed):
            await ws.send("too late")
        after.append(True)
        finished.set()

    finished = anyio.Event()
    async with serve(handler) as srv:

        async def client() -> tuple[int, Any, Any]:
            got = 0
            async with ws_connect(srv.url) as ws:
                await ws.send("go")
                try:
                    async for _ in ws:
                        got += 1
                        await ws.send("still talking")
                except websockets.ConnectionClosedError as exc:
                    return got, exc.rcvd, exc.sent
            raise AssertionError("the connection closed cleanly")

        got, rcvd, sent = await in_asyncio_thread(client)
        with anyio.fail_after(10):
            await finished.wait()
    assert (got, rcvd, sent) == (n, None, None)
    assert after == [1006, True]
