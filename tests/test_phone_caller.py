"""The simulated caller: the carrier's side of a stream as a sans-IO machine on a virtual
clock (played against our own carrier codecs), then whole calls in real time."""

from __future__ import annotations

import base64
import json
import wave
from pathlib import Path
from typing import Any

import anyio
import pytest

from adk_realtime.phone_caller import call, spoken_ulaw
from adk_realtime.phone_server import PhoneServer, serve_phone
from adk_realtime.sansio.errors import ConnectionClosed, DecodeError, LocalProtocolError
from adk_realtime.sansio.telephony.events import MarkPlayed, MediaReceived, StreamStarted
from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream
from adk_realtime.sansio.telephony.plivo import PlivoAudioStream
from adk_realtime.sansio.telephony.simulated_carrier import (
    ClearHonoured,
    FramePlayed,
    SimulatedCarrier,
    SimulatedPlivo,
    SimulatedTelnyx,
    SimulatedTwilio,
)
from adk_realtime.sansio.telephony.telnyx import TelnyxMediaStream
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream

PAIRS: list[tuple[type[SimulatedCarrier], type[CarrierMediaStream]]] = [
    (SimulatedTwilio, TwilioMediaStream),
    (SimulatedTelnyx, TelnyxMediaStream),
    (SimulatedPlivo, PlivoAudioStream),
]
IDS = ["twilio", "telnyx", "plivo"]
T0 = 100.0


class Line:
    """A carrier machine and our codec for it, joined on a virtual clock."""

    def __init__(
        self, carrier_cls: type[SimulatedCarrier], codec_cls: type[CarrierMediaStream]
    ) -> None:
        self.carrier = carrier_cls(
            stream_id="MZ9", call_id="CA9", custom_parameters={"From": "14155550100"},
            caller="+14155550100", called="+18005550199",
        )  # fmt: skip
        self.codec = codec_cls(mark_every_frames=5)
        self.now = T0
        self.events: list[Any] = []  # what the codec decoded
        self.played: list[Any] = []  # what the carrier played or honoured
        self.carrier.start(T0)
        self.to_codec()

    def to_codec(self) -> None:
        for message in self.carrier.data_to_send():
            self.codec.receive_data(message, self.now)
        while (event := self.codec.next_event()) is not None:
            self.events.append(event)

    def to_carrier(self) -> None:
        for message in self.codec.data_to_send():
            self.carrier.receive_data(message, self.now)
        self.drain_carrier()

    def drain_carrier(self) -> None:
        while (event := self.carrier.next_event()) is not None:
            self.played.append(event)

    def run_until(self, t: float) -> None:
        while (deadline := self.carrier.get_timer()) is not None and deadline <= t:
            self.now = deadline
            self.carrier.handle_timer(deadline)
            self.drain_carrier()
            self.to_codec()
        self.now = t


@pytest.mark.parametrize(("carrier_cls", "codec_cls"), PAIRS, ids=IDS)
def test_the_opening_tells_our_codec_who_calls(
    carrier_cls: type[SimulatedCarrier], codec_cls: type[CarrierMediaStream]
) -> None:
    line = Line(carrier_cls, codec_cls)
    started = next(e for e in line.events if isinstance(e, StreamStarted))
    assert (started.stream_id, started.call_id) == ("MZ9", "CA9")
    assert started.custom_parameters == {"From": "14155550100"}
    assert started.sample_rate == 8000 and started.channels == 1
    if carrier_cls is SimulatedTelnyx:
        assert (started.caller, started.called) == ("+14155550100", "+18005550199")
    assert line.carrier.get_timer() == pytest.approx(T0 + 0.02)


@pytest.mark.parametrize(("carrier_cls", "codec_cls"), PAIRS, ids=IDS)
def test_the_caller_speaks_a_frame_every_20_ms_then_silence(
    carrier_cls: type[SimulatedCarrier], codec_cls: type[CarrierMediaStream]
) -> None:
    line = Line(carrier_cls, codec_cls)
    line.carrier.say(b"\x10" * 200)
    line.run_until(T0 + 0.1)
    media = [e for e in line.events if isinstance(e, MediaReceived)]
    assert len(media) == 5 and all(len(m.payload) == 160 for m in media)
    assert media[0].payload == b"\x10" * 160
    assert media[1].payload == b"\x10" * 40 + b"\xff" * 120  # the rest, then silence
    assert media[2].payload == b"\xff" * 160
    assert [m.chunk for m in media] == [1, 2, 3, 4, 5]
    assert not line.carrier.speaking


@pytest.mark.parametrize(("carrier_cls", "codec_cls"), PAIRS, ids=IDS)
def test_a_mark_comes_back_only_once_the_audio_before_it_has_played(
    carrier_cls: type[SimulatedCarrier], codec_cls: type[CarrierMediaStream]
) -> None:
    line = Line(carrier_cls, codec_cls)
    line.codec.send_audio(b"\x01" * 800)  # 100 ms: five frames, then the automatic mark
    line.to_carrier()
    assert line.carrier.queued_ms == 100 and line.carrier.pending_marks == 1
    line.run_until(T0 + 0.1)  # five ticks: five frames played
    assert [type(e) for e in line.played] == [FramePlayed] * 5
    assert line.codec.heard_ms == 0  # the last frame has only just played
    line.run_until(T0 + 0.12)
    assert line.codec.heard_ms == 100 and line.carrier.marks_returned == 1
    assert [p.at_ms for p in line.played] == [0, 20, 40, 60, 80]


@pytest.mark.parametrize(("carrier_cls", "codec_cls"), PAIRS, ids=IDS)
def test_a_mark_with_nothing_before_it_comes_back_at_once(
    carrier_cls: type[SimulatedCarrier], codec_cls: type[CarrierMediaStream]
) -> None:
    line = Line(carrier_cls, codec_cls)
    line.codec.send_mark("ping")
    line.to_carrier()
    line.to_codec()
    assert [e.name for e in line.events if isinstance(e, MarkPlayed)] == ["ping"]


@pytest.mark.parametrize(("carrier_cls", "codec_cls"), PAIRS[:2], ids=IDS[:2])
def test_a_clear_drops_unplayed_audio_and_returns_the_waiting_marks_as_twilio_does(
    carrier_cls: type[SimulatedCarrier], codec_cls: type[CarrierMediaStream]
) -> None:
    line = Line(carrier_cls, codec_cls)
    line.codec.send_audio(b"\x01" * 1600)  # 200 ms, marks at 100 and 200
    line.to_carrier()
    line.run_until(T0 + 0.06)  # three frames played
    line.codec.clear()
    line.to_carrier()
    cleared = [p for p in line.played if isinstance(p, ClearHonoured)]
    assert cleared == [ClearHonoured(dropped_ms=140, marks_returned=2)]
    line.to_codec()
    marks = [e for e in line.events if isinstance(e, MarkPlayed)]
    assert len(marks) == 2 and not any(m.heard for m in marks)  # unplayed: not heard
    assert line.carrier.queued_ms == 0 and line.codec.heard_ms == 0
    line.codec.send_audio(b"\x02" * 800)  # the next answer plays from where the clear cut
    line.to_carrier()
    line.run_until(T0 + 0.2)
    assert line.codec.heard_ms == line.codec.sent_ms


def test_plivo_clear_audio_drops_checkpoints_and_confirms() -> None:
    line = Line(SimulatedPlivo, PlivoAudioStream)
    line.codec.send_audio(b"\x01" * 1600)
    line.to_carrier()
    line.run_until(T0 + 0.06)
    line.codec.clear()
    line.to_carrier()
    assert [p for p in line.played if isinstance(p, ClearHonoured)] == [ClearHonoured(140, 0)]
    line.to_codec()
    assert not [e for e in line.events if isinstance(e, MarkPlayed)]
    assert line.carrier.marks_returned == 0 and line.carrier.clears == 1
    assert type(line.events[-1]).__name__ == "PlaybackCleared"


@pytest.mark.parametrize(("carrier_cls", "codec_cls"), PAIRS, ids=IDS)
def test_dtmf_goes_one_key_a_tick_and_stop_ends_everything(
    carrier_cls: type[SimulatedCarrier], codec_cls: type[CarrierMediaStream]
) -> None:
    line = Line(carrier_cls, codec_cls)
    line.carrier.press("1#")
    with pytest.raises(LocalProtocolError):
        line.carrier.press("x")
    line.run_until(T0 + 0.06)
    assert [e.digit for e in line.events if type(e).__name__ == "DtmfReceived"] == ["1", "#"]
    line.carrier.hang_up()
    assert line.carrier.get_timer() is None and line.carrier.stopped
    line.to_codec()
    assert line.codec.stopped
    line.carrier.receive_data("not even json", line.now)  # ignored once hung up
    with pytest.raises(LocalProtocolError):
        line.carrier.say(b"\x00")


def test_a_late_driver_catches_up_every_tick() -> None:
    line = Line(SimulatedTwilio, TwilioMediaStream)
    line.carrier.handle_timer(T0 + 1.0)
    line.to_codec()
    assert len([e for e in line.events if isinstance(e, MediaReceived)]) == 50
    assert line.carrier.played_ms == 1000


@pytest.mark.parametrize(
    "message",
    [
        "{",
        "[]",
        '{"event": 3}',
        '{"event": "dance"}',
        '{"event": "media", "media": {"payload": "!!"}}',
        '{"event": "mark", "mark": {}}',
        '{"event": "playAudio", "media": {"contentType": "audio/x-l16", "sampleRate": 8000, "payload": ""}}',
    ],
)
def test_a_message_a_carrier_would_refuse_is_a_decode_error_and_changes_nothing(
    message: str,
) -> None:
    for carrier_cls in (SimulatedTwilio, SimulatedPlivo):
        carrier = carrier_cls(stream_id="s", call_id="c")
        carrier.start(0.0)
        carrier.data_to_send()
        with pytest.raises(DecodeError):
            carrier.receive_data(message, 0.0)
        assert carrier.queued_ms == 0 and carrier.data_to_send() == []


def test_the_unplayed_audio_held_is_bounded() -> None:
    carrier = SimulatedTwilio(stream_id="s", call_id="c", max_queued_ms=100)
    carrier.start(0.0)
    payload = base64.b64encode(bytes(801)).decode()  # 100 ms and one byte
    media = json.dumps({"event": "media", "media": {"payload": payload}})
    with pytest.raises(DecodeError, match="more than 100 ms"):
        carrier.receive_data(media, 0.0)
    assert carrier.queued_ms == 0


# ---------------------------------------------------------------- whole calls


class BargeInBridge:
    """Takes turns as a model would: answers the question at length once the caller is
    quiet; when the caller talks over it, clears; once quiet again, says "Sorry"."""

    LONG = "A very long answer that goes on and on"

    def __init__(self) -> None:
        self.cleared_at_heard_ms: int | None = None

    async def __call__(
        self, socket: Any, stream: CarrierMediaStream, *args: Any, **kw: Any
    ) -> None:
        state, spoke, quiet = "listening", False, 0
        try:
            while not stream.stopped:
                stream.receive_data(await socket.receive(), 0.0)
                while (event := stream.next_event()) is not None:
                    if not isinstance(event, MediaReceived):
                        continue
                    speech = event.payload.count(0xFF) < 100
                    spoke, quiet = spoke or speech, 0 if speech else quiet + 1
                    if state == "answering" and speech:
                        self.cleared_at_heard_ms = stream.heard_ms
                        stream.clear()
                        state, spoke = "interrupted", True
                    elif spoke and quiet == 15 and state in ("listening", "interrupted"):
                        stream.send_audio(
                            spoken_ulaw(self.LONG if state == "listening" else "Sorry")
                        )
                        stream.flush()
                        state, spoke = ("answering" if state == "listening" else "done"), False
                for message in stream.data_to_send():
                    await socket.send(message)
        except ConnectionClosed:
            pass


@pytest.mark.anyio
async def test_barge_in_the_caller_hears_the_clear_and_what_came_after(
    anyio_backend: str, tmp_path: Path
) -> None:
    bridge = BargeInBridge()
    server = PhoneServer("m", "a", bridge=bridge)
    wav = tmp_path / "heard.wav"
    async with serve_phone(server, "127.0.0.1", 0) as where:
        result = await call(
            f"http://127.0.0.1:{where.port}/twilio/voice",
            question="Hi",
            interrupt_with="Stop",
            interrupt_after_ms=400,
            quiet_ms=300,
            wav=wav,
        )
    assert result.clears == 1 and result.dropped_ms > 0
    assert bridge.cleared_at_heard_ms is not None
    first, sep, after = result.transcript.partition(" Sorry")  # the cut answer, then the next
    assert first and BargeInBridge.LONG.startswith(first) and len(first) < len(BargeInBridge.LONG)
    assert (sep, after) == (" Sorry", "")
    long_answer_ms = len(spoken_ulaw(BargeInBridge.LONG)) // 8
    assert result.heard_ms < long_answer_ms  # the rest was dropped, never heard
    with wave.open(str(wav), "rb") as heard:
        assert (heard.getframerate(), heard.getsampwidth(), heard.getnchannels()) == (8000, 2, 1)
        assert heard.getnframes() == len(result.audio) // 2 > result.heard_ms * 8  # gaps too


@pytest.mark.anyio
async def test_a_server_that_hangs_up_ends_the_call_and_says_so(anyio_backend: str) -> None:
    async def hang_up_bridge(socket: Any, stream: Any, *args: Any, **kw: Any) -> None:
        await socket.receive()
        await socket.aclose(1000, "goodbye")

    server = PhoneServer("m", "a", bridge=hang_up_bridge)
    async with serve_phone(server, "127.0.0.1", 0) as where:
        with anyio.fail_after(10):
            result = await call(f"ws://127.0.0.1:{where.port}/twilio/media", question="Hello")
    assert result.server_hung_up and result.close_code == 1000 and not result.answered


@pytest.mark.anyio
async def test_no_answer_ends_the_call_after_the_answer_timeout(anyio_backend: str) -> None:
    async def silent_bridge(socket: Any, stream: Any, *args: Any, **kw: Any) -> None:
        try:
            while True:
                await socket.receive()
        except ConnectionClosed:
            pass

    server = PhoneServer("m", "a", bridge=silent_bridge)
    async with serve_phone(server, "127.0.0.1", 0) as where:
        with anyio.fail_after(10):
            result = await call(
                f"ws://127.0.0.1:{where.port}/twilio/media", question="Hi", answer_timeout=0.3
            )
    assert not result.answered and not result.server_hung_up and result.transcript == ""
