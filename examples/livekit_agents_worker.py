"""A realtime agent as a LiveKit Agents worker: LiveKit dispatches rooms across machines.

Each machine runs this worker; it registers with the LiveKit server, reports its load
(running sessions / --max-sessions) and is sent rooms while it has room for them. Every
room is one job: the agent joins it, hears the first participant and answers there.

    LIVEKIT_URL=wss://... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... OPENAI_API_KEY=... \\
        python examples/livekit_agents_worker.py start     # production mode
    python examples/livekit_agents_worker.py dev           # development mode

The commands are livekit-agents' own CLI (``start``, ``dev``, ``connect --room R``...).
The agent and model are built by module-level functions because LiveKit runs jobs in
separate processes and pickles the entrypoint. The provider comes from ``AGENT_PROVIDER``
(``openai``, the default, or ``gemini`` with ``GOOGLE_API_KEY``).
"""

from __future__ import annotations

import os

from livekit.agents import JobContext, cli

from adk_realtime import GeminiRealtimeModel, OpenAIRealtimeModel, RealtimeAgent
from adk_realtime.livekit_agents import RealtimeJob, realtime_server
from adk_realtime.models import RealtimeModel


def build_model() -> RealtimeModel:
    if os.environ.get("AGENT_PROVIDER", "openai") == "gemini":
        return GeminiRealtimeModel(os.environ["GOOGLE_API_KEY"])
    return OpenAIRealtimeModel(os.environ["OPENAI_API_KEY"])


def build_agent(ctx: JobContext) -> RealtimeAgent:
    return (
        RealtimeAgent.builder("room_assistant")
        .model(build_model())  # a fresh model per job: each room is its own conversation
        .instruction("You are a friendly voice assistant in a call. Keep answers short.")
        .server_vad()
        .build()
    )


server = realtime_server(
    RealtimeJob(build_agent),
    max_sessions=int(os.environ.get("AGENT_MAX_SESSIONS", "20")),
)

if __name__ == "__main__":
    cli.run_app(server)
