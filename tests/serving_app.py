"""The phone server the worker-process tests serve (``tests.serving_app:phone_app``).

Each worker runs its own provider simulator and the weather assistant, plus a tool that
says which worker runs the call (from ``CallInfo.worker``), so a simulated caller who
asks "What worker answers?" hears the worker's id. App arguments: ``--max-calls N``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adk_realtime.agent import RealtimeAgent
from adk_realtime.cli_common import get_weather
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.phone_server import PhoneServer
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.serving import WorkerInfo
from adk_realtime.tools import ToolContext

TWILIO_TOKEN = "serving-test-twilio-token"
WORKER_QUESTION = "What worker answers?"


def which_worker(ctx: ToolContext) -> str:
    """Which worker process runs this call."""
    return f"worker {ctx.state['call'].worker}"


def assistant(model: OpenAIRealtimeModel) -> RealtimeAgent:
    return (
        RealtimeAgent.builder("voice_assistant")
        .model(model)
        .instruction("Use get_weather for weather and which_worker for the worker.")
        .voice(model.default_voice)
        .server_vad()
        .tool(get_weather)
        .tool(which_worker)
        .build()
    )


@asynccontextmanager
async def phone_app(worker: WorkerInfo) -> AsyncIterator[PhoneServer]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-calls", type=int)
    args = parser.parse_args(worker.argv)
    async with run_simulator(hub=SimulatorHub(pace=0)) as sim:
        model = OpenAIRealtimeModel("sk-simulator", "gpt-realtime", base_url=sim.openai_base_url)
        yield PhoneServer(
            model,
            assistant(model),
            twilio_auth_token=TWILIO_TOKEN,
            max_calls=args.max_calls,
            stream_key=worker.stream_key,
            worker_id=worker.id,
        )
