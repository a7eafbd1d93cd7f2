"""The simulator's scenarios through the pytest plugin's fixture, with other people's clients:
the OpenAI Agents SDK's realtime runner and ``google-genai``'s live client each hold a scripted
tool turn and an interruption, and every client message they sent validates strictly against
the official types."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from adk_realtime.testing import RealtimeSimulator
from tests import oracles_openai

LONG = "Once upon a time there was a tiny robot who loved to count the stars every night."

SCRIPT: dict[str, Any] = {
    "pace": 1.0,
    "turns": [
        {
            "call_tool": {"name": "get_weather", "arguments": {"city": "Paris"}},
            "answer": "It is {output} in Paris.",
            "usage": {"input_tokens": 120, "output_tokens": 45},
        },
        {"say": LONG, "interrupt": {"after_ms": 400}},
    ],
}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_agents_sdk_realtime_runner_holds_a_scripted_tool_turn_and_an_interruption(
    anyio_backend: str, realtime_simulator: RealtimeSimulator, tmp_path: Path
) -> None:
    from agents import function_tool
    from agents.realtime import RealtimeAgent, RealtimeRunner

    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return "sunny"

    realtime_simulator.play(SCRIPT)
    agent = RealtimeAgent(name="assistant", instructions="Be brief.", tools=[get_weather])
    runner = RealtimeRunner(agent)
    url = f"{realtime_simulator.openai_base_url}/realtime?model=gpt-realtime"
    kinds: list[str] = []
    transcript = ""
    with anyio.fail_after(30):
        session = await runner.run(model_config={"url": url, "api_key": "sk-test"})
        async with session:
            await session.send_message("What is the weather in Paris?")
            async for event in session:
                kinds.append(event.type)
                if event.type == "raw_model_event" and event.data.type == "transcript_delta":
                    transcript += event.data.delta
                # The SDK runs the tool as a task: its tool_end may come before or after
                # the agent_end of the call's turn. The answer's turn is the one with words.
                if event.type == "agent_end" and "tool_end" in kinds and transcript:
                    break
            await session.send_message("Tell me a story.")
            async for event in session:
                kinds.append(event.type)
                if event.type == "audio_interrupted":
                    break
            # the truncate the SDK sends on the interruption is the last thing it does
            await realtime_simulator.wait_for_async("conversation.item.truncate")
    assert calls == ["Paris"]
    assert "It is sunny in Paris." in transcript
    record = realtime_simulator.record
    outputs = [
        m["item"]
        for m in record.of_type("conversation.item.create")
        if m["item"]["type"] == "function_call_output"
    ]
    assert len(outputs) == 1 and outputs[0]["output"] == "sunny"  # the tool output, once
    (truncate,) = record.of_type("conversation.item.truncate")
    assert 0 < truncate["audio_end_ms"] <= 1000  # cut near the 400 ms of audio it had heard
    realtime_simulator.validate_record()
    for message in record.messages:
        oracles_openai.validate_ga_client(message.raw)
    lines = realtime_simulator.write_record(tmp_path / "record.jsonl").read_text().splitlines()
    assert [json.loads(line)["message"]["type"] for line in lines] == [
        m.type for m in record.messages
    ]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_genai_live_client_holds_a_scripted_tool_turn_and_an_interruption(
    anyio_backend: str, realtime_simulator: RealtimeSimulator
) -> None:
    from google import genai
    from google.genai import types

    realtime_simulator.play(SCRIPT)
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="The weather in a city",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"city": types.Schema(type=types.Type.STRING)},
            required=["city"],
        ),
    )
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        tools=[types.Tool(function_declarations=[weather])],
        output_audio_transcription=types.AudioTranscriptionConfig(),
    )
    client = genai.Client(api_key="test-key", http_options=realtime_simulator.gemini_http_options())
    transcript = ""
    usage = None
    interrupted = False
    with anyio.fail_after(30):
        async with client.aio.live.connect(model="gemini-live-2.5-flash", config=config) as live:
            await live.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
            )
            async for message in live.receive():
                if message.tool_call and message.tool_call.function_calls:
                    call = message.tool_call.function_calls[0]
                    assert call.name == "get_weather" and call.args == {"city": "Paris"}
                    reply = types.FunctionResponse(
                        id=call.id, name=call.name, response={"output": "sunny"}
                    )
                    await live.send_tool_response(function_responses=[reply])
                    break
            async for message in live.receive():
                content = message.server_content
                if content and content.output_transcription:
                    transcript += content.output_transcription.text or ""
                if content and content.turn_complete:
                    usage = message.usage_metadata
                    break
            await live.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Tell me a story.")])
            )
            async for message in live.receive():
                if message.server_content and message.server_content.interrupted:
                    interrupted = True
                    break
    assert transcript == "It is sunny in Paris."
    assert usage is not None and (usage.prompt_token_count, usage.response_token_count) == (120, 45)
    assert interrupted
    record = realtime_simulator.record
    assert len(record.of_type("toolResponse")) == 1  # the tool output, once
    assert [m.provider for m in record.messages] == ["gemini"] * len(record.messages)
    realtime_simulator.validate_record()
    for message in record.messages:
        # the official type forbids unknown keys; the SDK sends some in snake_case, which our
        # own stricter oracle (made for our lowerCamelCase output) does not accept
        types.LiveClientMessage.model_validate_json(message.raw)
    assert record.messages[0].type == "setup"


def test_the_readme_testing_section_runs_as_written_through_the_entry_point(
    tmp_path: Path,
) -> None:
    """The section's test modules run in a fresh pytest, which finds the fixture through the
    ``pytest11`` entry point alone (no conftest, no ``-p``)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Test your voice app offline", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    for n, code in enumerate(blocks):
        (tmp_path / f"test_readme_{n}.py").write_text(code)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout


def test_the_plugin_is_inert_until_a_test_asks_for_it() -> None:
    """Loading the entry point imports no I/O library and starts nothing."""
    code = (
        "import sys; import adk_realtime.testing as t; "
        "heavy = [m for m in ('anyio', 'adk_realtime.drivers', 'adk_realtime.sansio', 'openai', "
        "'google.genai', 'trustme', 'ssl') if m in sys.modules]; "
        "print(heavy); sim = t.RealtimeSimulator(); print(sim.sessions)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split("\n")[:2] == ["[]", "0"], proc.stderr
    from importlib.metadata import entry_points

    (point,) = [p for p in entry_points(group="pytest11") if p.name == "adk_realtime"]
    assert point.value == "adk_realtime.testing"
