"""Every Python block in README.md runs as written, against the local simulator.

The default provider URLs are pointed at the simulator on loopback and fake keys
are put in the environment; blocks marked ``# readme: compile-only`` (they need
a real endpoint, e.g. OpenAI's WebRTC one) are compiled, not run. The LiveKit
block's ``serve_caller`` is driven with the SDK's real objects and no room.
Names and command-line options the prose mentions are checked to exist.
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
from adk_realtime.sansio.sim.hub import SimulatorHub

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


async def drive_serve_caller(serve_caller: Any, server: Any) -> None:
    """The LiveKit block with the SDK's real objects and no room: a caller says hello
    on a local track; the agent's voice, read back from its AudioSource, answers."""
    from livekit import rtc

    from adk_realtime.openai import OpenAIRealtimeModel
    from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

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
def test_readme_block_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    run_block(index, monkeypatch)


def run_block(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run README block ``index`` (its ``main()`` too) against the simulator."""
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


# Dotted names the README's prose (not only its code blocks) tells users to call.
PROSE_NAMES = """
adk_realtime.RealtimeConfig.default adk_realtime.RealtimeConfig.with_instruction
adk_realtime.RealtimeRunner.builder adk_realtime.RealtimeRunner.wait_connected
adk_realtime.RealtimeRunner.commit_audio adk_realtime.RealtimeRunner.interrupt
adk_realtime.RealtimeRunner.audio_played adk_realtime.RealtimeRunnerBuilder.config
adk_realtime.RealtimeRunnerBuilder.tool adk_realtime.RealtimeRunnerBuilder.max_concurrent_tools
adk_realtime.RealtimeAgentBuilder.description adk_realtime.RealtimeAgentBuilder.input_transcription
adk_realtime.VadConfig.server adk_realtime.VadConfig.disabled adk_realtime.VadMode.ServerVad
adk_realtime.VadMode.SEMANTIC adk_realtime.VadMode.NONE adk_realtime.AudioFormat.g711_ulaw
adk_realtime.AudioFormat.g711_alaw adk_realtime.OpenAIRealtimeModel.azure
adk_realtime.WebRTCOptions adk_realtime.RunContext.send_text adk_realtime.CallbackContext
adk_realtime.ToolContext adk_realtime.Usage adk_realtime.ServerEvent adk_realtime.ClientEvent
adk_realtime.RealtimeSession.send_event adk_realtime.RealtimeSession.send_raw
adk_realtime.RealtimeSession.truncate adk_realtime.RealtimeSession.clear_audio
adk_realtime.AgentStarted adk_realtime.AgentEnded adk_realtime.ToolCallStarted
adk_realtime.ToolCallCompleted adk_realtime.Handoff adk_realtime.AudioInterrupted
adk_realtime.TurnMetrics adk_realtime.RealtimeEvent adk_realtime.InputAudioBufferAppend
adk_realtime.drivers.simulator.run_simulator adk_realtime.sansio.sim.hub.SimulatorHub
adk_realtime.sansio.sim.speech.synthesize_speech adk_realtime.sansio.sim.speech.SpeechRecognizer
adk_realtime.sansio.webrtc.datachannel.DataChannelQueueFull
adk_realtime.livekit.join_room adk_realtime.livekit.make_token adk_realtime.livekit.RoomAgent
adk_realtime.livekit.BridgeHandle.wait adk_realtime.livekit.BridgeHandle.stop
adk_realtime.phone_server.PhoneServer adk_realtime.phone_server.serve_phone
adk_realtime.phone_server.PhoneServer.asgi_app adk_realtime.phone_caller.call
adk_realtime.RealtimeRunner.history adk_realtime.RealtimeRunner.resumption_handle
adk_realtime.RealtimeRunnerBuilder.history adk_realtime.RealtimeSession.history
adk_realtime.RealtimeSession.resumption_handle adk_realtime.RealtimeSession.note_heard
adk_realtime.History.to_json adk_realtime.History.from_json adk_realtime.HistoryLimits
adk_realtime.HistoryMessage adk_realtime.HistoryFunctionCall adk_realtime.HistoryFunctionOutput
adk_realtime.SessionResumed adk_realtime.GoAway adk_realtime.SessionOptions
adk_realtime.livekit_agents.RealtimeJob adk_realtime.livekit_agents.realtime_server
adk_realtime.livekit_agents.SessionLoad
""".split()


@pytest.mark.parametrize("dotted", PROSE_NAMES)
def test_a_name_the_prose_mentions_exists(dotted: str) -> None:
    import importlib

    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return
    pytest.fail(f"{dotted} does not import")


def test_the_prose_claims_about_config_and_handlers_hold() -> None:
    from adk_realtime import EventHandler, RealtimeConfig, VadConfig, VadMode
    from adk_realtime.livekit import LiveKitEventHandler

    assert RealtimeConfig.default() == RealtimeConfig()
    assert VadConfig(mode="server_vad").mode is VadMode.SERVER is VadMode.ServerVad
    assert issubclass(LiveKitEventHandler, EventHandler)
    text = README.read_text()
    for name in ("RealtimeConfig.default()", 'VadConfig(mode="server_vad")', "LiveKitEventHandler"):
        assert name in text


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("demo", ["--provider", "--question", "--output", "--timeout", "--json"]),
        ("sim", ["--host", "--port", "--tls-cert", "--tls-key", "--api-key"]),
        (
            "talk",
            ["--provider", "--model", "--base-url", "--input", "--output", "--timeout", "--json"],
        ),
        (
            "phone serve",
            "--port --host --provider --base-url --model --public-url --twilio-auth-token "
            "--telnyx-public-key --plivo-auth-token --max-calls".split(),
        ),
        (
            "sip serve",
            "--port --host --public-host --provider --base-url --model --max-calls --allow "
            "--metrics-port --drain-seconds --transport".split(),
        ),
        (
            "phone call",
            "--question --wav --carrier --twilio-auth-token --plivo-auth-token "
            "--telnyx-private-key --dtmf --interrupt-with --timeout --json".split(),
        ),
    ],
)
def test_the_command_line_options_the_readme_lists_exist(
    command: str, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from adk_realtime.cli import main

    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    help_text = capsys.readouterr().out
    section = README.read_text().split("## The simulator and the command line")[1]
    section = section.split(f"`adk-realtime {command}")[1].split("\n\n")[0]
    for option in options:
        assert option in help_text, option
        assert option in section, option


def block_with(needle: str) -> int:
    return next(i for i, code in enumerate(BLOCKS) if needle in code)


def test_the_quick_start_uses_the_default_ga_model() -> None:
    import inspect

    from adk_realtime.openai import OpenAIRealtimeModel

    default = inspect.signature(OpenAIRealtimeModel).parameters["model"].default
    assert default == "gpt-realtime"
    quick_start = README.read_text().split("## Quick start")[1].split("\n## ")[0]
    assert f'"{default}")' in quick_start
    assert "preview" not in quick_start  # the beta dialect is the table's second row, not the start


@pytest.mark.parametrize("needle", ["class Printer(EventHandler)", "GeminiLiveBackend.Public(os"])
def test_the_snippets_that_say_hello_show_the_answer(
    needle: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_block(block_with(needle), monkeypatch)
    assert "Hello! I am the offline simulator. How can I help?" in capsys.readouterr().out


def test_the_readme_and_make_demo_say_how_to_run_what_was_installed() -> None:
    """After `make demo` or `make test`, `adk-realtime` is not on PATH and the system
    python lacks the dependencies: both the README and `make demo` say where they are."""
    top = README.read_text().split("## Install")[0]
    for how in (
        ".venv/bin/adk-realtime",
        ".venv/bin/python examples/",
        "source .venv/bin/activate",
    ):
        assert how in top, how
    makefile = (README.parent / "Makefile").read_text()
    demo = makefile.split("\ndemo:")[1].split("\n\n")[0]
    for how in ("$(BIN)/adk-realtime", "$(BIN)/python examples/", "source $(BIN)/activate"):
        assert how in demo, how


def test_the_long_call_snippet_carries_both_conversations_over(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # OpenAI seeded from the saved JSON, Gemini resumed by its handle: both remember.
    run_block(block_with("resume_handle=runner.resumption_handle"), monkeypatch)
    assert capsys.readouterr().out.count("Earlier you said: Hello!") == 2


def test_the_long_call_section_states_the_defaults() -> None:
    import dataclasses
    import inspect

    from adk_realtime import HistoryLimits, SessionOptions
    from adk_realtime.gemini import GeminiRealtimeModel
    from adk_realtime.sansio.openai.protocol import OpenAIProtocol
    from adk_realtime.session import HEALTHY_LINK_SECONDS

    section = README.read_text().split("## Long calls and history")[1].split("\n## ")[0]
    section = " ".join(section.split())  # (lines wrap anywhere)
    defaults = {f.name: f.default for f in dataclasses.fields(SessionOptions)}
    for name in (
        "rollover",
        "resume",
        "rollover_margin",
        "reconnect_attempts",
        "reconnect_backoff",
        "reconnect_backoff_max",
    ):
        assert f"| `{name}` | `{defaults[name]!r}` |" in section, name
    assert f"within {HEALTHY_LINK_SECONDS:g} s of being ready" in section
    limits = HistoryLimits()
    assert f"{limits.max_items} items and {limits.max_chars:,} characters".replace(",", " ") in (
        section
    )
    replay = inspect.signature(OpenAIProtocol).parameters["max_replay_ms"].default
    assert f"at most {replay // 1000} s of input audio" in section
    transparent = inspect.signature(GeminiRealtimeModel).parameters["transparent_resumption"]
    assert transparent.default is None and "transparent_resumption=None" in section
