"""`PhoneServer` on both front ends: our anyio server (asyncio and trio) and the ASGI app
under uvicorn (asyncio only: uvicorn runs on asyncio), hypercorn (asyncio and trio) and
a Starlette mount.

The calls are placed by the simulated caller (our client, any backend) or, on asyncio,
by the ``websockets`` library playing Twilio. The bridge is ``GreetingBridge``
(tests/phone_fakes.py), so what is tested here is the serving: signatures, answers,
upgrades, limits. A refused request must never reach the bridge nor the agent factory.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import pytest
from twilio.request_validator import RequestValidator

from adk_realtime.drivers.asgi import AsgiApp
from adk_realtime.drivers.http_client import http_request
from adk_realtime.drivers.websocket import HandshakeRejected, open_websocket
from adk_realtime.phone_caller import CallResult, PhoneCallError, call
from adk_realtime.phone_server import PhoneServer, serve_phone
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.http import HttpExchange, HttpResponse, parse_url
from adk_realtime.sansio.telephony.markup import read_stream_instruction
from adk_realtime.sansio.telephony.simulated_carrier import FramePlayed, SimulatedTwilio
from tests.phone_fakes import GREETING, AgentFactory, GreetingBridge

TOKEN = "twilio-token-for-the-phone-server-tests"
TELNYX_SEED = bytes(range(1, 33))
PLIVO_TOKEN = "plivo-token-for-the-phone-server-tests"
CALLER, CALLED = "+14155550100", "+18005550199"
FAST = {"question": "Hi", "quiet_ms": 300, "answer_timeout": 10.0}

pytestmark = pytest.mark.anyio


def listening_socket() -> socket.socket:
    """A loopback socket already listening: a server handed it accepts what queued."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def make_server(
    port: int | None, **settings: Any
) -> tuple[PhoneServer, GreetingBridge, AgentFactory]:
    bridge, factory = GreetingBridge(), AgentFactory()
    public = settings.pop("public_url", None) or (f"http://127.0.0.1:{port}" if port else None)
    server = PhoneServer("a model", factory, public_url=public, bridge=bridge, **settings)
    return server, bridge, factory


async def post(url: str, form: dict[str, str], headers: list[tuple[str, str]]) -> HttpResponse:
    where = parse_url(url)
    head = [("Content-Type", "application/x-www-form-urlencoded"), *headers]
    exchange = HttpExchange("POST", where.target, head, urlencode(form).encode(), url=where)
    return await http_request(exchange, timeout=10)


def telnyx_key() -> str:
    from adk_realtime.sansio.telephony.signatures import telnyx_public_key

    return telnyx_public_key(TELNYX_SEED)


async def post_stale_telnyx(base: str) -> int:
    """A Telnyx webhook signed correctly, but six minutes ago (a replay): 403."""
    from adk_realtime.sansio.telephony.signatures import telnyx_signature

    form = {"CallSid": "v3:x", "From": CALLER}
    stamp = int(time.time()) - 360
    signature = telnyx_signature(TELNYX_SEED, stamp, urlencode(form))
    headers = [("telnyx-timestamp", str(stamp)), ("telnyx-signature-ed25519", signature)]
    return (await post(f"{base}/telnyx/voice", form, headers)).status


def twilio_form() -> dict[str, str]:
    return {"CallSid": "CA" + "3" * 32, "From": CALLER, "To": CALLED, "CallerName": ""}


def assert_heard_the_greeting(
    result: CallResult, server: PhoneServer, bridge: GreetingBridge
) -> None:
    assert result.transcript == GREETING and not result.server_hung_up
    (bridged,) = bridge.calls
    assert bridged.heard_ms == bridged.sent_ms == result.heard_ms  # every mark came back
    assert server.active_calls == 0 and server.calls_served == 1


# ---------------------------------------------------------------- our own server


@pytest.mark.parametrize(
    ("carrier", "secret", "path"),
    [
        ("twilio", {"twilio_auth_token": TOKEN}, "/twilio/voice"),
        ("plivo", {"plivo_auth_token": PLIVO_TOKEN}, "/plivo/answer"),
        ("telnyx", {"carriers": ["telnyx"]}, "/telnyx/voice"),
    ],
)
async def test_a_call_on_our_server_reaches_the_bridge_with_the_callers_data(
    anyio_backend: str, carrier: str, secret: dict[str, Any], path: str
) -> None:
    server, bridge, factory = make_server(None, **secret)
    async with serve_phone(server, "127.0.0.1", 0) as where:
        token = TOKEN if carrier == "twilio" else PLIVO_TOKEN if carrier == "plivo" else None
        result = await call(
            f"http://127.0.0.1:{where.port}{path}",
            carrier=carrier,  # type: ignore[arg-type]
            auth_token=token,
            caller=CALLER,
            called=CALLED,
            dtmf="42",
            **FAST,  # type: ignore[arg-type]
        )
    assert_heard_the_greeting(result, server, bridge)
    (bridged,) = bridge.calls
    assert bridged.stream == {"twilio": "TwilioMediaStream", "plivo": "PlivoAudioStream"}.get(
        carrier, "TelnyxMediaStream"
    )
    assert bridged.digits == "42" and factory.calls == 1
    started = bridged.started
    assert started is not None
    numbers = {"caller": CALLER, "called": CALLED}  # as the bridge reads them
    if carrier == "plivo":  # Plivo's extraHeaders carry letters and digits only
        numbers = {k: v.lstrip("+") for k, v in numbers.items()}
    assert {k: started.custom_parameters[k] for k in numbers} == numbers


async def test_forged_stale_and_missing_signatures_are_403_and_start_nothing(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adk_realtime.phone")
    server, bridge, factory = make_server(
        None, twilio_auth_token=TOKEN, telnyx_public_key=telnyx_key()
    )
    async with serve_phone(server, "127.0.0.1", 0) as where:
        assert await post_stale_telnyx(f"http://127.0.0.1:{where.port}") == 403
        webhook = f"http://127.0.0.1:{where.port}/twilio/voice"
        form = twilio_form()
        good = RequestValidator(TOKEN).compute_signature(webhook, form)
        forged = RequestValidator("another-token").compute_signature(webhook, form)
        for headers in ([("X-Twilio-Signature", forged)], []):
            assert (await post(webhook, form, headers)).status == 403
        with pytest.raises(PhoneCallError, match="HTTP 403"):
            await call(webhook, auth_token="a-wrong-token", **FAST)  # type: ignore[arg-type]
        # A genuine webhook, then upgrades that are forged, unsigned or replayed.
        answer = await post(webhook, form, [("X-Twilio-Signature", good)])
        url = read_stream_instruction(answer.body).url
        for headers in ([("X-Twilio-Signature", forged)], []):
            with pytest.raises(HandshakeRejected) as caught:
                async with open_websocket(url, headers=headers):
                    pass
            assert caught.value.status == 403
        signed = [("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, {}))]
        async with open_websocket(url, headers=signed) as ws:  # the token's one call
            await ws.aclose()
        with pytest.raises(HandshakeRejected) as caught:
            async with open_websocket(url, headers=signed):
                pass
        assert caught.value.status == 403
    assert factory.calls == 0 and len(bridge.calls) == 1 and bridge.calls[0].started is None
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert any("POST /twilio/voice (403)" in line for line in refusals)
    assert any("GET /twilio/media (upgrade) (403)" in line for line in refusals)
    for text in refusals:
        assert TOKEN not in text and "4155550100" not in text and url.rsplit("/", 1)[1] not in text


async def test_at_max_calls_the_webhook_answers_busy_and_health_counts_the_calls(
    anyio_backend: str,
) -> None:
    entered, release = anyio.Event(), anyio.Event()

    async def holding_bridge(socket: Any, stream: Any, *args: Any, **kwargs: Any) -> None:
        entered.set()
        await release.wait()

    server = PhoneServer(
        "a model", AgentFactory(), twilio_auth_token=TOKEN, max_calls=1, bridge=holding_bridge
    )
    async with serve_phone(server, "127.0.0.1", 0) as where:
        base = f"http://127.0.0.1:{where.port}"
        form = twilio_form()
        signature = RequestValidator(TOKEN).compute_signature(f"{base}/twilio/voice", form)
        url = read_stream_instruction(
            (await post(f"{base}/twilio/voice", form, [("X-Twilio-Signature", signature)])).body
        ).url
        signed = [("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, {}))]
        async with open_websocket(url, headers=signed):
            await entered.wait()
            health = await http_request(
                HttpExchange("GET", "/healthz", [], url=parse_url(f"{base}/healthz"))
            )
            assert json.loads(health.body) == {"status": "ok", "active_calls": 1, "max_calls": 1}
            busy = await post(f"{base}/twilio/voice", form, [("X-Twilio-Signature", signature)])
            assert busy.status == 200 and b'<Reject reason="busy" />' in busy.body
            with pytest.raises(PhoneCallError, match="<Reject>"):
                await call(f"{base}/twilio/voice", auth_token=TOKEN, **FAST)  # type: ignore[arg-type]
            release.set()


async def test_the_bridge_gets_the_options_handler_and_runner_arguments(anyio_backend: str) -> None:
    class Options:
        mark_every_frames = 2

    handler = object()
    server, bridge, _ = make_server(
        None, options=Options(), event_handler=handler, runner_kwargs={"tool_timeout": 5}
    )
    async with serve_phone(server, "127.0.0.1", 0) as where:
        await call(f"ws://127.0.0.1:{where.port}/twilio/media", **FAST)  # type: ignore[arg-type]
    assert bridge.kwargs == [
        {"options": server.options, "event_handler": handler, "runner_kwargs": {"tool_timeout": 5}}
    ]


def test_a_server_needs_a_public_url_before_it_answers_and_max_calls_is_checked() -> None:
    server, _, _ = make_server(None)
    with pytest.raises(ConfigError, match="public_url"):
        server.asgi_app  # noqa: B018
    with pytest.raises(ConfigError, match="max_calls"):
        PhoneServer("m", "a", public_url="http://h", max_calls=0)  # type: ignore[arg-type]
    assert "127.0.0.1" not in repr(server) and "active_calls=0" in repr(server)


# ---------------------------------------------------------------- ASGI


@asynccontextmanager
async def uvicorn_serving(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        try:
            yield
        finally:
            server.should_exit = True


@asynccontextmanager
async def hypercorn_serving(app: Any, sock: socket.socket, backend: str) -> AsyncIterator[None]:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket now
    config.loglevel = "WARNING"
    stop = anyio.Event()
    if backend == "trio":
        from hypercorn.trio import serve as serve_hypercorn
    else:
        from hypercorn.asyncio import serve as serve_hypercorn  # type: ignore[assignment]
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve_hypercorn(app, config, shutdown_trigger=stop.wait))
        try:
            yield
        finally:
            stop.set()


async def websockets_twilio_call(url: str, headers: list[tuple[str, str]]) -> tuple[str, int]:
    """Twilio's side of a call, played with the ``websockets`` library (asyncio): the
    opening, a second of silence and the marks echoed as the greeting plays; returns
    what was heard (decoded) and how many marks came back."""
    from websockets.asyncio.client import connect

    from adk_realtime.sansio.audio import ulaw_decode
    from adk_realtime.sansio.sim.speech import SpeechRecognizer

    carrier = SimulatedTwilio(stream_id="MZ1", call_id="CA1", custom_parameters={"From": CALLER})
    ears = SpeechRecognizer(8000)
    now = 0.0
    async with connect(url, additional_headers=headers) as ws:
        carrier.start(now)
        for _ in range(400):  # 8 s of stream time, as fast as the server answers
            now += 0.02
            carrier.handle_timer(now)
            for message in carrier.data_to_send():
                await ws.send(message)
            with anyio.move_on_after(0.02):
                while True:
                    carrier.receive_data(await ws.recv(), now)
            while (event := carrier.next_event()) is not None:
                if isinstance(event, FramePlayed):
                    ears.feed(ulaw_decode(event.payload))
            if ears.text == GREETING and carrier.queued_ms == carrier.pending_marks == 0:
                break
        carrier.hang_up()
        for message in carrier.data_to_send():
            await ws.send(message)
    return ears.text, carrier.marks_returned


async def check_asgi_front_end(
    port: int, server: PhoneServer, bridge: GreetingBridge, factory: AgentFactory, prefix: str = ""
) -> None:
    """Forged and unsigned requests refused, then one call placed with ``websockets``."""
    from websockets.exceptions import InvalidStatus

    webhook = f"http://127.0.0.1:{port}{prefix}/twilio/voice"
    form = twilio_form()
    forged = RequestValidator("another").compute_signature(webhook, form)
    assert (await post(webhook, form, [("X-Twilio-Signature", forged)])).status == 403
    assert (await post(webhook, form, [])).status == 403
    assert await post_stale_telnyx(f"http://127.0.0.1:{port}{prefix}") == 403
    good = RequestValidator(TOKEN).compute_signature(webhook, form)
    answer = await post(webhook, form, [("X-Twilio-Signature", good)])
    url = read_stream_instruction(answer.body).url
    assert urlsplit(url).path.startswith(f"{prefix}/twilio/media/")
    from websockets.asyncio.client import connect

    for headers in ([("X-Twilio-Signature", RequestValidator("x").compute_signature(url, {}))], []):
        with pytest.raises(InvalidStatus) as caught:
            async with connect(url, additional_headers=headers):
                pass
        assert caught.value.response.status_code == 403
    assert factory.calls == 0 and bridge.calls == []
    signed = [("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, {}))]
    heard, marks = await websockets_twilio_call(url, signed)
    assert heard == GREETING and marks > 0
    with anyio.fail_after(5):
        await bridge.wait_finished(1)  # the bridge returns once it has read the stop
    assert factory.calls == 1 and bridge.calls[0].heard_ms == bridge.calls[0].sent_ms


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs on asyncio only
async def test_the_asgi_app_under_uvicorn_with_websockets_as_the_carrier(
    anyio_backend: str,
) -> None:
    sock = listening_socket()
    port = sock.getsockname()[1]
    server, bridge, factory = make_server(
        port, twilio_auth_token=TOKEN, telnyx_public_key=telnyx_key()
    )
    async with uvicorn_serving(server.asgi_app, sock):
        await check_asgi_front_end(port, server, bridge, factory)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the websockets client is asyncio
async def test_the_asgi_app_under_hypercorn_asyncio(anyio_backend: str) -> None:
    sock = listening_socket()
    port = sock.getsockname()[1]
    server, bridge, factory = make_server(
        port, twilio_auth_token=TOKEN, telnyx_public_key=telnyx_key()
    )
    async with hypercorn_serving(server.asgi_app, sock, "asyncio"):
        await check_asgi_front_end(port, server, bridge, factory)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_the_asgi_app_under_hypercorn_trio_with_the_simulated_caller(
    anyio_backend: str,
) -> None:
    sock = listening_socket()
    port = sock.getsockname()[1]
    server, _bridge, factory = make_server(port, twilio_auth_token=TOKEN)
    async with hypercorn_serving(server.asgi_app, sock, "trio"):
        webhook = f"http://127.0.0.1:{port}/twilio/voice"
        with pytest.raises(PhoneCallError, match="403"):
            await call(webhook, auth_token="wrong", **FAST)  # type: ignore[arg-type]
        result = await call(webhook, auth_token=TOKEN, **FAST)  # type: ignore[arg-type]
    assert result.transcript == GREETING and factory.calls == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs on asyncio only
async def test_mounted_in_starlette_under_a_prefix(anyio_backend: str) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    sock = listening_socket()
    port = sock.getsockname()[1]
    server, bridge, factory = make_server(
        port,
        twilio_auth_token=TOKEN,
        telnyx_public_key=telnyx_key(),
        public_url=f"http://127.0.0.1:{port}/phone",
    )

    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("the app's own page")

    app: AsgiApp = Starlette(routes=[Route("/", home), Mount("/phone", app=server.asgi_app)])
    async with uvicorn_serving(app, sock):
        await check_asgi_front_end(port, server, bridge, factory, prefix="/phone")
        page = await http_request(
            HttpExchange("GET", "/", [], url=parse_url(f"http://127.0.0.1:{port}/"))
        )
        assert page.body == b"the app's own page"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asgi_plain_requests_body_limits_and_lifespan(anyio_backend: str) -> None:
    server, _, _ = make_server(None, public_url="http://testserver", max_body_size=64)
    app = server.asgi_app
    sent: list[dict[str, Any]] = []

    async def run_http(method: str, path: str, body: bytes, length: bool = True) -> int:
        sent.clear()
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        headers = [(b"content-length", str(len(body)).encode())] if length else []
        scope = {"type": "http", "method": method, "path": path, "headers": headers}

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    assert await run_http("GET", "/healthz", b"") == 200
    assert json.loads(sent[1]["body"])["active_calls"] == 0
    assert await run_http("HEAD", "/healthz", b"") == 200 and sent[1]["body"] == b""
    assert await run_http("POST", "/twilio/voice", b"x" * 65) == 413
    assert await run_http("POST", "/twilio/voice", b"x" * 65, length=False) == 413
    assert await run_http("GET", "/nowhere", b"") == 404
    lifespan = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive_lifespan() -> dict[str, Any]:
        return lifespan.pop(0)

    replies: list[str] = []

    async def send_lifespan(message: dict[str, Any]) -> None:
        replies.append(message["type"])

    await app({"type": "lifespan"}, receive_lifespan, send_lifespan)
    assert replies == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
