"""Webhook signatures, checked against the providers' own code.

Oracles: ``twilio``'s ``RequestValidator``, ``plivo``'s ``validate_v3_signature``,
``openai``'s ``client.webhooks.verify_signature`` and the ``standardwebhooks``
reference library; for Telnyx (no SDK here) Ed25519 from ``cryptography`` over the
documented ``timestamp|body``. Each way round: what the oracle signs we accept, what
we sign the oracle accepts, and what one refuses the other refuses.
"""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime
from typing import Any

import openai
import pytest
import standardwebhooks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import assume, given, settings, strategies as st
from plivo.utils.signature_v3 import validate_v3_signature
from twilio.request_validator import RequestValidator

from adk_realtime.sansio.errors import ConfigError, ProtocolError
from adk_realtime.sansio.telephony.signatures import (
    SignatureError,
    form_params,
    header_value,
    openai_webhook_headers,
    openai_webhook_signature,
    plivo_signature,
    telnyx_public_key,
    telnyx_signature,
    twilio_body_url,
    twilio_signature,
    twilio_signature_algorithm,
    verify_openai_webhook,
    verify_plivo,
    verify_telnyx,
    verify_twilio,
    verify_twilio_websocket,
)

TOKEN = "twilio-auth-token-0123456789abcdef"
VOICE_URL = "https://agent.example.com/twilio/voice?tenant=7"
CALL = {
    "AccountSid": "AC0123",
    "CallSid": "CA4567",
    "From": "+14155550199",
    "To": "+18005550100",
    "CallerName": "",  # blank values are signed too
    "Direction": "inbound",
}


class MultiDict(dict[str, list[str]]):
    """The Flask/Werkzeug shape the Twilio validator reads repeated fields from."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def refused(check: Any) -> bool:
    """Whether an oracle call refuses (False, or any exception): refusals differ in kind."""
    try:
        return check() is False
    except Exception:
        return True


# ---------------------------------------------------------------------------- Twilio


def test_twilio_form_post_both_ways() -> None:
    sdk = RequestValidator(TOKEN)
    verify_twilio(TOKEN, VOICE_URL, CALL, sdk.compute_signature(VOICE_URL, CALL))
    ours = twilio_signature(TOKEN, VOICE_URL, CALL)
    assert sdk.validate(VOICE_URL, CALL, ours)
    # The same fields as pairs (what form_params gives) sign the same.
    body = "&".join(f"{k}={v}" for k, v in CALL.items()).replace("+", "%2B")
    assert twilio_signature(TOKEN, VOICE_URL, form_params(body)) == ours


def test_twilio_repeated_fields_sort_and_deduplicate_like_the_validator() -> None:
    fields = MultiDict({"Digits": ["9", "1", "9"], "A": [""]})
    signature = RequestValidator(TOKEN).compute_signature(VOICE_URL, fields)
    pairs = [("Digits", "9"), ("A", ""), ("Digits", "1"), ("Digits", "9")]
    verify_twilio(TOKEN, VOICE_URL, pairs, signature)
    verify_twilio(TOKEN, VOICE_URL, {"Digits": ["1", "9"], "A": ""}, signature)
    assert RequestValidator(TOKEN).validate(
        VOICE_URL, fields, twilio_signature(TOKEN, VOICE_URL, pairs)
    )


@pytest.mark.parametrize(
    ("signed", "requested"),
    [
        ("https://agent.example.com:443/v?x=1", "https://agent.example.com/v?x=1"),
        ("https://agent.example.com/v?x=1", "https://agent.example.com:443/v?x=1"),
        ("http://agent.example.com:80/v", "http://agent.example.com/v"),
        ("https://agent.example.com/v", "https://agent.example.com:8443/v"),  # as the SDK does
        ("https://u:pw@agent.example.com/v", "https://u:pw@agent.example.com:443/v"),
        ("https://[2001:db8::1]:443/v", "https://[2001:db8::1]/v"),
    ],
)
def test_twilio_url_with_or_without_the_port(signed: str, requested: str) -> None:
    verify_twilio(TOKEN, requested, CALL, RequestValidator(TOKEN).compute_signature(signed, CALL))


def test_twilio_another_port_or_path_is_refused() -> None:
    signature = twilio_signature(TOKEN, "https://agent.example.com:8443/v", CALL)
    for url in ("https://agent.example.com:9443/v", "https://agent.example.com/w"):
        with pytest.raises(SignatureError) as err:
            verify_twilio(TOKEN, url, CALL, signature)
        assert err.value.reason == "mismatch"
        assert refused(lambda u=url: RequestValidator(TOKEN).validate(u, CALL, signature))


def test_twilio_json_body_is_signed_through_body_sha256() -> None:
    body = '{"MessageSid":"SM1","Body":"héllo"}'
    url = twilio_body_url("https://agent.example.com/sms?x=1", body)
    assert "bodySHA256=" in url
    sdk = RequestValidator(TOKEN)
    signature = sdk.compute_signature(url, {})
    assert sdk.validate(url, body, signature)
    verify_twilio(TOKEN, url, body, signature)
    verify_twilio(TOKEN, url, body.encode(), signature)  # the raw bytes work the same
    with pytest.raises(SignatureError) as err:
        verify_twilio(TOKEN, url, body + " ", signature)
    assert err.value.reason == "mismatch"
    assert not sdk.validate(url, body + " ", signature)
    with pytest.raises(SignatureError) as err:  # a body, and no hash to check it against
        verify_twilio(TOKEN, "https://agent.example.com/sms", body, signature)
    assert err.value.reason == "missing"


def test_twilio_websocket_upgrade_is_signed_over_the_wss_url_and_its_query() -> None:
    url = "wss://agent.example.com/twilio/media?call=CA4567"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    verify_twilio_websocket(TOKEN, url, signature)
    # Behind TLS termination the server sees https://; Twilio signed wss://.
    verify_twilio_websocket(TOKEN, "https://agent.example.com/twilio/media?call=CA4567", signature)
    verify_twilio_websocket(
        TOKEN, "wss://agent.example.com:443/twilio/media?call=CA4567", signature
    )
    assert RequestValidator(TOKEN).validate(url, {}, twilio_signature(TOKEN, url))
    for other in (
        "wss://agent.example.com/twilio/media",
        "wss://agent.example.com/twilio/media?call=CA1",
    ):
        with pytest.raises(SignatureError):
            verify_twilio_websocket(TOKEN, other, signature)
    with pytest.raises(SignatureError):  # signed as a POST with fields: not the upgrade
        verify_twilio_websocket(TOKEN, url, twilio_signature(TOKEN, url, CALL))


def test_twilio_shared_key_hmac_sha256() -> None:
    settings_header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    algorithm = twilio_signature_algorithm(settings_header)
    assert algorithm == "HMAC_SHA256"
    assert twilio_signature_algorithm(None) == twilio_signature_algorithm("key=k") == "HMAC_SHA1"
    sdk = RequestValidator("shared-key-secret")
    signature = sdk.compute_signature(VOICE_URL, CALL, algorithm)
    verify_twilio("shared-key-secret", VOICE_URL, CALL, signature, algorithm=algorithm)
    with pytest.raises(SignatureError):
        verify_twilio("shared-key-secret", VOICE_URL, CALL, signature)  # as SHA-1: no
    ours = twilio_signature("shared-key-secret", VOICE_URL, CALL, algorithm=algorithm)
    assert sdk.validate(VOICE_URL, CALL, ours, algorithm)
    with pytest.raises(SignatureError) as err:
        twilio_signature_algorithm("algorithm=HMAC_MD5")
    assert err.value.reason == "malformed"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [(None, "missing"), ("", "missing"), ("bm90IGl0", "mismatch"), ("é\ud800!!", "mismatch")],
)
def test_twilio_absent_or_forged_signatures_are_refused_by_both(
    signature: str | None, reason: str
) -> None:
    with pytest.raises(SignatureError) as err:
        verify_twilio(TOKEN, VOICE_URL, CALL, signature)
    assert err.value.reason == reason
    assert refused(lambda: RequestValidator(TOKEN).validate(VOICE_URL, CALL, signature or ""))


def test_twilio_another_token_or_a_changed_field_is_refused() -> None:
    signature = twilio_signature(TOKEN, VOICE_URL, CALL)
    with pytest.raises(SignatureError):
        verify_twilio("another-token", VOICE_URL, CALL, signature)
    with pytest.raises(SignatureError):
        verify_twilio(TOKEN, VOICE_URL, {**CALL, "From": "+14155550100"}, signature)
    with pytest.raises(SignatureError):
        verify_twilio(TOKEN, VOICE_URL, {**CALL, "Extra": "1"}, signature)


@pytest.mark.parametrize("url", ["https://[::1/x", "https://h:99999/x", "/relative/only", "h"])
def test_twilio_unparsable_url_is_a_signature_error(url: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify_twilio(TOKEN, url, CALL, "c2ln")
    assert err.value.reason == "malformed"


_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
_values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
_segments = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=10)


@settings(max_examples=150, deadline=None)
@given(
    params=st.dictionaries(_names, _values, max_size=8),
    path=st.lists(_segments, min_size=1, max_size=4),
    query=st.dictionaries(_segments, _segments, max_size=3),
    port=st.sampled_from(["", ":443", ":8443"]),
    token=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40),
)
def test_twilio_property_agrees_with_the_sdk(
    params: dict[str, str], path: list[str], query: dict[str, str], port: str, token: str
) -> None:
    assume(params.get("Tampered") != "x")
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    url = f"https://h.example{port}/{'/'.join(path)}" + (f"?{qs}" if qs else "")
    sdk = RequestValidator(token)
    theirs = sdk.compute_signature(url, params)
    verify_twilio(token, url, params, theirs)
    assert sdk.validate(url, params, twilio_signature(token, url, params))
    tampered = {**params, "Tampered": "x"}
    with pytest.raises(SignatureError):
        verify_twilio(token, url, tampered, theirs)
    assert not sdk.validate(url, tampered, theirs)


# ---------------------------------------------------------------------------- Plivo

PLIVO_TOKEN = "plivo-auth-token-ZmVkY2Jh"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "url", ["https://agent.example.com/plivo/answer", "https://agent.example.com:8443/a?z=9&b=&b=1"]
)
@pytest.mark.parametrize("params", [{}, CALL, {"Digits": ["2", "1"], "X": "y"}])
def test_plivo_both_ways(method: str, url: str, params: dict[str, Any]) -> None:
    nonce = "05429567804466091622"
    ours = plivo_signature(PLIVO_TOKEN, method, url, nonce, params)
    assert validate_v3_signature(method, url, nonce, PLIVO_TOKEN, ours, dict(params))
    verify_plivo(PLIVO_TOKEN, method, url, params, ours, nonce)
    with pytest.raises(SignatureError) as err:
        verify_plivo(PLIVO_TOKEN, method, url, params, ours, nonce + "0")
    assert err.value.reason == "mismatch"
    assert not validate_v3_signature(method, url, nonce + "0", PLIVO_TOKEN, ours, dict(params))


def test_plivo_header_may_carry_several_signatures() -> None:
    url, nonce = "https://agent.example.com/plivo/hangup", "12345"
    good = plivo_signature(PLIVO_TOKEN, "POST", url, nonce, CALL)
    other = plivo_signature("a-main-account-token", "POST", url, nonce, CALL)
    header = f"{other},{good}"
    verify_plivo(PLIVO_TOKEN, "POST", url, CALL, header, nonce)
    assert validate_v3_signature("POST", url, nonce, PLIVO_TOKEN, header, dict(CALL))


@pytest.mark.parametrize(
    ("signature", "nonce", "reason"),
    [(None, "1", "missing"), ("c2ln", None, "missing"), ("c2ln,,x", "1", "mismatch")],
)
def test_plivo_absent_or_forged_is_refused(
    signature: str | None, nonce: str | None, reason: str
) -> None:
    with pytest.raises(SignatureError) as err:
        verify_plivo(PLIVO_TOKEN, "POST", "https://a.example/x", CALL, signature, nonce)
    assert err.value.reason == reason


def test_plivo_method_is_get_or_post() -> None:
    with pytest.raises(ConfigError):
        plivo_signature(PLIVO_TOKEN, "PUT", "https://a.example/x", "1")


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST"]),
    params=st.dictionaries(_segments, st.lists(_values, min_size=1, max_size=3), max_size=6),
    query=st.dictionaries(_segments, _segments, max_size=3),
    nonce=st.text("0123456789", min_size=1, max_size=20),
)
def test_plivo_property_agrees_with_the_sdk(
    method: str, params: dict[str, list[str]], query: dict[str, str], nonce: str
) -> None:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    url = "https://agent.example.com/plivo/cb" + (f"?{qs}" if qs else "")
    ours = plivo_signature(PLIVO_TOKEN, method, url, nonce, params)
    assert validate_v3_signature(method, url, nonce, PLIVO_TOKEN, ours, dict(params))


# ---------------------------------------------------------------------------- Telnyx


@pytest.fixture(scope="module")
def telnyx_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw(key: Ed25519PrivateKey) -> tuple[bytes, str]:
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return seed, base64.b64encode(public).decode()


TELNYX_BODY = b'{"data":{"event_type":"call.initiated","payload":{"from":"+14155550199"}}}'
NOW = 1_750_287_078


def test_telnyx_signed_by_the_documented_construction_is_accepted(
    telnyx_key: Ed25519PrivateKey,
) -> None:
    seed, public = _raw(telnyx_key)
    signature = base64.b64encode(telnyx_key.sign(f"{NOW}|".encode() + TELNYX_BODY)).decode()
    headers = {"Telnyx-Signature-Ed25519": signature, "Telnyx-Timestamp": str(NOW)}
    verify_telnyx(public, TELNYX_BODY, headers, now=NOW + 10)
    verify_telnyx(base64.b64decode(public), TELNYX_BODY.decode(), list(headers.items()), now=NOW)
    # ours, checked by cryptography alone
    ours = telnyx_signature(seed, NOW, TELNYX_BODY)
    telnyx_key.public_key().verify(base64.b64decode(ours), f"{NOW}|".encode() + TELNYX_BODY)
    assert telnyx_public_key(seed) == public


@pytest.mark.parametrize(
    ("now", "reason"), [(NOW + 301, "stale"), (NOW - 301, "stale"), (NOW + 300, None)]
)
def test_telnyx_tolerance_window(
    telnyx_key: Ed25519PrivateKey, now: int, reason: str | None
) -> None:
    seed, public = _raw(telnyx_key)
    headers = [
        ("telnyx-signature-ed25519", telnyx_signature(seed, NOW, TELNYX_BODY)),
        ("telnyx-timestamp", str(NOW)),
    ]
    if reason is None:
        verify_telnyx(public, TELNYX_BODY, headers, now=now)
        return
    with pytest.raises(SignatureError) as err:
        verify_telnyx(public, TELNYX_BODY, headers, now=now)
    assert err.value.reason == reason
    verify_telnyx(public, TELNYX_BODY, headers, now=now, tolerance=400)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"telnyx-timestamp": str(NOW)}, "missing"),
        ({"telnyx-signature-ed25519": "AAAA"}, "missing"),
        ({"telnyx-signature-ed25519": "not base64!", "telnyx-timestamp": str(NOW)}, "malformed"),
        ({"telnyx-signature-ed25519": "AAAA", "telnyx-timestamp": str(NOW)}, "malformed"),
        ({"telnyx-signature-ed25519": "A" * 88, "telnyx-timestamp": "17e8"}, "malformed"),
        ({"telnyx-signature-ed25519": "A" * 86 + "==", "telnyx-timestamp": str(NOW)}, "mismatch"),
    ],
)
def test_telnyx_absent_garbled_or_forged(
    telnyx_key: Ed25519PrivateKey, headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(SignatureError) as err:
        verify_telnyx(_raw(telnyx_key)[1], TELNYX_BODY, headers, now=NOW)
    assert err.value.reason == reason


def test_telnyx_changed_body_or_another_key_is_refused(telnyx_key: Ed25519PrivateKey) -> None:
    seed, public = _raw(telnyx_key)
    headers = {
        "telnyx-signature-ed25519": telnyx_signature(seed, NOW, TELNYX_BODY),
        "telnyx-timestamp": str(NOW),
    }
    with pytest.raises(SignatureError):
        verify_telnyx(public, TELNYX_BODY + b" ", headers, now=NOW)
    with pytest.raises(SignatureError):
        verify_telnyx(_raw(Ed25519PrivateKey.generate())[1], TELNYX_BODY, headers, now=NOW)
    with pytest.raises(SignatureError):  # the timestamp is signed too
        verify_telnyx(public, TELNYX_BODY, {**headers, "telnyx-timestamp": str(NOW + 1)}, now=NOW)


@pytest.mark.parametrize("key", ["", "AAAA", "not base64", b"short"])
def test_telnyx_bad_public_key_is_a_config_error(key: str | bytes) -> None:
    with pytest.raises(ConfigError):
        verify_telnyx(key, TELNYX_BODY, {}, now=NOW)


# ---------------------------------------------------------------------------- OpenAI

SECRET = "whsec_" + base64.b64encode(b"openai-webhook-signing-key-32byte").decode()
EVENT = b'{"object":"event","id":"evt_1","type":"realtime.call.incoming","created_at":1}'


def openai_refuses(body: bytes, headers: dict[str, str], secret: str = SECRET) -> bool:
    return refused(
        lambda: openai.OpenAI(api_key="sk-x").webhooks.verify_signature(
            body, headers, secret=secret
        )
    )


def standard_refuses(body: bytes, headers: dict[str, str], secret: str = SECRET) -> bool:
    return refused(lambda: standardwebhooks.Webhook(secret).verify(body, headers))


def test_openai_reference_signatures_are_accepted() -> None:
    stamp = datetime.fromtimestamp(NOW, tz=UTC)
    signature = standardwebhooks.Webhook(SECRET).sign("wh_1", stamp, EVENT.decode())
    headers = {"Webhook-Id": "wh_1", "Webhook-Timestamp": str(NOW), "Webhook-Signature": signature}
    verify_openai_webhook(SECRET, EVENT, headers, now=NOW)
    verify_openai_webhook(SECRET, EVENT.decode(), list(headers.items()), now=NOW + 299)
    encoded = [(k.encode(), v.encode()) for k, v in headers.items()]
    verify_openai_webhook(SECRET, EVENT, encoded, now=NOW - 299)
    assert openai_webhook_signature(SECRET, "wh_1", NOW, EVENT) == signature


def test_openai_our_signatures_pass_the_sdk_and_the_reference_library() -> None:
    now = int(time.time())  # both read the clock themselves
    headers = dict(openai_webhook_headers(SECRET, "wh_2", now, EVENT))
    openai.OpenAI(api_key="sk-x").webhooks.verify_signature(EVENT, headers, secret=SECRET)
    event = openai.OpenAI(api_key="sk-x").webhooks.unwrap(EVENT, headers, secret=SECRET)
    assert event.type == "realtime.call.incoming"
    assert standardwebhooks.Webhook(SECRET).verify(EVENT, headers)["id"] == "evt_1"


def test_openai_any_of_several_signatures_may_match() -> None:
    now = int(time.time())
    good = openai_webhook_signature(SECRET, "wh_3", now, EVENT)
    old_secret = "whsec_" + base64.b64encode(b"the secret before the rotation!").decode()
    header = f"{openai_webhook_signature(old_secret, 'wh_3', now, EVENT)} v1a,AAAA {good}"
    headers = {"webhook-id": "wh_3", "webhook-timestamp": str(now), "webhook-signature": header}
    verify_openai_webhook(SECRET, EVENT, headers, now=now)
    assert not openai_refuses(EVENT, headers)
    assert not standard_refuses(EVENT, headers)


@pytest.mark.parametrize("skew", [-301, 301, -3600, 86_400])
def test_openai_stale_or_future_timestamps_are_refused_by_all(skew: int) -> None:
    now = int(time.time())
    headers = dict(openai_webhook_headers(SECRET, "wh_4", now - skew, EVENT))
    with pytest.raises(SignatureError) as err:
        verify_openai_webhook(SECRET, EVENT, headers, now=now)
    assert err.value.reason == "stale"
    # The peers read the clock themselves: a second may tick (or a loaded machine stall)
    # after ours was read, so they get a margin beyond the edge that ours was tested at.
    margin = 10 if skew > 0 else -10
    headers = dict(openai_webhook_headers(SECRET, "wh_4", now - skew - margin, EVENT))
    assert openai_refuses(EVENT, headers)
    assert standard_refuses(EVENT, headers)


def _openai_cases() -> dict[str, tuple[dict[str, str], str]]:
    now = str(int(time.time()))
    good = openai_webhook_signature(SECRET, "wh_5", now, EVENT)
    full = {"webhook-id": "wh_5", "webhook-timestamp": now, "webhook-signature": good}
    without = {name: {k: v for k, v in full.items() if k != name} for name in full}
    forged = "v1," + base64.b64encode(os.urandom(32)).decode()
    return {
        "no id": (without["webhook-id"], "missing"),
        "no timestamp": (without["webhook-timestamp"], "missing"),
        "no signature": (without["webhook-signature"], "missing"),
        "empty signature": ({**full, "webhook-signature": ""}, "missing"),
        "timestamp not a number": ({**full, "webhook-timestamp": "soon"}, "malformed"),
        "bare signature": ({**full, "webhook-signature": good[3:]}, "malformed"),
        "another version only": ({**full, "webhook-signature": "v2," + good[3:]}, "malformed"),
        "garbled": ({**full, "webhook-signature": "v1,!!!not-base64"}, "mismatch"),
        "forged": ({**full, "webhook-signature": forged}, "mismatch"),
        "another id": ({**full, "webhook-id": "wh_6"}, "mismatch"),
        "timestamp moved": ({**full, "webhook-timestamp": str(int(now) + 1)}, "mismatch"),
    }


OPENAI_BAD = [
    "no id", "no timestamp", "no signature", "empty signature", "timestamp not a number",
    "bare signature", "another version only", "garbled", "forged", "another id", "timestamp moved",
]  # fmt: skip


@pytest.mark.parametrize("label", OPENAI_BAD)
def test_openai_absent_garbled_or_forged_are_refused_by_all(label: str) -> None:
    cases = _openai_cases()  # now, not at collection: the SDKs read the clock
    assert sorted(cases) == sorted(OPENAI_BAD)
    headers, reason = cases[label]
    with pytest.raises(SignatureError) as err:
        verify_openai_webhook(SECRET, EVENT, headers, now=int(time.time()))
    assert err.value.reason == reason
    assert standard_refuses(EVENT, headers)
    if label != "bare signature":  # the SDK alone takes a signature without its "v1,"
        assert openai_refuses(EVENT, headers)


def test_openai_changed_body_and_another_secret_are_refused_by_all() -> None:
    now = int(time.time())
    headers = dict(openai_webhook_headers(SECRET, "wh_7", now, EVENT))
    changed = EVENT.replace(b"evt_1", b"evt_2")
    with pytest.raises(SignatureError):
        verify_openai_webhook(SECRET, changed, headers, now=now)
    assert openai_refuses(changed, headers) and standard_refuses(changed, headers)
    other = "whsec_" + base64.b64encode(b"someone else's endpoint secret").decode()
    with pytest.raises(SignatureError):
        verify_openai_webhook(other, EVENT, headers, now=now)
    assert openai_refuses(EVENT, headers, other) and standard_refuses(EVENT, headers, other)


def test_openai_secret_forms() -> None:
    raw = b"openai-webhook-signing-key-32byte"
    headers = openai_webhook_headers(SECRET, "wh_8", NOW, EVENT)
    verify_openai_webhook(raw, EVENT, headers, now=NOW)  # the raw key as bytes
    unpadded = SECRET.rstrip("=")
    verify_openai_webhook(unpadded, EVENT, headers, now=NOW)
    for bad in ("", "not-whsec", "whsec_", "whsec_!!!!", b""):
        with pytest.raises(ConfigError):
            verify_openai_webhook(bad, EVENT, headers, now=NOW)


def test_duplicate_signature_headers_are_refused() -> None:
    headers = openai_webhook_headers(SECRET, "wh_9", NOW, EVENT)
    with pytest.raises(SignatureError) as err:
        verify_openai_webhook(
            SECRET, EVENT, [*headers, ("Webhook-Signature", headers[2][1])], now=NOW
        )
    assert err.value.reason == "malformed"
    with pytest.raises(SignatureError):
        header_value({"webhook-id": "a", "WEBHOOK-ID": "b"}, "webhook-id")
    assert header_value([(b"X-Twilio-Signature", b" abc ")], "x-twilio-signature") == "abc"
    assert header_value({}, "x") is None


@pytest.mark.parametrize(
    ("now", "tolerance"),
    [(float("nan"), 300), (float("inf"), 300), (NOW, 0), (NOW, -1), (NOW, float("nan"))],
)
def test_bad_clock_or_tolerance_is_a_config_error(now: float, tolerance: float) -> None:
    headers = openai_webhook_headers(SECRET, "wh_10", NOW, EVENT)
    with pytest.raises(ConfigError):
        verify_openai_webhook(SECRET, EVENT, headers, now=now, tolerance=tolerance)


def test_bad_header_containers_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        verify_openai_webhook(SECRET, EVENT, [("only-one",)], now=NOW)  # type: ignore[list-item]
    with pytest.raises(ConfigError):
        verify_openai_webhook(SECRET, EVENT, {"webhook-id": 7}, now=NOW)  # type: ignore[dict-item]


def test_form_params_keeps_blanks_and_refuses_garbage() -> None:
    assert form_params(b"From=%2B1415&CallerName=&To=1") == [
        ("From", "+1415"),
        ("CallerName", ""),
        ("To", "1"),
    ]
    for bad in (b"\xff=1", b"a=%ff", b"&".join([b"a=1"] * 1001)):
        with pytest.raises(SignatureError) as err:
            form_params(bad)
        assert err.value.reason == "malformed"


def test_every_refusal_is_a_protocol_error() -> None:
    assert issubclass(SignatureError, ProtocolError)
