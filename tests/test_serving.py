"""Worker processes for real: the supervisor (``python -m adk_realtime.serving supervise``)
runs ``tests.serving_app:phone_app`` as two workers on one loopback port, each with its
own provider simulator; simulated callers dial it as Twilio does.

The workers run on the test's backend (asyncio and trio). Every wait is bounded and the
supervisor is killed in ``finally`` if a test leaves it running.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adk_realtime.cli_common import DEMO_QUESTION
from adk_realtime.drivers.http_client import http_request
from adk_realtime.phone_caller import CallResult, PhoneCallError, call, spoken_ulaw
from adk_realtime.sansio.http import HttpError, HttpExchange, parse_url
from tests.serving_app import TWILIO_TOKEN, WORKER_QUESTION

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="worker processes need a Unix"),
]

ROOT = Path(__file__).resolve().parent.parent
CALLER, CALLED = "+14155550100", "+18005550199"
WEATHER_ANSWER = (
    'Here is the weather: {"city": "Paris", "temperature_c": 18, "conditions": "sunny"}.'
)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@asynccontextmanager
async def supervisor(
    backend: str, workers: int = 2, drain_seconds: float = 30.0
) -> AsyncIterator[tuple[anyio.abc.Process, str]]:
    """The supervisor process and the base URL it serves on."""
    command = [
        sys.executable,
        "-m",
        "adk_realtime.serving",
        "supervise",
        "tests.serving_app:phone_app",
        "--port",
        "0",
        "--workers",
        str(workers),
        "--drain-seconds",
        str(drain_seconds),
        "--backend",
        backend,
    ]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    process = await anyio.open_process(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stderr=None
    )
    try:
        assert process.stdout is not None
        line = b""
        with anyio.fail_after(30):
            while not line.endswith(b"\n"):
                line += await process.stdout.receive(1)
        found = re.search(rb"http://[\d.]+:\d+", line)
        assert found is not None, line
        base = found.group().decode()
        with anyio.fail_after(30):  # every worker up (each counts itself in the gauge)
            await wait_until(base, lambda s: value(s, "adk_realtime_serving_processes") == workers)
        yield process, base
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await process.wait()


async def get(base: str, path: str) -> tuple[int, bytes]:
    url = parse_url(base + path)
    response = await http_request(HttpExchange("GET", url.target, [], url=url), timeout=10)
    return response.status, response.body


async def scrape(base: str) -> Samples:
    status, body = await get(base, "/metrics")
    assert status == 200, body
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def draining_workers(samples: Samples) -> float:
    return value(samples, "adk_realtime_draining")


async def wait_until(base: str, condition: object) -> Samples:
    """Scrape until ``condition(samples)`` holds (the caller bounds the wait)."""
    assert callable(condition)
    while True:
        try:
            samples = await scrape(base)
        except (OSError, HttpError):
            # A worker exiting: refused, reset, or (HttpError) closed unanswered by a
            # process on its way out (the server's accept loop no longer loses one:
            # test_http_server's shared-socket test).
            samples = None
        if samples is not None and condition(samples):
            return samples
        await anyio.sleep(0.05)


async def place(base: str, question: str, results: list[CallResult], quiet_ms: int = 800) -> None:
    results.append(
        await call(
            f"{base}/twilio/voice",
            question=question,
            auth_token=TWILIO_TOKEN,
            caller=CALLER,
            called=CALLED,
            quiet_ms=quiet_ms,
            answer_timeout=20.0,
        )
    )


def no_secret_in_labels(samples: Samples) -> None:
    for _name, labels in samples:
        for _key, text in labels:
            for secret in (CALLER, CALLED, CALLER.lstrip("+"), CALLED.lstrip("+"), TWILIO_TOKEN):
                assert secret not in text


async def test_two_workers_both_take_calls_and_metrics_sum_them(anyio_backend: str) -> None:
    async with supervisor(anyio_backend) as (process, base):
        results: list[CallResult] = []
        workers: set[str] = set()
        with anyio.fail_after(120):
            for _batch in range(5):  # the kernel picks the worker: batches until both showed
                async with anyio.create_task_group() as tg:
                    for _ in range(4):
                        tg.start_soon(place, base, WORKER_QUESTION, results)
                for result in results:
                    assert result.heard_ms > 0 and not result.server_hung_up
                    # A frame delayed by a loaded machine can garble the tone-coded speech:
                    # such a call still counts below, it just names no worker here.
                    found = re.search(r"worker (\d+)-(\d+)", result.transcript)
                    if found is not None:
                        workers.add(found.group(1))
                if len(workers) == 2:
                    break
            assert workers == {"1", "2"}
            made = len(results)
            samples = await wait_until(
                base,
                lambda s: (
                    value(s, "adk_realtime_calls_total", carrier="twilio", outcome="carrier_stop")
                    == made
                ),
            )
        assert value(samples, "adk_realtime_active_calls") == 0
        assert value(samples, "adk_realtime_active_provider_sessions") == 0
        tool = {"tool": "which_worker", "outcome": "ok"}
        assert value(samples, "adk_realtime_tool_latency_seconds_count", **tool) == made
        assert value(samples, "adk_realtime_time_to_first_audio_seconds_count") >= made
        no_secret_in_labels(samples)
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await process.wait() == 0


async def test_sigterm_with_ten_active_calls_refuses_new_ones_and_finishes_them(
    anyio_backend: str,
) -> None:
    async with supervisor(anyio_backend) as (process, base):
        results: list[CallResult] = []
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    # Patient callers: on a loaded machine a late frame must not look
                    # like the end of the answer (the caller hangs up after quiet_ms).
                    tg.start_soon(place, base, DEMO_QUESTION, results, 3000)
                await wait_until(base, lambda s: value(s, "adk_realtime_active_calls") == 10)
                process.send_signal(signal.SIGTERM)
                # Every worker stopped taking calls (one whose calls all ended may have
                # left already: the gauges count live processes only).
                await wait_until(
                    base,
                    lambda s: draining_workers(s) == value(s, "adk_realtime_serving_processes"),
                )
                assert not results  # still talking
                with pytest.raises(PhoneCallError, match="Reject"):
                    await place(base, DEMO_QUESTION, results)
                status, body = await get(base, "/readyz")
                assert status == 503 and b"draining" in body
            assert await process.wait() == 0
    assert len(results) == 10
    # Nothing lost: each caller heard the whole answer, every frame of it played (a
    # loaded machine may delay a frame, which can garble the tone-coded transcript, so
    # the audio is counted, not decoded; the two-worker test decodes what is said).
    whole_ms = len(spoken_ulaw(WEATHER_ANSWER)) // 160 * 20
    assert [r.heard_ms for r in results if r.heard_ms < whole_ms] == []
    assert not any(r.server_hung_up for r in results)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_phone_serve_cli_drains_on_sigterm_and_exits_0(workers: str) -> None:
    """``adk-realtime phone serve --workers N`` as the README's Deploying section runs it."""
    from urllib.request import urlopen

    command = [sys.executable, "-m", "adk_realtime.cli", "phone", "serve", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.Popen(
        [*command, "--workers", workers, "--drain-seconds", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        port = 0
        for line in proc.stdout:
            if line.startswith("phone server listening on "):
                port = int(re.findall(r":(\d+)", line)[0])
            if line.startswith("  try it: "):
                break
        assert port
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # the workers start after the port is bound: connections wait for them
            try:
                with urlopen(f"{base}/readyz", timeout=10) as ready:
                    assert ready.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        result = anyio.run(
            functools.partial(
                call,
                f"{base}/twilio/voice",
                question=DEMO_QUESTION,
                quiet_ms=800,
                answer_timeout=20,
            )
        )
        assert result.heard_ms > 2000
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the workers")
async def test_a_crashed_worker_is_restarted_and_the_server_still_drains_to_0(
    anyio_backend: str,
) -> None:
    async with supervisor(anyio_backend) as (process, base):
        with anyio.fail_after(60):
            while len(before := children(process.pid)) < 2:
                await anyio.sleep(0.05)
            victim = min(before)
            os.kill(victim, signal.SIGKILL)
            while True:  # the supervisor starts a new worker in the dead one's place
                now = children(process.pid)
                if victim not in now and len(now) == 2:
                    break
                await anyio.sleep(0.05)
            results: list[CallResult] = []
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(place, base, WORKER_QUESTION, results)
            assert all(r.heard_ms > 0 for r in results)
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0


@pytest.mark.anyio
async def test_a_worker_freezes_its_startup_heap_then_drains_on_sigterm(anyio_backend: str) -> None:
    """``run_worker`` leaves what the process held once ready out of the collector's passes
    (shorter full-collection pauses for every call), then serves until SIGTERM and drains."""
    import gc
    import socket

    from adk_realtime.serving import WorkerInfo, run_worker

    frozen: list[int] = []
    drained: list[float] = []

    class Server:
        @asynccontextmanager
        async def listen(self, sock: socket.socket) -> AsyncIterator[None]:
            yield

        async def drain(self, seconds: float) -> int:
            drained.append(seconds)
            return 0

    @asynccontextmanager
    async def factory(worker: WorkerInfo) -> AsyncIterator[Server]:
        yield Server()

    def ready() -> None:
        frozen.append(gc.get_freeze_count())
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's stop

    gc.unfreeze()
    sock = socket.socket()
    try:
        with anyio.fail_after(10):
            status = await run_worker(factory, WorkerInfo(1, os.getpid()), sock, 3.0, ready=ready)
    finally:
        sock.close()
        gc.unfreeze()  # (the test process's heap goes back to the collector)
    assert status == 0 and drained == [3.0]
    assert frozen and frozen[0] > 1000  # the modules and objects alive at start-up
