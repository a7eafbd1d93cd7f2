"""``RealtimeAgent``: a voice agent with instructions, tools, callbacks and sub-agents.

Build it with keywords, ``RealtimeAgent(name="x", model=m, instruction=...)``,
or with the reference crate's builder,
``RealtimeAgent.builder("x").model(m).instruction(...).voice("alloy").server_vad().build()``.

An agent describes *what* the conversation is; :class:`~adk_realtime.runner.RealtimeRunner`
runs it. ``agent.run(ctx)`` is the ``Agent`` protocol's entry point: it runs
the agent through a runner and yields the runner's agent events.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from adk_realtime.mcp import MCPServer
from adk_realtime.sansio.config import (
    RealtimeConfig,
    VadConfig,
    VadMode,
    did_you_mean,
    keyword_hints,
)
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.tools import FunctionTool, Tool, ToolContext, tool_definition

if TYPE_CHECKING:  # types only: the runner imports this module, a runtime import is a cycle
    from adk_realtime.models import RealtimeModel
    from adk_realtime.runner import AgentEvent, RunContext

TRANSFER_TOOL_NAME = "transfer_to_agent"

InstructionProvider = Callable[["RunContext"], str | Awaitable[str]]
AgentCallback = Callable[["CallbackContext"], Any]
BeforeToolCallback = Callable[[ToolContext], Any]
AfterToolCallback = Callable[[ToolContext, Any], Any]
AudioCallback = Callable[[bytes, str], Any]
TranscriptCallback = Callable[[str, str], Any]
SpeechCallback = Callable[[int], Any]


@dataclass
class CallbackContext:
    """What ``before_agent``/``after_agent`` callbacks see."""

    agent_name: str
    state: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # "start", "handoff", "end"


class RefuseTool(Exception):
    """Raise (or return an instance) from ``before_tool`` to refuse a call; the model
    receives an error output with ``reason`` and the conversation goes on."""

    def __init__(self, reason: str = "refused by policy") -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class Agent(Protocol):
    """The agent protocol shared with the rest of ADK: a name, a description,
    sub-agents for handoff, and ``run(ctx)`` yielding agent events."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def sub_agents(self) -> Sequence[Agent]: ...

    def run(self, ctx: RunContext) -> AsyncIterator[AgentEvent]: ...


def _as_tool(tool: Tool | Callable[..., Any], agent_name: str) -> Tool:
    if isinstance(tool, Tool):
        return tool
    if callable(tool):
        return FunctionTool(tool)
    raise ConfigError(
        "tools",
        f"agent {agent_name!r}: a tool is a function or a Tool (e.g. @function_tool), got {tool!r}",
    )


class RealtimeAgent:
    """A voice agent. See the module docstring for the two ways to build one."""

    @keyword_hints("RealtimeAgent")  # instructions=, handoffs=... get "did you mean"
    def __init__(
        self,
        name: str,
        model: RealtimeModel | None = None,
        *,
        description: str = "",
        instruction: str | None = None,
        instruction_provider: InstructionProvider | None = None,
        global_instruction: str | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        sub_agents: Sequence[RealtimeAgent] = (),
        before_agent_callback: AgentCallback | None = None,
        after_agent_callback: AgentCallback | None = None,
        before_tool_callback: BeforeToolCallback | None = None,
        after_tool_callback: AfterToolCallback | None = None,
        voice: str | None = None,
        vad: VadConfig | None = None,
        modalities: Sequence[str] | None = None,
        input_transcription: bool = False,
        on_audio: AudioCallback | None = None,
        on_transcript: TranscriptCallback | None = None,
        on_speech_started: SpeechCallback | None = None,
        on_speech_stopped: SpeechCallback | None = None,
        require_model: bool = True,
        mcp_servers: Sequence[MCPServer] = (),
    ) -> None:
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise ConfigError("name", f"agent names use letters, digits, '_' and '-', got {name!r}")
        if require_model and model is None:
            raise ConfigError(
                "model", f"agent {name!r} has no model: pass model=... or call .model(...)"
            )
        if isinstance(model, str | bytes | int | float):  # e.g. a model *name*
            raise ConfigError(
                "model",
                f"agent {name!r}: model must be a RealtimeModel such as "
                f"OpenAIRealtimeModel(api_key, 'gpt-realtime'), got {model!r}",
            )
        if vad is not None and not isinstance(vad, VadConfig):
            raise ConfigError(
                "vad", f"agent {name!r}: vad must be a VadConfig (or use server_vad()), got {vad!r}"
            )
        for sub in sub_agents:
            if not isinstance(sub, RealtimeAgent):
                raise ConfigError(
                    "sub_agents", f"agent {name!r}: sub-agents must be RealtimeAgents, got {sub!r}"
                )
        self._name = name
        self.model = model
        self._description = description
        self.instruction = instruction
        self.instruction_provider = instruction_provider
        self.global_instruction = global_instruction
        self.tools: list[Tool] = [_as_tool(t, name) for t in tools]
        self._sub_agents = list(sub_agents)
        if isinstance(mcp_servers, MCPServer | str):
            raise ConfigError(
                "mcp_servers", f"agent {name!r}: must be a list of MCP servers, got {mcp_servers!r}"
            )
        # Their tools are this agent's (connected by the runner: adk_realtime.mcp).
        self.mcp_servers: list[MCPServer] = list(mcp_servers)
        self.before_agent_callback = before_agent_callback
        self.after_agent_callback = after_agent_callback
        self.before_tool_callback = before_tool_callback
        self.after_tool_callback = after_tool_callback
        self.voice = voice
        self.vad = vad
        self.modalities = tuple(modalities) if modalities is not None else None
        self.input_transcription = input_transcription
        self.on_audio = on_audio
        self.on_transcript = on_transcript
        self.on_speech_started = on_speech_started
        self.on_speech_stopped = on_speech_stopped
        self._check()

    def _check(self) -> None:
        names = [t.name for t in self.tools]
        if TRANSFER_TOOL_NAME in names and self._sub_agents:
            raise ConfigError("tools", f"{TRANSFER_TOOL_NAME!r} is reserved for sub-agent handoff")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(
                "tools", f"agent {self._name!r} has duplicate tool names: {', '.join(dupes)}"
            )
        sub_names = [a.name for a in self._sub_agents]
        sub_dupes = sorted({n for n in sub_names if sub_names.count(n) > 1})
        if sub_dupes:
            raise ConfigError("sub_agents", f"duplicate sub-agent names: {', '.join(sub_dupes)}")
        if self.modalities is not None:
            RealtimeConfig(modalities=self.modalities)  # validates
        for server in self.mcp_servers:
            if not isinstance(server, MCPServer):
                raise ConfigError(
                    "mcp_servers",
                    f"agent {self._name!r}: an MCP server is an MCPServerStdio or "
                    f"MCPServerHTTP, got {server!r}",
                )
        if len({id(server) for server in self.mcp_servers}) != len(self.mcp_servers):
            raise ConfigError("mcp_servers", f"agent {self._name!r} names a server twice")

    def __repr__(self) -> str:
        return f"RealtimeAgent({self._name!r}, tools={[t.name for t in self.tools]}, sub_agents={[a.name for a in self._sub_agents]})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @property
    def sub_agents(self) -> list[RealtimeAgent]:
        return self._sub_agents

    @staticmethod
    def builder(name: str) -> RealtimeAgentBuilder:
        """The reference's builder: ``RealtimeAgent.builder("name").model(m)...build()``."""
        return RealtimeAgentBuilder(name)

    def find_agent(self, name: str) -> RealtimeAgent | None:
        """This agent or any agent below it with ``name`` (depth first)."""
        if self._name == name:
            return self
        for sub in self._sub_agents:
            found = sub.find_agent(name)
            if found is not None:
                return found
        return None

    async def resolve_instruction(self, ctx: RunContext) -> str | None:
        """Global instruction (prepended) + the static or dynamic instruction."""
        parts: list[str] = []
        if self.global_instruction:
            parts.append(self.global_instruction)
        if self.instruction_provider is not None:
            value = self.instruction_provider(ctx)
            if inspect.isawaitable(value):
                value = await value
            if value:
                parts.append(str(value))
        elif self.instruction:
            parts.append(self.instruction)
        if self._sub_agents:
            roster = "; ".join(
                f"{a.name}: {a.description}" if a.description else a.name for a in self._sub_agents
            )
            parts.append(
                f"You can hand the conversation to another agent with the "
                f"{TRANSFER_TOOL_NAME} tool. Available agents: {roster}."
            )
        return "\n\n".join(parts) if parts else None

    def transfer_tool(self) -> Tool | None:
        """The ``transfer_to_agent`` tool offered when sub-agents exist."""
        if not self._sub_agents:
            return None
        names = [a.name for a in self._sub_agents]

        async def transfer_to_agent(agent_name: str) -> dict[str, Any]:
            # The runner intercepts this call; reaching here means no runner did.
            return {"error": "handoff is handled by RealtimeRunner"}

        tool = FunctionTool(
            transfer_to_agent,
            description="Transfer the conversation to another agent. Use the exact agent name.",
        )
        tool.parameters["properties"]["agent_name"]["enum"] = names
        return tool

    async def build_config(
        self, ctx: RunContext, base: RealtimeConfig | None = None
    ) -> RealtimeConfig:
        """The session configuration this agent asks for."""
        config = base or RealtimeConfig()
        tools = list(self.tools)
        transfer = self.transfer_tool()
        if transfer is not None:
            tools.append(transfer)
        changes: dict[str, Any] = {
            "instruction": await self.resolve_instruction(ctx),
            "tools": tuple(tool_definition(t) for t in tools),
        }
        if self.voice is not None:
            changes["voice"] = self.voice
        if self.vad is not None:
            changes["vad"] = self.vad
        if self.modalities is not None:
            changes["modalities"] = self.modalities
        if self.input_transcription:
            changes["input_transcription"] = True
        return config.replace(**changes)

    def run(self, ctx: RunContext) -> AsyncIterator[AgentEvent]:
        """Run this agent in a :class:`RealtimeRunner` and iterate its agent events.

        Returns an :class:`~adk_realtime.agent_run.AgentRun`: iterate it from any task
        or cancel scope; ``aclose()`` it (or use it as ``async with``) to end the run
        early. Only model audio is dropped when the consumer falls far behind (counted
        in ``metrics.dropped_audio_events``); other events wait for it.
        """
        from adk_realtime.agent_run import AgentRun  # lazily: agent_run imports this module

        return AgentRun(self, ctx)


class RealtimeAgentBuilder:
    """Fluent construction matching the reference crate; ``build()`` checks everything."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._kw: dict[str, Any] = {}
        self._tools: list[Tool | Callable[..., Any]] = []
        self._subs: list[RealtimeAgent] = []
        self._mcp: list[MCPServer] = []

    def model(self, model: RealtimeModel) -> RealtimeAgentBuilder:
        self._kw["model"] = model
        return self

    def description(self, text: str) -> RealtimeAgentBuilder:
        self._kw["description"] = text
        return self

    def instruction(self, text: str) -> RealtimeAgentBuilder:
        self._kw["instruction"] = text
        return self

    def instruction_provider(self, fn: InstructionProvider) -> RealtimeAgentBuilder:
        self._kw["instruction_provider"] = fn
        return self

    def global_instruction(self, text: str) -> RealtimeAgentBuilder:
        self._kw["global_instruction"] = text
        return self

    def tool(self, tool: Tool | Callable[..., Any]) -> RealtimeAgentBuilder:
        self._tools.append(tool)
        return self

    def sub_agent(self, agent: RealtimeAgent) -> RealtimeAgentBuilder:
        self._subs.append(agent)
        return self

    def mcp_server(self, server: MCPServer) -> RealtimeAgentBuilder:
        """Give this agent the tools of an MCP server (see :mod:`adk_realtime.mcp`)."""
        self._mcp.append(server)
        return self

    def before_agent_callback(self, fn: AgentCallback) -> RealtimeAgentBuilder:
        self._kw["before_agent_callback"] = fn
        return self

    def after_agent_callback(self, fn: AgentCallback) -> RealtimeAgentBuilder:
        self._kw["after_agent_callback"] = fn
        return self

    def before_tool_callback(self, fn: BeforeToolCallback) -> RealtimeAgentBuilder:
        self._kw["before_tool_callback"] = fn
        return self

    def after_tool_callback(self, fn: AfterToolCallback) -> RealtimeAgentBuilder:
        self._kw["after_tool_callback"] = fn
        return self

    def voice(self, voice: str) -> RealtimeAgentBuilder:
        self._kw["voice"] = voice
        return self

    def server_vad(self) -> RealtimeAgentBuilder:
        self._kw["vad"] = VadConfig(VadMode.SERVER)
        return self

    def vad(self, config: VadConfig) -> RealtimeAgentBuilder:
        self._kw["vad"] = config
        return self

    def modalities(self, modalities: Sequence[str]) -> RealtimeAgentBuilder:
        self._kw["modalities"] = tuple(modalities)
        return self

    def input_transcription(self, enabled: bool = True) -> RealtimeAgentBuilder:
        self._kw["input_transcription"] = enabled
        return self

    def on_audio(self, fn: AudioCallback) -> RealtimeAgentBuilder:
        self._kw["on_audio"] = fn
        return self

    def on_transcript(self, fn: TranscriptCallback) -> RealtimeAgentBuilder:
        self._kw["on_transcript"] = fn
        return self

    def on_speech_started(self, fn: SpeechCallback) -> RealtimeAgentBuilder:
        self._kw["on_speech_started"] = fn
        return self

    def on_speech_stopped(self, fn: SpeechCallback) -> RealtimeAgentBuilder:
        self._kw["on_speech_stopped"] = fn
        return self

    def build(self) -> RealtimeAgent:
        """Check and build; a missing model or duplicate tool names raise ``ConfigError``."""
        return RealtimeAgent(
            self._name, tools=self._tools, sub_agents=self._subs, mcp_servers=self._mcp, **self._kw
        )

    if not TYPE_CHECKING:  # at run time only: type checkers keep flagging unknown methods

        def __getattr__(self, name: str) -> Any:
            message = f"RealtimeAgentBuilder has no method {name!r}"
            hint = did_you_mean(name, dir(type(self)))
            if hint is not None:
                message += f"; did you mean {hint if '(' in hint else f'.{hint}()'}?"
            raise AttributeError(message, name=name, obj=self)
