"""The simulator: the server side of both providers, scripted, for offline tests and demos.

The implementation lives in the submodules; this package re-exports their public names."""

from adk_realtime.sansio.sim.hub import (
    CallTool as CallTool,
    CallTools as CallTools,
    EnergyVad as EnergyVad,
    GeminiSimSession as GeminiSimSession,
    InputLedger as InputLedger,
    OpenAISimSession as OpenAISimSession,
    Reply as Reply,
    Say as Say,
    SimSession as SimSession,
    SimSessionClosed as SimSessionClosed,
    SimStats as SimStats,
    SimulatorBrain as SimulatorBrain,
    SimulatorHub as SimulatorHub,
    SpeechRecognizer as SpeechRecognizer,
    ToolSpec as ToolSpec,
    Turn as Turn,
    speech_duration as speech_duration,
    synthesize_speech as synthesize_speech,
)

__all__ = [
    "CallTool",
    "CallTools",
    "EnergyVad",
    "GeminiSimSession",
    "InputLedger",
    "OpenAISimSession",
    "Reply",
    "Say",
    "SimSession",
    "SimSessionClosed",
    "SimStats",
    "SimulatorBrain",
    "SimulatorHub",
    "SpeechRecognizer",
    "ToolSpec",
    "Turn",
    "speech_duration",
    "synthesize_speech",
]
