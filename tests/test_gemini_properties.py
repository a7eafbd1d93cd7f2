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
