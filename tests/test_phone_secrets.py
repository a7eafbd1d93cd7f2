"""House rule for the phone server and caller: auth tokens, the media tokens and callers'
numbers never show in logs, reprs, exceptions or refusals.

The hunt of ``tests/test_secrets.py`` (every log record at DEBUG, warnings, reprs, every
exception with its chain) over whole calls, forged ones and refused ones, on our server.
The one place a caller's number goes is the stream answer of a *verified* webhook (to the
carrier that sent it, as ``<Parameter>``): that is the feature, not a leak, and it is
checked to go nowhere else.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from adk_realtime.drivers.http_client import http_request
from adk_realtime.drivers.websocket import HandshakeRejected, open_websocket
from adk_realtime.phone_caller import PhoneCallError, call
from adk_realtime.phone_server import PhoneServer, serve_phone
from adk_realtime.sansio.http import HttpExchange, parse_url
from adk_realtime.sansio.http_server import HttpReply, HttpRequest
from adk_realtime.sansio.telephony.markup import read_stream_instruction
from adk_realtime.sansio.telephony.simulated_carrier import SimulatedTwilio
from tests.phone_fakes import AgentFactory, GreetingBridge
from tests.test_secrets import Hunt

TWILIO_TOKEN = "LEAKCHECK-twilio-auth-token-77e1"
PLIVO_TOKEN = "LEAKCHECK-plivo-auth-token-4b2c"
STREAM_KEY = b"LEAKCHECK-stream-key-0123456789abcdef"
WRONG_TOKEN = "LEAKCHECK-wrong-token"
CALLER = "+14155550199"
DIALLED = "+18005550142"
NUMBERS = (CALLER, DIALLED, "4155550199", "8005550142")

pytestmark = pytest.mark.anyio


@pytest.fixture
def hunt(caplog: pytest.LogCaptureFixture) -> Iterator[Hunt]:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="adk_realtime")
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("adk_realtime."):
            caplog.set_level(logging.DEBUG, logger=name)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        h = Hunt(caplog, extra=(*NUMBERS, STREAM_KEY.decode()))
        yield h
    h.assert_clean(warned)


def server_for_hunt() -> tuple[PhoneServer, GreetingBridge, AgentFactory]:
    bridge, factory = GreetingBridge(), AgentFactory()
    server = PhoneServer(
        "model",
        factory,
        twilio_auth_token=TWILIO_TOKEN,
        plivo_auth_token=PLIVO_TOKEN,
        stream_key=STREAM_KEY,
        bridge=bridge,
    )
    return server, bridge, factory


async def post(url: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    where = parse_url(url)
    head = [("Content-Type", "application/x-www-form-urlencoded"), *headers]
    response = await http_request(HttpExchange("POST", where.target, head, body, url=where))
    return response.status, response.body


async def test_a_whole_call_and_every_refusal_leave_no_secret_or_number_behind(
    anyio_backend: str, hunt: Hunt
) -> None:
    server, bridge, factory = server_for_hunt()
    hunt.show("server before serving", server)
    async with serve_phone(server, "127.0.0.1", 0) as where:
        base = f"http://127.0.0.1:{where.port}"
        hunt.show("server", server, server.routes)
        form = {"CallSid": "CA1", "From": CALLER, "To": DIALLED, "Caller": CALLER}
        body = urlencode(form).encode()
        webhook = f"{base}/twilio/voice"
        # Refusals: forged (a signature holding the token), unsigned, wrong method, too big.
        refusals = [
            await post(webhook, body, [("X-Twilio-Signature", TWILIO_TOKEN)]),
            await post(webhook, body, []),
            await post(f"{base}/plivo/answer", body, [("X-Plivo-Signature-V3", PLIVO_TOKEN)]),
            await post(f"{base}/twilio/voice?token={TWILIO_TOKEN}&from={CALLER}", body, []),
            await post(f"{base}/nowhere/{CALLER}", body, []),
            await post(webhook, body + b"&pad=" + b"x" * 70_000, []),
        ]
        for status, answer in refusals:
            assert status in (403, 404, 413)
            hunt.texts.append((f"refusal {status}", answer.decode("utf-8", "replace")))
        # A genuine call, then its media URL replayed and forged.
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(webhook, form)
        status, answer = await post(webhook, body, [("X-Twilio-Signature", signature)])
        assert status == 200 and CALLER.encode() in answer  # to the carrier, as <Parameter>
        media = read_stream_instruction(answer).url
        # The media token is hunted in the server's logs below; the dialling side's own
        # errors name the URL it dialled (a spent, expiring token), as any client's do.
        media_token = urlsplit(media).path.rsplit("/", 1)[1]
        signed = [
            ("X-Twilio-Signature", RequestValidator(TWILIO_TOKEN).compute_signature(media, {}))
        ]
        carrier = SimulatedTwilio(stream_id="MZ1", call_id="CA1", custom_parameters=form)
        async with open_websocket(media, headers=signed) as ws:
            carrier.start(0.0)
            for message in carrier.data_to_send():
                await ws.send(message)
            await ws.receive()  # the greeting's first frame
            carrier.hang_up()
            for message in carrier.data_to_send():
                await ws.send(message)
        for headers in (signed, [("X-Twilio-Signature", TWILIO_TOKEN)]):
            with pytest.raises(HandshakeRejected) as rejected:
                async with open_websocket(media, headers=headers):
                    pass
            assert rejected.value.status == 403
            assert TWILIO_TOKEN not in str(rejected.value)
        with hunt.raises("caller with a wrong token", PhoneCallError):
            await call(webhook, question="Hi", auth_token=WRONG_TOKEN, caller=CALLER)
        hunt.show("bridged call", bridge.calls[0], bridge.calls[0].started)
    assert factory.calls == 1
    assert media_token not in hunt.caplog.text
    hunt.assert_clean()


async def test_the_results_and_requests_a_user_holds_show_no_number(
    anyio_backend: str, hunt: Hunt
) -> None:
    server = PhoneServer("model", AgentFactory(), bridge=GreetingBridge())
    async with serve_phone(server, "127.0.0.1", 0) as where:
        result = await call(
            f"http://127.0.0.1:{where.port}/twilio/voice",
            question="Hi",
            caller=CALLER,
            called=DIALLED,
            quiet_ms=300,
        )
    hunt.show("result", result)
    hunt.show(
        "request", HttpRequest("POST", f"/x?from={CALLER}", (("from", CALLER),), CALLER.encode())
    )
    hunt.show("reply", HttpReply(200, CALLER.encode()))
    hunt.show("carrier", SimulatedTwilio(stream_id="s", call_id="c", caller=CALLER))
    hunt.assert_clean()
