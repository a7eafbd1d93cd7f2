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

    anyio.run(run)
