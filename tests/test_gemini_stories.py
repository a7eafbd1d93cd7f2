"""GeminiProtocol on bad input (errors name the field, state unchanged) and in
whole stories: goAway and resumption, a tool call answered, thoughts then speech
then barge-in."""

from __future__ import annotations

import base64
import json

import pytest
from google.genai import types

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import (
    RealtimeConfig,
    VadConfig,
)
from adk_realtime.sansio.errors import DecodeError
from tests.codec_io import decode, encode, one, queued, started
from tests.oracles_gemini import validate_client
from tests.test_gemini_protocol import (
    PCM,
    WEATHER,
    audio_content,
    connected,
    server,
    setup_of,
)

# --------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"\xff\xfe", "UTF-8"),
        ("{not json", "JSON"),
        ("[1, 2]", "object"),
        ('{"serverContent": []}', "serverContent"),
        # (proto3 JSON may spell a bool "yes" or an int "12": those are accepted, see
        # test_proto3_spellings_are_read_as_the_genai_types_read_them)
        ('{"serverContent": {"turnComplete": "maybe"}}', "serverContent.turnComplete"),
        ('{"serverContent": {"modelTurn": {"parts": {}}}}', "serverContent.modelTurn.parts"),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "!!!!"}}]}}}',
            r"serverContent.modelTurn.parts\[0\].inlineData.data",
        ),
        ('{"toolCall": {"functionCalls": [{"id": "1"}]}}', r"toolCall.functionCalls\[0\].name"),
        ('{"toolCall": {"functionCalls": [{"id": 1, "name": "f"}]}}', r"functionCalls\[0\].id"),
        ('{"toolCall": {"functionCalls": [{"id": "1", "name": ""}]}}', r"functionCalls\[0\].name"),
        ('{"toolCall": {"functionCalls": [{"id": "1", "name": "f", "args": []}]}}', "args"),
        ('{"toolCallCancellation": {"ids": [1]}}', "toolCallCancellation.ids"),
        ('{"goAway": {"timeLeft": "soon"}}', "goAway.timeLeft"),
        ('{"goAway": {"timeLeft": -1}}', "goAway.timeLeft"),
        ('{"sessionResumptionUpdate": {"newHandle": 5}}', "sessionResumptionUpdate.newHandle"),
        ('{"usageMetadata": {"promptTokenCount": -3.5}}', "usageMetadata.promptTokenCount"),
        ('{"setupComplete": {"sessionId": 1}}', "setupComplete.sessionId"),
        ('{"goAway": {"timeLeft": 1%s}}' % ("0" * 400), "goAway.timeLeft"),
        ('{"goAway": {"timeLeft": {"seconds": 1%s}}}' % ("0" * 400), "goAway.timeLeft"),
        (
            '{"voiceActivity": {"voiceActivityType": "ACTIVITY_START", "audioOffset": 1e306}}',
            "voiceActivity.audioOffset",
        ),
        (
            '{"toolCall": {"functionCalls": [{"id": "1", "name": "f", "args": {"x": NaN}}]}}',
            r"toolCall.functionCalls\[0\].args",
        ),
        (
            '{"serverContent": {"inputTranscription": {"text": "a", "finished": "maybe"}}}',
            "serverContent.inputTranscription.finished",
        ),
    ],
)
def test_bad_messages_raise_decode_error_naming_the_field(data: str | bytes, field: str) -> None:
    with pytest.raises(DecodeError, match=field):
        decode(connected(), data)


def test_a_bad_message_leaves_the_state_unchanged() -> None:
    proto = connected()
    good = {"inlineData": {"data": base64.b64encode(PCM).decode()}}
    bad = {"inlineData": {"data": "***"}}
    message = {
        "toolCall": {"functionCalls": [{"id": "c1", "name": "f"}]},
        "sessionResumptionUpdate": {"newHandle": "h", "resumable": True},
        "serverContent": {"modelTurn": {"parts": [good, bad]}, "turnComplete": True},
    }
    with pytest.raises(DecodeError):
        decode(proto, json.dumps(message))
    assert proto.current_item_id == "" and not proto.turn_open
    assert proto.pending_tool_calls == {}
    assert proto.resumption_handle is None and not proto.resumable
    assert decode(proto, json.dumps({"serverContent": {"modelTurn": {"parts": [good]}}}))[
        0
    ] == ev.ResponseCreated("turn-1")


# ------------------------------------------------------------------- stories


def test_story_go_away_and_resumption_handles() -> None:
    config = RealtimeConfig(instruction="x")
    proto = connected(config)
    update = types.LiveServerSessionResumptionUpdate
    events = decode(
        proto, server(session_resumption_update=update(new_handle="h1", resumable=True))
    )
    assert events == [ev.SessionResumptionUpdate("h1", True)]
    assert (proto.resumption_handle, proto.resumable) == ("h1", True)
    # Mid tool call the server says "not resumable now": keep the last good handle.
    events = decode(proto, server(session_resumption_update=update(resumable=False)))
    assert events == [ev.SessionResumptionUpdate(None, False)]
    assert (proto.resumption_handle, proto.resumable) == ("h1", False)
    decode(proto, server(session_resumption_update=update(new_handle="h2", resumable=True)))
    assert decode(proto, server(go_away=types.LiveServerGoAway(time_left="5s"))) == [ev.GoAway(5.0)]
    # Reconnect: the new setup resumes with the latest handle.
    [setup] = started(proto, config)
    assert setup_of(setup)["sessionResumption"] == {"handle": "h2"}
    # The new connection is not resumable until its server says so.
    assert (proto.resumption_handle, proto.resumable) == ("h2", False)
    assert decode(proto, server(setup_complete=types.LiveServerSetupComplete())) == [
        ev.SessionCreated()
    ]


def test_story_tool_call_answered_with_id_and_name() -> None:
    proto = connected(RealtimeConfig(tools=(WEATHER,)))
    decode(proto, server(server_content=audio_content()))
    call = types.FunctionCall(id="fc-9", name="get_weather", args={"city": "Oslo"})
    events = decode(proto, server(tool_call=types.LiveServerToolCall(function_calls=[call])))
    [done] = [e for e in events if isinstance(e, ev.FunctionCallDone)]
    assert json.loads(done.arguments) == {"city": "Oslo"} and done.item_id == "turn-1"
    [message] = encode(proto, ev.ItemCreate(tool_response=ev.ToolResponse(done.call_id, '"-3C"')))
    [response] = validate_client(message).tool_response.function_responses
    assert (response.id, response.name, response.response) == (
        "fc-9",
        "get_weather",
        {"result": "-3C"},
    )
    assert proto.pending_tool_calls == {}


def test_story_thoughts_then_speech_then_barge_in() -> None:
    proto = connected(RealtimeConfig(vad=VadConfig.disabled()))
    thought = types.Content(role="model", parts=[types.Part(text="hmm", thought=True)])
    assert decode(proto, server(server_content=types.LiveServerContent(model_turn=thought))) == []
    decode(proto, server(server_content=audio_content(PCM * 3)))
    assert proto.audio_ms_received(proto.current_item_id) == 3 * len(PCM) // 48
    # The user barges in: activityStart interrupts the model on the server.
    validate_client(one(queued(proto, proto.activity_start)))
    assert decode(proto, server(server_content=types.LiveServerContent(interrupted=True))) == [
        ev.Interrupted()
    ]
    done = decode(proto, server(server_content=types.LiveServerContent(turn_complete=True)))
    assert done[-1].status == "cancelled"
    assert proto.audio_ms_received("turn-0") == 0
