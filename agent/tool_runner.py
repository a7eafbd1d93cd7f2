"""One tool call, as the runner executes it: arguments, the agent's tool callbacks, the
tool itself, and its time limit.

The limit is the tool's own ``timeout`` (``FunctionTool(timeout=...)``) or else the
runner's ``tool_timeout`` (:data:`DEFAULT_TOOL_TIMEOUT`, 30 s); ``math.inf`` means
none. It covers the ``before_tool`` callback, the tool and the ``after_tool``
callback, not the wait for a free slot (``max_concurrent_tools``). On expiry an
async tool is cancelled; a sync tool's worker thread cannot be killed, so it is
abandoned: it runs on to its end, its result is discarded, and nothing waits for
it (``runner.close()`` returns without it). The model gets an error output and the
conversation goes on; the runner reports the expiry (``ToolCallTimedOut``, and
``on_error`` with :class:`ToolTimeoutError`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import anyio

from adk_realtime.agent import RealtimeAgent, RefuseTool
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import RealtimeError
from adk_realtime.tools import (
    Tool,
    ToolContext,
    check_tool_timeout,
    encode_tool_output,
    maybe_await,
)

log = logging.getLogger("adk_realtime.runner")

DEFAULT_TOOL_TIMEOUT = 30.0
"""Seconds a tool call may take unless the tool or the runner says otherwise."""


class ToolTimeoutError(RealtimeError):
    """A tool call did not finish within its time limit; the model got an error output.

    What the runner passes to ``EventHandler.on_error`` (the run goes on).
    """

    def __init__(self, name: str, call_id: str, timeout: float) -> None:
        super().__init__(
            f"tool {name!r} (call {call_id}) did not finish within {timeout:g} s; "
            "the model was told it timed out"
        )
        self.name = name
        self.call_id = call_id
        self.timeout = timeout


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a call produced: the ``output`` for the model, whether it is an ``error``,
    and the limit that expired (``timed_out``, seconds) if it timed out."""

    output: str
    error: bool = False
    timed_out: float | None = None


def time_limit(tool: Tool | None, default: float) -> float:
    """The tool's own ``timeout`` attribute if it sets one, else ``default``."""
    own: Any = getattr(tool, "timeout", None)  # optional on the Tool protocol
    limit = check_tool_timeout(own, f"{getattr(tool, 'name', 'tool')}.timeout")
    return default if limit is None else limit


def check_time_limits(tools: Iterable[Tool], agent: RealtimeAgent | None) -> None:
    """Raise ``ConfigError`` if ``tools``, or a tool of ``agent`` or of an agent below
    it, has a ``timeout`` that is not a number of seconds > 0 (or ``None``)."""
    agents = [agent] if agent is not None else []
    while agents:
        current = agents.pop()
        tools = [*tools, *current.tools]
        agents.extend(current.sub_agents)
    for tool in tools:
        time_limit(tool, DEFAULT_TOOL_TIMEOUT)


async def run_tool_call(
    call: ev.FunctionCallDone,
    tool: Tool | None,
    agent: RealtimeAgent | None,
    state: dict[str, Any],
    default_timeout: float,
) -> ToolOutcome:
    """Run ``call`` within its time limit (see the module docstring)."""
    limit = time_limit(tool, default_timeout)
    with anyio.move_on_after(limit):
        output, error = await _execute(call, tool, agent, state)
        return ToolOutcome(output, error)
    # Only the limit's own cancellation ends up here (a cancel from outside propagates).
    what = f"{limit:g} s" if math.isfinite(limit) else "its time limit"
    log.warning("tool %s (%s) timed out after %s", call.name, call.call_id, what)
    message = f"tool {call.name!r} did not finish within {what} (timed out); it has no result"
    return ToolOutcome(json.dumps({"error": message}), True, limit)


async def _execute(
    call: ev.FunctionCallDone,
    tool: Tool | None,
    agent: RealtimeAgent | None,
    state: dict[str, Any],
) -> tuple[str, bool]:
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        if not isinstance(arguments, dict):
            raise ValueError("arguments are not a JSON object")
    except ValueError as exc:
        return json.dumps({"error": f"invalid arguments for {call.name}: {exc}"}), True
    ctx = ToolContext(call.call_id, call.name, arguments, agent.name if agent else "", state)
    if tool is None:
        return json.dumps({"error": f"unknown tool {call.name!r}"}), True
    try:
        result: Any = None
        substituted = False
        if agent is not None and agent.before_tool_callback is not None:
            pre = await maybe_await(agent.before_tool_callback(ctx))
            if isinstance(pre, RefuseTool):
                raise pre
            if pre is not None:
                result, substituted = pre, True
        if not substituted:
            result = await tool.call(ctx.arguments, ctx)
        if agent is not None and agent.after_tool_callback is not None:
            post = await maybe_await(agent.after_tool_callback(ctx, result))
            if post is not None:
                result = post
        return encode_tool_output(result), False
    except RefuseTool as exc:
        return json.dumps({"error": f"tool call refused: {exc.reason}"}), True
    except Exception as exc:
        log.warning("tool %s failed: %s: %s", call.name, type(exc).__name__, exc)
        return json.dumps({"error": f"{type(exc).__name__}: {exc}"}), True


__all__ = [
    "DEFAULT_TOOL_TIMEOUT",
    "ToolOutcome",
    "ToolTimeoutError",
    "check_time_limits",
    "run_tool_call",
    "time_limit",
]
