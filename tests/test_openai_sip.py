"""OpenAI's SIP connector: the webhook parser and the call-control requests.

Oracles: the ``openai`` SDK. Its ``client.realtime.calls`` makes the same requests
(captured through an ``httpx2.MockTransport`` and compared with ours as h11's server
role reads them), its ``CallAcceptParams`` type and the strict GA session oracle check
the accept body, its ``RealtimeCallIncomingWebhookEvent`` reads the same webhooks,
and its realtime client dials the same call WebSocket.
"""

from __future__ import annotations

import json
import time
from typing import Any

import h11
import httpx2
import openai
import pydantic
import pytest
import websockets.sync.client
from hypothesis import given, settings, strategies as st
from openai.types.realtime.call_accept_params import CallAcceptParams
from openai.types.webhooks import RealtimeCallIncomingWebhookEvent

from adk_realtime.sansio.config import (
    AudioFormat,
    RealtimeConfig,
    ToolDefinition,
    VadConfig,
    VadMode,
)
from adk_realtime.sansio.errors import AuthError, ConfigError, DecodeError
from adk_realtime.sansio.http import HttpExchange, HttpStatusError
from adk_realtime.sansio.telephony.openai_sip import (
    IncomingCall,
    IncomingCallError,
    accept_call_request,
    accept_session,
    call_websocket_url,
    hangup_call_request,
    parse_incoming_call,
    read_call_control_response,
    refer_call_request,
    reject_call_request,
    sip_uri_user,
)
from adk_realtime.sansio.telephony.signatures import openai_webhook_headers
from tests.oracles_openai import validate_ga_client

KEY = "sk-sip-test-key-0123456789"
CALL_ID = "rtc_u1_9c6574da8b8a41a18da9308f4ad974ce"
SECRET = "whsec_c2lwLXdlYmhvb2stc2lnbmluZy1zZWNyZXQ="

# The documentation's example, as OpenAI sends it.
WEBHOOK = {
    "object": "event",
    "id": "evt_685343a1381c819085d44c354e1b330e",
    "type": "realtime.call.incoming",
    "created_at": 1750287018,
    "data": {
        "call_id": "some_call_id",
        "sip_headers": [
            {"name": "Max-Forwards", "value": "63"},
            {"name": "CSeq", "value": "851287 INVITE"},
            {"name": "Content-Type", "value": "application/sdp"},
            {"name": "To", "value": "<sip:+142555512112@sip.example.com>"},
            {"name": "From", "value": '"Ann" <sip:+14155550199@sip.example.com>;tag=64706'},
            {"name": "Call-ID", "value": "call-123@example.com"},
        ],
    },
}


# ------------------------------------------------------------------ the SDK as an oracle


def sdk_request(call: Any) -> httpx2.Request:
    """The request the SDK sends for ``call(client)``."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200)

    transport = httpx2.MockTransport(handler)
    client = openai.OpenAI(
        api_key=KEY, http_client=httpx2.Client(transport=transport), max_retries=0
    )
    call(client)
    (request,) = seen
    return request


def our_request(exchange: HttpExchange) -> tuple[h11.Request, bytes]:
    server = h11.Connection(h11.SERVER)
    server.receive_data(exchange.data_to_send())
    head = server.next_event()
    assert isinstance(head, h11.Request)
    body = b""
    while not isinstance(event := server.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data)
        body += event.data
    return head, body


def assert_same_request(ours: HttpExchange, theirs: httpx2.Request) -> None:
    head, body = our_request(ours)
    headers = {k.decode().lower(): v.decode() for k, v in head.headers}
    assert head.method.decode() == theirs.method
    assert head.target.decode() == theirs.url.raw_path.decode()
    assert headers["host"] == theirs.headers["host"]
    for name in ("authorization", "content-type", "accept"):
        assert headers[name] == theirs.headers[name], name
    if theirs.content:
        assert json.loads(body) == json.loads(theirs.content)
    else:
        assert body == b""


CONFIGS = [
    RealtimeConfig(),
    RealtimeConfig(instruction="Answer the phone for Ann's bakery. Be brief.", voice="marin"),
    RealtimeConfig(
        instruction="Ünïcode and \u2028 and </script>",
        modalities=("text",),
        input_audio_format=AudioFormat.g711_ulaw(),
        output_audio_format=AudioFormat.g711_ulaw(),
        vad=VadConfig(VadMode.SEMANTIC, eagerness="low"),
        input_transcription=True,
        max_output_tokens=256,
    ),
    RealtimeConfig(
        tools=(ToolDefinition("transfer", "Transfer to a person"),),
        tool_choice="transfer",
        vad=VadConfig.disabled(),
        extra={"tracing": "auto", "truncation": "auto"},
    ),
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("model", [None, "gpt-realtime"])
def test_accept_is_the_request_the_sdk_sends(config: RealtimeConfig, model: str | None) -> None:
    body = accept_session(config, model=model)
    theirs = sdk_request(lambda c: c.realtime.calls.accept(CALL_ID, **body))
    assert_same_request(accept_call_request(CALL_ID, config, api_key=KEY, model=model), theirs)


@pytest.mark.parametrize("config", CONFIGS)
def test_accept_body_is_valid_for_the_sdk_types(config: RealtimeConfig) -> None:
    body = accept_session(config, model="gpt-realtime")
    assert set(body) <= set(CallAcceptParams.__annotations__)
    pydantic.TypeAdapter(CallAcceptParams).validate_python(body)
    # The strict GA oracle: every nested key declared by the SDK's session type.
    validate_ga_client({"type": "session.update", "session": body})


def test_accept_body_by_hand_for_one_config() -> None:
    config = RealtimeConfig(instruction="Be brief.", voice="marin", vad=VadConfig.server())
    _, body = our_request(accept_call_request(CALL_ID, config, api_key=KEY, model="gpt-realtime"))
    assert json.loads(body) == {
        "model": "gpt-realtime",
        "type": "realtime",
        "instructions": "Be brief.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {"turn_detection": {"type": "server_vad"}},
            "output": {"voice": "marin"},
        },
    }


def test_an_explicit_model_wins_over_one_in_the_session() -> None:
    config = RealtimeConfig(extra={"model": "gpt-realtime-mini"})
    assert accept_session(config, model="gpt-realtime")["model"] == "gpt-realtime"
    assert accept_session(config)["model"] == "gpt-realtime-mini"
    exchange = accept_call_request(CALL_ID, {"model": "a"}, api_key=KEY, model="b")
    assert json.loads(our_request(exchange)[1])["model"] == "b"


def test_accept_takes_a_ready_session_mapping() -> None:
    session = {"instructions": "hi", "audio": {"output": {"voice": "cedar"}}}
    theirs = sdk_request(
        lambda c: c.realtime.calls.accept(CALL_ID, type="realtime", model="gpt-realtime", **session)
    )
    ours = accept_call_request(CALL_ID, session, api_key=KEY, model="gpt-realtime")
    assert_same_request(ours, theirs)
    with pytest.raises(ConfigError):
        accept_call_request(CALL_ID, "not a session", api_key=KEY)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [None, 486, 603])
def test_reject_is_the_request_the_sdk_sends(status: int | None) -> None:
    kwargs = {} if status is None else {"status_code": status}
    theirs = sdk_request(lambda c: c.realtime.calls.reject(CALL_ID, **kwargs))
    assert_same_request(reject_call_request(CALL_ID, api_key=KEY, status_code=status), theirs)


@pytest.mark.parametrize("status", [200, 399, 700, True, "486"])
def test_reject_status_must_be_a_sip_failure(status: Any) -> None:
    with pytest.raises(ConfigError):
        reject_call_request(CALL_ID, api_key=KEY, status_code=status)


@pytest.mark.parametrize(
    "target", ["tel:+14155550123", "sip:agent@example.com", "sips:a@b;transport=tls"]
)
def test_refer_is_the_request_the_sdk_sends(target: str) -> None:
    theirs = sdk_request(lambda c: c.realtime.calls.refer(CALL_ID, target_uri=target))
    assert_same_request(refer_call_request(CALL_ID, target, api_key=KEY), theirs)


@pytest.mark.parametrize("target", ["", "+14155550123", "http://example.com", "tel:", "tel:+1\r\n"])
def test_refer_target_must_be_a_tel_or_sip_uri(target: str) -> None:
    with pytest.raises(ConfigError) as err:
        refer_call_request(CALL_ID, target, api_key=KEY)
    assert "+1" not in str(err.value)


def test_hangup_is_the_request_the_sdk_sends() -> None:
    theirs = sdk_request(lambda c: c.realtime.calls.hangup(CALL_ID))
    assert_same_request(hangup_call_request(CALL_ID, api_key=KEY), theirs)


@pytest.mark.parametrize("call_id", ["rtc a/b", "ü?#%", "a;b=c:@!"])
def test_odd_call_ids_are_escaped_as_the_sdk_escapes_them(call_id: str) -> None:
    theirs = sdk_request(lambda c: c.realtime.calls.hangup(call_id))
    assert_same_request(hangup_call_request(call_id, api_key=KEY), theirs)


@pytest.mark.parametrize("call_id", ["", ".", "..", "a\nb", "a\x00"])
def test_impossible_call_ids_are_config_errors(call_id: str) -> None:
    with pytest.raises(ConfigError):
        hangup_call_request(call_id, api_key=KEY)
    with pytest.raises(ConfigError):
        call_websocket_url(call_id)


def test_base_url_and_repr() -> None:
    exchange = hangup_call_request(CALL_ID, api_key=KEY, base_url="http://127.0.0.1:8080/v1/")
    head, _ = our_request(exchange)
    assert head.target == f"/v1/realtime/calls/{CALL_ID}/hangup".encode()
    assert dict(head.headers)[b"host"] == b"127.0.0.1:8080"
    assert KEY not in repr(exchange)


def _reply(exchange: HttpExchange, raw: bytes) -> Any:
    exchange.data_to_send()
    exchange.receive_data(raw, 0.0)
    exchange.receive_data(b"", 0.0)
    return exchange.next_event()


def test_reading_the_answer() -> None:
    ok = _reply(
        hangup_call_request(CALL_ID, api_key=KEY), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    )
    read_call_control_response(ok)
    gone = _reply(
        hangup_call_request(CALL_ID, api_key=KEY),
        b'HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n\r\n{"error": {"message": "no such call!!"}}',
    )
    with pytest.raises(HttpStatusError) as err:
        read_call_control_response(gone)
    assert err.value.status == 404 and "no such call" in str(err.value)
    echo = f'{{"error": {{"message": "bad key {KEY}"}}}}'.encode()
    denied = _reply(
        hangup_call_request(CALL_ID, api_key=KEY),
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n%s" % (len(echo), echo),
    )
    with pytest.raises(AuthError) as auth:
        read_call_control_response(denied, secrets=[KEY])
    assert KEY not in str(auth.value)


# ------------------------------------------------------------------ the call WebSocket


@pytest.mark.parametrize("call_id", [CALL_ID, "rtc a/b é"])
def test_call_websocket_url_is_where_the_sdk_dials(
    call_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Dialled(Exception):
        pass

    def fake_connect(url: str, *args: Any, **kwargs: Any) -> Any:
        raise Dialled(str(url))

    monkeypatch.setattr(websockets.sync.client, "connect", fake_connect)
    with pytest.raises(Dialled) as dialled:
        openai.OpenAI(api_key=KEY).realtime.connect(call_id=call_id).enter()
    assert call_websocket_url(call_id) == dialled.value.args[0]
    assert (
        call_websocket_url(CALL_ID, "ws://127.0.0.1:9/v1/")
        == f"ws://127.0.0.1:9/v1/realtime?call_id={CALL_ID}"
    )


# ------------------------------------------------------------------ the webhook


def sdk_event(body: bytes | str) -> RealtimeCallIncomingWebhookEvent:
    return RealtimeCallIncomingWebhookEvent.model_validate_json(body, strict=True)


def assert_agrees(call: IncomingCall, event: RealtimeCallIncomingWebhookEvent) -> None:
    assert call.call_id == event.data.call_id
    assert call.event_id == event.id
    assert call.created_at == event.created_at
    assert call.sip_headers == tuple((h.name, h.value) for h in event.data.sip_headers)
    assert call.sip_media_security == event.data.sip_media_security


def test_the_documented_webhook_after_its_signature() -> None:
    body = json.dumps(WEBHOOK).encode()
    headers = dict(openai_webhook_headers(SECRET, "wh_1", int(time.time()), body))
    event = openai.OpenAI(api_key=KEY).webhooks.unwrap(body, headers, secret=SECRET)
    assert isinstance(event, RealtimeCallIncomingWebhookEvent)
    call = parse_incoming_call(body)
    assert_agrees(call, event)
    assert call.caller == "+14155550199"
    assert call.callee == "+142555512112"
    assert call.header("call-id") == "call-123@example.com"
    assert call.from_header == '"Ann" <sip:+14155550199@sip.example.com>;tag=64706'
    assert call.to_header == "<sip:+142555512112@sip.example.com>"
    assert call.sip_media_security is None


def test_repr_shows_no_header_value() -> None:
    call = parse_incoming_call(json.dumps(WEBHOOK))
    for text in (repr(call), str(call)):
        assert "+1415" not in text and "Ann" not in text and "sip.example" not in text
        assert "some_call_id" in text and "6 headers" in text


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    call_id=_text.filter(bool),
    headers=st.lists(st.tuples(_text, _text), max_size=8),
    security=st.sampled_from([None, "srtp", "rtp", "dtls-srtp"]),
    created_at=st.integers(0, 2**40),
)
def test_property_parse_agrees_with_the_sdk_type(
    call_id: str, headers: list[tuple[str, str]], security: str | None, created_at: int
) -> None:
    event = RealtimeCallIncomingWebhookEvent.model_validate(
        {
            "id": "evt_1",
            "type": "realtime.call.incoming",
            "created_at": created_at,
            "data": {
                "call_id": call_id,
                "sip_headers": [{"name": n, "value": v} for n, v in headers],
                "sip_media_security": security,
            },
        }
    )
    body = event.model_dump_json(exclude_none=True)
    assert_agrees(parse_incoming_call(body), sdk_event(body))
    assert_agrees(parse_incoming_call(body.encode()), event)


def _bad(**changes: Any) -> bytes:
    event = json.loads(json.dumps(WEBHOOK))
    for path, value in changes.items():
        target = event
        *parents, last = path.split("__")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is ...:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return json.dumps(event).encode()


BAD_BODIES = {
    "not json": b"{not json",
    "not utf-8": b'{"type": "\xff"}',
    "an array": b"[]",
    "deep nesting": b"[" * 100_000,
    "no type": _bad(type=...),
    "another type": _bad(type="realtime.call.ended"),
    "object not event": _bad(object="list"),
    "no data": _bad(data=...),
    "data a list": _bad(data=[]),
    "no call id": _bad(data__call_id=...),
    "call id a number": _bad(data__call_id=7),
    "headers not a list": _bad(data__sip_headers={"From": "x"}),
    "header not an object": _bad(data__sip_headers__0="From: x"),
    "header value a number": _bad(data__sip_headers__0__value=63),
    "header without a name": _bad(data__sip_headers__1__name=...),
    "created_at a string": _bad(created_at="1750287018"),
    "created_at a bool": _bad(created_at=True),
    "no id": _bad(id=...),
    "security a number": _bad(data__sip_media_security=1),
}


@pytest.mark.parametrize("label", list(BAD_BODIES))
def test_bad_webhooks_are_refused_by_both(label: str) -> None:
    body = BAD_BODIES[label]
    with pytest.raises(IncomingCallError) as err:
        parse_incoming_call(body)
    assert isinstance(err.value, DecodeError)
    assert "+1415" not in str(err.value)
    with pytest.raises((pydantic.ValidationError, ValueError, RecursionError)):
        sdk_event(body)


def test_another_event_type_is_named() -> None:
    with pytest.raises(IncomingCallError) as err:
        parse_incoming_call(_bad(type="live.transport.incoming"))
    assert err.value.event_type == "live.transport.incoming"
    assert "live.transport.incoming" in str(err.value)
    with pytest.raises(IncomingCallError) as err:
        parse_incoming_call(_bad(type="+14155550199 <sip:secret>"))
    assert "+1415" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "user"),
    [
        ('"Ann" <sip:+14155550199@pbx.example;user=phone>;tag=9', "+14155550199"),
        ("<tel:+14155550199;phone-context=example.com>", "+14155550199"),
        ("sip:alice@example.com;tag=1", "alice"),
        ("<sips:bob:pw@example.com:5061>", "bob"),
        ('"a <b>" <sip:carol@example.com>', "carol"),
        ('"quote \\" <x>" <sip:dave@example.com>', "dave"),
        ("<sip:%2B1415@example.com>", "+1415"),
        ("<sip:example.com>", None),
        ("<mailto:a@example.com>", None),
        ("garbage", None),
        ("<sip:a@b", None),
        ("", None),
        (None, None),
    ],
)
def test_sip_uri_user(value: str | None, user: str | None) -> None:
    assert sip_uri_user(value) == user


def test_compact_header_names_and_repeats() -> None:
    call = IncomingCall(
        "c",
        "e",
        1,
        (("f", "<sip:+1@x>"), ("t", "<sip:+2@x>"), ("Via", "a"), ("v", "b"), ("X-Custom", "1")),
    )
    assert (call.caller, call.callee) == ("+1", "+2")
    assert call.header_values("VIA") == ("a", "b")
    assert call.header("x-custom") == "1" and call.header("Contact") is None
