"""RealtimeConfig, VadConfig, ToolDefinition and AudioFormat: bad values raise a
ConfigError naming the field; the reference's spellings are accepted."""

from __future__ import annotations

from typing import Any

import pytest

from adk_realtime.sansio.config import (
    AudioFormat,
    RealtimeConfig,
    ToolDefinition,
    VadConfig,
    VadMode,
)
from adk_realtime.sansio.errors import ConfigError

# --------------------------------------------------------------------------
# Config values that would reach the wire are checked where they are made
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: VadConfig(threshold=1.5), "vad.threshold"),
        (lambda: VadConfig(threshold=True), "vad.threshold"),
        (lambda: VadConfig(silence_duration_ms=-1), "vad.silence_duration_ms"),
        (lambda: VadConfig(prefix_padding_ms=1.5), "vad.prefix_padding_ms"),
        (lambda: VadConfig(idle_timeout_ms=True), "vad.idle_timeout_ms"),
        (lambda: VadConfig(create_response="yes"), "vad.create_response"),
        (lambda: VadConfig(interrupt_response=1), "vad.interrupt_response"),
        (lambda: VadConfig(eagerness="eager"), "vad.eagerness"),
        (lambda: VadConfig(mode="loud"), "vad.mode"),  # type: ignore[arg-type]
        (lambda: VadConfig(mode=1), "vad.mode"),  # type: ignore[arg-type]
        (lambda: ToolDefinition(5), "tools.name"),  # type: ignore[arg-type]
        (lambda: ToolDefinition("has space"), "tools.name"),
        (lambda: ToolDefinition("t", description=5), "tools.description"),  # type: ignore[arg-type]
        (lambda: ToolDefinition("t", parameters=[]), "tools.parameters"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(instruction=5), "instruction"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(voice=["alloy"]), "voice"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(input_transcription="yes"), "input_transcription"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(output_transcription=None), "output_transcription"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(input_transcription_model=1), "input_transcription_model"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(modalities="audio"), "modalities"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(modalities=5), "modalities"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(modalities=()), "modalities"),
        (lambda: RealtimeConfig(modalities=("video",)), "modalities"),
        (lambda: RealtimeConfig(tools=5), "tools"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(tools=("t",)), "tools"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(tool_choice=3), "tool_choice"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(tool_choice="nope"), "tool_choice"),
        (lambda: RealtimeConfig(temperature=True), "temperature"),
        (lambda: RealtimeConfig(temperature=float("nan")), "temperature"),
        (lambda: RealtimeConfig(max_output_tokens=0), "max_output_tokens"),
        (lambda: RealtimeConfig(vad=VadMode.SERVER), "vad"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(input_audio_format="pcm16"), "input_audio_format"),  # type: ignore[arg-type]
        (lambda: RealtimeConfig(extra=[]), "extra"),  # type: ignore[arg-type]
        (lambda: AudioFormat.pcm16(44100), "audio_format.sample_rate"),
    ],
)
def test_invalid_config_values_raise_config_error_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")


def test_vad_mode_accepts_the_wire_names_and_the_reference_spelling() -> None:
    assert VadConfig(mode="server_vad").mode is VadMode.SERVER  # type: ignore[arg-type]
    assert VadConfig(mode="semantic_vad").mode is VadMode.SEMANTIC  # type: ignore[arg-type]
    assert VadConfig(mode="none").mode is VadMode.NONE  # type: ignore[arg-type]
    assert VadConfig(mode=VadMode.ServerVad).mode is VadMode.SERVER
    assert RealtimeConfig.default() == RealtimeConfig()


def test_config_accepts_lists_for_its_sequences() -> None:
    config = RealtimeConfig(modalities=["audio"], tools=[ToolDefinition("t")])  # type: ignore[arg-type]
    assert config.modalities == ("audio",)
    assert config.tools == (ToolDefinition("t"),)
