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


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_talk_with_wav_files_against_the_sim_command(provider: str, tmp_path: Path) -> None:
    """`adk-realtime sim` serves another process; `talk --input/--output` talks to it."""
    import os
    import wave

    from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

    question = tmp_path / "question.wav"
    with wave.open(str(question), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(synthesize_speech("What is the weather in Paris?", 16000))
    sim = subprocess.Popen(
        [sys.executable, "-m", "adk_realtime.cli", "sim", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        first = sim.stdout.readline()
        port = int(first.rsplit(":", 1)[1])
        base = f"ws://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "GOOGLE_API_KEY": "test-key"}
        reply = tmp_path / "reply.wav"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "adk_realtime.cli",
                "talk",
                "--provider",
                provider,
                "--json",
                "--base-url",
                base,
                "--input",
                str(question),
                "--output",
                str(reply),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert '"event": "tool"' in proc.stdout
    finally:
        sim.terminate()
        sim.wait(10)
    with wave.open(str(reply), "rb") as src:
        assert src.getframerate() == 24000
        pcm = src.readframes(src.getnframes())
    heard = SpeechRecognizer(24000)
    heard.feed(pcm)
    assert heard.text.startswith("Here is the weather")


def test_talk_without_a_key_says_which_variable_to_set() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "adk_realtime.cli",
            "talk",
            "--provider",
            "openai",
            "--input",
            "x.wav",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode != 0 and "OPENAI_API_KEY" in proc.stderr


def test_sim_on_a_busy_port_says_so_without_a_traceback() -> None:
    import socket

    from adk_realtime.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit, match=f"cannot serve on 127.0.0.1:{port}.*--port"):
            main(["sim", "--port", str(port)])


def test_talk_with_a_missing_wav_or_an_unreachable_server_gives_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket
    import wave

    from adk_realtime.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(SystemExit, match=r"nope\.wav: no such file"):
        main(["talk", "--input", str(tmp_path / "nope.wav")])
    question = tmp_path / "q.wav"
    with wave.open(str(question), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(3200))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/v1"
    assert main(["talk", "--json", "--input", str(question), "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("adk-realtime talk: ") and "could not connect" in err
    assert "Traceback" not in err


def test_demo_json_into_a_closed_pipe_exits_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "adk_realtime.cli", "demo", "--json", "--output", "/dev/null"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    json.loads(proc.stdout.readline())  # like `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err
