"""The routing core under load and while draining (sans-IO: no sockets, no clock)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from adk_realtime.sansio.http_server import HttpRequest
from adk_realtime.sansio.telephony.markup import read_stream_instruction
from adk_realtime.sansio.telephony.routing import CallLoad, CarrierRoutes

TOKEN = "routing-load-token"
BASE = "https://phone.example.com"
NOW = 1_700_000_000.0
FORM = {"CallSid": "CA" + "2" * 32, "From": "+14155550100"}


def routes() -> CarrierRoutes:
    return CarrierRoutes(
        BASE, stream_key=b"k" * 32, twilio_auth_token=TOKEN, carriers=["twilio", "telnyx"]
    )


def get(path: str) -> HttpRequest:
    return HttpRequest("GET", path, [], b"")


def twilio_webhook() -> HttpRequest:
    body = urlencode(FORM).encode()
    signature = RequestValidator(TOKEN).compute_signature(f"{BASE}/twilio/voice", FORM)
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", signature),
    ]
    return HttpRequest("POST", "/twilio/voice", headers, body)


def test_readyz_is_503_while_draining_or_full_and_healthz_stays_200() -> None:
    core = routes()
    cases = [
        (CallLoad(0, 2), 200, "ready"),
        (CallLoad(2, 2), 503, "full"),
        (CallLoad(0, None, draining=True), 503, "draining"),
        (CallLoad(2, 2, draining=True), 503, "draining"),
    ]
    for load, status, word in cases:
        ready = core.answer(get("/readyz"), NOW, load, bytes(12)).reply
        health = core.answer(get("/healthz"), NOW, load, bytes(12)).reply
        assert ready is not None and health is not None
        assert (ready.status, json.loads(ready.body)["status"]) == (status, word)
        assert health.status == 200
    wrong = core.answer(HttpRequest("POST", "/readyz", [], b""), NOW, CallLoad(), bytes(12))
    assert wrong.reply is not None and wrong.reply.status == 405


def test_while_draining_a_webhook_is_refused_busy_and_says_why() -> None:
    core = routes()
    routed = core.answer(twilio_webhook(), NOW, CallLoad(draining=True), bytes(12))
    assert routed.reply is not None and routed.reply.status == 200
    assert b'<Reject reason="busy" />' in routed.reply.body and routed.shed == "draining"
    full = core.answer(twilio_webhook(), NOW, CallLoad(1, 1), bytes(12))
    assert full.shed == "full"
    taken = core.answer(twilio_webhook(), NOW, CallLoad(0, 1), bytes(12))
    assert taken.shed is None and taken.reply is not None
    assert read_stream_instruction(taken.reply.body).url.startswith("wss://")


def test_while_draining_a_verified_calls_upgrade_opens_and_an_unverified_one_is_503() -> None:
    core = routes()
    answer = core.answer(twilio_webhook(), NOW, CallLoad(), bytes(12)).reply
    assert answer is not None
    url = read_stream_instruction(answer.body).url
    path = url[len("wss://phone.example.com") :]
    signed = [("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, {}))]
    # The webhook was answered before the drain: that call was taken, its stream opens.
    opened = core.check_upgrade(path, signed, NOW + 1, CallLoad(1, None, draining=True))
    assert opened.reply is None and opened.carrier == "twilio"
    telnyx = core.check_upgrade("/telnyx/media", [], NOW + 1, CallLoad(draining=True))
    assert telnyx.reply is not None and telnyx.reply.status == 503
    assert (telnyx.refusal, telnyx.shed) == ("draining", "draining")
