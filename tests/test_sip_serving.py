"""SIP calls in serving: observers and Prometheus metrics (calls, refusals, time to first
audio, tool latency, sessions), health and readiness, and the agent hanging up a real
caller (our BYE). The caller is baresip (see tests/sip_peer.py); the agent is the demo
weather assistant on the in-process provider simulator.

The baresip tests are skipped only where ``baresip`` is not on PATH.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

from adk_realtime.call_bridge import BridgeOptions
from adk_realtime.call_observer import NullObserver
from adk_realtime.metrics import PrometheusMetrics
from adk_realtime.runner import RunContext
from adk_realtime.sansio.http_server import HttpRequest
from adk_realtime.sip_server import SipServer
from tests.sip_peer import BARESIP, write_wav
from tests.test_sip_baresip import (
    agent_line,
    baresip,
    question_wav,
    received_recording,
    transcript,
    wait_for_answer,
)

needs_baresip = pytest.mark.skipif(
    BARESIP is None, reason="baresip is not installed (apt-get install baresip-core)"
)


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exposition text, parsed by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    figures = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            figures[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return figures


def figure(
    figures: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


class Moments(NullObserver):
    """What the observers heard, in order (method names and the carrier)."""

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.infos: list[Any] = []

    def call_started(self, info: Any) -> None:
        self.heard.append("call_started")
        self.infos.append(info)

    def call_refused(self, carrier: str, reason: str) -> None:
        self.heard.append(f"refused_{reason}:{carrier}")

    def call_ended(self, info: Any, carrier: str, outcome: str) -> None:
        self.heard.append(f"call_ended:{carrier}:{outcome}")


async def wait_until(check: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.05)


def get(server: SipServer, path: str) -> tuple[int, Any]:
    reply = server.handle_http(HttpRequest("GET", path))
    body = reply.body
    return reply.status, json.loads(body) if reply.content_type == "application/json" else body


@needs_baresip
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_metrics_count_sip_calls_and_a_refusal_at_capacity(
    anyio_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="adk_realtime")
    metrics = PrometheusMetrics()
    moments = Moments()
    question = question_wav(tmp_path / "q.wav")
    async with agent_line(
        tmp_path, max_calls=1, observers=[moments], metrics=metrics, worker_id="w1"
    ) as (server, where, sim, _agents):
        assert get(server, "/readyz") == (
            200,
            {"status": "ready", "active_calls": 0, "max_calls": 1},
        )
        async with (
            baresip(tmp_path / "a", question) as first,
            baresip(tmp_path / "b", question) as second,
        ):
            await first.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            await first.wait_event("CALL_ESTABLISHED", 10)
            await wait_for_answer(server)
            assert get(server, "/readyz")[0] == 503 and get(server, "/healthz")[0] == 200
            # at capacity: the second caller is refused (486) and that is counted
            await second.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            refused = await second.wait_event("CALL_CLOSED", 10)
            assert "486" in refused.get("param", "")
            await wait_until(lambda: "refused_full:sip" in moments.heard)
            await first.command("hangup")
            await first.wait_event("CALL_CLOSED", 5)
            await wait_until(lambda: len(server.summaries) == 1)
            # a place again: the second caller gets through this time
            await second.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            await second.wait_event("CALL_ESTABLISHED", 10)
            await wait_for_answer(server)
            await second.command("hangup")
            await second.wait_event("CALL_CLOSED", 5)
            await wait_until(lambda: len(server.summaries) == 2)
            with anyio.fail_after(2):
                await sim.wait_idle()
        status, text = get(server, "/metrics")
        assert status == 200 and b"adk_realtime_calls_total" in text
        figures = samples(metrics)
    for peer in (first, second):
        assert "sunny" in transcript(received_recording(peer))
    calls = "adk_realtime_calls_total"
    assert figure(figures, calls, carrier="sip", outcome="carrier_stop") == 2
    assert figure(figures, calls, carrier="sip", outcome="refused_full") == 1
    assert sum(v for (name, _), v in figures.items() if name == calls) == 3
    assert figure(figures, "adk_realtime_active_calls") == 0
    assert figure(figures, "adk_realtime_active_provider_sessions") == 0
    # each caller asked once: one answer each, one tool call each
    assert figure(figures, "adk_realtime_time_to_first_audio_seconds_count") == 2
    tool = {"tool": "get_weather", "outcome": "ok"}
    assert figure(figures, "adk_realtime_tool_latency_seconds_count", **tool) == 2
    assert 0 < figure(figures, "adk_realtime_tool_latency_seconds_sum", **tool) < 10
    assert not [
        name for (name, _), v in figures.items() if name == "adk_realtime_errors_total" and v
    ]
    assert moments.heard.count("call_started") == 2
    assert moments.heard.count("call_ended:sip:carrier_stop") == 2
    assert [info.worker for info in moments.infos] == ["w1", "w1"]
    # no caller's URI (user part "caller") in a label or a log line
    exposition = metrics.render()[0].decode()
    assert (
        "caller@" not in exposition and "sip:" not in exposition and "127.0.0.1" not in exposition
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "sip:caller" not in logged and "caller@" not in logged


@needs_baresip
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("anyio_backend", "provider"),
    [("asyncio", "openai"), ("trio", "openai"), ("asyncio", "gemini")],
)
async def test_when_the_agent_ends_the_call_baresip_gets_our_bye(
    anyio_backend: str, provider: str, tmp_path: Path
) -> None:
    context = RunContext()
    moments = Moments()
    async with agent_line(
        tmp_path,
        provider,
        options=BridgeOptions(greeting="Say goodbye"),
        runner_kwargs={"context": context},
        observers=[moments],
    ) as (server, where, sim, _agents):
        silence = tmp_path / "silence.wav"
        write_wav(silence, bytes(2 * 8000 * 30))  # the caller says nothing
        async with baresip(tmp_path / "peer", silence) as peer:
            await peer.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            await peer.wait_event("CALL_ESTABLISHED", 10)
            (media,) = server.media.values()
            await wait_until(lambda: media.carrier.heard_ms > 0, 20)  # "Goodbye!" is playing
            assert server.uas is not None
            (call,) = server.uas.calls.values()
            await context.close()  # the agent hangs up
            closed = await peer.wait_event("CALL_CLOSED", 10)  # our BYE reached baresip
            with anyio.fail_after(2):
                await sim.wait_idle()  # the provider session is closed
            await wait_until(lambda: len(server.summaries) == 1)
            await wait_until(lambda: call.end_reason is not None)
        heard = transcript(received_recording(peer))
    assert "Goodbye" in heard  # what was said before the hang-up was played out
    # baresip (libre) closes a session on a BYE it received with ECONNRESET
    assert closed["param"] == "Connection reset by peer"
    (summary,) = server.summaries
    assert summary.ended_by == "agent_ended" and summary.carrier == "sip"
    assert call.end_reason == "hung_up"  # our BYE was answered 200
    assert moments.heard[-1] == "call_ended:sip:agent_ended"
    log = (tmp_path / "peer" / "baresip.log").read_text(errors="replace")
    assert "session closed: Connection reset by peer" in log


def test_health_readiness_and_metrics_answers_without_a_call() -> None:
    model: Any = object()
    bare = SipServer(model, lambda info: None, port=0, max_calls=2)
    assert get(bare, "/healthz") == (200, {"status": "ok", "active_calls": 0, "max_calls": 2})
    assert get(bare, "/readyz")[0] == 200
    assert get(bare, "/metrics")[0] == 404  # no metrics given
    assert get(bare, "/elsewhere")[0] == 404
    assert bare.handle_http(HttpRequest("POST", "/healthz")).status == 405
    bare.draining = True
    assert get(bare, "/readyz") == (503, {"status": "draining", "active_calls": 0, "max_calls": 2})
    metrics = PrometheusMetrics()
    counted = SipServer(model, lambda info: None, port=0, metrics=metrics, observers=[metrics])
    assert counted.observer is not None
    status, body = get(counted, "/metrics")
    assert status == 200 and b"adk_realtime_active_calls 0.0" in body


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_draining_refuses_the_next_invite_and_counts_it(
    anyio_backend: str, tmp_path: Path
) -> None:
    import socket

    from adk_realtime.sansio.sip.message import parse_message
    from tests.test_sip_baresip import _invite

    sdp = b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    opus = b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"
    metrics = PrometheusMetrics()
    async with agent_line(tmp_path, metrics=metrics) as (server, where, _sim, _agents):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(5)
        try:

            def final(call_id: str, body: bytes, branch: str) -> int:
                probe.sendto(_invite(where.port, call_id, body, branch), ("127.0.0.1", where.port))
                while True:
                    status = parse_message(probe.recvfrom(65535)[0]).status
                    if status is not None and status >= 200:
                        return status

            with anyio.fail_after(10):
                assert await anyio.to_thread.run_sync(final, "opus-1", opus, "z9hG4bK-o1") == 488
                assert await server.drain(timeout=1)
                assert await anyio.to_thread.run_sync(final, "late-1", sdp, "z9hG4bK-l1") == 503
        finally:
            probe.close()
        figures = samples(metrics)
    calls = "adk_realtime_calls_total"
    assert figure(figures, calls, carrier="sip", outcome="no_codec") == 1
    assert figure(figures, calls, carrier="sip", outcome="refused_draining") == 1
    assert figure(figures, "adk_realtime_draining") == 1


@needs_baresip
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_baresip_calls_over_tcp_hears_the_answer_and_gets_our_bye(
    anyio_backend: str, tmp_path: Path
) -> None:
    context = RunContext()
    async with agent_line(tmp_path, transport="tcp", runner_kwargs={"context": context}) as (
        server,
        where,
        sim,
        _agents,
    ):
        assert where.transport == "tcp"
        async with baresip(tmp_path / "peer", question_wav(tmp_path / "q.wav")) as peer:
            await peer.command("dial", f"sip:agent@127.0.0.1:{where.port};transport=tcp")
            await peer.wait_event("CALL_ESTABLISHED", 10)
            assert server._driver is not None
            assert len(server._driver.connections) == 1  # type: ignore[attr-defined]
            await wait_for_answer(server)
            assert server.uas is not None
            (call,) = server.uas.calls.values()
            await context.close()  # the agent hangs up: our BYE goes on the connection
            closed = await peer.wait_event("CALL_CLOSED", 10)
            with anyio.fail_after(2):
                await sim.wait_idle()
            await wait_until(lambda: call.end_reason is not None)
        heard = transcript(received_recording(peer))
    assert "sunny" in heard and "Paris" in heard
    assert closed["param"] == "Connection reset by peer"
    assert call.end_reason == "hung_up"
    (summary,) = server.summaries
    assert summary.ended_by == "agent_ended"
    log = (tmp_path / "peer" / "baresip.log").read_text(errors="replace")
    assert "Call established: sip:agent@127.0.0.1" in log and ";transport=tcp" in log
