"""The simulator's continuity knobs, OpenAI side and the hub: the session cap (``expires_at``,
``session_expired``), the abrupt drop, the input audio ledger and seeded conversation items.

Sans-IO on a fake clock; every server message is validated strictly against the official SDK
types by the ``Client`` helper of ``test_simulator`` (``CapClient`` first takes out
``session.expires_at``, which the real service sends and the SDK's session types lack).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from openai.types.beta.realtime import (
    ConversationItem as BetaItem,
    ConversationItemContent as BetaContent,
    ConversationItemCreateEvent as BetaItemCreate,
)
from openai.types.realtime import (
    ConversationItemCreateEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
)

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.hub import (
    Say,
    SimulatorBrain,
    SimulatorHub,
    ToolSpec,
    Turn,
    speech_duration,
    synthesize_speech,
)
from adk_realtime.sansio.sim.openai import OpenAISimSession
from tests.test_simulator import (
    BETA_SERVER,
    GA_SERVER,
    QUESTION,
    TOOL_GA,
    Client,
    assert_no_extra,
    decode,
    openai_audio,
    silence,
)

BETA = [("OpenAI-Beta", "realtime=v1")]
WALL = 1_700_000_000.25  # the unix time the sessions open at
RATE = 24000


class CapClient(Client):
    """``Client`` opening at a known wall-clock time, keeping what it sent; ``expires_at`` is
    checked by the tests, not by the SDK types (which do not declare it)."""

    def __init__(self, hub: SimulatorHub, *, beta: bool = False, now: float = 0.0) -> None:
        self.kind, self.now, self.beta = "openai", now, beta
        self.session = hub.open_session(
            "openai",
            path="/v1/realtime?model=gpt-realtime",
            headers=BETA if beta else [],
            now=now,
            wall_now=WALL + now,
        )
        self.log: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.ended = None
        self.drain()

    def drain(self) -> None:
        while (event := self.session.next_event()) is not None:
            assert self.ended is None, "a session ends once"
            self.ended = event
        for text in self.session.data_to_send():
            msg = json.loads(text)
            checked = copy.deepcopy(msg)
            if isinstance(checked.get("session"), dict):
                checked["session"].pop("expires_at", None)
            assert_no_extra((BETA_SERVER if self.beta else GA_SERVER).validate_python(checked))
            self.log.append(msg)

    def send(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg)
        super().send(msg)


def appended(client: CapClient) -> bytes:
    """Every input audio byte the client appended, in order."""
    kind = "input_audio_buffer.append"
    return b"".join(base64.b64decode(m["audio"]) for m in client.sent if m["type"] == kind)


def spoken(text: str) -> bytes:
    return silence(300, RATE) + synthesize_speech(text, RATE) + silence(700, RATE)


# --- the session cap ------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [False, True])
def test_openai_session_objects_carry_expires_at_in_unix_seconds(beta: bool) -> None:
    client = CapClient(SimulatorHub(pace=0, session_max_seconds=90), beta=beta, now=100.0)
    created = client.of("session.created")[0]["session"]
    assert created["expires_at"] == int(WALL + 100.0 + 90)  # wall_now at open + the cap
    update: dict[str, Any] = {"instructions": "Be brief."}
    if not beta:
        update["type"] = "realtime"
    client.send({"type": "session.update", "session": update})
    assert client.of("session.updated")[0]["session"]["expires_at"] == created["expires_at"]


def test_without_a_cap_the_session_object_is_as_before() -> None:
    client = Client(SimulatorHub(pace=0))  # the strict SDK check: no undeclared keys at all
    assert "expires_at" not in client.of("session.created")[0]["session"]
    assert client.session.get_timer() is None


@pytest.mark.parametrize("beta", [False, True])
def test_openai_cap_is_a_session_expired_error_then_close_1001(beta: bool) -> None:
    client = CapClient(SimulatorHub(pace=0, session_max_seconds=90), beta=beta)
    client.advance(89.9)
    assert not client.of("error") and client.ended is None
    client.advance(0.1)
    (error,) = client.of("error")
    message = "Your session hit the maximum duration of 1.5 minutes."
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "session_expired",
        "message": message,
        "param": None,
        "event_id": None,
    }
    assert client.log[-1] is error  # nothing after it
    assert client.ended is not None
    assert (client.ended.code, client.ended.reason, client.ended.drop) == (1001, message, False)


def test_the_cap_sends_output_that_fell_due_before_it() -> None:
    hub = SimulatorHub(pace=1.0, session_max_seconds=1.0, brain=SimulatorBrain({"hi": "ok " * 20}))
    client = CapClient(hub)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    client.session.handle_timer(5.0)  # one late timer call: what fell due by 1.0 s comes first
    client.drain()
    assert len(client.of("response.output_audio.delta")) == 11  # due at 0.0, 0.1, ... 1.0 s
    assert client.types()[-1] == "error" and client.close_code == 1001


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"session_max_seconds": 0}, "session_max_seconds"),
        ({"session_max_seconds": -5.0}, "session_max_seconds"),
        ({"session_max_seconds": float("nan")}, "session_max_seconds"),
        ({"session_max_seconds": 60, "go_away_after": 50}, "go_away_after"),
        ({"drop_after": -1}, "drop_after"),
        ({"drops": -1}, "drops"),
        ({"drops": 1.5}, "drops"),
    ],
)
def test_bad_cap_and_fault_settings_are_config_errors(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        SimulatorHub(**kwargs)
    assert raised.value.field == field


# --- the abrupt drop -----------------------------------------------------------------------


def test_drop_after_ends_the_first_sessions_without_a_close_frame() -> None:
    hub = SimulatorHub(pace=1.0, drop_after=0.5, drops=2, brain=SimulatorBrain({"hi": "ok " * 20}))
    first = CapClient(hub)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    first.send({"type": "conversation.item.create", "item": item})
    first.send({"type": "response.create"})
    first.advance(3.0)
    assert first.ended is not None and first.ended.drop and first.ended.code == 1006
    assert len(first.of("response.output_audio.delta")) == 6  # due at 0.0 .. 0.5 s: sent first
    assert not first.of("response.done")
    first.session.receive_data(json.dumps({"type": "response.cancel"}), 3.0)
    assert first.session.data_to_send() == []  # after the drop: nothing is processed
    second, third = CapClient(hub), CapClient(hub)
    second.advance(1.0)
    third.advance(10.0)
    assert second.ended is not None and second.ended.drop
    assert third.ended is None and third.session.get_timer() is None  # drops=2: not this one


# --- the input audio ledger ----------------------------------------------------------------


def speak_in(client: Client, pcm: bytes, chunk_bytes: int) -> None:
    """Append ``pcm`` in real time, ``chunk_bytes`` at a time, until the session ends."""
    for i in range(0, len(pcm), chunk_bytes):
        if client.ended is not None:
            return
        piece = pcm[i : i + chunk_bytes]
        client.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()}
        )
        client.advance(len(piece) / 2 / RATE)


@pytest.mark.parametrize("chunk_ms", [20, 25, 37])
def test_server_vad_commits_exactly_the_buffer_up_to_audio_end_ms(chunk_ms: int) -> None:
    hub = SimulatorHub(pace=0, record_input=True)
    client = CapClient(hub)
    chunk = RATE * 2 * chunk_ms // 1000
    speak_in(client, spoken(QUESTION) + spoken("hello"), chunk)
    stops = [m["audio_end_ms"] for m in client.of("input_audio_buffer.speech_stopped")]
    assert len(stops) == 2
    sent = appended(client)
    # Two commits: the buffer from the first append up to each audio_end_ms (48 bytes a ms).
    assert hub.input_ledger() == sent[: stops[1] * 48]
    assert hub.ledger.commits == 2 and hub.input_ledger_count() == stops[1] * 48
    items = [m["item"] for m in client.of("conversation.item.done")]
    assert [i["role"] for i in items] == ["user", "assistant", "user", "assistant"]
    assert [i["content"][0]["transcript"] for i in items[1::2]] == [
        f"You said: {QUESTION}",
        "Hello! I am the offline simulator. How can I help?",
    ]
    # The rest stays in the buffer for the next turn, and is discarded when the session ends.
    assert hub.discarded_input == []
    client.session.connection_lost()
    client.drain()
    assert hub.discarded_input == [sent[stops[1] * 48 :]]
    assert hub.input_ledger() + hub.discarded_input[0] == sent


def test_what_vad_heard_is_the_committed_turn() -> None:
    hub = SimulatorHub(pace=0, record_input=True)
    session = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    client = CapClient(hub)
    client.send({"type": "session.update", "session": session})
    speak_in(client, spoken(QUESTION), RATE * 2 * 37 // 1000)
    done = client.of("conversation.item.input_audio_transcription.completed")
    assert [m["transcript"] for m in done] == [QUESTION]
    assert decode(hub.input_ledger(), RATE) == QUESTION


def test_one_append_holding_two_turns_is_cut_into_two_commits() -> None:
    # A rolled-over client may re-send its uncommitted audio in one append.
    hub = SimulatorHub(pace=0, record_input=True)
    session = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    client = CapClient(hub)
    client.send({"type": "session.update", "session": session})
    pcm = spoken("hello") + spoken("goodbye")
    client.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
    done = client.of("conversation.item.input_audio_transcription.completed")
    assert [m["transcript"] for m in done] == ["hello", "goodbye"]
    stops = [m["audio_end_ms"] for m in client.of("input_audio_buffer.speech_stopped")]
    assert hub.input_ledger() == pcm[: stops[1] * 48] and hub.ledger.commits == 2
    assert decode(pcm[: stops[0] * 48], RATE) == "hello"


def test_manual_commit_takes_the_whole_buffer_and_clear_is_not_committed() -> None:
    hub = SimulatorHub(pace=0, record_input=True)
    client = CapClient(hub)
    td_off = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    client.send({"type": "session.update", "session": td_off})
    first, dropped, second = spoken("one"), spoken("two"), spoken("three")
    speak_in(client, first, 4800)
    client.send({"type": "input_audio_buffer.commit"})
    speak_in(client, dropped, 4800)
    client.send({"type": "input_audio_buffer.clear"})
    speak_in(client, second, 4800)
    client.send({"type": "input_audio_buffer.commit"})
    assert hub.input_ledger() == first + second and hub.ledger.commits == 2
    assert hub.ledger.cleared_bytes == len(dropped)
    client.session.connection_lost()
    client.drain()
    assert hub.discarded_input == [b""]  # one entry per ended session, even an empty one


def test_g711_input_is_cut_at_eight_bytes_a_millisecond() -> None:
    from adk_realtime.sansio.audio import ulaw_encode

    hub = SimulatorHub(pace=0, record_input=True)
    client = CapClient(hub)
    pcmu = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}
    client.send({"type": "session.update", "session": pcmu})
    law = ulaw_encode(silence(300, 8000) + synthesize_speech("hello", 8000) + silence(700, 8000))
    for i in range(0, len(law), 200):  # 25 ms pieces
        client.send(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(law[i : i + 200]).decode(),
            }
        )
        client.advance(0.025)
    (stop,) = client.of("input_audio_buffer.speech_stopped")
    assert hub.input_ledger() == law[: stop["audio_end_ms"] * 8]


def test_the_ledger_is_opt_in() -> None:
    hub = SimulatorHub(pace=0)
    with pytest.raises(ConfigError) as raised:
        hub.input_ledger()
    assert raised.value.field == "record_input"
    with pytest.raises(ConfigError):
        _ = hub.discarded_input


def test_the_ledger_spans_sessions_in_commit_order() -> None:
    # The drop falls in the trailing silence: after the VAD stop (0.2 s), before the end (0.7 s).
    drop_after = 0.3 + speech_duration(QUESTION) + 0.45
    hub = SimulatorHub(pace=0, record_input=True, drop_after=drop_after)
    one = CapClient(hub)
    speak_in(one, spoken(QUESTION), 960)
    assert one.ended is not None and one.ended.drop
    sent_one = appended(one)
    (stop,) = [m["audio_end_ms"] for m in one.of("input_audio_buffer.speech_stopped")]
    two = CapClient(hub, now=one.now)
    speak_in(two, spoken("hello"), 960)
    (stop_two,) = [m["audio_end_ms"] for m in two.of("input_audio_buffer.speech_stopped")]
    sent_two = appended(two)
    assert hub.input_ledger() == sent_one[: stop * 48] + sent_two[: stop_two * 48]
    assert hub.discarded_input == [sent_one[stop * 48 :]]
    assert len(sent_one) < len(spoken(QUESTION))  # the client sent nothing after the drop


# --- seeded history ------------------------------------------------------------------------


def seed_ga() -> list[dict[str, Any]]:
    """A rolled-over conversation as the official GA types build it, with our own item ids."""
    items = [
        RealtimeConversationItemSystemMessage.model_validate(
            {
                "id": "item_sys",
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "Answer briefly."}],
            }
        ),
        RealtimeConversationItemUserMessage.model_validate(
            {
                "id": "item_u1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What's the weather in Lyon?"}],
            }
        ),
        RealtimeConversationItemFunctionCall(
            id="item_fc",
            type="function_call",
            call_id="call_1",
            name="get_weather",
            arguments='{"city": "Lyon"}',
        ),
        RealtimeConversationItemFunctionCallOutput(
            id="item_fo", type="function_call_output", call_id="call_1", output="rain, 12 C"
        ),
        RealtimeConversationItemAssistantMessage.model_validate(
            {
                "id": "item_a1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Here is the weather: rain, 12 C."}],
            }
        ),
    ]
    return [
        ConversationItemCreateEvent(type="conversation.item.create", item=item).model_dump(
            exclude_none=True
        )
        for item in items
    ]


def ask(client: Client, text: str) -> str:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    kind = (
        "response.audio_transcript.done" if client.beta else "response.output_audio_transcript.done"
    )
    return str(client.of(kind)[-1]["transcript"])


def test_seeded_ga_items_are_accepted_with_their_ids_and_the_brain_uses_them() -> None:
    client = Client(SimulatorHub(pace=0))
    client.send({"type": "session.update", "session": {"type": "realtime", "tools": [TOOL_GA]}})
    for event in seed_ga():
        client.send(event)
    assert not client.of("error")
    done = [m["item"] for m in client.of("conversation.item.done")]
    assert [i["id"] for i in done] == ["item_sys", "item_u1", "item_fc", "item_fo", "item_a1"]
    assert (
        done[2]["arguments"] == '{"city": "Lyon"}'
        and done[4]["content"][0]["type"] == "output_text"
    )
    assert ask(client, "What city did I ask about?") == "You asked about Lyon."
    assert decode(openai_audio(client), RATE) == "You asked about Lyon."


def test_seeded_beta_items_are_accepted_and_the_brain_uses_them() -> None:
    client = Client(SimulatorHub(pace=0), headers=BETA)
    items = [
        BetaItem(
            id="u1",
            type="message",
            role="user",
            content=[BetaContent(type="input_text", text="Is it cold in Oslo?")],
        ),
        BetaItem(
            id="a1",
            type="message",
            role="assistant",
            content=[BetaContent(type="text", text="Yes.")],
        ),
    ]
    for item in items:
        event = BetaItemCreate(type="conversation.item.create", item=item)
        client.send(event.model_dump(exclude_none=True))
    created = [m["item"] for m in client.of("conversation.item.created")]
    assert [(i["id"], i["content"][0]["type"]) for i in created] == [
        ("u1", "input_text"),
        ("a1", "text"),
    ]
    assert ask(client, "Which city was that?") == "You asked about Oslo."


def test_without_history_the_city_question_has_no_answer() -> None:
    client = Client(SimulatorHub(pace=0))
    assert ask(client, "What city did I ask about?") == "You have not asked about a city yet."


def test_seeded_items_with_bad_shapes_are_errors_that_change_nothing() -> None:
    client = Client(SimulatorHub(pace=0))
    for event in seed_ga()[:2]:
        client.send(event)
    bad = [
        {"id": "item_u1", "type": "message", "role": "user", "content": []},  # id in use
        {"type": "function_call_output", "call_id": "nope", "output": "x"},  # no such call
        {"type": "function_call", "call_id": "c", "arguments": "{}"},  # no name
        {"type": "message", "role": "tool", "content": []},
    ]
    for item in bad:
        client.session.receive_data(
            json.dumps({"type": "conversation.item.create", "item": item}), 0
        )
        client.drain()
    assert [e["error"]["param"] for e in client.of("error")] == [
        "item.id",
        "item.call_id",
        "item.name",
        "item.role",
    ]
    assert isinstance(client.session, OpenAISimSession)
    assert [i.id for i in client.session.items] == ["item_sys", "item_u1"]


# --- the brain's conversation question --------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "answer"),
    [
        ([Turn("user", "What's the weather in Paris?")], "You asked about Paris."),
        (
            [Turn("user", "What's the weather in Paris today and in London?")],
            "You asked about London.",
        ),
        (
            [
                Turn("user", "What's the weather in Paris?"),
                Turn(
                    "function_call", name="get_weather", call_id="c", arguments='{"city": "Lyon"}'
                ),
                Turn("function_result", text="sunny", call_id="c"),
                Turn("assistant", "Here is the weather: sunny."),
            ],
            "You asked about Lyon.",
        ),
        (
            [Turn("user", "I am in a hurry"), Turn("assistant", "Hi")],
            "You have not asked about a city yet.",
        ),
        ([], "You have not asked about a city yet."),
    ],
)
def test_brain_answers_the_city_question_from_the_conversation_only(
    history: list[Turn], answer: str
) -> None:
    weather = ToolSpec("get_weather", parameters={"properties": {"city": {"type": "string"}}})
    reply = SimulatorBrain().reply(
        [*history, Turn("user", "What city did I ask about?")], [weather]
    )
    assert reply == Say(answer)
