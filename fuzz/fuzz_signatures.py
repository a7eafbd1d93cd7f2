"""Fuzz adk_realtime.sansio.telephony: the four signature verifiers and the SIP webhook parser.

Each input picks a scheme and starts from a genuinely signed request, then replaces
one part (body, a header's value, a header's name, an extra duplicate header, the
URL, the parameters, the signature) with fuzzed text. Only SignatureError and
IncomingCallError (both ProtocolErrors) may escape, and an untouched request must
verify. Anything else is a finding.
"""

import base64
import json
import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.telephony.openai_sip import IncomingCallError, parse_incoming_call
    from adk_realtime.sansio.telephony.signatures import (
        SignatureError,
        form_params,
        openai_webhook_headers,
        plivo_signature,
        telnyx_public_key,
        telnyx_signature,
        twilio_signature,
        verify_openai_webhook,
        verify_plivo,
        verify_telnyx,
        verify_twilio,
        verify_twilio_websocket,
    )

NOW = 1_750_287_078
SECRET = "whsec_" + base64.b64encode(b"fuzz-webhook-signing-key").decode()
TOKEN = "fuzz-auth-token"
SEED = bytes(range(32))
PUBLIC = telnyx_public_key(SEED)
URL = "https://agent.example.com:443/voice?tenant=7"
FORM = [("From", "+14155550199"), ("To", "+18005550100"), ("CallerName", "")]
WEBHOOK = {
    "id": "evt_1",
    "type": "realtime.call.incoming",
    "created_at": NOW,
    "data": {"call_id": "rtc_1", "sip_headers": [{"name": "From", "value": "<sip:+1@x>"}]},
}


def _mutate_headers(fdp: "atheris.FuzzedDataProvider", headers: list) -> list:
    """Replace a name or a value, or add a duplicate, with fuzzed text."""
    headers = list(headers)
    what = fdp.ConsumeIntInRange(0, 3)
    i = fdp.ConsumeIntInRange(0, len(headers) - 1)
    text = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 200))
    if what == 0:
        headers[i] = (headers[i][0], text)
    elif what == 1:
        headers[i] = (text, headers[i][1])
    elif what == 2:
        headers.append((headers[i][0], text))
    else:
        headers[i] = (headers[i][0].encode(), text.encode("utf-8", "surrogatepass"))
    return headers


def _openai(fdp: "atheris.FuzzedDataProvider", body: bytes, mutate: int) -> None:
    stamp = NOW + fdp.ConsumeIntInRange(-400, 400)
    headers = openai_webhook_headers(SECRET, "wh_1", stamp, body)
    if mutate == 1:
        headers = _mutate_headers(fdp, headers)
    elif mutate == 2:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    verify_openai_webhook(SECRET, body, headers, now=NOW)
    assert mutate or abs(stamp - NOW) <= 300, "a stale webhook verified"


def _telnyx(fdp: "atheris.FuzzedDataProvider", body: bytes, mutate: int) -> None:
    stamp = NOW + fdp.ConsumeIntInRange(-400, 400)
    headers = [
        ("telnyx-signature-ed25519", telnyx_signature(SEED, stamp, body)),
        ("telnyx-timestamp", str(stamp)),
    ]
    if mutate == 1:
        headers = _mutate_headers(fdp, headers)
    elif mutate == 2:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    verify_telnyx(PUBLIC, body, headers, now=NOW)
    assert mutate or abs(stamp - NOW) <= 300, "a stale webhook verified"


def _twilio(fdp: "atheris.FuzzedDataProvider", body: bytes, mutate: int) -> None:
    url, params, signature = URL, FORM, twilio_signature(TOKEN, URL, FORM)
    if not mutate:
        verify_twilio(TOKEN, url, params, signature)
        return
    if mutate == 1:
        url = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 300))
    elif mutate == 2:
        params = form_params(body)
    elif mutate == 3:
        signature = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 60))
    if fdp.ConsumeBool():
        verify_twilio(TOKEN, url, params, signature)
    else:
        verify_twilio(TOKEN, url, body.decode("utf-8", "replace"), signature)
    if fdp.ConsumeBool():
        verify_twilio_websocket(TOKEN, url, signature)


def _plivo(fdp: "atheris.FuzzedDataProvider", body: bytes, mutate: int) -> None:
    method = "GET" if fdp.ConsumeBool() else "POST"
    url, params, nonce = URL, FORM, "12345"
    signature = plivo_signature(TOKEN, method, url, nonce, params)
    if mutate == 1:
        url = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 300))
    elif mutate == 2:
        params = form_params(body)
    elif mutate == 3:
        signature = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 120))
        nonce = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20))
    verify_plivo(TOKEN, method, url, params, signature, nonce)


def _webhook(fdp: "atheris.FuzzedDataProvider", body: bytes, mutate: int) -> None:
    if mutate:
        event = json.loads(json.dumps(WEBHOOK))
        text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 100))
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        where = fdp.ConsumeIntInRange(0, 4)
        if where < 3:
            event[("id", "type", "created_at")[where]] = value
        else:
            event["data"][("call_id", "sip_headers")[where - 3]] = value
        body = json.dumps(event).encode()
    parse_incoming_call(body)


SCHEMES = (_openai, _telnyx, _twilio, _plivo, _webhook)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    scheme = SCHEMES[fdp.ConsumeIntInRange(0, len(SCHEMES) - 1)]
    mutate = fdp.ConsumeIntInRange(0, 3)
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    if scheme is _webhook and not mutate:
        body = json.dumps(WEBHOOK).encode()
    try:
        scheme(fdp, body, mutate)
    except SignatureError as exc:
        # Untouched, only a timestamp drawn outside the window may be refused.
        assert mutate or exc.reason == "stale", "an untouched request was refused"
    except IncomingCallError:
        assert mutate, "an untouched webhook was refused"


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
