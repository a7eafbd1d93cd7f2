"""OpenTelemetry: the spans and metrics of a run against the simulator, read back with
the SDK's in-memory exporter and reader, under asyncio and trio."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from adk_realtime import (
    EventHandler,
    GeminiLiveBackend,
    GeminiRealtimeModel,
    OpenAIRealtimeModel,
    RealtimeAgent,
    RealtimeRunner,
    function_tool,
)
from adk_realtime.agent_events import AgentEvent, Handoff, RealtimeEvent
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.drivers.websocket import ConnectError
from adk_realtime.models import RealtimeModel
from adk_realtime.otel import OpenTelemetryObserver, opentelemetry_observers
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.sim.hub import SimulatorHub

pytestmark = pytest.mark.anyio

SECRET_KEY = "sk-otel-secret-key-0123456789"
SECRET_ARG = "Zanzibar"  # a tool argument: personal data, not recorded by default


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        yield server


def model_for(provider: str, server: Any) -> RealtimeModel:
    if provider == "openai":
        return OpenAIRealtimeModel(SECRET_KEY, "gpt-realtime", base_url=server.openai_base_url)
    backend = GeminiLiveBackend.Public(SECRET_KEY, base_url=f"ws://127.0.0.1:{server.port}")
    return GeminiRealtimeModel(backend, "gemini-live-2.5-flash-native-audio")


class Transcript(EventHandler):
    def __init__(self) -> None:
        self.text = ""
        self.done = anyio.Event()

    def on_transcript(self, text: str, item_id: str) -> None:
        self.text += text

    def on_response_done(self, event: ev.ResponseDone) -> None:
        self.done.set()
        self.done = anyio.Event()


class Telemetry:
    def __init__(self, **options: Any) -> None:
        self.spans_out = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        self.observer = OpenTelemetryObserver(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.reader]),
            **options,
        )

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_out.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name.startswith(prefix)]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:  # nothing measured yet
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for m in scope.metrics
            if m.name == metric
            for point in m.data.data_points
        ]

    def every_recorded_value(self) -> str:
        values: list[str] = []
        for span in self.spans:
            values.append(span.name)
            values.extend(str(v) for v in (span.attributes or {}).values())
            for event in span.events:
                values.append(event.name)
                values.extend(str(v) for v in (event.attributes or {}).values())
        for name in ("adk_realtime.tokens", "adk_realtime.time_to_first_audio"):
            values.extend(str(p.attributes) for p in self.points(name))
        return "\n".join(values)


async def run_a_conversation(provider: str, simulator: Any, telemetry: Telemetry) -> RealtimeRunner:
    """A tool call, then a handoff (on Gemini the handoff reconnects: a resumption)."""

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    model = model_for(provider, simulator)
    booking = RealtimeAgent("booking_agent", model, description="reservations")
    agent = RealtimeAgent("receptionist", model, tools=[get_weather], sub_agents=[booking])
    handler = Transcript()
    switched = anyio.Event()

    def sink(event: AgentEvent) -> None:
        resumed = isinstance(event, RealtimeEvent) and isinstance(event.event, ev.SessionResumed)
        if (provider == "openai" and isinstance(event, Handoff)) or resumed:
            switched.set()

    runner = RealtimeRunner(
        agent=agent, event_handler=handler, observers=[telemetry.observer], agent_event_sink=sink
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text(f"What is the weather in {SECRET_ARG}?")
        with anyio.fail_after(15):
            while f"sunny in {SECRET_ARG}" not in handler.text:
                await handler.done.wait()
        await runner.send_text("Please transfer me to the booking_agent")
        with anyio.fail_after(15):
            await switched.wait()
        await runner.close()
    return runner


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_spans_and_metrics_of_a_run(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    telemetry = Telemetry()
    runner = await run_a_conversation(provider, simulator, telemetry)
    metrics = runner.metrics

    (session,) = telemetry.named("invoke_agent")
    attributes = dict(session.attributes or {})
    system = "openai" if provider == "openai" else "gemini"
    assert attributes["gen_ai.provider.name"] == ("openai" if system == "openai" else "gcp.gemini")
    assert attributes["gen_ai.system"] == system
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.name"] == "receptionist"
    assert attributes["gen_ai.request.model"] == runner.model.model_id  # type: ignore[attr-defined]
    assert attributes["gen_ai.usage.input_tokens"] == metrics.input_tokens > 0
    assert attributes["gen_ai.usage.output_tokens"] == metrics.output_tokens > 0
    assert attributes["adk_realtime.usage.output_audio_tokens"] == metrics.output_audio_tokens > 0
    assert attributes["adk_realtime.usage.input_text_tokens"] == metrics.input_text_tokens > 0
    responses = [e for e in session.events if e.name == "gen_ai.response.done"]
    assert sum(int((e.attributes or {})["gen_ai.usage.output_tokens"]) for e in responses) == (
        metrics.output_tokens
    )
    assert session.status.status_code is not StatusCode.ERROR

    children = [s for s in telemetry.spans if s is not session]
    assert all(
        s.parent is not None and s.parent.span_id == session.context.span_id for s in children
    )

    tool, transfer = telemetry.named("execute_tool")
    assert transfer.name == "execute_tool transfer_to_agent"  # a handoff is a tool call too
    tool_attributes = dict(tool.attributes or {})
    assert tool.name == "execute_tool get_weather"
    assert tool_attributes["gen_ai.tool.name"] == "get_weather"
    assert tool_attributes["gen_ai.operation.name"] == "execute_tool"
    assert str(tool_attributes["gen_ai.tool.call.id"])
    assert "gen_ai.tool.call.arguments" not in tool_attributes
    assert tool.status.status_code is not StatusCode.ERROR

    turns = telemetry.named("turn")
    assert len(turns) == metrics.turn_count >= 1
    for turn in turns:
        latency = float((turn.attributes or {})["adk_realtime.turn.time_to_first_audio_ms"])
        assert turn.end_time is not None and turn.start_time is not None
        assert abs((turn.end_time - turn.start_time) / 1e6 - latency) < 1.0

    (handoff,) = telemetry.named("handoff")
    assert handoff.name == "handoff receptionist -> booking_agent"
    reconnects = telemetry.named("reconnect")
    assert len(reconnects) == (1 if provider == "gemini" else 0)

    (first_audio,) = telemetry.points("adk_realtime.time_to_first_audio")
    assert first_audio.count == metrics.turn_count
    tokens = telemetry.points("adk_realtime.tokens")
    by_kind: dict[tuple[str, str], int] = {}
    for point in tokens:
        key = (
            point.attributes["gen_ai.token.type"],
            point.attributes["adk_realtime.token.modality"],
        )
        by_kind[key] = point.value
    assert by_kind[("output", "audio")] == metrics.output_audio_tokens
    assert sum(v for (kind, _), v in by_kind.items() if kind == "input") == metrics.input_tokens

    recorded = telemetry.every_recorded_value()
    assert SECRET_KEY not in recorded and SECRET_KEY[:12] not in recorded
    assert SECRET_ARG not in recorded


async def test_tool_content_is_recorded_only_when_asked(anyio_backend: str, simulator: Any) -> None:
    telemetry = Telemetry(capture_tool_content=True)
    await run_a_conversation("openai", simulator, telemetry)
    tool = telemetry.named("execute_tool get_weather")[0]
    attributes = dict(tool.attributes or {})
    assert SECRET_ARG in str(attributes["gen_ai.tool.call.arguments"])
    assert attributes["gen_ai.tool.call.result"] == f"sunny in {SECRET_ARG}"
    assert SECRET_KEY not in telemetry.every_recorded_value()


async def test_a_failed_run_and_a_failing_tool_are_errors(
    anyio_backend: str, simulator: Any
) -> None:
    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        raise RuntimeError("no weather today")

    telemetry = Telemetry()
    handler = Transcript()
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for("openai", simulator), tools=[get_weather]),
        event_handler=handler,
        observers=[telemetry.observer],
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("What is the weather in Lyon?")
        with anyio.fail_after(15):
            while "no weather today" not in handler.text:
                await handler.done.wait()
        await runner.close()
    (tool,) = telemetry.named("execute_tool")
    assert tool.status.status_code is StatusCode.ERROR
    assert (tool.attributes or {})["error.type"] == "tool_error"

    refused = Telemetry()
    bad = OpenAIRealtimeModel(SECRET_KEY, "gpt-realtime", base_url="http://127.0.0.1:9")
    with anyio.fail_after(15), pytest.raises(ConnectError):
        await RealtimeRunner(bad, observers=[refused.observer]).run()
    (session,) = refused.spans
    assert session.name == "realtime gpt-realtime"
    assert session.status.status_code is StatusCode.ERROR
    assert SECRET_KEY not in refused.every_recorded_value()


async def test_an_observer_that_fails_never_stops_the_run(
    anyio_backend: str, simulator: Any
) -> None:
    class Broken:
        def run_started(self, runner: Any) -> Any:
            return self

        def on_event(self, event: Any) -> None:
            raise ValueError("observer bug")

        def run_ended(self, reason: str, error: BaseException | None) -> None:
            raise ValueError("observer bug")

    handler = Transcript()
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for("openai", simulator)),
        event_handler=handler,
        observers=[Broken()],
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("hello")
        with anyio.fail_after(15):
            while "simulator" not in handler.text:
                await handler.done.wait()
        await runner.close()


def test_nothing_of_opentelemetry_is_imported_unless_asked() -> None:
    code = (
        "import sys, adk_realtime\n"
        "from adk_realtime import RealtimeRunner, RealtimeAgent, OpenAIRealtimeModel\n"
        "import adk_realtime.runner, adk_realtime.otel, adk_realtime.mcp\n"
        "RealtimeRunner(OpenAIRealtimeModel('k', 'gpt-realtime'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('opentelemetry', 'mcp')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_the_extra_there_are_no_observers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    assert opentelemetry_observers() == []
    with pytest.raises(ImportError, match="otel extra"):
        OpenTelemetryObserver()
