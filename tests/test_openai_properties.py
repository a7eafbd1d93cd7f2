"""Property tests of OpenAIProtocol: hostile input and generated configs.

Decoding anything raises only ``DecodeError`` and leaves the state alone; any
valid ``RealtimeConfig`` gives a ``session.update`` the official SDK types accept
(with unknown keys rejected, see ``tests/oracles_openai.py``).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import (
    AudioFormat,
    RealtimeConfig,
    ToolDefinition,
    VadConfig,
    VadMode,
)
from adk_realtime.sansio.errors import DecodeError, ProtocolError
from tests.codec_io import decode, encode, started, updated
from tests.oracles_openai import (
    beta_server_event_types,
    ga_server_event_types,
    validate_client,
)
from tests.test_openai_protocol import DIALECTS, MAPPED, audio_delta, proto, snapshot

KNOWN_TYPES = sorted(set(ga_server_event_types()) | set(beta_server_event_types()))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELD_NAMES = [
    "delta",
    "item_id",
    "response_id",
    "call_id",
    "name",
    "arguments",
    "item",
    "response",
    "session",
    "error",
    "rate_limits",
    "transcript",
    "text",
    "content_index",
    "audio_end_ms",
    "audio_start_ms",
    "previous_item_id",
    "usage",
    "id",
    "type",
    "message",
    "code",
    "status",
]
field_values = (
    json_values
    | st.just("AAAA")
    | st.just(float("inf"))
    | st.fixed_dictionaries(
        {"type": st.sampled_from(["function_call", "message"]), "call_id": st.text(max_size=3)}
    )
)
message_dicts = st.builds(
    lambda t, fields: {**fields, "type": t},
    st.sampled_from([*KNOWN_TYPES, "x.unknown"]) | st.text(max_size=10),
    st.dictionaries(st.sampled_from(FIELD_NAMES), field_values, max_size=6),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200))
def test_any_bytes_raise_only_decode_error(data: bytes) -> None:
    p = proto()
    try:
        decode(p, data)
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=message_dicts, dialect=st.sampled_from(DIALECTS))
def test_any_json_object_decodes_or_raises_decode_error_leaving_state_alone(
    message: dict[str, Any], dialect: str
) -> None:
    p = proto(dialect)
    decode(p, audio_delta("item_a", 480))
    before = snapshot(p)
    try:
        events = decode(p, json.dumps(message))
    except ProtocolError as exc:
        assert isinstance(exc, DecodeError)
        assert snapshot(p) == before
    else:
        assert all(type(e) in set(MAPPED.values()) | {ev.Unknown} for e in events)


tool_names = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def configs(draw: st.DrawFn) -> RealtimeConfig:
    fmt = opt(
        st.sampled_from(
            [
                AudioFormat.pcm16(8000),
                AudioFormat.pcm16(16000),
                AudioFormat.pcm16(24000),
                AudioFormat.pcm16(48000),
                AudioFormat.g711_ulaw(),
                AudioFormat.g711_alaw(),
            ]
        )
    )
    names = draw(st.lists(tool_names, max_size=3, unique=True))
    tools = tuple(
        ToolDefinition(
            n,
            draw(st.text(max_size=20)),
            draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
        )
        for n in names
    )
    choice = draw(opt(st.sampled_from(["auto", "none", "required", *names])))
    vad = draw(
        opt(
            st.builds(
                VadConfig,
                mode=st.sampled_from(list(VadMode)),
                threshold=opt(st.floats(0, 1)),
                prefix_padding_ms=opt(st.integers(0, 5000)),
                silence_duration_ms=opt(st.integers(0, 5000)),
                interrupt_response=opt(st.booleans()),
                create_response=opt(st.booleans()),
                eagerness=opt(st.sampled_from(["low", "medium", "high", "auto"])),
                idle_timeout_ms=opt(st.integers(0, 60000)),
            )
        )
    )
    return RealtimeConfig(
        instruction=draw(opt(st.text(max_size=30))),
        voice=draw(opt(st.sampled_from(["alloy", "marin", "cedar", "verse"]))),
        modalities=draw(
            opt(st.sampled_from([("text",), ("audio",), ("text", "audio"), ("audio", "text")]))
        ),
        input_audio_format=draw(fmt),
        output_audio_format=draw(fmt),
        vad=vad,
        tools=tools,
        tool_choice=choice,
        input_transcription=draw(st.booleans()),
        input_transcription_model=draw(opt(st.sampled_from(["whisper-1", "gpt-4o-transcribe"]))),
        temperature=draw(opt(st.floats(0, 2))),
        max_output_tokens=draw(opt(st.integers(1, 4096))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=configs(), second=configs(), dialect=st.sampled_from(DIALECTS))
def test_generated_configs_always_give_sdk_valid_session_updates(
    first: RealtimeConfig, second: RealtimeConfig, dialect: str
) -> None:
    p = proto(dialect)
    for text in [*started(p, first), updated(p, second)]:
        model = validate_client(dialect, text)  # type: ignore[arg-type]
        if dialect == "ga":
            assert len(model.session.output_modalities) == 1


@settings(max_examples=100, deadline=None)
@given(
    chunks=st.lists(st.integers(0, 4000), min_size=1, max_size=12),
    g711=st.booleans(),
    asked=st.integers(0, 100_000),
)
def test_received_ms_is_the_sum_of_deltas_and_bounds_truncation(
    chunks: list[int], g711: bool, asked: int
) -> None:
    fmt = AudioFormat.g711_alaw() if g711 else AudioFormat.pcm16()
    p = proto("ga")
    started(p, RealtimeConfig(output_audio_format=fmt))
    for n in chunks:
        decode(p, audio_delta("item_a", n))
    received = sum(chunks) // (8 if g711 else 48)
    assert p.audio_ms_received("item_a") == received
    (text,) = encode(p, ev.ItemTruncate("item_a", asked))
    assert json.loads(text)["audio_end_ms"] == min(asked, received)
