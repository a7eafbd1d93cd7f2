"""OpenAIProtocol against the official ``openai`` SDK types (GA and beta dialects).

Every message we emit must validate strictly against the SDK's client-event
union; every server event type the SDK declares, built by the SDK's own model
classes, must decode to the right unified event.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
from typing import Any

import pytest

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import (
    AudioFormat,
    RealtimeConfig,
    ToolDefinition,
    VadConfig,
    VadMode,
)
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.openai import wire
from adk_realtime.sansio.openai.protocol import (
    MAX_PENDING_CALLS,
    MAX_TRACKED_ITEMS,
    OpenAIProtocol,
    dialect_for_model,
)
from tests.codec_io import audio, decode, encode, queued, started, updated
from tests.oracles_openai import (
    OracleError,
    beta_client_event_types,
    beta_server_event_types,
    example_server_event,
    ga_client_event_types,
    ga_server_event_types,
    validate_beta_client,
    validate_client,
    validate_ga_client,
)

DIALECTS = ("ga", "beta")
B64 = base64.b64encode


def proto(dialect: str = "ga") -> OpenAIProtocol:
    return OpenAIProtocol(dialect=dialect)  # type: ignore[arg-type]


def one(events: list[ev.ServerEvent]) -> Any:
    assert len(events) == 1, events
    return events[0]


def msg(event_type: str, **fields: Any) -> str:
    return json.dumps({"type": event_type, **fields})


# --------------------------------------------------------------------------
# Dialect
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "dialect"),
    [
        ("gpt-realtime", "ga"),
        ("gpt-realtime-2025-08-28", "ga"),
        ("gpt-realtime-mini", "ga"),
        ("gpt-4o-realtime-preview", "beta"),
        ("gpt-4o-realtime-preview-2024-12-17", "beta"),
        ("gpt-4o-mini-realtime-preview-2024-12-17", "beta"),
    ],
)
def test_dialect_follows_the_model_name(model: str, dialect: str) -> None:
    assert dialect_for_model(model) == dialect
    assert OpenAIProtocol(model).dialect == dialect


def test_explicit_dialect_overrides_the_model_name() -> None:
    assert OpenAIProtocol("gpt-4o-realtime-preview", dialect="ga").dialect == "ga"
    with pytest.raises(ConfigError, match="dialect"):
        OpenAIProtocol("gpt-realtime", dialect="v2")  # type: ignore[arg-type]


def test_beta_handshake_carries_the_beta_header_and_the_model_in_the_path() -> None:
    beta = OpenAIProtocol("gpt-4o-realtime-preview")
    assert beta.handshake_headers() == [("OpenAI-Beta", "realtime=v1")]
    assert OpenAIProtocol("gpt-realtime").handshake_headers() == []
    assert OpenAIProtocol("gpt-realtime").url_path == "/v1/realtime?model=gpt-realtime"


def test_endpoint_urls_are_built_by_the_protocol() -> None:
    p = OpenAIProtocol("gpt-realtime")
    assert p.endpoint_url() == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert (
        p.endpoint_url("ws://127.0.0.1:9/v1/") == "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime"
    )
    assert wire.azure_endpoint_url("x.openai.azure.com", "my dep", "2024-10-01-preview") == (
        "wss://x.openai.azure.com/openai/realtime?api-version=2024-10-01-preview"
        "&deployment=my%20dep"
    )


def test_capabilities_follow_the_transport() -> None:
    ws = OpenAIProtocol("gpt-realtime").capabilities
    rtc = OpenAIProtocol("gpt-realtime", transport="webrtc").capabilities
    assert not ws.output_audio_clear and rtc.output_audio_clear
    assert dataclasses.replace(rtc, output_audio_clear=False) == ws
    assert ws.live_session_update and ws.truncation and ws.response_after_tool_outputs
    assert ws.reconfigure_before_tool_output and ws.voice_locked_after_audio
    assert not (ws.resumption or ws.setup_acknowledgement or ws.server_handles_barge_in)
    assert not (ws.explicit_activity or ws.tool_call_cancellation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ws.truncation = False  # type: ignore[misc]
    with pytest.raises(ConfigError, match="transport") as info:
        OpenAIProtocol("gpt-realtime", transport="sip")  # type: ignore[arg-type]
    assert info.value.field == "transport" and "'sip'" in str(info.value)
    p = OpenAIProtocol()
    assert (p.resumption_handle, p.resumable) == (None, False)


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
def test_interrupt_cancels_and_clears_the_output_buffer_only_over_webrtc(transport: str) -> None:
    p = OpenAIProtocol("gpt-realtime", transport=transport)  # type: ignore[arg-type]
    sent = queued(p, p.interrupt)
    for text in sent:
        validate_ga_client(text)
    expected = ["response.cancel"] + (
        ["output_audio_buffer.clear"] if transport == "webrtc" else []
    )
    assert [json.loads(m)["type"] for m in sent] == expected


def test_a_cancel_with_nothing_to_cancel_is_a_benign_error() -> None:
    race = msg(
        "error",
        error={
            "type": "invalid_request_error",
            "code": "response_cancel_not_active",
            "message": "no",
        },
    )
    assert one(decode(proto(), race)).benign
    other = msg("error", error={"type": "invalid_request_error", "code": "bad_x", "message": "m"})
    assert not one(decode(proto(), other)).benign


# --------------------------------------------------------------------------
# session.update over a matrix of configs
# --------------------------------------------------------------------------

FORMATS = {
    "default": None,
    "pcm24k": AudioFormat.pcm16(24000),
    "pcm16k": AudioFormat.pcm16(16000),
    "pcmu": AudioFormat.g711_ulaw(),
    "pcma": AudioFormat.g711_alaw(),
}
VADS = [
    None,
    VadConfig.disabled(),
    VadConfig(
        VadMode.SERVER,
        threshold=0.6,
        prefix_padding_ms=200,
        silence_duration_ms=400,
        interrupt_response=True,
        create_response=False,
        eagerness="high",  # not a server_vad key: must be left out
        idle_timeout_ms=6000,
    ),
    VadConfig(VadMode.SEMANTIC, eagerness="low", threshold=0.2, create_response=True),
]
MODALITIES = [None, ("text",), ("audio",), ("text", "audio")]
TOOLS = [
    ((), None),
    (
        (
            ToolDefinition(
                "get_weather",
                "Weather for a city",
                {"type": "object", "properties": {"city": {"type": "string"}}},
            ),
            ToolDefinition("hang_up"),
        ),
        "get_weather",
    ),
    ((ToolDefinition("lookup"),), "required"),
]
TRANSCRIPTION = [(False, None), (True, None), (True, "whisper-1")]


def matrix(fmt: AudioFormat | None) -> list[RealtimeConfig]:
    out = []
    for vad, mods, (tools, choice), (tr, tr_model) in itertools.product(
        VADS, MODALITIES, TOOLS, TRANSCRIPTION
    ):
        out.append(
            RealtimeConfig(
                instruction="Be brief.",
                voice="verse",
                modalities=mods,
                input_audio_format=fmt,
                output_audio_format=fmt,
                vad=vad,
                tools=tools,
                tool_choice=choice,
                input_transcription=tr,
                input_transcription_model=tr_model,
                temperature=0.7,
                max_output_tokens=512,
            )
        )
    return out


@pytest.mark.parametrize("fmt_name", list(FORMATS))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_session_update_in_the_matrix_is_sdk_valid(dialect: str, fmt_name: str) -> None:
    for config in matrix(FORMATS[fmt_name]):
        p = proto(dialect)
        (text,) = started(p, config)
        validate_client(dialect, text)  # type: ignore[arg-type]
        session = json.loads(text)["session"]
        if dialect == "ga":
            assert session["type"] == "realtime"
            assert session["output_modalities"] == (["audio"] if config.wants_audio else ["text"])
            assert "temperature" not in session
        else:
            assert session["modalities"] == (["text", "audio"] if config.wants_audio else ["text"])
            assert session["temperature"] == 0.7


@pytest.mark.parametrize(
    ("fmt", "ga", "beta", "bytes_per_ms"),
    [
        (AudioFormat.pcm16(24000), {"type": "audio/pcm", "rate": 24000}, "pcm16", 48),
        (AudioFormat.pcm16(16000), {"type": "audio/pcm", "rate": 24000}, "pcm16", 48),
        (AudioFormat.g711_ulaw(), {"type": "audio/pcmu"}, "g711_ulaw", 8),
        (AudioFormat.g711_alaw(), {"type": "audio/pcma"}, "g711_alaw", 8),
    ],
)
def test_audio_formats_map_to_each_dialect(
    fmt: AudioFormat, ga: dict[str, Any], beta: str, bytes_per_ms: int
) -> None:
    config = RealtimeConfig(input_audio_format=fmt, output_audio_format=fmt)
    g = proto("ga")
    session = json.loads(updated(g, config))["session"]
    assert session["audio"]["input"]["format"] == ga
    assert session["audio"]["output"]["format"] == ga
    b = proto("beta")
    session = json.loads(updated(b, config))["session"]
    assert session["input_audio_format"] == beta == session["output_audio_format"]
    # The wire format the session must resample to: PCM16 always at 24 kHz.
    assert g.input_audio_format.sample_rate == (24000 if beta == "pcm16" else 8000)
    assert g.output_audio_format.bytes_per_sample * g.output_audio_format.sample_rate == (
        bytes_per_ms * 1000
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_vad_none_sends_null_turn_detection(dialect: str) -> None:
    session = json.loads(updated(proto(dialect), RealtimeConfig(vad=VadConfig.disabled())))
    td = (
        session["session"]["audio"]["input"]["turn_detection"]
        if dialect == "ga"
        else session["session"]["turn_detection"]
    )
    assert td is None


def test_ga_vad_keys_follow_the_vad_type() -> None:
    server, semantic = VADS[2], VADS[3]
    s = json.loads(updated(proto("ga"), RealtimeConfig(vad=server)))
    td = s["session"]["audio"]["input"]["turn_detection"]
    assert td == {
        "type": "server_vad",
        "threshold": 0.6,
        "prefix_padding_ms": 200,
        "silence_duration_ms": 400,
        "create_response": False,
        "interrupt_response": True,
        "idle_timeout_ms": 6000,
    }
    s = json.loads(updated(proto("beta"), RealtimeConfig(vad=semantic)))
    assert s["session"]["turn_detection"] == {
        "type": "semantic_vad",
        "create_response": True,
        "eagerness": "low",
    }


def test_tool_choice_by_name_is_an_object_in_ga_and_a_string_in_beta() -> None:
    tools, choice = TOOLS[1]
    config = RealtimeConfig(tools=tools, tool_choice=choice)
    ga = json.loads(updated(proto("ga"), config))["session"]
    assert ga["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert [t["name"] for t in ga["tools"]] == ["get_weather", "hang_up"]
    beta = json.loads(updated(proto("beta"), config))["session"]
    assert beta["tool_choice"] == "get_weather"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_later_update_turns_tools_and_transcription_off_explicitly(dialect: str) -> None:
    p = proto(dialect)
    started(p, RealtimeConfig(tools=(ToolDefinition("a"),), input_transcription=True))
    text = updated(p, RealtimeConfig())
    validate_client(dialect, text)  # type: ignore[arg-type]
    session = json.loads(text)["session"]
    assert session["tools"] == []
    if dialect == "ga":
        assert session["audio"]["input"]["transcription"] is None
    else:
        assert session["input_audio_transcription"] is None
    # Nothing was on before a fresh connection: nothing to clear.
    fresh = json.loads(started(p, RealtimeConfig())[0])["session"]
    assert "tools" not in fresh


def test_extra_is_deep_merged_into_the_session() -> None:
    config = RealtimeConfig(
        input_audio_format=AudioFormat.g711_ulaw(),
        extra={"audio": {"input": {"noise_reduction": {"type": "near_field"}}}},
    )
    text = updated(proto("ga"), config)
    validate_ga_client(text)
    audio_in = json.loads(text)["session"]["audio"]["input"]
    assert audio_in == {"format": {"type": "audio/pcmu"}, "noise_reduction": {"type": "near_field"}}


def test_the_strict_oracle_rejects_what_ga_does_not_declare() -> None:
    # Guards the oracle itself: the SDK models allow extras, ours must not.
    with pytest.raises(OracleError, match="temperature"):
        validate_ga_client(
            {"type": "session.update", "session": {"type": "realtime", "temperature": 1}}
        )
    with pytest.raises(OracleError):
        validate_ga_client({"type": "input_audio_buffer.append", "audio": 3})


# --------------------------------------------------------------------------
# Every client event
# --------------------------------------------------------------------------


def all_client_messages(p: OpenAIProtocol) -> list[str]:
    out: list[str] = []
    out += started(p, RealtimeConfig(instruction="hi"))
    commands: list[ev.ClientEvent]
    decode(
        p,
        msg(
            "response.output_audio.delta",
            item_id="item_1",
            response_id="r",
            delta=B64(b"\0" * 480).decode(),
        ),
    )
    commands = [
        ev.SessionUpdate(RealtimeConfig(voice="alloy", vad=VadConfig.server())),
        ev.AudioAppend(b"\x01\x02" * 240),
        ev.AudioCommit(),
        ev.AudioClear(),
        ev.ItemCreate(text="hello"),
        ev.ItemCreate(text="be terse", role="system"),
        ev.ItemCreate(text="earlier answer", role="assistant"),
        ev.ItemCreate(tool_response=ev.ToolResponse("call_1", '{"ok":true}')),
        ev.ResponseCreate(),
        ev.ResponseCreate(instructions="Say bye."),
        ev.ResponseCancel(),
        ev.ResponseCancel(response_id="resp_1"),
        ev.ItemTruncate("item_1", 5000),
    ]
    for event in commands:
        out += encode(p, event)
    out += encode(p, ev.ItemCreate(tool_response=ev.ToolResponse("call_2", "42")))
    out += [one(queued(p, p.clear_output_audio)), one(queued(p, p.delete_item, "item_1"))]
    out += [one(queued(p, p.retrieve_item, "item_1")), one(audio(p, memoryview(b"\0\1")))]
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_client_event_we_emit_is_sdk_valid(dialect: str) -> None:
    emitted = set()
    for text in all_client_messages(proto(dialect)):
        model = validate_client(dialect, text)  # type: ignore[arg-type]
        emitted.add(model.type)
    if dialect == "ga":
        # All 11 GA client event types have an encoder.
        assert emitted == set(ga_client_event_types())
    else:
        # transcription_session.update is for transcription-only sessions,
        # which this library does not open.
        assert emitted == set(beta_client_event_types()) - {"transcription_session.update"}


def test_user_and_assistant_text_content_types_per_dialect() -> None:
    ga, beta = proto("ga"), proto("beta")
    user = json.loads(encode(ga, ev.ItemCreate(text="hi"))[0])["item"]
    assert user == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}],
    }
    asst = json.loads(encode(ga, ev.ItemCreate(text="x", role="assistant"))[0])["item"]
    assert asst["content"][0]["type"] == "output_text"
    asst = json.loads(encode(beta, ev.ItemCreate(text="x", role="assistant"))[0])["item"]
    assert asst["content"][0]["type"] == "text"


def test_encode_audio_is_the_append_event_with_base64() -> None:
    p = proto()
    pcm = bytes(range(256)) * 4
    text = one(audio(p, pcm))
    assert json.loads(text) == {"type": "input_audio_buffer.append", "audio": B64(pcm).decode()}
    assert encode(p, ev.AudioAppend(pcm)) == [text]
    validate_ga_client(text)


@pytest.mark.parametrize(
    "bad",
    [
        ev.ItemCreate(),
        ev.ItemCreate(text="a", tool_response=ev.ToolResponse("c", "o")),
        ev.ItemCreate(text="a", role="tool"),  # type: ignore[arg-type]
        ev.ItemTruncate("item", -1),
        ev.ItemTruncate("", 10),
        ev.ItemTruncate("item", 10, content_index=-1),
        ev.SessionUpdate(config={"instructions": "x"}),
    ],
)
def test_commands_that_cannot_be_encoded_raise_local_protocol_error(bad: Any) -> None:
    with pytest.raises(LocalProtocolError):
        encode(proto(), bad)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (ev.ItemCreate(text="hi \udc00"), "ItemCreate.text"),
        (ev.ItemCreate(text="\ud83d", role="assistant"), "ItemCreate.text"),
        (
            ev.ItemCreate(tool_response=ev.ToolResponse("c", '{"x": "\ud800"}')),
            "ToolResponse.output",
        ),
        (ev.ResponseCreate(instructions="be \ud800 brief"), "ResponseCreate.instructions"),
    ],
)
def test_text_with_a_lone_surrogate_is_refused_before_anything_is_queued(
    command: ev.ClientEvent, field: str
) -> None:
    p = proto()
    decode(p, msg("response.function_call_arguments.done", call_id="c", name="f", arguments="{}"))
    with pytest.raises(LocalProtocolError, match=f"{field} is not valid Unicode"):
        encode(p, command)
    assert p.data_to_send() == [] and "c" in p.pending_calls


def test_unserialisable_extra_is_a_config_error_and_changes_nothing() -> None:
    p = proto()
    started(p, RealtimeConfig(tools=(ToolDefinition("a"),)))
    bad = RealtimeConfig(output_audio_format=AudioFormat.g711_ulaw(), extra={"x": object()})
    with pytest.raises(ConfigError, match="JSON"):
        updated(p, bad)
    with pytest.raises(ConfigError, match="JSON"):
        started(p, bad)
    assert p.output_audio_format == AudioFormat.pcm16()
    # Tools are still known to be on: the next update clears them.
    assert json.loads(updated(p, RealtimeConfig()))["session"]["tools"] == []


def test_unknown_command_type_raises_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="Interrupted"):
        encode(proto(), ev.Interrupted())  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Every server event type, built by the SDK, decodes
# --------------------------------------------------------------------------

MAPPED: dict[str, type] = {
    "session.created": ev.SessionCreated,
    "session.updated": ev.SessionUpdated,
    "response.created": ev.ResponseCreated,
    "response.done": ev.ResponseDone,
    "response.output_audio.delta": ev.AudioDelta,
    "response.audio.delta": ev.AudioDelta,
    "response.output_audio.done": ev.AudioDone,
    "response.audio.done": ev.AudioDone,
    "response.output_text.delta": ev.TextDelta,
    "response.text.delta": ev.TextDelta,
    "response.output_text.done": ev.TextDone,
    "response.text.done": ev.TextDone,
    "response.output_audio_transcript.delta": ev.TranscriptDelta,
    "response.audio_transcript.delta": ev.TranscriptDelta,
    "response.output_audio_transcript.done": ev.TranscriptDone,
    "response.audio_transcript.done": ev.TranscriptDone,
    "conversation.item.input_audio_transcription.delta": ev.InputTranscriptDelta,
    "conversation.item.input_audio_transcription.completed": ev.InputTranscriptDone,
    "response.function_call_arguments.delta": ev.FunctionCallDelta,
    "response.function_call_arguments.done": ev.FunctionCallDone,
    "input_audio_buffer.speech_started": ev.SpeechStarted,
    "input_audio_buffer.speech_stopped": ev.SpeechStopped,
    "input_audio_buffer.committed": ev.AudioCommitted,
    "input_audio_buffer.cleared": ev.AudioCleared,
    "output_audio_buffer.cleared": ev.OutputAudioCleared,
    "conversation.item.added": ev.ItemCreated,
    "conversation.item.created": ev.ItemCreated,
    "conversation.item.done": ev.ItemCreated,
    "conversation.item.truncated": ev.ItemTruncated,
    "conversation.item.deleted": ev.ItemDeleted,
    "rate_limits.updated": ev.RateLimitsUpdated,
    "error": ev.Error,
}
# Decoded on purpose as Unknown: no unified event models them (yet). Listing
# them makes a new SDK type fail the test below until someone decides.
UNMODELLED = {
    "conversation.created",
    "conversation.item.retrieved",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.input_audio_transcription.segment",
    "input_audio_buffer.dtmf_event_received",
    "input_audio_buffer.timeout_triggered",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_item.added",  # updates state (pending call name, current item)
    "response.output_item.done",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "mcp_list_tools.in_progress",
    "mcp_list_tools.completed",
    "mcp_list_tools.failed",
    "response.mcp_call_arguments.delta",
    "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress",
    "response.mcp_call.completed",
    "response.mcp_call.failed",
    "transcription_session.updated",
}

AUDIO = b"\x10\x00\x20\x00" * 120  # 480 bytes: 10 ms of PCM16 at 24 kHz
OVERRIDES: dict[str, dict[str, Any]] = {
    "response.output_audio.delta": {"delta": B64(AUDIO).decode(), "item_id": "item_9"},
    "response.audio.delta": {"delta": B64(AUDIO).decode(), "item_id": "item_9"},
    "error": {
        "error": {
            "type": "invalid_request_error",
            "code": "bad_x",
            "message": "oops",
            "event_id": "c1",
        }
    },
    "response.done": {
        "response": {
            "id": "resp_7",
            "status": "cancelled",
            "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        }
    },
    "response.created": {"response": {"id": "resp_7", "status": "in_progress"}},
    "session.created": {"session": {"instructions": "hi"}},
    "conversation.item.input_audio_transcription.delta": {"delta": "hel"},
    "rate_limits.updated": {"rate_limits": [{"name": "tokens", "limit": 10, "remaining": 9}]},
}


def check_fields(event: Any, wire: dict[str, Any]) -> None:
    """Fields named alike on the wire and in the unified event carry the same value."""
    for f in dataclasses.fields(event):
        if f.name in wire and isinstance(wire[f.name], str | int) and f.name != "delta":
            assert getattr(event, f.name) == wire[f.name], f.name
        if f.name == "delta" and isinstance(event, ev.AudioDelta):
            assert event.delta == base64.b64decode(wire["delta"])
        elif f.name == "delta":
            assert event.delta == wire.get("delta", "")


def decode_sdk_example(dialect: str, event_type: str) -> tuple[Any, dict[str, Any]]:
    text = example_server_event(dialect, event_type, **OVERRIDES.get(event_type, {}))  # type: ignore[arg-type]
    events = decode(proto(dialect), text)
    return one(events), json.loads(text)


@pytest.mark.parametrize("event_type", ga_server_event_types())
def test_every_ga_server_event_type_decodes(event_type: str) -> None:
    assert event_type in MAPPED or event_type in UNMODELLED, f"new SDK type {event_type}"
    event, wire = decode_sdk_example("ga", event_type)
    if event_type in MAPPED:
        assert type(event) is MAPPED[event_type]
        check_fields(event, wire)
    else:
        assert event == ev.Unknown(event_type, wire)


@pytest.mark.parametrize("event_type", beta_server_event_types())
def test_every_beta_server_event_type_decodes(event_type: str) -> None:
    assert event_type in MAPPED or event_type in UNMODELLED, f"new SDK type {event_type}"
    event, wire = decode_sdk_example("beta", event_type)
    if event_type in MAPPED:
        assert type(event) is MAPPED[event_type]
        check_fields(event, wire)
    else:
        assert event == ev.Unknown(event_type, wire)


def test_sdk_type_counts_match_the_field_notes() -> None:
    assert len(ga_server_event_types()) == 46
    assert len(ga_client_event_types()) == 11


def test_the_decode_tables_list_exactly_the_sdk_server_types() -> None:
    # Every SDK server type is either mapped or explicitly unmodelled, and no
    # entry names a type the SDK no longer has (a stale list hides a rename).
    sdk = set(ga_server_event_types()) | set(beta_server_event_types())
    assert set(MAPPED) | UNMODELLED == sdk
    assert not set(MAPPED) & UNMODELLED


# --------------------------------------------------------------------------
# Conversation state
# --------------------------------------------------------------------------


def audio_delta(item_id: str, n_bytes: int, etype: str = "response.output_audio.delta") -> str:
    return msg(
        etype,
        item_id=item_id,
        response_id="resp_1",
        output_index=0,
        content_index=0,
        event_id="e",
        delta=B64(b"\x01" * n_bytes).decode(),
    )


def test_truncate_is_clamped_to_audio_received() -> None:
    p = proto("ga")
    started(p, RealtimeConfig())
    one(decode(p, msg("response.created", event_id="e", response={"id": "resp_1"})))
    assert p.response_id == "resp_1"
    for _ in range(3):
        decode(p, audio_delta("item_a", 4800))  # 100 ms each at 48 bytes/ms
    assert p.audio_ms_received("item_a") == 300
    assert p.current_item_id == "item_a"
    (text,) = encode(p, ev.ItemTruncate("item_a", 10_000))
    assert json.loads(text)["audio_end_ms"] == 300
    (text,) = encode(p, ev.ItemTruncate("item_a", 120))
    assert json.loads(text)["audio_end_ms"] == 120
    # An item we never heard of is passed through (the server will judge it).
    (text,) = encode(p, ev.ItemTruncate("item_zzz", 77))
    assert json.loads(text)["audio_end_ms"] == 77
    one(decode(p, msg("response.done", event_id="e", response={"id": "resp_1"})))
    assert p.response_id is None


def test_g711_audio_counts_eight_bytes_per_ms() -> None:
    p = proto("beta")
    started(p, RealtimeConfig(output_audio_format=AudioFormat.g711_ulaw()))
    decode(p, audio_delta("item_u", 800, "response.audio.delta"))
    assert p.audio_ms_received("item_u") == 100
    (text,) = encode(p, ev.ItemTruncate("item_u", 150))
    validate_beta_client(text)
    assert json.loads(text)["audio_end_ms"] == 100


def test_audio_bookkeeping_is_bounded() -> None:
    p = proto()
    for i in range(MAX_TRACKED_ITEMS * 3):
        decode(p, audio_delta(f"item_{i}", 48))
    assert p.audio_ms_received(f"item_{MAX_TRACKED_ITEMS * 3 - 1}") == 1
    assert p.audio_ms_received("item_0") == 0  # forgotten
    assert len(p._received) == MAX_TRACKED_ITEMS


def test_beta_function_call_name_comes_from_output_item_added() -> None:
    p = proto("beta")
    started(p, RealtimeConfig(tools=(ToolDefinition("get_weather"),)))
    added = example_server_event(
        "beta",
        "response.output_item.added",
        item={"id": "item_f", "type": "function_call", "call_id": "call_1", "name": "get_weather"},
    )
    assert one(decode(p, added)).type == "response.output_item.added"
    deltas = ['{"ci', 'ty":"Oslo"}']
    for d in deltas:
        e = one(
            decode(
                p,
                example_server_event(
                    "beta",
                    "response.function_call_arguments.delta",
                    call_id="call_1",
                    item_id="item_f",
                    delta=d,
                ),
            )
        )
        assert e == ev.FunctionCallDelta("call_1", d, "item_f", "response_id_1")
    assert p.pending_calls["call_1"].arguments == '{"city":"Oslo"}'
    done = example_server_event(
        "beta",
        "response.function_call_arguments.done",
        call_id="call_1",
        item_id="item_f",
        arguments='{"city":"Oslo"}',
    )
    assert "name" not in json.loads(done)
    e = one(decode(p, done))
    assert e == ev.FunctionCallDone(
        "call_1", "get_weather", '{"city":"Oslo"}', "item_f", "response_id_1"
    )
    assert p.pending_calls["call_1"].name == "get_weather"
    (out,) = encode(p, ev.ItemCreate(tool_response=ev.ToolResponse("call_1", '{"temp":3}')))
    validate_beta_client(out)
    assert json.loads(out)["item"] == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": '{"temp":3}',
    }
    assert "call_1" not in p.pending_calls


def test_ga_function_call_done_names_itself() -> None:
    p = proto("ga")
    done = example_server_event(
        "ga", "response.function_call_arguments.done", call_id="c", name="hang_up", arguments="{}"
    )
    assert one(decode(p, done)).name == "hang_up"
    assert p.pending_calls["c"].name == "hang_up"
    encode(p, ev.ItemCreate(tool_response=ev.ToolResponse("c", "ok")))
    assert p.pending_calls == {}


def test_pending_calls_are_bounded() -> None:
    p = proto()
    for i in range(MAX_PENDING_CALLS + 10):
        decode(p, msg("response.function_call_arguments.delta", call_id=f"c{i}", delta="{"))
    assert len(p.pending_calls) == MAX_PENDING_CALLS
    assert "c0" not in p.pending_calls


def test_a_fresh_connection_forgets_the_old_conversation() -> None:
    p = proto()
    decode(p, audio_delta("item_a", 480))
    decode(p, msg("response.function_call_arguments.delta", call_id="c", delta="{"))
    started(p, RealtimeConfig())
    assert p.audio_ms_received("item_a") == 0
    assert p.pending_calls == {}
    assert p.current_item_id is None


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def snapshot(p: OpenAIProtocol) -> Any:
    return (
        p.response_id,
        p.current_item_id,
        dict(p.pending_calls),
        {k: (p._received.bytes_of(k), p._received.ms(k)) for k in p._received},
        p.output_audio_format,
    )
