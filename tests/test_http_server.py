"""Plain HTTP next to WebSocket on one port: `HttpServerExchange` and the driver's
``http_handler`` hook (asyncio and trio, real sockets on loopback)."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from adk_realtime.drivers.http_client import http_request
from adk_realtime.drivers.websocket import HandshakeRejected, WebSocketConnection, open_websocket
from adk_realtime.drivers.websocket_server import serve
from adk_realtime.sansio.errors import LocalProtocolError
from adk_realtime.sansio.http import HttpExchange, parse_url
from adk_realtime.sansio.http_server import (
    BadRequest,
    HttpReply,
    HttpRequest,
    HttpServerExchange,
    UpgradeRequested,
)
from adk_realtime.sansio.websocket.connection import ConnectRequest, WebSocketServer

UPGRADE = (
    b"GET /ws?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def post(body: bytes, *extra: bytes) -> bytes:
    head = b"POST /hook?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n" % len(body)
    return head + b"".join(extra) + b"\r\n" + body


# ---------------------------------------------------------------- the machine


def test_a_post_is_read_whole_and_answered_once_with_connection_close() -> None:
    exchange = HttpServerExchange()
    data = post(b"From=%2B1&To=2")
    for i in range(len(data)):  # a byte at a time: nothing until the body is whole
        assert exchange.next_event() is None
        exchange.receive_data(data[i : i + 1], 0.0)
    request = exchange.next_event()
    assert isinstance(request, HttpRequest)
    assert (request.method, request.path, request.query, request.body) == (
        "POST",
        "/hook",
        "a=1",
        b"From=%2B1&To=2",
    )
    assert request.header("HOST") == "h" and exchange.next_event() is None
    exchange.respond(HttpReply(200, b"<Response/>", "text/xml"))
    out = exchange.data_to_send()
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\n<Response/>")
    assert b"content-type: text/xml\r\n" in out and b"connection: close\r\n" in out
    with pytest.raises(LocalProtocolError):
        exchange.respond(HttpReply(200))
    exchange.receive_data(b"GET / HTTP/1.1\r\n\r\n", 0.0)  # after the answer: ignored
    assert exchange.next_event() is None


def test_an_upgrade_is_handed_on_with_every_byte_read_so_far() -> None:
    exchange = HttpServerExchange()
    exchange.receive_data(UPGRADE[:30], 0.0)
    exchange.receive_data(UPGRADE[30:] + b"\x81\x80", 0.0)  # a frame's first bytes too
    event = exchange.next_event()
    assert isinstance(event, UpgradeRequested)
    assert event.data == UPGRADE + b"\x81\x80" and event.target == "/ws?x=1"
    ws = WebSocketServer()
    ws.receive_data(event.data, 0.0)
    request = ws.next_event()
    assert isinstance(request, ConnectRequest) and request.target == "/ws?x=1"


def test_a_declared_body_over_the_limit_is_refused_with_413_before_it_is_read() -> None:
    exchange = HttpServerExchange(max_body_size=10)
    with pytest.raises(BadRequest) as caught:
        exchange.receive_data(post(b"x" * 11)[:-11], 0.0)
    assert caught.value.status == 413
    assert exchange.data_to_send().startswith(b"HTTP/1.1 413 ")
    with pytest.raises(LocalProtocolError):
        exchange.receive_data(b"more", 0.0)


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read() -> None:
    exchange = HttpServerExchange(max_body_size=10)
    head = b"POST /h HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    exchange.receive_data(head + b"8\r\n12345678\r\n", 0.0)
    with pytest.raises(BadRequest, match="over 10 bytes"):
        exchange.receive_data(b"8\r\n12345678\r\n0\r\n\r\n", 0.0)
    assert exchange.data_to_send().startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"GET http://other.example/x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /x HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 20_000, 431),
    ],
)
def test_a_malformed_request_is_answered_and_raises_naming_no_input(
    data: bytes, status: int
) -> None:
    exchange = HttpServerExchange()
    with pytest.raises(BadRequest) as caught:
        exchange.receive_data(data, 0.0)
    assert caught.value.status == status
    assert exchange.data_to_send().startswith(b"HTTP/1.1 %d " % status)
    assert b"other.example" not in str(caught.value).encode()


def test_a_client_that_leaves_early_is_a_bad_request() -> None:
    exchange = HttpServerExchange()
    exchange.receive_data(post(b"abcdef")[:-3], 0.0)
    with pytest.raises(BadRequest):
        exchange.receive_data(b"", 0.0)


def test_expect_100_continue_is_answered_before_the_body() -> None:
    exchange = HttpServerExchange()
    exchange.receive_data(
        b"POST /h HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", 0.0
    )
    assert exchange.data_to_send() == b"HTTP/1.1 100 Continue\r\n\r\n"
    exchange.receive_data(b"ok", 0.0)
    assert isinstance(exchange.next_event(), HttpRequest)


def test_head_is_answered_without_the_body() -> None:
    exchange = HttpServerExchange()
    exchange.receive_data(b"HEAD /healthz HTTP/1.1\r\nHost: h\r\n\r\n", 0.0)
    assert isinstance(exchange.next_event(), HttpRequest)
    exchange.respond(HttpReply.text(200, "ok"))
    assert exchange.data_to_send().endswith(b"content-length: 3\r\nconnection: close\r\n\r\n")


def test_reprs_show_neither_the_query_nor_the_body() -> None:
    request = HttpRequest("POST", "/h?token=abc", (("x", "y"),), b"From=%2B14155550100")
    assert repr(request) == "HttpRequest(method='POST')"
    assert "abc" not in repr(UpgradeRequested("/h?token=abc", (), b"token=abc"))
    assert "4155550100" not in repr(HttpReply(200, b"+14155550100"))


# ---------------------------------------------------------------- the driver


async def echo(ws: WebSocketConnection) -> None:
    async for message in ws:
        await ws.send(message)


def answer(request: HttpRequest) -> HttpReply:
    if request.path == "/boom":
        raise RuntimeError("the handler broke")
    return HttpReply(200, f"{request.method} {request.target} {len(request.body)}".encode())


async def fetch(port: int, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    url = parse_url(f"http://127.0.0.1:{port}{target}")
    exchange = HttpExchange(method, url.target, [("Content-Type", "text/plain")], body, url=url)
    response = await http_request(exchange, timeout=10)
    return response.status, response.body


@pytest.mark.anyio
async def test_one_port_answers_webhooks_and_upgrades(anyio_backend: str) -> None:
    async with serve(echo, "127.0.0.1", 0, http_handler=answer) as server:
        assert await fetch(server.port, "POST", "/hook?x=1", b"abc") == (200, b"POST /hook?x=1 3")
        assert await fetch(server.port, "GET", "/healthz") == (200, b"GET /healthz 0")
        async with open_websocket(f"ws://127.0.0.1:{server.port}/ws") as ws:
            await ws.send("hello")
            assert await ws.receive() == "hello"


@pytest.mark.anyio
async def test_a_handler_that_raises_is_a_500_and_the_server_goes_on(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(echo, "127.0.0.1", 0, http_handler=answer) as server:
        assert (await fetch(server.port, "GET", "/boom"))[0] == 500
        assert (await fetch(server.port, "GET", "/fine"))[0] == 200
    assert "the handler broke" in caplog.text


@pytest.mark.anyio
async def test_an_async_handler_and_a_body_over_the_limit(anyio_backend: str) -> None:
    async def slow_answer(request: HttpRequest) -> HttpReply:
        await anyio.sleep(0)
        return HttpReply.text(201, "made")

    async with serve(echo, "127.0.0.1", 0, http_handler=slow_answer, max_request_body=8) as server:
        assert await fetch(server.port, "POST", "/x", b"12345678") == (201, b"made\n")
        assert (await fetch(server.port, "POST", "/x", b"123456789"))[0] == 413


@pytest.mark.anyio
async def test_the_reject_callback_still_refuses_upgrades(anyio_backend: str) -> None:
    async with serve(
        echo, "127.0.0.1", 0, http_handler=answer, reject=lambda t, h: (403, "no")
    ) as server:
        with pytest.raises(HandshakeRejected) as caught:
            async with open_websocket(f"ws://127.0.0.1:{server.port}/ws"):
                pass
        assert caught.value.status == 403


@pytest.mark.anyio
async def test_a_malformed_request_gets_400_and_a_silent_client_is_cut_off(
    anyio_backend: str,
) -> None:
    async with serve(echo, "127.0.0.1", 0, http_handler=answer, handshake_timeout=0.3) as server:
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:
            await stream.send(b"BLAH\r\n\r\n")
            assert (await stream.receive()).startswith(b"HTTP/1.1 400 ")
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:
            await stream.send(b"POST /x HTTP/1.1\r\n")  # and then nothing
            with anyio.fail_after(5):
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()


@pytest.mark.anyio
async def test_without_an_http_handler_a_plain_request_is_refused_as_before(
    anyio_backend: str,
) -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        status, _ = await fetch(server.port, "GET", "/healthz")
        assert status in (400, 426)


@pytest.mark.anyio
async def test_a_server_leaving_a_shared_socket_loses_no_connection(anyio_backend: str) -> None:
    """Two servers accept on one listening socket (as worker processes do); one leaves while
    requests keep coming. Every request is answered: the leaving one answers what it
    accepted, and a connection it had not accepted stays in the queue for the other (its
    accept wait is cancelled, never an accept in flight)."""
    import socket

    listening = socket.create_server(("127.0.0.1", 0), backlog=512)
    port = listening.getsockname()[1]
    answers: list[tuple[int, bytes]] = []
    leave = anyio.Event()

    async def client(i: int) -> None:
        answers.append(await fetch(port, "GET", f"/{i}"))
        if len(answers) == 40:
            leave.set()  # the first server leaves in the middle of the stream

    async def leaving_server() -> None:
        async with serve(echo, http_handler=answer, sock=listening.dup()):
            await leave.wait()

    with anyio.fail_after(60):
        async with serve(echo, http_handler=answer, sock=listening.dup()):
            async with anyio.create_task_group() as tg:
                tg.start_soon(leaving_server)
                async with anyio.create_task_group() as clients:
                    for i in range(200):
                        clients.start_soon(client, i)
                        await anyio.sleep(0)
                tg.cancel_scope.cancel()
    listening.close()
    assert sorted(answers) == sorted((200, f"GET /{i} 0".encode()) for i in range(200))
