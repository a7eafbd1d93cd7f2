"""``adk-realtime demo``: the offline spoken exchange anyone can run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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


# --------------------------------------------------------------------------
# First run: what a newcomer meets
# --------------------------------------------------------------------------


@contextlib.contextmanager
def sim_process(*options: str) -> Iterator[int]:
    """`adk-realtime sim --port 0 OPTIONS` in another process; yields its port."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "adk_realtime.cli", "sim", "--port", "0", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        yield int(sim.stdout.readline().rsplit(":", 1)[1])
    finally:
        sim.terminate()
        sim.wait(10)


def write_pcm_wav(path: Path, pcm: bytes, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def talk(
    *options: str, key: str = "sk-test", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "adk_realtime.cli", "talk", *options],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_demo_with_any_question_ends_when_the_answer_is_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adk_realtime.cli import main

    wav = tmp_path / "hello.wav"
    # Before: only an answer after a tool call ended the demo; this one waited out the
    # timeout and exited 1 with "timed out".
    assert (
        main(["demo", "--question", "Hello", "--json", "--output", str(wav), "--timeout", "20"])
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    answer = next(e for e in events if e["event"] == "assistant")
    assert answer["text"].startswith("Hello! I am the offline simulator")
    assert events[-1]["tool_calls"] == 0 and wav.stat().st_size > 48000


def test_talk_with_a_silent_wav_says_there_was_no_answer_and_fails(tmp_path: Path) -> None:
    silence = write_pcm_wav(tmp_path / "silence.wav", bytes(16000), 16000)
    reply = tmp_path / "reply.wav"
    with sim_process() as port:
        proc = talk(
            "--input", str(silence), "--output", str(reply), "--timeout", "2",
            "--base-url", f"ws://127.0.0.1:{port}/v1",
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("adk-realtime talk: no answer within 2 s (--timeout)")
    assert len(proc.stderr.splitlines()) == 1
    assert not reply.exists()  # was: a 44-byte WAV, exit status 0


def test_talk_sends_a_wav_at_44100_hz_resampled(tmp_path: Path) -> None:
    from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

    # The tone-coded question at 44.1 kHz (made by interpolating the 48 kHz one).
    speech48 = np.frombuffer(synthesize_speech("What is the weather in Paris?", 48000), "<i2")
    t44 = np.arange(round(len(speech48) * 44100 / 48000)) / 44100
    speech44 = np.interp(t44, np.arange(len(speech48)) / 48000, speech48.astype(np.float64))
    question = write_pcm_wav(tmp_path / "q44.wav", speech44.astype("<i2").tobytes(), 44100)
    reply = tmp_path / "reply.wav"
    with sim_process() as port:
        proc = talk(
            "--json", "--input", str(question), "--output", str(reply),
            "--base-url", f"ws://127.0.0.1:{port}/v1",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr  # was: 44100 Hz is not supported
    assert "44100 Hz audio resampled to 24000 Hz" in proc.stdout
    assert '"event": "tool"' in proc.stdout
    with wave.open(str(reply), "rb") as src:
        heard = SpeechRecognizer(24000)
        heard.feed(src.readframes(src.getnframes()))
    assert heard.text.startswith("Here is the weather")


def test_resample_clip_keeps_a_tone_and_the_duration() -> None:
    from adk_realtime.cli import resample_clip

    t = np.arange(44100) / 44100
    tone = (10000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    out = np.frombuffer(resample_clip(tone, 44100, 24000), "<i2").astype(np.float64)
    assert len(out) == 24000
    spectrum = np.abs(np.fft.rfft(out))
    assert int(np.argmax(spectrum)) == 440  # 1 s of audio: bin k is k Hz
    assert abs(np.sqrt(np.mean(out**2)) - 10000 / np.sqrt(2)) < 100
    assert resample_clip(b"", 44100, 24000) == b""


def test_a_connection_error_is_printed_once_on_one_line_naming_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from adk_realtime.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-0123456789")
    question = write_pcm_wav(tmp_path / "q.wav", bytes(3200), 16000)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/v1"
    # without --json: the console (rich) used to print the error too, wrapped mid-URL
    assert main(["talk", "--input", str(question), "--base-url", url]) == 1
    out, err = capsys.readouterr()
    assert "could not connect" not in out
    assert err.count("\n") == 1 and err.count("could not connect") == 1
    assert f"{url}/realtime?model=gpt-realtime: could not connect" in err  # not <redacted>
    assert "sk-secret" not in out + err


def test_a_404_names_the_url_it_tried_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from adk_realtime.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-0123456789")
    question = write_pcm_wav(tmp_path / "q.wav", bytes(3200), 16000)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer_404() -> None:
            conn, _ = listener.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(65536)
                    if not data:
                        return
                    request += data
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")

        server = threading.Thread(target=answer_404)
        server.start()
        assert (
            main(["talk", "--input", str(question), "--base-url", f"http://127.0.0.1:{port}/x"])
            == 1
        )
        server.join(10)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"ws://127.0.0.1:{port}/x/realtime?model=gpt-realtime" in err
    assert "HTTP 404" in err and "check the base URL" in err
    assert "sk-secret" not in err


def test_version_option_and_dunder_version_agree_with_the_metadata(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib import metadata

    import adk_realtime
    from adk_realtime.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"adk-realtime {metadata.version('adk-realtime')}"
    assert adk_realtime.__version__ == metadata.version("adk-realtime")


def test_version_falls_back_to_pyproject_when_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tomllib
    from importlib import metadata

    import adk_realtime

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    root = Path(__file__).resolve().parent.parent
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    assert adk_realtime._version() == declared


def test_sim_api_key_makes_a_wrong_key_fail_with_an_auth_error(tmp_path: Path) -> None:
    question = write_pcm_wav(tmp_path / "q.wav", bytes(3200), 16000)
    with sim_process("--api-key", "sk-right-key") as port:
        url = f"ws://127.0.0.1:{port}/v1"
        wrong = talk("--input", str(question), "--base-url", url, key="sk-wrong-key")
        right = talk(
            "--input", str(question), "--base-url", url, "--timeout", "1", key="sk-right-key"
        )
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("adk-realtime talk: authentication failed (HTTP 401)")
    assert "OPENAI_API_KEY" in wrong.stderr and len(wrong.stderr.splitlines()) == 1
    assert "sk-wrong-key" not in wrong.stderr + wrong.stdout
    assert "authentication failed" not in right.stderr  # the right key is let in


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tls-cert", "/nonexistent/cert.pem"], r"--tls-cert /nonexistent/cert\.pem: no such file"),
        (["--tls-key", "KEY"], r"--tls-key needs --tls-cert"),
        (["--tls-cert", "CERT"], r"--tls-cert .*cert\.pem: no certificate with its private key.*--tls-key"),
        (["--tls-cert", "CERT", "--tls-key", "/nonexistent/key.pem"], r"--tls-key /nonexistent/key\.pem: no such file"),
        (["--host", "192.0.2.1"], r"192\.0\.2\.1 is not an address of this machine.*--host 127\.0\.0\.1"),
        (["--host", "no-such-host.invalid"], r"unknown host name 'no-such-host\.invalid'"),
        (["--session-max-seconds", "0"], r"--session-max-seconds: must be a number of seconds > 0"),
        (["--drop-after", "-1"], r"--drop-after: must be a number of seconds >= 0"),
        (["--drops", "-2"], r"--drops: a count of sessions >= 0"),
    ],
)  # fmt: skip
def test_sim_mistakes_give_one_line_with_the_right_advice(
    options: list[str], message: str, tmp_path: Path
) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    key = tmp_path / "key.pem"
    options = [str(cert) if o == "CERT" else str(key) if o == "KEY" else o for o in options]
    # In a process of its own: before, `--tls-key` alone served plain ws:// forever.
    proc = subprocess.run(
        [sys.executable, "-m", "adk_realtime.cli", "sim", "--port", "0", *options],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("adk-realtime sim: ") and len(proc.stderr.splitlines()) == 1
    assert re.search(message, proc.stderr), proc.stderr


def test_demo_output_into_a_missing_directory_fails_before_the_exchange() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "adk_realtime.cli", "demo", "--output", "/nonexistent/x.wav"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""  # no simulator, no exchange
    assert proc.stderr.startswith("adk-realtime demo: --output /nonexistent/x.wav: cannot write")
    assert len(proc.stderr.splitlines()) == 1  # no "Exception ignored in: <Wave_write...>"


def test_sim_drop_and_cap_options_reach_the_sessions() -> None:
    import anyio

    from adk_realtime.drivers.websocket import open_websocket
    from adk_realtime.sansio.errors import ConnectionClosed

    async def check(port: int) -> None:
        url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
        async with open_websocket(url) as ws:  # the first session: dropped after 0.2 s
            assert "expires_at" in json.loads(await ws.receive())["session"]
            with anyio.fail_after(10), pytest.raises(ConnectionClosed) as dropped:
                while True:
                    await ws.receive()
        async with open_websocket(url) as ws:  # the second: capped after 0.6 s
            await ws.receive()
            with anyio.fail_after(10):
                error = json.loads(await ws.receive())
                with pytest.raises(ConnectionClosed) as capped:
                    await ws.receive()
        assert dropped.value.code == 1006 and capped.value.code == 1001
        assert error["error"]["code"] == "session_expired"

    with sim_process("--drop-after", "0.2", "--session-max-seconds", "0.6") as port:
        anyio.run(check, port)
