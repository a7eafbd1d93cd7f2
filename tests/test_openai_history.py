"""OpenAIProtocol keeps the conversation record: what it records, seeding, expiry.

Server messages are built by the official SDK's models (``example_server_event``);
every message the protocol queues for a seed is validated strictly against the
SDK's GA and beta client-event types.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import (
    ConfigError,
    DecodeError,
    LocalProtocolError,
    MessageTooLargeToSend,
)
from adk_realtime.sansio.history import (
    History,
    HistoryFunctionCall,
    HistoryFunctionOutput,
    HistoryLimits,
    HistoryMessage,
)
from adk_realtime.sansio.openai.conversation import api_id, replay_messages
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from tests.codec_io import decode, encode, queued, started
from tests.oracles_openai import example_server_event, validate_client

DIALECTS = ("ga", "beta")
B = 48  # bytes per ms of PCM16 at 24 kHz


def proto(dialect: str = "ga", **kwargs: Any) -> OpenAIProtocol:
    return OpenAIProtocol(dialect=dialect, **kwargs)  # type: ignore[arg-type]


def srv(p: OpenAIProtocol, event_type: str, **fields: Any) -> list[ev.ServerEvent]:
    """Feed one server event built by the SDK's model; its events."""
    return decode(p, example_server_event(p.dialect, event_type, **fields))


def audio_delta(p: OpenAIProtocol, item_id: str, ms: int) -> None:
    delta = base64.b64encode(bytes(ms * B)).decode()
    kind = "response.output_audio.delta" if p.dialect == "ga" else "response.audio.delta"
    srv(p, kind, item_id=item_id, delta=delta)


def output_item(item_id: str, kind: str = "message", **fields: Any) -> dict[str, Any]:
    if kind == "message":
        return {"id": item_id, "type": "message", "role": "assistant", "content": [], **fields}
    return {"id": item_id, "type": kind, **fields}


def user_turn(p: OpenAIProtocol, item_id: str, transcript: str, end_ms: int = 800) -> None:
    srv(p, "input_audio_buffer.speech_started", audio_start_ms=100, item_id=item_id)
    srv(p, "input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)
    srv(p, "input_audio_buffer.committed", item_id=item_id)
    user_item = {
        "id": item_id,
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio"}],
    }
    announce = "conversation.item.added" if p.dialect == "ga" else "conversation.item.created"
    srv(p, announce, item=user_item)
    srv(
        p,
        "conversation.item.input_audio_transcription.completed",
        item_id=item_id,
        content_index=0,
        transcript=transcript,
    )


def spoken_answer(p: OpenAIProtocol, item_id: str, words: list[tuple[str, int]]) -> None:
    """An assistant audio item: each (transcript delta, ms of audio after it)."""
    srv(p, "response.output_item.added", item=output_item(item_id))
    for text, ms in words:
        srv(p, "response.output_audio_transcript.delta", item_id=item_id, delta=text)
        audio_delta(p, item_id, ms)


# --------------------------------------------------------------------------
# What the record keeps
# --------------------------------------------------------------------------


def test_a_spoken_turn_with_a_tool_call_is_recorded_in_order() -> None:
    p = proto()
    started(p, RealtimeConfig())
    user_turn(p, "item_u1", "What's the weather in Oslo?")
    srv(p, "response.created", response={"id": "resp_1"})
    call = output_item("item_fc", "function_call", call_id="call_1", name="get_weather")
    srv(p, "response.output_item.added", item={**call, "arguments": ""})
    srv(p, "response.function_call_arguments.delta", item_id="item_fc", call_id="call_1", delta="{")
    srv(
        p,
        "response.function_call_arguments.done",
        item_id="item_fc",
        call_id="call_1",
        name="get_weather",
        arguments='{"city":"Oslo"}',
    )
    srv(p, "response.done", response={"id": "resp_1", "status": "completed"})
    encode(p, ev.ItemCreate(tool_response=ev.ToolResponse("call_1", '{"temp":3}')))
    spoken_answer(p, "item_a1", [("It is ", 400), ("three degrees.", 900)])
    srv(
        p,
        "response.output_audio_transcript.done",
        item_id="item_a1",
        transcript="It is three degrees.",
    )
    assert list(p.history) == [
        HistoryMessage("item_u1", "user", "What's the weather in Oslo?", spoken=True),
        HistoryFunctionCall("item_fc", "call_1", "get_weather", '{"city":"Oslo"}'),
        HistoryFunctionOutput("local_1", "call_1", '{"temp":3}'),
        HistoryMessage("item_a1", "assistant", "It is three degrees.", spoken=True),
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_items_we_create_take_the_id_the_server_gives_them(dialect: str) -> None:
    p = proto(dialect)
    started(p, RealtimeConfig())
    encode(p, ev.ItemCreate(text="Hello"))
    encode(p, ev.ItemCreate(text="Be brief.", role="system"))
    assert [i.item_id for i in p.history] == ["local_1", "local_2"]
    announce = "conversation.item.added" if dialect == "ga" else "conversation.item.created"
    user = {"id": "item_9", "type": "message", "role": "user"}
    srv(p, announce, item={**user, "content": [{"type": "input_text", "text": "Hello"}]})
    if dialect == "ga":  # the same item again, finished
        srv(
            p,
            "conversation.item.done",
            item={**user, "content": [{"type": "input_text", "text": "Hello"}]},
        )
    assert list(p.history) == [
        HistoryMessage("item_9", "user", "Hello"),
        HistoryMessage("local_2", "system", "Be brief."),
    ]


def test_a_response_item_never_takes_the_place_of_one_we_created() -> None:
    p = proto()
    started(p, RealtimeConfig())
    encode(p, ev.ItemCreate(text="", role="assistant"))
    srv(p, "conversation.item.added", item=output_item("item_r"))  # a response's own item
    assert [i.item_id for i in p.history] == ["local_1", "item_r"]


def test_speech_without_a_transcript_is_an_empty_spoken_user_message() -> None:
    p = proto()
    started(p, RealtimeConfig())
    srv(p, "input_audio_buffer.committed", item_id="item_u")
    assert list(p.history) == [HistoryMessage("item_u", "user", "", spoken=True)]


def test_text_responses_are_recorded_from_text_deltas() -> None:
    p = proto()
    started(p, RealtimeConfig(modalities=("text",)))
    srv(p, "response.output_item.added", item=output_item("item_t"))
    srv(p, "response.output_text.delta", item_id="item_t", delta="Hel")
    srv(p, "response.output_text.delta", item_id="item_t", delta="lo")
    assert list(p.history) == [HistoryMessage("item_t", "assistant", "Hello")]
    srv(p, "response.output_text.done", item_id="item_t", text="Hello!")
    assert list(p.history) == [HistoryMessage("item_t", "assistant", "Hello!")]


def test_truncation_cuts_the_transcript_at_what_was_heard() -> None:
    p = proto()
    started(p, RealtimeConfig())
    # "Hello there. " arrives with 0 ms received, "How are you today?" with 1000 ms;
    # 3000 ms arrive in all. The listener heard 2000 ms: 22 of 31 characters,
    # rounded down to a word.
    srv(p, "response.output_item.added", item=output_item("item_a"))
    srv(p, "response.output_audio_transcript.delta", item_id="item_a", delta="Hello there. ")
    audio_delta(p, "item_a", 1000)
    srv(p, "response.output_audio_transcript.delta", item_id="item_a", delta="How are you today?")
    audio_delta(p, "item_a", 2000)
    (truncate,) = encode(p, ev.ItemTruncate("item_a", 2000))
    assert json.loads(truncate)["audio_end_ms"] == 2000
    assert p.history[0] == HistoryMessage(
        "item_a", "assistant", "Hello there. How are", spoken=True, truncated=True
    )
    # The server's confirmation, note_heard with the same position, and the full
    # transcript arriving late change nothing.
    srv(p, "conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=2000)
    assert queued(p, p.note_heard, "item_a", 2000) == []
    srv(
        p,
        "response.output_audio_transcript.done",
        item_id="item_a",
        transcript="Hello there. How are you today?",
    )
    assert p.history[0].text == "Hello there. How are"  # type: ignore[union-attr]


def test_note_heard_cuts_without_sending_anything() -> None:
    p = proto()
    started(p, RealtimeConfig())
    spoken_answer(p, "item_a", [("one two three four", 1000)])
    assert queued(p, p.note_heard, "item_a", 500) == []
    assert p.history[0] == HistoryMessage("item_a", "assistant", "one two", True, True)
    assert queued(p, p.note_heard, "unknown", 5) == []
    for bad in [("", 5), ("item_a", -1), ("item_a", 1.5), (None, 5)]:
        with pytest.raises(LocalProtocolError):
            p.note_heard(*bad)  # type: ignore[arg-type]


def test_the_server_truncating_by_itself_cuts_too() -> None:
    p = proto(transport="webrtc")  # the server plays the audio and truncates on barge-in
    started(p, RealtimeConfig())
    spoken_answer(p, "item_a", [("one two three four", 1000)])
    srv(p, "conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=0)
    assert p.history[0] == HistoryMessage("item_a", "assistant", "", True, True)


def test_deletions_leave_the_record() -> None:
    p = proto()
    started(p, RealtimeConfig())
    user_turn(p, "item_u1", "one")
    user_turn(p, "item_u2", "two")
    srv(p, "conversation.item.deleted", item_id="item_u1")
    encode(p, ev.ItemCreate(text="three"))
    p.delete_item("local_1")
    assert [i.item_id for i in p.history] == ["item_u2"]


def test_the_record_is_bounded_by_the_limits() -> None:
    p = proto(history_limits=HistoryLimits(max_items=2))
    started(p, RealtimeConfig())
    for n in range(5):
        user_turn(p, f"item_u{n}", f"turn {n}")
    assert [i.item_id for i in p.history] == ["item_u3", "item_u4"]
    with pytest.raises(ConfigError, match="history_limits"):
        OpenAIProtocol(history_limits=500)  # type: ignore[arg-type]


message_dicts = st.dictionaries(
    st.sampled_from(["type", "item", "item_id", "delta", "transcript", "audio_end_ms", "session"]),
    st.none() | st.integers() | st.text(max_size=4) | st.lists(st.integers(), max_size=2),
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=message_dicts,
    etype=st.sampled_from(
        [
            "response.output_audio_transcript.delta",
            "conversation.item.added",
            "conversation.item.truncated",
            "conversation.item.deleted",
            "input_audio_buffer.committed",
            "session.created",
            "response.function_call_arguments.done",
        ]
    ),
)
def test_a_bad_message_leaves_the_record_as_it_was(message: dict[str, Any], etype: str) -> None:
    p = proto()
    started(p, RealtimeConfig())
    spoken_answer(p, "item_a", [("one two", 500)])
    before = (p.history, p.expires_at, p.pending_calls)
    try:
        decode(p, json.dumps({**message, "type": etype}))
    except DecodeError:
        assert (p.history, p.expires_at, p.pending_calls) == before


# --------------------------------------------------------------------------
# Seeding: the record's start, replayed by start()
# --------------------------------------------------------------------------

SEED = History(
    (
        HistoryMessage("m_sys", "system", "Answer in French."),
        HistoryMessage("m_user", "user", "Weather in Oslo?", spoken=True),
        HistoryFunctionCall("fc_1", "call_1", "get_weather", '{"city":"Oslo"}'),
        HistoryFunctionOutput("fo_1", "call_1", '{"temp":3}'),
        HistoryMessage("m_said", "assistant", "Il fait trois", spoken=True, truncated=True),
        HistoryMessage("m_text", "assistant", "Voilà."),
        HistoryMessage("m_silent", "user", "", spoken=True),  # no transcript: not replayed
    )
)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_start_replays_the_seed_as_items_the_sdk_accepts(dialect: str) -> None:
    p = proto(dialect)
    p.seed(SEED)
    messages = started(p, RealtimeConfig())
    for message in messages:
        validate_client(dialect, message)  # type: ignore[arg-type]
    sent = [json.loads(m) for m in messages]
    assert sent[0]["type"] == "session.update"
    assert [m["type"] for m in sent[1:]] == ["conversation.item.create"] * 6
    said = "output_text" if dialect == "ga" else "text"
    assert [m["item"] for m in sent[1:]] == [
        {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "Answer in French."}],
            "id": "m_sys",
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Weather in Oslo?"}],
            "id": "m_user",
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Oslo"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": '{"temp":3}', "id": "fo_1"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": said, "text": "Il fait trois"}],
            "id": "m_said",
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": said, "text": "Voilà."}],
            "id": "m_text",
        },
    ]
    assert p.history == SEED


def test_ids_openai_would_refuse_are_replaced_by_stable_ones() -> None:
    long_call = "function-call-" + "7" * 30  # a Gemini call id: 44 characters
    seed = History(
        (
            HistoryMessage("turn 1", "user", "hi"),
            HistoryFunctionCall("x" * 40, long_call, "lookup", "{}"),
        )
    )
    p = proto()
    p.seed(seed)
    call_item = "h_" + __import__("hashlib").sha256(b"x" * 40).hexdigest()[:24]
    assert [i.item_id for i in p.history] == [api_id("turn 1"), call_item]
    assert api_id("turn 1") != "turn 1" and len(api_id(long_call)) == 26
    assert p.history[1].call_id == api_id(long_call)  # type: ignore[union-attr]
    started(p, RealtimeConfig())
    # The app answers with the id it knows; the wire and the record carry OpenAI's.
    (out,) = encode(p, ev.ItemCreate(tool_response=ev.ToolResponse(long_call, "{}")))
    assert json.loads(out)["item"]["call_id"] == api_id(long_call)
    assert p.history[2] == HistoryFunctionOutput("local_1", api_id(long_call), "{}")


def test_seed_goes_before_the_first_start_and_takes_a_history() -> None:
    p = proto()
    with pytest.raises(ConfigError, match="history"):
        p.seed([HistoryMessage("a", "user", "hi")])  # type: ignore[arg-type]
    started(p, RealtimeConfig())
    with pytest.raises(LocalProtocolError, match="before the first start"):
        p.seed(SEED)


def test_a_long_text_is_split_and_a_long_output_refused() -> None:
    long = History((HistoryMessage("m_1", "user", "é" * 1500),))
    messages = replay_messages(long, "ga", 4000)
    assert len(messages) > 1 and all(len(m) <= 4000 for m in messages)
    items = [json.loads(m)["item"] for m in messages]
    assert items[0]["id"] == "m_1" and all("id" not in i for i in items[1:])
    assert "".join(i["content"][0]["text"] for i in items) == "é" * 1500
    for message in messages:
        validate_client("ga", message)
    call = HistoryFunctionCall("fc", "c", "f", "{}")
    with pytest.raises(MessageTooLargeToSend, match="function output"):
        replay_messages(History((call, HistoryFunctionOutput("fo", "c", "y" * 5000))), "ga", 4000)


def test_a_seed_no_message_can_carry_is_refused_at_seed() -> None:
    p = proto()
    huge = "y" * p.capabilities.max_message_size
    call = HistoryFunctionCall("fc", "c", "f", "{}")
    with pytest.raises(MessageTooLargeToSend):
        p.seed(History((call, HistoryFunctionOutput("fo", "c", huge))))
    assert len(p.history) == 0


# --------------------------------------------------------------------------
# Session expiry
# --------------------------------------------------------------------------


def test_expires_at_comes_from_the_session() -> None:
    p = proto()
    assert p.expires_at is None
    srv(p, "session.created", session={"type": "realtime", "expires_at": 1767225600})
    assert p.expires_at == 1767225600.0
    srv(p, "session.updated", session={"type": "realtime"})  # not said: kept
    assert p.expires_at == 1767225600.0
    srv(p, "session.updated", session={"type": "realtime", "expires_at": 0})
    assert p.expires_at is None
    with pytest.raises(DecodeError, match="expires_at"):
        decode(p, json.dumps({"type": "session.created", "session": {"expires_at": "soon"}}))
    started(p, RealtimeConfig())  # a new session: not known yet
    assert p.expires_at is None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_session_expired_is_a_go_away_not_an_error(dialect: str) -> None:
    p = proto(dialect)
    # As the real service sends it (then it closes the connection).
    error = {
        "type": "invalid_request_error",
        "code": "session_expired",
        "message": "Your session hit the maximum duration of 60 minutes.",
        "param": None,
        "event_id": None,
    }
    assert srv(p, "error", error=error) == [ev.GoAway(time_left=0.0)]
    other = {**error, "code": "invalid_value", "message": "bad"}
    assert srv(p, "error", error=other) == [ev.Error("invalid_value", "bad", "event_id_1")]


def test_capabilities_say_openai_rolls_over() -> None:
    assert proto().capabilities.rollover
    assert proto(transport="webrtc").capabilities.rollover
    assert not proto().capabilities.resumption
