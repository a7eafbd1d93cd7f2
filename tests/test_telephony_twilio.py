"""TwilioMediaStream against every example message of Twilio's Media Streams docs.

The examples live verbatim in ``tests/data/telephony/twilio.json`` with their URL
(https://www.twilio.com/docs/voice/media-streams/websocket-messages).
"""

from __future__ import annotations

import json

import pytest

from adk_realtime.sansio.errors import DecodeError
from adk_realtime.sansio.json_fields import FieldError
from adk_realtime.sansio.telephony.events import (
    DtmfReceived,
    MarkPlayed,
    MediaReceived,
    StreamConnected,
    StreamStarted,
    StreamStopped,
)
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream
from tests.telephony_wire import b64, doc_message, doc_messages, drain, sent

SID = "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"


def test_every_documented_example_is_kept_with_its_url() -> None:
    messages = doc_messages("twilio")
    names = {(m.direction, m.name) for m in messages}
    assert {
        ("from_carrier", "connected"),
        ("from_carrier", "start"),
        ("from_carrier", "media inbound track"),
        ("from_carrier", "media outbound track"),
        ("from_carrier", "dtmf"),
        ("from_carrier", "mark"),
        ("from_carrier", "stop"),
        ("to_carrier", "media"),
        ("to_carrier", "mark"),
        ("to_carrier", "clear"),
    } <= names
    assert {m.url for m in messages} == {
        "https://www.twilio.com/docs/voice/media-streams/websocket-messages"
    }


def stream_after_documented_start() -> TwilioMediaStream:
    stream = TwilioMediaStream()
    stream.receive_data(doc_message("twilio", "connected"), 0.0)
    stream.receive_data(doc_message("twilio", "start"), 0.0)
    return stream


def test_the_documented_connected_and_start_decode() -> None:
    stream = stream_after_documented_start()
    connected, started = drain(stream)
    assert connected == StreamConnected(protocol="Call", version="1.0.0")
    assert started == StreamStarted(
        stream_id=SID,
        call_id="CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        account_id="ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        tracks=("inbound",),
        encoding="audio/x-mulaw",
        sample_rate=8000,
        channels=1,
        custom_parameters={"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"},
    )
    assert stream.stream_id == SID and stream.started == started


def test_the_documented_start_keeps_custom_parameters_out_of_repr() -> None:
    stream = stream_after_documented_start()
    _, started = drain(stream)
    assert "Jane" not in repr(started) and "Bob" not in repr(started)
    assert "Jane" not in repr(stream)


def test_the_documented_dtmf_mark_and_stop_decode() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    stream.receive_data(doc_message("twilio", "dtmf"), 0.0)
    stream.receive_data(doc_message("twilio", "mark"), 0.0)
    stream.receive_data(doc_message("twilio", "stop"), 0.0)
    assert drain(stream) == [
        DtmfReceived("1", "inbound_track"),
        MarkPlayed("my label", None, heard=False),  # a name this codec did not place
        StreamStopped("CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
    ]
    assert stream.stopped


@pytest.mark.parametrize("name", ["media inbound track", "media outbound track"])
def test_the_documented_media_examples_abbreviate_their_payload(name: str) -> None:
    """``"no+JhoaJjpz..."`` is not base64: the codec says so, naming the field."""
    stream = stream_after_documented_start()
    drain(stream)
    with pytest.raises(
        FieldError, match=r"Twilio media: field 'media.payload' is not valid base64"
    ):
        stream.receive_data(doc_message("twilio", name), 0.0)
    assert stream.next_event() is None


@pytest.mark.parametrize(
    ("name", "track", "chunk"),
    [("media inbound track", "inbound", 2), ("media outbound track", "outbound", 1)],
)
def test_the_documented_media_examples_decode_with_a_whole_payload(
    name: str, track: str, chunk: int
) -> None:
    stream = stream_after_documented_start()
    drain(stream)
    msg = json.loads(doc_message("twilio", name))
    audio = bytes(range(160))
    msg["media"]["payload"] = b64(audio)
    stream.receive_data(json.dumps(msg), 0.0)
    assert drain(stream) == [MediaReceived(audio, track, chunk, 5)]


def test_what_we_send_has_the_documented_shapes() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    stream.send_audio(b"\xff" * 160)
    stream.send_mark("my label")
    media, mark = sent(stream)
    stream.clear()
    (clear,) = sent(stream)
    documented = {
        name: json.loads(doc_message("twilio", name, "to_carrier"))
        for name in ("media", "mark", "clear")
    }
    assert media.keys() == documented["media"].keys()
    assert media["media"].keys() == documented["media"]["media"].keys()
    assert media["streamSid"] == documented["media"]["streamSid"] == SID
    assert mark == documented["mark"]
    assert clear == documented["clear"]


def test_a_second_start_is_refused_and_changes_nothing() -> None:
    stream = stream_after_documented_start()
    drain(stream)
    other = json.loads(doc_message("twilio", "start"))
    other["start"]["streamSid"] = "MZother"
    with pytest.raises(DecodeError, match="Twilio start: the stream has already started"):
        stream.receive_data(json.dumps(other), 0.0)
    assert stream.stream_id == SID and stream.next_event() is None
