"""The running event loop's clock, looked up once.

``anyio.current_time()`` finds the backend on every call (sniffio, then
``asyncio.current_task()``): about a tenth of the CPU of the receive path when it runs
per message. This returns the function it ends up calling (``loop.time`` on asyncio,
``trio.current_time`` on trio), so a hot path reads the very same clock for the cost of
one call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
