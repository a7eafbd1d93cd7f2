"""`PhoneServer`'s OpenAI SIP route end to end, offline: the simulator plays OpenAI.

A webhook signed with ``standardwebhooks`` (the ``openai`` SDK verifies, it cannot sign)
makes the server accept the call at the simulator over REST and attach a runner to it by
call id; the runner's session answers a turn. Forged, stale or unsigned webhooks are 403
and the simulator sees nothing; at ``max_calls`` the simulator sees a reject (486).
Our server under asyncio and trio.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import standardwebhooks

from adk_realtime import RealtimeAgent
from adk_realtime.call_bridge import CallInfo
from adk_realtime.drivers.http_client import http_request
from adk_realtime.drivers.simulator import SimulatorServer, run_simulator
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.phone_server import PhoneServer, serve_phone
from adk_realtime.runner import EventHandler, RunContext
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.http import HttpExchange, HttpResponse, parse_url
from adk_realtime.sansio.sim.hub import SimulatorHub

pytestmark = pytest.mark.anyio

KEY = "sk-sip-test-key"
SECRET = "whsec_" + base64.b64encode(b"a webhook key for the sip tests!").decode()
CALLER = "+14155550123"


class Recorder(EventHandler):
    def __init__(self) -> None:
        self.transcript: list[str] = []
        self.disconnected = anyio.Event()
        self.reasons: list[str] = []
        self.answered = anyio.Event()

    def on_response_done(self, event: Any) -> None:
        self.answered.set()

    def on_transcript(self, text: str, item_id: str) -> None:
        self.transcript.append(text)

    def on_disconnect(self, reason: str) -> None:
        self.reasons.append(reason)
        self.disconnected.set()


class Calls:
    """The agent's instruction provider keeps each call's RunContext (the test's handle on
    the runner) and the call info it was given."""

    def __init__(self) -> None:
        self.contexts: list[RunContext] = []
        self.ready = anyio.Event()

    def instruction(self, ctx: RunContext) -> str:
        if ctx.runner is not None and ctx not in self.contexts:
            self.contexts.append(ctx)
            self.ready.set()
        return "You answer the phone."


@asynccontextmanager
async def setup(**server_kwargs: Any) -> AsyncIterator[tuple[SimulatorServer, PhoneServer, Calls]]:
    async with run_simulator(hub=SimulatorHub(pace=0, api_key=KEY)) as sim:
        calls = Calls()
        model = OpenAIRealtimeModel(KEY, "gpt-realtime", base_url=sim.openai_base_url)
        agent = RealtimeAgent("operator", model, instruction_provider=calls.instruction)
        server = PhoneServer(
            model,
            agent,
            openai_webhook_secret=SECRET,
            openai_api_key=KEY,
            openai_base_url=f"http://{sim.host}:{sim.port}/v1",
            **server_kwargs,
        )
        async with serve_phone(server, "127.0.0.1", 0):
            yield sim, server, calls


def signed(body: bytes, *, at: float | None = None, secret: str = SECRET) -> list[tuple[str, str]]:
    stamp = datetime.datetime.fromtimestamp(
        at if at is not None else datetime.datetime.now().timestamp(), tz=datetime.UTC
    )
    msg_id = "msg_" + str(abs(hash(body)))
    signature = standardwebhooks.Webhook(secret).sign(msg_id, stamp, body.decode())
    return [
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(int(stamp.timestamp()))),
        ("webhook-signature", signature),
    ]


async def deliver(server: PhoneServer, body: bytes, headers: list[tuple[str, str]]) -> HttpResponse:
    url = parse_url(server.openai_sip_url)
    headers = [*headers, ("Content-Type", "application/json")]
    return await http_request(HttpExchange("POST", url.target, headers, body, url=url))


async def test_a_signed_webhook_accepts_the_call_and_a_runner_answers_on_it(
    anyio_backend: str,
) -> None:
    handler = Recorder()
    async with setup(event_handler=handler) as (sim, server, calls):
        call_id, body = sim.ring(now=0, caller=CALLER)
        answer = await deliver(server, body, signed(body))
        assert answer.status == 200
        # OpenAI delivers webhooks at least once: a redelivery starts nothing more.
        assert (await deliver(server, body, signed(body))).status == 200
        with anyio.fail_after(10):
            await calls.ready.wait()
            ctx = calls.contexts[0]
            assert ctx.runner is not None
            await ctx.runner.wait_connected()
        info = ctx.state["call"]
        assert isinstance(info, CallInfo)  # the bridge's own record of a call
        assert info.carrier == "openai-sip" and info.call_id == call_id
        assert info.caller == CALLER and info.called == "+18005550100"
        assert CALLER not in repr(info)
        accepted = sim.hub.calls.actions("accept")
        assert [(a.call_id, a.status) for a in accepted] == [(call_id, 200)]
        assert accepted[0].body["instructions"] == "You answer the phone."
        assert server.active_calls == 1
        with anyio.fail_after(10):
            await ctx.runner.send_text("What is the weather?")
            await handler.answered.wait()
        assert "".join(handler.transcript).strip()
        # The caller hangs up: OpenAI closes the socket and the run ends normally.
        await sim.hang_up(call_id)
        with anyio.fail_after(10):
            await handler.disconnected.wait()
        # A normal end either way: OpenAI's close (1000) reached the runner, or the server
        # closed the runner first when the call ended; never an error.
        assert handler.reasons in (["closed"], ["connection closed (1000): call ended"])
    assert server.active_calls == 0 and server.calls_served == 1


@pytest.mark.parametrize("forgery", ["forged", "stale", "unsigned", "other secret"])
async def test_a_bad_webhook_is_403_and_nothing_reaches_openai(
    anyio_backend: str, forgery: str
) -> None:
    async with setup() as (sim, server, calls):
        _, body = sim.ring(now=0)
        headers = {
            "forged": [
                *signed(body)[:2],
                ("webhook-signature", "v1," + base64.b64encode(b"x" * 32).decode()),
            ],
            "stale": signed(body, at=datetime.datetime.now().timestamp() - 3600),
            "unsigned": [],
            "other secret": signed(
                body,
                secret="whsec_" + base64.b64encode(b"another endpoint's key, not ours").decode(),
            ),
        }[forgery]
        answer = await deliver(server, body, headers)
        assert answer.status == 403
        assert sim.hub.calls.log == [] and server.active_calls == 0 and not calls.contexts


async def test_at_max_calls_the_call_is_rejected_busy(anyio_backend: str) -> None:
    async with setup(max_calls=1) as (sim, server, calls):
        first, body = sim.ring(now=0)
        assert (await deliver(server, body, signed(body))).status == 200
        with anyio.fail_after(10):
            await calls.ready.wait()
        second, body = sim.ring(now=0)
        assert (await deliver(server, body, signed(body))).status == 200
        with anyio.fail_after(10):
            await sim.wait_call_requests(2)
        rejected = sim.hub.calls.actions("reject")
        assert [(a.call_id, a.status) for a in rejected] == [(second, 200)]
        assert sim.hub.calls.calls[second].reject_status == 486
        assert server.active_calls == 1
        await sim.hang_up(first)


async def test_while_draining_the_call_is_rejected_503_and_the_active_one_finishes(
    anyio_backend: str,
) -> None:
    async with setup() as (sim, server, calls):
        first, body = sim.ring(now=0)
        assert (await deliver(server, body, signed(body))).status == 200
        with anyio.fail_after(10):
            await calls.ready.wait()
        server.start_drain()
        second, body = sim.ring(now=0)
        assert (await deliver(server, body, signed(body))).status == 200
        with anyio.fail_after(10):
            await sim.wait_call_requests(2)
        assert sim.hub.calls.calls[second].reject_status == 503
        assert server.active_calls == 1
        await sim.hang_up(first)
        with anyio.fail_after(10):
            await server.wait_idle()
        assert server.calls_served == 1


def test_sip_settings_are_checked_and_the_key_is_never_shown() -> None:
    model = OpenAIRealtimeModel(KEY, "gpt-realtime")
    agent = RealtimeAgent("operator", model)
    with pytest.raises(ConfigError, match="secret"):
        PhoneServer(model, agent, openai_webhook_secret="not-a-secret", openai_api_key=KEY)
    with pytest.raises(ConfigError, match="openai_api_key"):
        PhoneServer(model, agent, openai_webhook_secret=SECRET)
    server = PhoneServer(
        model, agent, openai_webhook_secret=SECRET, openai_api_key=KEY, public_url="https://x.test"
    )
    assert server.openai_sip_url == "https://x.test/openai/sip"
    assert server.routes.carriers == ()  # OpenAI SIP only: no unverified carrier routes
    assert KEY not in repr(server) and KEY not in repr(server._sip)
