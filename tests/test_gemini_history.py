"""GeminiProtocol keeps the conversation record; a seed is replayed after setupComplete.

Every setup and every clientContent message is checked against
``google.genai.types.LiveClientMessage`` (extra=forbid, see tests/oracles_gemini.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import types

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig, ToolDefinition
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError, MessageTooLargeToSend
from adk_realtime.sansio.gemini.conversation import replay_messages
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.sansio.history import (
    History,
    HistoryFunctionCall,
    HistoryFunctionOutput,
    HistoryLimits,
    HistoryMessage,
)
from tests.codec_io import decode, encode, one, queued, started
from tests.oracles_gemini import server_json, validate_client

MODEL = "gemini-live-2.5-flash-preview"
SETUP_COMPLETE = '{"setupComplete":{}}'
TOOLS = RealtimeConfig(
    tools=(ToolDefinition("get_weather", "Weather", {"type": "object", "properties": {}}),),
    input_transcription=True,
)


def connected(**kwargs: Any) -> GeminiProtocol:
    proto = GeminiProtocol(MODEL, **kwargs)
    for message in started(proto, TOOLS):
        validate_client(message)
    decode(proto, SETUP_COMPLETE)
    assert proto.data_to_send() == []
    return proto


def content(**fields: Any) -> str:
    return server_json(types.LiveServerMessage(server_content=types.LiveServerContent(**fields)))


def heard(text: str, finished: bool = False) -> str:
    return content(input_transcription=types.Transcription(text=text, finished=finished or None))


def said(text: str, audio_ms: int = 0) -> str:
    """Model audio (``audio_ms`` of it) and then its transcript, in one message."""
    blob = types.Blob(data=bytes(audio_ms * 48), mime_type="audio/pcm;rate=24000")
    turn = types.Content(role="model", parts=[types.Part(inline_data=blob)]) if audio_ms else None
    return content(model_turn=turn, output_transcription=types.Transcription(text=text))


def tool_call(call_id: str, name: str, **args: Any) -> str:
    call = types.FunctionCall(id=call_id, name=name, args=args)
    return server_json(
        types.LiveServerMessage(tool_call=types.LiveServerToolCall(function_calls=[call]))
    )


TURN_COMPLETE = '{"serverContent":{"turnComplete":true}}'
INTERRUPTED = '{"serverContent":{"interrupted":true}}'


# --------------------------------------------------------------------------
# What the record keeps
# --------------------------------------------------------------------------


def test_a_spoken_turn_with_a_tool_call_is_recorded_in_order() -> None:
    p = connected()
    decode(p, heard("Weather in "))
    decode(p, heard("Oslo?", finished=True))
    decode(p, tool_call("fc-1", "get_weather", city="Oslo"))
    encode(p, ev.ItemCreate(tool_response=ev.ToolResponse("fc-1", '{"temp":3}')))
    decode(p, TURN_COMPLETE)
    decode(p, said("It is ", 400))
    decode(p, said("three degrees.", 900))
    decode(p, TURN_COMPLETE)
    assert list(p.history) == [
        HistoryMessage("user-1", "user", "Weather in Oslo?", spoken=True),
        HistoryFunctionCall("turn-1-fc-1", "fc-1", "get_weather", '{"city": "Oslo"}'),
        HistoryFunctionOutput("turn-1-fc-1-out", "fc-1", '{"temp":3}'),
        HistoryMessage("turn-2", "assistant", "It is three degrees.", spoken=True),
    ]


def test_a_transcript_running_behind_goes_before_the_turn_it_answers() -> None:
    p = connected()
    decode(p, said("Sure, ", 300))  # the model answers before the transcription arrives
    decode(p, heard("Can you help?"))
    decode(p, said("I can.", 300))
    decode(p, TURN_COMPLETE)
    assert [(i.item_id, i.text) for i in p.history] == [  # type: ignore[union-attr]
        ("user-1", "Can you help?"),
        ("turn-1", "Sure, I can."),
    ]


def test_speech_that_interrupts_the_model_comes_after_its_turn() -> None:
    p = connected()
    decode(p, said("one two three four", 1000))
    decode(p, INTERRUPTED)
    p.note_heard("turn-1", 500)  # the runner's report: half of it was played
    decode(p, heard("Stop."))
    decode(p, TURN_COMPLETE)
    assert list(p.history) == [
        HistoryMessage("turn-1", "assistant", "one two", spoken=True, truncated=True),
        HistoryMessage("user-1", "user", "Stop.", spoken=True),
    ]


def test_the_cut_follows_the_audio_each_transcript_chunk_came_after() -> None:
    p = connected()
    decode(p, said("Hello there. ", 1000))  # transcribed from the first 1000 ms
    decode(p, said("How are you?", 1000))  # from the next 1000 ms
    p.note_heard("turn-1", 1500)  # 13 + 12 * 500/1000 = 19 characters, then a word
    assert p.history[0] == HistoryMessage("turn-1", "assistant", "Hello there. How", True, True)


def test_item_truncate_cuts_the_record_and_sends_nothing() -> None:
    p = connected()
    decode(p, said("one two three four", 1000))
    assert encode(p, ev.ItemTruncate("turn-1", 0)) == []
    assert p.history[0] == HistoryMessage("turn-1", "assistant", "", True, True)
    with pytest.raises(LocalProtocolError):
        encode(p, ev.ItemTruncate("turn-1", -5))
    with pytest.raises(LocalProtocolError):
        p.note_heard("", 5)


def test_text_items_and_model_text_are_recorded() -> None:
    p = connected()
    encode(p, ev.ItemCreate(text="Earlier you said:", role="user"))
    encode(p, ev.ItemCreate(text="Hello!", role="assistant"))
    decode(p, content(model_turn=types.Content(role="model", parts=[types.Part(text="Hi.")])))
    assert list(p.history) == [
        HistoryMessage("user-1", "user", "Earlier you said:"),
        HistoryMessage("model-1", "assistant", "Hello!"),
        HistoryMessage("turn-1", "assistant", "Hi."),
    ]


def test_a_cancelled_call_leaves_the_record() -> None:
    p = connected()
    decode(p, tool_call("fc-1", "get_weather"))
    cancel = types.LiveServerToolCallCancellation(ids=["fc-1"])
    decode(p, server_json(types.LiveServerMessage(tool_call_cancellation=cancel)))
    assert list(p.history) == []


def test_the_record_is_bounded() -> None:
    p = connected(history_limits=HistoryLimits(max_items=2))
    for n in range(4):
        encode(p, ev.ItemCreate(text=f"message {n}"))
    assert [i.item_id for i in p.history] == ["user-3", "user-4"]


# --------------------------------------------------------------------------
# Seeding, replay, resumption
# --------------------------------------------------------------------------

SEED = History(
    (
        HistoryMessage("m1", "system", "Answer in French."),
        HistoryMessage("m2", "user", "Weather in Oslo?", spoken=True),
        HistoryFunctionCall("m3", "fc-1", "get_weather", '{"city":"Oslo"}'),
        HistoryFunctionOutput("m4", "fc-1", '{"temp":3}'),
        HistoryMessage("m5", "assistant", "Il fait trois", spoken=True, truncated=True),
        HistoryMessage("m6", "user", "", spoken=True),  # no transcript: left out
        HistoryMessage("m7", "user", "Merci"),
    )
)


def test_a_seed_is_replayed_after_setup_complete_as_client_content() -> None:
    p = GeminiProtocol(MODEL)
    p.seed(SEED)
    (setup,) = started(p, TOOLS)
    validate_client(setup)
    assert json.loads(setup)["setup"]["historyConfig"] == {"initialHistoryInClientContent": True}
    # Nothing else before setupComplete; then the history, first.
    assert decode(p, SETUP_COMPLETE) == [ev.SessionCreated()]
    (history,) = p.data_to_send()
    validate_client(history)
    assert json.loads(history) == {
        "clientContent": {
            "turns": [
                {
                    "role": "user",
                    "parts": [{"text": "Answer in French."}, {"text": "Weather in Oslo?"}],
                },
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {
                                "id": "fc-1",
                                "name": "get_weather",
                                "args": {"city": "Oslo"},
                            }
                        }
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {
                            "functionResponse": {
                                "id": "fc-1",
                                "name": "get_weather",
                                "response": {"result": {"temp": 3}},
                            }
                        }
                    ],
                },
                {"role": "model", "parts": [{"text": "Il fait trois"}]},
                {"role": "user", "parts": [{"text": "Merci"}]},
            ],
            "turnComplete": True,
        }
    }
    assert p.history == SEED
    # Only once: a second setupComplete (a new connection would start again) adds nothing.
    decode(p, SETUP_COMPLETE)
    assert p.data_to_send() == []


def test_seeded_ids_are_skipped_by_new_turns() -> None:
    seed = History(
        (HistoryMessage("turn-1", "assistant", "Hi"), HistoryMessage("user-1", "user", "Yo"))
    )
    p = GeminiProtocol(MODEL)
    p.seed(seed)
    started(p, RealtimeConfig())
    decode(p, SETUP_COMPLETE)
    p.data_to_send()
    decode(p, said("Hello again", 100))
    encode(p, ev.ItemCreate(text="Bye"))
    assert [i.item_id for i in p.history] == ["turn-1", "user-1", "turn-2", "user-2"]
    assert p.current_item_id == "turn-2"


def test_resume_handle_resumes_and_replays_nothing() -> None:
    p = GeminiProtocol(MODEL, resume_handle="h-saved")
    p.seed(SEED)  # the record, for history; the server has the conversation
    (setup,) = started(p, TOOLS)
    body = json.loads(setup)["setup"]
    assert body["sessionResumption"] == {"handle": "h-saved"} and "historyConfig" not in body
    validate_client(setup)
    decode(p, SETUP_COMPLETE)
    assert p.data_to_send() == []
    assert p.resumption_handle == "h-saved"


def test_resume_handle_is_validated() -> None:
    with pytest.raises(ConfigError) as info:
        GeminiProtocol(MODEL, resume_handle="")
    assert info.value.field == "resume_handle"
    with pytest.raises(ConfigError, match="resume_handle"):
        GeminiProtocol(MODEL, resume_handle="a", resumption_handle="b")
    assert GeminiProtocol(MODEL, resume_handle="a", resumption_handle="a").resumption_handle == "a"


def test_a_new_conversation_without_a_handle_gets_the_record_so_far() -> None:
    p = connected()
    encode(p, ev.ItemCreate(text="Remember: blue."))
    decode(p, said("Noted.", 200))
    decode(p, TURN_COMPLETE)
    # The connection ends with no usable handle: the next setup starts afresh.
    (setup,) = started(p, TOOLS)
    assert "historyConfig" in json.loads(setup)["setup"]
    decode(p, SETUP_COMPLETE)
    (history,) = p.data_to_send()
    validate_client(history)
    turns = json.loads(history)["clientContent"]["turns"]
    assert turns == [
        {"role": "user", "parts": [{"text": "Remember: blue."}]},
        {"role": "model", "parts": [{"text": "Noted."}]},
    ]


def test_with_nothing_to_replay_the_setup_is_as_before() -> None:
    p = GeminiProtocol(MODEL)
    p.seed(History((HistoryMessage("a", "user", "", spoken=True),)))
    assert "historyConfig" not in json.loads(one(started(p, RealtimeConfig())))["setup"]


def test_seed_is_checked() -> None:
    p = GeminiProtocol(MODEL)
    with pytest.raises(ConfigError, match="history"):
        p.seed("[]")  # type: ignore[arg-type]
    bad = History((HistoryFunctionCall("c", "fc", "f", "[1, 2]"),))
    with pytest.raises(ConfigError) as info:
        p.seed(bad)
    assert info.value.field == "items[0].arguments"
    assert len(p.history) == 0
    p.seed(History((HistoryFunctionCall("c", "fc", "f", ""),)))  # no arguments: {}
    started(p, RealtimeConfig())
    with pytest.raises(LocalProtocolError, match="before the first start"):
        p.seed(SEED)


def test_a_long_history_goes_in_several_messages_under_the_limit() -> None:
    items = [
        HistoryMessage(f"m{n}", "user" if n % 2 else "assistant", "word " * 100) for n in range(30)
    ]
    messages = replay_messages(History(tuple(items)), 3000)
    assert len(messages) > 1 and all(len(m) <= 3000 for m in messages)
    bodies = [json.loads(m)["clientContent"] for m in messages]
    assert [b["turnComplete"] for b in bodies] == [False] * (len(bodies) - 1) + [True]
    text = "".join(part["text"] for b in bodies for turn in b["turns"] for part in turn["parts"])
    assert text == "word " * 100 * 30
    for message in messages:
        validate_client(message)
    long_text = History((HistoryMessage("x", "user", "é" * 2000),))
    assert all(len(m) <= 3000 for m in replay_messages(long_text, 3000))
    call = HistoryFunctionCall("c", "fc", "f", "{}")
    huge = History((call, HistoryFunctionOutput("o", "fc", "y" * 4000)))
    with pytest.raises(MessageTooLargeToSend):
        replay_messages(huge, 3000)


def test_gemini_resumes_rather_than_rolling_over() -> None:
    caps = GeminiProtocol(MODEL).capabilities
    assert caps.resumption and not caps.rollover


def test_nothing_is_queued_before_start_by_receiving() -> None:
    p = GeminiProtocol(MODEL)
    p.seed(SEED)
    assert queued(p, lambda: None) == []
