"""The running event loop's clock and event class, looked up once.

``anyio.current_time()`` and ``anyio.Event()`` find the backend on every call (sniffio,
then ``asyncio.current_task()``): together about a tenth of the CPU of the receive path
when they run per message. These return what anyio ends up using (``loop.time`` and
asyncio futures on asyncio, ``trio.current_time`` and ``trio.Event`` on trio), so a hot
path gets the very same clock and events for the cost of one call. Cancellation is
unchanged: anyio cancels a task waiting on either the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio


def loop_clock() -> Callable[[], float]:
    """The clock ``anyio.current_time()`` reads in the running loop (call inside it)."""
    try:
        return asyncio.get_running_loop().time
    except RuntimeError:
        pass
    try:
        import trio  # lazy import: trio is optional, and only its own loop gets here
    except ImportError:  # pragma: no cover - some other backend: keep anyio's look-up
        return anyio.current_time
    return trio.current_time


class AsyncioEvent:
    """``asyncio.Event``'s ``set``/``wait``/``is_set`` without its loop binding (a lock and a
    look-up on each event's first wait, paid per message where a queue makes an event per
    wait). Each waiter waits on its own future, so cancelling one wakes no other."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if not self._set:
                self._waiters.remove(waiter)  # cancelled


def loop_event_class() -> Callable[[], Any]:
    """A factory of events (``set()``, ``await wait()``) native to the running loop."""
    try:
        asyncio.get_running_loop()
        return AsyncioEvent
    except RuntimeError:
        pass
    try:
        import trio  # lazy import: trio is optional, and only its own loop gets here
    except ImportError:  # pragma: no cover
        return anyio.Event
    return trio.Event


def loop_lock() -> Any:
    """A lock native to the running loop (``async with``, ``locked()``): on asyncio its
    own, which takes a free lock with no look-ups at all (anyio's walks the cancel scopes
    first); elsewhere anyio's, uncontended without a checkpoint. Both are fair (FIFO)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.Lock(fast_acquire=True)
    return asyncio.Lock()
