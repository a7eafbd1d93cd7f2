"""How late the event loop woke tasks while a test ran: the slack a real-time assertion
needs on a loaded machine, measured instead of guessed.

A timing claim such as "the clear goes out within one frame of the speech start" holds
in the loop's own time; when the machine is busy (a CI runner, parallel test workers)
every task wakes late by the same amount. ``watch_loop_lag`` runs a task that sleeps
``period`` again and again and keeps how late each wake-up was: a test then allows its
bound plus that lateness, so on a quiet machine the bound is as tight as written and a
real regression (a clear held back by the bridge itself) still fails.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio


@dataclass
class LoopLag:
    """``worst``: the latest one wake-up was (s); ``total``: all lateness added up (s)."""

    worst: float = 0.0
    total: float = 0.0

    def frames(self, frame_ms: int = 20, hops: int = 1) -> int:
        """The worst lateness in whole frames, rounded up, as ms; ``hops``: how many
        wake-ups a message waits for on its way (each can be that late)."""
        return math.ceil(hops * self.worst * 1000 / frame_ms) * frame_ms


@asynccontextmanager
async def watch_loop_lag(period: float = 0.005) -> AsyncIterator[LoopLag]:
    lag = LoopLag()

    async def watch() -> None:
        while True:
            start = anyio.current_time()
            await anyio.sleep(period)
            late = max(0.0, anyio.current_time() - start - period)
            lag.worst = max(lag.worst, late)
            lag.total += late

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        try:
            yield lag
        finally:
            tg.cancel_scope.cancel()
