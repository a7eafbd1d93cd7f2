"""Simulated clocks for both backends: time jumps when every task waits.

``trio.testing.MockClock(autojump_threshold=0)`` does it for trio; asyncio has
no such clock, so :class:`VirtualClockLoop` is one: an event loop whose
``time()`` is virtual and whose selector, when nothing is ready, advances that
time to the next timer instead of sleeping. Real I/O still wakes it (a worker
thread finishing posts to the loop's self-pipe), so only in-memory peers make
a test fully deterministic: a real socket's data may arrive after the clock
jumped.

A test module opts in by overriding the ``anyio_backend`` fixture::

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(request):
        return simulated_time(request.param)

Each test then runs under asyncio and trio, both on simulated time.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

import trio.testing


class _JumpingSelector(selectors.BaseSelector):
    """A real selector that, instead of blocking until a timer is due, jumps to it."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.now = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only real I/O (a thread's wake-up) can help
            return self._real.select(None)
        self.now += timeout
        return []

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on simulated time (see the module docstring)."""

    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


def simulated_time(backend: str) -> tuple[str, dict[str, Any]]:
    """An ``anyio_backend`` value on simulated time: asyncio with :class:`VirtualClockLoop`,
    trio with ``MockClock(autojump_threshold=0)``."""
    if backend == "trio":
        return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
    return ("asyncio", {"loop_factory": VirtualClockLoop})
