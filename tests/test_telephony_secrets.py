"""House rule for telephony: secrets and callers' numbers never show.

The hunt of ``tests/test_secrets.py`` (every log record at DEBUG, warnings, reprs,
every exception with its chain), over the signature verifiers and the OpenAI SIP
connector's failure paths. Every credential holds ``LEAKCHECK``; the phone numbers,
a transfer target and URL credentials are hunted as secrets too.
"""

from __future__ import annotations

import base64
import json
import logging
import warnings
from collections.abc import Iterator

import pytest

from adk_realtime.sansio.errors import ConfigError, RealtimeError
from adk_realtime.sansio.telephony.openai_sip import (
    IncomingCallError,
    accept_call_request,
    hangup_call_request,
    parse_incoming_call,
    read_call_control_response,
    refer_call_request,
)
from adk_realtime.sansio.telephony.signatures import (
    SignatureError,
    form_params,
    openai_webhook_headers,
    plivo_signature,
    twilio_signature,
    verify_openai_webhook,
    verify_plivo,
    verify_telnyx,
    verify_twilio,
    verify_twilio_websocket,
)
from tests.test_secrets import Hunt

AUTH_TOKEN = "LEAKCHECK-twilio-auth-token-5f2e"
PLIVO_TOKEN = "LEAKCHECK-plivo-auth-token-8c1a"
WHSEC = "whsec_" + base64.b64encode(b"LEAKCHECK-openai-webhook-key").decode()
WHSEC_KEY = "LEAKCHECK-openai-webhook-key"
API_KEY = "sk-LEAKCHECK-sip-3e9d7c1b"
URL_PASSWORD = "LEAKCHECKurlpw"
CALLER = "+14155550199"
DIALLED = "+18005550142"
TARGET = "tel:+14155550777"
EXTRA = (WHSEC, WHSEC_KEY, URL_PASSWORD, CALLER, DIALLED, TARGET, "4155550199", "4155550777")

FORM = {"From": CALLER, "To": DIALLED, "Caller": CALLER, "CallerName": ""}
NOW = 1_750_287_078


@pytest.fixture
def hunt(caplog: pytest.LogCaptureFixture) -> Iterator[Hunt]:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="adk_realtime")
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        h = Hunt(caplog, extra=EXTRA)
        yield h
    h.assert_clean(warned)


def test_twilio_refusals(hunt: Hunt) -> None:
    url = f"https://agent:{URL_PASSWORD}@example.com/voice?from={CALLER}"
    good = twilio_signature(AUTH_TOKEN, url, FORM)
    cases = [
        (url, {**FORM, "From": DIALLED}, good),  # a changed field
        (url, FORM, None),
        (url, FORM, good[:-2] + AUTH_TOKEN),  # a signature that holds a secret
        (f"https://a:{URL_PASSWORD}@[bad/{CALLER}", FORM, good),  # an unparsable URL
        (url, json.dumps(FORM), good),  # a JSON body without bodySHA256
        (url + "&bodySHA256=00", json.dumps(FORM), good),
    ]
    for i, (u, params, signature) in enumerate(cases):
        with hunt.raises(f"twilio {i}", SignatureError):
            verify_twilio(AUTH_TOKEN, u, params, signature)
    with hunt.raises("twilio ws", SignatureError):
        verify_twilio_websocket(AUTH_TOKEN, url.replace("https", "wss"), good)
    with hunt.raises("twilio form", SignatureError):
        form_params(f"From={CALLER}&x=%ff".encode())
    hunt.assert_clean()


def test_plivo_refusals(hunt: Hunt) -> None:
    url = f"https://u:{URL_PASSWORD}@example.com/answer?to={DIALLED}"
    good = plivo_signature(PLIVO_TOKEN, "POST", url, "123", FORM)
    for i, (signature, nonce) in enumerate([(good, "124"), (None, "1"), (good, None)]):
        with hunt.raises(f"plivo {i}", SignatureError):
            verify_plivo(PLIVO_TOKEN, "POST", url, FORM, signature, nonce)
    with hunt.raises("plivo method", ConfigError):
        verify_plivo(PLIVO_TOKEN, f"PUT {CALLER}", url, FORM, good, "1")
    hunt.assert_clean()


def test_openai_webhook_refusals_and_bad_secrets(hunt: Hunt) -> None:
    body = json.dumps({"data": {"sip_headers": [{"name": "From", "value": CALLER}]}})
    headers = openai_webhook_headers(WHSEC, "wh_1", NOW, body)
    for i, (now, b) in enumerate([(NOW + 999, body), (NOW, body + " "), (NOW, body)]):
        hs = headers if i < 2 else [*headers[:2], ("webhook-signature", f"v1,{WHSEC_KEY}")]
        with hunt.raises(f"openai {i}", SignatureError):
            verify_openai_webhook(WHSEC, b, hs, now=now)
    for bad in (WHSEC_KEY, "whsec_" + WHSEC_KEY + "!", WHSEC[6:]):
        with hunt.raises("openai secret", ConfigError):
            verify_openai_webhook(bad, body, headers, now=NOW)
    hunt.assert_clean()


def test_telnyx_refusals(hunt: Hunt) -> None:
    body = json.dumps({"payload": {"from": CALLER, "to": DIALLED}})
    headers = {"telnyx-signature-ed25519": "A" * 86 + "==", "telnyx-timestamp": str(NOW)}
    public = base64.b64encode(bytes(range(32))).decode()
    for i, now in enumerate([NOW, NOW + 999]):
        with hunt.raises(f"telnyx {i}", SignatureError):
            verify_telnyx(public, body, headers, now=now)
    with hunt.raises("telnyx key", ConfigError):
        verify_telnyx(AUTH_TOKEN, body, headers, now=NOW)
    hunt.assert_clean()


def test_openai_sip_objects_and_failures(hunt: Hunt) -> None:
    event = {
        "id": "evt_1",
        "type": "realtime.call.incoming",
        "created_at": NOW,
        "data": {
            "call_id": "rtc_1",
            "sip_headers": [
                {"name": "From", "value": f'"Ann" <sip:{CALLER}@pbx.example>;tag=1'},
                {"name": "To", "value": f"<sip:{DIALLED}@pbx.example>"},
                {"name": "P-Asserted-Identity", "value": f"<tel:{CALLER}>"},
            ],
        },
    }
    call = parse_incoming_call(json.dumps(event))
    assert call.caller == CALLER  # the accessor gives it; nothing prints it
    hunt.show("call", call)
    for label, broken in [
        (
            "value",
            {**event, "data": {**event["data"], "sip_headers": [{"name": CALLER, "value": 1}]}},
        ),
        ("type", {**event, "type": f"call from {CALLER}"}),
        ("call id", {**event, "data": {"call_id": CALLER}}),
    ]:
        with hunt.raises(f"webhook {label}", IncomingCallError):
            parse_incoming_call(json.dumps(broken))
    exchanges = [
        accept_call_request("rtc_1", {"instructions": "hi"}, api_key=API_KEY),
        refer_call_request("rtc_1", TARGET, api_key=API_KEY),
        hangup_call_request("rtc_1", api_key=API_KEY),
    ]
    hunt.show("exchanges", *exchanges)
    with hunt.raises("refer target", ConfigError):
        refer_call_request("rtc_1", f"{TARGET}\r\n", api_key=API_KEY)
    with hunt.raises("refer scheme", ConfigError):
        refer_call_request("rtc_1", CALLER, api_key=API_KEY)
    with hunt.raises("bad key", ConfigError):
        hangup_call_request("rtc_1", api_key=f"{API_KEY}\n")
    for status in (401, 404):
        exchange = refer_call_request("rtc_1", TARGET, api_key=API_KEY)
        exchange.data_to_send()
        text = json.dumps({"error": {"message": f"{API_KEY} may not refer to {TARGET}"}}).encode()
        exchange.receive_data(
            b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(text), text), 0.0
        )
        response = exchange.next_event()
        assert response is not None
        hunt.show("response", response)
        with hunt.raises(f"read {status}", RealtimeError):
            read_call_control_response(response, secrets=[API_KEY, TARGET])
    hunt.assert_clean()
