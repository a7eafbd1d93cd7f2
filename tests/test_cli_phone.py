"""``adk-realtime phone serve|call`` as a user runs them (subprocesses, loopback only)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.phone_fakes import GREETING, GreetingBridge

TOKEN = "cli-test-twilio-token"
HAS_BRIDGE = importlib.util.find_spec("adk_realtime.call_bridge") is not None


def env(**extra: str) -> dict[str, str]:
    """No provider keys, no carrier secrets: nothing reaches a real service."""
    names = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY", "TWILIO_AUTH_TOKEN")
    clean = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("PLIVO")}
    return {**clean, "PYTHONIOENCODING": "utf-8", **extra}


def cli(*args: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adk_realtime.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(**extra),
    )


def test_help_lists_the_phone_commands_and_their_options() -> None:
    top = cli("phone", "--help")
    assert top.returncode == 0 and "serve" in top.stdout and "call" in top.stdout
    serve = cli("phone", "serve", "--help")
    for option in (
        "--port",
        "--host",
        "--provider",
        "--base-url",
        "--twilio-auth-token",
        "--public-url",
    ):
        assert option in serve.stdout
    call = cli("phone", "call", "--help")
    for option in ("--question", "--wav", "--twilio-auth-token", "--carrier", "--dtmf"):
        assert option in call.stdout


@pytest.fixture
def greeting_server() -> Iterator[tuple[int, GreetingBridge]]:
    """A phone server with the greeting bridge, in this process, checking ``TOKEN``."""
    from anyio.from_thread import start_blocking_portal

    from adk_realtime.phone_server import PhoneServer, serve_phone

    bridge = GreetingBridge()
    server = PhoneServer("model", "agent", twilio_auth_token=TOKEN, bridge=bridge)
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(serve_phone(server, "127.0.0.1", 0)) as where:
            yield where.port, bridge


def test_phone_call_dials_signs_and_prints_what_it_heard(
    greeting_server: tuple[int, GreetingBridge], tmp_path: Path
) -> None:
    port, bridge = greeting_server
    wav = tmp_path / "heard.wav"
    url = f"http://127.0.0.1:{port}/twilio/voice"
    proc = cli("phone", "call", url, "--question", "Hi", "--wav", str(wav), "--dtmf", "7",
               TWILIO_AUTH_TOKEN=TOKEN)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "[user] (speaking) Hi" in lines and f"[assistant] {GREETING}" in lines
    assert any(line.startswith("[info] heard ") and str(wav) in line for line in lines)
    with wave.open(str(wav), "rb") as heard:
        assert heard.getframerate() == 8000 and heard.getnframes() > 4000
    assert bridge.calls[-1].digits == "7"
    assert TOKEN not in proc.stdout + proc.stderr


def test_a_refused_call_is_one_line_without_the_token(
    greeting_server: tuple[int, GreetingBridge], tmp_path: Path
) -> None:
    port, bridge = greeting_server
    wrong = "cli-wrong-token-0000"
    proc = cli("phone", "call", f"http://127.0.0.1:{port}/twilio/voice", "--wav",
               str(tmp_path / "x.wav"), "--twilio-auth-token", wrong)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"adk-realtime phone: the webhook at 127.0.0.1:{port} answered HTTP 403 "
        "(check the auth token)"
    ]
    assert wrong not in proc.stdout + proc.stderr and bridge.calls == []


def test_phone_serve_mistakes_give_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = cli("phone", "serve", "--port", str(port))
    assert busy.returncode != 0 and "Traceback" not in busy.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in busy.stderr and "--port" in busy.stderr
    no_key = cli("phone", "serve", "--provider", "openai", "--port", "0")
    assert no_key.returncode != 0 and "OPENAI_API_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr
    stray = cli("phone", "serve", "--base-url", "wss://x", "--port", "0")
    assert "--base-url needs --provider" in stray.stderr


def _serve(*args: str, **extra: str) -> tuple[subprocess.Popen[str], int, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "adk_realtime.cli", "phone", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(**extra),
    )
    assert proc.stdout is not None
    seen, port = [], 0
    for line in proc.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith("phone server listening on "):
            port = int(line.split()[4].rstrip(";").rsplit(":", 1)[1])
        if line.startswith("  try it: "):  # the last line it prints on starting
            return proc, port, seen
    proc.wait(10)
    raise AssertionError("phone serve did not start:\n" + "\n".join(seen) + proc.stderr.read())  # type: ignore[union-attr]


def test_phone_serve_prints_where_to_point_a_carrier_and_checks_signatures() -> None:
    from urllib.request import Request, urlopen

    server, port, startup = _serve("--twilio-auth-token", TOKEN)
    try:
        base = f"http://127.0.0.1:{port}"
        assert (
            f"  Twilio voice webhook (POST): {base}/twilio/voice  [signatures checked]" in startup
        )
        assert (
            f"    its media stream: ws://127.0.0.1:{port}/twilio/media/<a token per call>"
            in startup
        )
        assert not any(
            "Telnyx" in line or "Plivo" in line for line in startup
        )  # no secret: not served
        with urlopen(f"{base}/healthz", timeout=10) as health:
            assert health.status == 200
        forged = Request(
            f"{base}/twilio/voice", data=b"From=%2B1", headers={"X-Twilio-Signature": "x"}
        )
        with pytest.raises(Exception, match="403"):
            urlopen(forged, timeout=10)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)
    assert "refused POST /twilio/voice (403)" in err and TOKEN not in out + err


@pytest.mark.skipif(
    not HAS_BRIDGE,
    reason="adk_realtime.call_bridge (the call bridge) is not in this branch yet: the "
    "offline serve + call runs once it lands",
)
def test_serve_and_call_hold_a_phone_call_with_the_simulator(tmp_path: Path) -> None:
    server, port, startup = _serve("--twilio-auth-token", TOKEN)
    try:
        assert any(
            "Twilio voice webhook (POST)" in line and "signatures checked" in line
            for line in startup
        )
        wav = tmp_path / "answer.wav"
        proc = cli("phone", "call", f"http://127.0.0.1:{port}/twilio/voice", "--wav", str(wav),
                   "--twilio-auth-token", TOKEN, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        answer = next(line for line in proc.stdout.splitlines() if line.startswith("[assistant]"))
        assert "sunny" in answer  # the weather tool's answer, heard over the phone
        with wave.open(str(wav), "rb") as heard:
            assert heard.getframerate() == 8000 and heard.getnframes() > 8000
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)
    assert "[tool] get_weather(" in out
    assert TOKEN not in out + err


def test_sip_serve_answers_an_options_ping_on_the_port_it_prints() -> None:
    from adk_realtime.sansio.sip.message import SipMessage, parse_message

    proc = subprocess.Popen(
        [sys.executable, "-m", "adk_realtime.cli", "sip", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert proc.stdout is not None
        port = 0
        for line in proc.stdout:
            if line.startswith("  call: sip:agent@127.0.0.1:"):
                port = int(line.rsplit(":", 1)[1])
                break
        assert port, proc.stderr.read()  # type: ignore[union-attr]
        ping = SipMessage(method="OPTIONS", uri=f"sip:agent@127.0.0.1:{port}", headers=[
            ("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-cli"), ("From", "<sip:t@h>;tag=1"),
            ("To", "<sip:agent@h>"), ("Call-ID", "cli-ping"), ("CSeq", "1 OPTIONS"),
        ])  # fmt: skip
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.settimeout(10)
            probe.sendto(ping.serialize(), ("127.0.0.1", port))
            data, _addr = probe.recvfrom(65535)
        assert parse_message(data).status == 200
    finally:
        proc.terminate()
        proc.wait(10)


METRICS_ARGS = ("--metrics-port", "0", "--max-calls", "3", "--drain-seconds", "5")


def test_sip_serve_metrics_port_serves_metrics_and_readiness_and_sigterm_drains() -> None:
    import json
    import signal
    from urllib.error import HTTPError
    from urllib.request import urlopen

    proc = subprocess.Popen(
        [sys.executable, "-m", "adk_realtime.cli", "sip", "serve", "--port", "0", *METRICS_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert proc.stdout is not None
        health = ""
        for line in proc.stdout:
            if line.startswith("  health: "):
                health = line.split()[1]
                break
        assert health.startswith("http://127.0.0.1:"), proc.stderr.read()  # type: ignore[union-attr]
        base = health.rsplit("/", 1)[0]
        with urlopen(base + "/readyz", timeout=10) as reply:
            ready = json.loads(reply.read())
        assert ready == {"status": "ready", "active_calls": 0, "max_calls": 3}
        with urlopen(base + "/metrics", timeout=10) as reply:
            assert b"adk_realtime_active_calls 0.0" in reply.read()
        with pytest.raises(HTTPError) as missing:
            urlopen(base + "/nothing", timeout=10)
        assert missing.value.code == 404
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "draining: no new calls; 0 active" in out and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
