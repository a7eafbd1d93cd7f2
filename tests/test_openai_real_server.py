"""OpenAIProtocol on messages as real servers send them (API reference examples and
captured sessions): keys the SDK types do not declare, nulls, nested details."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adk_realtime.sansio import events as ev
from tests.codec_io import decode
from tests.test_openai_protocol import DIALECTS, decode_sdk_example, msg, one, proto

# Messages as the real servers send them (OpenAI API reference examples and
# captured sessions): keys the SDK types do not declare, nulls, nested details.
REAL_GA_SERVER = [
    (
        {
            "type": "session.created",
            "event_id": "event_C9G5RJeJ2gF77mV7f2B1j",
            "session": {
                "type": "realtime",
                "object": "realtime.session",
                "id": "sess_C9G5QPteg4UIbotdKLoYQ",
                "model": "gpt-realtime-2025-08-28",
                "output_modalities": ["audio"],
                "instructions": "Be brief.",
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "prompt": None,
                "expires_at": 1756324625,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": None,
                        "noise_reduction": None,
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 200,
                            "idle_timeout_ms": None,
                            "create_response": True,
                            "interrupt_response": True,
                        },
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "voice": "marin",
                        "speed": 1,
                    },
                },
                "include": None,
            },
        },
        ev.SessionCreated,
    ),
    (
        {
            "type": "session.updated",
            "event_id": "e1",
            "session": {
                "type": "realtime",
                "object": "realtime.session",
                "id": "s",
                "expires_at": 1,
            },
        },
        ev.SessionUpdated,
    ),
    (
        {
            "type": "error",
            "event_id": "event_890",
            "error": {
                "type": "invalid_request_error",
                "code": None,
                "message": "The 'type' field is missing.",
                "param": None,
                "event_id": None,
            },
        },
        ev.Error("invalid_request_error", "The 'type' field is missing.", "event_890"),
    ),
    (
        {
            "type": "response.done",
            "event_id": "e2",
            "response": {
                "object": "realtime.response",
                "id": "resp_1",
                "status": "completed",
                "status_details": None,
                "output": [],
                "conversation_id": "conv_1",
                "output_modalities": ["audio"],
                "max_output_tokens": "inf",
                "usage": {
                    "total_tokens": 253,
                    "input_tokens": 132,
                    "output_tokens": 121,
                    "input_token_details": {
                        "text_tokens": 119,
                        "audio_tokens": 13,
                        "image_tokens": 0,
                        "cached_tokens": 64,
                        "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0},
                    },
                    "output_token_details": {"text_tokens": 30, "audio_tokens": 91},
                },
                "metadata": None,
            },
        },
        ev.ResponseDone,
    ),
    (
        {
            "type": "conversation.item.added",
            "event_id": "e3",
            "previous_item_id": None,
            "item": {
                "id": "item_1",
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            },
        },
        ev.ItemCreated,
    ),
    (
        {
            "type": "conversation.item.done",
            "event_id": "e4",
            "previous_item_id": "item_0",
            "item": {"id": "item_1", "type": "message", "role": "user", "content": []},
        },
        ev.ItemCreated,
    ),
    (
        {
            "type": "response.output_audio_transcript.done",
            "event_id": "e5",
            "response_id": "resp_1",
            "item_id": "item_2",
            "output_index": 0,
            "content_index": 0,
            "transcript": "Hello there.",
        },
        ev.TranscriptDone("Hello there.", "item_2", "resp_1"),
    ),
    (
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": "e6",
            "item_id": "item_1",
            "content_index": 0,
            "transcript": "Hi.",
            "logprobs": None,
            "usage": {"type": "duration", "seconds": 2.3},
        },
        ev.InputTranscriptDone("Hi.", "item_1"),
    ),
    (
        {
            "type": "input_audio_buffer.committed",
            "event_id": "e7",
            "previous_item_id": None,
            "item_id": "item_1",
        },
        ev.AudioCommitted("item_1", None),
    ),
    (
        {
            "type": "rate_limits.updated",
            "event_id": "e8",
            "rate_limits": [
                {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 60},
                {"name": "tokens", "limit": 50000, "remaining": 49950, "reset_seconds": 0.06},
            ],
        },
        ev.RateLimitsUpdated,
    ),
    (
        {
            "type": "input_audio_buffer.timeout_triggered",
            "event_id": "e9",
            "audio_start_ms": 0,
            "audio_end_ms": 6000,
            "item_id": "item_3",
        },
        ev.Unknown,
    ),
    (
        {
            "type": "conversation.item.input_audio_transcription.segment",
            "event_id": "e10",
            "item_id": "item_1",
            "content_index": 0,
            "text": "hi",
            "id": "seg_1",
            "speaker": "A",
            "start": 0.0,
            "end": 0.5,
        },
        ev.Unknown,
    ),
    ({"type": "mcp_list_tools.in_progress", "event_id": "e11", "item_id": "mcp_1"}, ev.Unknown),
    (
        {"type": "response.mcp_call.failed", "event_id": "e12", "output_index": 0, "item_id": 5},
        ev.Unknown,
    ),
    (
        {"type": "response.mcp_call_arguments.delta", "event_id": "e13", "delta": {"odd": 1}},
        ev.Unknown,
    ),
    ({"type": "some.future.event", "payload": [1, {"x": None}]}, ev.Unknown),
]


@pytest.mark.parametrize(
    ("wire", "expected"), REAL_GA_SERVER, ids=[w["type"] for w, _ in REAL_GA_SERVER]
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_real_server_messages_decode(wire: dict[str, Any], expected: Any, dialect: str) -> None:
    event = one(decode(proto(dialect), json.dumps(wire)))
    if isinstance(expected, type):
        assert type(event) is expected
    else:
        assert event == expected
    if isinstance(event, ev.Unknown):
        assert event == ev.Unknown(wire["type"], wire)
    if isinstance(event, ev.SessionCreated):
        assert event.session_id == "sess_C9G5QPteg4UIbotdKLoYQ"
        assert event.session["expires_at"] == 1756324625
    if isinstance(event, ev.ResponseDone):
        assert (event.response_id, event.status) == ("resp_1", "completed")
        assert event.usage == ev.Usage(
            132,
            121,
            253,
            input_text_tokens=119,
            input_audio_tokens=13,
            cached_input_tokens=64,
            cached_text_tokens=64,
            output_text_tokens=30,
            output_audio_tokens=91,
        )
    if isinstance(event, ev.RateLimitsUpdated):
        assert [r["name"] for r in event.rate_limits] == ["requests", "tokens"]


def test_usage_without_a_total_adds_input_and_output() -> None:
    done = msg(
        "response.done", response={"id": "r", "usage": {"input_tokens": 3, "output_tokens": 4}}
    )
    assert one(decode(proto(), done)).usage == ev.Usage(3, 4, 7)


def test_response_done_carries_usage_and_status() -> None:
    event, _ = decode_sdk_example("ga", "response.done")
    assert event.response_id == "resp_7"
    assert event.status == "cancelled"
    assert event.usage == ev.Usage(3, 4, 7)
    assert event.raw["id"] == "resp_7"


def test_error_event_reports_code_message_and_the_failing_client_event() -> None:
    event, _ = decode_sdk_example("ga", "error")
    assert event == ev.Error("bad_x", "oops", "event_id_1")
    # Without a code the error type stands in.
    e = one(decode(proto(), msg("error", error={"type": "server_error", "message": "m"})))
    assert e == ev.Error("server_error", "m", None)


def test_session_created_carries_the_session_and_its_id() -> None:
    e = one(decode(proto(), msg("session.created", session={"id": "sess_1", "type": "realtime"})))
    assert e == ev.SessionCreated({"id": "sess_1", "type": "realtime"}, "sess_1")


def test_unknown_types_come_back_raw() -> None:
    e = one(decode(proto(), b'{"type":"brand.new","x":[1]}'))
    assert e == ev.Unknown("brand.new", {"type": "brand.new", "x": [1]})


@pytest.mark.parametrize("wrap", [str, bytes, bytearray, memoryview])
def test_messages_arrive_as_text_or_any_bytes_buffer(wrap: Any) -> None:
    text = msg("response.output_text.delta", item_id="i", response_id="r", delta="hé")
    data = text if wrap is str else wrap(text.encode())
    assert decode(proto(), data) == [ev.TextDelta("hé", "i", "r")]
