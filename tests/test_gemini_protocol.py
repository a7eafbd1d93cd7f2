"""GeminiProtocol against the official ``google.genai.types`` (see tests/oracles_gemini.py)."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from google.genai import types

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import (
    AudioFormat,
    RealtimeConfig,
    ToolDefinition,
    VadConfig,
    VadMode,
)
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.gemini.protocol import GeminiProtocol, normalize_model
from tests.codec_io import audio, decode, encode, one, queued, started
from tests.oracles_gemini import OracleError, server_json, validate_client, validate_server

MODEL = "gemini-live-2.5-flash-preview"
WEATHER = ToolDefinition(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
STRICT_TOOL = ToolDefinition(
    "lookup",
    "Strict schema",
    {
        "type": "object",
        "properties": {"q": {"type": ["string", "null"]}},
        "additionalProperties": False,
    },
)
PCM = bytes(range(256)) * 4  # every byte value, so both base64 alphabets differ


def setup_of(message: str) -> dict[str, Any]:
    validate_client(message)
    return json.loads(message)["setup"]


def setup_message(proto: GeminiProtocol, config: RealtimeConfig, handle: str | None = None) -> str:
    """The setup ``start(config)`` queues when the protocol resumes from ``handle``."""
    proto.resumption_handle = handle
    return one(started(proto, config))


def connected(config: RealtimeConfig | None = None, **kwargs: Any) -> GeminiProtocol:
    proto = GeminiProtocol(MODEL, **kwargs)
    for message in started(proto, config or RealtimeConfig()):
        validate_client(message)
    assert decode(proto, '{"setupComplete":{}}') == [ev.SessionCreated()]
    return proto


def server(case: str = "camel", alphabet: str = "urlsafe", **fields: Any) -> str:
    """A server message built from the SDK's own types."""
    return server_json(types.LiveServerMessage(**fields), case, alphabet)


def audio_content(data: bytes = PCM, **content: Any) -> types.LiveServerContent:
    blob = types.Blob(data=data, mime_type="audio/pcm;rate=24000")
    turn = types.Content(role="model", parts=[types.Part(inline_data=blob)])
    return types.LiveServerContent(model_turn=turn, **content)


# --------------------------------------------------------------- model names


@pytest.mark.parametrize(
    ("model", "vertex", "expected"),
    [
        ("gemini-2.0-flash-live-001", False, "models/gemini-2.0-flash-live-001"),
        ("models/gemini-2.0-flash-live-001", False, "models/gemini-2.0-flash-live-001"),
        (
            "gemini-2.0-flash-live-001",
            True,
            "projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash-live-001",
        ),
        (
            "models/gemini-2.0-flash-live-001",
            True,
            "projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash-live-001",
        ),
        (
            "projects/x/locations/y/publishers/google/models/m",
            True,
            "projects/x/locations/y/publishers/google/models/m",
        ),
        (
            "publishers/google/models/m",
            True,
            "projects/p1/locations/us-central1/publishers/google/models/m",
        ),
    ],
)
def test_model_name_is_normalised_for_public_and_vertex(
    model: str, vertex: bool, expected: str
) -> None:
    kwargs = {"vertex_project": "p1", "vertex_location": "us-central1"} if vertex else {}
    proto = GeminiProtocol(model, **kwargs)
    assert proto.model == expected
    assert setup_of(started(proto, RealtimeConfig())[0])["model"] == expected


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("", {}),
        ("gemini live", {}),
        ("m", {"vertex_project": "p"}),
        ("m", {"vertex_location": "l"}),
    ],
)
def test_bad_model_or_half_vertex_config_is_a_config_error(
    model: str, kwargs: dict[str, str]
) -> None:
    with pytest.raises(ConfigError):
        normalize_model(model, **kwargs)


def test_audio_formats_are_pcm16_16k_in_and_24k_out() -> None:
    proto = GeminiProtocol(MODEL)
    assert proto.input_audio_format == AudioFormat.pcm16(16000)
    assert proto.output_audio_format == AudioFormat.pcm16(24000)


def test_capabilities_say_what_gemini_live_can_do() -> None:
    caps = GeminiProtocol(MODEL).capabilities
    assert caps.resumption and caps.setup_acknowledgement and caps.server_handles_barge_in
    assert caps.explicit_activity and caps.tool_call_cancellation
    assert not (caps.live_session_update or caps.truncation or caps.output_audio_clear)
    assert not (caps.response_after_tool_outputs or caps.voice_locked_after_audio)
    assert not caps.reconfigure_before_tool_output


def test_update_session_is_refused_with_advice() -> None:
    proto = connected()
    with pytest.raises(LocalProtocolError, match="reconnect"):
        proto.update_session(RealtimeConfig(instruction="new"))
    assert proto.data_to_send() == []


def test_interrupt_opens_a_manual_activity_and_is_silent_otherwise() -> None:
    manual = connected(RealtimeConfig(vad=VadConfig.disabled()))
    [start] = queued(manual, manual.interrupt)
    assert validate_client(start).realtime_input.activity_start is not None
    assert queued(manual, manual.interrupt) == []  # the user's activity is already open
    assert len(audio(manual, PCM)) == 1  # and the audio joins it
    auto = connected()
    assert queued(auto, auto.interrupt) == []  # server VAD interrupts by itself


# --------------------------------------------------------------------- setup

VADS = [
    None,
    VadConfig.disabled(),
    VadConfig.server(),
    VadConfig(VadMode.SERVER, threshold=0.2, prefix_padding_ms=100, silence_duration_ms=300),
    VadConfig(VadMode.SEMANTIC, threshold=0.9, eagerness="high", interrupt_response=False),
    VadConfig(VadMode.NONE, interrupt_response=True),
]
MATRIX = list(
    itertools.product(
        [False, True],  # vertex
        VADS,
        [None, ("audio",), ("text",), ("text", "audio")],
        [(), (WEATHER, STRICT_TOOL)],
        [False, True],  # transcription
        [None, "handle-123"],
    )
)


@pytest.mark.parametrize(("vertex", "vad", "modalities", "tools", "transcribe", "handle"), MATRIX)
def test_every_setup_in_the_config_matrix_is_sdk_valid(
    vertex: bool,
    vad: VadConfig | None,
    modalities: tuple[str, ...] | None,
    tools: tuple[ToolDefinition, ...],
    transcribe: bool,
    handle: str | None,
) -> None:
    kwargs = {"vertex_project": "p", "vertex_location": "europe-west4"} if vertex else {}
    proto = GeminiProtocol(MODEL, **kwargs)
    config = RealtimeConfig(
        instruction="Be brief.",
        voice="Puck",
        modalities=modalities,
        vad=vad,
        tools=tools,
        input_transcription=transcribe,
        output_transcription=transcribe,
        temperature=0.6,
        max_output_tokens=256,
    )
    setup = setup_of(setup_message(proto, config, handle))
    resumption: dict[str, Any] = {} if handle is None else {"handle": handle}
    if vertex:  # transparent resumption is a Vertex feature, on by default there
        resumption["transparent"] = True
    assert setup["sessionResumption"] == resumption
    audio = modalities is None or "audio" in modalities
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO" if audio else "TEXT"]
    assert ("inputAudioTranscription" in setup) == transcribe
    assert ("outputAudioTranscription" in setup) == (transcribe and audio)
    assert proto.manual_activity == (vad is not None and vad.mode is VadMode.NONE)


def test_a_stored_handle_resumes_the_first_setup_and_a_bad_one_is_refused() -> None:
    proto = GeminiProtocol(MODEL, resumption_handle="h-stored")
    assert setup_of(one(started(proto, RealtimeConfig())))["sessionResumption"] == {
        "handle": "h-stored"
    }
    with pytest.raises(ConfigError, match="resumption_handle") as info:
        GeminiProtocol(MODEL, resumption_handle="")
    assert info.value.field == "resumption_handle"


def test_setup_carries_instruction_voice_generation_and_compression() -> None:
    config = RealtimeConfig(instruction="Hi", voice="Kore", temperature=0.3, max_output_tokens=9)
    setup = setup_of(setup_message(GeminiProtocol(MODEL), config))
    assert setup["systemInstruction"] == {"parts": [{"text": "Hi"}]}
    assert setup["generationConfig"] == {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
        "temperature": 0.3,
        "maxOutputTokens": 9,
    }
    assert setup["contextWindowCompression"] == {"slidingWindow": {}}
    assert setup["sessionResumption"] == {}


def test_context_window_compression_can_be_turned_off_or_tuned() -> None:
    off = GeminiProtocol(MODEL, context_window_compression=False)
    assert "contextWindowCompression" not in setup_of(setup_message(off, RealtimeConfig()))
    tuned = GeminiProtocol(
        MODEL, context_window_compression={"triggerTokens": 9000, "slidingWindow": {}}
    )
    setup = setup_of(setup_message(tuned, RealtimeConfig()))
    assert setup["contextWindowCompression"]["triggerTokens"] == 9000


def test_vad_settings_map_to_sensitivities_and_activity_handling() -> None:
    vad = VadConfig(
        VadMode.SERVER,
        threshold=0.8,
        eagerness="low",
        prefix_padding_ms=20,
        silence_duration_ms=500,
        interrupt_response=False,
    )
    setup = setup_of(setup_message(GeminiProtocol(MODEL), RealtimeConfig(vad=vad)))
    assert setup["realtimeInputConfig"] == {
        "automaticActivityDetection": {
            "disabled": False,
            "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
            "endOfSpeechSensitivity": "END_SENSITIVITY_LOW",
            "prefixPaddingMs": 20,
            "silenceDurationMs": 500,
        },
        "activityHandling": "NO_INTERRUPTION",
    }
    eager = VadConfig(VadMode.SERVER, threshold=0.1, eagerness="high", interrupt_response=True)
    setup = setup_of(setup_message(GeminiProtocol(MODEL), RealtimeConfig(vad=eager)))
    aad = setup["realtimeInputConfig"]["automaticActivityDetection"]
    assert aad["startOfSpeechSensitivity"] == "START_SENSITIVITY_HIGH"
    assert aad["endOfSpeechSensitivity"] == "END_SENSITIVITY_HIGH"
    assert setup["realtimeInputConfig"]["activityHandling"] == "START_OF_ACTIVITY_INTERRUPTS"


def test_vad_none_disables_automatic_activity_detection() -> None:
    proto = GeminiProtocol(MODEL)
    setup = setup_of(setup_message(proto, RealtimeConfig(vad=VadConfig.disabled())))
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
    assert proto.manual_activity


def test_tools_use_gemini_schema_when_they_fit_and_json_schema_otherwise() -> None:
    setup = setup_of(
        setup_message(GeminiProtocol(MODEL), RealtimeConfig(tools=(WEATHER, STRICT_TOOL)))
    )
    weather, strict = setup["tools"][0]["functionDeclarations"]
    assert weather == {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": WEATHER.parameters,
    }
    assert strict["parametersJsonSchema"] == STRICT_TOOL.parameters
    assert "parameters" not in strict


def test_tool_choice_none_offers_no_tools() -> None:
    config = RealtimeConfig(tools=(WEATHER,), tool_choice="none")
    assert "tools" not in setup_of(setup_message(GeminiProtocol(MODEL), config))


def test_extra_is_deep_merged_into_setup_without_touching_the_config() -> None:
    extra = {"generationConfig": {"topP": 0.5}, "proactivity": {"proactiveAudio": True}}
    config = RealtimeConfig(voice="Puck", extra=extra)
    setup = setup_of(setup_message(GeminiProtocol(MODEL), config))
    assert setup["generationConfig"]["topP"] == 0.5
    assert setup["generationConfig"]["speechConfig"]["voiceConfig"]  # kept
    assert setup["proactivity"] == {"proactiveAudio": True}
    assert extra == {"generationConfig": {"topP": 0.5}, "proactivity": {"proactiveAudio": True}}


def test_extra_can_switch_to_manual_activity() -> None:
    proto = GeminiProtocol(MODEL)
    extra = {"realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}}}
    setup_of(setup_message(proto, RealtimeConfig(extra=extra)))
    assert proto.manual_activity


def test_unserialisable_extra_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="extra"):
        setup_message(GeminiProtocol(MODEL), RealtimeConfig(extra={"x": object()}))


def test_oracle_catches_lowercase_enum_and_snake_case_keys() -> None:
    """The oracle itself must be able to fail."""
    with pytest.raises(OracleError):
        validate_client(
            {"setup": {"model": "m", "generationConfig": {"responseModalities": ["audio"]}}}
        )
    with pytest.raises(OracleError):
        validate_client({"realtime_input": {"audio_stream_end": True}})
    with pytest.raises(OracleError):
        validate_client({"setup": {"realtimeInputConfig": {"activityHandling": "BOGUS"}}})
    with pytest.raises(OracleError):
        validate_client({"realtimeInput": {"audio": {"data": "-_-_", "mimeType": "audio/pcm"}}})


# -------------------------------------------------------------------- encode


def test_audio_is_base64_with_the_16k_mime_type_and_fast_path_matches() -> None:
    proto = connected()
    message = one(audio(proto, PCM))
    parsed = validate_client(message)
    assert parsed.realtime_input is not None and parsed.realtime_input.audio is not None
    assert parsed.realtime_input.audio.data == PCM
    assert parsed.realtime_input.audio.mime_type == "audio/pcm;rate=16000"
    assert encode(proto, ev.AudioAppend(PCM)) == [message]
    assert one(audio(proto, memoryview(PCM))) == message


def test_commit_with_server_vad_is_audio_stream_end() -> None:
    proto = connected(RealtimeConfig(vad=VadConfig.server()))
    [message] = encode(proto, ev.AudioCommit())
    assert validate_client(message).realtime_input.audio_stream_end is True
    assert one(queued(proto, proto.audio_stream_end)) == message


def test_manual_activity_wraps_each_user_turn_in_start_and_end() -> None:
    proto = connected(RealtimeConfig(vad=VadConfig.disabled()))
    assert proto.needs_activity_start
    first = encode(proto, ev.AudioAppend(PCM))
    assert len(first) == 2
    assert validate_client(first[0]).realtime_input.activity_start is not None
    assert validate_client(first[1]).realtime_input.audio is not None
    assert encode(proto, ev.AudioAppend(PCM)) == [one(audio(proto, PCM))]
    [end] = encode(proto, ev.AudioCommit())
    assert validate_client(end).realtime_input.activity_end is not None
    assert encode(proto, ev.AudioCommit()) == []  # nothing to end
    assert len(encode(proto, ev.AudioAppend(PCM))) == 2  # the next turn starts again


def test_fast_path_opens_a_manual_activity_itself_or_joins_an_open_one() -> None:
    # send_audio never leaves audio outside an activity: the session needs no probe.
    proto = connected(RealtimeConfig(vad=VadConfig.disabled()))
    start, chunk = audio(proto, PCM)
    assert validate_client(start).realtime_input.activity_start is not None
    assert validate_client(chunk).realtime_input.audio is not None
    validate_client(one(queued(proto, proto.activity_end)))
    validate_client(one(queued(proto, proto.activity_start)))
    validate_client(one(audio(proto, PCM)))  # the activity is open: audio alone
    validate_client(one(queued(proto, proto.activity_end)))


def test_activity_signals_are_checked_against_the_mode_and_state() -> None:
    manual = connected(RealtimeConfig(vad=VadConfig.disabled()))
    with pytest.raises(LocalProtocolError):
        one(queued(manual, manual.activity_end))
    one(queued(manual, manual.activity_start))
    with pytest.raises(LocalProtocolError):
        one(queued(manual, manual.activity_start))
    with pytest.raises(LocalProtocolError):
        one(queued(manual, manual.audio_stream_end))
    auto = connected()
    with pytest.raises(LocalProtocolError):
        one(queued(auto, auto.activity_start))
    with pytest.raises(LocalProtocolError):
        one(queued(auto, auto.activity_end))


def test_a_new_connection_closes_the_open_activity() -> None:
    proto = connected(RealtimeConfig(vad=VadConfig.disabled()))
    encode(proto, ev.AudioAppend(PCM))
    assert proto.activity_open
    started(proto, RealtimeConfig(vad=VadConfig.disabled()))
    assert proto.needs_activity_start


def test_user_text_is_a_complete_client_turn() -> None:
    proto = connected()
    [message] = encode(proto, ev.ItemCreate(text="hello"))
    content = validate_client(message).client_content
    assert content is not None and content.turn_complete is True
    assert content.turns is not None and content.turns[0].role == "user"
    assert content.turns[0].parts[0].text == "hello"
    assert encode(proto, ev.ResponseCreate()) == []  # Gemini already answers


def test_assistant_history_waits_for_response_create_to_complete_the_turn() -> None:
    proto = connected()
    [message] = encode(proto, ev.ItemCreate(text="I said this", role="assistant"))
    content = validate_client(message).client_content
    assert content is not None and content.turn_complete is False
    assert content.turns[0].role == "model"
    [complete] = encode(proto, ev.ResponseCreate(instructions="ignored"))
    assert validate_client(complete).client_content.turn_complete is True
    assert encode(proto, ev.ResponseCreate()) == []


def test_system_items_and_session_updates_are_refused_with_advice() -> None:
    proto = connected()
    with pytest.raises(LocalProtocolError, match="setup"):
        encode(proto, ev.ItemCreate(text="rule", role="system"))
    with pytest.raises(LocalProtocolError, match="resumption_handle"):
        encode(proto, ev.SessionUpdate(RealtimeConfig()))
    with pytest.raises(LocalProtocolError):
        encode(proto, ev.ItemCreate())


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (ev.ItemCreate(text="hi \udc00"), "ItemCreate.text"),
        (ev.ItemCreate(tool_response=ev.ToolResponse("c1", "\ud800")), "ToolResponse.output"),
    ],
)
def test_text_with_a_lone_surrogate_is_refused_before_anything_is_queued(
    command: ev.ClientEvent, field: str
) -> None:
    proto = connected()
    calls = [types.FunctionCall(id="c1", name="f")]
    decode(proto, server(tool_call=types.LiveServerToolCall(function_calls=calls)))
    with pytest.raises(LocalProtocolError, match=f"{field} is not valid Unicode"):
        encode(proto, command)
    assert proto.data_to_send() == [] and proto.pending_tool_calls == {"c1": "f"}


@pytest.mark.parametrize(
    "event", [ev.AudioClear(), ev.ResponseCancel(), ev.ItemTruncate("turn-1", 500)]
)
def test_commands_gemini_has_no_message_for_encode_to_nothing(event: ev.ClientEvent) -> None:
    assert encode(connected(), event) == []


@pytest.mark.parametrize(
    ("output", "result"),
    [('{"temp": 21}', {"temp": 21}), ("[1, 2]", [1, 2]), ("sunny", "sunny"), ("NaN", "NaN")],
)
def test_tool_output_is_sent_as_json_when_it_parses(output: str, result: Any) -> None:
    proto = connected()
    decode(
        proto,
        server(
            tool_call=types.LiveServerToolCall(
                function_calls=[types.FunctionCall(id="c1", name="get_weather", args={})]
            )
        ),
    )
    [message] = encode(proto, ev.ItemCreate(tool_response=ev.ToolResponse("c1", output)))
    [response] = validate_client(message).tool_response.function_responses
    assert (response.id, response.name, response.response) == (
        "c1",
        "get_weather",
        {"result": result},
    )


def test_several_tool_results_go_in_one_tool_response() -> None:
    proto = connected()
    calls = [types.FunctionCall(id=f"c{n}", name=f"f{n}", args={"n": n}) for n in range(3)]
    decode(proto, server(tool_call=types.LiveServerToolCall(function_calls=calls)))
    message = one(
        queued(
            proto,
            proto.send_tool_responses,
            [ev.ToolResponse("c0", "0"), ev.ToolResponse("c2", "2", name="explicit")],
        )
    )
    responses = validate_client(message).tool_response.function_responses
    assert [(r.id, r.name) for r in responses] == [("c0", "f0"), ("c2", "explicit")]
    assert proto.pending_tool_calls == {"c1": "f1"}


def test_tool_result_for_unknown_unnamed_call_is_refused_and_nothing_changes() -> None:
    proto = connected()
    decode(
        proto,
        server(
            tool_call=types.LiveServerToolCall(
                function_calls=[types.FunctionCall(id="c1", name="f")]
            )
        ),
    )
    with pytest.raises(LocalProtocolError, match="nope"):
        one(
            queued(
                proto,
                proto.send_tool_responses,
                [ev.ToolResponse("c1", "ok"), ev.ToolResponse("nope", "x")],
            )
        )
    assert proto.pending_tool_calls == {"c1": "f"}
    # An unknown call with a name (e.g. from before a reconnect) is sent.
    validate_client(
        encode(proto, ev.ItemCreate(tool_response=ev.ToolResponse("old", "x", name="f")))[0]
    )


# ------------------------------------------------------------------- receive

CASES = ["camel", "snake"]


@pytest.mark.parametrize("case", CASES)
def test_setup_complete_is_session_created(case: str) -> None:
    proto = GeminiProtocol(MODEL)
    message = server(case, setup_complete=types.LiveServerSetupComplete(session_id="s-1"))
    validate_server(message)
    [created] = decode(proto, message)
    assert isinstance(created, ev.SessionCreated) and created.session_id == "s-1"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("alphabet", ["urlsafe", "standard"])
def test_model_audio_decodes_in_both_base64_alphabets(case: str, alphabet: str) -> None:
    proto = connected()
    message = server(case, alphabet, server_content=audio_content())
    validate_server(message)
    assert ("-" in message) == (alphabet == "urlsafe")
    events = decode(proto, message.encode())  # a binary frame
    assert events == [
        ev.ResponseCreated("turn-1"),
        ev.AudioDelta(PCM, item_id="turn-1", response_id="turn-1"),
    ]
    assert proto.audio_ms_received("turn-1") == len(PCM) // 48


def test_a_message_decodes_to_typed_operations_before_any_state_changes() -> None:
    from adk_realtime.sansio.gemini import wire

    message = {
        "usageMetadata": {"totalTokenCount": 7},
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"data": "AAE="}}, {"text": "hi"}]},
            "inputTranscription": {"text": "yo", "finished": True},
            "interrupted": True,
            "turnComplete": True,
        },
        "toolCall": {"functionCalls": [{"name": "f", "args": {"a": 1}}]},
        "toolCallCancellation": {"ids": ["c9"]},
        "sessionResumptionUpdate": {"newHandle": "h", "resumable": True},
        "goAway": {"timeLeft": "2s"},
    }
    assert wire.parse_message(message) == [
        wire.UsageReport(ev.Usage(0, 0, 7)),  # first, so a turnComplete beside it carries it
        wire.InputTranscription("yo", True),
        wire.ModelAudio(b"\x00\x01"),
        wire.ModelText("hi"),
        wire.ModelInterrupted(),
        wire.TurnEnded(),
        wire.ToolCalls((wire.FunctionCall("", "f", '{"a": 1}'),)),
        wire.ToolCancellation(("c9",)),
        wire.ResumptionUpdate("h", True),
        ev.GoAway(2.0),  # needs no state: a ready event
    ]


def test_unpadded_base64_audio_is_accepted() -> None:
    data = base64.b64encode(b"\x01\x02\x03\x04").decode().rstrip("=")
    message = {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": data}}]}}}
    events = decode(connected(), json.dumps(message))
    assert events[-1] == ev.AudioDelta(b"\x01\x02\x03\x04", "turn-1", "turn-1")


@pytest.mark.parametrize("case", CASES)
def test_text_parts_are_deltas_and_thought_parts_are_skipped(case: str) -> None:
    parts = [
        types.Part(text="planning...", thought=True),
        types.Part(text="Hello"),
        types.Part(text=" world"),
    ]
    content = types.LiveServerContent(model_turn=types.Content(role="model", parts=parts))
    message = server(case, server_content=content)
    validate_server(message)
    assert decode(connected(), message) == [
        ev.ResponseCreated("turn-1"),
        ev.TextDelta("Hello", "turn-1", "turn-1"),
        ev.TextDelta(" world", "turn-1", "turn-1"),
    ]


@pytest.mark.parametrize("case", CASES)
def test_transcriptions_are_input_and_output_transcript_deltas(case: str) -> None:
    content = types.LiveServerContent(
        input_transcription=types.Transcription(text="what's up"),
        output_transcription=types.Transcription(text="not much"),
    )
    message = server(case, server_content=content)
    validate_server(message)
    assert decode(connected(), message) == [
        ev.InputTranscriptDelta("what's up"),
        ev.ResponseCreated("turn-1"),
        ev.TranscriptDelta("not much", "turn-1", "turn-1"),
    ]


@pytest.mark.parametrize("case", CASES)
def test_finished_transcriptions_end_with_the_whole_transcript(case: str) -> None:
    proto = connected()
    chunks = [
        types.LiveServerContent(input_transcription=types.Transcription(text="what's")),
        types.LiveServerContent(
            input_transcription=types.Transcription(text=" up", finished=True),
            output_transcription=types.Transcription(text="not"),
        ),
        types.LiveServerContent(output_transcription=types.Transcription(text=" much")),
        types.LiveServerContent(output_transcription=types.Transcription(finished=True)),
    ]
    got = []
    for content in chunks:
        message = server(case, server_content=content)
        validate_server(message)
        got += decode(proto, message)
    assert got == [
        ev.InputTranscriptDelta("what's"),
        ev.InputTranscriptDelta(" up"),
        ev.InputTranscriptDone("what's up"),
        ev.ResponseCreated("turn-1"),
        ev.TranscriptDelta("not", "turn-1", "turn-1"),
        ev.TranscriptDelta(" much", "turn-1", "turn-1"),
        ev.TranscriptDone("not much", "turn-1", "turn-1"),
    ]
    # A bare ``finished`` with nothing before it says nothing.
    assert decode(proto, server(case, server_content=chunks[-1])) == []


@pytest.mark.parametrize("case", CASES)
def test_turn_complete_closes_transcripts_the_server_never_finished(case: str) -> None:
    proto = connected()
    for content in (
        types.LiveServerContent(input_transcription=types.Transcription(text="hel")),
        types.LiveServerContent(input_transcription=types.Transcription(text="lo")),
        types.LiveServerContent(output_transcription=types.Transcription(text="Hi ")),
        types.LiveServerContent(output_transcription=types.Transcription(text="there")),
    ):
        decode(proto, server(case, server_content=content))
    done = decode(proto, server(case, server_content=types.LiveServerContent(turn_complete=True)))
    assert done[:3] == [
        ev.InputTranscriptDone("hello"),
        ev.TranscriptDone("Hi there", "turn-1", "turn-1"),
        ev.TurnComplete(),
    ]
    # The next turn starts from empty transcripts.
    decode(
        proto,
        server(
            case,
            server_content=types.LiveServerContent(
                output_transcription=types.Transcription(text="x")
            ),
        ),
    )
    done = decode(proto, server(case, server_content=types.LiveServerContent(turn_complete=True)))
    assert done[0] == ev.TranscriptDone("x", "turn-2", "turn-2")


@pytest.mark.parametrize("case", CASES)
def test_turn_complete_ends_the_turn_with_usage(case: str) -> None:
    proto = connected()
    decode(proto, server(case, server_content=audio_content()))
    usage = types.UsageMetadata(prompt_token_count=10, response_token_count=5, total_token_count=15)
    assert decode(proto, server(case, usage_metadata=usage)) == []
    assert decode(
        proto, server(case, server_content=types.LiveServerContent(generation_complete=True))
    ) == [ev.GenerationComplete()]
    done = decode(proto, server(case, server_content=types.LiveServerContent(turn_complete=True)))
    assert done == [ev.TurnComplete(), ev.ResponseDone("turn-1", "completed", ev.Usage(10, 5, 15))]
    assert not proto.turn_open
    # The next turn gets a new id and no stale usage.
    events = decode(proto, server(case, server_content=audio_content()))
    assert events[0] == ev.ResponseCreated("turn-2")
    done = decode(proto, server(case, server_content=types.LiveServerContent(turn_complete=True)))
    assert done[-1] == ev.ResponseDone("turn-2", "completed", None)


def test_usage_in_the_same_message_as_turn_complete_is_attached() -> None:
    proto = connected()
    usage = types.UsageMetadata(prompt_token_count=3, response_token_count=4)
    message = server(
        usage_metadata=usage, server_content=types.LiveServerContent(turn_complete=True)
    )
    validate_server(message)
    events = decode(proto, message)
    assert events == [
        ev.ResponseCreated("turn-1"),
        ev.TurnComplete(),
        ev.ResponseDone("turn-1", "completed", ev.Usage(3, 4, 7)),
    ]


@pytest.mark.parametrize("case", CASES)
def test_interrupted_turn_ends_cancelled(case: str) -> None:
    proto = connected()
    decode(proto, server(case, server_content=audio_content()))
    assert decode(
        proto, server(case, server_content=types.LiveServerContent(interrupted=True))
    ) == [ev.Interrupted()]
    done = decode(proto, server(case, server_content=types.LiveServerContent(turn_complete=True)))
    assert done[-1] == ev.ResponseDone("turn-1", "cancelled", None)


@pytest.mark.parametrize("case", CASES)
def test_output_after_interrupted_is_a_new_turn_with_its_own_id(case: str) -> None:
    """Gemini answers the interrupting speech with no turnComplete for the cut turn: the
    reply gets a new id (the runner drops late audio of the interrupted id)."""
    proto = connected()
    decode(proto, server(case, server_content=audio_content()))
    decode(proto, server(case, server_content=types.LiveServerContent(interrupted=True)))
    events = decode(proto, server(case, server_content=audio_content()))
    assert events[:2] == [
        ev.ResponseDone("turn-1", "cancelled", None),
        ev.ResponseCreated("turn-2"),
    ]
    assert isinstance(events[2], ev.AudioDelta) and events[2].item_id == "turn-2"
    done = decode(proto, server(case, server_content=types.LiveServerContent(turn_complete=True)))
    assert done[-1] == ev.ResponseDone("turn-2", "completed", None)
