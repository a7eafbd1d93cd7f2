"""Gemini Live (BidiGenerateContent): the client codec and its wire helpers.

The implementation lives in the submodules; this package re-exports their public names."""

from adk_realtime.sansio.gemini.protocol import (
    CAPABILITIES as CAPABILITIES,
    INPUT_AUDIO_FORMAT as INPUT_AUDIO_FORMAT,
    INPUT_MIME_TYPE as INPUT_MIME_TYPE,
    OUTPUT_AUDIO_FORMAT as OUTPUT_AUDIO_FORMAT,
    GeminiProtocol as GeminiProtocol,
    normalize_model as normalize_model,
)

__all__ = [
    "CAPABILITIES",
    "INPUT_AUDIO_FORMAT",
    "INPUT_MIME_TYPE",
    "OUTPUT_AUDIO_FORMAT",
    "GeminiProtocol",
    "normalize_model",
]
