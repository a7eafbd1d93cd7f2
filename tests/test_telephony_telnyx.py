"""TelnyxMediaStream against every example message of Telnyx's media streaming docs.

The examples live verbatim in ``tests/data/telephony/telnyx.json`` with their URLs
(the guide https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming
and the AsyncAPI reference
https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket).
"""

from __future__ import annotations

import json

import pytest

from adk_realtime.sansio.audio import ulaw_decode
from adk_realtime.sansio.errors import DecodeError
from adk_realtime.sansio.telephony.events import (
    CarrierError,
    DtmfReceived,
    MarkPlayed,
    MediaReceived,
    StreamConnected,
    StreamStarted,
    StreamStopped,
)
from adk_realtime.sansio.telephony.telnyx import TelnyxMediaStream
from tests.telephony_wire import doc_message, doc_messages, drain, sent

STREAM = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
CALL = "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
USER = "3E6F995F-85F7-4705-9741-53B116D28237"


def test_every_documented_example_is_kept_with_its_url() -> None:
    messages = doc_messages("telnyx")
    names = {(m.direction, m.name) for m in messages}
    assert {
        ("from_carrier", "connected"),
        ("from_carrier", "start"),
        ("from_carrier", "media"),
        ("from_carrier", "dtmf"),
        ("from_carrier", "mark"),
        ("from_carrier", "error"),
        ("from_carrier", "stop"),
        ("to_carrier", "media"),
        ("to_carrier", "mark"),
        ("to_carrier", "clear"),
    } <= names
    assert {m.url for m in messages} == {
        "https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming",
        "https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket",
    }


def stream_after_documented_start(index: int = 0) -> TelnyxMediaStream:
    stream = TelnyxMediaStream()
    stream.receive_data(doc_message("telnyx", "connected"), 0.0)
    stream.receive_data(doc_message("telnyx", "start", index=index), 0.0)
    return stream


def test_the_documented_connected_and_start_decode() -> None:
    connected, started = drain(stream_after_documented_start())
    assert connected == StreamConnected(protocol="", version="1.0.0")
    assert started == StreamStarted(
        stream_id=STREAM,
        call_id=CALL,
        account_id=USER,
        tracks=(),
        encoding="PCMU",
        sample_rate=8000,
        channels=1,
        caller="+13122010094",
        called="+13122123456",
        client_state="aGF2ZSBhIG5pY2UgZGF5ID1d",
    )


def test_the_asyncapi_start_carries_custom_parameters() -> None:
    _, started = drain(stream_after_documented_start(index=1))
    assert isinstance(started, StreamStarted)
    assert started.custom_parameters == {"customer_id": "customer_123"}
    assert (started.stream_id, started.call_id) == (STREAM, CALL)


def test_phone_numbers_client_state_and_token_stay_out_of_repr() -> None:
    stream = TelnyxMediaStream()
    stream.receive_data(
        json.dumps(
            {
                "event": "connected",
                "version": "1.0.0",
                "connected": {"x-telnyx-streaming-auth-token": "tok-SECRET-1"},
            }
        ),
        0.0,
    )
    stream.receive_data(doc_message("telnyx", "start", index=1), 0.0)
    connected, started = drain(stream)
    assert isinstance(connected, StreamConnected) and connected.auth_token == "tok-SECRET-1"
    text = repr(connected) + repr(started) + repr(stream)
    for secret in ("tok-SECRET-1", "+13122010094", "+13122123456", "aGF2ZSBh", "customer_123"):
        assert secret not in text


def test_the_documented_media_decodes_to_its_tone() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    stream.receive_data(doc_message("telnyx", "media"), 0.0)
    (media,) = drain(stream)
    assert isinstance(media, MediaReceived)
    assert (media.track, media.chunk, media.timestamp_ms) == ("inbound/outbound", 2, 5)
    assert len(media.payload) == 792
    # The example is a periodic tone: 200 samples repeat, and it is not silence.
    assert media.payload[:-200] == media.payload[200:]
    pcm = memoryview(ulaw_decode(media.payload)).cast("h")
    assert max(pcm) > 4000 and min(pcm) < -4000


def test_the_documented_dtmf_mark_and_stop_decode() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    for name in ("dtmf", "mark", "stop"):
        stream.receive_data(doc_message("telnyx", name), 0.0)
    assert drain(stream) == [
        DtmfReceived("1"),
        MarkPlayed("some_mark_name", None, heard=False),
        StreamStopped(CALL, USER),
    ]


def test_the_documented_error_has_placeholders_and_a_real_one_decodes() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    with pytest.raises(DecodeError, match="Telnyx message is not valid JSON"):
        stream.receive_data(doc_message("telnyx", "error"), 0.0)
    real = {
        "event": "error",
        "payload": {"code": 100003, "title": "malformed_frame", "detail": "bad"},
        "stream_id": STREAM,
    }
    stream.receive_data(json.dumps(real), 0.0)
    assert drain(stream) == [CarrierError(100003, "malformed_frame", "bad")]


def test_what_we_send_has_the_documented_shapes() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    stream.send_audio(b"\xff" * 160)
    stream.send_mark("some_mark_name")
    media, mark = sent(stream)
    stream.clear()
    (clear,) = sent(stream)
    documented = {
        name: json.loads(doc_message("telnyx", name, "to_carrier"))
        for name in ("media", "mark", "clear")
    }
    assert media.keys() == documented["media"].keys()
    assert media["media"].keys() == documented["media"]["media"].keys()
    assert mark == documented["mark"]
    assert clear == documented["clear"]
