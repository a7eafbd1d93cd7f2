"""Usage in full: tokens split into text, audio, image and cached, for both providers.

The wire shapes come from the official SDK types (``openai`` and ``google-genai``); the
simulator's numbers reach ``ResponseDone.usage`` and ``runner.metrics`` over real
loopback WebSockets, under asyncio and trio.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from google.genai import types as genai
from openai.types.realtime.realtime_response_usage import RealtimeResponseUsage

from adk_realtime import EventHandler, RealtimeAgent, RealtimeRunner
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import ProtocolError
from adk_realtime.sansio.gemini import wire as gemini_wire
from adk_realtime.sansio.openai import wire as openai_wire
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests.test_runner import model_for


def test_openai_usage_details_are_read_from_the_sdk_shape() -> None:
    usage = RealtimeResponseUsage.model_validate(
        {
            "total_tokens": 300,
            "input_tokens": 200,
            "output_tokens": 100,
            "input_token_details": {
                "text_tokens": 120,
                "audio_tokens": 70,
                "image_tokens": 10,
                "cached_tokens": 96,
                "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 32},
            },
            "output_token_details": {"text_tokens": 20, "audio_tokens": 80},
        }
    )
    wire = {"usage": usage.model_dump(exclude_none=True)}
    assert openai_wire.usage_of(wire, "response.done") == ev.Usage(
        200, 100, 300, 120, 70, 10, 96, 64, 32, 20, 80
    )


def test_openai_usage_without_details_has_zero_splits() -> None:
    got = openai_wire.usage_of({"usage": {"input_tokens": 3, "output_tokens": 4}}, "response.done")
    assert got == ev.Usage(3, 4, 7)


@pytest.mark.parametrize(
    "details",
    [
        {"input_token_details": 5},
        {"input_token_details": {"text_tokens": "5"}},
        {"input_token_details": {"cached_tokens_details": []}},
        {"output_token_details": {"audio_tokens": 1.5}},
    ],
)
def test_openai_bad_usage_details_are_a_protocol_error(details: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="token_details"):
        openai_wire.usage_of({"usage": {"input_tokens": 1, **details}}, "response.done")


def _gemini_usage(metadata: genai.UsageMetadata) -> ev.Usage:
    message = {"usageMetadata": metadata.model_dump(mode="json", by_alias=True, exclude_none=True)}
    (op,) = [op for op in gemini_wire.parse_message(json.loads(json.dumps(message)))]
    assert isinstance(op, gemini_wire.UsageReport)
    return op.usage


def test_gemini_usage_by_modality_is_read_from_the_sdk_shape() -> None:
    metadata = genai.UsageMetadata(
        prompt_token_count=230,
        cached_content_token_count=40,
        response_token_count=90,
        total_token_count=320,
        prompt_tokens_details=[
            genai.ModalityTokenCount(modality=genai.MediaModality.TEXT, token_count=100),
            genai.ModalityTokenCount(modality=genai.MediaModality.AUDIO, token_count=100),
            genai.ModalityTokenCount(modality=genai.MediaModality.IMAGE, token_count=20),
            genai.ModalityTokenCount(modality=genai.MediaModality.VIDEO, token_count=10),
        ],
        cache_tokens_details=[
            genai.ModalityTokenCount(modality=genai.MediaModality.TEXT, token_count=40)
        ],
        response_tokens_details=[
            genai.ModalityTokenCount(modality=genai.MediaModality.AUDIO, token_count=85),
            genai.ModalityTokenCount(modality=genai.MediaModality.TEXT, token_count=5),
        ],
    )
    assert _gemini_usage(metadata) == ev.Usage(230, 90, 320, 100, 100, 30, 40, 40, 0, 5, 85)


def test_gemini_usage_snake_case_and_string_counts() -> None:
    message = {
        "usage_metadata": {
            "prompt_token_count": "7",
            "response_token_count": 3,
            "prompt_tokens_details": [{"modality": "AUDIO", "token_count": "7"}],
            "response_tokens_details": [{"modality": "TEXT", "token_count": 3}],
        }
    }
    (op,) = gemini_wire.parse_message(message)
    assert isinstance(op, gemini_wire.UsageReport)
    assert op.usage == ev.Usage(7, 3, 10, input_audio_tokens=7, output_text_tokens=3)


@pytest.mark.parametrize(
    "details",
    [5, [5], [{"modality": 3, "tokenCount": 1}], [{"modality": "TEXT", "tokenCount": []}]],
)
def test_gemini_bad_usage_details_are_a_protocol_error(details: Any) -> None:
    with pytest.raises(ProtocolError, match="promptTokensDetails"):
        gemini_wire.parse_message({"usageMetadata": {"promptTokensDetails": details}})


# ------------------------------------------------------------------ end to end


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        yield server


class Usages(EventHandler):
    def __init__(self) -> None:
        self.usages: list[ev.Usage] = []
        self.done = anyio.Event()

    def on_response_done(self, event: ev.ResponseDone) -> None:
        assert event.usage is not None
        self.usages.append(event.usage)
        self.done.set()


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_simulator_usage_reaches_response_done_and_metrics(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    handler = Usages()
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for(provider, simulator)), event_handler=handler
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("hello")
        with anyio.fail_after(10):
            await handler.done.wait()
        await runner.close()
    (usage,) = handler.usages
    assert usage.input_text_tokens > 0 and usage.output_audio_tokens > 0
    assert usage.input_text_tokens + usage.input_audio_tokens + usage.input_image_tokens == (
        usage.input_tokens
    )
    assert usage.output_text_tokens + usage.output_audio_tokens == usage.output_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    metrics = runner.metrics
    assert (metrics.input_tokens, metrics.output_tokens) == (
        usage.input_tokens,
        usage.output_tokens,
    )
    assert (metrics.input_text_tokens, metrics.output_audio_tokens) == (
        usage.input_text_tokens,
        usage.output_audio_tokens,
    )
