"""RealtimeRunner, continued: bounded tool concurrency, Gemini cancellation and handoff
refusal, the voice kept across an OpenAI handoff, and the run's lifecycle (``on_error``,
``on_disconnect``, ``after_agent``, leaving ``agent.run`` early).

Scripted providers (``tests.fake_server``) give exact event orders; every test runs
under asyncio and trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
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
    function_tool,
)
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.runner import AgentStarted, Handoff, RealtimeEvent, RunContext
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests.fake_server import FakeServer, ScriptConn
from tests.oracles_openai import example_server_event
from tests.test_runner import b64, model_for

pytestmark = pytest.mark.anyio


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        yield server


async def test_at_most_four_tools_run_at_once_and_one_follow_up_answers_all(
    anyio_backend: str,
) -> None:
    ev_ = lambda t, **kw: example_server_event("ga", t, **kw)  # noqa: E731
    outputs: list[dict[str, Any]] = []

    async def script(conn: ScriptConn) -> None:
        await conn.send(ev_("session.created"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.send(ev_("response.created", response={"id": "r1"}))
        for i in range(6):
            await conn.send(
                ev_(
                    "response.function_call_arguments.done",
                    response_id="r1",
                    item_id=f"fc{i}",
                    call_id=f"call{i}",
                    name="slow_lookup",
                    arguments=json.dumps({"n": i}),
                )
            )
        await conn.send(ev_("response.done", response={"id": "r1", "status": "completed"}))
        for _ in range(6):
            outputs.append(await conn.recv_until(lambda m: m["type"] == "conversation.item.create"))
        assert (await conn.recv())["type"] == "response.create"
        await conn.close(1000)

    running = peak = 0
    release = anyio.Event()

    @function_tool
    async def slow_lookup(n: int) -> int:
        """Slow."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return n * 10

    with FakeServer(script) as server:
        model = OpenAIRealtimeModel("sk-test", base_url=f"{server.url}/v1")
        runner = RealtimeRunner(agent=RealtimeAgent("a", model, tools=[slow_lookup]))
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            session = await runner.wait_connected()
            await session.create_response()
            with anyio.fail_after(5):
                while running < 4:
                    await anyio.wait_all_tasks_blocked()
            await anyio.wait_all_tasks_blocked()
            assert running == 4  # the fifth and sixth wait for a free slot
            release.set()
    assert peak == 4
    assert sorted(o["item"]["output"] for o in outputs) == sorted(str(n * 10) for n in range(6))
    sent = [json.loads(m)["type"] for m in server.connections[0].received]
    assert sent.count("response.create") == 2  # ours + exactly one follow-up


async def test_gemini_tool_call_cancellation_cancels_the_running_task(anyio_backend: str) -> None:
    tool_running = threading.Event()
    responses: list[dict[str, Any]] = []

    async def script(conn: ScriptConn) -> None:
        await conn.recv()
        await conn.send({"setupComplete": {}})
        await conn.send(
            {"toolCall": {"functionCalls": [{"id": "fc-1", "name": "slow", "args": {}}]}}
        )
        assert await asyncio.to_thread(tool_running.wait, 5)
        await conn.send({"toolCallCancellation": {"ids": ["fc-1"]}})
        await conn.send(
            {"toolCall": {"functionCalls": [{"id": "fc-2", "name": "fast", "args": {}}]}}
        )
        responses.append(await conn.recv_until(lambda m: "toolResponse" in m))
        await conn.close(1000)

    cancelled = False

    @function_tool
    async def slow() -> str:
        """Never finishes unless cancelled."""
        nonlocal cancelled
        tool_running.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled = True
            raise
        return "never"

    @function_tool
    async def fast() -> str:
        """Quick."""
        return "done"

    with FakeServer(script) as server:
        model = GeminiRealtimeModel(GeminiLiveBackend.Public("k", base_url=server.url))
        runner = RealtimeRunner(agent=RealtimeAgent("a", model, tools=[slow, fast]))
        with anyio.fail_after(10):
            await runner.run()
    assert cancelled
    (response,) = responses
    assert [r["id"] for r in response["toolResponse"]["functionResponses"]] == ["fc-2"]


async def test_gemini_handoff_to_an_unknown_agent_answers_with_an_error(
    anyio_backend: str,
) -> None:
    answer: dict[str, Any] = {}

    async def script(conn: ScriptConn) -> None:
        await conn.recv()
        await conn.send({"setupComplete": {}})
        await conn.send(
            {
                "toolCall": {
                    "functionCalls": [
                        {"id": "t1", "name": "transfer_to_agent", "args": {"agent_name": "nobody"}}
                    ]
                }
            }
        )
        answer.update(await conn.recv_until(lambda m: "toolResponse" in m))
        await conn.close(1000)

    with FakeServer(script) as server:
        model = GeminiRealtimeModel(GeminiLiveBackend.Public("k", base_url=server.url))
        root = RealtimeAgent("receptionist", model, sub_agents=[RealtimeAgent("sales", model)])
        runner = RealtimeRunner(agent=root)
        with anyio.fail_after(10):
            await runner.run()
    (item,) = answer["toolResponse"]["functionResponses"]
    assert item["id"] == "t1" and item["name"] == "transfer_to_agent"
    assert "unknown agent 'nobody'" in json.dumps(item["response"]) and "sales" in json.dumps(
        item["response"]
    )
    assert runner.active_agent is root and runner.metrics.handoffs == 0
    assert len(server.connections) == 1  # no reconnect for a refused handoff


async def test_openai_handoff_keeps_the_voice_once_audio_was_heard_even_after_barge_in(
    anyio_backend: str,
) -> None:
    ev_ = lambda t, **kw: example_server_event("ga", t, **kw)  # noqa: E731
    updates: list[dict[str, Any]] = []

    async def script(conn: ScriptConn) -> None:
        await conn.send(ev_("session.created"))
        updates.append(await conn.recv_until(lambda m: m["type"] == "session.update"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.send(ev_("response.created", response={"id": "r1"}))
        await conn.send(
            ev_("response.output_audio.delta", response_id="r1", item_id="item_1", delta=b64(4800))
        )
        # The user talks over it: the runner cancels and forgets the item.
        await conn.send(ev_("input_audio_buffer.speech_started", audio_start_ms=10, item_id="u1"))
        await conn.recv_until(lambda m: m["type"] == "response.cancel")
        await conn.send(ev_("response.done", response={"id": "r1", "status": "cancelled"}))
        await conn.send(ev_("response.created", response={"id": "r2"}))
        await conn.send(
            ev_(
                "response.function_call_arguments.done",
                response_id="r2",
                item_id="fc",
                call_id="c1",
                name="transfer_to_agent",
                arguments='{"agent_name": "booking_agent"}',
            )
        )
        await conn.send(ev_("response.done", response={"id": "r2", "status": "completed"}))
        updates.append(await conn.recv_until(lambda m: m["type"] == "session.update"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.close(1000)

    events: list[Any] = []
    with FakeServer(script) as server:
        model = OpenAIRealtimeModel("sk-test", base_url=f"{server.url}/v1")
        booking = RealtimeAgent("booking_agent", model, voice="coral", instruction="Book.")
        root = RealtimeAgent("receptionist", model, voice="alloy", sub_agents=[booking])
        runner = RealtimeRunner(agent=root, agent_event_sink=events.append)
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            session = await runner.wait_connected()
            await session.create_response()
    first, second = (u["session"]["audio"]["output"]["voice"] for u in updates)
    assert first == second == "alloy"
    assert "Book." in updates[1]["session"]["instructions"]
    (handoff,) = [e for e in events if isinstance(e, Handoff)]
    assert handoff.to_agent == "booking_agent" and handoff.voice_kept
    assert runner.active_agent is booking


class Lifecycle(EventHandler):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_error(self, error: ev.Error | BaseException) -> None:
        self.calls.append(f"error:{type(error).__name__}")

    def on_disconnect(self, reason: str) -> None:
        self.calls.append("disconnect")


async def test_a_failed_connect_reaches_on_error_then_on_disconnect(anyio_backend: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Lifecycle()
    model = OpenAIRealtimeModel("sk-test", base_url=f"ws://127.0.0.1:{port}/v1")
    runner = RealtimeRunner(agent=RealtimeAgent("a", model), event_handler=handler)
    with anyio.fail_after(10), pytest.raises(Exception, match="could not connect"):
        await runner.run()
    assert len(handler.calls) == 2 and handler.calls[0].startswith("error:")
    assert handler.calls[1] == "disconnect"
    with pytest.raises(Exception, match=r"not connected: .*could not connect"):
        await runner.wait_connected()


async def test_after_agent_fires_when_the_provider_ends_the_session(anyio_backend: str) -> None:
    ev_ = lambda t, **kw: example_server_event("ga", t, **kw)  # noqa: E731

    async def script(conn: ScriptConn) -> None:
        await conn.send(ev_("session.created"))
        await conn.recv_until(lambda m: m["type"] == "session.update")
        await conn.close(1000, "goodbye")

    order: list[str] = []
    handler = Lifecycle()
    with FakeServer(script) as server:
        model = OpenAIRealtimeModel("sk-test", base_url=f"{server.url}/v1")
        agent = RealtimeAgent(
            "a",
            model,
            before_agent_callback=lambda ctx: order.append(f"before:{ctx.reason}"),
            after_agent_callback=lambda ctx: order.append(f"after:{ctx.reason}"),
        )
        with anyio.fail_after(10):
            await RealtimeRunner(agent=agent, event_handler=handler).run()
    assert order == ["before:start", "after:end"]
    assert handler.calls == ["disconnect"]  # a normal close is no error


async def test_leaving_agent_run_early_ends_the_run_quietly(
    anyio_backend: str, simulator: Any
) -> None:
    handler = Lifecycle()
    ctx = RunContext(event_handler=handler)
    with anyio.fail_after(10):
        async with contextlib.aclosing(
            RealtimeAgent("a", model_for("openai", simulator)).run(ctx)
        ) as events:
            async for event in events:
                if isinstance(event, AgentStarted):
                    await ctx.send_text("hello")
                if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.AudioDelta):
                    break  # mid-answer, with the session still open
    assert handler.calls == ["disconnect"]


async def test_agent_run_read_under_per_event_timeouts_and_left_early_against_the_simulator(
    anyio_backend: str, simulator: Any
) -> None:
    """Each read in a scope of its own, then ``break`` inside one: the run used to hold a
    task group across ``yield`` and corrupt the caller's cancel scopes."""
    handler = Lifecycle()
    ctx = RunContext(event_handler=handler)
    run = RealtimeAgent("a", model_for("openai", simulator)).run(ctx)
    audio = 0
    while audio < 3:
        with anyio.fail_after(10):
            event = await run.__anext__()
            if isinstance(event, AgentStarted):
                await ctx.send_text("hello")
            if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.AudioDelta):
                audio += 1
    with anyio.fail_after(10):
        await run.aclose()  # mid-answer
    assert handler.calls == ["disconnect"]


async def test_audio_still_in_flight_after_barge_in_is_not_played(anyio_backend: str) -> None:
    ev_ = lambda t, **kw: example_server_event("ga", t, **kw)  # noqa: E731

    async def script(conn: ScriptConn) -> None:
        await conn.send(ev_("session.created"))
        await conn.recv_until(lambda m: m["type"] == "response.create")
        await conn.send(ev_("response.created", response={"id": "r1"}))
        audio = ev_("response.output_audio.delta", response_id="r1", item_id="old", delta=b64(4800))
        await conn.send(audio)
        await conn.send(ev_("input_audio_buffer.speech_started", audio_start_ms=10, item_id="u1"))
        await conn.send(audio)  # sent before the server saw our cancel
        await conn.recv_until(lambda m: m["type"] == "response.cancel")
        await conn.send(ev_("response.done", response={"id": "r1", "status": "cancelled"}))
        await conn.send(ev_("response.created", response={"id": "r2"}))
        await conn.send(
            ev_("response.output_audio.delta", response_id="r2", item_id="new", delta=b64(960))
        )
        await conn.send(ev_("response.done", response={"id": "r2", "status": "completed"}))
        await conn.close(1000)

    class Speaker(EventHandler):
        def __init__(self) -> None:
            self.log: list[str] = []

        def on_audio(self, audio: bytes, item_id: str) -> None:
            self.log.append(f"{item_id}:{len(audio)}")

        def on_interrupted(self, event: Any) -> None:
            self.log.append(f"flush:{event.item_id}")

    speaker = Speaker()
    with FakeServer(script) as server:
        model = OpenAIRealtimeModel("sk-test", base_url=f"{server.url}/v1")
        runner = RealtimeRunner(agent=RealtimeAgent("a", model), event_handler=speaker)
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            session = await runner.wait_connected()
            await session.create_response()
    assert speaker.log == ["old:4800", "flush:old", "new:960"]


async def test_playback_counts_milliseconds_in_the_sessions_output_format(
    anyio_backend: str, simulator: Any
) -> None:
    """G.711 is 8 bytes per ms, not PCM16's 48: barge-in positions depend on it."""
    from adk_realtime import AudioFormat, RealtimeConfig
    from tests.test_runner import Recorder

    handler = Recorder()
    items: set[str] = set()

    class Items(Recorder):
        def on_audio(self, audio: bytes, item_id: str) -> None:
            handler.on_audio(audio, item_id)
            items.add(item_id)

        def on_response_done(self, event: ev.ResponseDone) -> None:
            handler.on_response_done(event)

    runner = RealtimeRunner(
        model_for("openai", simulator),
        config=RealtimeConfig(output_audio_format=AudioFormat.g711_ulaw()),
        event_handler=Items(),
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            assert runner.playback.bytes_per_ms == 8
            done = handler.response_done
            await runner.send_text("hello")
            await done.wait()
            await runner.close()
    (item,) = items
    assert handler.audio_bytes > 8000  # over a second of speech
    assert runner.playback.received_ms(item) == handler.audio_bytes // 8
