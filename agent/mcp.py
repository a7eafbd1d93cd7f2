"""MCP tools: the tools of Model Context Protocol servers become the agent's tools.

``RealtimeAgent("a", model, mcp_servers=[MCPServerStdio("python", ["server.py"])])``
gives that agent the server's tools; ``RealtimeRunner(..., mcp_servers=[
MCPServerHTTP("http://127.0.0.1:8000/mcp", headers={"Authorization": ...})])`` gives
them to every agent of the run.

Theory of operation
-------------------
When the runner starts, it connects every server of the run, the runner's and
those of every agent under the root agent, each server once however many agents
name it (each in a *keeper* task of its own, so a server that fails later cannot
tear down the conversation), and lists its tools. A runner's server's tools are
the runner's tools, for every agent; an agent's server's tools are that agent's
tools, offered while it is the active agent (after a handoff to it too). When the
run ends the servers are closed (a stdio server's process ends with them). The
connections belong to the run (:class:`MCPConnection`): two runners sharing an
agent, one per call, each connect its servers. A server that cannot be reached
fails ``run()`` with :class:`MCPServerError` before the model is connected.

A call to an MCP tool goes through the same tool runner as a local tool: the
agent's ``before_tool``/``after_tool`` callbacks, the time limit (the server's
``timeout``, else the runner's ``tool_timeout``) and the error rules. The model
gets the text contents joined (the MCP spec has a server put a structured result
in a text block too), or the structured result as JSON when it sends no text; an
error result (``isError``) or an MCP error becomes the model's error output. A server that dies during a call ends the call at once
with an error output (no wait for the time limit).

The ``mcp`` package (the ``mcp`` extra) is imported only when a server connects.
Header and environment values (tokens, keys) never appear in a ``repr`` or a log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import anyio.abc

from adk_realtime.sansio.errors import ConfigError, RealtimeError
from adk_realtime.tools import Tool, ToolContext, _inline_definitions, check_tool_timeout

if TYPE_CHECKING:  # mcp: the optional extra; agent.py: types only (a cycle at run time)
    from mcp import Client
    from mcp.types import CallToolResult, Tool as MCPToolSpec

    from adk_realtime.agent import RealtimeAgent  # types only: a cycle at run time

log = logging.getLogger("adk_realtime.mcp")

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class MCPServerError(RealtimeError):
    """An MCP server could not be reached, or it stopped (named by ``server``)."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"MCP server {server}: {message}")
        self.server = server


class MCPToolError(RealtimeError):
    """An MCP tool answered with an error result; the model gets its text."""


class MCPServer:
    """How to reach an MCP server (a description: each run connects it itself, see
    :class:`MCPConnection`); :class:`MCPServerStdio` and :class:`MCPServerHTTP` are the
    two transports.

    ``name``: how logs and errors name the server. ``tool_prefix``: put before each
    tool's name (``"files_"``), to keep two servers' tools apart. ``allowed_tools``: only
    these tools (by their MCP name) are given to the model. ``timeout``: seconds a call
    may take (``None``: the runner's ``tool_timeout``).
    """

    def __init__(
        self,
        name: str,
        *,
        tool_prefix: str = "",
        allowed_tools: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        if _BAD_NAME_CHARS.search(tool_prefix):
            raise ConfigError(
                "tool_prefix", f"use letters, digits, '_' and '-', got {tool_prefix!r}"
            )
        self.name = name
        self.tool_prefix = tool_prefix
        self.allowed_tools = None if allowed_tools is None else frozenset(allowed_tools)
        self.timeout = check_tool_timeout(timeout, "timeout")
        self.tools: list[MCPTool] = []  # as last listed (by the latest run that connected)

    def _client_for(self, stack: AsyncExitStack) -> Client:
        raise NotImplementedError

    def _secrets(self) -> list[str]:
        """Strings an error message must not show (header and environment values)."""
        return []

    def _redact(self, text: str) -> str:
        for secret in sorted(self._secrets(), key=len, reverse=True):
            if len(secret) >= 4:  # (a tiny value would blank out common words)
                text = text.replace(secret, "***")
        return text


class MCPServerStdio(MCPServer):
    """An MCP server the runner starts as a process and talks to over stdin/stdout.

    ``env``: extra environment variables for the process (merged over a safe default
    set); their values are never shown. ``cwd``: its working directory.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        name: str | None = None,
        tool_prefix: str = "",
        allowed_tools: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        if not isinstance(command, str) or not command:
            raise ConfigError("command", f"must be a non-empty string, got {command!r}")
        if isinstance(args, str):
            raise ConfigError("args", "must be a list of strings, got a string")
        super().__init__(
            name or command.rsplit("/", 1)[-1],
            tool_prefix=tool_prefix,
            allowed_tools=allowed_tools,
            timeout=timeout,
        )
        self.command = command
        self.args = list(args)
        self._env = dict(env or {})
        self.cwd = cwd

    def __repr__(self) -> str:
        env = f", env=<{len(self._env)} variables>" if self._env else ""
        return f"MCPServerStdio({self.name!r}, command={self.command!r}{env})"

    def _secrets(self) -> list[str]:
        return list(self._env.values())

    def _client_for(self, stack: AsyncExitStack) -> Client:
        from mcp import Client, StdioServerParameters  # lazily: the optional mcp extra

        params = StdioServerParameters(
            command=self.command, args=self.args, env=self._env or None, cwd=self.cwd
        )
        return Client(params)


class MCPServerHTTP(MCPServer):
    """An MCP server reached over streamable HTTP at ``url``.

    ``headers``: sent with every request (``Authorization``...); their values are never
    shown. ``url`` is shown without its query and user info.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        tool_prefix: str = "",
        allowed_tools: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("url", f"must be an http:// or https:// URL, got {_safe_url(url)!r}")
        super().__init__(
            name or _safe_url(url),
            tool_prefix=tool_prefix,
            allowed_tools=allowed_tools,
            timeout=timeout,
        )
        self.url = url
        self._headers = dict(headers or {})

    def __repr__(self) -> str:
        headers = f", headers=<{', '.join(self._headers)}>" if self._headers else ""
        return f"MCPServerHTTP({_safe_url(self.url)!r}{headers})"

    def _secrets(self) -> list[str]:
        parts = urlsplit(self.url)
        hidden = [parts.query, parts.fragment, parts.password or "", parts.username or ""]
        return [*self._headers.values(), *hidden]

    def _redact(self, text: str) -> str:
        return super()._redact(text.replace(self.url, _safe_url(self.url)))

    def _client_for(self, stack: AsyncExitStack) -> Client:
        # Lazily (the optional mcp extra); httpx2 is the HTTP client mcp itself uses.
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(headers=self._headers, timeout=httpx2.Timeout(30.0, read=300.0))
        stack.push_async_callback(http.aclose)
        return Client(streamable_http_client(self.url, http_client=http))


def _safe_url(url: object) -> str:
    """``url`` without user info, query or fragment (where tokens hide)."""
    if not isinstance(url, str):
        return repr(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


class MCPConnection:
    """One run's connection to an MCP server: each runner connects its servers itself,
    so runners that share an agent (one per phone call) never share a connection."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self.tools: list[MCPTool] = []
        self._client: Client | None = None
        self._stop: anyio.Event | None = None  # made in the keeper task (needs a loop)
        self._calls: set[anyio.CancelScope] = set()  # cancelled when the server goes away
        self._gone = ""  # why the server is no longer connected

    def __repr__(self) -> str:
        return f"MCPConnection({self.server!r})"

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """The keeper task: connect, list the tools, hold the connection until
        :meth:`stop`. Fails ``task_status`` when the server cannot be reached."""
        server = self.server
        stop = self._stop = anyio.Event()
        started = False
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(server._client_for(stack))
                self.tools = server.tools = await self._list_tools(client)
                self._client = client
                task_status.started()
                started = True
                await stop.wait()
        except Exception as exc:
            cause = _only_error(exc)
            why = server._redact(f"{type(cause).__name__}: {cause}")
            if not started:
                raise MCPServerError(server.name, f"cannot connect ({why})") from None
            log.warning("MCP server %s stopped: %s", server.name, why)
            self._gone = f"it stopped ({why})"
        finally:
            self._client = None
            self._gone = self._gone or "it was closed"
            for scope in self._calls:
                scope.cancel()

    def stop(self) -> None:
        """Close the connection (the keeper task ends)."""
        if self._stop is not None:
            self._stop.set()

    async def _list_tools(self, client: Client) -> list[MCPTool]:
        allowed = self.server.allowed_tools
        tools: list[MCPTool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            for spec in page.tools:
                if allowed is None or spec.name in allowed:
                    tools.append(MCPTool(self, spec))
            cursor = page.next_cursor
            if not cursor:
                return tools

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call ``name`` (its MCP name); :class:`MCPServerError` if the server is gone
        or goes away during the call."""
        server, client = self.server, self._client
        if client is None:
            raise MCPServerError(server.name, f"not connected: {self._gone or 'not started'}")
        with anyio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                return await client.call_tool(name, arguments)
            except Exception as exc:  # the connection failed or the server refused the call
                why = server._redact(f"{type(exc).__name__}: {exc}")
                raise MCPServerError(server.name, f"{name!r}: {why}") from None
            finally:
                self._calls.discard(scope)
        raise MCPServerError(server.name, f"the call to {name!r} got no answer: {self._gone}")


class MCPTool:
    """One tool of an MCP server, as the runner sees a tool (:class:`~adk_realtime.tools.Tool`)."""

    def __init__(self, connection: MCPConnection, spec: MCPToolSpec) -> None:
        server = self.server = connection.server
        self._connection = connection
        self.mcp_name = spec.name
        self.name = (server.tool_prefix + _BAD_NAME_CHARS.sub("_", spec.name))[:64]
        self.description = spec.description or spec.title or ""
        self.timeout = server.timeout
        schema = dict(spec.input_schema or {})
        schema.pop("$schema", None)
        parameters = _inline_definitions(schema, spec.name)
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        self._parameters = parameters

    def __repr__(self) -> str:
        return f"MCPTool({self.name!r}, server={self.server.name!r})"

    @property
    def parameters(self) -> dict[str, Any]:
        return self._parameters

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        result = await self._connection.call_tool(self.mcp_name, arguments)
        if result.is_error:
            raise MCPToolError(_result_text(result) or f"tool {self.mcp_name!r} failed")
        if result.structured_content is not None and not any(
            getattr(block, "type", "") == "text" for block in result.content
        ):
            return result.structured_content
        return _result_text(result)


def _result_text(result: CallToolResult) -> str:
    """The text contents joined; other contents are named (the model cannot use bytes)."""
    parts: list[str] = []
    for block in result.content:
        text = getattr(block, "text", None)
        resource = getattr(block, "resource", None)
        if isinstance(text, str):
            parts.append(text)
        elif resource is not None and isinstance(getattr(resource, "text", None), str):
            parts.append(resource.text)
        else:
            kind = getattr(block, "mime_type", None) or getattr(block, "type", "content")
            parts.append(f"[{kind}]")
    return "\n".join(parts)


class RunTools:
    """The MCP tools of one run: ``shared`` (the runner's servers: every agent has them)
    and, by agent, the tools of the agent's own servers (:meth:`of`)."""

    def __init__(self) -> None:
        self.shared: list[MCPTool] = []
        self._by_agent: dict[int, list[MCPTool]] = {}  # id(agent) -> its servers' tools

    def of(self, agent: RealtimeAgent | None) -> list[MCPTool]:
        """The tools of ``agent``'s own MCP servers (not the runner's)."""
        return self._by_agent.get(id(agent), []) if agent is not None else []


NO_RUN_TOOLS = RunTools()  # a runner between runs: no MCP tools


def _agents(root: RealtimeAgent | None) -> list[RealtimeAgent]:
    """``root`` and every agent below it, each once."""
    found: dict[int, RealtimeAgent] = {}
    waiting = [root] if root is not None else []
    while waiting:
        agent = waiting.pop()
        if id(agent) not in found:
            found[id(agent)] = agent
            waiting.extend(reversed(agent.sub_agents))
    return list(found.values())


def uses_mcp(servers: Sequence[MCPServer], root: RealtimeAgent | None) -> bool:
    """Whether a run with these runner servers and this agent tree connects any server."""
    return bool(servers) or any(agent.mcp_servers for agent in _agents(root))


@asynccontextmanager
async def connected_tools(
    servers: Sequence[MCPServer], root: RealtimeAgent | None, local_tools: Sequence[Tool]
) -> AsyncIterator[RunTools]:
    """Connect the runner's ``servers`` and those of every agent under ``root``, each
    server once (raises :class:`MCPServerError` if one cannot be reached, ``ConfigError``
    on a tool name clash: see :func:`check_names`), give their tools, and close them all
    on exit. ``local_tools``: the runner's own tools (every agent has them)."""
    agents = _agents(root)
    unique: dict[int, MCPServer] = {}
    for server in [*servers, *(s for agent in agents for s in agent.mcp_servers)]:
        unique.setdefault(id(server), server)
    connections = {key: MCPConnection(server) for key, server in unique.items()}
    try:
        async with anyio.create_task_group() as keepers:
            try:
                for connection in connections.values():
                    await keepers.start(connection.serve)
                run = RunTools()
                runner_keys = list(dict.fromkeys(id(server) for server in servers))
                run.shared = [t for key in runner_keys for t in connections[key].tools]
                for agent in agents:
                    own = [id(s) for s in agent.mcp_servers if id(s) not in runner_keys]
                    run._by_agent[id(agent)] = [t for key in own for t in connections[key].tools]
                check_names(run, agents, local_tools)
                yield run
            finally:
                for connection in connections.values():
                    connection.stop()
    except BaseExceptionGroup as group:
        # The keepers never fail after starting: a group holds what the body raised
        # (the run's own error), which the caller expects as it is.
        raise _only_error(group) from None


def _only_error(error: BaseException) -> BaseException:
    """The single exception inside nested one-exception groups (else the group itself)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def check_names(
    run: RunTools, agents: Sequence[RealtimeAgent], local_tools: Sequence[Tool]
) -> None:
    """Raise ``ConfigError`` if an MCP tool an agent is given has the name of another
    tool that agent has (a local tool, the handoff tool, or another MCP tool): the
    model could not tell them apart. Clashes among local tools are not checked here."""
    everyone: list[RealtimeAgent | None] = [*agents] if agents else [None]
    for agent in everyone:
        taken = {tool.name for tool in local_tools}
        if agent is not None:
            taken.update(tool.name for tool in agent.tools)
            transfer = agent.transfer_tool()
            if transfer is not None:
                taken.add(transfer.name)
        mcp_names: set[str] = set()
        for tool in [*run.shared, *run.of(agent)]:
            if tool.name in mcp_names:
                raise ConfigError(
                    "mcp_servers",
                    f"two tools are named {tool.name!r} (give a server a tool_prefix)",
                )
            if tool.name in taken:
                raise ConfigError(
                    "mcp_servers",
                    f"tool {tool.name!r} of {tool.server.name} has the name of another tool "
                    "(give the server a tool_prefix)",
                )
            mcp_names.add(tool.name)


__all__ = [
    "MCPConnection",
    "MCPServer",
    "MCPServerError",
    "MCPServerHTTP",
    "MCPServerStdio",
    "MCPTool",
    "MCPToolError",
    "RunTools",
    "check_names",
    "connected_tools",
    "uses_mcp",
]
