"""``agent.run(ctx)``: run an agent and iterate its agent events, from any cancel scope.

Theory of operation
-------------------
The run's work (connecting, pumping the session, running tools) happens in a
task of its own, started by the first ``__anext__`` (or by ``async with``); the
iterator only reads the buffer that task fills. No task group or cancel scope
is held across the consumer's ``await``, so the consumer may iterate inside
``anyio.move_on_after(...)``, time out waiting for one event and ask for the
next, move between scopes, or leave early. (An async generator that owns a
task group breaks on each of these: asyncio raises "Attempted to exit a cancel
scope that isn't the current task's current cancel scope", trio "Cancel scope
stack corrupted".)

That task lives outside the caller's cancel scopes, since work that outlives a
``yield`` has no other place: an asyncio task, or a trio system task. It ends
when the conversation ends, when ``aclose()`` cancels it (``async with``'s exit,
``contextlib.aclosing``, or leaving early and closing), or, as a last resort,
when the iterator is garbage-collected. An error that ends the run is raised
by ``__anext__`` once the events before it were read.

The buffer holds ``buffer_size`` events (1024). Only model audio may be lost
there, and each loss is counted (``runner.metrics.dropped_audio_events``):
when the buffer is full, an arriving audio event is dropped; any other event
(``ResponseDone``, tool calls, transcripts...) takes the place of the oldest
buffered audio event; and when the buffer holds no audio at all, the runner
waits for the consumer (back-pressure: the session stops reading, TCP pushes
back on the provider). The event handler and the audio outputs get every event
as always, on the runner's pump, whatever the consumer does.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

import anyio

from adk_realtime.agent_events import AgentEvent, RunnerMetrics, is_audio
from adk_realtime.runner import RealtimeRunner, RunContext

if TYPE_CHECKING:  # types only: agent.py imports this module lazily, a cycle otherwise
    from adk_realtime.agent import RealtimeAgent

BUFFER_SIZE = 1024


class _End:
    """The end of the run in the buffer; ``error`` ended it, if anything did."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error


class _AgentEventBuffer:
    """The bounded FIFO between the run's task and the consumer (see the module doc)."""

    def __init__(self, size: int, metrics: RunnerMetrics) -> None:
        if size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {size}")
        self._items: collections.deque[AgentEvent] = collections.deque()
        self._size = size
        self._audio = 0  # audio events in _items
        self._waiting = 0  # producers waiting for room
        self._metrics = metrics
        self._end: _End | None = None
        self._closed = False  # the consumer left: nothing is kept any more
        self._readable: anyio.Event | None = None
        self._writable: anyio.Event | None = None

    def put(self, event: AgentEvent) -> Awaitable[None] | None:
        """The runner's ``agent_event_sink``: queue ``event``, or return what to await first."""
        if self._closed:
            return None
        if len(self._items) < self._size and not self._waiting:
            self._append(event)
        elif is_audio(event):
            self._metrics.dropped_audio_events += 1
        elif self._audio and not self._waiting:
            self._drop_oldest_audio()
            self._append(event)
        else:
            return self._put_when_there_is_room(event)
        return None

    async def _put_when_there_is_room(self, event: AgentEvent) -> None:
        self._waiting += 1
        try:
            while len(self._items) >= self._size and not self._closed:
                if self._writable is None:
                    self._writable = anyio.Event()
                await self._writable.wait()
        finally:
            self._waiting -= 1
        if not self._closed:
            self._append(event)

    def _append(self, event: AgentEvent) -> None:
        self._items.append(event)
        if is_audio(event):
            self._audio += 1
        if self._readable is not None:
            self._readable.set()
            self._readable = None

    def _drop_oldest_audio(self) -> None:
        for index, item in enumerate(self._items):
            if is_audio(item):
                del self._items[index]
                self._audio -= 1
                self._metrics.dropped_audio_events += 1
                return

    async def get(self) -> AgentEvent | _End:
        """The next event, or the end; a cancelled ``get`` takes nothing out."""
        while not self._items:
            if self._end is not None:
                return self._end
            if self._readable is None:
                self._readable = anyio.Event()
            await self._readable.wait()
        item = self._items.popleft()
        if is_audio(item):
            self._audio -= 1
        if self._writable is not None:
            self._writable.set()
            self._writable = None
        return item

    def finish(self, error: Exception | None) -> None:
        """The run ended (after its last event)."""
        self._end = _End(error)
        if self._readable is not None:
            self._readable.set()
            self._readable = None

    def close(self) -> None:
        """The consumer left: drop what is buffered, release waiting producers."""
        self._closed = True
        self._items.clear()
        self._audio = 0
        if self._writable is not None:
            self._writable.set()
            self._writable = None


_asyncio_tasks: set[asyncio.Task[None]] = set()  # strong references while they run


class _RunTask:
    """The run's own task, outside every cancel scope of the caller (see the module doc)."""

    def __init__(self, work: Callable[[], Awaitable[None]]) -> None:
        self._scope = anyio.CancelScope()
        self.done = anyio.Event()
        self._call_soon: Callable[[Callable[[], object]], object]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: trio (anyio's other backend)
            import trio  # lazily: trio is a backend the app chose, not a dependency

            context = contextvars.copy_context()
            trio.lowlevel.spawn_system_task(self._body, work, context=context)
            self._call_soon = trio.lowlevel.current_trio_token().run_sync_soon
        else:
            task = loop.create_task(self._body(work))
            _asyncio_tasks.add(task)
            task.add_done_callback(_asyncio_tasks.discard)
            self._call_soon = loop.call_soon_threadsafe

    async def _body(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            with self._scope:
                await work()
        finally:
            self.done.set()

    def cancel(self) -> None:
        self._scope.cancel()

    def cancel_from_anywhere(self) -> None:
        """Cancel from any thread (a finalizer's); nothing happens once the loop is gone."""
        try:
            self._call_soon(self._scope.cancel)
        except Exception:  # the event loop already closed or the trio run finished
            pass


class AgentRun:
    """What ``agent.run(ctx)`` returns: an async iterator of the run's agent events,
    and an async context manager that ends the run on exit (see the module doc).

    ``runner`` is the :class:`RealtimeRunner` doing the work (its ``metrics``,
    ``send_audio``...); ``ctx`` reaches it too (``ctx.send_text``, ``ctx.close``).
    ``buffer_size``: agent events kept for a consumer that falls behind (1024);
    beyond it only model audio is dropped, and other events make the runner wait.
    """

    def __init__(
        self, agent: RealtimeAgent, ctx: RunContext, *, buffer_size: int = BUFFER_SIZE
    ) -> None:
        metrics = RunnerMetrics()
        self._buffer = _AgentEventBuffer(buffer_size, metrics)
        self.runner = RealtimeRunner(
            agent=agent,
            event_handler=ctx.event_handler,
            context=ctx,
            agent_event_sink=self._buffer.put,
        )
        self.runner.metrics = metrics
        self._task: _RunTask | None = None
        self._finished = False

    def __repr__(self) -> str:
        state = "finished" if self._finished else "running" if self._task else "not started"
        return f"<AgentRun {self.runner.active_agent.name if self.runner.active_agent else ''} {state}>"

    def __aiter__(self) -> AgentRun:
        return self

    async def __anext__(self) -> AgentEvent:
        if self._finished:
            raise StopAsyncIteration
        if self._task is None:
            self._start()
        item = await self._buffer.get()
        if isinstance(item, _End):
            self._finished = True
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item

    def _start(self) -> None:
        runner, buffer = self.runner, self._buffer  # (the task must not hold self: see __del__)

        async def run() -> None:
            error: Exception | None = None
            try:
                await runner.run()
            except Exception as exc:  # given to the consumer by __anext__
                error = exc
            finally:
                buffer.finish(error)

        self._task = _RunTask(run)

    async def aclose(self) -> None:
        """End the run (its session closes) and wait until it has; idempotent."""
        self._finished = True
        self._buffer.close()
        task = self._task
        if task is not None:
            task.cancel()
            with anyio.CancelScope(shield=True):
                await task.done.wait()

    async def __aenter__(self) -> AgentRun:
        if self._task is None and not self._finished:
            self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped without aclose(): end the run rather than let it talk to nobody.
        task = self._task
        if task is not None and not task.done.is_set():
            task.cancel_from_anywhere()


__all__ = ["BUFFER_SIZE", "AgentRun"]
