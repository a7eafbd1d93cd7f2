"""No message larger than the provider takes: the protocols split audio and refuse the rest.

A provider closes the connection (1009) on a message over its limit, which the
protocol declares as ``capabilities.max_message_size`` (OpenAI's documented
15 MiB, Gemini's 4 MiB). Sans-IO, with explicit input only.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import AudioFormat, RealtimeConfig
from adk_realtime.sansio.errors import LocalProtocolError, MessageTooLargeToSend
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.sansio.openai.protocol import OpenAIProtocol

PROVIDERS = pytest.mark.parametrize("provider", ["openai", "gemini"])


def started(provider: str, config: RealtimeConfig | None = None) -> Any:
    protocol: Any = OpenAIProtocol() if provider == "openai" else GeminiProtocol("gemini-live")
    protocol.start(config or RealtimeConfig())
    protocol.data_to_send()
    return protocol


def audio_of(message: str) -> bytes:
    data = json.loads(message)
    if "audio" in data:  # OpenAI input_audio_buffer.append
        return base64.b64decode(data["audio"])
    return base64.b64decode(data["realtimeInput"]["audio"]["data"])


@PROVIDERS
def test_a_large_audio_buffer_goes_as_messages_of_a_second_each_never_over_the_limit(
    provider: str,
) -> None:
    """20 MB of audio was one 27 MB message: over both providers' limits (closed 1009)."""
    protocol = started(provider)
    bytes_per_second = 48000 if provider == "openai" else 32000
    buffer = bytes(range(256)) * (20_000_000 // 256)
    protocol.send_audio(buffer)
    messages = protocol.data_to_send()
    assert len(messages) == -(-len(buffer) // bytes_per_second)
    assert max(len(m) for m in messages) < 65 * 1024 < protocol.capabilities.max_message_size
    assert all(len(audio_of(m)) == bytes_per_second for m in messages[:-1])
    assert b"".join(audio_of(m) for m in messages) == buffer  # in order, nothing lost


def test_g711_audio_goes_as_a_second_of_g711_per_message() -> None:
    g711 = AudioFormat.g711_ulaw()
    protocol = started("openai", RealtimeConfig(input_audio_format=g711))
    protocol.send_audio(bytes(20000))
    assert [len(audio_of(m)) for m in protocol.data_to_send()] == [8000, 8000, 4000]


@PROVIDERS
def test_short_audio_is_still_one_message(provider: str) -> None:
    protocol = started(provider)
    protocol.send_audio(bytes(960))
    (message,) = [m for m in protocol.data_to_send() if "activityStart" not in m]
    assert audio_of(message) == bytes(960)


@PROVIDERS
def test_a_text_over_the_providers_limit_is_refused_and_nothing_is_queued(provider: str) -> None:
    protocol = started(provider)
    limit = protocol.capabilities.max_message_size
    with pytest.raises(
        MessageTooLargeToSend, match=r"ItemCreate.text .* over the provider"
    ) as info:
        protocol.send_event(ev.ItemCreate(text="x" * limit))
    assert info.value.limit == limit and info.value.size > limit
    assert isinstance(info.value, LocalProtocolError)  # a command refused, as the others
    assert protocol.data_to_send() == []
    protocol.send_event(ev.ItemCreate(text="x" * (limit // 2)))  # a large text that fits
    assert len(protocol.data_to_send()) == 1


@PROVIDERS
def test_a_tool_output_over_the_limit_is_refused_and_the_call_stays_pending(
    provider: str,
) -> None:
    protocol = started(provider)
    if provider == "openai":
        protocol.receive_data(
            json.dumps(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": "r1",
                    "item_id": "fc1",
                    "call_id": "c1",
                    "name": "lookup",
                    "arguments": "{}",
                }
            ),
            0.0,
        )
        pending = lambda: protocol.pending_calls  # noqa: E731
    else:
        calls = {"functionCalls": [{"id": "c1", "name": "lookup", "args": {}}]}
        protocol.receive_data(json.dumps({"toolCall": calls}), 0.0)
        pending = lambda: protocol.pending_tool_calls  # noqa: E731
    while protocol.next_event() is not None:
        pass
    huge = ev.ToolResponse("c1", "y" * protocol.capabilities.max_message_size, "lookup")
    with pytest.raises(MessageTooLargeToSend, match=r"ToolResponse\.output"):
        protocol.send_event(ev.ItemCreate(tool_response=huge))
    assert protocol.data_to_send() == [] and "c1" in pending()
    protocol.send_event(ev.ItemCreate(tool_response=ev.ToolResponse("c1", "{}", "lookup")))
    assert len(protocol.data_to_send()) == 1 and "c1" not in pending()


@PROVIDERS
def test_a_setup_whose_instruction_is_over_the_limit_is_refused(provider: str) -> None:
    protocol = started(provider)
    huge = RealtimeConfig(instruction="z" * protocol.capabilities.max_message_size)
    with pytest.raises(MessageTooLargeToSend):
        protocol.start(huge)
    assert protocol.data_to_send() == []
