"""PlivoAudioStream against every example message of Plivo's audio streaming docs.

The examples live verbatim in ``tests/data/telephony/plivo.json`` with their URLs (the
protocol reference
https://plivo.com/docs/voice-agents/audio-streaming/concepts/audio-streaming-reference,
the checkpoint page and a support article on clearAudio).
"""

from __future__ import annotations

import json

import pytest

from adk_realtime.sansio.errors import LocalProtocolError
from adk_realtime.sansio.json_fields import FieldError
from adk_realtime.sansio.telephony.events import (
    DtmfReceived,
    MarkPlayed,
    MediaReceived,
    PlaybackCleared,
    StreamStarted,
    StreamStopped,
)
from adk_realtime.sansio.telephony.plivo import PlivoAudioStream, parse_extra_headers
from tests.telephony_wire import b64, doc_message, doc_messages, drain, sent

STREAM = "87654321-4321-4321-4321-cba987654321"


def test_every_documented_example_is_kept_with_its_url() -> None:
    messages = doc_messages("plivo")
    names = {(m.direction, m.name) for m in messages}
    assert {
        ("from_carrier", "start"),
        ("from_carrier", "media"),
        ("from_carrier", "dtmf"),
        ("from_carrier", "playedStream"),
        ("from_carrier", "clearedAudio"),
        ("to_carrier", "playAudio"),
        ("to_carrier", "checkpoint"),
        ("to_carrier", "clearAudio"),
    } <= names
    assert (
        "https://plivo.com/docs/voice-agents/audio-streaming/concepts/audio-streaming-reference"
        in {m.url for m in messages}
    )


def stream_after_documented_start() -> PlivoAudioStream:
    stream = PlivoAudioStream()
    stream.receive_data(doc_message("plivo", "start"), 0.0)
    return stream


def test_the_documented_start_decodes() -> None:
    (started,) = drain(stream_after_documented_start())
    assert started == StreamStarted(
        stream_id=STREAM,
        call_id="12345678-1234-1234-1234-123456789abc",
        account_id="MAXXXXXXXXXXXXXXXXXX",
        tracks=("inbound",),
        encoding="audio/x-mulaw",
        sample_rate=8000,
        channels=1,
        custom_parameters={"userId": "12345", "sessionId": "abc-xyz"},
    )
    assert "userId" not in repr(started) and "abc-xyz" not in repr(started)


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("userId=12345;sessionId=abc-xyz", {"userId": "12345", "sessionId": "abc-xyz"}),
        ("test1=12,test2=123", {"test1": "12", "test2": "123"}),  # the <Stream> XML page's form
        ("{}", {}),
        ("", {}),
        ("a=1;;b=", {"a": "1", "b": ""}),
    ],
)
def test_extra_headers_are_key_value_pairs(text: str, pairs: dict[str, str]) -> None:
    assert parse_extra_headers(text) == pairs


def test_the_documented_media_abbreviates_its_payload() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    with pytest.raises(FieldError, match=r"Plivo media: field 'media.payload' is not valid base64"):
        stream.receive_data(doc_message("plivo", "media"), 0.0)
    msg = json.loads(doc_message("plivo", "media"))
    msg["media"]["payload"] = b64(b"\x01" * 160)
    stream.receive_data(json.dumps(msg), 0.0)
    assert drain(stream) == [MediaReceived(b"\x01" * 160, "inbound", 41, 1705312200000)]


def test_the_documented_dtmf_played_stream_and_cleared_audio_decode() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    stream.receive_data(doc_message("plivo", "dtmf"), 0.0)
    stream.receive_data(doc_message("plivo", "playedStream"), 0.0)
    stream.receive_data(doc_message("plivo", "playedStream", index=1), 0.0)
    stream.receive_data(doc_message("plivo", "clearedAudio"), 0.0)
    stream.receive_data(doc_message("plivo", "clearedAudio", index=1), 0.0)
    assert drain(stream) == [
        DtmfReceived("5", "inbound"),
        MarkPlayed("greeting-complete", None, heard=False),
        MarkPlayed("customer greeting audio", None, heard=False),
        PlaybackCleared(),
        PlaybackCleared(),
    ]


def test_a_stop_as_plivos_stream_sdk_decodes_it() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    stream.receive_data(json.dumps({"event": "stop", "streamId": STREAM, "reason": "hangup"}), 0)
    assert drain(stream) == [StreamStopped(reason="hangup")]


def test_what_we_send_has_the_documented_shapes() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    stream.send_audio(b"\xff" * 160)
    stream.send_mark("greeting-complete")
    play, checkpoint = sent(stream)
    stream.clear()
    (clear,) = sent(stream)
    documented = {
        name: json.loads(doc_message("plivo", name, "to_carrier"))
        for name in ("playAudio", "checkpoint", "clearAudio")
    }
    assert play.keys() == documented["playAudio"].keys()
    assert {**play["media"], "payload": "-"} == {**documented["playAudio"]["media"], "payload": "-"}
    assert checkpoint == documented["checkpoint"]
    assert clear == documented["clearAudio"]


def test_audio_is_refused_on_a_stream_that_is_not_mulaw_8k() -> None:
    """playAudio must match the stream's contentType; Plivo's default is L16."""
    stream = PlivoAudioStream()
    msg = json.loads(doc_message("plivo", "start"))
    msg["start"]["mediaFormat"] = {"encoding": "audio/x-l16", "sampleRate": 16000}
    stream.receive_data(json.dumps(msg), 0.0)
    with pytest.raises(LocalProtocolError, match=r'contentType="audio/x-mulaw;rate=8000"'):
        stream.send_audio(b"\xff" * 160)
    assert stream.data_to_send() == [] and stream.sent_ms == 0
    stream.send_mark("still fine")  # checkpoints and clears do not depend on the format
    stream.clear()
