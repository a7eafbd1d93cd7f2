"""GeminiProtocol: tool calls and their cancellation, goAway, voice activity, and what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import types

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import (
    AudioFormat,
    RealtimeConfig,
)
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from tests.codec_io import decode, encode, one, queued, started
from tests.oracles_gemini import validate_client, validate_server
from tests.test_gemini_protocol import CASES, MODEL, connected, server


@pytest.mark.parametrize("case", CASES)
def test_tool_call_is_function_call_done_and_pending(case: str) -> None:
    proto = connected()
    calls = [
        types.FunctionCall(id="c1", name="get_weather", args={"city": "Paris"}),
        types.FunctionCall(id="c2", name="get_time"),
    ]
    message = server(case, tool_call=types.LiveServerToolCall(function_calls=calls))
    validate_server(message)
    events = decode(proto, message)
    assert events[1:] == [
        ev.FunctionCallDone("c1", "get_weather", '{"city": "Paris"}', "turn-1", "turn-1"),
        ev.FunctionCallDone("c2", "get_time", "{}", "turn-1", "turn-1"),
    ]
    assert proto.pending_tool_calls == {"c1": "get_weather", "c2": "get_time"}


@pytest.mark.parametrize("case", CASES)
def test_tool_call_without_an_id_gets_one_and_is_answered_without_it(case: str) -> None:
    # The SDK's FunctionCall.id is optional; older Vertex models leave it out
    # and refuse an id in the answer.
    proto = connected()
    calls = [types.FunctionCall(name="get_time"), types.FunctionCall(id="c2", name="f")]
    message = server(case, tool_call=types.LiveServerToolCall(function_calls=calls))
    validate_server(message)
    events = decode(proto, message)
    assert events[1:] == [
        ev.FunctionCallDone("turn-1-call-1", "get_time", "{}", "turn-1", "turn-1"),
        ev.FunctionCallDone("c2", "f", "{}", "turn-1", "turn-1"),
    ]
    answer = one(
        queued(
            proto,
            proto.send_tool_responses,
            [ev.ToolResponse("turn-1-call-1", "12:00"), ev.ToolResponse("c2", "ok")],
        )
    )
    validate_client(answer)
    assert json.loads(answer)["toolResponse"]["functionResponses"] == [
        {"name": "get_time", "response": {"result": "12:00"}},
        {"id": "c2", "name": "f", "response": {"result": "ok"}},
    ]
    assert proto.pending_tool_calls == {}


@pytest.mark.parametrize("case", CASES)
def test_tool_call_cancellation_drops_pending_and_refuses_late_results(case: str) -> None:
    proto = connected()
    calls = [types.FunctionCall(id="c1", name="f"), types.FunctionCall(id="c2", name="g")]
    decode(proto, server(case, tool_call=types.LiveServerToolCall(function_calls=calls)))
    message = server(case, tool_call_cancellation=types.LiveServerToolCallCancellation(ids=["c1"]))
    validate_server(message)
    assert decode(proto, message) == [ev.ToolCallCancelled(("c1",))]
    assert proto.pending_tool_calls == {"c2": "g"}
    with pytest.raises(LocalProtocolError, match="cancelled"):
        encode(proto, ev.ItemCreate(tool_response=ev.ToolResponse("c1", "late", name="f")))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("time_left", "seconds"), [("12.5s", 12.5), ("0s", 0.0), ("1.000000001s", 1.000000001)]
)
def test_go_away_gives_seconds_left(case: str, time_left: str, seconds: float) -> None:
    message = server(case, go_away=types.LiveServerGoAway(time_left=time_left))
    validate_server(message)
    assert decode(connected(), message) == [ev.GoAway(seconds)]


@pytest.mark.parametrize(
    "time_left", [{"seconds": "3", "nanos": 500000000}, {"seconds": 3, "nanos": 500000000}, 3.5]
)
def test_go_away_accepts_duration_objects_and_numbers(time_left: Any) -> None:
    message = json.dumps({"goAway": {"timeLeft": time_left}})
    assert decode(connected(), message) == [ev.GoAway(3.5)]


@pytest.mark.parametrize("case", CASES)
def test_voice_activity_signals_are_speech_started_and_stopped(case: str) -> None:
    proto = connected()
    start = server(
        case,
        voice_activity=types.VoiceActivity(
            voice_activity_type=types.VoiceActivityType.ACTIVITY_START, audio_offset="1.5s"
        ),
    )
    validate_server(start)
    assert decode(proto, start) == [ev.SpeechStarted(audio_start_ms=1500)]
    end = server(
        case,
        voice_activity_detection_signal=types.VoiceActivityDetectionSignal(
            vad_signal_type=types.VadSignalType.VAD_SIGNAL_TYPE_EOS
        ),
    )
    validate_server(end)
    assert decode(proto, end) == [ev.SpeechStopped(audio_end_ms=0)]


def test_unknown_top_level_keys_are_unknown_events() -> None:
    raw = {"somethingNew": {"x": 1}}
    assert decode(connected(), json.dumps(raw)) == [ev.Unknown("somethingNew", raw)]


@pytest.mark.parametrize("field", ["input_audio_format", "output_audio_format"])
def test_g711_is_refused_rather_than_silently_sent_as_pcm(field: str) -> None:

    config = RealtimeConfig(**{field: AudioFormat.g711_ulaw()})
    with pytest.raises(ConfigError) as info:
        started(GeminiProtocol(MODEL), config)
    assert info.value.field == field
    # PCM16 at any rate is fine: the session resamples to what Gemini wants.
    started(GeminiProtocol(MODEL), RealtimeConfig(**{field: AudioFormat.pcm16(24000)}))
