"""adk-realtime: real-time, two-way voice for AI agents.

The common names are importable from here; they load lazily (PEP 562) so that
``import adk_realtime.sansio.openai.protocol`` pulls in no I/O library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "History": "adk_realtime.sansio.history",
    "HistoryMessage": "adk_realtime.sansio.history",
    "HistoryFunctionCall": "adk_realtime.sansio.history",
    "HistoryFunctionOutput": "adk_realtime.sansio.history",
    "HistoryItem": "adk_realtime.sansio.history",
    "HistoryLimits": "adk_realtime.sansio.history",
    "ServerEvent": "adk_realtime.sansio.events",
    "ClientEvent": "adk_realtime.sansio.events",
    "RealtimeError": "adk_realtime.sansio.errors",
    "ProtocolError": "adk_realtime.sansio.errors",
    "ConfigError": "adk_realtime.sansio.errors",
    "AuthError": "adk_realtime.sansio.errors",
    "ConnectionClosed": "adk_realtime.sansio.errors",
    "MessageTooLargeToSend": "adk_realtime.sansio.errors",
    "OpenAIOptions": "adk_realtime.sansio.provider_options",
    "GeminiOptions": "adk_realtime.sansio.provider_options",
    "ContextCompression": "adk_realtime.sansio.provider_options",
    # session and models
    "RealtimeSession": "adk_realtime.session",
    "SessionOptions": "adk_realtime.session",
    "RealtimeModel": "adk_realtime.models",
    "OpenAIRealtimeModel": "adk_realtime.openai",
    "GeminiRealtimeModel": "adk_realtime.gemini",
    "GeminiLiveBackend": "adk_realtime.gemini",
    "WebRTCOptions": "adk_realtime.webrtc_link",
    # agent layer
    "Agent": "adk_realtime.agent",
    "RealtimeAgent": "adk_realtime.agent",
    "RealtimeAgentBuilder": "adk_realtime.agent",
    "CallbackContext": "adk_realtime.agent",
    "RefuseTool": "adk_realtime.agent",
    "RealtimeRunner": "adk_realtime.runner",
    "RealtimeRunnerBuilder": "adk_realtime.runner",
    "EventHandler": "adk_realtime.runner",
    "RunContext": "adk_realtime.runner",
    "PlaybackTracker": "adk_realtime.playback",
    "Recording": "adk_realtime.recording",
    "RecordingReport": "adk_realtime.recording",
    "RunnerMetrics": "adk_realtime.runner",
    "AgentEvent": "adk_realtime.runner",
    "RealtimeEvent": "adk_realtime.runner",
    "AgentStarted": "adk_realtime.runner",
    "AgentEnded": "adk_realtime.runner",
    "ToolCallStarted": "adk_realtime.runner",
    "ToolCallCompleted": "adk_realtime.runner",
    "ToolCallTimedOut": "adk_realtime.agent_events",
    "ToolTimeoutError": "adk_realtime.tool_runner",
    "AgentRun": "adk_realtime.agent_run",
    "TurnMetrics": "adk_realtime.runner",
    "AudioInterrupted": "adk_realtime.runner",
    "Handoff": "adk_realtime.runner",
    "function_tool": "adk_realtime.tools",
    "FunctionTool": "adk_realtime.tools",
    "Tool": "adk_realtime.tools",
    "ToolContext": "adk_realtime.tools",
    # phone calls
    "bridge_call": "adk_realtime.call_bridge",
    "BridgeOptions": "adk_realtime.call_bridge",
    "CallInfo": "adk_realtime.call_bridge",
    "CallSummary": "adk_realtime.call_bridge",
    "CarrierSocket": "adk_realtime.call_bridge",
    "CallStartError": "adk_realtime.call_bridge",
    "CallStartTimeout": "adk_realtime.call_bridge",
    "CallControl": "adk_realtime.call_control",
    "transfer_call_tool": "adk_realtime.call_control",
    # serving
    "CallObserver": "adk_realtime.call_observer",
    "NullObserver": "adk_realtime.call_observer",
    "WorkerInfo": "adk_realtime.serving",
    # SIP calls
    "SipServer": "adk_realtime.sip_server",
    "serve_sip": "adk_realtime.sip_server",
    # MCP tools (the mcp extra) and OpenTelemetry (the otel extra)
    "MCPServerStdio": "adk_realtime.mcp",
    "MCPServerHTTP": "adk_realtime.mcp",
    "MCPServerError": "adk_realtime.mcp",
    "OpenTelemetryObserver": "adk_realtime.otel",
}

# Every unified server/client event class is importable from the top too
# (``from adk_realtime import AudioDelta``).
_EVENT_NAMES = (
    "SessionCreated SessionUpdated AudioDelta AudioDone TextDelta TextDone TranscriptDelta "
    "TranscriptDone InputTranscriptDelta InputTranscriptDone FunctionCallDelta FunctionCallDone "
    "ResponseCreated ResponseDone Usage SpeechStarted SpeechStopped AudioCommitted AudioCleared "
    "OutputAudioCleared Interrupted ItemCreated ItemTruncated ItemDeleted TurnComplete "
    "GenerationComplete ToolCallCancelled GoAway SessionResumptionUpdate SessionResumed "
    "RateLimitsUpdated Error Unknown SessionUpdate AudioAppend InputAudioBufferAppend AudioCommit "
    "AudioClear ItemCreate ResponseCreate ResponseCancel ItemTruncate"
).split()
_EXPORTS.update(dict.fromkeys(_EVENT_NAMES, "adk_realtime.sansio.events"))

if TYPE_CHECKING:  # explicit imports so type checkers see the real types
    from adk_realtime.agent import (
        Agent as Agent,
        CallbackContext as CallbackContext,
        RealtimeAgent as RealtimeAgent,
        RealtimeAgentBuilder as RealtimeAgentBuilder,
        RefuseTool as RefuseTool,
    )
    from adk_realtime.agent_events import ToolCallTimedOut as ToolCallTimedOut
    from adk_realtime.agent_run import AgentRun as AgentRun
    from adk_realtime.call_bridge import (
        BridgeOptions as BridgeOptions,
        CallInfo as CallInfo,
        CallStartError as CallStartError,
        CallStartTimeout as CallStartTimeout,
        CallSummary as CallSummary,
        CarrierSocket as CarrierSocket,
        bridge_call as bridge_call,
    )
    from adk_realtime.call_control import (
        CallControl as CallControl,
        transfer_call_tool as transfer_call_tool,
    )
    from adk_realtime.call_observer import (
        CallObserver as CallObserver,
        NullObserver as NullObserver,
    )
    from adk_realtime.gemini import (
        GeminiLiveBackend as GeminiLiveBackend,
        GeminiRealtimeModel as GeminiRealtimeModel,
    )
    from adk_realtime.mcp import (
        MCPServerError as MCPServerError,
        MCPServerHTTP as MCPServerHTTP,
        MCPServerStdio as MCPServerStdio,
    )
    from adk_realtime.models import (
        RealtimeModel as RealtimeModel,
    )
    from adk_realtime.openai import (
        OpenAIRealtimeModel as OpenAIRealtimeModel,
    )
    from adk_realtime.otel import OpenTelemetryObserver as OpenTelemetryObserver
    from adk_realtime.playback import PlaybackTracker as PlaybackTracker
    from adk_realtime.recording import (
        Recording as Recording,
        RecordingReport as RecordingReport,
    )
    from adk_realtime.runner import (
        AgentEnded as AgentEnded,
        AgentEvent as AgentEvent,
        AgentStarted as AgentStarted,
        AudioInterrupted as AudioInterrupted,
        EventHandler as EventHandler,
        Handoff as Handoff,
        RealtimeEvent as RealtimeEvent,
        RealtimeRunner as RealtimeRunner,
        RealtimeRunnerBuilder as RealtimeRunnerBuilder,
        RunContext as RunContext,
        RunnerMetrics as RunnerMetrics,
        ToolCallCompleted as ToolCallCompleted,
        ToolCallStarted as ToolCallStarted,
        TurnMetrics as TurnMetrics,
    )
    from adk_realtime.sansio.config import (
        AudioEncoding as AudioEncoding,
        AudioFormat as AudioFormat,
        RealtimeConfig as RealtimeConfig,
        ToolDefinition as ToolDefinition,
        VadConfig as VadConfig,
        VadMode as VadMode,
    )
    from adk_realtime.sansio.errors import (
        AuthError as AuthError,
        ConfigError as ConfigError,
        ConnectionClosed as ConnectionClosed,
        MessageTooLargeToSend as MessageTooLargeToSend,
        ProtocolError as ProtocolError,
        RealtimeError as RealtimeError,
    )
    from adk_realtime.sansio.events import (
        AudioAppend as AudioAppend,
        AudioClear as AudioClear,
        AudioCleared as AudioCleared,
        AudioCommit as AudioCommit,
        AudioCommitted as AudioCommitted,
        AudioDelta as AudioDelta,
        AudioDone as AudioDone,
        ClientEvent as ClientEvent,
        Error as Error,
        FunctionCallDelta as FunctionCallDelta,
        FunctionCallDone as FunctionCallDone,
        GenerationComplete as GenerationComplete,
        GoAway as GoAway,
        InputAudioBufferAppend as InputAudioBufferAppend,
        InputTranscriptDelta as InputTranscriptDelta,
        InputTranscriptDone as InputTranscriptDone,
        Interrupted as Interrupted,
        ItemCreate as ItemCreate,
        ItemCreated as ItemCreated,
        ItemDeleted as ItemDeleted,
        ItemTruncate as ItemTruncate,
        ItemTruncated as ItemTruncated,
        OutputAudioCleared as OutputAudioCleared,
        RateLimitsUpdated as RateLimitsUpdated,
        ResponseCancel as ResponseCancel,
        ResponseCreate as ResponseCreate,
        ResponseCreated as ResponseCreated,
        ResponseDone as ResponseDone,
        ServerEvent as ServerEvent,
        SessionCreated as SessionCreated,
        SessionResumed as SessionResumed,
        SessionResumptionUpdate as SessionResumptionUpdate,
        SessionUpdate as SessionUpdate,
        SessionUpdated as SessionUpdated,
        SpeechStarted as SpeechStarted,
        SpeechStopped as SpeechStopped,
        TextDelta as TextDelta,
        TextDone as TextDone,
        ToolCallCancelled as ToolCallCancelled,
        ToolResponse as ToolResponse,
        TranscriptDelta as TranscriptDelta,
        TranscriptDone as TranscriptDone,
        TurnComplete as TurnComplete,
        Unknown as Unknown,
        Usage as Usage,
    )
    from adk_realtime.sansio.history import (
        History as History,
        HistoryFunctionCall as HistoryFunctionCall,
        HistoryFunctionOutput as HistoryFunctionOutput,
        HistoryItem as HistoryItem,
        HistoryLimits as HistoryLimits,
        HistoryMessage as HistoryMessage,
    )
    from adk_realtime.sansio.provider_options import (
        ContextCompression as ContextCompression,
        GeminiOptions as GeminiOptions,
        OpenAIOptions as OpenAIOptions,
    )
    from adk_realtime.serving import WorkerInfo as WorkerInfo
    from adk_realtime.session import (
        RealtimeSession as RealtimeSession,
        SessionOptions as SessionOptions,
    )
    from adk_realtime.sip_server import SipServer as SipServer, serve_sip as serve_sip
    from adk_realtime.tool_runner import ToolTimeoutError as ToolTimeoutError
    from adk_realtime.tools import (
        FunctionTool as FunctionTool,
        Tool as Tool,
        ToolContext as ToolContext,
        function_tool as function_tool,
    )
    from adk_realtime.webrtc_link import (
        WebRTCOptions as WebRTCOptions,
    )

__all__ = sorted(_EXPORTS)
__version__: str  # the package's version (a module __getattr__ fills it in on first use)


def _version() -> str:
    """The installed distribution's version; from a source tree that was never
    installed, the one ``pyproject.toml`` declares; else ``0+unknown``."""
    from importlib import metadata

    try:
        return metadata.version("adk-realtime")
    except metadata.PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    try:
        with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as f:
            project = tomllib.load(f).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return "0+unknown"
    version = project.get("version") if project.get("name") == "adk-realtime" else None
    return version if isinstance(version, str) else "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":  # computed on first use: importing stays cheap
        version = globals()["__version__"] = _version()
        return version
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'adk_realtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})
