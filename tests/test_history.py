"""The conversation record (adk_realtime.sansio.history): items, JSON, bounds, the cut."""

from __future__ import annotations

import json

import pytest

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.history import (
    ConversationRecord,
    History,
    HistoryFunctionCall,
    HistoryFunctionOutput,
    HistoryLimits,
    HistoryMessage,
    heard_chars,
    word_floor,
)

CALL = HistoryFunctionCall("fc_1", "call_1", "get_weather", '{"city":"Oslo"}')
OUTPUT = HistoryFunctionOutput("fo_1", "call_1", '{"temp":3}')
SAMPLE = History(
    (
        HistoryMessage("m_1", "system", "Be brief."),
        HistoryMessage("m_2", "user", "What's the weather in Oslo?", spoken=True),
        CALL,
        OUTPUT,
        HistoryMessage("m_3", "assistant", "It is three degrees", spoken=True, truncated=True),
    )
)


# --------------------------------------------------------------------------
# History: a checked, immutable snapshot with a stable JSON shape
# --------------------------------------------------------------------------


def test_a_history_is_a_sequence_of_items() -> None:
    assert len(SAMPLE) == 5
    assert list(SAMPLE)[2] is CALL and SAMPLE[3] is OUTPUT
    assert History() == History(()) and len(History()) == 0
    assert History([CALL, OUTPUT]).items == (CALL, OUTPUT)  # type: ignore[arg-type]


def test_the_json_shape_is_stable_and_documented() -> None:
    data = json.loads(SAMPLE.to_json())
    assert data == {
        "version": 1,
        "items": [
            {
                "type": "message",
                "item_id": "m_1",
                "role": "system",
                "text": "Be brief.",
                "spoken": False,
                "truncated": False,
            },
            {
                "type": "message",
                "item_id": "m_2",
                "role": "user",
                "text": "What's the weather in Oslo?",
                "spoken": True,
                "truncated": False,
            },
            {
                "type": "function_call",
                "item_id": "fc_1",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Oslo"}',
            },
            {
                "type": "function_call_output",
                "item_id": "fo_1",
                "call_id": "call_1",
                "output": '{"temp":3}',
            },
            {
                "type": "message",
                "item_id": "m_3",
                "role": "assistant",
                "text": "It is three degrees",
                "spoken": True,
                "truncated": True,
            },
        ],
    }
    assert data["items"] == SAMPLE.to_list()


def test_the_round_trip_is_exact() -> None:
    assert History.from_json(SAMPLE.to_json()) == SAMPLE
    assert History.from_json(SAMPLE.to_json().encode()) == SAMPLE
    assert History.from_list(SAMPLE.to_list()) == SAMPLE
    odd = History((HistoryMessage("é", "user", 'quote " \\ \n 😀 \x00'),))
    assert History.from_json(odd.to_json()) == odd


def test_flags_may_be_left_out_when_false() -> None:
    (item,) = History.from_list([{"type": "message", "item_id": "a", "role": "user", "text": ""}])
    assert item == HistoryMessage("a", "user", "")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("not a list", "items"),
        (["x"], "items[0]"),
        ([{"type": "image"}], "items[0].type"),
        ([{"item_id": "a"}], "items[0].type"),
        ([{"type": "message", "item_id": "a", "role": "user"}], "items[0].text"),
        ([{"type": "message", "item_id": "a", "role": "bot", "text": ""}], "items[0].role"),
        ([{"type": "message", "item_id": "", "role": "user", "text": ""}], "items[0].item_id"),
        ([{"type": "message", "item_id": 7, "role": "user", "text": ""}], "items[0].item_id"),
        (
            [{"type": "message", "item_id": "a", "role": "user", "text": "", "spoken": 1}],
            "items[0].spoken",
        ),
        (
            [{"type": "message", "item_id": "a", "role": "user", "text": "", "voice": "x"}],
            "items[0].voice",
        ),
        ([{"type": "message", "item_id": "a", "role": "user", "text": "\ud800"}], "items[0].text"),
        (
            [{"type": "function_call", "item_id": "a", "call_id": "c", "name": ""}],
            "items[0].arguments",
        ),
        (
            [
                {
                    "type": "function_call",
                    "item_id": "a",
                    "call_id": "c",
                    "name": "",
                    "arguments": "",
                }
            ],
            "items[0].name",
        ),
        (
            [{"type": "function_call_output", "item_id": "a", "call_id": "c", "output": "x"}],
            "items[0].call_id",
        ),
        (
            [
                {"type": "message", "item_id": "a", "role": "user", "text": ""},
                {"type": "message", "item_id": "a", "role": "user", "text": ""},
            ],
            "items[1].item_id",
        ),
        (
            [
                {
                    "type": "function_call",
                    "item_id": "a",
                    "call_id": "c",
                    "name": "f",
                    "arguments": "",
                },
                {
                    "type": "function_call",
                    "item_id": "b",
                    "call_id": "c",
                    "name": "f",
                    "arguments": "",
                },
            ],
            "items[1].call_id",
        ),
    ],
)
def test_bad_items_name_the_field(data: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        History.from_list(data)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("{", "history"),
        ("[]", "history"),
        ('{"items": []}', "version"),
        ('{"version": 2, "items": []}', "version"),
        ('{"version": true, "items": []}', "version"),
        ('{"version": 1, "items": [], "more": 1}', "more"),
        ('{"version": 1}', "items"),
    ],
)
def test_bad_json_names_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        History.from_json(text)
    assert info.value.field == field


def test_an_output_must_follow_its_call() -> None:
    with pytest.raises(ConfigError, match=r"items\[0\].call_id"):
        History((OUTPUT, CALL))
    with pytest.raises(ConfigError, match="history item"):
        History(("text",))  # type: ignore[arg-type]


@pytest.mark.parametrize(("items", "chars"), [(0, 1), (1, 0), (True, 1), (1, 2.0)])
def test_limits_are_validated(items: object, chars: object) -> None:
    with pytest.raises(ConfigError):
        HistoryLimits(items, chars)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="history_limits"):
        ConversationRecord(limits=(500, 1000))  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# The record: in place updates, deletion, renaming, eviction
# --------------------------------------------------------------------------


def test_updates_to_an_item_land_in_place() -> None:
    record = ConversationRecord()
    record.put(HistoryMessage("u", "user", "", spoken=True))
    record.put(HistoryMessage("a", "assistant", ""))
    record.append_text("a", "Hello", audio_ms=0)
    record.set_text("u", "Hi there")  # a late input transcript
    record.append_text("a", " there", audio_ms=400)
    assert list(record.snapshot()) == [
        HistoryMessage("u", "user", "Hi there", spoken=True),
        HistoryMessage("a", "assistant", "Hello there", spoken=True),
    ]
    record.put(HistoryFunctionCall("f", "c", "tool", "{"))
    record.put(HistoryFunctionCall("f", "c", "tool", "{}"))  # the final arguments
    assert record.snapshot()[2] == HistoryFunctionCall("f", "c", "tool", "{}")
    assert len(record) == 3 and record.chars == len("Hi thereHello theretool{}")


def test_text_for_unknown_items_or_calls_changes_nothing() -> None:
    record = ConversationRecord()
    record.append_text("nope", "x")
    record.set_text("nope", "x")
    record.cut("nope", 10, 100)
    record.put(CALL)
    record.append_text(CALL.item_id, "x")
    record.set_text(CALL.item_id, "x")
    assert list(record.snapshot()) == [CALL]


def test_a_call_leaves_with_its_outputs_and_outputs_never_come_alone() -> None:
    record = ConversationRecord()
    assert not record.put(OUTPUT)  # no call: not recorded
    assert record.put(CALL) and record.put(OUTPUT)
    assert not record.put(HistoryFunctionCall("other", "call_1", "x", "{}"))  # call id taken
    record.put(HistoryMessage("m", "user", "thanks"))
    record.delete(CALL.item_id)
    assert list(record.snapshot()) == [HistoryMessage("m", "user", "thanks")]
    record.delete("m")
    record.delete("m")
    assert len(record) == 0 and record.chars == 0


def test_rename_keeps_the_place() -> None:
    record = ConversationRecord()
    record.load(SAMPLE)
    record.rename("fc_1", "item_server")
    record.rename("fo_1", "m_1")  # taken: nothing
    record.rename("nope", "x")
    assert [item.item_id for item in record.snapshot()] == [
        "m_1",
        "m_2",
        "item_server",
        "fo_1",
        "m_3",
    ]
    record.delete("item_server")  # the output still leaves with its renamed call
    assert [item.item_id for item in record.snapshot()] == ["m_1", "m_2", "m_3"]


def test_put_before_inserts_in_front_of_an_item() -> None:
    record = ConversationRecord()
    record.put(HistoryMessage("turn-1", "assistant", "Sure."))
    record.put(HistoryMessage("user-1", "user", "Can you?"), before="turn-1")
    record.put(HistoryMessage("user-2", "user", "Go"), before="gone")  # unknown: at the end
    assert [i.item_id for i in record.snapshot()] == ["user-1", "turn-1", "user-2"]


def test_oldest_items_go_first_and_a_call_goes_with_its_output() -> None:
    record = ConversationRecord(HistoryLimits(max_items=3))
    record.put(CALL)
    record.put(OUTPUT)
    record.put(HistoryMessage("a", "assistant", "It is cold."))
    record.put(HistoryMessage("b", "user", "Thanks"))  # 4 > 3: the call and its output go
    assert [i.item_id for i in record.snapshot()] == ["a", "b"]
    assert record.evicted == 2


def test_the_character_bound_evicts_too() -> None:
    record = ConversationRecord(HistoryLimits(max_chars=10))
    record.put(HistoryMessage("a", "user", "12345"))
    record.put(HistoryMessage("b", "user", "12345"))
    record.put(HistoryMessage("c", "user", "1"))
    assert [i.item_id for i in record.snapshot()] == ["b", "c"] and record.chars == 6


def test_the_item_in_progress_is_never_evicted() -> None:
    record = ConversationRecord(HistoryLimits(max_items=1, max_chars=5))
    record.put(HistoryMessage("a", "assistant", ""))
    record.append_text("a", "a long answer", audio_ms=0)
    # Over the character bound, but it is the item being written: it stays.
    assert [i.item_id for i in record.snapshot()] == ["a"] and record.chars == 13
    record.put(HistoryMessage("b", "user", "hi"))
    assert [i.item_id for i in record.snapshot()] == ["b"]


def test_lone_surrogates_from_the_wire_become_replacement_characters() -> None:
    record = ConversationRecord()
    record.put(HistoryMessage("a", "assistant", "x\ud800"))
    record.append_text("a", "\udc00y")
    assert record.snapshot()[0] == HistoryMessage("a", "assistant", "x\ufffd\ufffdy")
    History.from_json(record.snapshot().to_json())


# --------------------------------------------------------------------------
# The cut at what the listener heard
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keep", "text"),
    [
        (0, ""),
        (2, ""),  # "The" not finished: nothing
        (3, "The"),
        (4, "The"),
        (5, "The"),
        (9, "The cat"),
        (10, "The cat"),
        (100, "The cat sat."),
    ],
)
def test_word_floor_rounds_down_to_a_word(keep: int, text: str) -> None:
    assert word_floor("The cat sat.", keep) == text


def test_text_without_spaces_is_cut_at_the_character() -> None:
    assert word_floor("今日は晴れです", 3) == "今日は"


def test_without_deltas_the_cut_is_the_plain_proportion() -> None:
    # 40 characters, 2000 ms received, 1000 ms heard: 20 characters.
    assert heard_chars([], 40, 1000, 2000) == 20
    assert heard_chars([], 40, 0, 2000) == 0
    assert heard_chars([], 40, 2500, 2000) == 40
    assert heard_chars([], 40, 5, 0) == 40  # no audio known: nothing to cut by


def test_deltas_anchor_the_cut_where_their_words_are_in_the_audio() -> None:
    # "Hello there. " arrived with 0 ms received, "How are you today?" with 1000 ms,
    # and the item's audio ran to 3000 ms. The first 13 characters span 0-1000 ms,
    # the other 18 span 1000-3000 ms.
    anchors = [(0, 0), (13, 1000)]
    assert heard_chars(anchors, 31, 500, 3000) == 6
    assert heard_chars(anchors, 31, 1000, 3000) == 13
    assert heard_chars(anchors, 31, 2000, 3000) == 22
    # The plain proportion would have given 2000/3000 of 31 = 20 characters.


def test_a_transcript_made_from_the_audio_is_anchored_at_its_end() -> None:
    # Gemini's output transcription runs behind the audio: "Hello there. " arrives
    # after 1000 ms of audio, "How are you?" after 2000 ms. Heard 1500 ms: 13 + half
    # of 12 = 19 characters, "Hello there. How ar", rounded down to a word.
    record = ConversationRecord()
    record.put(HistoryMessage("turn-1", "assistant", ""))
    record.append_text("turn-1", "Hello there. ", audio_ms=1000, transcript_lags=True)
    record.append_text("turn-1", "How are you?", audio_ms=2000, transcript_lags=True)
    record.cut("turn-1", 1500, 2000)
    assert record.get("turn-1").text == "Hello there. How"  # type: ignore[union-attr]


def test_nothing_heard_keeps_nothing_even_with_text_anchored_at_zero() -> None:
    assert heard_chars([(18, 0)], 18, 0, 1000) == 0
    assert heard_chars([(18, 0)], 18, 1, 1000) == 18


def test_a_barge_in_cuts_the_transcript_to_what_was_heard() -> None:
    record = ConversationRecord()
    record.put(HistoryMessage("item_a", "assistant", ""))
    record.append_text("item_a", "Hello there. ", audio_ms=0)
    record.append_text("item_a", "How are you today?", audio_ms=1000)
    record.cut("item_a", 2000, 3000)  # 22 characters: "Hello there. How are y" -> a word
    assert record.get("item_a") == HistoryMessage(
        "item_a", "assistant", "Hello there. How are", spoken=True, truncated=True
    )
    # The full transcript arriving afterwards was not heard: it stays out.
    record.set_text("item_a", "Hello there. How are you today?")
    record.append_text("item_a", " More.", audio_ms=3000)
    assert record.get("item_a").text == "Hello there. How are"  # type: ignore[union-attr]
    # Reporting the same cut again (truncate and note_heard) changes nothing;
    # a shorter one shortens.
    record.cut("item_a", 2000, 3000)
    assert record.get("item_a").text == "Hello there. How are"  # type: ignore[union-attr]
    record.cut("item_a", 1000, 3000)
    assert record.get("item_a").text == "Hello there."  # type: ignore[union-attr]
    assert record.chars == len("Hello there.")


def test_nothing_heard_leaves_an_empty_truncated_message() -> None:
    record = ConversationRecord()
    record.put(HistoryMessage("a", "assistant", ""))
    record.append_text("a", "Sure, the", audio_ms=0)
    record.cut("a", 0, 800)
    assert record.get("a") == HistoryMessage("a", "assistant", "", spoken=True, truncated=True)


def test_a_cut_that_keeps_everything_is_not_a_truncation_until_text_is_refused() -> None:
    record = ConversationRecord()
    record.put(HistoryMessage("a", "assistant", ""))
    record.append_text("a", "Done.", audio_ms=0)
    record.cut("a", 900, 900)
    assert record.get("a") == HistoryMessage("a", "assistant", "Done.", spoken=True)
    record.set_text("a", "Done.")  # the same text: still whole
    assert not record.get("a").truncated  # type: ignore[union-attr]
    record.append_text("a", " And more", audio_ms=900)
    assert record.get("a") == HistoryMessage("a", "assistant", "Done.", True, True)


def test_only_assistant_messages_are_cut() -> None:
    record = ConversationRecord()
    record.put(HistoryMessage("u", "user", "one two three", spoken=True))
    record.cut("u", 0, 1000)
    record.put(CALL)
    record.cut(CALL.item_id, 0, 1000)
    assert record.get("u").text == "one two three"  # type: ignore[union-attr]


def test_an_output_replacing_an_item_never_outlives_its_call() -> None:
    # (found by the property test) the replaced item's removal must not evict the call
    # the output answers before the output is in
    record = ConversationRecord(HistoryLimits(max_items=1, max_chars=1))
    record.put(HistoryFunctionCall("i1", "c1", "fn", ""))  # (over max_chars alone)
    record.put(HistoryMessage("i0", "user", ""), before="i1")
    assert record.put(HistoryFunctionOutput("i0", "c1", ""))
    history = record.snapshot()  # consistent: raises otherwise
    assert [item.item_id for item in history] == ["i1", "i0"]
