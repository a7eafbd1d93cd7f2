"""Typed provider options (issue 18 item 6): validation, the wire shapes (checked strictly
against the official SDK types, GA and beta OpenAI, Gemini), the simulator takes them,
and each provider ignores the other's options."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.gemini import GeminiProtocol
from adk_realtime.sansio.openai import OpenAIProtocol
from adk_realtime.sansio.provider_options import ContextCompression, GeminiOptions, OpenAIOptions
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests import oracles_gemini, oracles_openai
from tests.test_simulator import Client

GEMINI_MODEL = "models/gemini-live-2.5-flash"


def _openai_session(config: RealtimeConfig, model: str) -> dict[str, Any]:
    proto = OpenAIProtocol(model)
    proto.start(config)
    (update,) = proto.data_to_send()
    oracles_openai.validate_client(proto.dialect, update)
    session: dict[str, Any] = json.loads(update)["session"]
    return session


def _gemini_setup(config: RealtimeConfig, **kwargs: Any) -> dict[str, Any]:
    proto = GeminiProtocol(GEMINI_MODEL, **kwargs)
    proto.start(config)
    (setup,) = proto.data_to_send()
    oracles_gemini.validate_client(setup)
    result: dict[str, Any] = json.loads(setup)["setup"]
    return result


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: OpenAIOptions(noise_reduction="loud"), "openai.noise_reduction"),
        (lambda: OpenAIOptions(transcription_language="english!"), "openai.transcription_language"),
        (lambda: OpenAIOptions(transcription_prompt=""), "openai.transcription_prompt"),
        (lambda: OpenAIOptions(transcription_prompt=3), "openai.transcription_prompt"),
        (lambda: GeminiOptions(language_code="en_US"), "gemini.language_code"),
        (lambda: GeminiOptions(affective_dialog="yes"), "gemini.affective_dialog"),
        (lambda: GeminiOptions(proactive_audio=1), "gemini.proactive_audio"),
        (lambda: GeminiOptions(context_compression={}), "gemini.context_compression"),
        (
            lambda: ContextCompression(trigger_tokens=0),
            "gemini.context_compression.trigger_tokens",
        ),
        (
            lambda: ContextCompression(target_tokens=True),
            "gemini.context_compression.target_tokens",
        ),
        (
            lambda: ContextCompression(trigger_tokens=1000, target_tokens=1000),
            "gemini.context_compression.target_tokens",
        ),
        (lambda: RealtimeConfig(openai=GeminiOptions()), "openai"),
        (lambda: RealtimeConfig(gemini={"language_code": "en"}), "gemini"),
        (
            lambda: RealtimeConfig(openai=OpenAIOptions(transcription_prompt="names: Ada")),
            "openai.transcription_prompt",
        ),
    ],
)
def test_a_bad_option_is_a_config_error_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field
    assert field in str(info.value)


def test_openai_ga_options_map_to_audio_input() -> None:
    config = RealtimeConfig(
        input_transcription=True,
        input_transcription_model="gpt-4o-transcribe",
        openai=OpenAIOptions(
            noise_reduction="far_field",
            transcription_language="fr",
            transcription_prompt="Paris, Lyon",
        ),
    )
    audio_in = _openai_session(config, "gpt-realtime")["audio"]["input"]
    assert audio_in["noise_reduction"] == {"type": "far_field"}
    assert audio_in["transcription"] == {
        "model": "gpt-4o-transcribe",
        "language": "fr",
        "prompt": "Paris, Lyon",
    }


def test_openai_beta_options_map_to_flat_session_fields() -> None:
    config = RealtimeConfig(
        input_transcription=True,
        openai=OpenAIOptions(noise_reduction="near_field", transcription_language="de"),
    )
    session = _openai_session(config, "gpt-4o-realtime-preview")
    assert session["input_audio_noise_reduction"] == {"type": "near_field"}
    assert session["input_audio_transcription"] == {
        "model": "gpt-4o-mini-transcribe",
        "language": "de",
    }


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-4o-realtime-preview"])
def test_openai_noise_reduction_off_is_an_explicit_null(model: str) -> None:
    session = _openai_session(RealtimeConfig(openai=OpenAIOptions(noise_reduction="off")), model)
    if "audio" in session:
        assert session["audio"]["input"]["noise_reduction"] is None
    else:
        assert session["input_audio_noise_reduction"] is None
    # No options: nothing is said (the server keeps its setting).
    plain = json.dumps(_openai_session(RealtimeConfig(), model))
    assert "noise_reduction" not in plain and "language" not in plain


def test_gemini_options_map_to_the_setup() -> None:
    config = RealtimeConfig(
        voice="Kore",
        gemini=GeminiOptions(
            language_code="en-US",
            affective_dialog=True,
            proactive_audio=True,
            context_compression=ContextCompression(trigger_tokens=25600, target_tokens=12800),
        ),
    )
    setup = _gemini_setup(config)
    generation = setup["generationConfig"]
    assert generation["speechConfig"] == {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}},
        "languageCode": "en-US",
    }
    assert generation["enableAffectiveDialog"] is True
    assert setup["proactivity"] == {"proactiveAudio": True}
    assert setup["contextWindowCompression"] == {
        "triggerTokens": 25600,
        "slidingWindow": {"targetTokens": 12800},
    }


def test_gemini_compression_option_replaces_the_protocol_setting() -> None:
    config = RealtimeConfig(gemini=GeminiOptions(context_compression=ContextCompression()))
    setup = _gemini_setup(config, context_window_compression=False)
    assert setup["contextWindowCompression"] == {"slidingWindow": {}}
    assert "contextWindowCompression" in _gemini_setup(RealtimeConfig())  # default kept
    assert "contextWindowCompression" not in _gemini_setup(
        RealtimeConfig(), context_window_compression=False
    )


def test_each_provider_ignores_the_other_providers_options() -> None:
    both = RealtimeConfig(
        input_transcription=True,
        openai=OpenAIOptions(noise_reduction="near_field", transcription_language="en"),
        gemini=GeminiOptions(language_code="en-GB", proactive_audio=False),
    )
    assert _gemini_setup(both) == _gemini_setup(both.replace(openai=None))
    assert _openai_session(both, "gpt-realtime") == _openai_session(
        both.replace(gemini=None), "gpt-realtime"
    )


def test_extra_still_has_the_last_word() -> None:
    config = RealtimeConfig(
        gemini=GeminiOptions(proactive_audio=True),
        extra={"proactivity": {"proactiveAudio": False}},
    )
    assert _gemini_setup(config)["proactivity"] == {"proactiveAudio": False}


def test_the_simulator_takes_the_options() -> None:
    openai_config = RealtimeConfig(
        input_transcription=True,
        openai=OpenAIOptions(noise_reduction="far_field", transcription_prompt="Ada"),
    )
    for model, headers in (
        ("gpt-realtime", []),
        ("gpt-4o-realtime-preview", [("OpenAI-Beta", "realtime=v1")]),
    ):
        client = Client(SimulatorHub(pace=0), model=model, headers=headers)
        client.send({"type": "session.update", "session": _openai_session(openai_config, model)})
        assert client.log[-1]["type"] == "session.updated", client.log[-1]
    gemini = Client(SimulatorHub(pace=0), "gemini")
    config = RealtimeConfig(
        gemini=GeminiOptions(
            language_code="en-US",
            affective_dialog=True,
            proactive_audio=True,
            context_compression=ContextCompression(trigger_tokens=2000, target_tokens=1000),
        )
    )
    gemini.send({"setup": _gemini_setup(config)})
    assert "setupComplete" in gemini.log[0]
