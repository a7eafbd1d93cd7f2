"""Every Python block in README.md runs as written, against the local simulator.

The default provider URLs are pointed at the simulator on loopback and fake keys
are put in the environment; blocks marked ``# readme: compile-only`` (they need
a LiveKit server or OpenAI's WebRTC endpoint) are compiled, not run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

import adk_realtime.gemini
import adk_realtime.openai
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.sansio.simulator import SimulatorHub

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


async def drive_serve_caller(serve_caller: Any, server: Any) -> None:
    """The LiveKit block with the SDK's real objects and no room: a caller says hello
    on a local track; the agent's voice, read back from its AudioSource, answers."""
    from livekit import rtc

    from adk_realtime.openai import OpenAIRealtimeModel
    from adk_realtime.sansio.sim_speech import SpeechRecognizer, synthesize_speech

    rate = 48000
    mic = rtc.AudioSource(rate, 1)
    caller_track = rtc.LocalAudioTrack.create_audio_track("caller", mic)
    agent_voice = rtc.AudioSource(rate, 1)
    voice_track = rtc.LocalAudioTrack.create_audio_track("agent", agent_voice)
    heard = rtc.AudioStream.from_track(track=voice_track, sample_rate=rate, num_channels=1)
    recognizer = SpeechRecognizer(rate)
    model = OpenAIRealtimeModel("sk-readme-test", base_url=server.openai_base_url)
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve_caller, caller_track, agent_voice, model)
        speech = synthesize_speech("hello", rate) + bytes(rate * 2)
        step = rate // 100 * 2
        for off in range(0, len(speech), step):
            chunk = speech[off : off + step]
            await mic.capture_frame(rtc.AudioFrame(chunk, rate, 1, len(chunk) // 2))
        async for frame_event in heard:
            recognizer.feed(bytes(frame_event.frame.data.cast("B")))
            if "How can I help" in recognizer.text:
                break
        tg.cancel_scope.cancel()
    await heard.aclose()
    assert recognizer.text.startswith("Hello! I am the offline simulator")


def test_readme_has_the_reference_snippets() -> None:
    text = "\n".join(BLOCKS)
    for needed in (
        "RealtimeAgent.builder",
        "GeminiLiveBackend.Public",
        "model.connect(config)",
        "VadConfig(",
        ".sub_agent(",
        "bridge_input",
        'transport="webrtc"',
    ):
        assert needed in text


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(
    index: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = BLOCKS[index]
    compiled = compile(code, f"README.md block {index}", "exec")
    if "# readme: compile-only" in code:
        return
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-test")
    monkeypatch.setenv("GOOGLE_API_KEY", "readme-test-key")

    async def run() -> None:
        async with run_simulator(hub=SimulatorHub(pace=0)) as server:
            monkeypatch.setattr(adk_realtime.openai, "DEFAULT_BASE_URL", server.openai_base_url)
            monkeypatch.setattr(
                adk_realtime.gemini, "PUBLIC_BASE_URL", f"ws://127.0.0.1:{server.port}"
            )
            namespace: dict[str, Any] = {"__name__": "readme"}
            exec(compiled, namespace)
            if "main" in namespace:
                with anyio.fail_after(20):
                    await namespace["main"]()
            if "serve_caller" in namespace:
                with anyio.fail_after(30):
                    await drive_serve_caller(namespace["serve_caller"], server)

    anyio.run(run)
