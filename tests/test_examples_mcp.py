"""``examples/realtime_mcp.py``: the model calls a tool of the example's own MCP server
(a process the runner starts over stdio), and the OpenAI run records the call.

Apart from ``tests/test_examples.py`` (whose helpers it uses): each run spawns an MCP
server process, a load the real-time (paced) example runs there are better without.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator

import pytest

from adk_realtime.sansio.sim.speech import SpeechRecognizer
from tests.test_examples import Launched, tool_calls

MCP_RUNS: dict[str, list[str]] = {
    "mcp-openai": ["realtime_mcp.py", "--sim-pace", "0", "--record", "{tmp}/mcp.wav"],
    "mcp-gemini": ["realtime_mcp.py", "--sim-api", "gemini", "--sim-pace", "0"],
}


@pytest.fixture(scope="module")
def launched_mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    runs = Launched(tmp_path_factory.mktemp("examples-mcp"), MCP_RUNS)
    yield runs
    runs.stop()


@pytest.mark.parametrize("run", ["mcp-openai", "mcp-gemini"])
def test_the_model_calls_a_tool_of_the_examples_own_mcp_server(
    launched_mcp: Launched, run: str
) -> None:
    result = launched_mcp.result(run)
    assert tool_calls(result) == [("get_forecast", {"city": "Lisbon"})]
    assert result.kind("assistant") == ["Here is the forecast: Lisbon: sunny, 24 degrees."]
    assert result.kind("info")[-1] == "MCP tools: get_forecast"
    (usage,) = result.kind("usage")
    assert usage.startswith("input ") and "audio 0" not in usage.split("output", 1)[1]
    if run == "mcp-openai":  # recorded too: the agent's spoken answer is on the right
        path = launched_mcp.tmp / "mcp.wav"
        (report,) = result.kind("recording")
        assert report.startswith(f"{path}: ") and report.endswith(" 0 dropped")
        with wave.open(str(path)) as wav:
            assert wav.getnchannels() == 2
            frames = wav.readframes(wav.getnframes())
        ears = SpeechRecognizer(wav.getframerate())
        ears.feed(b"".join(frames[i + 2 : i + 4] for i in range(0, len(frames), 4)))
        assert ears.text == "Here is the forecast: Lisbon: sunny, 24 degrees."
