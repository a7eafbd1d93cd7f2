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


# --------------------------------------------------------------------------
# Habits from neighbouring libraries
# --------------------------------------------------------------------------


def test_config_tools_accept_openai_style_function_dicts() -> None:
    weather = {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    config = RealtimeConfig(tools=[weather, {"name": "ping"}])  # type: ignore[list-item]
    assert config.tools == (
        ToolDefinition("get_weather", "Current weather for a city.", weather["parameters"]),  # type: ignore[arg-type]
        ToolDefinition("ping"),
    )
    nested = {"type": "function", "function": {**weather, "strict": True}}
    del nested["function"]["type"]  # type: ignore[attr-defined]
    assert RealtimeConfig(tools=[nested]).tools == config.tools[:1]  # type: ignore[list-item]
    assert RealtimeConfig().with_tool(weather).tools == config.tools[:1]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "file_search"}, "tools"),
        ({"name": "t", "parameter": {}}, "tools"),
        ({"description": "no name"}, "tools.name"),
        ({"name": "has space"}, "tools.name"),
        ({"name": "t", "parameters": []}, "tools.parameters"),
    ],
)
def test_a_bad_tool_dict_raises_config_error_naming_the_field(
    spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RealtimeConfig(tools=[spec])  # type: ignore[list-item]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("keyword", "hint"),
    [
        ("instructions", "did you mean 'instruction'?"),
        ("system_instruction", "did you mean 'instruction'?"),
        ("turn_detection", "did you mean 'vad'?"),
        ("max_response_output_tokens", "did you mean 'max_output_tokens'?"),
        ("output_modalities", "did you mean 'modalities'?"),
        ("voise", "did you mean 'voice'?"),
        ("handoffs", "did you mean RealtimeAgent(sub_agents=[...])?"),
        ("starting_agent", "did you mean RealtimeRunner(agent=...)?"),
    ],
)
def test_near_miss_keywords_on_realtime_config_say_what_was_meant(keyword: str, hint: str) -> None:
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{keyword}'") as info:
        RealtimeConfig(**{keyword: "x"})
    assert str(info.value).endswith(hint)
    with pytest.raises(TypeError, match="did you mean"):
        RealtimeConfig().replace(**{keyword: "x"})


@pytest.mark.parametrize(
    ("keyword", "hint"),
    [
        ("instructions", "did you mean 'instruction'?"),
        ("handoffs", "did you mean 'sub_agents'?"),
        ("starting_agent", "did you mean RealtimeRunner(agent=...)?"),
        ("tool", "did you mean 'tools'?"),
    ],
)
def test_near_miss_keywords_on_realtime_agent_say_what_was_meant(keyword: str, hint: str) -> None:
    from adk_realtime import RealtimeAgent
    from adk_realtime.openai import OpenAIRealtimeModel

    model = OpenAIRealtimeModel("sk-test")
    with pytest.raises(
        TypeError, match=f"RealtimeAgent\\(\\) got an unexpected keyword argument '{keyword}'"
    ) as info:
        RealtimeAgent("a", model, **{keyword: "x"})
    assert str(info.value).endswith(hint)
    assert RealtimeAgent("a", model, instruction="x").instruction == "x"  # real keywords pass


@pytest.mark.parametrize(
    ("method", "hint"),
    [
        ("instructions", "did you mean .instruction()?"),
        ("handoffs", "did you mean .sub_agent()?"),
        ("tools", "did you mean .tool()?"),
        ("with_voice", "did you mean .voice()?"),
        ("starting_agent", "did you mean RealtimeRunner(agent=...)?"),
    ],
)
def test_near_miss_methods_on_the_agent_builder_say_what_was_meant(method: str, hint: str) -> None:
    from adk_realtime import RealtimeAgent

    builder = RealtimeAgent.builder("a")
    with pytest.raises(AttributeError, match=f"no method '{method}'") as info:
        getattr(builder, method)
    assert str(info.value).endswith(hint)
    assert info.value.name == method


def test_vad_config_keywords_get_hints_too() -> None:
    with pytest.raises(TypeError, match="did you mean 'silence_duration_ms'"):
        VadConfig(silence_duration=500)  # type: ignore[call-arg]


# --------------------------------------------------------------------------
# A missing extra names itself
# --------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["cryptography", "OpenSSL", "pylibsrtp", "aioice"])
def test_webrtc_transport_without_the_extra_says_which_extra_to_install(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from adk_realtime.openai import OpenAIRealtimeModel

    monkeypatch.setitem(sys.modules, module, None)  # as on a core install: import fails
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'adk-realtime\[webrtc\]'") as info:
        OpenAIRealtimeModel("sk-test", transport="webrtc")
    assert info.value.name == module


def test_runner_keywords_from_other_frameworks_get_a_did_you_mean() -> None:
    from adk_realtime import RealtimeRunner

    with pytest.raises(TypeError, match=r"did you mean RealtimeRunner\(agent=\.\.\.\)"):
        RealtimeRunner(starting_agent=object())  # type: ignore[call-arg]
