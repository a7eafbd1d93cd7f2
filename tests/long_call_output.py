"""What ``examples/realtime_long_call.py`` must print, whichever way it ran (offline against
the in-process simulator, or over the real-provider code path at a keyed simulator)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol


class Printed(Protocol):
    """A finished example run (``tests.test_examples.Result``)."""

    @property
    def lines(self) -> list[str]: ...

    def kind(self, kind: str) -> list[str]: ...


def split_long_call(result: Printed) -> tuple[list[str], list[str]]:
    """The long call's lines, and the seeded session's (from its ``[seeded]`` line on)."""
    lines = result.lines
    at = next(i for i, line in enumerate(lines) if line.startswith("[seeded] "))
    return lines[:at], lines[at:]


def check_long_call(result: Printed, provider: str, history_file: Path, *, spoken: bool) -> None:
    """What every run of realtime_long_call.py shows, offline or over the real-provider path."""
    from adk_realtime import History, HistoryFunctionCall, HistoryMessage

    assert result.kind("error") == []
    call, seeded = split_long_call(result)
    kind = "rollover" if provider == "openai" else "resumption"
    ask = "[user] (speaking) " if spoken else "[user] "
    # The first question, answered by the tool.
    assert call.index(ask + "What is the weather in Paris?") < call.index(
        '[tool] get_weather({"city": "Paris"})'
    )
    # The line stays open across four switches: the drop and three caps.
    follow_up = call.index(ask + "What city did I ask about?")
    resumed = [line for line in call[:follow_up] if line.startswith("[resumed] ")]
    assert resumed[:4] == [f"[resumed] session {n} ({kind})" for n in range(2, 6)], call
    # Answered from the conversation the switches carried over.
    assert "[assistant] You asked about Paris." in call[follow_up:]
    (stats,) = [line for line in call if line.startswith("[info] ") and " switches: " in line]
    switches, rollovers, by_handle = (int(n) for n in re.findall(r"(\d+) (?:sw|ro|re)", stats))
    assert switches >= 4
    # OpenAI rolls every switch over to a fresh session; Gemini resumes every one by handle.
    assert (rollovers, by_handle) == ((switches, 0) if provider == "openai" else (0, switches))
    # Saved, then a new session seeded from the file answers from it.
    (saved,) = result.kind("history")
    assert saved.endswith(f" to {history_file}")
    history = History.from_json(history_file.read_text(encoding="utf-8"))
    assert saved.startswith(f"saved {len(history)} items ")
    texts = [(i.role, i.text) for i in history if isinstance(i, HistoryMessage)]
    assert ("user", "What is the weather in Paris?") in texts, texts
    assert ("user", "What city did I ask about?") in texts, texts
    assert ("assistant", "You asked about Paris.") in texts, texts
    calls = [i for i in history if isinstance(i, HistoryFunctionCall)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert seeded[0] == f"[seeded] a new session starts from the {len(history)} saved items"
    assert seeded.index(ask + "What city did I ask about?") < seeded.index(
        "[assistant] You asked about Paris."
    )
