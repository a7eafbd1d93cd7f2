"""The asyncio fast path of the WebSocket client (``drivers/_asyncio_ws.py``).

When it is chosen (asyncio, ``ws://``, not refused) and when not (trio, ``wss://``,
``asyncio_fast_path=False``, ``ADK_REALTIME_ASYNCIO_FAST_PATH=0``); and that it behaves
as the anyio path does: every behaviour below runs with the fast path on and off, against
the independent ``websockets`` server of ``test_websocket_driver`` and against our own
``serve``. (The whole of ``test_websocket_driver`` also runs on the fast path under asyncio,
since it is the default there.)
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import trustme

from adk_realtime.drivers._asyncio_ws import AsyncioWebSocketConnection
from adk_realtime.drivers.websocket import WebSocketConnection, open_websocket, serve
from adk_realtime.sansio.errors import ConnectionClosed
from tests.test_websocket_driver import ThreadedServer, url

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[ThreadedServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with ThreadedServer(context) as srv:
        yield srv


@pytest.fixture(params=[True, False], ids=["fast", "anyio"])
def fast(request: pytest.FixtureRequest, anyio_backend: str) -> bool:
    """Fast path asked for or refused; under trio it never applies."""
    return bool(request.param)


def expected_class(fast: bool, anyio_backend: str) -> type[WebSocketConnection]:
    if fast and anyio_backend == "asyncio":
        return AsyncioWebSocketConnection
    return WebSocketConnection


# -- which path -----------------------------------------------------------------------


async def test_the_path_is_chosen_by_loop_scheme_and_option(
    server: ThreadedServer, fast: bool, anyio_backend: str
) -> None:
    async with open_websocket(url(server, "/echo"), asyncio_fast_path=fast) as ws:
        assert type(ws) is expected_class(fast, anyio_backend)
        await ws.send("hi")
        assert await ws.receive() == "hi"


async def test_the_environment_turns_the_default_off(
    server: ThreadedServer, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    monkeypatch.setenv("ADK_REALTIME_ASYNCIO_FAST_PATH", "0")
    async with open_websocket(url(server, "/echo")) as ws:
        assert type(ws) is WebSocketConnection
    monkeypatch.delenv("ADK_REALTIME_ASYNCIO_FAST_PATH")
    async with open_websocket(url(server, "/echo")) as ws:
        assert type(ws) is expected_class(True, anyio_backend)


async def test_wss_falls_back_to_the_anyio_path(
    tls_server: ThreadedServer, ca: trustme.CA, fast: bool
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with open_websocket(
        url(tls_server, "/echo", "wss"), ssl_context=context, asyncio_fast_path=fast
    ) as ws:
        assert type(ws) is WebSocketConnection
        await ws.send("over tls")
        assert await ws.receive() == "over tls"


# -- the same behaviour either way -----------------------------------------------------


async def test_a_server_close_code_and_the_messages_before_it(
    server: ThreadedServer, fast: bool
) -> None:
    async with open_websocket(url(server, "/close"), asyncio_fast_path=fast) as ws:
        with anyio.fail_after(5):
            got = [await ws.receive() for _ in range(3)]
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
    assert got == ["m0", "m1", "m2"]
    assert (info.value.code, ws.close_code, ws.close_reason) == (4001, 4001, "server done")


async def test_a_dropped_socket_is_1006(server: ThreadedServer, fast: bool) -> None:
    async with open_websocket(url(server, "/drop"), asyncio_fast_path=fast) as ws:
        with anyio.fail_after(5):
            assert await ws.receive() == "about to vanish"
            with pytest.raises(ConnectionClosed) as info:
                await ws.receive()
    assert info.value.code == 1006


async def test_backpressure_pauses_then_loses_nothing(server: ThreadedServer, fast: bool) -> None:
    n = 300
    async with open_websocket(
        url(server, f"/burst?n={n}"), receive_queue_size=4, asyncio_fast_path=fast
    ) as ws:
        with anyio.fail_after(5):
            await ws._paused_event.wait()
        assert 4 <= ws.pending_messages <= 4 + 64  # the limit plus one 64 KiB read at most
        with anyio.fail_after(10):
            got = [await ws.receive() for _ in range(n + 1)]
    assert [m[:6] for m in got[:n]] == [f"{i:06d}" for i in range(n)]
    assert got[n] == "done"


async def test_aclose_while_paused_still_reads_the_close_answer(
    server: ThreadedServer, fast: bool
) -> None:
    async with open_websocket(
        url(server, "/burst?n=300"), receive_queue_size=4, asyncio_fast_path=fast
    ) as ws:
        with anyio.fail_after(5):
            await ws._paused_event.wait()
        with anyio.fail_after(5):
            await ws.aclose(1000, "bye")
    assert ws.close_code == 1000


async def test_our_drop_is_1006_at_the_peer_after_what_was_queued(fast: bool) -> None:
    """Half-open from our side: our FIN after the queued messages, no close frame."""
    seen: list[Any] = []
    done = anyio.Event()

    async def handler(ws: WebSocketConnection) -> None:
        try:
            async for message in ws:
                seen.append(message)
        except ConnectionClosed as exc:
            seen.append(exc.code)
        done.set()

    async with serve(handler) as srv:
        async with open_websocket(srv.url, asyncio_fast_path=fast) as ws:
            for i in range(50):
                await ws.send(f"m{i}")
            with anyio.fail_after(10):
                await ws.drop()
                await done.wait()
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosed):
                await ws.send("too late")
    assert seen == [f"m{i}" for i in range(50)] + [1006]


async def test_the_peer_half_closing_is_1006_here(fast: bool) -> None:
    """The server shuts its write side without a close frame (its ``drop()``)."""

    async def handler(ws: WebSocketConnection) -> None:
        await ws.send("last words")
        await ws.drop()

    async with serve(handler) as srv:
        async with open_websocket(srv.url, asyncio_fast_path=fast) as ws:
            with anyio.fail_after(10):
                assert await ws.receive() == "last words"
                with pytest.raises(ConnectionClosed) as info:
                    await ws.receive()
    assert info.value.code == 1006


async def test_a_large_message_and_many_small_ones_round_trip(fast: bool) -> None:
    async def echo(ws: WebSocketConnection) -> None:
        async for message in ws:
            await ws.send(message)

    big = b"\x00\xff" * 600_000
    async with serve(echo) as srv:
        async with open_websocket(srv.url, asyncio_fast_path=fast) as ws:
            with anyio.fail_after(10):
                await ws.send(big)
                assert await ws.receive() == big
                for i in range(500):
                    await ws.send(f"{i}")
                assert [await ws.receive() for _ in range(500)] == [f"{i}" for i in range(500)]


def test_the_fast_path_runs_on_uvloop(server: ThreadedServer) -> None:
    """uvloop (the ``fast`` extra): its transports take the fast path too."""
    pytest.importorskip("uvloop")

    async def main() -> tuple[type, list[str | bytes], int | None]:
        async with open_websocket(url(server, "/close")) as ws:
            with anyio.fail_after(5):
                got = [await ws.receive() for _ in range(3)]
                with pytest.raises(ConnectionClosed):
                    await ws.receive()
            return type(ws), got, ws.close_code

    kind, got, code = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    assert (kind, got, code) == (AsyncioWebSocketConnection, ["m0", "m1", "m2"], 4001)
