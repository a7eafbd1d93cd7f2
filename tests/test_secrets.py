"""House rule: secrets (API keys, tokens) never appear in logs, reprs or exceptions.

One hunt across every layer. Each credential is a distinctive string holding
``LEAKCHECK``; every test runs with every logger at DEBUG and collects

* every log record: its message, its formatted exception and stack,
* every warning,
* ``repr()`` and ``str()`` of every public object a user holds (models,
  backends, sessions, links, peers, runners, agents, connections, HTTP
  exchanges and responses, WebRTC options),
* every exception raised on a failure path, with its whole chain
  (``__cause__`` *and* a suppressed ``__context__``, exception groups),

then asserts that none of it contains ``LEAKCHECK`` (so a truncated key, which
keeps its start, is caught too) nor any whole secret. The failure paths: a
handshake 401/403/400 whose body echoes the key (whole, as ``Bearer <key>``,
and straddling the point where the message is cut short), a server closing
with a reason that holds the key, TLS failure, connection refused, the
Gemini public key (only ever in ``x-goog-api-key``), ephemeral
``auth_tokens/`` keys, Vertex token providers (sync, async, raising), the
Azure ``api-key`` header, and both OpenAI WebRTC flows with HTTP errors that
echo the key or the ephemeral token.

Logs of the *fake servers'* own libraries (``websockets``, ``aiohttp``,
``aiortc``, ``aioice``) are not ours and are left out: the ``websockets``
server logs request headers at DEBUG by design. Every test runs under asyncio
and trio; everything is on loopback.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import traceback
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
import trustme

from adk_realtime import (
    AuthError,
    ConnectionClosed,
    EventHandler,
    GeminiLiveBackend,
    GeminiRealtimeModel,
    OpenAIRealtimeModel,
    RealtimeAgent,
    RealtimeConfig,
    RealtimeError,
    RealtimeRunner,
    ResponseDone,
)
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.drivers.webrtc import SignallingError, http_request
from adk_realtime.drivers.websocket import ConnectError, HandshakeRejected, open_websocket
from adk_realtime.sansio.http import (
    HttpExchange,
    client_secret_request,
    read_call_answer,
    read_client_secret,
    sdp_call_request,
    unified_call_request,
)
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.sansio.websocket.connection import WebSocketClient
from adk_realtime.webrtc_link import WebRTCOptions
from tests.fake_server import FakeServer, ScriptConn
from tests.oracles_openai import example_server_event

pytestmark = pytest.mark.anyio

OPENAI_KEY = "sk-LEAKCHECK-openai-7f3a9c2e5b1d4f60"
GEMINI_KEY = "AIzaLEAKCHECKgemini0123456789abcdefXYZ"
EPHEMERAL = "auth_tokens/LEAKCHECK-ephemeral-4e8d2a6b"
VERTEX_TOKEN = "ya29.LEAKCHECK-vertex-oauth-9b7c5a3e1d"
OPENAI_EK = "ek_LEAKCHECK_client_secret_1c2d3e4f"
AZURE_KEY = "LEAKCHECKazure0123456789abcdef42"
GEMINI_WRONG = "AIzaLEAKCHECKwrongkey00000000000000"
SECRETS = (OPENAI_KEY, GEMINI_KEY, EPHEMERAL, VERTEX_TOKEN, OPENAI_EK, AZURE_KEY, GEMINI_WRONG)
MARK = "LEAKCHECK"

# The fake servers' own libraries: not our code (websockets logs request headers).
_SERVER_LIBRARIES = ("websockets", "aiohttp", "aiortc", "aioice")
_FORMATTER = logging.Formatter()

GEMINI_SETUP_COMPLETE: dict[str, Any] = {"setupComplete": {}}


# ------------------------------------------------------------------ the hunt


def exception_texts(exc: BaseException) -> list[str]:
    """str/repr/args of ``exc`` and everything chained to it, and the formatted traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        for note in getattr(current, "__notes__", ()):
            texts.append(str(note))
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):  # suppressed context too
            if linked is not None:
                stack.append(linked)
    return texts


class Hunt:
    """Collects everything that may be shown to a person; `assert_clean` checks it."""

    def __init__(self, caplog: pytest.LogCaptureFixture, extra: tuple[str, ...] = ()) -> None:
        self.caplog = caplog
        self.secrets = SECRETS + extra
        self.texts: list[tuple[str, str]] = []
        self.records = 0

    def show(self, label: str, *objects: object) -> None:
        for obj in objects:
            self.texts.append((f"repr({label})", repr(obj)))
            self.texts.append((f"str({label})", str(obj)))

    def exception(self, label: str, exc: BaseException) -> None:
        for text in exception_texts(exc):
            self.texts.append((f"exception {label}", text))

    @contextmanager
    def raises(self, label: str, kind: type[BaseException]) -> Iterator[list[BaseException]]:
        """Like ``pytest.raises``; the error (and its chain) joins the hunt."""
        caught: list[BaseException] = []
        try:
            yield caught
        except kind as exc:
            caught.append(exc)
            self.exception(label, exc)
        else:
            pytest.fail(f"{label}: expected {kind.__name__}")

    def _log_texts(self) -> list[tuple[str, str]]:
        out = []
        for record in self.caplog.records:
            if record.name.split(".")[0] in _SERVER_LIBRARIES:
                continue
            self.records += 1
            where = f"log {record.name}:{record.levelname}"
            out.append((where, record.getMessage()))
            if record.exc_info:
                out.append((where, _FORMATTER.formatException(record.exc_info)))
            if record.exc_text:
                out.append((where, record.exc_text))
            if record.stack_info:
                out.append((where, record.stack_info))
        return out

    def assert_clean(self, warned: list[warnings.WarningMessage] | None = None) -> None:
        texts = self.texts + self._log_texts()
        for w in warned or ():
            texts.append((f"warning {w.category.__name__}", str(w.message)))
        leaks = [
            (where, text)
            for where, text in texts
            if MARK in text or any(secret in text for secret in self.secrets)
        ]
        assert not leaks, "secret leaked:\n" + "\n".join(f"{w}: {t[:400]}" for w, t in leaks)


@pytest.fixture
def hunt(caplog: pytest.LogCaptureFixture) -> Iterator[Hunt]:
    caplog.set_level(logging.DEBUG)  # the root logger and caplog's handler
    caplog.set_level(logging.DEBUG, logger="adk_realtime")
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("adk_realtime."):
            caplog.set_level(logging.DEBUG, logger=name)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        h = Hunt(caplog)
        yield h
    h.assert_clean(warned)  # whatever the test did not check itself


def echo_bodies(secret: str) -> list[tuple[str, str]]:
    """Server answers that echo ``secret``: whole, as a bearer, cut at the 300th/2000th char."""
    bodies = [
        ("whole", f"Incorrect API key provided: {secret}"),
        ("bearer", json.dumps({"error": {"message": f"Bad header 'Bearer {secret}'"}})),
        ("token", f"Authorization: Token {secret} was refused"),
    ]
    for cut in (300, 2000):
        pad = "x" * (cut - len(secret) // 2)
        bodies.append((f"straddles-{cut}", f"{pad}{secret} trailing"))
    return bodies


def untrusted_tls() -> ssl.SSLContext:
    """A server context whose certificate comes from a CA the client does not trust."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_ctx)
    return server_ctx


def closed_port() -> int:
    """A loopback TCP port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ scripts


async def openai_then_wait(conn: ScriptConn) -> None:
    await conn.send(example_server_event("ga", "session.created"))
    while True:
        await conn.recv()


async def gemini_then_wait(conn: ScriptConn) -> None:
    await conn.recv()
    await conn.send(GEMINI_SETUP_COMPLETE)
    while True:
        await conn.recv()


def async_provider(token: str) -> Callable[[], Any]:
    async def provide() -> str:
        await anyio.sleep(0)
        return token

    return provide


def models_for(url: str) -> list[tuple[str, Any, str]]:
    """(label, model, the secret it sends) for every credential kind, aimed at ``url``."""
    vertex = GeminiLiveBackend.Vertex("proj", "us-central1", lambda: VERTEX_TOKEN, base_url=url)
    vertex_async = GeminiLiveBackend.Vertex(
        "proj", "us-central1", async_provider(VERTEX_TOKEN), base_url=url
    )
    azure = OpenAIRealtimeModel(  # what .azure() builds, aimed at the fake
        AZURE_KEY,
        "dep",
        url=f"{url}/openai/realtime?api-version=2024-10-01-preview&deployment=dep",
        auth_header="api-key",
        dialect="beta",
    )
    return [
        ("openai", OpenAIRealtimeModel(OPENAI_KEY, base_url=f"{url}/v1"), OPENAI_KEY),
        ("azure", azure, AZURE_KEY),
        (
            "gemini",
            GeminiRealtimeModel(GeminiLiveBackend.Public(GEMINI_KEY, base_url=url)),
            GEMINI_KEY,
        ),
        (
            "gemini-ephemeral",
            GeminiRealtimeModel(GeminiLiveBackend.Public(EPHEMERAL, base_url=url)),
            EPHEMERAL,
        ),
        ("vertex", GeminiRealtimeModel(vertex), VERTEX_TOKEN),
        ("vertex-async", GeminiRealtimeModel(vertex_async), VERTEX_TOKEN),
    ]


KINDS = ["openai", "azure", "gemini", "gemini-ephemeral", "vertex", "vertex-async"]


def model_named(kind: str, url: str) -> tuple[Any, str]:
    for label, model, secret in models_for(url):
        if label == kind:
            return model, secret
    raise KeyError(kind)


# ------------------------------------------------------------------ reprs


def test_reprs_of_everything_a_user_builds_hold_no_secret(hunt: Hunt) -> None:
    hunt.show("azure()", OpenAIRealtimeModel.azure("https://x.openai.azure.com", "d", AZURE_KEY))
    for label, model, _ in models_for("ws://127.0.0.1:9"):
        hunt.show(label, model)
        backend = getattr(model, "backend", None)
        if backend is not None:
            hunt.show(f"{label} backend", backend)
    webrtc = OpenAIRealtimeModel(
        OPENAI_KEY,
        transport="webrtc",
        base_url="http://127.0.0.1:9/v1",
        webrtc_options=WebRTCOptions(local_addresses=["127.0.0.1"], flow="ephemeral"),
    )
    hunt.show("webrtc model", webrtc, webrtc.webrtc_options)
    agent = RealtimeAgent.builder("helper").model(webrtc).instruction("Be brief.").build()
    runner = RealtimeRunner.builder().model(webrtc).agent(agent).build()
    hunt.show("agent/runner", agent, runner, runner.context, runner.metrics)

    client = WebSocketClient(
        "h", "/v1/realtime?model=x", headers=[("Authorization", f"Bearer {OPENAI_KEY}")]
    )
    hunt.show("WebSocketClient", client)
    client.initiate(0.0)
    hunt.show("WebSocketClient connecting", client)

    exchanges: list[HttpExchange] = [
        unified_call_request(
            "https://api.example/v1/realtime/calls", sdp="v=0\r\n", session={}, api_key=OPENAI_KEY
        ),
        client_secret_request(
            "https://api.example/v1/realtime/client_secrets", session={}, api_key=OPENAI_KEY
        ),
        sdp_call_request("https://api.example/v1/realtime/calls", sdp="v=0\r\n", token=OPENAI_EK),
    ]
    for exchange in exchanges:
        hunt.show("HttpExchange", exchange, exchange.url)
        exchange.data_to_send()
        hunt.show("HttpExchange sent", exchange)

    # Empty or broken credentials are refused without echoing them.
    with hunt.raises("bearer with CR/LF", RealtimeError):
        sdp_call_request("http://h/c", sdp="v=0", token=f"{OPENAI_EK}\r\nX: 1")
    with hunt.raises("header with CR/LF", RealtimeError):
        WebSocketClient("h", "/", headers=[("api-key", f"{AZURE_KEY}\r\nX: y")])
    with hunt.raises("header with padding", RealtimeError):
        WebSocketClient("h", "/", headers=[("x-goog-api-key", f" {GEMINI_KEY}")])
    with hunt.raises("non-latin-1 header", RealtimeError):
        WebSocketClient("h", "/", headers=[("x-goog-api-key", f"{GEMINI_KEY}\u2603")])


def test_http_errors_that_echo_a_credential_are_redacted(hunt: Hunt) -> None:
    """sansio/http.py alone: 401/403/500 bodies echoing the key or the ephemeral token."""
    for status in (401, 403, 500):
        for name, body in echo_bodies(OPENAI_KEY) + echo_bodies(OPENAI_EK):
            for read in (read_call_answer, read_client_secret):
                exchange = sdp_call_request("http://h/c", sdp="v=0", token=OPENAI_EK)
                exchange.data_to_send()
                raw = body.encode()
                exchange.receive_data(
                    f"HTTP/1.1 {status} Nope\r\nContent-Length: {len(raw)}\r\n\r\n".encode() + raw,
                    0.0,
                )
                response = exchange.next_event()
                assert response is not None
                hunt.show("HttpResponse", response, exchange)
                with hunt.raises(f"{read.__name__} {status} {name}", RealtimeError):
                    read(response, secrets=[OPENAI_KEY, OPENAI_EK])


# ------------------------------------------------------------------ WebSocket


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [401, 403, 400])
async def test_a_refused_handshake_that_echoes_the_key_does_not_leak_it(
    anyio_backend: str, hunt: Hunt, kind: str, status: int
) -> None:
    secret = model_named(kind, "ws://x")[1]
    for name, body in echo_bodies(secret):
        with FakeServer(openai_then_wait, reject=(status, body)) as server:
            model, _ = model_named(kind, server.url)
            hunt.show(kind, model)
            expected = AuthError if status in (401, 403) else RealtimeError
            with hunt.raises(f"{kind} {status} {name}", expected), anyio.fail_after(10):
                async with model.connect():
                    pass
        # The credential went in its header, never in the URL.
        (conn,) = server.connections
        assert MARK not in conn.path


@pytest.mark.parametrize("status", [401, 403])
async def test_the_bare_driver_redacts_every_header_value_the_server_echoes(
    anyio_backend: str, hunt: Hunt, status: int
) -> None:
    headers = [
        ("Authorization", f"Bearer {OPENAI_KEY}"),
        ("api-key", AZURE_KEY),
        ("x-goog-api-key", GEMINI_KEY),
    ]
    for secret in (OPENAI_KEY, AZURE_KEY, GEMINI_KEY):
        for name, body in echo_bodies(secret):
            with FakeServer(openai_then_wait, reject=(status, body)) as server:
                with (
                    hunt.raises(f"driver {status} {name}", HandshakeRejected),
                    anyio.fail_after(10),
                ):
                    async with open_websocket(f"{server.url}/v1/realtime", headers=headers):
                        pass


async def test_gemini_credentials_travel_only_in_headers(anyio_backend: str, hunt: Hunt) -> None:
    with FakeServer(gemini_then_wait) as server:
        for kind in ("gemini", "gemini-ephemeral", "vertex", "vertex-async"):
            model, _ = model_named(kind, server.url)
            with anyio.fail_after(10):
                async with model.connect(RealtimeConfig(instruction="hi")) as session:
                    hunt.show(f"{kind} session", session, session._link, model)
                    await session.send_text("hello")
            hunt.show(f"{kind} closed session", session)
    public, ephemeral, vertex, vertex_async = server.connections
    for conn in server.connections:
        assert MARK not in conn.path
        for raw in conn.received:
            assert MARK not in str(raw)  # not in setup either
    assert public.headers["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in {k.lower() for k in public.headers}
    assert ephemeral.headers["Authorization"] == f"Token {EPHEMERAL}"
    assert ephemeral.path.endswith("BidiGenerateContentConstrained")
    assert vertex.headers["Authorization"] == f"Bearer {VERTEX_TOKEN}"
    assert vertex_async.headers["Authorization"] == f"Bearer {VERTEX_TOKEN}"


async def test_a_token_provider_that_fails_leaks_nothing(anyio_backend: str, hunt: Hunt) -> None:
    calls = 0

    def provider() -> str:
        nonlocal calls
        calls += 1
        raise RuntimeError("token refresh failed")

    async def empty() -> str:
        return ""

    with FakeServer(gemini_then_wait) as server:
        for label, prov, kind in (
            ("raising", provider, RuntimeError),
            ("empty", empty, ValueError),
        ):
            backend = GeminiLiveBackend.Vertex("proj", "loc", prov, base_url=server.url)
            model = GeminiRealtimeModel(backend)
            hunt.show(label, model, backend)
            with hunt.raises(f"provider {label}", kind), anyio.fail_after(10):
                async with model.connect():
                    pass
    assert calls == 1 and server.connections == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_close_reason_holding_the_key_is_not_shown(
    anyio_backend: str, hunt: Hunt, kind: str
) -> None:
    secret = model_named(kind, "ws://x")[1]

    async def script(conn: ScriptConn) -> None:
        if kind in ("openai", "azure"):
            await conn.send(example_server_event("ga", "session.created"))
        else:
            await conn.recv()
            await conn.send(GEMINI_SETUP_COMPLETE)
        await conn.close(4001, f"bad key {secret}")

    class Recorder(EventHandler):
        def on_error(self, error: Any) -> None:
            hunt.show("on_error", error)
            if isinstance(error, BaseException):
                hunt.exception("on_error", error)

        def on_disconnect(self, reason: str) -> None:
            hunt.show("on_disconnect", reason)

    with FakeServer(script) as server:
        model, _ = model_named(kind, server.url)
        # the low-level session
        with hunt.raises(f"{kind} session close", ConnectionClosed), anyio.fail_after(10):
            async with model.connect() as session:
                hunt.show("session", session)
                async for _ in session:
                    pass
        # the runner around it
        agent = RealtimeAgent(name="helper", model=model, instruction="Be brief.")
        runner = RealtimeRunner(agent=agent, event_handler=Recorder())
        hunt.show("runner", runner, agent)
        with hunt.raises(f"{kind} runner close", ConnectionClosed), anyio.fail_after(10):
            await runner.run()
        # the bare connection
        _, headers_secret = model_named(kind, server.url)
        async with open_websocket(
            server.url, headers=[("Authorization", f"Bearer {headers_secret}")]
        ) as ws:
            hunt.show("open connection", ws)
            with hunt.raises(f"{kind} ws close", ConnectionClosed), anyio.fail_after(10):
                await ws.send(json.dumps({"setup": {}}))  # the Gemini script reads first
                while True:
                    await ws.receive()
            hunt.show("closed connection", ws, ws.close_reason)


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_refused_and_tls_failure_leak_nothing(
    anyio_backend: str, hunt: Hunt, kind: str
) -> None:
    port = closed_port()
    model, _ = model_named(kind, f"ws://127.0.0.1:{port}")
    with hunt.raises(f"{kind} refused", ConnectError), anyio.fail_after(10):
        async with model.connect():
            pass
    with FakeServer(openai_then_wait, ssl_context=untrusted_tls()) as tls:
        model, _ = model_named(kind, tls.url)  # wss:// with a certificate nobody trusts
        with hunt.raises(f"{kind} tls", ConnectError), anyio.fail_after(10):
            async with model.connect():
                pass
        # A user who put the key in the query string does not see it either.
        for url in (
            f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime&key={GEMINI_KEY}",
            f"{tls.url}/?access_token={EPHEMERAL}",
        ):
            with hunt.raises(f"{kind} query", ConnectError), anyio.fail_after(10):
                async with open_websocket(url, connect_timeout=5):
                    pass
    assert tls.connections == []  # nothing was sent before TLS failed


# ------------------------------------------------------------------ simulator


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_a_whole_turn_and_a_refusal_on_the_simulator_leak_nothing(
    anyio_backend: str, hunt: Hunt, provider: str
) -> None:
    secret = OPENAI_KEY if provider == "openai" else GEMINI_KEY
    done = anyio.Event()

    class Handler(EventHandler):
        def on_response_done(self, event: ResponseDone) -> None:
            done.set()

    async with run_simulator(hub=SimulatorHub(pace=0, api_key=secret)) as server:
        hunt.show("simulator", server)
        if provider == "openai":
            model: Any = OpenAIRealtimeModel(secret, base_url=server.openai_base_url)
            wrong: Any = OpenAIRealtimeModel(OPENAI_EK, base_url=server.openai_base_url)
        else:
            model = GeminiRealtimeModel(GeminiLiveBackend.Public(secret, base_url=server.url))
            wrong = GeminiRealtimeModel(GeminiLiveBackend.Public(GEMINI_WRONG, base_url=server.url))
        agent = RealtimeAgent.builder("helper").model(model).instruction("Be brief.").build()
        runner = RealtimeRunner.builder().agent(agent).event_handler(Handler()).build()
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.run)
                session = await runner.wait_connected()
                hunt.show("runner session", runner, agent, session, session._link)
                await runner.send_text("hello")
                await done.wait()
                await runner.close()
        hunt.show("runner after", runner, session)
        with hunt.raises(f"{provider} wrong key", AuthError), anyio.fail_after(10):
            async with wrong.connect():
                pass
        with anyio.fail_after(5):
            await server.wait_idle()


def test_the_hunt_catches_a_planted_leak(caplog: pytest.LogCaptureFixture) -> None:
    """The hunt itself works: a key in a log record, its exception or a chained
    context is found."""
    caplog.set_level(logging.DEBUG)
    h = Hunt(caplog)
    logging.getLogger("adk_realtime.session").debug("clean")
    h.assert_clean()
    try:
        raise ValueError(OPENAI_KEY[:12])  # a truncated key is a leak too
    except ValueError:
        logging.getLogger("adk_realtime.drivers.websocket").debug("boom", exc_info=True)
    with pytest.raises(AssertionError, match="secret leaked"):
        h.assert_clean()
    caplog.clear()
    h = Hunt(caplog)
    outer = RuntimeError("outer")
    outer.__context__ = ValueError(GEMINI_KEY)
    outer.__suppress_context__ = True
    h.exception("suppressed context", outer)
    with pytest.raises(AssertionError, match="secret leaked"):
        h.assert_clean()


# ------------------------------------------------------------------ WebRTC


@asynccontextmanager
async def signalling_server(
    respond: Callable[[str, dict[str, str]], tuple[int, Any]],
) -> AsyncIterator[str]:
    """A loopback HTTP/1.1 server for the WebRTC signalling: ``respond(path, headers)``
    gives ``(status, json_body)``; yields the base URL (``http://127.0.0.1:P/v1``)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            head, _, body = data.partition(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)
            }
            while len(body) < int(headers.get("content-length", "0")):
                body += await stream.receive()
            status, payload = respond(request_line.split(" ")[1], headers)
            out = json.dumps(payload).encode()
            await stream.send(
                f"HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(out)}\r\nConnection: close\r\n\r\n".encode()
                + out
            )

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}/v1"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("flow", "failing_step", "status"),
    [
        ("unified", "calls", 401),
        ("unified", "calls", 500),
        ("ephemeral", "client_secrets", 403),
        ("ephemeral", "calls", 401),
        ("ephemeral", "calls", 502),
    ],
)
async def test_webrtc_signalling_errors_that_echo_the_key_or_token_leak_nothing(
    anyio_backend: str, hunt: Hunt, flow: str, failing_step: str, status: int
) -> None:
    for name, _ in echo_bodies(OPENAI_KEY):

        def respond(path: str, headers: dict[str, str], name: str = name) -> tuple[int, Any]:
            auth = headers.get("authorization", "")
            if path.endswith("/client_secrets") and failing_step != "client_secrets":
                return 200, {"value": OPENAI_EK, "expires_at": 2_000_000_000}
            pad = "y" * (300 - len(auth) // 2) if name.startswith("straddles") else ""
            return status, {"error": {"message": f"{pad}Incorrect API key provided: {auth}"}}

        async with signalling_server(respond) as base_url:
            options = WebRTCOptions(local_addresses=["127.0.0.1"], flow=flow)  # type: ignore[arg-type]
            model = OpenAIRealtimeModel(
                OPENAI_KEY, transport="webrtc", base_url=base_url, webrtc_options=options
            )
            expected = AuthError if status in (401, 403) else RealtimeError
            with (
                hunt.raises(f"webrtc {flow} {failing_step} {name}", expected),
                anyio.fail_after(20),
            ):
                async with model.connect(RealtimeConfig(instruction="hi")):
                    pass
            # the driver's own exchange, shown as a user would
            exchange = client_secret_request(
                f"{base_url}/realtime/client_secrets", session={}, api_key=OPENAI_KEY
            )
            response = await http_request(exchange, timeout=10)
            hunt.show("http exchange/response", exchange, response)


async def test_webrtc_signalling_that_cannot_connect_leaks_nothing(
    anyio_backend: str, hunt: Hunt
) -> None:
    port = closed_port()
    for flow in ("unified", "ephemeral"):
        options = WebRTCOptions(local_addresses=["127.0.0.1"], flow=flow)  # type: ignore[arg-type]
        for base in (f"http://127.0.0.1:{port}/v1", f"https://127.0.0.1:{port}/v1"):
            model = OpenAIRealtimeModel(
                OPENAI_KEY, transport="webrtc", base_url=base, webrtc_options=options
            )
            with hunt.raises(f"webrtc {flow} {base}", SignallingError), anyio.fail_after(20):
                async with model.connect():
                    pass
    with FakeServer(openai_then_wait, ssl_context=untrusted_tls()) as tls:
        url = tls.url.replace("wss://", "https://") + f"/v1/realtime/calls?key={OPENAI_KEY}"
        exchange = sdp_call_request(url, sdp="v=0", token=OPENAI_EK)
        with hunt.raises("webrtc tls", SignallingError), anyio.fail_after(10):
            await http_request(exchange, timeout=5)


@pytest.mark.parametrize("flow", ["unified", "ephemeral"])
async def test_a_webrtc_session_and_a_refused_key_leak_nothing(
    anyio_backend: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, flow: str
) -> None:
    """With the aiortc fake: its credentials are fixed, so they join the hunt's list."""
    pytest.importorskip("aiortc")
    pytest.importorskip("aiohttp.web")
    aioice_ice = pytest.importorskip("aioice.ice")
    from tests.fake_webrtc_server import KEY, TOKEN, FakeOpenAI

    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="adk_realtime")
    h = Hunt(caplog, extra=(KEY, TOKEN))
    async with FakeOpenAI() as server:
        options = WebRTCOptions(local_addresses=["127.0.0.1"], flow=flow)  # type: ignore[arg-type]
        model = OpenAIRealtimeModel(
            KEY, transport="webrtc", base_url=server.base_url, webrtc_options=options
        )
        with anyio.fail_after(25):
            async with model.connect(RealtimeConfig(instruction="hi")) as session:
                link: Any = session._link
                h.show("webrtc session", model, options, session, link, link._peer)
                await session.create_response()
                kinds = []
                async for event in session:
                    kinds.append(type(event).__name__)
                    if kinds[-1] == "TranscriptDelta":
                        break
                assert "TranscriptDelta" in kinds  # a real turn went through
        h.show("webrtc closed", session, link, link._peer)
        refused = OpenAIRealtimeModel(
            OPENAI_KEY, transport="webrtc", base_url=server.base_url, webrtc_options=options
        )
        with h.raises(f"webrtc {flow} refused", AuthError), anyio.fail_after(10):
            async with refused.connect():
                pass
    h.assert_clean()
