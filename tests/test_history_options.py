"""The record's limits and the OpenAI replay bound are set through ``SessionOptions``."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from adk_realtime import SessionOptions
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.history import HistoryLimits
from adk_realtime.sansio.sim.hub import SimulatorHub


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("history_limits", {"max_items": 3}),
        ("history_limits", 3),
        ("max_replay_ms", -1),
        ("max_replay_ms", 1.5),
        ("max_replay_ms", True),
        ("max_replay_ms", "100"),
    ],
)
def test_bad_values_are_config_errors_naming_field_and_value(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        SessionOptions(**{field: value})
    assert caught.value.field == field
    assert repr(value) in str(caught.value)


def test_history_limits_validate_their_own_fields() -> None:
    with pytest.raises(ConfigError) as caught:
        HistoryLimits(max_items=0)
    assert caught.value.field == "max_items" and "0" in str(caught.value)


def test_defaults_leave_the_protocols_defaults() -> None:
    options = SessionOptions()
    assert options.history_limits is None and options.max_replay_ms is None


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_the_limits_reach_the_record(anyio_backend: str, provider: str) -> None:
    options = SessionOptions(history_limits=HistoryLimits(max_items=2), max_replay_ms=0)
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        if provider == "openai":
            model: Any = OpenAIRealtimeModel("sk-test", base_url=server.openai_base_url)
        else:
            backend = GeminiLiveBackend.Public("k", base_url=f"ws://127.0.0.1:{server.port}")
            model = GeminiRealtimeModel(backend)
        config = RealtimeConfig(modalities=("text",))
        async with model.connect(config, options=options) as session:
            for n in range(4):
                await session.send_text(f"note {n}")
            with anyio.fail_after(10):
                while not any(getattr(i, "text", "") == "note 3" for i in session.history):
                    await session.next_event()
            history = session.history
            assert len(history) <= 2
            assert session.protocol.history is not None
            if provider == "openai":
                # max_replay_ms=0: no input audio is kept for a rollover
                await session.send_audio(bytes(4800), 24000)
                assert session.protocol.input_audio_dropped_ms == 100
