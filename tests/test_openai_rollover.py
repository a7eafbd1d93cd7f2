"""OpenAI rollover at the protocol level: start() again continues the conversation.

A scripted switch mid-response (with input appended after the last commit) must
queue exactly: the session.update, the record's items in order with their ids,
the uncommitted input audio once, and one response.create. The input audio log
is tested with concrete numbers; the response policy case by case.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import AudioFormat, RealtimeConfig, VadConfig, VadMode
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.history import HistoryFunctionCall, HistoryMessage
from adk_realtime.sansio.openai.conversation import InputAudioLog, TurnAudio
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from tests.codec_io import audio, decode, encode, queued, started
from tests.oracles_openai import validate_client
from tests.test_openai_history import audio_delta, output_item, proto, spoken_answer, srv, user_turn

B = 48  # bytes per ms of PCM16 at 24 kHz


def pcm(ms: int, fill: int) -> bytes:
    """``ms`` of PCM16 at 24 kHz, every byte ``fill`` (so pieces can be told apart)."""
    return bytes([fill]) * (ms * B)


def appended(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(
        base64.b64decode(m["audio"]) for m in messages if m["type"] == "input_audio_buffer.append"
    )


def test_a_switch_mid_response_replays_the_conversation_exactly() -> None:
    config = RealtimeConfig(instruction="Be brief.", input_transcription=True)
    p = proto()
    first = started(p, config)
    srv(p, "session.created", session={"type": "realtime", "expires_at": 1767225600})
    # The user speaks for 1000 ms; server VAD ends the turn at 800 ms and commits it.
    audio(p, pcm(1000, 1))
    user_turn(p, "item_u1", "What's the weather in Oslo?", end_ms=800)
    # The model calls a tool; the app answers and asks for the follow-up.
    srv(p, "response.created", response={"id": "resp_1"})
    call = output_item("item_fc", "function_call", call_id="call_1", name="get_weather")
    srv(p, "response.output_item.added", item={**call, "arguments": ""})
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
    output = {"id": "item_fo", "type": "function_call_output", "call_id": "call_1"}
    srv(p, "conversation.item.added", item={**output, "output": '{"temp":3}'})
    encode(p, ev.ResponseCreate())
    # The follow-up starts talking; the user starts again (500 ms more input)...
    srv(p, "response.created", response={"id": "resp_2"})
    spoken_answer(p, "item_a2", [("It is three ", 600), ("degrees", 300)])
    audio(p, pcm(500, 2))
    # ... and the connection ends: no response.done. A fresh session:
    messages = started(p, config)
    sent = [json.loads(m) for m in messages]
    assert messages[0] == first[0]  # the same session.update
    items = [m["item"] for m in sent if m["type"] == "conversation.item.create"]
    assert [(i["type"], i.get("id")) for i in items] == [
        ("message", "item_u1"),
        ("function_call", "item_fc"),
        ("function_call_output", "item_fo"),
        ("message", "item_a2"),
    ]
    assert items[0]["content"] == [{"type": "input_text", "text": "What's the weather in Oslo?"}]
    assert items[3]["content"] == [{"type": "output_text", "text": "It is three degrees"}]
    # The input not yet in a turn (1000 - 800 ms of the first, all 500 of the second),
    # exactly once, after the items; then one response.create.
    assert appended(sent) == pcm(200, 1) + pcm(500, 2)
    assert [m["type"] for m in sent] == [
        "session.update",
        *["conversation.item.create"] * 4,
        "input_audio_buffer.append",
        "response.create",
    ]
    for message in messages:
        validate_client("ga", message)
    assert p.next_event() is None  # nothing was dropped
    assert p.expires_at is None and p.response_id is None
    # The replayed audio is the new connection's timeline: a VAD commit at 200 ms
    # covers the first piece; another switch re-sends only the rest.
    srv(p, "input_audio_buffer.speech_stopped", audio_end_ms=200, item_id="item_u2")
    srv(p, "input_audio_buffer.committed", item_id="item_u2")
    again = [json.loads(m) for m in started(p, config)]
    assert appended(again) == pcm(500, 2)


def test_a_pending_call_stays_answerable_and_an_unfinished_one_leaves() -> None:
    p = proto()
    started(p, RealtimeConfig())
    srv(p, "response.created", response={"id": "resp_1"})
    done = output_item("item_f1", "function_call", call_id="call_1", name="lookup")
    srv(p, "response.output_item.added", item={**done, "arguments": ""})
    srv(
        p,
        "response.function_call_arguments.done",
        item_id="item_f1",
        call_id="call_1",
        name="lookup",
        arguments="{}",
    )
    cut = output_item("item_f2", "function_call", call_id="call_2", name="lookup")
    srv(p, "response.output_item.added", item={**cut, "arguments": ""})
    srv(p, "response.function_call_arguments.delta", item_id="item_f2", call_id="call_2", delta="{")
    sent = [json.loads(m) for m in started(p, RealtimeConfig())]
    assert [m["item"]["id"] for m in sent if m["type"] == "conversation.item.create"] == ["item_f1"]
    assert list(p.pending_calls) == ["call_1"]
    assert list(p.history) == [HistoryFunctionCall("item_f1", "call_1", "lookup", "{}")]
    # The call is on the new session too, so its answer is valid there.
    (out,) = encode(p, ev.ItemCreate(tool_response=ev.ToolResponse("call_1", "42")))
    assert json.loads(out)["item"]["call_id"] == "call_1"
    assert p.pending_calls == {} and len(p.history) == 2


@pytest.mark.parametrize(
    ("script", "respond"),
    [
        ("nothing", False),
        ("asked", True),  # response.create sent, no response.created yet
        ("in_progress", True),
        ("done", False),
        ("cancelled_by_app", False),
        ("interrupted", False),
        ("vad_commit", True),  # server VAD committed a turn: it answers by itself
        ("vad_commit_without_auto_response", False),
        ("client_commit", False),  # the app commits and asks for the response itself
    ],
)
def test_a_response_is_asked_again_only_where_one_was_wanted(script: str, respond: bool) -> None:
    vad = VadConfig(create_response=False) if script.endswith("auto_response") else None
    p = proto()
    started(p, RealtimeConfig(vad=vad))
    if script in ("asked", "done", "cancelled_by_app", "interrupted"):
        encode(p, ev.ResponseCreate())
    if script in ("in_progress", "done", "cancelled_by_app", "interrupted"):
        srv(p, "response.created", response={"id": "resp_1"})
    if script == "done":
        srv(p, "response.done", response={"id": "resp_1", "status": "completed"})
    if script == "cancelled_by_app":
        encode(p, ev.ResponseCancel())
    if script == "interrupted":
        queued(p, p.interrupt)
    if script.startswith("vad_commit"):
        srv(p, "input_audio_buffer.speech_stopped", audio_end_ms=500, item_id="item_u")
        srv(p, "input_audio_buffer.committed", item_id="item_u")
    if script == "client_commit":
        audio(p, pcm(200, 1))
        encode(p, ev.AudioCommit())
        srv(p, "input_audio_buffer.committed", item_id="item_u")
    sent = [json.loads(m)["type"] for m in started(p, RealtimeConfig(vad=vad))]
    assert ("response.create" in sent) == respond


def test_the_first_start_replays_no_audio_and_asks_for_nothing() -> None:
    p = proto()
    encode(p, ev.ResponseCreate())
    audio(p, pcm(100, 1))
    assert [json.loads(m)["type"] for m in started(p, RealtimeConfig())] == ["session.update"]


def test_audio_over_max_replay_ms_is_reported_once_after_the_switch() -> None:
    p = OpenAIProtocol(max_replay_ms=300)
    started(p, RealtimeConfig(vad=VadConfig(mode=VadMode.NONE)))
    audio(p, pcm(400, 1))
    audio(p, pcm(100, 2))
    assert p.input_audio_dropped_ms == 200
    sent = [json.loads(m) for m in started(p, RealtimeConfig())]
    assert appended(sent) == pcm(200, 1) + pcm(100, 2)  # the newest 300 ms
    error = p.next_event()
    assert isinstance(error, ev.Error) and error.benign
    assert error.code == "input_audio_dropped" and "200 ms" in error.message
    assert p.next_event() is None


def test_audio_a_commit_covered_is_not_lost_when_it_left_the_buffer() -> None:
    p = OpenAIProtocol(max_replay_ms=300)
    started(p, RealtimeConfig())
    audio(p, pcm(500, 1))
    srv(p, "input_audio_buffer.speech_stopped", audio_end_ms=450, item_id="item_u")
    srv(p, "input_audio_buffer.committed", item_id="item_u")
    sent = [json.loads(m) for m in started(p, RealtimeConfig())]
    assert appended(sent) == pcm(50, 1)
    assert p.next_event() is None  # nothing lost: the turn holds the rest


def test_audio_in_a_format_the_new_session_does_not_take_is_not_replayed() -> None:
    p = proto()
    started(p, RealtimeConfig())
    audio(p, pcm(100, 1))
    sent = [
        json.loads(m)
        for m in started(p, RealtimeConfig(input_audio_format=AudioFormat.g711_ulaw()))
    ]
    assert appended(sent) == b""
    error = p.next_event()
    assert isinstance(error, ev.Error) and error.code == "input_audio_dropped"


def test_a_cleared_buffer_is_not_replayed() -> None:
    p = proto()
    started(p, RealtimeConfig())
    audio(p, pcm(300, 1))
    encode(p, ev.AudioClear())
    audio(p, pcm(100, 2))
    srv(p, "input_audio_buffer.cleared")
    audio(p, pcm(50, 3))
    assert appended([json.loads(m) for m in started(p, RealtimeConfig())]) == pcm(50, 3)


def test_the_rollover_keeps_what_the_listener_heard() -> None:
    p = proto()
    started(p, RealtimeConfig())
    srv(p, "response.created", response={"id": "resp_1"})
    spoken_answer(p, "item_a", [("one two three four", 1000)])
    p.note_heard("item_a", 500)  # the runner's report at the switch
    items = [
        json.loads(m)["item"]
        for m in started(p, RealtimeConfig())
        if json.loads(m)["type"] == "conversation.item.create"
    ]
    assert items[0]["content"][0]["text"] == "one two"


def test_beta_replays_in_beta_shapes() -> None:
    p = proto("beta")
    started(p, RealtimeConfig())
    user_turn(p, "item_u", "Hi")
    srv(p, "response.output_item.added", item=output_item("item_a"))
    srv(p, "response.audio_transcript.delta", item_id="item_a", delta="Hello!")
    audio_delta(p, "item_a", 100)
    for message in started(p, RealtimeConfig()):
        validate_client("beta", message)
    assert p.history[1] == HistoryMessage("item_a", "assistant", "Hello!", spoken=True)


# --------------------------------------------------------------------------
# The input audio log, with concrete numbers
# --------------------------------------------------------------------------


def test_a_vad_commit_keeps_what_follows_audio_end_ms() -> None:
    log = InputAudioLog(30_000)
    log.append(pcm(300, 1))
    log.append(pcm(300, 2))
    log.commit_to(450)  # 450 ms = 21600 bytes into the connection's input
    assert log.uncommitted_ms == 150
    log.commit_to(100)  # behind the commit point: nothing
    assert log.restart() == (pcm(150, 2), 0)
    # The new timeline starts with the replayed audio.
    log.append(pcm(100, 3))
    log.commit_to(150)
    assert log.restart() == (pcm(100, 3), 0)


def test_g711_positions_are_exact() -> None:
    log = InputAudioLog(30_000, AudioFormat.g711_ulaw())
    log.append(bytes([1]) * 800)  # 100 ms at 8 bytes/ms
    log.commit_to(25)
    assert log.restart() == (bytes([1]) * 600, 0)


def test_the_log_is_bounded_and_counts_what_it_let_go() -> None:
    log = InputAudioLog(100)
    log.append(pcm(70, 1))
    log.append(pcm(70, 2))
    assert log.uncommitted_ms == 100 and log.dropped_ms == 40
    assert log.restart() == (pcm(30, 1) + pcm(70, 2), 40)
    log.append(pcm(150, 3))
    log.commit_all()
    assert log.restart() == (b"", 0)
    # 100 ms replayed + 150 new: 150 let go before the commit covered them.
    assert log.dropped_ms == 40 + 150


def test_a_format_change_lets_the_old_audio_go() -> None:
    log = InputAudioLog(30_000)
    log.append(pcm(100, 1))
    log.set_format(AudioFormat.g711_alaw())
    log.append(bytes([9]) * 80)
    assert log.restart() == (bytes([9]) * 80, 100)


@pytest.mark.parametrize("bad", [-1, 1.5, "30000", True])
def test_max_replay_ms_is_validated(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_replay_ms"):
        OpenAIProtocol(max_replay_ms=bad)  # type: ignore[arg-type]


def test_decoded_events_are_unchanged_by_the_record() -> None:
    p = proto()
    started(p, RealtimeConfig())
    events = decode(p, json.dumps({"type": "input_audio_buffer.committed", "item_id": "item_u"}))
    assert events == [ev.AudioCommitted("item_u", None)]


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_an_output_made_while_the_link_was_down_goes_once_after_its_call(dialect: str) -> None:
    # Issue 14 (c): the tool's answer is ready after the old connection died and before
    # the new one starts; the session drops its held copies (the record has them), so the
    # new session gets the call, then the output, then one response.create.
    p = proto(dialect)
    config = RealtimeConfig()
    started(p, config)
    srv(p, "response.created", response={"id": "resp_1"})
    call = output_item("item_fc", "function_call", call_id="call_1", name="get_weather")
    srv(p, "response.output_item.added", item={**call, "arguments": ""})
    srv(
        p,
        "response.function_call_arguments.done",
        item_id="item_fc",
        call_id="call_1",
        name="get_weather",
        arguments='{"city":"Paris"}',
    )
    srv(p, "response.done", response={"id": "resp_1", "status": "completed"})
    # (the link is gone: these are held by the session, then dropped by the rollover)
    encode(p, ev.ItemCreate(tool_response=ev.ToolResponse("call_1", '{"sky":"sunny"}')))
    encode(p, ev.ResponseCreate())
    messages = started(p, config)
    sent = [json.loads(m) for m in messages]
    assert [m["type"] for m in sent] == [
        "session.update",
        "conversation.item.create",
        "conversation.item.create",
        "response.create",
    ]
    call_item, output = sent[1]["item"], sent[2]["item"]
    assert (call_item["type"], call_item["call_id"]) == ("function_call", "call_1")
    assert output["type"] == "function_call_output"
    assert (output["call_id"], output["output"]) == ("call_1", '{"sky":"sunny"}')
    for message in messages:
        validate_client(dialect, message)
    assert p.pending_calls == {}
    # A second switch before the server said anything carries it once again, not twice.
    again = [json.loads(m) for m in started(p, config)]
    outputs = [m for m in again if m.get("item", {}).get("type") == "function_call_output"]
    assert len(outputs) == 1


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_a_spoken_turn_without_a_transcript_is_replayed_as_its_audio(dialect: str) -> None:
    p = proto(dialect)
    config = RealtimeConfig()  # input transcription off
    started(p, config)
    audio(p, pcm(300, 1) + pcm(500, 2))
    srv(p, "input_audio_buffer.speech_started", audio_start_ms=300, item_id="item_u1")
    srv(p, "input_audio_buffer.speech_stopped", audio_end_ms=700, item_id="item_u1")
    srv(p, "input_audio_buffer.committed", item_id="item_u1")
    messages = started(p, config)
    for message in messages:
        validate_client(dialect, message)
    sent = [json.loads(m) for m in messages]
    items = [m["item"] for m in sent if m["type"] == "conversation.item.create"]
    assert [(i["id"], i["role"]) for i in items] == [("item_u1", "user")]
    (part,) = items[0]["content"]
    assert part["type"] == "input_audio"
    # exactly the committed turn: up to audio_end_ms; what follows is still uncommitted
    assert base64.b64decode(part["audio"]) == pcm(300, 1) + pcm(400, 2)
    assert appended(sent) == pcm(100, 2)
    # with a transcript it goes as text, as before
    q = proto(dialect)
    started(q, RealtimeConfig(input_transcription=True))
    audio(q, pcm(800, 3))
    user_turn(q, "item_u2", "Hello there", end_ms=800)
    items = [
        json.loads(m)["item"]
        for m in started(q, RealtimeConfig(input_transcription=True))
        if '"conversation.item.create"' in m
    ]
    assert items[0]["content"] == [{"type": "input_text", "text": "Hello there"}]


def test_turn_audio_is_bounded_oldest_first() -> None:
    kept = TurnAudio(max_bytes=1000)
    kept.keep("a", bytes(400))
    kept.keep("b", bytes(400))
    kept.keep("c", bytes(400))  # over the bound: the oldest goes
    assert kept.get("a") is None and kept.get("b") is not None and kept.get("c") is not None
    kept.keep("d", bytes(1001))  # over the bound alone: not kept
    assert kept.get("d") is None and kept.get("c") is not None
    kept.set_format(AudioFormat.g711_ulaw())  # another format: the old audio cannot go
    assert kept.get("b") is None and kept.get("c") is None


def test_a_rollover_sends_silence_again_only_up_to_a_tail() -> None:
    # Server VAD heard no speech in 5 s since the last commit: only the last second goes.
    p = proto()
    config = RealtimeConfig()
    started(p, config)
    audio(p, pcm(4000, 1) + pcm(1000, 2))
    sent = [json.loads(m) for m in started(p, config)]
    assert appended(sent) == pcm(1000, 2)
    assert p.input_audio_skipped_ms == 4000
    assert p.next_event() is None  # skipping silence is no loss: no error
    # Speech heard from 3000 ms: the replay starts a second before it, and a second
    # switch before the new server reports anything keeps the same start.
    q = proto()
    started(q, config)
    audio(q, pcm(2000, 1) + pcm(1000, 2) + pcm(2000, 3))
    srv(q, "input_audio_buffer.speech_started", audio_start_ms=3000, item_id="item_u")
    assert appended([json.loads(m) for m in started(q, config)]) == pcm(1000, 2) + pcm(2000, 3)
    assert appended([json.loads(m) for m in started(q, config)]) == pcm(1000, 2) + pcm(2000, 3)
    assert q.input_audio_skipped_ms == 2000
    # A commit point ends the speech: the audio after it is judged afresh.
    srv(q, "input_audio_buffer.speech_stopped", audio_end_ms=3000, item_id="item_u")
    srv(q, "input_audio_buffer.committed", item_id="item_u")
    audio(q, pcm(1500, 4))
    assert appended([json.loads(m) for m in started(q, config)]) == pcm(1000, 4)


def test_without_server_vad_everything_uncommitted_goes_again() -> None:
    p = proto()
    config = RealtimeConfig(vad=VadConfig(mode=VadMode.NONE))
    started(p, config)
    audio(p, pcm(4000, 1))
    assert appended([json.loads(m) for m in started(p, config)]) == pcm(4000, 1)
    assert p.input_audio_skipped_ms == 0
