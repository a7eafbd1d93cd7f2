"""Typed provider-only options: what only ``RealtimeConfig.extra`` reached before.

``RealtimeConfig(openai=OpenAIOptions(...), gemini=GeminiOptions(...))``. Each
sub-config is namespaced by its provider: the OpenAI protocol reads only
``config.openai`` and the Gemini protocol only ``config.gemini``, so one config
serves both providers (a handoff, a fallback) and the other provider's options
are ignored by design. Every value is checked when the object is built; a bad one
raises :class:`~adk_realtime.sansio.errors.ConfigError` naming the field
(``openai.noise_reduction``, ``gemini.context_compression.target_tokens``...).

The wire shapes (GA and beta OpenAI, Gemini ``setup``) are built by
:func:`adk_realtime.sansio.openai.wire.session_object` and
:func:`adk_realtime.sansio.gemini.options.apply_gemini_options`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adk_realtime.sansio.errors import ConfigError

__all__ = ["NOISE_REDUCTION", "ContextCompression", "GeminiOptions", "OpenAIOptions"]

NOISE_REDUCTION = ("near_field", "far_field", "off")
"""``near_field`` (headsets), ``far_field`` (laptop or room microphones), ``off``."""

# ISO-639-1 ("en") for OpenAI's transcription, BCP-47 ("en-US") for Gemini's speech.
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def _optional_text(field: str, value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(field, f"must be a non-empty string or None, got {value!r}")


def _language(field: str, value: object) -> None:
    _optional_text(field, value)
    if isinstance(value, str) and not _LANGUAGE.fullmatch(value):
        raise ConfigError(field, f"must be a language code such as 'en' or 'en-US', got {value!r}")


def _optional_bool(field: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigError(field, f"must be True, False or None, got {value!r}")


def _positive_int(field: str, value: object) -> None:
    if value is not None and (type(value) is not int or value <= 0):
        raise ConfigError(field, f"must be a positive int or None, got {value!r}")


@dataclass(frozen=True, slots=True)
class OpenAIOptions:
    """OpenAI Realtime only (ignored by Gemini). ``None``: the server's default.

    ``noise_reduction``: input noise reduction, one of :data:`NOISE_REDUCTION`
    (``"off"`` turns it off explicitly). ``transcription_language`` (ISO-639-1,
    e.g. ``"en"``) and ``transcription_prompt`` guide input transcription and need
    ``RealtimeConfig(input_transcription=True)``; its model is
    ``RealtimeConfig.input_transcription_model``.
    """

    noise_reduction: str | None = None
    transcription_language: str | None = None
    transcription_prompt: str | None = None

    def __post_init__(self) -> None:
        if self.noise_reduction is not None and self.noise_reduction not in NOISE_REDUCTION:
            raise ConfigError(
                "openai.noise_reduction",
                f"must be one of {NOISE_REDUCTION} or None, got {self.noise_reduction!r}",
            )
        _language("openai.transcription_language", self.transcription_language)
        _optional_text("openai.transcription_prompt", self.transcription_prompt)


@dataclass(frozen=True, slots=True)
class ContextCompression:
    """Gemini context-window compression: once the context reaches ``trigger_tokens``
    the server drops the oldest turns down to ``target_tokens`` (a sliding window).
    ``None``: the server's default for that value."""

    trigger_tokens: int | None = None
    target_tokens: int | None = None

    def __post_init__(self) -> None:
        _positive_int("gemini.context_compression.trigger_tokens", self.trigger_tokens)
        _positive_int("gemini.context_compression.target_tokens", self.target_tokens)
        if (
            self.trigger_tokens is not None
            and self.target_tokens is not None
            and self.target_tokens >= self.trigger_tokens
        ):
            raise ConfigError(
                "gemini.context_compression.target_tokens",
                f"must be below trigger_tokens ({self.trigger_tokens}), got {self.target_tokens}",
            )


@dataclass(frozen=True, slots=True)
class GeminiOptions:
    """Gemini Live only (ignored by OpenAI). ``None``: the server's default.

    ``language_code``: the language the model speaks (BCP-47, e.g. ``"en-US"``);
    ``affective_dialog``: adapt the tone to the user's; ``proactive_audio``: the model
    may stay silent when the input is not meant for it; ``context_compression``:
    replaces the protocol's ``context_window_compression`` for this setup.
    """

    language_code: str | None = None
    affective_dialog: bool | None = None
    proactive_audio: bool | None = None
    context_compression: ContextCompression | None = None

    def __post_init__(self) -> None:
        _language("gemini.language_code", self.language_code)
        _optional_bool("gemini.affective_dialog", self.affective_dialog)
        _optional_bool("gemini.proactive_audio", self.proactive_audio)
        if self.context_compression is not None and not isinstance(
            self.context_compression, ContextCompression
        ):
            raise ConfigError(
                "gemini.context_compression",
                f"expected ContextCompression, got {type(self.context_compression).__name__}",
            )
