"""Fuzz the scenario loader: no file may make it raise anything but ``ScenarioFileError``, and
a scenario it accepts must play without an exception.

Each input is either raw text (read as YAML or as JSON) or a valid scenario with one value
replaced by fuzz (so the field checks, not only the parsers, are reached). An accepted scenario
is played for a few simulated seconds on one OpenAI and one Gemini session, driven through a
tool turn, with timers firing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.sim.hub import SimulatorHub
    from adk_realtime.sansio.sim.scenario_session import ScenarioDirector
    from adk_realtime.scenario_file import ScenarioFileError, parse_scenario_text

_BASE: dict[str, Any] = {
    "pace": 0,
    "turns": [
        {
            "call_tool": {"name": "get_weather", "arguments": {"city": "Paris"}},
            "answer": "{output}!",
        },
        {"say": "ok ok", "first_audio_ms": 10, "interrupt": {"after_ms": 100}},
        {"say": "x", "fault": {"kind": "malformed", "at": "before_first_audio"}},
        {"error": "rate_limit", "usage": {"input_tokens": 1}},
    ],
}
_OPENAI = [
    '{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}',
    '{"type":"response.create"}',
]
_GEMINI = [
    '{"setup":{"model":"models/x"}}',
    '{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]}],"turnComplete":true}}',
]


def _fuzz_value(fdp: atheris.FuzzedDataProvider) -> Any:
    pick = fdp.ConsumeIntInRange(0, 5)
    if pick == 0:
        return fdp.ConsumeUnicodeNoSurrogates(20)
    if pick == 1:
        return fdp.ConsumeInt(4)
    if pick == 2:
        return fdp.ConsumeFloat()
    if pick == 3:
        return None
    if pick == 4:
        return [fdp.ConsumeUnicodeNoSurrogates(5)]
    return {fdp.ConsumeUnicodeNoSurrogates(5): fdp.ConsumeInt(2)}


def _mutate(node: Any, fdp: atheris.FuzzedDataProvider) -> Any:
    if isinstance(node, dict) and node and fdp.ConsumeBool():
        keys = sorted(node)
        key = keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]
        return {**node, key: _mutate(node[key], fdp)}
    if isinstance(node, list) and node and fdp.ConsumeBool():
        i = fdp.ConsumeIntInRange(0, len(node) - 1)
        return [*node[:i], _mutate(node[i], fdp), *node[i + 1 :]]
    return _fuzz_value(fdp)


def _play(text: str, json_format: bool) -> None:
    try:
        scenario = parse_scenario_text(text, "fuzz", json_format=json_format)
    except ScenarioFileError:
        return
    for kind, messages in (("openai", _OPENAI), ("gemini", _GEMINI)):
        director = ScenarioDirector(scenario)
        hub = SimulatorHub(pace=0)
        director.bind(hub.settings)
        hub.settings.pace = min(hub.settings.pace, 0.01)
        session = director.attach(hub.open_session(kind, now=0.0), 0.0)  # type: ignore[arg-type]
        now = 0.0
        for message in messages * 3:
            session.receive_data(message, now)
            for _ in range(200):
                session.data_to_send()
                while session.next_event() is not None:
                    pass
                timer = session.get_timer()
                if timer is None or timer > now + 5:
                    break
                now = max(now, timer)
                session.handle_timer(now)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
        _play(text, json_format=fdp.ConsumeBool())
        return
    scenario = _mutate(_BASE, fdp)
    as_json = mode == 1
    _play(json.dumps(scenario), json_format=as_json)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
