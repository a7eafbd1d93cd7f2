"""``adk_realtime._loop``: the loop's own clock and event class, found once, are the ones
anyio uses (same clock readings, events that anyio can cancel a wait on)."""

from __future__ import annotations

import anyio
import pytest

from adk_realtime._loop import loop_clock, loop_event_class

pytestmark = pytest.mark.anyio


async def test_the_clock_is_anyios_clock() -> None:
    clock = loop_clock()
    before = anyio.current_time()
    mine = clock()
    after = anyio.current_time()
    assert before <= mine <= after


async def test_the_event_class_wakes_a_waiter_and_a_wait_can_be_cancelled() -> None:
    new_event = loop_event_class()
    event = new_event()
    woke: list[bool] = []

    async def waiter() -> None:
        await event.wait()
        woke.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        event.set()
    assert woke == [True]

    with anyio.move_on_after(0.05) as scope:
        await new_event().wait()  # never set: the cancel scope ends the wait
    assert scope.cancelled_caught
