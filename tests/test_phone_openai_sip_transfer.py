"""Transferring an OpenAI SIP call from a tool: `transfer_call_tool` sends the refer.

The simulator plays OpenAI's SIP side: the caller asks for a human, the model calls the
tool, the simulator's call-control endpoint gets ``POST .../refer`` with the target, and
the call's runner ends. The target (a phone number) is never logged.
"""

from __future__ import annotations

import logging

import anyio
import pytest

from adk_realtime import RealtimeAgent
from adk_realtime.call_control import CallControl, transfer_call_tool
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.tools import ToolContext
from tests.test_phone_openai_sip import CALLER, Recorder, deliver, setup, signed

pytestmark = pytest.mark.anyio

TARGET = "tel:+14155550777"


async def test_the_transfer_tool_refers_the_call_and_the_call_ends(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handler = Recorder()
    tool = transfer_call_tool(TARGET, description="Transfer the caller to a human.")
    async with setup(event_handler=handler) as (sim, server, calls):
        agent = server.agent
        assert isinstance(agent, RealtimeAgent)
        agent.tools.append(tool)
        call_id, body = sim.ring(now=0, caller=CALLER)
        assert (await deliver(server, body, signed(body))).status == 200
        with anyio.fail_after(10):
            await calls.ready.wait()
            ctx = calls.contexts[0]
            assert ctx.runner is not None
            await ctx.runner.wait_connected()
            await ctx.runner.send_text("Please transfer me to a human.")
            await handler.disconnected.wait()
        assert handler.reasons == ["closed"]  # a normal end, no error
        control = ctx.state["call_control"]
        assert isinstance(control, CallControl) and control.transferred
        referred = sim.hub.calls.actions("refer")
        assert [(a.call_id, a.status, a.body) for a in referred] == [
            (call_id, 200, {"target_uri": TARGET})
        ]
        with anyio.fail_after(10):
            while server.active_calls:
                await anyio.sleep(0.01)
    assert server.calls_served == 1
    assert "+14155550777" not in caplog.text and TARGET not in repr(tool)
    assert "transferred" in caplog.text


async def test_without_a_sip_call_the_tool_says_it_cannot_transfer(anyio_backend: str) -> None:
    tool = transfer_call_tool("sip:desk@example.com")
    result = await tool.call({}, ToolContext("c1", tool.name, {}))
    assert result == {"transferred": False, "error": "this call cannot be transferred"}


def test_a_bad_target_is_a_config_error_that_does_not_show_it() -> None:
    for bad in ("+14155550777", "http://x", "tel:+1\n555"):
        with pytest.raises(ConfigError, match="target_uri") as err:
            transfer_call_tool(bad)
        assert "555" not in str(err.value)
