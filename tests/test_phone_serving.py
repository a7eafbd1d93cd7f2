"""Serving one `PhoneServer` process: capacity, drain, readiness and metrics, in-process
on loopback (asyncio and trio) with the real call bridge and the provider simulator.
The worker processes themselves are tested in tests/test_serving.py.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adk_realtime.call_bridge import CallInfo
from adk_realtime.call_observer import NullObserver
from adk_realtime.cli_common import DEMO_QUESTION
from adk_realtime.drivers.http_client import http_request
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.phone_caller import CallResult, PhoneCallError, call
from adk_realtime.phone_server import PhoneServer, serve_phone
from adk_realtime.sansio.http import HttpExchange, HttpResponse, parse_url
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests.serving_app import assistant

pytestmark = pytest.mark.anyio

CALLER, CALLED = "+14155550100", "+18005550199"
TOKEN = "phone-serving-twilio-token"


class Recorder(NullObserver):
    """An observer that keeps what it heard."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def call_started(self, info: CallInfo) -> None:
        self.seen.append(("started", info))

    def call_refused(self, carrier: str, reason: Any) -> None:
        self.seen.append(("refused", (carrier, reason)))

    def call_ended(self, info: CallInfo | None, carrier: str, outcome: str) -> None:
        self.seen.append(("ended", outcome))


class Broken(NullObserver):
    def call_started(self, info: CallInfo) -> None:
        raise RuntimeError("an observer bug")


@asynccontextmanager
async def phone(**settings: Any) -> AsyncIterator[tuple[PhoneServer, str]]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as sim:
        model = OpenAIRealtimeModel("sk-simulator", "gpt-realtime", base_url=sim.openai_base_url)
        settings.setdefault("twilio_auth_token", TOKEN)
        server = PhoneServer(model, assistant(model), worker_id="7-1234", **settings)
        async with serve_phone(server, "127.0.0.1", 0) as where:
            yield server, f"http://127.0.0.1:{where.port}"


async def dial(base: str, **options: Any) -> CallResult:
    options = {"question": DEMO_QUESTION, "quiet_ms": PATIENT_MS, "answer_timeout": 20.0} | options
    return await call(
        f"{base}/twilio/voice", auth_token=TOKEN, caller=CALLER, called=CALLED, **options
    )


async def request(base: str, method: str, path: str, body: bytes = b"") -> HttpResponse:
    url = parse_url(base + path)
    headers = [("Content-Type", "application/x-www-form-urlencoded")] if body else []
    return await http_request(HttpExchange(method, url.target, headers, body, url=url), timeout=10)


async def wait_for_calls(server: PhoneServer, count: int) -> None:
    """Until ``count`` calls are up (the caller bounds the wait)."""
    while server.active_calls < count:
        await anyio.sleep(0.01)


# Callers hang up after this much silence: patient enough that a loaded machine's stall
# in the middle of an answer does not look like its end.
PATIENT_MS = 2000
BLOCKED_LOOP_MS = 1000  # a stall this long is a bug, not scheduling noise


def longest_gap(result: CallResult) -> int:
    return max(result.gaps_ms, default=0)


async def test_at_capacity_new_calls_get_each_carriers_refusal_and_active_calls_keep_time(
    anyio_backend: str,
) -> None:
    carriers = {"carriers": ["twilio", "telnyx", "plivo"], "twilio_auth_token": None}
    async with phone(max_calls=2, **carriers) as (server, base):
        with anyio.fail_after(60):
            alone = await call(f"{base}/twilio/voice", question=DEMO_QUESTION, quiet_ms=PATIENT_MS)
            results: list[CallResult] = []

            async def one() -> None:
                results.append(
                    await call(f"{base}/twilio/voice", question=DEMO_QUESTION, quiet_ms=PATIENT_MS)
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                tg.start_soon(one)
                await wait_for_calls(server, 2)
                ready = await request(base, "GET", "/readyz")
                assert ready.status == 503 and json.loads(ready.body)["status"] == "full"
                form = urlencode({"CallSid": "CA" + "1" * 32, "From": CALLER}).encode()
                answers = {}
                for _round in range(10):  # the full server is hammered while the calls play
                    for path in ("/twilio/voice", "/telnyx/voice", "/plivo/answer"):
                        reply = await request(base, "POST", path, form)
                        answers[path] = (reply.status, reply.body.decode())
                with pytest.raises(PhoneCallError, match="Reject"):
                    await call(f"{base}/twilio/voice", question=DEMO_QUESTION)
    assert (
        answers["/twilio/voice"][0] == 200
        and '<Reject reason="busy" />' in answers["/twilio/voice"][1]
    )
    assert '<Reject reason="busy" />' in answers["/telnyx/voice"][1]
    assert '<Hangup reason="busy" />' in answers["/plivo/answer"][1]
    # The active calls kept going: every frame of the answer heard. Underruns of a few
    # frames are the machine's load, not the refusals (bench/ measures pacing); what
    # this catches is a refusal path that blocks the loop, which leaves a gap of seconds.
    assert len(results) == 2
    for result in results:
        assert result.heard_ms == alone.heard_ms > 2000
        assert longest_gap(result) < BLOCKED_LOOP_MS
    assert server.calls_served == 3 and server.active_calls == 0


async def test_readyz_and_healthz(anyio_backend: str) -> None:
    async with phone() as (server, base):
        with anyio.fail_after(10):
            ready = await request(base, "GET", "/readyz")
            assert ready.status == 200 and json.loads(ready.body)["status"] == "ready"
            server.start_drain()
            ready = await request(base, "GET", "/readyz")
            health = await request(base, "GET", "/healthz")
    assert ready.status == 503 and json.loads(ready.body)["status"] == "draining"
    assert health.status == 200  # alive, just not taking calls


async def test_drain_lets_a_call_finish_and_refuses_new_ones(anyio_backend: str) -> None:
    recorder = Recorder()
    async with phone(observers=[recorder]) as (server, base):
        with anyio.fail_after(60):
            results: list[CallResult] = []

            async def one() -> None:
                results.append(await dial(base))

            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                await wait_for_calls(server, 1)
                tg.start_soon(server.drain, 30.0)
                with pytest.raises(PhoneCallError, match="Reject"):
                    await dial(base)
    (result,) = results
    assert "sunny" in result.transcript and not result.server_hung_up
    started = [info for kind, info in recorder.seen if kind == "started"]
    assert [info.worker for info in started] == ["7-1234"]
    assert ("refused", ("twilio", "draining")) in recorder.seen
    assert ("ended", "carrier_stop") in recorder.seen


async def test_at_the_drain_deadline_active_calls_are_ended_cleanly(anyio_backend: str) -> None:
    recorder = Recorder()
    async with phone(observers=[recorder, Broken()]) as (server, base):
        with anyio.fail_after(60):
            results: list[CallResult] = []
            ended: list[int] = []

            async def one() -> None:
                results.append(await dial(base, quiet_ms=30_000))  # would stay on the line

            async def drain() -> None:
                ended.append(await server.drain(0.5))

            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                await wait_for_calls(server, 1)
                tg.start_soon(drain)
    (result,) = results
    assert ended == [1]
    assert result.server_hung_up and result.close_code == 1000
    assert server.active_calls == 0
    assert ("ended", "ended_by_drain") in recorder.seen  # the broken observer changed nothing


async def test_metrics_match_the_calls_made_and_hold_no_number_or_secret(
    anyio_backend: str,
) -> None:
    async with phone(max_calls=1) as (server, base):
        with anyio.fail_after(60):
            first = await dial(base)
            second = await dial(base, question="What worker answers?")
            server.start_drain()
            with pytest.raises(PhoneCallError):
                await dial(base)
            reply = await request(base, "GET", "/metrics")
    assert "sunny" in first.transcript and "worker 7-1234" in second.transcript
    assert reply.status == 200
    samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
            for text in sample.labels.values():
                for secret in (CALLER, CALLED, CALLER[1:], CALLED[1:], TOKEN):
                    assert secret not in text

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    ended = {"carrier": "twilio", "outcome": "carrier_stop"}
    assert value("adk_realtime_calls_total", **ended) == 2
    assert value("adk_realtime_calls_total", carrier="twilio", outcome="refused_draining") == 1
    assert value("adk_realtime_active_calls") == 0
    assert value("adk_realtime_active_provider_sessions") == 0
    assert value("adk_realtime_draining") == 1
    for tool in ("get_weather", "which_worker"):
        assert value("adk_realtime_tool_latency_seconds_count", tool=tool, outcome="ok") == 1
    assert value("adk_realtime_time_to_first_audio_seconds_count") >= 2
    assert value("adk_realtime_errors_total", kind="model_error") == 0


async def test_without_prometheus_client_metrics_is_404_and_calls_go_on(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    async with phone() as (server, base):
        with anyio.fail_after(60):
            reply = await request(base, "GET", "/metrics")
            result = await dial(base)
    assert reply.status == 404 and b"pip install 'adk-realtime[metrics]'" in reply.body
    assert server.metrics is None and "sunny" in result.transcript
