"""MCP tools against real MCP servers built with the ``mcp`` package's own server API:
one started as a process over stdio (``tests/mcp_weather_server.py``), one served over
streamable HTTP on loopback (uvicorn, in a thread). The provider is the simulator: its
brain calls the MCP tool and answers from its output. Under asyncio and trio.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from adk_realtime import EventHandler, RealtimeAgent, RealtimeRunner
from adk_realtime.agent_events import AgentEvent, ToolCallCompleted, ToolCallStarted
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.mcp import MCPServerError, MCPServerHTTP, MCPServerStdio
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.tools import ToolContext, function_tool
from tests.test_runner import model_for

pytestmark = pytest.mark.anyio

SERVER_SCRIPT = str(Path(__file__).with_name("mcp_weather_server.py"))
TOKEN = "Bearer mcp-secret-token-123"


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        yield server


def stdio_server(**kw: Any) -> MCPServerStdio:
    return MCPServerStdio(sys.executable, [SERVER_SCRIPT], **kw)


class Transcript(EventHandler):
    def __init__(self) -> None:
        self.text = ""
        self.errors: list[Any] = []
        self.done = anyio.Event()

    def on_transcript(self, text: str, item_id: str) -> None:
        self.text += text

    def on_response_done(self, event: ev.ResponseDone) -> None:
        self.done.set()
        self.done = anyio.Event()

    def on_error(self, error: Any) -> None:
        self.errors.append(error)


async def converse(runner: RealtimeRunner, handler: Transcript, text: str, answer: str) -> None:
    """Say ``text`` and wait (bounded) until the spoken answer holds ``answer``."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        await runner.send_text(text)
        with anyio.fail_after(20):
            while answer not in handler.text:
                await handler.done.wait()
        await runner.close()


# ------------------------------------------------------------------ HTTP server


class _RequireToken:
    """ASGI wrapper: HTTP requests without the bearer token get 401."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen_token = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != TOKEN.encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"no token"})
                return
            self.seen_token = True
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, _RequireToken]]:
    import uvicorn

    from tests.mcp_weather_server import build_server

    app = _RequireToken(build_server().streamable_http_app())
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):  # bounded: 10 s
        if server.started:
            started.set()
            break
        threading.Event().wait(0.05)
    assert started.is_set(), "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp", app
    server.should_exit = True
    thread.join(10)


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_the_model_calls_a_stdio_mcp_tool_and_answers_from_it(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    seen: list[str] = []
    events: list[AgentEvent] = []

    def before_tool(ctx: ToolContext) -> None:  # the agent's callbacks run for MCP tools too
        seen.append(f"{ctx.name}({ctx.arguments})")

    handler = Transcript()
    agent = RealtimeAgent("a", model_for(provider, simulator), before_tool_callback=before_tool)
    runner = RealtimeRunner(
        agent=agent,
        event_handler=handler,
        mcp_servers=[stdio_server()],
        agent_event_sink=events.append,
    )
    await converse(runner, handler, "What is the forecast in Paris?", "sunny in Paris")
    assert seen == ["get_forecast({'city': 'Paris'})"]
    (done,) = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert (done.name, done.output, done.error) == (
        "get_forecast",
        "sunny in Paris, 21 degrees",
        False,
    )
    assert not handler.errors
    assert [t.name for t in runner.extra_tools] == []  # the MCP tools left with the server


async def test_the_model_calls_an_http_mcp_tool_with_the_headers(
    anyio_backend: str, simulator: Any, http_server: tuple[str, _RequireToken]
) -> None:
    url, app = http_server
    handler = Transcript()
    server = MCPServerHTTP(url, headers={"Authorization": TOKEN}, tool_prefix="wx_")
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for("openai", simulator)),
        event_handler=handler,
        mcp_servers=[server],
    )
    await converse(runner, handler, "What is the tide in Brest?", '"high": "06:12"')
    assert app.seen_token
    assert "wx_get_tide" in {t.name for t in server.tools}


async def test_an_http_mcp_server_refusing_us_fails_the_run_clearly(
    anyio_backend: str, simulator: Any, http_server: tuple[str, _RequireToken]
) -> None:
    url, _ = http_server
    handler = Transcript()
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for("openai", simulator)),
        event_handler=handler,
        mcp_servers=[
            MCPServerHTTP(url + "?key=qs-secret-999", headers={"Authorization": "Bearer wrong"})
        ],
    )
    with anyio.fail_after(20), pytest.raises(MCPServerError, match="cannot connect") as info:
        await runner.run()
    assert handler.errors and handler.errors[0] is info.value
    shown = str(info.value)
    assert "wrong" not in shown and "qs-secret-999" not in shown and info.value.__cause__ is None
    with pytest.raises(Exception, match="MCPServerError"):
        await runner.wait_connected()


async def test_an_mcp_error_result_is_the_models_error_output(
    anyio_backend: str, simulator: Any
) -> None:
    handler = Transcript()
    events: list[AgentEvent] = []
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for("openai", simulator)),
        event_handler=handler,
        mcp_servers=[stdio_server()],
        agent_event_sink=events.append,
    )
    await converse(runner, handler, "Any alerts in Oslo?", "is down")
    (done,) = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert done.error and done.output.startswith('{"error": "MCPToolError: ')
    assert "the alert service for Oslo is down" in done.output


async def test_a_server_that_dies_mid_call_gives_a_tool_error_not_a_hang(
    anyio_backend: str, simulator: Any
) -> None:
    handler = Transcript()
    events: list[AgentEvent] = []
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for("openai", simulator)),
        event_handler=handler,
        mcp_servers=[stdio_server(name="radar")],
        agent_event_sink=events.append,
        tool_timeout=600,  # the error must come from the dead server, not the time limit
    )
    await converse(runner, handler, "Show the radar for Rome", "MCP server radar")
    (done,) = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert done.error and "MCPServerError: MCP server radar" in done.output
    assert any(isinstance(e, ToolCallStarted) for e in events)


async def test_an_mcp_tool_named_like_a_local_tool_is_refused(
    anyio_backend: str, simulator: Any
) -> None:
    @function_tool
    def get_forecast(city: str) -> str:
        """Local forecast."""
        return "rain"

    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for("openai", simulator), tools=[get_forecast]),
        mcp_servers=[stdio_server()],
    )
    with anyio.fail_after(20), pytest.raises(ConfigError, match="tool_prefix"):
        await runner.run()


def test_secrets_stay_out_of_reprs() -> None:
    stdio = stdio_server(env={"API_KEY": "sk-very-secret"})
    http = MCPServerHTTP(
        "https://user:pw@mcp.example.com/mcp?token=qs-secret",
        headers={"Authorization": "Bearer hdr-secret"},
    )
    shown = repr(stdio) + repr(http) + http.name + stdio.name
    for secret in ("sk-very-secret", "pw", "qs-secret", "hdr-secret"):
        assert secret not in shown
    assert "Authorization" in repr(http) and "mcp.example.com/mcp" in repr(http)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: MCPServerHTTP("ftp://x/mcp"), "url"),
        (lambda: MCPServerStdio(""), "command"),
        (lambda: MCPServerStdio("python", "server.py"), "args"),  # type: ignore[arg-type]
        (lambda: MCPServerStdio("python", tool_prefix="a.b"), "tool_prefix"),
        (lambda: MCPServerStdio("python", timeout=0), "timeout"),
    ],
)
def test_bad_server_settings_are_config_errors(make: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == field


def test_the_builder_takes_mcp_servers() -> None:
    from adk_realtime import OpenAIRealtimeModel

    server = stdio_server()
    runner = (
        RealtimeRunner.builder()
        .model(OpenAIRealtimeModel("sk-test", "gpt-realtime"))
        .mcp_server(server)
        .build()
    )
    assert runner.mcp_servers == [server]
