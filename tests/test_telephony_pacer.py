"""The outbound pacer: frames leave when due, never more than ``max_ahead_ms`` ahead, and a
barge-in leaves nothing of what was queued behind the ``clear``.

Pure: time is a number the test passes. The carrier side is the real Twilio codec.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.config import AudioEncoding, AudioFormat
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.telephony.events import StreamStarted
from adk_realtime.sansio.telephony.pacer import OutboundPacer
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream
from tests.telephony_wire import started

FRAME = 160


def twilio() -> TwilioMediaStream:
    stream = started("twilio")
    assert isinstance(stream, TwilioMediaStream)
    return stream


def take(pacer: OutboundPacer) -> list[dict[str, object]]:
    return [json.loads(message) for message in pacer.data_to_send()]


def media(messages: list[dict[str, object]]) -> list[bytes]:
    return [
        base64.b64decode(m["media"]["payload"])  # type: ignore[index]
        for m in messages
        if m["event"] == "media"
    ]


def audio(frames: int, fill: int = 0x10) -> bytes:
    return bytes([fill]) * (FRAME * frames)


def test_a_response_starts_max_ahead_at_once_then_one_frame_every_20_ms() -> None:
    pacer = OutboundPacer(twilio(), max_ahead_ms=100)
    pacer.push("r1", audio(20))
    pacer.handle_timer(10.0)
    assert len(media(take(pacer))) == 5  # 100 ms at once
    assert pacer.ahead_ms(10.0) == pytest.approx(100)
    assert pacer.get_timer() == pytest.approx(10.02)
    pacer.handle_timer(10.019)
    assert media(take(pacer)) == []  # not yet due
    for step in range(1, 16):
        now = 10.0 + 0.02 * step
        pacer.handle_timer(now)
        assert len(media(take(pacer))) == 1
        assert 80 - 1e-6 <= pacer.ahead_ms(now) <= 100 + 1e-6
    assert pacer.frames_sent == 20 and pacer.queued_ms == 0
    assert pacer.get_timer() is None  # the open response waits for more audio


def test_a_late_wake_up_sends_what_is_due_without_exceeding_the_bound() -> None:
    pacer = OutboundPacer(twilio(), max_ahead_ms=100)
    pacer.push("r1", audio(50))
    pacer.handle_timer(0.0)
    take(pacer)
    pacer.handle_timer(0.5)  # the sender slept 500 ms: the carrier ran dry at 0.1
    assert len(media(take(pacer))) == 5  # it restarts 100 ms ahead, not 25 frames at once
    assert pacer.ahead_ms(0.5) == pytest.approx(100)


def test_the_end_of_a_response_pads_its_last_frame_and_marks_its_end() -> None:
    stream = twilio()
    pacer = OutboundPacer(stream, max_ahead_ms=100)
    pacer.push("r1", audio(2) + b"\x01" * 40)
    pacer.handle_timer(0.0)
    assert len(media(take(pacer))) == 2  # the partial frame waits: more may come
    pacer.end_response()
    pacer.handle_timer(0.0)
    messages = take(pacer)
    frames = media(messages)
    assert frames == [b"\x01" * 40 + b"\xff" * 120]
    assert messages[-1]["event"] == "mark"
    assert stream.response_sent_ms("r1") == 60
    assert pacer.idle


def test_a_response_ending_on_a_frame_boundary_gets_its_end_mark_at_once() -> None:
    stream = twilio()
    pacer = OutboundPacer(stream, max_ahead_ms=100, max_queued_ms=60_000)
    stream.mark_every_frames = 50
    pacer.push("r1", audio(2))
    pacer.handle_timer(0.0)
    assert [m["event"] for m in take(pacer)] == ["media", "media"]
    pacer.end_response()
    assert [m["event"] for m in take(pacer)] == ["mark"]


def test_responses_follow_each_other_on_the_playback_timeline() -> None:
    stream = twilio()
    pacer = OutboundPacer(stream, max_ahead_ms=1000)
    pacer.push("r1", audio(3, 1))
    pacer.push("r2", audio(2, 2))  # a new key ends r1
    pacer.handle_timer(0.0)
    frames = media(take(pacer))
    assert [f[0] for f in frames] == [1, 1, 1, 2, 2]
    assert stream.response_sent_ms("r1") == 60
    assert stream.response_sent_ms("r2") == 40
    with pytest.raises(LocalProtocolError):
        pacer.push("r1", audio(1))  # a key names one response


def test_interrupt_drops_every_unsent_frame_and_sends_only_the_clear() -> None:
    stream = twilio()
    pacer = OutboundPacer(stream, max_ahead_ms=100)
    pacer.push("r1", audio(50, 1))
    pacer.handle_timer(0.0)
    take(pacer)
    pacer.handle_timer(0.02)  # one more frame, not yet taken by the sender
    pacer.interrupt(0.03)
    assert [m["event"] for m in take(pacer)] == ["clear"]
    assert pacer.unsent_ms == 44 * 20
    assert pacer.clears == 1 and pacer.idle
    assert pacer.ahead_ms(0.03) == 0
    pacer.push("r2", audio(1, 2))  # the next response starts at once
    pacer.end_response()
    pacer.handle_timer(0.03)
    assert media(take(pacer)) == [audio(1, 2)]


def test_the_queue_is_bounded_and_counts_what_it_refused() -> None:
    pacer = OutboundPacer(twilio(), max_ahead_ms=100, max_queued_ms=100)
    pacer.push("r1", audio(8))
    assert pacer.queued_ms == 100
    assert pacer.overflow_ms == 60


def test_nothing_is_sent_once_the_carrier_stopped() -> None:
    stream = twilio()
    pacer = OutboundPacer(stream)
    pacer.push("r1", audio(3))
    stream.receive_data(json.dumps({"event": "stop", "streamSid": "S", "stop": {}}), 0.0)
    pacer.handle_timer(0.0)
    pacer.push("r2", audio(3))
    pacer.interrupt(0.0)
    assert take(pacer) == [] and pacer.idle


@pytest.mark.parametrize("value", [0, 19, 60_001, 100.0, True])
def test_max_ahead_is_checked(value: object) -> None:
    with pytest.raises(ConfigError, match="max_ahead_ms"):
        OutboundPacer(twilio(), max_ahead_ms=value)  # type: ignore[arg-type]


def test_the_codec_mark_interval_is_settable_and_checked() -> None:
    stream = twilio()
    stream.mark_every_frames = 2
    stream.send_audio(audio(4))
    assert [json.loads(m)["event"] for m in stream.data_to_send()].count("mark") == 2
    with pytest.raises(ConfigError, match="mark_every_frames"):
        stream.mark_every_frames = 0
    assert stream.mark_every_frames == 2


@pytest.mark.parametrize(
    ("encoding", "rate", "channels", "expected"),
    [
        ("audio/x-mulaw", 8000, 1, AudioFormat.g711_ulaw()),
        ("PCMU", 8000, 1, AudioFormat.g711_ulaw()),
        ("PCMA", 8000, 1, AudioFormat.g711_alaw()),
        ("audio/x-l16", 8000, 1, None),
        ("PCMU", 16000, 1, None),
        ("audio/x-mulaw", 8000, 2, None),
    ],
)
def test_stream_started_names_its_audio_format(
    encoding: str, rate: int, channels: int, expected: AudioFormat | None
) -> None:
    start = StreamStarted("S", "C", encoding=encoding, sample_rate=rate, channels=channels)
    assert start.audio_format == expected
    if expected is not None:
        assert expected.encoding in (AudioEncoding.G711_ULAW, AudioEncoding.G711_ALAW)


# -- the laws, over any sequence of the bridge's and the sender's calls ----------------------

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(1, 5), st.integers(1, 700)),
        st.tuples(st.just("end"), st.just(0), st.just(0)),
        st.tuples(st.just("wait"), st.integers(0, 120), st.just(0)),
        st.tuples(st.just("interrupt"), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops, max_ahead=st.sampled_from([20, 60, 100, 240]))
def test_laws_of_the_pacer(ops: list[tuple[str, int, int]], max_ahead: int) -> None:
    stream = started("twilio")
    pacer = OutboundPacer(stream, max_ahead_ms=max_ahead)
    now = 100.0
    key_serial = 0
    key = "k0"
    cleared: set[str] = set()
    ended: set[str] = set()
    fill_of: dict[int, str] = {}  # the byte a response's audio is made of -> its key
    sent_after_clear: list[str] = []
    for op, a, b in ops:
        if op == "push":
            if a % 3 == 0 or key in cleared or key in ended:  # a key names one response
                key_serial += 1
                key = f"k{key_serial}"
            fill = key_serial % 200 + 1
            fill_of[fill] = key
            pacer.push(key, bytes([fill]) * b)
        elif op == "end":
            pacer.end_response()
            ended.add(key)
        elif op == "wait":
            now += a / 1000
        else:
            pacer.interrupt(now)
            cleared.update(fill_of.values())
            sent_after_clear.clear()
        pacer.handle_timer(now)
        # Law 1: the carrier never holds more than max_ahead_ms by the send clock.
        assert pacer.ahead_ms(now) <= max_ahead + 1e-6
        messages = [json.loads(message) for message in pacer.data_to_send()]
        for message in messages:
            if message["event"] == "media":
                frame = base64.b64decode(message["media"]["payload"])
                # Law 2: every frame is exactly 20 ms.
                assert len(frame) == FRAME
                sent_after_clear.append(fill_of[frame[0]])
        # Law 3: nothing of a response queued before a clear leaves after it.
        if "clear" in [m["event"] for m in messages]:
            assert messages[0]["event"] == "clear"
            assert all(m["event"] != "media" for m in messages)
        assert not set(sent_after_clear) & cleared
        # Law 4: the timer is never in the past while a frame is ready but not due.
        timer = pacer.get_timer()
        assert timer is None or timer > now - 1e-9
