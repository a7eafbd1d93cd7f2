"""``adk-realtime demo``: the offline spoken exchange anyone can run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_demo_holds_a_spoken_exchange_with_a_tool_call(provider: str, tmp_path: Path) -> None:
    wav = tmp_path / "reply.wav"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "adk_realtime.cli",
            "demo",
            "--provider",
            provider,
            "--json",
            "--output",
            str(wav),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert "tool" in kinds and "assistant" in kinds
    tool = next(e for e in events if e["event"] == "tool")
    assert tool["text"].startswith("get_weather(") and "Paris" in tool["text"]
    user = [e["text"] for e in events if e["event"] == "user"]
    assert "What is the weather in Paris?" in user  # the simulator heard the spoken question
    answer = next(e for e in events if e["event"] == "assistant")
    assert "sunny" in answer["text"]
    summary = events[-1]
    assert summary["tool_calls"] == 1 and summary["time_to_first_audio_ms"] >= 0
    assert wav.stat().st_size > 48000  # more than half a second of 24 kHz PCM16
