"""adk-realtime: real-time, two-way voice for AI agents.

The common names are importable from here; they load lazily (PEP 562) so that
``import adk_realtime.sansio.openai`` pulls in no I/O library.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    # sans-IO core
    "RealtimeConfig": "adk_realtime.sansio.config",
    "VadConfig": "adk_realtime.sansio.config",
    "VadMode": "adk_realtime.sansio.config",
    "AudioFormat": "adk_realtime.sansio.config",
    "AudioEncoding": "adk_realtime.sansio.config",
    "ToolDefinition": "adk_realtime.sansio.config",
    "ToolResponse": "adk_realtime.sansio.events",
    "ServerEvent": "adk_realtime.sansio.events",
    "ClientEvent": "adk_realtime.sansio.events",
    "RealtimeError": "adk_realtime.sansio.errors",
    "ProtocolError": "adk_realtime.sansio.errors",
    "ConfigError": "adk_realtime.sansio.errors",
    "AuthError": "adk_realtime.sansio.errors",
    "ConnectionClosed": "adk_realtime.sansio.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'adk_realtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
