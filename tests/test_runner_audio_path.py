"""The runner's synchronous audio path (``adk_realtime.runner_audio``): a received chunk is
played where it is read while the runner waits for its next event.

What the app may rely on, checked under asyncio (where the read callback plays chunks, no
task) and trio (the session's pump task does): every event once, in the server's order,
whatever mix of sync and async handlers and agent event sinks that push back; a handler's
exception ends the run with that exception and nothing after it is played; the chunk is
played in the runner task's context. ``EventQueue``'s consumer contract is tested alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import struct
from typing import Any

import anyio
import pytest

from adk_realtime import EventHandler, OpenAIRealtimeModel, RealtimeRunner
from adk_realtime.agent_events import AgentEvent, RealtimeEvent
from adk_realtime.sansio import events as ev
from adk_realtime.session_queue import EventQueue, QueueEnd
from tests.fake_server import FakeServer, ScriptConn
from tests.oracles_openai import example_server_event

pytestmark = pytest.mark.anyio

API_KEY = "sk-test-audio-path"
CHUNKS = 60
where_var: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="unset")


def audio(i: int) -> str:
    pcm = struct.pack("<I", i) * 120
    return example_server_event(
        "ga",
        "response.output_audio.delta",
        item_id="item_1",
        response_id="resp_1",
        delta=base64.b64encode(pcm).decode(),
    )


def transcript(i: int | str) -> str:
    return example_server_event(
        "ga",
        "response.output_audio_transcript.delta",
        item_id="item_1",
        response_id="resp_1",
        delta=f"t{i}",
    )


def expected() -> list[str]:
    # every 7th chunk has a transcript delta after it: async handlers in between
    chunks = [x for i in range(CHUNKS) for x in ([f"a{i}", f"t{i}"] if i % 7 == 3 else [f"a{i}"])]
    return ["tready", *chunks]


async def stream(conn: ScriptConn) -> None:
    await conn.send(example_server_event("ga", "session.created"))
    await conn.send(
        example_server_event(
            "ga", "response.created", response={"id": "resp_1", "status": "in_progress"}
        )
    )
    await conn.send(transcript("ready"))
    # The app says "go" once the runner waits for its next event: the first chunk then
    # arrives while it waits (on asyncio: the read path plays it), the rest in a burst.
    await conn.recv_until(lambda m: m["type"] == "input_audio_buffer.clear")
    for i in range(CHUNKS):
        await conn.send(audio(i))
        if i % 7 == 3:
            await conn.send(transcript(i))
    await conn.recv_until(lambda m: False)  # until the app leaves


class Ordered(EventHandler):
    """Records what it sees; the transcript handler is async and yields, so the runner is
    busy in its task while more chunks arrive."""

    def __init__(self, *, async_audio: bool = False, fail_at: int | None = None) -> None:
        self.seen: list[str] = []
        self.in_read_path = 0  # chunks played with no task running (the asyncio read path)
        self.contexts: set[str] = set()
        self.done = anyio.Event()
        self.ready = anyio.Event()
        self.fail_at = fail_at
        if async_audio:
            self.on_audio = self._async_audio  # type: ignore[method-assign]

    def _record(self, audio: bytes) -> None:
        index = struct.unpack_from("<I", audio)[0]
        if index == self.fail_at:
            raise LookupError(f"chunk {index} refused by the app")
        self.seen.append(f"a{index}")
        self.contexts.add(where_var.get())
        try:
            self.in_read_path += asyncio.current_task() is None
        except RuntimeError:  # trio
            pass
        if index == CHUNKS - 1:
            self.done.set()

    def on_audio(self, audio: bytes, item_id: str) -> None:
        self._record(audio)

    async def _async_audio(self, audio: bytes, item_id: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._record(audio)

    async def on_transcript(self, text: str, item_id: str) -> None:
        if text == "tready":
            self.ready.set()
        else:
            await anyio.sleep(0.001)  # busy in the runner's task while chunks keep coming
        self.seen.append(text)


async def go_when_ready(runner: RealtimeRunner, handler: Ordered) -> None:
    await handler.ready.wait()
    await anyio.wait_all_tasks_blocked()  # the runner waits for its next event
    session = runner.session
    assert session is not None
    await session.clear_audio()  # "go" (a text would start a turn: its first chunk awaits)


async def run_until_done(handler: Ordered, **kwargs: Any) -> RealtimeRunner:
    with FakeServer(stream) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        runner = RealtimeRunner(model, event_handler=handler, **kwargs)
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                where_var.set("runner task")
                await runner.run()

            tg.start_soon(run)
            with anyio.fail_after(20):
                await go_when_ready(runner, handler)
                await handler.done.wait()
            await runner.close()
    return runner


async def test_every_chunk_once_in_order_between_async_handlers(anyio_backend: str) -> None:
    handler = Ordered()
    await run_until_done(handler)
    assert handler.seen == expected()
    assert handler.contexts == {"runner task"}  # the runner task's context vars, always
    if anyio_backend == "asyncio":
        assert handler.in_read_path > 0  # the path is taken (not only the task's)


async def test_an_async_on_audio_is_awaited_in_order(anyio_backend: str) -> None:
    handler = Ordered(async_audio=True)
    await run_until_done(handler)
    assert handler.seen == expected()
    assert handler.contexts == {"runner task"}
    assert handler.in_read_path == 0  # awaited in the runner's task


async def test_a_sink_that_pushes_back_keeps_the_order(anyio_backend: str) -> None:
    handler = Ordered()
    sunk: list[str] = []

    def sink(event: AgentEvent) -> Any:
        if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.AudioDelta):
            index = struct.unpack_from("<I", event.event.delta)[0]
            sunk.append(f"a{index}")
            if index % 5 == 0:
                return anyio.sleep(0.001)  # the sink's buffer is full: the runner waits
        return None

    await run_until_done(handler, agent_event_sink=sink)
    assert handler.seen == expected()
    assert sunk == [x for x in expected() if x.startswith("a")]


async def test_a_failing_on_audio_ends_the_run_with_its_error(anyio_backend: str) -> None:
    handler = Ordered(fail_at=10)
    with FakeServer(stream) as server:
        model = OpenAIRealtimeModel(API_KEY, base_url=f"{server.url}/v1")
        runner = RealtimeRunner(model, event_handler=handler)
        failures: list[BaseException] = []
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(go_when_ready, runner, handler)
                try:
                    await runner.run()
                except LookupError as exc:
                    failures.append(exc)
                finally:
                    tg.cancel_scope.cancel()
    assert [str(f) for f in failures] == ["chunk 10 refused by the app"]
    assert handler.seen == expected()[: expected().index("a10")]  # nothing after it played


# ------------------------------------------------------------------ the queue's contract


def delta(i: int) -> ev.AudioDelta:
    return ev.AudioDelta(struct.pack("<I", i), "item_1")


async def test_queue_offers_only_while_the_getter_waits_on_an_empty_queue(
    anyio_backend: str,
) -> None:
    queue = EventQueue(8)
    offered: list[Any] = []

    def consumer(event: ev.ServerEvent) -> bool:
        offered.append(event)
        return True

    queue.set_consumer(consumer)
    assert queue.put_nowait(delta(0))  # nobody waits: queued, not offered
    assert offered == [] and await queue.get() == delta(0)
    async with anyio.create_task_group() as tg:
        got: list[Any] = []

        async def getter() -> None:
            got.append(await queue.get())

        tg.start_soon(getter)
        await anyio.wait_all_tasks_blocked()
        assert queue.put_nowait(delta(1))  # taken by the consumer: the getter sleeps on
        assert offered == [delta(1)] and got == []
        assert queue.put_nowait(QueueEnd(None))  # never offered
        await anyio.wait_all_tasks_blocked()
        assert queue.put_nowait(delta(2))  # an item is queued: behind it, in order
    assert len(got) == 1 and isinstance(got[0], QueueEnd)
    assert offered == [delta(1)] and await queue.get() == delta(2)


async def test_queue_defers_what_the_consumer_hands_back(anyio_backend: str) -> None:
    queue = EventQueue(8)
    log: list[str] = []

    async def later(i: int) -> None:
        await anyio.lowlevel.checkpoint()
        log.append(f"awaited {i}")

    def consumer(event: ev.ServerEvent) -> Any:
        i = struct.unpack_from("<I", event.delta)[0]  # type: ignore[union-attr]
        if i == 1:
            return False  # the getter takes it
        if i == 2:
            raise KeyError("consumer failed")
        return later(i)

    queue.set_consumer(consumer)

    async def one_put(i: int) -> Any:
        async with anyio.create_task_group() as tg:
            got: list[Any] = []

            async def getter() -> None:
                try:
                    got.append(await queue.get())
                except KeyError as exc:
                    got.append(exc)

            tg.start_soon(getter)
            await anyio.wait_all_tasks_blocked()
            queue.put_nowait(delta(i))
            if i == 0:
                await anyio.wait_all_tasks_blocked()
                assert log == ["awaited 0"]  # awaited by the getter, which then waits on
                queue.put_nowait(QueueEnd(None))
        return got[0]

    assert isinstance(await one_put(0), QueueEnd)
    assert await one_put(1) == delta(1)
    error = await one_put(2)
    assert isinstance(error, KeyError) and "consumer failed" in str(error)
