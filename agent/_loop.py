"""The running event loop's clock and event class, looked up once.

``anyio.current_time()`` and ``anyio.Event()`` find the backend on every call (sniffio,
then ``asyncio.current_task()``): together about a tenth of the CPU of the receive path
when they run per message. These return what anyio ends up using (``loop.time`` and
``asyncio.Event`` on asyncio, ``trio.current_time`` and ``trio.Event`` on trio), so a hot
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


def loop_event_class() -> Callable[[], Any]:
    """A factory of events (``set()``, ``await wait()``) native to the running loop."""
    try:
        asyncio.get_running_loop()
        return asyncio.Event
    except RuntimeError:
        pass
    try:
        import trio  # lazy import: trio is optional, and only its own loop gets here
    except ImportError:  # pragma: no cover
        return anyio.Event
    return trio.Event
