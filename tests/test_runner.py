"""RealtimeRunner: tools, callbacks, handoff and barge-in, over real loopback WebSockets.

Most tests talk to the built-in simulator (unpaced, so they run at full speed);
the ones that need an exact script (two calls in one response, an unknown
handoff target, barge-in positions) use the ``websockets``-based fake provider
replaying SDK-built events. Every test runs under asyncio and trio.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from adk_realtime import (
    EventHandler,
    GeminiLiveBackend,
    GeminiRealtimeModel,
    OpenAIRealtimeModel,
    RealtimeAgent,
    RealtimeRunner,
    RefuseTool,
    function_tool,
)
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.models import RealtimeModel
from adk_realtime.runner import AudioInterrupted, Handoff
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.tools import ToolContext
from tests import oracles_openai
from tests.fake_server import FakeServer, ScriptConn
from tests.oracles_openai import example_server_event

pytestmark = pytest.mark.anyio


class Recorder(EventHandler):
    def __init__(self) -> None:
        self.log: list[str] = []
        self.transcript: list[str] = []
        self.audio_bytes = 0
        self.responses = 0
        self.interruptions: list[AudioInterrupted] = []
        self.response_done = anyio.Event()

    def on_audio(self, audio: bytes, item_id: str) -> None:
        self.audio_bytes += len(audio)

    def on_transcript(self, text: str, item_id: str) -> None:
        self.transcript.append(text)

    def on_tool_call(self, name: str, arguments: str, call_id: str) -> None:
        self.log.append(f"tool_call:{name}")

    def on_response_done(self, event: ev.ResponseDone) -> None:
        self.responses += 1
        self.log.append("response_done")
        self.response_done.set()
        self.response_done = anyio.Event()

    def on_interrupted(self, event: AudioInterrupted) -> None:
        self.interruptions.append(event)

    def on_handoff(self, from_agent: str, to_agent: str) -> None:
        self.log.append(f"handoff:{from_agent}->{to_agent}")

    @property
    def text(self) -> str:
        return "".join(self.transcript)


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        yield server


def model_for(provider: str, server: Any) -> RealtimeModel:
    if provider == "openai":
        return OpenAIRealtimeModel("sk-test", "gpt-realtime", base_url=server.openai_base_url)
    backend = GeminiLiveBackend.Public("test-key", base_url=f"ws://127.0.0.1:{server.port}")
    return GeminiRealtimeModel(backend, "gemini-live-2.5-flash-native-audio")


async def wait_for(condition: Any, recorder: Recorder, limit: float = 10) -> None:
    """Wait, response by response, until ``condition()`` holds."""
    with anyio.fail_after(limit):
        while not condition():
            await recorder.response_done.wait()


PROVIDERS = pytest.mark.parametrize("provider", ["openai", "gemini"])


@PROVIDERS
async def test_a_slow_tool_never_stalls_audio(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    release = threading.Event()
    running = threading.Event()
    audio_while_tool_ran = 0

    @function_tool
    def get_weather(city: str) -> dict[str, Any]:
        """Weather for a city."""
        running.set()
        release.wait(10)  # a slow, blocking tool: it runs in a worker thread
        return {"city": city, "sky": "sunny"}

    class Counting(Recorder):
        def on_audio(self, audio: bytes, item_id: str) -> None:
            nonlocal audio_while_tool_ran
            super().on_audio(audio, item_id)
            if running.is_set() and not release.is_set():
                audio_while_tool_ran += 1

    recorder = Counting()
    agent = RealtimeAgent("assistant", model_for(provider, simulator), tools=[get_weather])
    events: list[Any] = []
    runner = RealtimeRunner(agent=agent, event_handler=recorder, agent_event_sink=events.append)
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.wait_connected()
        await runner.send_text("What is the weather in Paris?")
        with anyio.fail_after(10):
            while not running.is_set():
                await anyio.wait_all_tasks_blocked()
        # While the tool blocks, another turn is answered with audio.
        await runner.send_text("hello")
        await wait_for(lambda: "Hello!" in recorder.text, recorder)
        release.set()
        if provider == "openai":
            await wait_for(lambda: "sunny" in recorder.text, recorder)
        await runner.close()
    assert audio_while_tool_ran > 0
    if provider == "gemini":
        # A new user turn makes Gemini cancel the pending call: its result is never sent.
        cancelled = [
            e.event for e in events if isinstance(getattr(e, "event", None), ev.ToolCallCancelled)
        ]
        assert cancelled and not any(type(e).__name__ == "ToolCallCompleted" for e in events)


@PROVIDERS
async def test_failing_tool_becomes_an_error_output(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        raise RuntimeError("weather service down")

    recorder = Recorder()
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for(provider, simulator), tools=[get_weather]),
        event_handler=recorder,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("What is the weather in Paris?")
        await wait_for(lambda: "weather service down" in recorder.text, recorder)
        await runner.close()
    assert "RuntimeError" in recorder.text  # the model was told what went wrong


@PROVIDERS
async def test_before_tool_can_refuse_or_substitute(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return "real result"

    def policy(ctx: ToolContext) -> Any:
        if ctx.arguments.get("city") == "Paris":
            raise RefuseTool("Paris is off limits")
        return {"cached": "rainy"}

    recorder = Recorder()
    agent = RealtimeAgent(
        "a", model_for(provider, simulator), tools=[get_weather], before_tool_callback=policy
    )
    runner = RealtimeRunner(agent=agent, event_handler=recorder)
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("What is the weather in Paris?")
        await wait_for(lambda: "off limits" in recorder.text, recorder)
        await runner.send_text("And the weather in Rome?")
        await wait_for(lambda: "rainy" in recorder.text, recorder)
        await runner.close()
    assert calls == []  # neither call reached the tool


@PROVIDERS
async def test_after_tool_replaces_the_result_and_callbacks_fire_in_order(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    order: list[str] = []

    @function_tool
    async def get_weather(city: str) -> str:
        """Weather for a city."""
        order.append("tool")
        return "raw"

    agent = RealtimeAgent(
        "a",
        model_for(provider, simulator),
        tools=[get_weather],
        before_agent_callback=lambda ctx: order.append(f"before_agent:{ctx.reason}"),
        after_agent_callback=lambda ctx: order.append(f"after_agent:{ctx.reason}"),
        before_tool_callback=lambda ctx: order.append("before_tool") and None,
        after_tool_callback=lambda ctx, result: (order.append("after_tool"), f"polished {result}")[
            1
        ],
    )
    recorder = Recorder()
    runner = RealtimeRunner(agent=agent, event_handler=recorder)
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("What is the weather in Paris?")
        await wait_for(lambda: "polished raw" in recorder.text, recorder)
        await runner.close()
    assert order == ["before_agent:start", "before_tool", "tool", "after_tool", "after_agent:end"]


@PROVIDERS
async def test_handoff_to_a_sub_agent(anyio_backend: str, provider: str, simulator: Any) -> None:
    model = model_for(provider, simulator)
    order: list[str] = []

    @function_tool
    def book_table(guests: int) -> str:
        """Book a table."""
        return f"booked for {guests}"

    booking = RealtimeAgent(
        "booking_agent",
        model,
        description="reservations",
        instruction="You take reservations.",
        tools=[book_table],
        before_agent_callback=lambda ctx: order.append(f"booking:before:{ctx.reason}"),
    )
    receptionist = RealtimeAgent(
        "receptionist",
        model,
        instruction="Route calls.",
        sub_agents=[booking],
        after_agent_callback=lambda ctx: order.append(f"receptionist:after:{ctx.reason}"),
    )
    recorder = Recorder()
    events: list[Any] = []
    switched = anyio.Event()

    def sink(event: Any) -> None:
        events.append(event)
        # OpenAI switches on the same connection; Gemini once it has resumed.
        resumed = isinstance(getattr(event, "event", None), ev.SessionResumed)
        if (provider == "openai" and isinstance(event, Handoff)) or resumed:
            switched.set()

    runner = RealtimeRunner(agent=receptionist, event_handler=recorder, agent_event_sink=sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("Please transfer me to the booking_agent")
        with anyio.fail_after(10):
            await switched.wait()
        assert runner.active_agent is booking
        # The new agent's tools are live on the same conversation.
        await runner.send_text("Book a table for 4 guests")
        await wait_for(lambda: "booked for 4" in recorder.text, recorder)
        await runner.close()
    assert "handoff:receptionist->booking_agent" in recorder.log
    assert any(isinstance(e, Handoff) and e.to_agent == "booking_agent" for e in events)
    assert order[:2] == ["receptionist:after:handoff", "booking:before:handoff"]
    assert runner.metrics.handoffs == 1


# ---------------------------------------------------------------- scripted (fake) provider


def b64(n: int) -> str:
    return base64.b64encode(bytes(n)).decode()


# The provider name is only a label: a relabelled model (e.g. behind a proxy) behaves the same.
@pytest.mark.parametrize("label", ["openai", "my-relabelled-proxy"])
async def test_two_parallel_tool_calls_yield_exactly_one_follow_up(
    anyio_backend: str, label: str
) -> None:
    ev_ = lambda t, **kw: example_server_event("ga", t, **kw)  # noqa: E731

    async def script(conn: ScriptConn) -> None:
        await conn.send(ev_("session.created"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.send(ev_("response.created", response={"id": "r1"}))
        for i, city in enumerate(["Paris", "Rome"]):
            await conn.send(
                ev_(
                    "response.function_call_arguments.done",
                    response_id="r1",
                    item_id=f"fc{i}",
                    call_id=f"call{i}",
                    name="get_weather",
                    arguments=json.dumps({"city": city}),
                )
            )
        await conn.send(ev_("response.done", response={"id": "r1", "status": "completed"}))
        outputs = [
            await conn.recv_until(lambda m: m["type"] == "conversation.item.create")
            for _ in range(2)
        ]
        assert {o["item"]["call_id"] for o in outputs} == {"call0", "call1"}
        follow_up = await conn.recv()
        assert follow_up["type"] == "response.create"
        await conn.send(ev_("response.created", response={"id": "r2"}))
        await conn.send(ev_("response.done", response={"id": "r2", "status": "completed"}))
        await conn.close(1000)

    gate = anyio.Event()
    started = 0

    @function_tool
    async def get_weather(city: str) -> str:
        """Weather."""
        nonlocal started
        started += 1
        if started == 2:
            gate.set()
        await gate.wait()  # both run at the same time, or this never finishes
        return f"{city}: sunny"

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel("sk-test", base_url=f"{server.url}/v1")
        model.provider = label
        runner = RealtimeRunner(agent=RealtimeAgent("a", model, tools=[get_weather]))
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            session = await runner.wait_connected()
            assert session.provider == label
            await session.create_response()
    sent = [json.loads(m) for m in server.connections[0].received]
    for raw in server.connections[0].received:
        oracles_openai.validate_ga_client(raw)
    assert [m["type"] for m in sent].count("response.create") == 2  # ours + exactly one follow-up


async def test_handoff_to_an_unknown_agent_answers_with_an_error(anyio_backend: str) -> None:
    ev_ = lambda t, **kw: example_server_event("ga", t, **kw)  # noqa: E731
    answer: dict[str, Any] = {}

    async def script(conn: ScriptConn) -> None:
        await conn.send(ev_("session.created"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.send(ev_("response.created", response={"id": "r1"}))
        await conn.send(
            ev_(
                "response.function_call_arguments.done",
                response_id="r1",
                item_id="fc",
                call_id="c1",
                name="transfer_to_agent",
                arguments='{"agent_name": "nobody"}',
            )
        )
        await conn.send(ev_("response.done", response={"id": "r1", "status": "completed"}))
        answer.update(await conn.recv_until(lambda m: m["type"] == "conversation.item.create"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.close(1000)

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel("sk-test", base_url=f"{server.url}/v1")
        root = RealtimeAgent("receptionist", model, sub_agents=[RealtimeAgent("sales", model)])
        runner = RealtimeRunner(agent=root)
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            await runner.session.create_response()  # type: ignore[union-attr]
    output = json.loads(answer["item"]["output"])
    assert "unknown agent 'nobody'" in output["error"] and "sales" in output["error"]
    assert runner.active_agent is root
    assert not any(
        json.loads(m)["type"] == "session.update" for m in server.connections[0].received[1:]
    )


@pytest.mark.parametrize(("reported_ms", "expected_truncate"), [(200, 200), (900, 500), (0, None)])
async def test_barge_in_truncates_at_the_played_position_clamped_to_audio_received(
    anyio_backend: str, reported_ms: int, expected_truncate: int | None
) -> None:
    ev_ = lambda t, **kw: example_server_event("ga", t, **kw)  # noqa: E731
    ready = threading.Event()
    received: list[dict[str, Any]] = []

    async def script(conn: ScriptConn) -> None:
        await conn.send(ev_("session.created"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.send(ev_("response.created", response={"id": "r1"}))
        for _ in range(5):  # 5 x 100 ms of 24 kHz PCM16
            await conn.send(
                ev_(
                    "response.output_audio.delta",
                    response_id="r1",
                    item_id="item_1",
                    delta=b64(4800),
                )
            )
        await conn.recv_until(
            lambda m: m["type"] == "input_audio_buffer.clear"
        )  # the test's "go" signal
        await conn.send(ev_("input_audio_buffer.speech_started", audio_start_ms=1000, item_id="u1"))
        while True:
            msg = await conn.recv()
            if msg["type"] == "input_audio_buffer.commit":  # the test's "done" signal
                break
            received.append(msg)
        ready.set()
        await conn.close(1000)

    recorder = Recorder()
    with FakeServer(script) as server:
        model = OpenAIRealtimeModel("sk-test", base_url=f"{server.url}/v1")
        runner = RealtimeRunner(agent=RealtimeAgent("a", model), event_handler=recorder)
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            session = await runner.wait_connected()
            await session.create_response()
            with anyio.fail_after(5):
                while runner.playback.received_ms("item_1") < 500:
                    await anyio.wait_all_tasks_blocked()
            runner.audio_played("item_1", reported_ms)
            await session.clear_audio()
            with anyio.fail_after(5):
                while not recorder.interruptions:
                    await anyio.wait_all_tasks_blocked()
            await session.commit_audio()
    types = [m["type"] for m in received]
    assert "response.cancel" in types
    truncates = [m for m in received if m["type"] == "conversation.item.truncate"]
    if expected_truncate is None:
        assert truncates == []
    else:
        assert [(t["item_id"], t["audio_end_ms"]) for t in truncates] == [
            ("item_1", expected_truncate)
        ]
    (interrupted,) = recorder.interruptions
    assert interrupted.item_id == "item_1" and interrupted.truncated == (
        expected_truncate is not None
    )


@PROVIDERS
async def test_metrics_record_first_response_latency_and_token_usage(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    recorder = Recorder()
    events: list[Any] = []
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for(provider, simulator)),
        event_handler=recorder,
        agent_event_sink=events.append,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text("hello")
        await wait_for(lambda: recorder.responses >= 1, recorder)
        await runner.send_text("how are you")
        await wait_for(lambda: recorder.responses >= 2, recorder)
        await runner.close()
    assert len(runner.metrics.turns) == 2 and all(ms >= 0 for ms in runner.metrics.turns)
    assert (
        runner.metrics.output_tokens > 0
        and runner.metrics.total_tokens >= runner.metrics.output_tokens
    )
    assert sum(1 for e in events if type(e).__name__ == "TurnMetrics") == 2


async def test_gemini_barge_in_surfaces_one_interruption(anyio_backend: str) -> None:
    from adk_realtime.sansio.sim.speech import synthesize_speech

    recorder = Recorder()
    started = anyio.Event()

    class Listening(Recorder):
        def on_audio(self, audio: bytes, item_id: str) -> None:
            super().on_audio(audio, item_id)
            started.set()

    recorder = Listening()
    async with run_simulator(hub=SimulatorHub(pace=1.0)) as server:  # the answer plays in real time
        runner = RealtimeRunner(
            agent=RealtimeAgent("a", model_for("gemini", server)), event_handler=recorder
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.send_text("hello")
            with anyio.fail_after(10):
                await started.wait()
            speech = synthesize_speech("stop", 16000) + bytes(16000)  # then a second of silence
            for off in range(0, len(speech), 640):
                await runner.send_audio(speech[off : off + 640], 16000)
            with anyio.fail_after(10):
                while not recorder.interruptions:
                    await recorder.response_done.wait()
            await runner.close()
    assert len(recorder.interruptions) == 1
    assert recorder.interruptions[0].item_id.startswith("turn-")


async def test_agent_run_yields_agent_events_and_takes_input_through_the_context(
    anyio_backend: str, simulator: Any
) -> None:
    from adk_realtime.runner import AgentStarted, RealtimeEvent, RunContext

    agent = RealtimeAgent("a", model_for("openai", simulator))
    ctx = RunContext(state={"user": "Ada"})
    seen: list[str] = []
    with anyio.fail_after(10):
        async for event in agent.run(ctx):
            seen.append(type(event).__name__)
            if isinstance(event, AgentStarted):
                await ctx.send_text("hello")
            if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.ResponseDone):
                await ctx.close()
    assert seen[0] == "AgentStarted" and "TurnMetrics" in seen and seen[-1] == "AgentEnded"


@PROVIDERS
async def test_a_long_call_keeps_bounded_per_turn_state(
    anyio_backend: str, provider: str, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turn latencies keep the most recent ones; answered responses leave nothing behind."""
    import adk_realtime.runner as runner_module

    monkeypatch.setattr(runner_module, "MAX_TURN_LATENCIES", 4)
    recorder = Recorder()
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for(provider, simulator)), event_handler=recorder
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        for turn in range(1, 11):
            await runner.send_text(f"question {turn}")
            await wait_for(lambda turn=turn: recorder.responses >= turn, recorder)  # type: ignore[misc]
        await runner.close()
    assert runner.metrics.turn_count == 10
    assert 2 <= len(runner.metrics.turns) <= 4
    # No per-response bookkeeping outlives a response that had no tool call.
    assert runner._done_responses == set() and runner._open_calls == {}
