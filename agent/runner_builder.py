"""``RealtimeRunner.builder()``: the fluent way to configure a :class:`RealtimeRunner`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adk_realtime.agent import RealtimeAgent
from adk_realtime.mcp import MCPServer
from adk_realtime.models import RealtimeModel
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.history import History
from adk_realtime.tools import Tool

if TYPE_CHECKING:  # runner.py imports this module: a cycle at run time
    from adk_realtime.runner import EventHandler, RealtimeRunner


class RealtimeRunnerBuilder:
    """``RealtimeRunner.builder().model(m).agent(a).event_handler(h).build()``."""

    def __init__(self) -> None:
        self._kw: dict[str, Any] = {}
        self._tools: list[Tool | Callable[..., Any]] = []

    def model(self, model: RealtimeModel) -> RealtimeRunnerBuilder:
        self._kw["model"] = model
        return self

    def agent(self, agent: RealtimeAgent) -> RealtimeRunnerBuilder:
        self._kw["agent"] = agent
        return self

    def config(self, config: RealtimeConfig) -> RealtimeRunnerBuilder:
        self._kw["config"] = config
        return self

    def event_handler(self, handler: EventHandler) -> RealtimeRunnerBuilder:
        self._kw["event_handler"] = handler
        return self

    def tool(self, tool: Tool | Callable[..., Any]) -> RealtimeRunnerBuilder:
        self._tools.append(tool)
        return self

    def max_concurrent_tools(self, n: int) -> RealtimeRunnerBuilder:
        self._kw["max_concurrent_tools"] = n
        return self

    def history(self, history: History) -> RealtimeRunnerBuilder:
        """Start from an earlier conversation (see :attr:`RealtimeRunner.history`)."""
        self._kw["history"] = history
        return self

    def tool_timeout(self, seconds: float) -> RealtimeRunnerBuilder:
        """Seconds a tool call may take unless the tool sets its own ``timeout``."""
        self._kw["tool_timeout"] = seconds
        return self

    def mcp_server(self, server: MCPServer) -> RealtimeRunnerBuilder:
        """Give the model the tools of an MCP server (see :mod:`adk_realtime.mcp`)."""
        self._kw.setdefault("mcp_servers", []).append(server)
        return self

    def build(self) -> RealtimeRunner:
        from adk_realtime.runner import RealtimeRunner  # lazily: runner.py imports us (a cycle)

        return RealtimeRunner(tools=self._tools, **self._kw)
