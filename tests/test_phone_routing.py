"""The phone server's routing core, sans-IO: what each request is answered with.

Requests are signed by the carriers' own code where they ship it (``twilio``'s
``RequestValidator``, ``plivo``'s V3 functions) and by Ed25519 from ``cryptography``
for Telnyx, as its documentation specifies.
"""

from __future__ import annotations

import base64
import json
import os
from urllib.parse import urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.http_server import HttpReply, HttpRequest
from adk_realtime.sansio.telephony.markup import read_stream_instruction
from adk_realtime.sansio.telephony.routing import CallLoad, CarrierRoutes, Routed

BASE = "https://agent.example.com/phone"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
PLIVO_TOKEN = "plivo-auth-token-fedcba9876543210"
TELNYX_SEED = bytes(range(32))
TELNYX_KEY = base64.b64encode(
    Ed25519PrivateKey.from_private_bytes(TELNYX_SEED)
    .public_key()
    .public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
NOW = 1_750_000_000.0
FREE = CallLoad()
CALLER, CALLED = "+14155550100", "+18005550199"
TWILIO_FORM = {
    "AccountSid": "AC" + "1" * 32,
    "CallSid": "CA" + "2" * 32,
    "From": CALLER,
    "To": CALLED,
    "CallerName": "",
    "CallStatus": "ringing",
}


def routes(**overrides: object) -> CarrierRoutes:
    settings: dict[str, object] = {
        "stream_key": b"k" * 32,
        "twilio_auth_token": TWILIO_TOKEN,
        "telnyx_public_key": TELNYX_KEY,
        "plivo_auth_token": PLIVO_TOKEN,
    }
    settings.update(overrides)
    return CarrierRoutes(BASE, **settings)  # type: ignore[arg-type]


def nonce() -> bytes:
    return os.urandom(12)


def twilio_post(form: dict[str, str], token: str = TWILIO_TOKEN, **changes: str) -> HttpRequest:
    url = f"{BASE}/twilio/voice"
    signature = RequestValidator(token).compute_signature(url, form)
    body = urlencode({**form, **changes}).encode()
    return HttpRequest("POST", "/phone/twilio/voice", (("x-twilio-signature", signature),), body)


def telnyx_post(form: dict[str, str], stamp: int, *, body: bytes | None = None) -> HttpRequest:
    raw = urlencode(form).encode()
    signature = Ed25519PrivateKey.from_private_bytes(TELNYX_SEED).sign(b"%d|" % stamp + raw)
    headers = (
        ("telnyx-timestamp", str(stamp)),
        ("telnyx-signature-ed25519", base64.b64encode(signature).decode()),
    )
    return HttpRequest("POST", "/phone/telnyx/voice", headers, raw if body is None else body)


def plivo_headers(
    method: str, url: str, form: dict[str, str], nonce_text: str
) -> tuple[tuple[str, str], ...]:
    base = construct_post_url(url, dict(form)) if method == "POST" else construct_get_url(url, {})
    signature = get_signature_v3(PLIVO_TOKEN, base, nonce_text)
    text = signature.decode() if isinstance(signature, bytes) else signature
    return (("x-plivo-signature-v3", text), ("x-plivo-signature-v3-nonce", nonce_text))


def media_path(routed: Routed) -> tuple[str, str]:
    """The stream URL a webhook answered, and its path as the carrier requests it."""
    assert routed.reply is not None and routed.reply.status == 200, routed
    url = read_stream_instruction(routed.reply.body).url
    return url, urlsplit(url).path


def refused(routed: Routed, status: int = 403) -> str:
    assert routed.reply is not None and routed.reply.status == status, routed
    assert routed.reply.body == b"Forbidden\n" or status != 403  # the reason is for the log only
    assert routed.refusal
    return routed.refusal


# ---------------------------------------------------------------- Twilio


def test_a_signed_twilio_webhook_is_answered_with_a_stream_carrying_the_caller() -> None:
    core = routes()
    routed = core.answer(twilio_post(TWILIO_FORM), NOW, FREE, nonce())
    assert (routed.route, routed.carrier, routed.refusal) == ("POST /twilio/voice", "twilio", None)
    assert routed.reply is not None and routed.reply.content_type.startswith("text/xml")
    read = read_stream_instruction(routed.reply.body)
    assert read.url.startswith("wss://agent.example.com/phone/twilio/media/")
    assert read.parameters == {
        "caller": CALLER,
        "called": CALLED,
        "CallSid": TWILIO_FORM["CallSid"],
    }


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        (twilio_post(TWILIO_FORM, token="another-account-token"), "does not match"),
        (twilio_post(TWILIO_FORM, From="+19995550000"), "does not match"),  # a changed field
        (
            HttpRequest("POST", "/phone/twilio/voice", (), urlencode(TWILIO_FORM).encode()),
            "no X-Twilio-Signature",
        ),
        (
            HttpRequest(
                "POST", "/phone/twilio/voice", (("x-twilio-signature", "x"),), b"\xff\xfe=1"
            ),
            "not UTF-8",
        ),
    ],
)
def test_a_forged_or_unsigned_twilio_webhook_is_403(request_: HttpRequest, why: str) -> None:
    assert why in refused(routes().answer(request_, NOW, FREE, nonce()))


def test_the_twilio_upgrade_needs_twilios_signature_and_opens_one_call_once() -> None:
    core = routes()
    url, path = media_path(core.answer(twilio_post(TWILIO_FORM), NOW, FREE, nonce()))
    signed = [("X-Twilio-Signature", RequestValidator(TWILIO_TOKEN).compute_signature(url, {}))]
    forged = [("X-Twilio-Signature", RequestValidator("other").compute_signature(url, {}))]
    assert "does not match" in refused(core.check_upgrade(path, forged, NOW + 1, FREE))
    assert "no X-Twilio-Signature" in refused(core.check_upgrade(path, [], NOW + 1, FREE))
    accepted = core.check_upgrade(path, signed, NOW + 1, FREE)
    assert (accepted.reply, accepted.carrier) == (None, "twilio")  # forged tries spent nothing
    assert "used already" in refused(core.check_upgrade(path, signed, NOW + 2, FREE))


def test_a_twilio_upgrade_without_the_webhooks_token_is_403_even_when_signed() -> None:
    core = routes()
    url = f"{BASE.replace('https', 'wss')}/twilio/media"
    signed = [("X-Twilio-Signature", RequestValidator(TWILIO_TOKEN).compute_signature(url, {}))]
    assert "no token" in refused(core.check_upgrade("/phone/twilio/media", signed, NOW, FREE))


def test_a_media_token_expires_and_is_bound_to_its_carrier_and_server() -> None:
    core = routes(token_ttl=60)
    url, path = media_path(core.answer(twilio_post(TWILIO_FORM), NOW, FREE, nonce()))
    signed = [("X-Twilio-Signature", RequestValidator(TWILIO_TOKEN).compute_signature(url, {}))]
    assert "expired" in refused(core.check_upgrade(path, signed, NOW + 61, FREE))
    token = path.rsplit("/", 1)[1]
    telnyx = f"/phone/telnyx/media/{token}"
    assert "not made here" in refused(core.check_upgrade(telnyx, [], NOW, FREE))
    other_server = routes(stream_key=b"q" * 32)
    assert "not made here" in refused(other_server.check_upgrade(path, signed, NOW, FREE))
    tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    url2 = url[: -len(path)] + tampered
    signed2 = [("X-Twilio-Signature", RequestValidator(TWILIO_TOKEN).compute_signature(url2, {}))]
    assert refused(core.check_upgrade(tampered, signed2, NOW, FREE))
    assert "not one this server makes" in refused(
        core.check_upgrade("/phone/telnyx/media/!!", [], NOW, FREE)
    )


# ---------------------------------------------------------------- Telnyx


def test_a_telnyx_webhook_signed_with_ed25519_gets_texml_and_its_token_opens_the_stream() -> None:
    core = routes()
    form = {"CallSid": "v3:abc", "From": CALLER, "To": CALLED}
    routed = core.answer(telnyx_post(form, int(NOW)), NOW, FREE, nonce())
    _url, path = media_path(routed)
    read = read_stream_instruction(routed.reply.body)  # type: ignore[union-attr]
    assert read.attributes["bidirectionalMode"] == "rtp"
    assert read.parameters == {"caller": CALLER, "called": CALLED, "CallSid": "v3:abc"}
    # Telnyx does not sign the upgrade: the webhook's token is what lets it in.
    assert core.check_upgrade(path, [], NOW + 1, FREE).reply is None
    assert "used already" in refused(core.check_upgrade(path, [], NOW + 1, FREE))
    assert "no token" in refused(core.check_upgrade("/phone/telnyx/media", [], NOW, FREE))


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda f: telnyx_post(f, int(NOW) - 301), "old"),
        (lambda f: telnyx_post(f, int(NOW), body=b"From=%2B1999"), "does not match"),
        (lambda f: HttpRequest("POST", "/phone/telnyx/voice", (), urlencode(f).encode()), "no"),
    ],
)
def test_a_stale_forged_or_unsigned_telnyx_webhook_is_403(make: object, why: str) -> None:
    request = make({"From": CALLER})  # type: ignore[operator]
    assert why in refused(routes().answer(request, NOW, FREE, nonce()))


# ---------------------------------------------------------------- Plivo


def test_a_plivo_answer_signed_by_plivos_code_gets_a_mulaw_stream_once() -> None:
    core = routes()
    form = {"CallUUID": "1234-abcd", "From": "14155550100", "To": "18005550199"}
    headers = plivo_headers("POST", f"{BASE}/plivo/answer", form, "4711")
    request = HttpRequest("POST", "/phone/plivo/answer", headers, urlencode(form).encode())
    routed = core.answer(request, NOW, FREE, nonce())
    url, path = media_path(routed)
    read = read_stream_instruction(routed.reply.body)  # type: ignore[union-attr]
    assert read.attributes["contentType"] == "audio/x-mulaw;rate=8000"
    assert read.parameters == {
        "caller": "14155550100",
        "called": "18005550199",
        "CallUUID": "1234abcd",
    }
    assert "seen before" in refused(core.answer(request, NOW, FREE, nonce()))  # a replay
    # The upgrade: a GET, signed over the stream's URL (https:// spelling, as Plivo's SDK
    # checks it, or wss://), with a new nonce.
    for spelling, upgrade_nonce in (("https", "5001"), ("wss", "5002")):
        signed_url = spelling + url[3:]
        headers = plivo_headers("GET", signed_url, {}, upgrade_nonce)
        if upgrade_nonce == "5001":
            assert core.check_upgrade(path, headers, NOW + 1, FREE).reply is None
        else:
            assert "used already" in refused(core.check_upgrade(path, headers, NOW + 1, FREE))


def test_a_plivo_answer_with_a_forged_or_missing_signature_is_403() -> None:
    form = {"CallUUID": "1", "From": "1"}
    body = urlencode(form).encode()
    good = plivo_headers("POST", f"{BASE}/plivo/answer", form, "1")
    forged = (("x-plivo-signature-v3", "A" * 44), good[1])
    for headers in (forged, good[1:], good[:1]):
        request = HttpRequest("POST", "/phone/plivo/answer", headers, body)
        assert refused(routes().answer(request, NOW, FREE, nonce()))


# ---------------------------------------------------------------- everything else


def test_a_full_server_answers_busy_in_each_carriers_words_and_refuses_upgrades() -> None:
    core = routes()
    full = CallLoad(active=2, limit=2)
    routed = core.answer(twilio_post(TWILIO_FORM), NOW, full, nonce())
    assert routed.reply is not None and b'<Reject reason="busy" />' in routed.reply.body
    telnyx = core.answer(telnyx_post({"From": CALLER}, int(NOW)), NOW, full, nonce())
    assert telnyx.reply is not None and b'<Reject reason="busy" />' in telnyx.reply.body
    form = {"CallUUID": "1"}
    plivo = HttpRequest(
        "POST",
        "/phone/plivo/answer",
        plivo_headers("POST", f"{BASE}/plivo/answer", form, "9"),
        urlencode(form).encode(),
    )
    busy = core.answer(plivo, NOW, full, nonce())
    assert busy.reply is not None and b'<Hangup reason="busy" />' in busy.reply.body
    _, path = media_path(core.answer(telnyx_post({"From": CALLER}, int(NOW)), NOW, FREE, nonce()))
    assert refused(core.check_upgrade(path, [], NOW, full), 503) == "at max_calls"


@pytest.mark.parametrize(
    ("method", "target", "status", "allow"),
    [
        ("GET", "/phone/twilio/voice", 405, "POST"),
        ("PUT", "/healthz", 405, "GET, HEAD"),
        ("GET", "/phone/twilio/media/abc", 426, None),
        ("GET", "/phone/nowhere", 404, None),
        ("POST", "/twilio/voicemail", 404, None),
    ],
)
def test_other_requests_get_what_http_says(
    method: str, target: str, status: int, allow: str | None
) -> None:
    routed = routes().answer(HttpRequest(method, target), NOW, FREE, nonce())
    assert routed.reply is not None and routed.reply.status == status
    assert "abc" not in routed.route and "nowhere" not in routed.route  # logged: no token
    assert dict(routed.reply.headers).get("Allow") == allow


def test_health_is_json_with_the_load_under_any_prefix() -> None:
    for target in ("/healthz", "/phone/healthz"):
        routed = routes().answer(HttpRequest("GET", target), NOW, CallLoad(3, 10), nonce())
        assert routed.reply is not None and routed.reply.content_type == "application/json"
        assert json.loads(routed.reply.body) == {"status": "ok", "active_calls": 3, "max_calls": 10}


def test_routes_work_with_and_without_the_public_prefix_and_bodies_are_bounded() -> None:
    core = routes(max_body_size=300)
    request = twilio_post(TWILIO_FORM)
    stripped = HttpRequest("POST", "/twilio/voice", request.headers, request.body)
    assert core.answer(stripped, NOW, FREE, nonce()).reply.status == 200  # type: ignore[union-attr]
    big = HttpRequest("POST", "/twilio/voice", request.headers, b"x" * 301)
    assert core.answer(big, NOW, FREE, nonce()).reply == HttpReply.text(413, "Content Too Large")


def test_the_served_carriers_are_those_with_a_secret_unless_chosen() -> None:
    only_twilio = CarrierRoutes(BASE, stream_key=b"k" * 32, twilio_auth_token=TWILIO_TOKEN)
    assert only_twilio.carriers == ("twilio",) and only_twilio.verified == {"twilio"}
    plivo = HttpRequest("POST", "/phone/plivo/answer", (), b"From=1")
    assert only_twilio.answer(plivo, NOW, FREE, nonce()).reply.status == 404  # type: ignore[union-attr]
    development = CarrierRoutes("http://127.0.0.1:8080", stream_key=b"k" * 32)
    assert development.carriers == ("twilio", "telnyx", "plivo") and not development.verified
    unsigned = HttpRequest("POST", "/plivo/answer", (), b"From=%2B1415&CallUUID=a-b")
    url, path = media_path(development.answer(unsigned, NOW, FREE, nonce()))
    assert url == "ws://127.0.0.1:8080/plivo/media"  # no secret, no token
    assert development.check_upgrade(path, [], NOW, FREE).reply is None
    assert development.check_upgrade(path, [], NOW, FREE).reply is None  # no token to spend
    chosen = CarrierRoutes(BASE, stream_key=b"k" * 32, carriers=["telnyx"])
    assert chosen.urls.webhooks == {"telnyx": f"{BASE}/telnyx/voice"}
    assert chosen.urls.media == {"telnyx": "wss://agent.example.com/phone/telnyx/media"}


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"stream_key": b"short"}, "stream_key"),
        ({"twilio_auth_token": ""}, "twilio_auth_token"),
        ({"carriers": ["sip"]}, "carriers"),
        ({"token_ttl": 0}, "token_ttl"),
        ({"max_remembered": 0}, "max_remembered"),
        ({"telnyx_public_key": "not a key"}, "telnyx_public_key"),
        ({"telnyx_public_key": b"short"}, "telnyx_public_key"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_field(
    settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        routes(**settings)
    assert caught.value.field == field
    for url in ("ftp://x", "https://x/?q=1", "nohost"):
        with pytest.raises(ConfigError, match="public_url"):
            CarrierRoutes(url, stream_key=b"k" * 32)


def test_the_plivo_nonces_remembered_are_bounded_oldest_first() -> None:
    core = routes(max_remembered=2)
    form = {"CallUUID": "1"}
    body = urlencode(form).encode()

    def answer(n: str) -> Routed:
        headers = plivo_headers("POST", f"{BASE}/plivo/answer", form, n)
        return core.answer(
            HttpRequest("POST", "/phone/plivo/answer", headers, body), NOW, FREE, nonce()
        )

    for n in ("1", "2", "3"):
        assert answer(n).refusal is None
    assert answer("3").refusal and answer("2").refusal
    assert answer("1").refusal is None  # pushed out by newer ones: the bound's price


def test_the_numbers_go_under_the_names_the_bridge_reads_and_names_are_checked() -> None:
    core = routes(caller_parameter="From", called_parameter="To")
    read = read_stream_instruction(
        core.answer(twilio_post(TWILIO_FORM), NOW, FREE, nonce()).reply.body  # type: ignore[union-attr]
    )
    assert read.parameters == {"From": CALLER, "To": CALLED, "CallSid": TWILIO_FORM["CallSid"]}
    for bad in ("caller-number", "", "numéro"):
        with pytest.raises(ConfigError, match="caller_parameter"):
            routes(caller_parameter=bad)
