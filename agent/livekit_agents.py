"""A :class:`RealtimeAgent` as a LiveKit Agents job (the ``livekit-agents`` extra).

LiveKit's own dispatch then spreads rooms over worker machines: each worker registers
with the LiveKit server, reports its load, and is sent jobs (rooms) while it has room
for them; each job runs in a process (or thread) of the worker. Here a job is one
conversation: :class:`RealtimeJob` is the job's entrypoint. It connects the job's room
(audio only), builds the agent for that job, publishes the agent's voice, bridges the
first participant's audio into a :class:`RealtimeRunner` (the same seam as
:func:`adk_realtime.livekit.join_room`) and runs until the session ends, the
participant leaves, or the job is shut down.

    server = realtime_server(RealtimeJob(build_agent), max_sessions=20)
    # then livekit-agents' CLI runs it: ``cli.run_app(server)`` (``start``, ``dev``...)

Load: :class:`SessionLoad` is the worker's load function, the share of ``max_sessions``
in use (jobs running on this worker); :func:`realtime_server` sets the worker's
``load_threshold`` to 1.0, so the worker takes new rooms until ``max_sessions`` run.

Job processes: LiveKit starts jobs in separate processes (``forkserver`` on Linux), so
the entrypoint is pickled: give :class:`RealtimeJob` module-level functions (not
lambdas or closures), or use the thread executor.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from adk_realtime.agent import RealtimeAgent
from adk_realtime.drivers.livekit import RoomAgent, attach_room
from adk_realtime.runner import RealtimeRunner, RunContext
from adk_realtime.sansio.errors import ConfigError

try:
    from livekit.agents import AgentServer, AutoSubscribe, JobContext
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "running an agent as a LiveKit Agents job needs the livekit-agents extra: "
        "pip install 'adk-realtime[livekit-agents]'"
    ) from exc

log = logging.getLogger("adk_realtime.livekit_agents")

AgentForJob = Callable[[JobContext], "RealtimeAgent | Awaitable[RealtimeAgent]"]

__all__ = ["RealtimeJob", "SessionLoad", "realtime_server"]


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@dataclass(frozen=True)
class RealtimeJob:
    """The entrypoint of a LiveKit Agents job that runs one realtime conversation.

    ``agent`` builds the agent, with its model, for a job (``JobContext`` in; sync or
    async): a fresh model per job, since each job is its own conversation. ``runner_options`` go to :class:`RealtimeRunner` (``event_handler``, ``tools``,
    ``session_options``...). The runner's ``RunContext.state["room"]`` tells tools and
    instruction providers where they are: ``{"name", "job_id", "worker_id"}`` and, once
    heard, ``"participant"`` (an identity; LiveKit identities are the app's own ids).
    """

    agent: AgentForJob
    runner_options: Mapping[str, Any] = field(default_factory=dict)
    sample_rate: int = 48000
    track_name: str = "agent-voice"

    def __post_init__(self) -> None:
        if not callable(self.agent):
            raise ConfigError("agent", "must be a function of the JobContext returning the agent")
        if not isinstance(self.sample_rate, int) or not 8000 <= self.sample_rate <= 48000:
            raise ConfigError("sample_rate", f"must be 8000..48000 Hz, got {self.sample_rate!r}")
        own = sorted({"model", "agent", "context"} & set(self.runner_options))
        if own:
            raise ConfigError("runner_options", f"{', '.join(own)}: RealtimeJob sets them")

    async def __call__(self, ctx: JobContext) -> None:
        await ctx.connect(auto_subscribe=AutoSubscribe.AUDIO_ONLY)
        agent = await _resolve(self.agent(ctx))
        if not isinstance(agent, RealtimeAgent):
            raise ConfigError("agent", f"returned {type(agent).__name__}, not a RealtimeAgent")
        room_state: dict[str, Any] = {
            "name": ctx.room.name,
            "job_id": ctx.job.id,
            "worker_id": ctx.worker_id,
        }
        context = RunContext(state={"room": room_state})
        runner = RealtimeRunner(agent=agent, context=context, **dict(self.runner_options))
        room_agent = await attach_room(
            ctx.room, runner, sample_rate=self.sample_rate, track_name=self.track_name
        )
        ctx.add_shutdown_callback(runner.close)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_end_when_the_caller_leaves, room_agent, runner, room_state)
                await runner.run()
                tg.cancel_scope.cancel()
        finally:
            await room_agent.aclose()
        log.info("job %s: the realtime session ended", ctx.job.id)
        ctx.shutdown("the realtime session ended")


async def _end_when_the_caller_leaves(
    room_agent: RoomAgent, runner: RealtimeRunner, room_state: dict[str, Any]
) -> None:
    await room_agent.bridged.wait()
    room_state["participant"] = room_agent.caller
    await room_agent.caller_left.wait()
    log.info("the participant left the room: ending the session")
    await runner.close()


class SessionLoad:
    """A LiveKit worker's load function: the share of ``max_sessions`` in use."""

    def __init__(self, max_sessions: int) -> None:
        if not isinstance(max_sessions, int) or isinstance(max_sessions, bool) or max_sessions < 1:
            raise ConfigError("max_sessions", f"must be a positive integer, got {max_sessions!r}")
        self.max_sessions = max_sessions

    def __call__(self, server: AgentServer) -> float:
        return min(1.0, len(server.active_jobs) / self.max_sessions)

    def __repr__(self) -> str:
        return f"SessionLoad(max_sessions={self.max_sessions})"


def realtime_server(
    job: RealtimeJob,
    *,
    max_sessions: int = 20,
    agent_name: str = "",
    **server_options: Any,
) -> AgentServer:
    """A LiveKit ``AgentServer`` whose jobs run ``job``, full at ``max_sessions`` rooms.

    ``server_options`` go to ``AgentServer`` (``ws_url``, ``api_key``, ``api_secret``,
    ``job_executor_type``, ``drain_timeout``, ``num_idle_processes``...; the LiveKit
    credentials default to ``LIVEKIT_URL``/``LIVEKIT_API_KEY``/``LIVEKIT_API_SECRET``).
    ``agent_name`` set means explicit dispatch only (LiveKit's rule).
    """
    if not isinstance(job, RealtimeJob):
        raise ConfigError("job", f"must be a RealtimeJob, got {type(job).__name__}")
    for own in ("load_fnc", "load_threshold"):
        if own in server_options:
            raise ConfigError(own, "is set from max_sessions")
    server = AgentServer(load_fnc=SessionLoad(max_sessions), load_threshold=1.0, **server_options)
    server.rtc_session(job, agent_name=agent_name)
    return server
