"""OpenAI Realtime: the client codec (GA and beta dialects) and its wire helpers.

The implementation lives in the submodules; this package re-exports their public names."""

from adk_realtime.sansio.openai.protocol import (
    MAX_PENDING_CALLS as MAX_PENDING_CALLS,
    MAX_TRACKED_ITEMS as MAX_TRACKED_ITEMS,
    Dialect as Dialect,
    OpenAIProtocol as OpenAIProtocol,
    PendingCall as PendingCall,
    dialect_for_model as dialect_for_model,
)

__all__ = [
    "MAX_PENDING_CALLS",
    "MAX_TRACKED_ITEMS",
    "Dialect",
    "OpenAIProtocol",
    "PendingCall",
    "dialect_for_model",
]
