"""MCP servers on the agent, ``RealtimeAgent(mcp_servers=[...])`` (the OpenAI Agents SDK's
form): the server's tools are that agent's tools, a handoff gives the target its servers'
tools, a server named twice is connected once per runner, each runner connects its own.
Against the real MCP server of ``tests/mcp_weather_server.py`` (the ``mcp`` package's own
server API, over stdio) and the simulator, under asyncio and trio.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import anyio
import pytest

from adk_realtime import RealtimeAgent, RealtimeRunner
from adk_realtime.agent_events import AgentEvent, Handoff, RealtimeEvent, ToolCallCompleted
from adk_realtime.mcp import MCPServerStdio
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.tools import function_tool
from tests.test_mcp import SERVER_SCRIPT, Transcript, converse, simulator, stdio_server
from tests.test_runner import model_for

pytestmark = pytest.mark.anyio

__all__ = ["simulator"]  # the fixture, shared with test_mcp


class CountingServer(MCPServerStdio):
    """The weather server over stdio, counting the connections made to it."""

    def __init__(self, **kw: Any) -> None:
        import sys

        super().__init__(sys.executable, [SERVER_SCRIPT], **kw)
        self.connections = 0

    def _client_for(self, stack: AsyncExitStack) -> Any:
        self.connections += 1
        return super()._client_for(stack)


def tool_names(runner: RealtimeRunner) -> set[str]:
    session = runner.session
    assert session is not None
    return {tool.name for tool in session.config.tools}


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_an_agents_mcp_server_gives_that_agent_its_tools(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    seen: list[str] = []
    events: list[AgentEvent] = []
    agent = RealtimeAgent(
        "a",
        model_for(provider, simulator),
        mcp_servers=[stdio_server()],
        before_tool_callback=lambda ctx: seen.append(ctx.name),  # the agent's callbacks run
    )
    handler = Transcript()
    runner = RealtimeRunner(agent=agent, event_handler=handler, agent_event_sink=events.append)
    await converse(runner, handler, "What is the forecast in Paris?", "sunny in Paris")
    assert seen == ["get_forecast"]
    (done,) = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert (done.name, done.output, done.error) == (
        "get_forecast",
        "sunny in Paris, 21 degrees",
        False,
    )
    assert not handler.errors
    assert agent.tools == [] and runner.extra_tools == []  # nothing leaked into either


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_a_handoff_gives_the_target_its_mcp_tools(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    model = model_for(provider, simulator)
    forecaster = RealtimeAgent(
        "forecaster", model, description="weather", mcp_servers=[stdio_server()]
    )
    receptionist = RealtimeAgent("receptionist", model, sub_agents=[forecaster])
    handler = Transcript()
    events: list[AgentEvent] = []
    switched = anyio.Event()

    def sink(event: AgentEvent) -> None:
        events.append(event)
        # OpenAI switches on the same connection; Gemini once it has resumed.
        resumed = isinstance(event, RealtimeEvent) and isinstance(event.event, ev.SessionResumed)
        if (provider == "openai" and isinstance(event, Handoff)) or resumed:
            switched.set()

    runner = RealtimeRunner(agent=receptionist, event_handler=handler, agent_event_sink=sink)
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.wait_connected()
        before = tool_names(runner)
        await runner.send_text("Please transfer me to the forecaster")
        with anyio.fail_after(20):
            await switched.wait()
        after = tool_names(runner)
        await runner.send_text("What is the forecast in Oslo?")
        with anyio.fail_after(20):
            while "sunny in Oslo" not in handler.text:
                await handler.done.wait()
        await runner.close()
    assert "get_forecast" not in before and "transfer_to_agent" in before
    assert {"get_forecast", "get_tide"} <= after
    assert runner.active_agent is forecaster
    calls = [e.name for e in events if isinstance(e, ToolCallCompleted)]
    assert calls == ["transfer_to_agent", "get_forecast"]


async def test_a_server_shared_by_agents_and_the_runner_is_connected_once(
    anyio_backend: str, simulator: Any
) -> None:
    model = model_for("openai", simulator)
    shared = CountingServer()
    forecaster = RealtimeAgent("forecaster", model, mcp_servers=[shared])
    receptionist = RealtimeAgent(
        "receptionist", model, sub_agents=[forecaster], mcp_servers=[shared]
    )
    handler = Transcript()
    runner = RealtimeRunner(agent=receptionist, event_handler=handler, mcp_servers=[shared])
    await converse(runner, handler, "What is the tide in Brest?", '"high": "06:12"')
    assert shared.connections == 1
    assert not handler.errors


async def test_two_runners_sharing_an_agent_each_connect_its_servers(
    anyio_backend: str, simulator: Any
) -> None:
    server = CountingServer()
    agent = RealtimeAgent("a", model_for("openai", simulator), mcp_servers=[server])
    handlers = [Transcript(), Transcript()]
    runners = [RealtimeRunner(agent=agent, event_handler=h) for h in handlers]
    async with anyio.create_task_group() as tg:  # two calls at once, one agent
        for runner, handler, city in zip(runners, handlers, ["Paris", "Lima"], strict=True):
            tg.start_soon(converse, runner, handler, f"What is the forecast in {city}?", city)
    assert "sunny in Paris" in handlers[0].text and "sunny in Lima" in handlers[1].text
    assert server.connections == 2
    assert not handlers[0].errors and not handlers[1].errors


async def test_two_agents_may_each_have_a_tool_of_the_same_name(
    anyio_backend: str, simulator: Any
) -> None:
    model = model_for("openai", simulator)
    forecaster = RealtimeAgent("forecaster", model, mcp_servers=[stdio_server()])
    receptionist = RealtimeAgent(
        "receptionist", model, sub_agents=[forecaster], mcp_servers=[stdio_server()]
    )
    handler = Transcript()
    runner = RealtimeRunner(agent=receptionist, event_handler=handler)
    await converse(runner, handler, "What is the forecast in Rome?", "sunny in Rome")
    assert not handler.errors


async def test_an_agents_mcp_tool_named_like_its_local_tool_is_refused(
    anyio_backend: str, simulator: Any
) -> None:
    @function_tool
    def get_forecast(city: str) -> str:
        """Local forecast."""
        return "rain"

    forecaster = RealtimeAgent("forecaster", model_for("openai", simulator), tools=[get_forecast])
    forecaster.mcp_servers.append(stdio_server())
    root = RealtimeAgent("root", model_for("openai", simulator), sub_agents=[forecaster])
    runner = RealtimeRunner(agent=root)
    with anyio.fail_after(20), pytest.raises(ConfigError, match="tool_prefix") as info:
        await runner.run()
    assert info.value.field == "mcp_servers"


def test_the_agent_builder_takes_mcp_servers() -> None:
    from adk_realtime import OpenAIRealtimeModel

    server = stdio_server()
    agent = (
        RealtimeAgent.builder("a")
        .model(OpenAIRealtimeModel("sk-test", "gpt-realtime"))
        .mcp_server(server)
        .build()
    )
    assert agent.mcp_servers == [server]


@pytest.mark.parametrize(
    "servers",
    [
        pytest.param(lambda s: s, id="not-a-list"),
        pytest.param(lambda s: ["python server.py"], id="a-string"),
        pytest.param(lambda s: [s, s], id="twice"),
    ],
)
def test_bad_agent_mcp_servers_are_config_errors(servers: Any) -> None:
    with pytest.raises(ConfigError) as info:
        RealtimeAgent("a", require_model=False, mcp_servers=servers(stdio_server()))
    assert info.value.field == "mcp_servers"
