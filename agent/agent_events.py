"""What a running conversation reports: the agent events and the runner's metrics.

:class:`~adk_realtime.runner.RealtimeRunner` hands every agent event to its
``agent_event_sink``; ``agent.run(ctx)`` yields them. A tool call is reported as
``ToolCallStarted``, then (when it timed out) ``ToolCallTimedOut``, then
``ToolCallCompleted`` with the output the model received; a call the provider
cancelled (Gemini) ends without ``ToolCallCompleted``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from adk_realtime.sansio import events as ev


@dataclass(frozen=True, slots=True)
class RealtimeEvent:
    """A provider event, as the runner saw it."""

    event: ev.ServerEvent


@dataclass(frozen=True, slots=True)
class AgentStarted:
    agent: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentEnded:
    agent: str
    reason: str


@dataclass(frozen=True, slots=True)
class Handoff:
    from_agent: str
    to_agent: str
    voice_kept: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallCompleted:
    """The model got ``output`` for the call (``error``: an error output)."""

    call_id: str
    name: str
    output: str
    error: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallTimedOut:
    """The tool did not finish within ``timeout`` seconds: it was cancelled (an async
    tool) or abandoned (a sync tool's thread runs on, its result discarded), and the
    model gets an error output (the ``ToolCallCompleted`` that follows)."""

    call_id: str
    name: str
    timeout: float


@dataclass(frozen=True, slots=True)
class AudioInterrupted:
    """The user barged in: stop playing ``item_id``; ``played_ms`` is what was heard."""

    item_id: str
    played_ms: int
    truncated: bool


@dataclass(frozen=True, slots=True)
class TurnMetrics:
    """Latency of one turn: end of user speech (or text sent) to first model audio/text."""

    first_response_ms: float
    usage: ev.Usage | None = None


AgentEvent = (
    RealtimeEvent
    | AgentStarted
    | AgentEnded
    | Handoff
    | ToolCallStarted
    | ToolCallCompleted
    | ToolCallTimedOut
    | AudioInterrupted
    | TurnMetrics
)


def is_audio(event: AgentEvent) -> bool:
    """Model audio: the only agent event a consumer that falls behind may lose."""
    return isinstance(event, RealtimeEvent) and isinstance(event.event, ev.AudioDelta)


@dataclass
class RunnerMetrics:
    """Counters of one run (``runner.metrics``)."""

    turns: list[float] = field(default_factory=list)  # recent first-response latencies, ms
    turn_count: int = 0  # every turn measured, also those no longer in ``turns``
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    # The token splits (see ``ev.Usage``): parts of input_tokens / output_tokens.
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    cached_input_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    tool_calls: int = 0
    tool_timeouts: int = 0  # tool calls answered with a timeout error
    interruptions: int = 0
    handoffs: int = 0
    dropped_audio_events: int = 0
    """Model-audio agent events ``agent.run(ctx)`` dropped because its consumer fell
    behind (the event handler still got them); no other agent event is ever dropped."""

    def add_usage(self, usage: ev.Usage) -> None:
        """Count one response's tokens in."""
        for name in _USAGE_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(usage, name))

    @property
    def dropped_agent_events(self) -> int:
        """Agent events dropped: only audio ever is (:attr:`dropped_audio_events`)."""
        return self.dropped_audio_events


_USAGE_FIELDS = tuple(f.name for f in fields(ev.Usage))

__all__ = [
    "AgentEnded",
    "AgentEvent",
    "AgentStarted",
    "AudioInterrupted",
    "Handoff",
    "RealtimeEvent",
    "RunnerMetrics",
    "ToolCallCompleted",
    "ToolCallStarted",
    "ToolCallTimedOut",
    "TurnMetrics",
    "is_audio",
]
