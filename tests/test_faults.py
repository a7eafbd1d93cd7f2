"""Faults, load and bad input, on simulated time: a provider that stops answering,
a tool that never returns, an app that stops reading, a consumer that iterates
``agent.run`` from another cancel scope.

Every test runs under asyncio and trio, both on a simulated clock
(``tests.virtual_clock``), against in-memory peers (``tests.memory_provider``):
waiting 30 s for a timeout takes no real time, and nothing depends on how fast
the machine is.
"""

from __future__ import annotations

import base64
import gc
import json
import math
import threading
import time
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from adk_realtime import (
    ConnectionClosed,
    EventHandler,
    GeminiLiveBackend,
    GeminiRealtimeModel,
    MessageTooLargeToSend,
    OpenAIRealtimeModel,
    RealtimeAgent,
    RealtimeConfig,
    RealtimeRunner,
    SessionOptions,
    ToolCallCompleted,
    ToolCallTimedOut,
    ToolTimeoutError,
    function_tool,
)
from adk_realtime.runner import AgentStarted, RealtimeEvent, RunContext
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.websocket.connection import ConnectRequest, Message, WebSocketServer
from tests.memory_provider import MemoryByteStream, Peer, ScriptedModel, byte_stream_pair
from tests.oracles_openai import example_server_event
from tests.virtual_clock import simulated_time

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return simulated_time(str(request.param))


# -- a half-dead provider ---------------------------------------------------------------


async def _answers_then_goes_silent(stream: MemoryByteStream, setup_reply: str | None) -> None:
    """A WebSocket peer that accepts, answers the first message with ``setup_reply`` (if
    any), then stops reading and answering, without closing: a half-dead provider."""
    ws = WebSocketServer()
    waiting_for_setup = setup_reply is not None
    accepted = False
    while not accepted or waiting_for_setup:
        ws.receive_data(await stream.receive(), anyio.current_time())
        while (event := ws.next_event()) is not None:
            if isinstance(event, ConnectRequest):
                ws.accept(now=anyio.current_time())
                accepted = True
            elif isinstance(event, Message) and setup_reply is not None:
                ws.send_message(setup_reply)
                waiting_for_setup = False
        await stream.send(ws.data_to_send())
    await anyio.sleep_forever()


def _model(provider: str) -> OpenAIRealtimeModel | GeminiRealtimeModel:
    if provider == "openai":
        return OpenAIRealtimeModel("sk-test", base_url="ws://provider.test/v1")
    return GeminiRealtimeModel(GeminiLiveBackend.Public("k", base_url="ws://provider.test"))


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize(
    ("options", "limit"),
    [
        (SessionOptions(rollover=False), 15.0),
        (SessionOptions(keepalive_interval=2.0, keepalive_timeout=1.0, rollover=False), 3.0),
    ],
    ids=["defaults", "settable"],
)
async def test_a_provider_that_stops_answering_is_noticed_within_the_keepalive_limit(
    anyio_backend: Any,
    provider: str,
    options: SessionOptions | None,
    limit: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole stack (model, session, WebSocket driver and machine) over an in-memory
    socket: the peer goes silent after the setup; the session ends with 1011 in time.
    (Without rollover: with it, OpenAI would replace the dead connection instead.)"""
    setup_reply = json.dumps({"setupComplete": {}}) if provider == "gemini" else None
    async with anyio.create_task_group() as tg:

        async def connect_tcp(host: str, port: int, **_: Any) -> anyio.abc.ByteStream:
            ours, theirs = byte_stream_pair()
            tg.start_soon(_answers_then_goes_silent, theirs, setup_reply)
            return ours

        monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
        async with _model(provider).connect(RealtimeConfig(), options=options) as session:
            started = anyio.current_time()
            with pytest.raises(ConnectionClosed) as info:
                async for _event in session:
                    pass
            noticed_after = anyio.current_time() - started
        tg.cancel_scope.cancel()
    assert (info.value.code, info.value.reason) == (1011, "pong timeout")
    assert noticed_after <= limit


async def test_large_messages_go_out_in_short_writes_so_a_ping_never_waits_behind_megabytes(
    anyio_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ping's pong deadline runs from when it was queued: after a congested write, the
    writer must not hand the socket the 64 queued messages of 64 KiB (4 MiB) as one write
    that a ping would then wait behind."""
    from adk_realtime.drivers.websocket import open_websocket

    writes: list[int] = []
    congested = False
    released = anyio.Event()

    class Congested(MemoryByteStream):
        async def send(self, item: bytes) -> None:
            writes.append(len(item))
            if congested:
                await released.wait()
            await super().send(item)

    async with anyio.create_task_group() as tg:

        async def connect_tcp(host: str, port: int, **_: Any) -> anyio.abc.ByteStream:
            ours, theirs = byte_stream_pair()
            tg.start_soon(_answers_then_goes_silent, theirs, None)
            return Congested(ours._send, ours._receive)

        monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
        async with open_websocket("ws://peer.test/", send_queue_size=64) as ws:
            writes.clear()  # (the handshake)
            congested = True
            for _ in range(1 + 64):  # one in the stuck write, 64 queued behind it
                await ws.send(b"x" * 65536)
            released.set()
            await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert sum(writes) > 65 * 65536
    assert max(writes) <= 256 * 1024 + 65536 + 64  # one batch: 256 KiB and one message


# -- a scripted OpenAI provider, in memory ----------------------------------------------


def ev_(event_type: str, **fields: Any) -> str:
    return example_server_event("ga", event_type, **fields)


def audio_delta(response_id: str = "r1", item_id: str = "item1") -> str:
    return ev_(
        "response.output_audio.delta",
        response_id=response_id,
        item_id=item_id,
        delta=base64.b64encode(bytes(960)).decode(),
    )


async def answer_each_text(peer: Peer, *, delay: float = 0.0, deltas: int = 3) -> None:
    """Answers every user text with a response of ``deltas`` audio deltas and a transcript,
    ``delay`` seconds after the response.create."""
    await peer.send(ev_("session.created"))
    turn = 0
    while True:
        await peer.recv_until(lambda m: m["type"] == "response.create")
        turn += 1
        await anyio.sleep(delay)
        rid = f"r{turn}"
        await peer.send(ev_("response.created", response={"id": rid}))
        for _ in range(deltas):
            await peer.send(audio_delta(rid, f"item{turn}"))
        await peer.send(
            ev_(
                "response.output_audio_transcript.delta",
                response_id=rid,
                item_id=f"item{turn}",
                delta="hello",
            )
        )
        await peer.send(ev_("response.done", response={"id": rid, "status": "completed"}))


class Log(EventHandler):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.errors: list[BaseException | ev.Error] = []
        self.responses = 0
        self.response_done = anyio.Event()

    def on_response_done(self, event: ev.ResponseDone) -> None:
        self.responses += 1
        self.response_done.set()
        self.response_done = anyio.Event()

    def on_error(self, error: ev.Error | BaseException) -> None:
        self.errors.append(error)

    def on_disconnect(self, reason: str) -> None:
        self.calls.append("disconnect")


def names(events: list[Any]) -> list[str]:
    return [
        type(e.event).__name__ if isinstance(e, RealtimeEvent) else type(e).__name__ for e in events
    ]


# -- agent.run(ctx) from any cancel scope -----------------------------------------------


async def test_agent_run_may_be_read_inside_move_on_after_and_ends_on_a_normal_close(
    anyio_backend: Any,
) -> None:
    """Each event awaited under its own timeout (a scope the run did not start in)."""
    model = ScriptedModel(answer_each_text)
    ctx = RunContext(event_handler=Log())
    run = RealtimeAgent("a", model).run(ctx)
    seen: list[Any] = []
    while True:
        with anyio.move_on_after(60):
            try:
                event = await run.__anext__()
            except StopAsyncIteration:
                break
        seen.append(event)
        if isinstance(event, AgentStarted):
            await ctx.send_text("hello")
        if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.ResponseDone):
            await ctx.close()
    assert names(seen)[0] == "AgentStarted" and names(seen)[-1] == "AgentEnded"
    assert "ResponseDone" in names(seen) and model.errors == []


async def test_agent_run_iterated_in_one_scope_then_another_keeps_every_event(
    anyio_backend: Any,
) -> None:
    """A wait that times out takes nothing away: the next read gets the event."""
    model = ScriptedModel(lambda peer: answer_each_text(peer, delay=5.0))
    ctx = RunContext()
    seen: list[Any] = []
    async with RealtimeAgent("a", model).run(ctx) as run:
        with anyio.move_on_after(60):
            async for event in run:
                seen.append(event)
                if isinstance(event, AgentStarted):
                    await ctx.send_text("hello")
                if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.SessionCreated):
                    break
        with anyio.move_on_after(1) as waited:  # the answer comes 5 s later
            seen.append(await run.__anext__())
        assert waited.cancelled_caught
        with anyio.fail_after(60):
            async for event in run:
                seen.append(event)
                if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.ResponseDone):
                    await ctx.close()
    assert names(seen)[:4] == ["AgentStarted", "SessionCreated", "ResponseCreated", "AudioDelta"]
    assert names(seen).count("AudioDelta") == 3 and names(seen)[-1] == "AgentEnded"


async def test_leaving_agent_run_early_from_inside_a_scope_ends_the_run_quietly(
    anyio_backend: Any,
) -> None:
    handler = Log()
    model = ScriptedModel(answer_each_text)
    ctx = RunContext(event_handler=handler)
    run = RealtimeAgent("a", model).run(ctx)
    with anyio.move_on_after(60):
        async for event in run:
            if isinstance(event, AgentStarted):
                await ctx.send_text("hello")
            if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.AudioDelta):
                break  # mid-answer, inside a scope the run was not started in
    await run.aclose()  # outside that scope
    assert handler.calls == ["disconnect"] and handler.errors == []
    assert ctx.runner is not None and ctx.runner.session is None  # the session is closed
    with pytest.raises(StopAsyncIteration):
        await run.__anext__()


async def test_an_agent_run_dropped_without_aclose_still_ends(anyio_backend: Any) -> None:
    handler = Log()
    ended = anyio.Event()

    async def script(peer: Peer) -> None:
        try:
            await answer_each_text(peer)
        finally:
            ended.set()  # the client closed the link

    ctx = RunContext(event_handler=handler)
    run = RealtimeAgent("a", ScriptedModel(script)).run(ctx)
    assert isinstance(await run.__anext__(), AgentStarted)
    del run
    gc.collect()
    with anyio.fail_after(10):
        await ended.wait()


async def test_an_error_that_ends_agent_run_comes_after_the_events_before_it(
    anyio_backend: Any,
) -> None:
    async def script(peer: Peer) -> None:
        await peer.send(ev_("session.created"))
        await peer.close(1011, "server fault")

    seen: list[Any] = []
    with pytest.raises(ConnectionClosed) as info:
        async for event in RealtimeAgent("a", ScriptedModel(script)).run(RunContext()):
            seen.append(event)
    assert info.value.code == 1011
    assert names(seen) == ["AgentStarted", "SessionCreated"]


# -- an app that stops reading agent.run(ctx) ---------------------------------------------


async def test_a_consumer_that_stops_reading_loses_only_audio_and_every_loss_is_counted(
    anyio_backend: Any,
) -> None:
    """The app stops iterating for a while; 3000 audio deltas and the rest arrive. Only
    audio is dropped (counted); ResponseDone and every transcript delta are kept."""
    handler = Log()
    ctx = RunContext(event_handler=handler)
    model = ScriptedModel(lambda peer: answer_each_text(peer, deltas=3000))
    async with RealtimeAgent("a", model).run(ctx) as run:
        assert isinstance(await run.__anext__(), AgentStarted)
        await ctx.send_text("hello")
        with anyio.fail_after(60):
            while handler.responses < 1:  # the app reads nothing meanwhile
                await handler.response_done.wait()
        seen: list[Any] = []
        with anyio.fail_after(60):
            async for event in run:
                seen.append(event)
                if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.ResponseDone):
                    break
        metrics = run.runner.metrics
    kept = names(seen)
    assert kept[-3:] == ["AudioDelta", "TranscriptDelta", "ResponseDone"]
    assert {"SessionCreated", "ResponseCreated", "TurnMetrics"} <= set(kept)
    assert metrics.dropped_audio_events > 0
    assert kept.count("AudioDelta") + metrics.dropped_audio_events == 3000
    assert metrics.dropped_agent_events == metrics.dropped_audio_events


async def test_control_events_wait_for_the_consumer_when_the_buffer_holds_no_audio(
    anyio_backend: Any,
) -> None:
    """With no audio to give up, the runner waits (back-pressure) rather than drop."""
    from adk_realtime.agent_run import AgentRun

    async def script(peer: Peer) -> None:
        await peer.send(ev_("session.created"))
        await peer.recv_until(lambda m: m["type"] == "response.create")
        await peer.send(ev_("response.created", response={"id": "r1"}))
        for i in range(20):
            await peer.send(
                ev_(
                    "response.output_audio_transcript.delta",
                    response_id="r1",
                    item_id="item1",
                    delta=f"w{i} ",
                )
            )
        await peer.send(ev_("response.done", response={"id": "r1", "status": "completed"}))

    transcript: list[str] = []

    class Transcript(Log):
        def on_transcript(self, text: str, item_id: str) -> None:
            transcript.append(text)

    ctx = RunContext(event_handler=Transcript())
    async with AgentRun(RealtimeAgent("a", ScriptedModel(script)), ctx, buffer_size=4) as run:
        assert isinstance(await run.__anext__(), AgentStarted)
        await ctx.send_text("hello")
        await anyio.wait_all_tasks_blocked()
        assert len(transcript) < 20  # the pump waits for the app, TCP-like
        seen: list[Any] = []
        with anyio.fail_after(60):
            async for event in run:
                seen.append(event)
                if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.ResponseDone):
                    break
    deltas = [
        e.event.delta
        for e in seen
        if isinstance(e, RealtimeEvent) and isinstance(e.event, ev.TranscriptDelta)
    ]
    assert deltas == [f"w{i} " for i in range(20)]  # none dropped, in order
    assert run.runner.metrics.dropped_audio_events == 0


# -- a tool that never returns ----------------------------------------------------------


def one_tool_call(name: str, outputs: list[dict[str, Any]]) -> Any:
    """A provider that asks for one call of ``name``, records the output it gets, and
    answers the follow-up response.create."""

    async def script(peer: Peer) -> None:
        await peer.send(ev_("session.created"))
        await peer.recv_until(lambda m: m["type"] == "response.create")
        await peer.send(ev_("response.created", response={"id": "r1"}))
        await peer.send(
            ev_(
                "response.function_call_arguments.done",
                response_id="r1",
                item_id="fc1",
                call_id="call1",
                name=name,
                arguments="{}",
            )
        )
        await peer.send(ev_("response.done", response={"id": "r1", "status": "completed"}))
        outputs.append(await peer.recv_until(lambda m: m["type"] == "conversation.item.create"))
        await peer.recv_until(lambda m: m["type"] == "response.create")  # the turn goes on
        await peer.send(ev_("response.created", response={"id": "r2"}))
        await peer.send(ev_("response.done", response={"id": "r2", "status": "completed"}))

    return script


async def run_one_tool_call(
    tool: Any, outputs: list[dict[str, Any]], **runner_options: Any
) -> tuple[list[Any], Log, float]:
    """Run until the follow-up response is done; the agent events, the handler, and the
    (simulated) seconds from the call to its output."""
    events: list[Any] = []
    handler = Log()
    model = ScriptedModel(one_tool_call(tool.name, outputs))
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model, tools=[tool]),
        event_handler=handler,
        agent_event_sink=events.append,
        **runner_options,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        session = await runner.wait_connected()
        started = anyio.current_time()
        await session.create_response()
        with anyio.fail_after(3600):
            while handler.responses < 2:
                await handler.response_done.wait()
        took = anyio.current_time() - started
        await runner.close()
    assert model.errors == []
    return events, handler, took


async def test_a_tool_that_never_returns_times_out_and_the_turn_goes_on(
    anyio_backend: Any,
) -> None:
    cancelled = False

    @function_tool
    async def stuck() -> str:
        """Never answers."""
        nonlocal cancelled
        try:
            await anyio.sleep_forever()
        finally:
            cancelled = True
        return "never"

    outputs: list[dict[str, Any]] = []
    events, handler, took = await run_one_tool_call(stuck, outputs)
    assert 30.0 <= took < 31.0  # the runner's default tool_timeout
    (output,) = outputs
    assert "timed out" in json.loads(output["item"]["output"])["error"]
    assert cancelled  # an async tool is cancelled
    (timed_out,) = [e for e in events if isinstance(e, ToolCallTimedOut)]
    assert (timed_out.call_id, timed_out.name, timed_out.timeout) == ("call1", "stuck", 30.0)
    completed = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert len(completed) == 1 and completed[0].error
    assert names(events).index("ToolCallTimedOut") < names(events).index("ToolCallCompleted")
    (error,) = handler.errors
    assert isinstance(error, ToolTimeoutError) and error.timeout == 30.0


async def test_a_tools_own_timeout_takes_precedence_over_the_runners(anyio_backend: Any) -> None:
    @function_tool(timeout=2)
    async def quick_or_nothing() -> str:
        """Has two seconds."""
        await anyio.sleep(10)
        return "late"

    outputs: list[dict[str, Any]] = []
    events, _, took = await run_one_tool_call(quick_or_nothing, outputs, tool_timeout=300)
    assert 2.0 <= took < 3.0
    assert [e.timeout for e in events if isinstance(e, ToolCallTimedOut)] == [2.0]

    @function_tool(timeout=math.inf)
    async def patient() -> str:
        """May take its time."""
        await anyio.sleep(100)
        return "done"

    outputs.clear()
    events, handler, took = await run_one_tool_call(patient, outputs, tool_timeout=1)
    assert took >= 100.0 and outputs[0]["item"]["output"] == "done"
    assert not [e for e in events if isinstance(e, ToolCallTimedOut)] and handler.errors == []


async def hold_the_clock_until(flag: threading.Event) -> None:
    """Keep one task runnable until a worker thread sets ``flag``: a simulated clock
    jumps only when every task waits, and must not jump past a thread still starting."""
    while not flag.is_set():
        await anyio.lowlevel.checkpoint()


async def test_a_sync_tool_that_hangs_is_abandoned_and_close_returns_promptly(
    anyio_backend: Any,
) -> None:
    """A thread cannot be killed: it is abandoned, its late result discarded, and
    close() does not wait for it."""
    started = threading.Event()
    gate = threading.Event()
    finished = threading.Event()

    @function_tool(timeout=5)
    def blocking() -> str:
        """Blocks its worker thread until the test lets it go."""
        started.set()
        gate.wait(30)
        finished.set()
        return "too late"

    outputs: list[dict[str, Any]] = []
    real_start = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(hold_the_clock_until, started)
        events, _, took = await run_one_tool_call(blocking, outputs)  # ...which closes the runner
    real_took = time.monotonic() - real_start
    assert 5.0 <= took < 6.0 and real_took < 10.0  # close() did not wait for the thread
    assert not finished.is_set()  # the thread is still blocked, abandoned
    assert "timed out" in outputs[0]["item"]["output"]
    gate.set()
    assert await anyio.to_thread.run_sync(finished.wait, 10)
    assert len(outputs) == 1  # its result went nowhere
    assert [type(e).__name__ for e in events].count("ToolCallCompleted") == 1


async def test_a_tool_result_too_large_to_send_becomes_an_error_output(
    anyio_backend: Any,
) -> None:
    @function_tool
    async def dump() -> str:
        """Returns more than a provider takes in one message."""
        return "x" * (16 * 2**20)

    outputs: list[dict[str, Any]] = []
    events, handler, _ = await run_one_tool_call(dump, outputs)
    assert "too large" in json.loads(outputs[0]["item"]["output"])["error"]
    (completed,) = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert completed.error and len(completed.output) < 1000
    (error,) = handler.errors
    assert isinstance(error, MessageTooLargeToSend)
