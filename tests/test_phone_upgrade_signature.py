"""Twilio's ``X-Twilio-Signature`` on the media WebSocket upgrade, at the phone server.

Twilio signs the ``<Stream>`` upgrade (a GET: no parameters) over the ``wss://`` URL it
dialled, query included. Signatures made by the official ``twilio`` package's
``RequestValidator`` open the stream; forged, absent, or made over another query are
403 and never reach the bridge. With and without a query string, on our own server
(asyncio and trio), under uvicorn, and behind TLS termination (``https`` public URL).
"""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from adk_realtime.drivers.websocket import HandshakeRejected, open_websocket
from adk_realtime.phone_server import PhoneServer, serve_phone
from adk_realtime.sansio.http_server import HttpRequest
from adk_realtime.sansio.telephony.markup import read_stream_instruction
from tests.test_phone_server import (
    TOKEN,
    listening_socket,
    make_server,
    post,
    twilio_form,
    uvicorn_serving,
)

pytestmark = pytest.mark.anyio

QUERIES = ["", "?region=eu&lang=en%20US", "?b=2&a=1"]


def signature(url: str, token: str = TOKEN) -> list[tuple[str, str]]:
    return [("X-Twilio-Signature", RequestValidator(token).compute_signature(url, {}))]


async def stream_url(server: PhoneServer, base: str) -> str:
    webhook = f"{base}/twilio/voice"
    form = twilio_form()
    headers = [("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(webhook, form))]
    answer = await post(webhook, form, headers)
    assert answer.status == 200
    return read_stream_instruction(answer.body).url


async def refused(url: str, headers: list[tuple[str, str]]) -> int:
    with pytest.raises(HandshakeRejected) as caught:
        async with open_websocket(url, headers=headers):
            pass
    return caught.value.status


async def check_upgrades(server: PhoneServer, base: str, query: str) -> None:
    url = await stream_url(server, base) + query
    forged = signature(url, "another-account-token")
    assert await refused(url, forged) == 403
    assert await refused(url, []) == 403
    if query:  # the query is signed: a signature over the bare URL does not open it
        assert await refused(url, signature(url.partition("?")[0])) == 403
        assert await refused(url.partition("?")[0], signature(url)) == 403
    async with open_websocket(url, headers=signature(url)) as ws:
        await ws.aclose()


@pytest.mark.parametrize("query", QUERIES)
async def test_our_server_checks_the_upgrade_signature(anyio_backend: str, query: str) -> None:
    server, bridge, factory = make_server(None, twilio_auth_token=TOKEN)
    async with serve_phone(server, "127.0.0.1", 0) as where:
        await check_upgrades(server, f"http://127.0.0.1:{where.port}", query)
    assert len(bridge.calls) == 1 and factory.calls == 0  # only the signed upgrade


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs on asyncio only
@pytest.mark.parametrize("query", QUERIES)
async def test_the_asgi_app_checks_the_upgrade_signature(anyio_backend: str, query: str) -> None:
    sock = listening_socket()
    port = sock.getsockname()[1]
    server, bridge, _ = make_server(port, twilio_auth_token=TOKEN)
    async with uvicorn_serving(server.asgi_app, sock):
        await check_upgrades(server, f"http://127.0.0.1:{port}", query)
    assert len(bridge.calls) == 1


@pytest.mark.parametrize("query", QUERIES)
def test_behind_tls_termination_the_wss_url_is_what_is_signed(query: str) -> None:
    server, _, _ = make_server(
        None, twilio_auth_token=TOKEN, public_url="https://agent.example.com"
    )
    form = twilio_form()
    webhook = "https://agent.example.com/twilio/voice"
    headers = (("x-twilio-signature", RequestValidator(TOKEN).compute_signature(webhook, form)),)
    body = "&".join(f"{k}={v}" for k, v in form.items()).replace("+", "%2B").encode()
    answer = server.handle_http(HttpRequest("POST", "/twilio/voice", headers, body))
    url = read_stream_instruction(answer.body).url + query
    assert url.startswith("wss://agent.example.com/twilio/media/")
    target = url[len("wss://agent.example.com") :]
    assert server.check_upgrade(target, signature(url, "forged"))[0] == 403  # type: ignore[index]
    assert server.check_upgrade(target, [])[0] == 403  # type: ignore[index]
    # The server sees a plain upgrade (TLS ends before it); Twilio signed the wss URL.
    assert server.check_upgrade(target, signature(url)) is None
