"""DTMF as text on a call bridged to the simulator: digits pressed while the model is
answering are buffered and reach it as one user message once the answer is done (a
``response.create`` per digit would be refused while a response is active).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from adk_realtime.agent import RealtimeAgent
from adk_realtime.agent_events import AgentEvent, RealtimeEvent
from adk_realtime.call_bridge import BridgeOptions
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.dtmf_text import dtmf_message
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.tools import function_tool
from tests.test_call_bridge_control import Handler, bridged, sim_model

pytestmark = pytest.mark.anyio


class ErrorsSeen(Handler):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[Any] = []

    def on_error(self, error: Any) -> None:
        self.errors.append(error)


async def test_digits_pressed_during_an_answer_go_as_one_message_after_it() -> None:
    keys: list[str] = []
    order: list[str] = []
    answering = anyio.Event()

    @function_tool
    def pressed_keys(message: str) -> str:
        """Note the keys the caller pressed."""
        keys.append(message)
        order.append("digits")
        return "noted"

    def sink(event: AgentEvent) -> None:
        if isinstance(event, RealtimeEvent):
            if isinstance(event.event, ev.ResponseCreated):
                answering.set()
            elif isinstance(event.event, ev.ResponseDone):
                order.append("done")

    async with run_simulator(hub=SimulatorHub(pace=1.0)) as server:
        model = sim_model(server)
        agent = RealtimeAgent("phone", model, instruction="x", tools=[pressed_keys])
        handler = ErrorsSeen()
        options = BridgeOptions(dtmf_as_text=True, dtmf_pause=0.2, greeting="Say hello")
        async with bridged(
            model,
            agent,
            event_handler=handler,
            options=options,
            runner_kwargs={"agent_event_sink": sink},
        ) as call:
            with anyio.fail_after(10):
                await answering.wait()  # the greeting's answer is going
                for digit in "123":
                    await call.caller.dtmf(digit)
                await handler.wait_for(lambda: handler.dtmf == ["1", "2", "3"])
                await handler.wait_for(lambda: bool(keys) and handler.responses >= 3)
            await call.caller.stop()
            summary = await call.summary()
    assert handler.errors == []  # no "already has an active response"
    assert keys == [dtmf_message("123")] == ["The caller pressed 123."]
    assert order[0] == "done" and "digits" in order  # sent once the greeting's answer was done
    assert summary.dtmf_digits == "123"


def test_the_pause_is_checked() -> None:
    for bad in (0, -1.0, "1", True):
        with pytest.raises(ConfigError, match="dtmf_pause"):
            BridgeOptions(dtmf_pause=bad)  # type: ignore[arg-type]
