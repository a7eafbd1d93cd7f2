"""Scenarios, pure: the model and its checks, the stepper, and the session wrapper on a fake
clock (cue points, delays, usage, errors, interruptions, the record); the file loader's errors
(one message naming the line and the field) and the shipped JSON Schema."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.hub import SimSessionClosed, SimulatorHub
from adk_realtime.sansio.sim.scenario import (
    CallTool,
    Scenario,
    ScenarioBrain,
    ScenarioError,
    parse_scenario,
)
from adk_realtime.sansio.sim.scenario_session import ScenarioDirector, ScenarioSession, SimStall
from adk_realtime.scenario_file import (
    ScenarioFileError,
    load_scenario,
    parse_scenario_text,
    scenario_schema,
)
from tests.oracles_openai import validate_ga_server

DATA = Path(__file__).parent / "data" / "scenarios"
HELLO = {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}  # fmt: skip
TOOLS = {"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "get_weather", "parameters": {}}]}}  # fmt: skip


class Run:
    """One OpenAI session of a scenario on a fake clock."""

    def __init__(self, scenario: dict[str, Any], provider: str = "openai") -> None:
        self.director = ScenarioDirector(parse_scenario(scenario))
        hub = SimulatorHub(pace=1.0, chunk_ms=100)
        self.director.bind(hub.settings)
        self.now = 0.0
        self.session: ScenarioSession = self.director.attach(
            hub.open_session(provider, now=0.0),
            0.0,  # type: ignore[arg-type]
        )
        self.out: list[tuple[float, Any]] = []  # (time, message or event)
        self.run_until(0.0)

    def send(self, obj: dict[str, Any]) -> None:
        self.session.receive_data(json.dumps(obj), self.now)
        self.run_until(self.now)

    def run_until(self, until: float) -> None:
        while True:
            for raw in self.session.data_to_send():
                self.out.append((self.now, json.loads(raw) if raw.endswith("}") else raw))
            while (event := self.session.next_event()) is not None:
                self.out.append((self.now, event))
            timer = self.session.get_timer()
            if timer is None or timer > until:
                self.now = until
                return
            self.now = max(self.now, timer)
            self.session.handle_timer(self.now)

    def types(self) -> list[str]:
        return [m["type"] if isinstance(m, dict) else type(m).__name__ for _, m in self.out]

    def first(self, kind: str) -> tuple[float, Any]:
        return next((t, m) for t, m in self.out if isinstance(m, dict) and m["type"] == kind)


# -- the model ------------------------------------------------------------------------------


def test_a_scenario_parses_into_turns() -> None:
    scenario = load_scenario(DATA / "weather.yaml")
    assert scenario.pace == 1.0 and len(scenario.turns) == 3
    first = scenario.turns[0]
    assert first.call_tool == CallTool("get_weather", {"city": "Paris"})
    assert first.usage == {"input_tokens": 120, "output_tokens": 45}
    assert scenario.turns[1].interrupt is not None and scenario.turns[1].interrupt.after_ms == 400
    fault = scenario.turns[2].fault
    assert fault is not None and (fault.kind, fault.at, fault.after_ms) == (
        "drop",
        "mid_response",
        200,
    )
    errors = load_scenario(DATA / "errors.json")
    assert [t.error for t in errors.turns] == ["rate_limit", "invalid_request", None]


@pytest.mark.parametrize("name", ["weather.yaml", "errors.json"])
def test_the_shipped_schema_accepts_the_examples(name: str) -> None:
    text = (DATA / name).read_text()
    import yaml

    jsonschema.validate(yaml.safe_load(text), scenario_schema())


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"turns": [{"say": "a", "call_tool": {"name": "x"}}]}, "turns[0]"),
        ({"turns": [{}]}, "turns[0]"),
        ({"turns": [{"say": 3}]}, "turns[0].say"),
        ({"turns": [{"say": "a", "fault": {"kind": "explode"}}]}, "turns[0].fault.kind"),
        (
            {"turns": [{"say": "a", "fault": {"kind": "drop", "at": "during_tool_call"}}]},
            "turns[0].fault.at",
        ),
        (
            {"turns": [{"say": "a", "fault": {"kind": "close", "code": 1006}}]},
            "turns[0].fault.code",
        ),
        ({"turns": [{"call_tool": {"arguments": {}}}]}, "turns[0].call_tool.name"),
        ({"turns": [{"error": "teapot"}]}, "turns[0].error.kind"),
        ({"turns": [{"say": "a", "usage": {"input_tokens": -1}}]}, "turns[0].usage.input_tokens"),
        ({"turns": [{"say": "a", "first_audio_ms": "soon"}]}, "turns[0].first_audio_ms"),
        ({"turns": [{"say": "a", "answer": "b"}]}, "turns[0].answer"),
        ({"turn": []}, "turn"),
        ({"pace": -1}, "pace"),
        ({"chunk_ms": 0}, "chunk_ms"),
        ([], "(scenario)"),
        ({"turns": [{"say": "\ud800"}]}, "turns[0].say"),
    ],
)
def test_bad_scenarios_name_the_field_and_the_schema_refuses_them_too(raw: Any, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(raw)
    assert info.value.field == field and isinstance(info.value, ConfigError)
    cross_field = ("turns[0].fault.at", "turns[0].fault.code", "turns[0].answer")
    surrogate = "\\ud800" in json.dumps(raw)
    if field not in cross_field and not surrogate:  # rules a JSON Schema cannot state
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(raw, scenario_schema())


def test_a_bad_yaml_file_is_one_error_naming_the_line_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("turns:\n  - say: hi\n  - say: there\n    fault:\n      kind: explode\n")
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(bad)
    assert str(info.value) == (
        f"{bad}:5: turns[1].fault.kind: must be one of drop, stall, close, session_end, "
        "go_away, malformed, latency, got 'explode'"
    )
    assert info.value.line == 5 and info.value.field == "turns[1].fault.kind"


def test_a_bad_json_file_names_the_line_of_the_field_and_syntax_errors_their_line(
    tmp_path: Path,
) -> None:
    text = '{\n  "turns": [\n    {"say": "hi"},\n    {"say": "x", "usage": {"output_tokens": "many"}}\n  ]\n}\n'
    with pytest.raises(ScenarioFileError) as info:
        parse_scenario_text(text, "s.json", json_format=True)
    assert str(info.value).startswith(
        "s.json:4: turns[1].usage.output_tokens: must be a token count"
    )
    with pytest.raises(ScenarioFileError) as syntax:
        parse_scenario_text('{\n  "turns": [\n  }\n', "s.json", json_format=True)
    assert syntax.value.line == 3 and syntax.value.field == "(syntax)"
    with pytest.raises(ScenarioFileError) as yaml_syntax:
        parse_scenario_text("turns:\n  - say: [unclosed\n", "s.yaml", json_format=False)
    assert yaml_syntax.value.line >= 2 and yaml_syntax.value.field == "(syntax)"
    with pytest.raises(ScenarioFileError) as missing:
        load_scenario(Path("/nonexistent/s.yaml"))
    assert missing.value.field == "(file)"


# -- the stepper ----------------------------------------------------------------------------


def test_the_brain_plays_the_turns_then_falls_back_to_the_default() -> None:
    scenario = parse_scenario(
        {"turns": [{"call_tool": {"name": "t", "arguments": {"a": 1}}, "answer": "Got {output}."}]}
    )
    brain = ScenarioBrain(scenario)
    from adk_realtime.sansio.sim.brain import Say, Turn

    assert brain.reply([Turn("user", "hello")], []) == CallTool("t", {"a": 1})
    history = [
        Turn("user", "hello"),
        Turn("function_call", name="t", call_id="c"),
        Turn("function_result", "42", call_id="c"),
    ]
    assert brain.reply(history, []) == Say("Got 42.")
    assert brain.finished
    assert brain.reply([Turn("user", "hello")], []) == Say(
        "Hello! I am the offline simulator. How can I help?"
    )
    silent = ScenarioBrain(Scenario(after="silence"))
    assert silent.reply([Turn("user", "hello")], []) == Say("")


# -- the wrapper on a fake clock -------------------------------------------------------------


def test_a_tool_turn_with_usage_and_every_server_message_valid() -> None:
    run = Run(
        {
            "turns": [
                {
                    "call_tool": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    "answer": "It is {output}.",
                    "usage": {"input_tokens": 7, "output_tokens": 9},
                }
            ]
        }
    )
    run.send(TOOLS)
    run.send(HELLO)
    run.send({"type": "response.create"})
    _, call = run.first("response.function_call_arguments.done")
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    run.send({"type": "conversation.item.create", "item": output})
    run.send({"type": "response.create"})
    run.run_until(10.0)
    done = [m for _, m in run.out if isinstance(m, dict) and m["type"] == "response.done"]
    assert [d["response"]["status"] for d in done] == ["completed", "completed"]
    usage = done[1]["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (7, 9, 16)
    transcript = [
        m["transcript"]
        for _, m in run.out
        if isinstance(m, dict) and m["type"] == "response.output_audio_transcript.done"
    ]
    assert transcript == ["It is sunny."]
    for _, message in run.out:
        validate_ga_server(message)
    record = run.director.record
    assert [m.type for m in record.messages] == [
        "session.update",
        "conversation.item.create",
        "response.create",
        "conversation.item.create",
        "response.create",
    ]
    assert len(record.json_lines().splitlines()) == 5


def test_first_audio_is_delayed_and_the_pacing_kept() -> None:
    run = Run({"turns": [{"say": "ok ok ok ok", "first_audio_ms": 700}]})
    run.send(HELLO)
    run.send({"type": "response.create"})
    run.run_until(10.0)
    audio = [
        t for t, m in run.out if isinstance(m, dict) and m["type"] == "response.output_audio.delta"
    ]
    assert audio[0] == pytest.approx(0.7)
    assert [round(b - a, 3) for a, b in itertools.pairwise(audio)] == [0.1] * (len(audio) - 1)


def test_latency_keeps_the_order_and_jitter_is_bounded() -> None:
    run = Run({"latency_ms": 200, "jitter_ms": 50, "turns": [{"say": "ok ok ok ok"}]})
    assert run.out == []  # session.created is late too
    run.run_until(0.25)
    assert run.types() == ["session.created"] and 0.2 <= run.out[0][0] <= 0.25
    run.send(HELLO)
    run.send({"type": "response.create"})
    run.run_until(10.0)
    times = [t for t, _ in run.out]
    assert times == sorted(times)
    assert run.types()[-2:] == ["response.done", "rate_limits.updated"]


@pytest.mark.parametrize(
    ("fault", "event"),
    [
        (
            {"kind": "drop", "at": "mid_response", "after_ms": 300},
            SimSessionClosed(1006, "connection dropped (simulated network failure)", True),
        ),
        (
            {"kind": "close", "at": "before_first_audio", "code": 4001, "reason": "x"},
            SimSessionClosed(4001, "x"),
        ),
        ({"kind": "stall", "at": "mid_response", "after_ms": 300}, SimStall()),
        (
            {"kind": "session_end", "at": "response_start"},
            SimSessionClosed(1001, "Your session hit the maximum duration of 60 minutes."),
        ),
    ],
)
def test_terminal_faults_fire_at_their_cue_and_nothing_follows(
    fault: dict[str, Any], event: Any
) -> None:
    run = Run({"turns": [{"say": "ok ok ok ok ok ok ok ok", "fault": fault}]})
    run.send(HELLO)
    run.send({"type": "response.create"})
    run.run_until(10.0)
    assert run.out[-1][1] == event
    audio = run.types().count("response.output_audio.delta")
    assert audio == (3 if fault.get("at") == "mid_response" else 0)
    assert run.session.get_timer() is None or event == SimStall()
    if fault["kind"] == "session_end":
        assert run.out[-2][1]["error"]["code"] == "session_expired"


def test_a_drop_during_a_tool_call_comes_after_the_call_and_the_script_goes_on_in_the_next_session() -> (
    None
):
    run = Run(
        {
            "turns": [
                {
                    "call_tool": {"name": "get_weather"},
                    "answer": "It is {output}.",
                    "fault": {"kind": "drop", "at": "during_tool_call"},
                }
            ]
        }
    )
    run.send(TOOLS)
    run.send(HELLO)
    run.send({"type": "response.create"})
    kinds = run.types()
    assert kinds[-3:] == ["response.done", "rate_limits.updated", "SimSessionClosed"] or kinds[
        -2:
    ] == ["response.done", "SimSessionClosed"]
    assert "response.function_call_arguments.done" in kinds


def test_malformed_frame_then_the_response_goes_on() -> None:
    run = Run(
        {"turns": [{"say": "ok ok", "fault": {"kind": "malformed", "at": "before_first_audio"}}]}
    )
    run.send(HELLO)
    run.send({"type": "response.create"})
    run.run_until(10.0)
    kinds = run.types()
    bad = [m for _, m in run.out if isinstance(m, str)]
    assert len(bad) == 1 and not bad[0].endswith("}")
    assert kinds[-2:] == ["response.done", "rate_limits.updated"]


def test_an_interruption_cancels_the_response_and_server_vad_commits_the_user_turn() -> None:
    run = Run(
        {
            "turns": [
                {"say": "ok " * 20, "interrupt": {"after_ms": 300, "speech_ms": 400}},
                {"say": "Yes?"},
            ]
        }
    )
    run.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            },
        }
    )
    run.send(HELLO)
    run.send({"type": "response.create"})
    run.run_until(10.0)
    started, _ = run.first("input_audio_buffer.speech_started")
    stopped, _ = run.first("input_audio_buffer.speech_stopped")
    assert stopped - started == pytest.approx(0.4)
    done = [
        m["response"] for _, m in run.out if isinstance(m, dict) and m["type"] == "response.done"
    ]
    assert [d["status"] for d in done] == ["cancelled", "completed"]
    assert run.types().count("response.output_audio.delta") >= 3


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("rate_limit", "rate_limit_exceeded"),
        ("server_error", None),
        ("invalid_request", "invalid_value"),
    ],
)
def test_openai_error_turns_have_the_service_shapes(kind: str, code: str | None) -> None:
    run = Run({"turns": [{"error": kind}]})
    run.send(HELLO)
    run.send({"type": "response.create"})
    run.run_until(1.0)
    errors = [m for _, m in run.out if isinstance(m, dict) and m["type"] == "error"]
    assert [e["error"]["code"] for e in errors] == [code]
    for _, message in run.out:
        validate_ga_server(message)
    done = [m for _, m in run.out if isinstance(m, dict) and m["type"] == "response.done"]
    assert [d["response"]["status"] for d in done] == (
        [] if kind == "invalid_request" else ["failed"]
    )


def test_gemini_error_turn_and_go_away() -> None:
    setup = {"setup": {"model": "models/gemini-live-2.5-flash"}}
    turn = {
        "clientContent": {
            "turns": [{"role": "user", "parts": [{"text": "hi"}]}],
            "turnComplete": True,
        }
    }
    run = Run(
        {
            "turns": [
                {
                    "say": "ok ok ok",
                    "fault": {"kind": "go_away", "at": "response_start", "time_left": 2},
                }
            ]
        },
        "gemini",
    )
    run.session.receive_data(json.dumps(setup), 0.0)
    run.send(turn)
    run.run_until(10.0)
    go_away = [(t, m) for t, m in run.out if isinstance(m, dict) and "goAway" in m]
    assert [m for _, m in go_away] == [{"goAway": {"timeLeft": "2s"}}]
    assert run.out[-1] == (go_away[0][0] + 2, SimSessionClosed(1000, "session expired"))
    failing = Run({"turns": [{"error": "rate_limit"}]}, "gemini")
    failing.session.receive_data(json.dumps(setup), 0.0)
    failing.send(turn)
    assert failing.out[-1][1] == SimSessionClosed(
        1011, "Resource has been exhausted (e.g. check quota)."
    )


# -- the CLI ----------------------------------------------------------------------------------


def test_sim_with_a_bad_scenario_file_says_where_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("turns:\n  - say: hi\n    fault: {kind: drop, at: soon}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "adk_realtime.cli", "sim", "--port", "0", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"adk-realtime sim: --scenario: {bad}:3: turns[0].fault.at: must be one of "
        "response_start, before_first_audio, mid_response, during_tool_call, got 'soon'"
    ]


def test_sim_plays_a_scenario_file(tmp_path: Path) -> None:
    import anyio

    from adk_realtime.drivers.websocket import open_websocket

    script = tmp_path / "s.json"
    script.write_text(
        json.dumps(
            {"pace": 0, "turns": [{"say": "Scripted hello.", "usage": {"output_tokens": 3}}]}
        )
    )
    sim = subprocess.Popen(
        [sys.executable, "-m", "adk_realtime.cli", "sim", "--port", "0", "--scenario", str(script)],
        stdout=subprocess.PIPE,
        text=True,
    )

    async def talk(port: int) -> dict[str, Any]:
        with anyio.fail_after(30):
            return await _talk(port)

    async def _talk(port: int) -> dict[str, Any]:
        async with open_websocket(f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime") as ws:
            await ws.send(json.dumps(HELLO))
            await ws.send(json.dumps({"type": "response.create"}))
            transcript = ""
            while True:
                event = json.loads(await ws.receive())
                if event["type"] == "response.output_audio_transcript.delta":
                    transcript += event["delta"]
                if event["type"] == "response.done":
                    return {"transcript": transcript, "usage": event["response"]["usage"]}

    try:
        assert sim.stdout is not None
        port = int(sim.stdout.readline().rsplit(":", 1)[1])
        result = anyio.run(talk, port)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    assert result["transcript"] == "Scripted hello." and result["usage"]["output_tokens"] == 3
