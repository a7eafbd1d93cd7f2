"""Property tests of GeminiProtocol: hostile input and generated configs.

Decoding any bytes or any JSON raises only ``DecodeError`` and leaves the state
alone; any valid ``RealtimeConfig`` gives a ``setup`` (and audio messages) the
official ``google.genai.types`` accept (see ``tests/oracles_gemini.py``).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig, ToolDefinition, VadConfig, VadMode
from adk_realtime.sansio.errors import DecodeError
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from tests.codec_io import decode, encode
from tests.oracles_gemini import validate_client
from tests.test_gemini_protocol import (
    MODEL,
    STRICT_TOOL,
    WEATHER,
    connected,
    setup_message,
    setup_of,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_any_bytes_raise_only_decode_error(data: bytes) -> None:
    proto = GeminiProtocol(MODEL)
    try:
        decode(proto, data)
    except DecodeError:
        pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "setupComplete", "serverContent", "toolCall", "toolCallCancellation", "goAway",
        "sessionResumptionUpdate", "usageMetadata", "voiceActivity", "server_content",
        "modelTurn", "parts", "inlineData", "data", "text", "thought", "turnComplete",
        "interrupted", "functionCalls", "id", "name", "args", "ids", "timeLeft", "newHandle",
        "resumable", "promptTokenCount", "inputTranscription", "outputTranscription",
        "generationComplete", "seconds", "nanos", "voiceActivityType", "audioOffset",
        "finished",
    ]
)  # fmt: skip
SHAPED = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from([10**400, 1e306, float("nan")])  # overflow, non-finite
    | st.sampled_from(["", "AAEC", "-_8=", "1.5s", "ACTIVITY_START", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def _no_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, SHAPED, max_size=3) | JSON)
def test_any_json_raises_only_decode_error_and_keeps_state_on_error(value: Any) -> None:
    proto = connected()
    before = (proto.current_item_id, proto.pending_tool_calls, proto.resumption_handle)
    try:
        events = decode(proto, json.dumps(value))
    except DecodeError:
        assert (proto.current_item_id, proto.pending_tool_calls, proto.resumption_handle) == before
    else:
        for event in events:
            if isinstance(event, ev.FunctionCallDone):
                # Strict JSON: no NaN/Infinity, which json.loads would accept.
                assert isinstance(json.loads(event.arguments, parse_constant=_no_constant), dict)


TOOL_NAMES = st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=12).filter(
    lambda n: n not in ("get_weather", "lookup")
)
CONFIGS = st.builds(
    RealtimeConfig,
    instruction=st.none() | st.text(max_size=30),
    voice=st.none() | st.sampled_from(["Puck", "Kore", "Aoede"]),
    modalities=st.none() | st.sampled_from([("audio",), ("text",), ("audio", "text")]),
    vad=st.none()
    | st.builds(
        VadConfig,
        mode=st.sampled_from(list(VadMode)),
        threshold=st.none() | st.floats(0.0, 1.0),
        prefix_padding_ms=st.none() | st.integers(0, 2000),
        silence_duration_ms=st.none() | st.integers(0, 5000),
        interrupt_response=st.none() | st.booleans(),
        eagerness=st.none() | st.sampled_from(["low", "medium", "high", "auto"]),
    ),
    tools=st.lists(TOOL_NAMES, max_size=3, unique=True).map(
        lambda names: (
            tuple(ToolDefinition(n, "d") for n in names) + (WEATHER, STRICT_TOOL)[: len(names) % 3]
        )
    ),
    input_transcription=st.booleans(),
    output_transcription=st.booleans(),
    temperature=st.none() | st.floats(0.0, 2.0),
    max_output_tokens=st.none() | st.integers(1, 8192),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIGS, st.none() | st.text(min_size=1, max_size=20), st.booleans())
def test_generated_configs_give_sdk_valid_setups(
    config: RealtimeConfig, handle: str | None, vertex: bool
) -> None:
    kwargs = {"vertex_project": "p", "vertex_location": "l"} if vertex else {}
    proto = GeminiProtocol(MODEL, **kwargs)
    setup = setup_of(setup_message(proto, config, handle))
    assert setup["model"].endswith("/" + MODEL)
    for message in encode(proto, ev.AudioAppend(b"\x00\x00")) + encode(proto, ev.AudioCommit()):
        validate_client(message)


# proto3 JSON spellings of bools and integers, valid and not, as a peer might write them.
BOOL_SPELLINGS = st.sampled_from(
    [True, False, None, 0, 1, 0.0, 1.0, 2, -1, 0.5, "true", "False", "TRUE", "yes", "No",
     "on", "OFF", "t", "f", "y", "n", "1", "0", " true", "true ", "maybe", "", "1.0", [], {}]
)  # fmt: skip
INT_SPELLINGS = st.sampled_from(
    [5, 0, -3, 2**70, None, True, False, 12.0, -7.0, 9.2e18, 1e19, 12.5, "12", "-3", " 12 ",
     "\t7\n", "+7", "1_000", "12.0", "-12.00", "0012", "12.", ".5", "1e3", "0x10", "1__0", "",
     " ", "NaN", "\u0663", "99999999999999999999999"]
)  # fmt: skip


def _genai_reads(message: dict[str, Any]) -> Any:
    """The message as google.genai.types reads it, or None when it refuses it."""
    import warnings

    from google.genai import types

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return types.LiveServerMessage.model_validate(message)
        except Exception:
            return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flags=st.lists(BOOL_SPELLINGS, min_size=6, max_size=6),
    counts=st.lists(INT_SPELLINGS, min_size=3, max_size=3),
    snake=st.booleans(),
)
def test_proto3_spellings_are_read_as_the_genai_types_read_them(
    flags: list[Any], counts: list[Any], snake: bool
) -> None:
    """Whatever ``LiveServerMessage.model_validate`` accepts we decode, to the same values;
    whatever it refuses we refuse (for the bools and counts we read)."""
    from adk_realtime.sansio.errors import DecodeError
    from adk_realtime.sansio.gemini import wire

    turn, interrupted, generated, finished, thought, resumable = flags
    prompt, response, total = counts
    message = {
        "serverContent": {
            "modelTurn": {"parts": [{"text": "hi", "thought": thought}]},
            "inputTranscription": {"text": "yo", "finished": finished},
            "interrupted": interrupted,
            "generationComplete": generated,
            "turnComplete": turn,
        },
        "usageMetadata": {
            "promptTokenCount": prompt,
            "responseTokenCount": response,
            "totalTokenCount": total,
        },
        "sessionResumptionUpdate": {"newHandle": "h-1", "resumable": resumable},
    }
    if snake:  # proto3 readers take the original field names too
        message["server_content"] = message.pop("serverContent")
    expected = _genai_reads(message)
    text = json.dumps(message)
    try:
        ops = wire.parse_message(json.loads(text))
    except DecodeError:
        assert expected is None, f"genai reads {message}, we refused it"
        return
    assert expected is not None, f"we read {message}, genai refuses it"
    content, usage = expected.server_content, expected.usage_metadata
    resumption = expected.session_resumption_update
    assert (wire.TurnEnded() in ops) == bool(content.turn_complete)
    assert (wire.ModelInterrupted() in ops) == bool(content.interrupted)
    assert (ev.GenerationComplete() in ops) == bool(content.generation_complete)
    assert wire.InputTranscription("yo", bool(content.input_transcription.finished)) in ops
    assert (wire.ModelText("hi") in ops) == (not content.model_turn.parts[0].thought)
    assert wire.ResumptionUpdate("h-1", bool(resumption.resumable)) in ops
    p, r = usage.prompt_token_count or 0, usage.response_token_count or 0
    assert wire.UsageReport(ev.Usage(p, r, usage.total_token_count or p + r)) in ops
    # And the protocol takes it whole: a resumable update keeps the handle.
    proto = connected()
    decode(proto, text)
    assert proto.resumable == bool(resumption.resumable)
    assert proto.resumption_handle == ("h-1" if resumption.resumable else None)


def test_a_resumption_update_whose_resumable_is_a_string_keeps_the_handle() -> None:
    proto = connected()
    message = '{"sessionResumptionUpdate": {"newHandle": "h-9", "resumable": "true"}}'
    assert decode(proto, message) == [ev.SessionResumptionUpdate("h-9", True)]
    assert (proto.resumption_handle, proto.resumable) == ("h-9", True)
    assert _genai_reads(json.loads(message)).session_resumption_update.resumable is True
