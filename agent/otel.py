"""OpenTelemetry traces and metrics of a run, with the GenAI semantic conventions.

``RealtimeRunner(..., observers=[OpenTelemetryObserver()])`` (the ``otel`` extra). One
observer may watch many runs. Nothing is imported, and nothing happens, unless one is
made; :func:`opentelemetry_observers` gives ``[]`` when the extra is not installed.

Spans (children of the session span):

* the session: ``invoke_agent <agent>`` (``realtime <model>`` without an agent), from
  run start to end, with ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.operation.name`` and, at the end, the run's token usage
  (``gen_ai.usage.input_tokens``/``output_tokens``/``cache_read.input_tokens`` and
  ``adk_realtime.usage.*`` for the text/audio/image splits);
* each turn: ``turn``, from the end of the user's speech (or the text sent) to the
  first model audio or text, with ``adk_realtime.turn.time_to_first_audio_ms``;
* each tool call: ``execute_tool <name>`` with ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id``; an error output sets the span's status to error;
* each handoff: ``handoff <from> -> <to>``; each transparent reconnect or rollover:
  ``reconnect``.

Each response's usage is an event (``gen_ai.response.done``) on the session span.
Metrics: ``adk_realtime.time_to_first_audio`` (histogram, seconds) and
``adk_realtime.tokens`` (counter, by ``gen_ai.token.type`` input/output and
``adk_realtime.token.modality`` text/audio/image; the cached part of the input is
counted apart as type ``cache_read``, so input + output is the total).

No secret is ever an attribute: API keys, headers and resumption handles are never
read; tool arguments and results are recorded only with ``capture_tool_content=True``.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from adk_realtime.agent_events import (
    AgentEvent,
    Handoff,
    RealtimeEvent,
    ToolCallCompleted,
    ToolCallStarted,
    ToolCallTimedOut,
    TurnMetrics,
)
from adk_realtime.sansio import events as ev

if TYPE_CHECKING:  # the opentelemetry packages are optional (the otel extra)
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from adk_realtime.runner import RealtimeRunner

_USAGE_SPLITS = (
    ("input_text_tokens", "input", "text"),
    ("input_audio_tokens", "input", "audio"),
    ("input_image_tokens", "input", "image"),
    ("cached_input_tokens", "cache_read", "any"),  # a part of the input (not added again)
    ("output_text_tokens", "output", "text"),
    ("output_audio_tokens", "output", "audio"),
)


class OpenTelemetryObserver:
    """Traces and metrics of each run (see the module doc): a run observer.

    ``tracer_provider`` / ``meter_provider``: where spans and metrics go (the global
    ones by default). ``capture_tool_content``: record tool arguments and results
    (``gen_ai.tool.call.arguments`` / ``.result``); off by default, as they may hold
    personal data. ``provider_name``: ``gen_ai.provider.name`` when the model is not
    one of ours (``openai``, ``gcp.gemini``, ``gcp.vertex_ai`` are found by themselves).
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_tool_content: bool = False,
        provider_name: str | None = None,
    ) -> None:
        try:  # lazily: the optional otel extra
            from opentelemetry import metrics, trace
        except ImportError as exc:
            raise ImportError(
                "OpenTelemetryObserver needs the otel extra: pip install 'adk-realtime[otel]'"
            ) from exc
        self._trace = trace
        self.tracer = trace.get_tracer("adk_realtime", tracer_provider=tracer_provider)
        meter = metrics.get_meter("adk_realtime", meter_provider=meter_provider)
        self.time_to_first_audio = meter.create_histogram(
            "adk_realtime.time_to_first_audio",
            unit="s",
            description="End of the user's turn to the first model audio (or text)",
        )
        self.tokens = meter.create_counter(
            "adk_realtime.tokens", unit="{token}", description="Tokens used, by type and modality"
        )
        self.capture_tool_content = capture_tool_content
        self.provider_name = provider_name

    def run_started(self, runner: RealtimeRunner) -> RunTrace:
        return RunTrace(self, runner)


def opentelemetry_observers(**options: Any) -> list[OpenTelemetryObserver]:
    """``[OpenTelemetryObserver(**options)]``, or ``[]`` when the otel extra is not
    installed: ``RealtimeRunner(..., observers=opentelemetry_observers())``."""
    try:
        return [OpenTelemetryObserver(**options)]
    except ImportError:
        return []


# The GenAI conventions' labels (gen_ai.provider.name, gen_ai.system) for a model's
# ``provider``: names only, no behaviour depends on them.
_LABELS = {"openai": ("openai", "openai"), "gemini": ("gcp.gemini", "gemini")}
_VERTEX_LABELS = ("gcp.vertex_ai", "vertex_ai")  # a Gemini backend with a cloud project


def provider_of(model: object) -> tuple[str, str]:
    """``(gen_ai.provider.name, gen_ai.system)`` of one of our models."""
    labels = _LABELS.get(str(getattr(model, "provider", "")), ("unknown", "unknown"))
    if getattr(getattr(model, "backend", None), "project", None):
        return _VERTEX_LABELS
    return labels


class RunTrace:
    """The spans and measurements of one run (a run listener)."""

    def __init__(self, observer: OpenTelemetryObserver, runner: RealtimeRunner) -> None:
        self._observer = observer
        trace = observer._trace
        provider, system = provider_of(runner.model)
        model = str(getattr(runner.model, "model_id", "") or "")
        self._common: dict[str, str] = {
            "gen_ai.provider.name": observer.provider_name or provider,
            "gen_ai.system": system,
        }
        if model:
            self._common["gen_ai.request.model"] = model
        agent = runner.active_agent.name if runner.active_agent is not None else ""
        attributes: dict[str, Any] = {**self._common}
        if agent:
            attributes |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent}
            name = f"invoke_agent {agent}"
        else:
            attributes["gen_ai.operation.name"] = "realtime"
            name = f"realtime {model}".strip()
        self._session: Span = observer.tracer.start_span(
            name, kind=trace.SpanKind.CLIENT, attributes=attributes
        )
        self._context = trace.set_span_in_context(self._session)
        self._tools: dict[str, Span] = {}
        self._agent = agent
        self._usage = ev.Usage()
        self._reconnects = 0

    # -------------------------------------------------------------- events

    def on_event(self, event: AgentEvent) -> None:
        if isinstance(event, RealtimeEvent):
            inner = event.event
            if isinstance(inner, ev.ResponseDone) and inner.usage is not None:
                self._count_usage(inner.usage)
            elif isinstance(inner, ev.SessionResumed):
                self._reconnects += 1
                self._instant("reconnect", {"adk_realtime.reconnect.count": self._reconnects})
            elif isinstance(inner, ev.ToolCallCancelled):
                for call_id in inner.call_ids:
                    self._end_tool(call_id, "cancelled")
            elif isinstance(inner, ev.Error) and not inner.benign:
                self._session.add_event("error", {"error.type": inner.code or "provider_error"})
        elif isinstance(event, TurnMetrics):
            self._turn(event.first_response_ms)
        elif isinstance(event, ToolCallStarted):
            self._start_tool(event)
        elif isinstance(event, ToolCallTimedOut):
            span = self._tools.get(event.call_id)
            if span is not None:
                span.add_event("timeout", {"adk_realtime.tool.timeout_s": event.timeout})
                span.set_attribute("error.type", "timeout")
        elif isinstance(event, ToolCallCompleted):
            span = self._tools.get(event.call_id)
            if span is not None and self._observer.capture_tool_content:
                span.set_attribute("gen_ai.tool.call.result", event.output)
            self._end_tool(event.call_id, "tool_error" if event.error else None)
        elif isinstance(event, Handoff):
            self._instant(
                f"handoff {event.from_agent} -> {event.to_agent}",
                {
                    "gen_ai.operation.name": "handoff",
                    "adk_realtime.handoff.from_agent": event.from_agent,
                    "adk_realtime.handoff.to_agent": event.to_agent,
                    "adk_realtime.handoff.voice_kept": event.voice_kept,
                },
            )
            self._agent = event.to_agent

    def run_ended(self, reason: str, error: BaseException | None) -> None:
        for call_id in list(self._tools):
            self._end_tool(call_id, "unfinished")
        usage = self._usage
        self._session.set_attributes(
            {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cached_input_tokens,
                **_split_attributes(usage),
                "adk_realtime.reconnects": self._reconnects,
            }
        )
        if error is not None:
            self._session.set_attribute("error.type", type(error).__qualname__)
            status = self._observer._trace.Status(self._observer._trace.StatusCode.ERROR)
            self._session.set_status(status)
        self._session.end()

    # -------------------------------------------------------------- parts

    def _attributes(self, extra: dict[str, Any]) -> dict[str, Any]:
        attributes: dict[str, Any] = {**self._common, **extra}
        if self._agent:
            attributes["gen_ai.agent.name"] = self._agent
        return attributes

    def _instant(self, name: str, attributes: dict[str, Any]) -> None:
        span = self._observer.tracer.start_span(
            name, context=self._context, attributes=self._attributes(attributes)
        )
        span.end()

    def _turn(self, latency_ms: float) -> None:
        end = time.time_ns()
        span = self._observer.tracer.start_span(
            "turn",
            context=self._context,
            start_time=end - int(latency_ms * 1_000_000),
            attributes=self._attributes({"adk_realtime.turn.time_to_first_audio_ms": latency_ms}),
        )
        span.end(end_time=end)
        self._observer.time_to_first_audio.record(latency_ms / 1000.0, self._common)

    def _start_tool(self, event: ToolCallStarted) -> None:
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.name,
            "gen_ai.tool.call.id": event.call_id,
            "gen_ai.tool.type": "function",
        }
        if self._observer.capture_tool_content:
            attributes["gen_ai.tool.call.arguments"] = event.arguments
        self._tools[event.call_id] = self._observer.tracer.start_span(
            f"execute_tool {event.name}",
            context=self._context,
            kind=self._observer._trace.SpanKind.INTERNAL,
            attributes=self._attributes(attributes),
        )

    def _end_tool(self, call_id: str, error_type: str | None) -> None:
        span = self._tools.pop(call_id, None)
        if span is None:
            return
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(self._observer._trace.Status(self._observer._trace.StatusCode.ERROR))
        span.end()

    def _count_usage(self, usage: ev.Usage) -> None:
        self._usage = ev.Usage(
            *(getattr(self._usage, f.name) + getattr(usage, f.name) for f in fields(ev.Usage))
        )
        self._session.add_event(
            "gen_ai.response.done",
            {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cached_input_tokens,
                **_split_attributes(usage),
            },
        )
        counter = self._observer.tokens
        for name, kind, modality in _USAGE_SPLITS:
            count = getattr(usage, name)
            if count:
                counter.add(
                    count,
                    {
                        **self._common,
                        "gen_ai.token.type": kind,
                        "adk_realtime.token.modality": modality,
                    },
                )


def _split_attributes(usage: ev.Usage) -> dict[str, int]:
    return {f"adk_realtime.usage.{name}": getattr(usage, name) for name, _, _ in _USAGE_SPLITS}


__all__ = ["OpenTelemetryObserver", "RunTrace", "opentelemetry_observers", "provider_of"]
