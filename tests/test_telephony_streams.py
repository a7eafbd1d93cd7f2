"""What the three carrier media streams do alike: framing, marks, clear, responses, bad input.

Each test runs for Twilio, Telnyx and Plivo (``tests/telephony_wire.py`` has their wires).
"""

from __future__ import annotations

import binascii
import json
from typing import Any

import pytest

from adk_realtime.sansio.errors import ConfigError, DecodeError, LocalProtocolError, ProtocolError
from adk_realtime.sansio.telephony.events import (
    DtmfReceived,
    MarkPlayed,
    MediaReceived,
    StreamStopped,
)
from adk_realtime.sansio.telephony.media_stream import (
    CarrierMediaStream,
    UnexpectedEventError,
    UnknownEventError,
)
from tests.telephony_wire import WIRES, FakeCarrier, drain, sent, started

CARRIERS = sorted(WIRES)
pytestmark = pytest.mark.parametrize("carrier", CARRIERS)


def kinds(carrier: str, messages: list[dict[str, Any]]) -> list[str]:
    wire = WIRES[carrier]
    names = {wire.out_media: "media", wire.out_mark: "mark", wire.out_clear: "clear"}
    return [names[m["event"]] for m in messages]


def payloads(messages: list[dict[str, Any]]) -> list[bytes]:
    return [binascii.a2b_base64(m["media"]["payload"]) for m in messages if "media" in m]


# -- framing -------------------------------------------------------------------


def test_audio_goes_out_in_20_ms_frames_and_a_partial_frame_waits(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=100)
    stream.send_audio(b"\x01" * 400)  # 2.5 frames
    out = sent(stream)
    assert payloads(out) == [b"\x01" * 160, b"\x01" * 160]
    assert stream.sent_ms == 40
    stream.send_audio(b"\x02" * 80)  # completes the third frame
    assert payloads(sent(stream)) == [b"\x01" * 80 + b"\x02" * 80]
    assert stream.sent_ms == 60


def test_flush_pads_with_mulaw_silence_and_marks_the_end(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=100)
    stream.send_audio(b"\x01" * 170)
    stream.flush()
    out = sent(stream)
    assert kinds(carrier, out) == ["media", "media", "mark"]
    assert payloads(out)[1] == b"\x01" * 10 + b"\xff" * 150
    assert stream.sent_ms == 40 and stream.pending_marks == 1
    stream.flush()  # nothing new: no second mark at the same place
    assert sent(stream) == []


def test_a_mark_follows_every_n_frames_named_with_its_position(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=2)
    stream.send_audio(b"\x01" * 160 * 5)
    out = sent(stream)
    assert kinds(carrier, out) == ["media", "media", "mark", "media", "media", "mark", "media"]
    marks = [WIRES[carrier].mark_name(m) for m in out if kinds(carrier, [m]) == ["mark"]]
    assert marks == ["adk-1@40ms", "adk-2@80ms"]


def test_memoryview_and_bytearray_audio_are_taken(carrier: str) -> None:
    stream = started(carrier)
    stream.send_audio(bytearray(b"\x05" * 160))
    stream.send_audio(memoryview(b"\x06" * 320).cast("H"))
    assert payloads(sent(stream)) == [b"\x05" * 160, b"\x06" * 160, b"\x06" * 160]


# -- playback accounting through the wire ----------------------------------------


def test_echoes_move_heard_and_settle_earlier_marks(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=5)
    stream.send_audio(b"\x01" * 160 * 15)  # marks at 100, 200, 300
    sent(stream)
    wire = WIRES[carrier]
    stream.receive_data(json.dumps(wire.echo("adk-2@200ms")), 0.0)  # the first echo was lost
    assert drain(stream) == [MarkPlayed("adk-2@200ms", 200, heard=True)]
    assert (stream.sent_ms, stream.heard_ms, stream.ahead_ms) == (300, 200, 100)
    assert stream.pending_marks == 1  # adk-1 is settled by adk-2


def test_an_explicit_mark_counts_like_an_automatic_one(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=100)
    stream.send_audio(b"\x01" * 160 * 3)
    stream.send_mark("end of greeting")
    assert kinds(carrier, sent(stream))[-1] == "mark"
    stream.receive_data(json.dumps(WIRES[carrier].echo("end of greeting")), 0.0)
    assert drain(stream) == [MarkPlayed("end of greeting", 60, heard=True)]
    assert stream.heard_ms == 60


def test_clear_drops_what_was_not_collected_and_cuts_the_timeline(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=5)
    stream.send_audio(b"\x01" * 160 * 10)
    sent(stream)
    stream.receive_data(json.dumps(WIRES[carrier].echo("adk-1@100ms")), 0.0)
    drain(stream)
    stream.send_audio(b"\x02" * 500)  # queued here, never collected
    stream.clear()
    assert kinds(carrier, sent(stream)) == ["clear"]
    assert (stream.sent_ms, stream.heard_ms, stream.dropped_ms) == (100, 100, 160)
    stream.send_audio(b"\x03" * 160)
    assert payloads(sent(stream)) == [b"\x03" * 160]  # the partial frame went with the clear
    assert stream.sent_ms == 120


def test_echoes_after_a_clear_never_count_as_heard(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=5)
    fake = FakeCarrier(carrier, stream)
    stream.send_audio(b"\x01" * 160 * 20)  # marks at 100..400
    fake.take(sent(stream))
    fake.play(220)  # the caller heard 220 ms; the marks at 100 and 200 are on their way
    stream.clear()
    fake.take(sent(stream))
    fake.deliver()
    events = drain(stream)
    assert stream.heard_ms == 0  # both echoes left before the clear reached the carrier
    assert all(not e.heard for e in events if isinstance(e, MarkPlayed))
    expected = 4 if WIRES[carrier].echoes_marks_at_clear else 2
    assert len([e for e in events if isinstance(e, MarkPlayed)]) == expected
    assert stream.sent_ms == 0 and stream.dropped_ms == 400


def test_responses_count_what_the_caller_heard_of_each(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=5)
    fake = FakeCarrier(carrier, stream)
    stream.begin_response("r1")
    stream.send_audio(b"\x01" * 2000)  # 250 ms, flushed to 260 by the next begin
    stream.begin_response("r2")
    stream.send_audio(b"\x02" * 2400)
    fake.take(sent(stream))
    fake.play(400)
    fake.deliver()
    drain(stream)
    assert stream.response_sent_ms("r1") == 260 and stream.response_sent_ms("r2") == 300
    assert stream.response_heard_ms("r1") == 260
    assert stream.response_heard_ms("r2") == 100  # marks at 360 (100 ms of r2); 400 not yet
    stream.clear()
    assert stream.response_sent_ms("r2") == 100
    assert stream.response_heard_ms("unknown") == stream.response_sent_ms("unknown") == 0


def test_a_response_key_names_one_response(carrier: str) -> None:
    stream = started(carrier)
    stream.begin_response("r1")
    stream.begin_response("r1")  # the open one: nothing happens
    stream.begin_response("r2")
    with pytest.raises(LocalProtocolError, match="already begun"):
        stream.begin_response("r1")
    with pytest.raises(LocalProtocolError, match="response key must be a str"):
        stream.begin_response(7)  # type: ignore[arg-type]


# -- the stream's life ------------------------------------------------------------


def test_nothing_can_be_sent_before_start_or_after_stop(carrier: str) -> None:
    wire = WIRES[carrier]
    stream = wire.cls()
    commands = [
        lambda: stream.send_audio(b"\xff" * 160),
        stream.flush,
        lambda: stream.send_mark("m"),
        stream.clear,
        lambda: stream.begin_response("r"),
    ]
    for command in commands:
        with pytest.raises(LocalProtocolError, match="has not started"):
            command()
    stream.receive_data(json.dumps(wire.start("S")), 0.0)
    stream.receive_data(json.dumps(wire.stop), 0.0)
    assert isinstance(drain(stream)[-1], StreamStopped) and stream.stopped
    for command in commands:
        with pytest.raises(LocalProtocolError, match="has stopped"):
            command()
    assert stream.data_to_send() == []


def test_inbound_media_and_dtmf(carrier: str) -> None:
    stream = started(carrier)
    wire = WIRES[carrier]
    stream.receive_data(json.dumps(wire.media(b"\x10\x20")), 0.0)
    (media,) = drain(stream)
    assert isinstance(media, MediaReceived) and media.payload == b"\x10\x20"
    assert media.track == "inbound" and media.chunk == 1
    dtmf = {"event": "dtmf", "dtmf": {"digit": "#"}}
    stream.receive_data(json.dumps(dtmf).encode(), 0.0)
    stream.receive_data(
        memoryview(json.dumps({"event": "dtmf", "dtmf": {"digit": "b"}}).encode()), 0
    )
    assert [e.digit for e in drain(stream) if isinstance(e, DtmfReceived)] == ["#", "B"]


def test_no_timers(carrier: str) -> None:
    stream = started(carrier)
    assert stream.get_timer() is None
    stream.handle_timer(1.0)


@pytest.mark.parametrize(
    "options",
    [
        {"mark_every_frames": 0},
        {"mark_every_frames": 1.5},
        {"max_pending_marks": 0},
        {"max_tracked_responses": True},
    ],
)
def test_bad_configuration_names_the_field(carrier: str, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(options))):
        WIRES[carrier].cls(**options)


def test_marks_are_bounded(carrier: str) -> None:
    stream = started(carrier, mark_every_frames=1, max_pending_marks=2)
    stream.send_audio(b"\x01" * 160 * 4)
    assert stream.pending_marks == 2 and stream.marks_skipped == 2
    with pytest.raises(LocalProtocolError, match="2 marks are waiting"):
        stream.send_mark("one more")
    assert kinds(carrier, sent(stream)).count("mark") == 2


# -- bad input -------------------------------------------------------------------

BAD_COMMON: list[tuple[Any, type[ProtocolError], str]] = [
    ("not json", DecodeError, "message is not valid JSON"),
    (b"\xff\xfe", DecodeError, "message is not valid JSON"),
    ("[1, 2]", DecodeError, "message must be a JSON object, got list"),
    ({"no": "event"}, DecodeError, "missing field 'event'"),
    ({"event": 7}, DecodeError, "field 'event' must be a string, got a number"),
    ({"event": "hello"}, UnknownEventError, "unknown event 'hello'"),
    ({"event": "media"}, DecodeError, "media is missing field 'media'"),
    ({"event": "media", "media": {}}, DecodeError, "media is missing field 'media.payload'"),
    (
        {"event": "media", "media": {"payload": "!!"}},
        DecodeError,
        "media: field 'media.payload' is not valid base64",
    ),
    (
        {"event": "media", "media": {"payload": "", "chunk": "-1"}},
        DecodeError,
        "field 'media.chunk' must be a non-negative integer or a string of digits, got a string",
    ),
    (
        {"event": "media", "media": {"payload": "", "timestamp": True}},
        DecodeError,
        "field 'media.timestamp' must be a non-negative integer",
    ),
    (
        {"event": "media", "media": {"payload": "", "track": 1}},
        DecodeError,
        "field 'media.track' must be a string",
    ),
    ({"event": "dtmf", "dtmf": {"digit": "12"}}, DecodeError, "dtmf.digit' must be one of"),
    ({"event": "dtmf", "dtmf": {}}, DecodeError, "dtmf is missing field 'dtmf.digit'"),
]


@pytest.mark.parametrize(("message", "error", "text"), BAD_COMMON)
def test_bad_input_names_the_event_and_field_and_changes_nothing(
    carrier: str, message: Any, error: type[ProtocolError], text: str
) -> None:
    stream = started(carrier)
    stream.send_audio(b"\x01" * 160 * 5)
    before = snapshot(stream)
    data = message if isinstance(message, str | bytes) else json.dumps(message)
    with pytest.raises(error, match=text):
        stream.receive_data(data, 0.0)
    assert snapshot(stream) == before


def test_a_bad_start_changes_nothing_and_a_good_one_still_works(carrier: str) -> None:
    wire = WIRES[carrier]
    stream = wire.cls()
    bad = wire.start("S")
    bad["start"] = {**bad["start"], "tracks": ["inbound", 3]}
    with pytest.raises(DecodeError, match=r"start.tracks\[1\]' must be a string"):
        stream.receive_data(json.dumps(bad), 0.0)
    assert stream.started is None and stream.next_event() is None
    stream.receive_data(json.dumps(wire.start("S")), 0.0)
    assert stream.stream_id == "S"
    with pytest.raises(UnexpectedEventError):
        stream.receive_data(json.dumps(wire.start("T")), 0.0)


def test_custom_parameter_values_are_not_printed_in_errors(carrier: str) -> None:
    wire = WIRES[carrier]
    if carrier == "plivo":
        pytest.skip("Plivo's extra_headers is one string")
    bad = wire.start("S")
    key = "customParameters" if carrier == "twilio" else "custom_parameters"
    bad["start"][key] = {"From": 15550100999}
    with pytest.raises(DecodeError) as raised:
        WIRES[carrier].cls().receive_data(json.dumps(bad), 0.0)
    assert "15550100999" not in str(raised.value)
    assert f"start.{key}.From" in str(raised.value)


def snapshot(stream: CarrierMediaStream) -> tuple[Any, ...]:
    return (
        stream.sent_ms,
        stream.heard_ms,
        stream.pending_marks,
        stream.started,
        stream.stopped,
        len(stream._out),
        len(stream._events),
    )
