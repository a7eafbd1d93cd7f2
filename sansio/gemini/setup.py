"""The Gemini Live ``setup`` message body, built from a :class:`RealtimeConfig`.

Stateless: :class:`~adk_realtime.sansio.gemini.protocol.GeminiProtocol` calls
:func:`setup_object` on every ``start`` with what it holds (model, resumption
handle, compression). The typed :class:`~adk_realtime.sansio.provider_options.GeminiOptions`
(``config.gemini``) are applied by :func:`apply_gemini_options`, before
``RealtimeConfig.extra`` is merged, so ``extra`` still has the last word.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adk_realtime.sansio.config import AudioEncoding, RealtimeConfig
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.gemini.wire import function_declaration, realtime_input_config
from adk_realtime.sansio.json_fields import deep_merge

__all__ = ["apply_gemini_options", "compression_setting", "first_handle", "setup_object"]


def setup_object(
    config: RealtimeConfig,
    model: str,
    resumption_handle: str | None,
    *,
    transparent: bool,
    compression: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``setup`` object (a fresh dict) for ``config``: ``model`` (normalised), resuming
    from ``resumption_handle``, ``transparent`` resumption, the context window
    ``compression``. Raises ``ConfigError`` for a config Gemini cannot take."""
    for name in ("input_audio_format", "output_audio_format"):
        fmt = getattr(config, name)
        if fmt is not None and fmt.encoding is not AudioEncoding.PCM16:
            raise ConfigError(
                name,
                "Gemini Live speaks PCM16 only (16 kHz in, 24 kHz out); "
                "G.711 is an OpenAI format (adk_realtime.sansio.audio converts it)",
            )
    audio = config.wants_audio
    generation: dict[str, Any] = {"responseModalities": ["AUDIO" if audio else "TEXT"]}
    if audio and config.voice:
        generation["speechConfig"] = {
            "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": config.voice}}
        }
    if config.temperature is not None:
        generation["temperature"] = config.temperature
    if config.max_output_tokens is not None:
        generation["maxOutputTokens"] = config.max_output_tokens
    setup: dict[str, Any] = {"model": model, "generationConfig": generation}
    if config.instruction:
        setup["systemInstruction"] = {"parts": [{"text": config.instruction}]}
    # tool_choice "none" is honoured by not offering the tools; Gemini Live
    # has no setting for "required" or a forced tool.
    if config.tools and config.tool_choice != "none":
        setup["tools"] = [{"functionDeclarations": [function_declaration(t) for t in config.tools]}]
    realtime = realtime_input_config(config)
    if realtime:
        setup["realtimeInputConfig"] = realtime
    if config.input_transcription:
        setup["inputAudioTranscription"] = {}
    if config.output_transcription and audio:
        setup["outputAudioTranscription"] = {}
    resumption: dict[str, Any] = {} if resumption_handle is None else {"handle": resumption_handle}
    if transparent:
        resumption["transparent"] = True
    setup["sessionResumption"] = resumption
    if compression is not None:
        setup["contextWindowCompression"] = json.loads(json.dumps(compression))
    apply_gemini_options(setup, config)  # typed options before extra
    if config.extra:
        deep_merge(setup, config.extra)
    return setup


def apply_gemini_options(setup: dict[str, Any], config: RealtimeConfig) -> None:
    """Set the ``setup`` keys ``config.gemini`` asks for; leave the rest as it is.

    ``language_code`` -> ``generationConfig.speechConfig.languageCode``;
    ``affective_dialog`` -> ``generationConfig.enableAffectiveDialog``;
    ``proactive_audio`` -> ``proactivity.proactiveAudio``; ``context_compression``
    -> ``contextWindowCompression`` (``triggerTokens``, ``slidingWindow.targetTokens``),
    replacing the protocol's own compression setting.
    """
    options = config.gemini
    if options is None:
        return
    generation: dict[str, Any] = setup.setdefault("generationConfig", {})
    if options.language_code is not None:
        generation.setdefault("speechConfig", {})["languageCode"] = options.language_code
    if options.affective_dialog is not None:
        generation["enableAffectiveDialog"] = options.affective_dialog
    if options.proactive_audio is not None:
        setup["proactivity"] = {"proactiveAudio": options.proactive_audio}
    compression = options.context_compression
    if compression is not None:
        window: dict[str, Any] = {}
        if compression.target_tokens is not None:
            window["targetTokens"] = compression.target_tokens
        out: dict[str, Any] = {"slidingWindow": window}
        if compression.trigger_tokens is not None:
            out["triggerTokens"] = compression.trigger_tokens
        setup["contextWindowCompression"] = out


def compression_setting(setting: bool | Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``contextWindowCompression`` object a setting asks for (None: off)."""
    if setting is True:
        return {"slidingWindow": {}}
    if setting is False:
        return None
    if isinstance(setting, Mapping):
        return dict(setting)
    raise ConfigError("context_window_compression", "must be a bool or a dict")


def first_handle(resumption_handle: str | None, resume_handle: str | None) -> str | None:
    """The handle the first start() resumes from; ``resume_handle`` names one maybe
    saved by another process (an alias that must agree with ``resumption_handle``)."""
    field = "resumption_handle"
    if resume_handle is not None:
        if resumption_handle is not None and resumption_handle != resume_handle:
            raise ConfigError("resume_handle", "differs from resumption_handle")
        field, resumption_handle = "resume_handle", resume_handle
    if resumption_handle is not None and (
        not isinstance(resumption_handle, str) or not resumption_handle
    ):
        raise ConfigError(field, f"must be a non-empty string, got {resumption_handle!r}")
    return resumption_handle
