"""OpenAI SIP calls through `PhoneServer.asgi_app` under uvicorn and hypercorn.

The ASGI lifespan holds the task group the calls run in (they outlive the webhook's
200): a webhook signed with ``standardwebhooks`` is accepted and the call runs against
the simulator. Without lifespan the webhook is answered 503 with a body saying why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from adk_realtime import RealtimeAgent
from adk_realtime.drivers.simulator import SimulatorServer, run_simulator
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.phone_server import PhoneServer
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests.test_phone_openai_sip import CALLER, KEY, SECRET, Calls, Recorder, deliver, signed
from tests.test_phone_server import hypercorn_serving, listening_socket, uvicorn_serving

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def asgi_setup(
    front: str, handler: Recorder
) -> AsyncIterator[tuple[SimulatorServer, PhoneServer, Calls]]:
    async with run_simulator(hub=SimulatorHub(pace=0, api_key=KEY)) as sim:
        calls = Calls()
        model = OpenAIRealtimeModel(KEY, "gpt-realtime", base_url=sim.openai_base_url)
        agent = RealtimeAgent("operator", model, instruction_provider=calls.instruction)
        sock = listening_socket()
        port = sock.getsockname()[1]
        server = PhoneServer(
            model,
            agent,
            public_url=f"http://127.0.0.1:{port}",
            openai_webhook_secret=SECRET,
            openai_api_key=KEY,
            openai_base_url=f"http://{sim.host}:{sim.port}/v1",
            event_handler=handler,
        )
        serving: Any = (
            uvicorn_serving(server.asgi_app, sock)
            if front == "uvicorn"
            else hypercorn_serving(server.asgi_app, sock, front.partition("-")[2])
        )
        async with serving:
            yield sim, server, calls


async def run_one_call(front: str) -> None:
    handler = Recorder()
    async with asgi_setup(front, handler) as (sim, server, calls):
        call_id, body = sim.ring(now=0, caller=CALLER)
        with anyio.fail_after(10):
            # The ASGI server may still be starting up: the first webhook waits for it.
            while True:
                try:
                    answer = await deliver(server, body, signed(body))
                    break
                except OSError:
                    await anyio.sleep(0.05)
        assert answer.status == 200, answer.body
        with anyio.fail_after(10):
            await calls.ready.wait()
            ctx = calls.contexts[0]
            assert ctx.runner is not None
            await ctx.runner.wait_connected()
        assert [a.call_id for a in sim.hub.calls.actions("accept")] == [call_id]
        assert ctx.state["call"].call_id == call_id
        with anyio.fail_after(10):
            await ctx.runner.send_text("What is the weather?")
            await handler.answered.wait()
        assert "".join(handler.transcript).strip()
        await sim.hang_up(call_id)
        with anyio.fail_after(10):
            await handler.disconnected.wait()
    assert server.active_calls == 0 and server.calls_served == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs on asyncio only
async def test_an_openai_sip_call_runs_under_uvicorn(anyio_backend: str) -> None:
    await run_one_call("uvicorn")


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_an_openai_sip_call_runs_under_hypercorn(anyio_backend: str) -> None:
    await run_one_call(f"hypercorn-{anyio_backend}")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_without_lifespan_the_webhook_is_503_saying_lifespan_is_needed(
    anyio_backend: str,
) -> None:
    async with run_simulator(hub=SimulatorHub(pace=0, api_key=KEY)) as sim:
        model = OpenAIRealtimeModel(KEY, "gpt-realtime", base_url=sim.openai_base_url)
        server = PhoneServer(
            model,
            RealtimeAgent("operator", model),
            public_url="http://testserver",
            openai_webhook_secret=SECRET,
            openai_api_key=KEY,
            openai_base_url=f"http://{sim.host}:{sim.port}/v1",
        )
        _, body = sim.ring(now=0)
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(k.lower().encode(), v.encode()) for k, v in signed(body)]
        scope = {"type": "http", "method": "POST", "path": "/openai/sip", "headers": headers}
        await server.asgi_app(scope, receive, send)
        assert sent[0]["status"] == 503
        assert b"lifespan" in sent[1]["body"]
        assert sim.hub.calls.log == [] and server.active_calls == 0
