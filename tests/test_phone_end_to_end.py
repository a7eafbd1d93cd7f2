"""Phone calls end to end: the simulated caller, the phone server, the real call bridge,
the demo weather agent and the provider simulator, all in-process on loopback.

These run once ``adk_realtime.call_bridge`` is in the tree (they are skipped before):
each carrier on our own server (asyncio and trio), the ASGI app under uvicorn
(asyncio only: uvicorn runs on asyncio), and a barge-in.
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from adk_realtime.cli_common import DEMO_QUESTION, build_assistant
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.phone_caller import call
from adk_realtime.phone_server import PhoneServer, serve_phone
from adk_realtime.sansio.sim.hub import SimulatorHub

HAS_BRIDGE = importlib.util.find_spec("adk_realtime.call_bridge") is not None
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not HAS_BRIDGE,
        reason="adk_realtime.call_bridge (the call bridge) is not in this branch yet",
    ),
]

SECRETS = {"twilio": "e2e-twilio-token", "plivo": "e2e-plivo-token"}
CALLER, CALLED = "+14155550100", "+18005550199"
PATHS = {"twilio": "/twilio/voice", "telnyx": "/telnyx/voice", "plivo": "/plivo/answer"}


class Agents:
    """The agent factory: one weather assistant per call, and the calls' CallInfo."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.infos: list[Any] = []

    def __call__(self, info: Any) -> Any:
        self.infos.append(info)
        return build_assistant(self.model)


@asynccontextmanager
async def weather_line(carrier: str) -> AsyncIterator[tuple[PhoneServer, Agents, str]]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as sim:
        model = OpenAIRealtimeModel("sk-simulator", "gpt-realtime", base_url=sim.openai_base_url)
        agents = Agents(model)
        secret = {f"{carrier}_auth_token": SECRETS[carrier]} if carrier in SECRETS else {}
        server = PhoneServer(model, agents, carriers=[carrier], **secret)  # type: ignore[arg-type]
        async with serve_phone(server, "127.0.0.1", 0) as where:
            yield server, agents, f"http://127.0.0.1:{where.port}{PATHS[carrier]}"


@pytest.mark.parametrize("carrier", ["twilio", "telnyx", "plivo"])
async def test_a_caller_asks_the_weather_agent_and_hears_the_tools_answer(
    anyio_backend: str, carrier: str
) -> None:
    async with weather_line(carrier) as (server, agents, webhook):
        with anyio.fail_after(60):
            result = await call(
                webhook,
                question=DEMO_QUESTION,
                carrier=carrier,  # type: ignore[arg-type]
                auth_token=SECRETS.get(carrier),
                caller=CALLER,
                called=CALLED,
                quiet_ms=800,
            )
    assert "sunny" in result.transcript and result.heard_ms > 2000
    assert not result.server_hung_up and result.clears == 0
    (info,) = agents.infos
    assert info.carrier == carrier
    expected = (CALLER.lstrip("+"), CALLED.lstrip("+")) if carrier == "plivo" else (CALLER, CALLED)
    assert (info.caller, info.called) == expected
    assert server.calls_served == 1 and server.active_calls == 0


async def test_a_caller_who_talks_over_the_answer_cuts_it_and_is_answered(
    anyio_backend: str,
) -> None:
    async with weather_line("twilio") as (_server, _agents, webhook):
        with anyio.fail_after(60):
            result = await call(
                webhook,
                question=DEMO_QUESTION,
                auth_token=SECRETS["twilio"],
                interrupt_with="Stop",
                interrupt_after_ms=600,
                quiet_ms=800,
            )
    assert result.clears >= 1  # the bridge cleared what the carrier had not played
    cut, _, after = result.transcript.partition(" You said: Stop")
    assert cut and "sunny" not in cut and after == ""  # the answer ended where it was cut


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs on asyncio only
async def test_the_asgi_app_under_uvicorn_holds_a_call(anyio_backend: str) -> None:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    async with run_simulator(hub=SimulatorHub(pace=0)) as sim:
        model = OpenAIRealtimeModel("sk-simulator", "gpt-realtime", base_url=sim.openai_base_url)
        server = PhoneServer(
            model,
            Agents(model),
            public_url=f"http://127.0.0.1:{port}",
            twilio_auth_token=SECRETS["twilio"],
        )
        uv = uvicorn.Server(uvicorn.Config(server.asgi_app, log_level="warning", lifespan="on"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(uv.serve, [sock])
            with anyio.fail_after(60):
                result = await call(
                    f"http://127.0.0.1:{port}/twilio/voice",
                    question=DEMO_QUESTION,
                    auth_token=SECRETS["twilio"],
                    quiet_ms=800,
                )
            uv.should_exit = True
    assert "sunny" in result.transcript
