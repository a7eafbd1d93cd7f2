"""The Gemini ``setup`` fields of :class:`~adk_realtime.sansio.provider_options.GeminiOptions`.

Stateless: :func:`apply_gemini_options` writes ``config.gemini`` into a setup object
built by :class:`~adk_realtime.sansio.gemini.protocol.GeminiProtocol` (before
``RealtimeConfig.extra`` is merged, so ``extra`` still has the last word).
"""

from __future__ import annotations

from typing import Any

from adk_realtime.sansio.config import RealtimeConfig

__all__ = ["apply_gemini_options"]


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
