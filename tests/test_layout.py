"""The package layout promises of DESIGN.md."""

import subprocess
import sys


def test_sansio_import_loads_no_io_library() -> None:
    code = (
        "import sys, adk_realtime.sansio.events, adk_realtime.sansio.config;"
        "import importlib.util as u;"
        "mods=[m for m in ('adk_realtime.sansio.openai.protocol','adk_realtime.sansio.gemini.protocol','adk_realtime.sansio.audio') if u.find_spec(m)];"
        "[__import__(m) for m in mods];"
        "bad=[m for m in ('anyio','trio','asyncio','socket','ssl') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"sansio import pulled in: {out.stdout.strip()}"


def test_public_names_resolve_lazily() -> None:
    import adk_realtime

    assert adk_realtime.RealtimeConfig().instruction is None
    assert "RealtimeConfig" in dir(adk_realtime)


def test_every_public_name_resolves() -> None:
    import adk_realtime

    missing = [name for name in adk_realtime.__all__ if not hasattr(adk_realtime, name)]
    assert missing == []
    # The agent events a user matches on in ``agent.run(ctx)`` are among them.
    for name in ("AgentStarted", "AgentEnded", "ToolCallStarted", "ToolCallCompleted"):
        assert name in adk_realtime.__all__
