"""Scenarios: a declarative script of what the simulated provider does, turn by turn.

A :class:`Scenario` is a list of :class:`ScenarioTurn`; each model response the simulator
makes takes the next turn (a tool turn takes two: the call, then the answer once the tool's
output is back). A turn says a text, calls a tool, or fails with a provider error; it may
delay its first audio, be interrupted by the user, report usage numbers and carry a
:class:`Fault` tied to a point of the turn (``at``). The script is shared by every session
of the hub, so a client that reconnects after a fault carries on with the next turn; after
the last turn the default brain answers (``after="default"``) or every reply is empty.

This module is pure: :func:`parse_scenario` checks a plain mapping (from YAML, JSON or
Python) and names the offending field in a :class:`ScenarioError`; :class:`ScenarioBrain`
is the stepper the sessions ask for replies. What a turn does on the wire (delays, faults,
interruptions, the record) is ``scenario_session.py``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.brain import CallTool, Reply, Say, SimulatorBrain, ToolSpec, Turn
from adk_realtime.sansio.sim.core import is_unicode

__all__ = [
    "FAULT_KINDS",
    "FAULT_POINTS",
    "Fault",
    "Interrupt",
    "Scenario",
    "ScenarioBrain",
    "ScenarioError",
    "ScenarioTurn",
    "parse_scenario",
]

FaultKind = Literal["drop", "stall", "close", "session_end", "go_away", "malformed", "latency"]
FaultPoint = Literal["response_start", "before_first_audio", "mid_response", "during_tool_call"]
ErrorKind = Literal["rate_limit", "server_error", "invalid_request"]
FAULT_KINDS: tuple[str, ...] = (
    "drop",
    "stall",
    "close",
    "session_end",
    "go_away",
    "malformed",
    "latency",
)
FAULT_POINTS: tuple[str, ...] = (
    "response_start",
    "before_first_audio",
    "mid_response",
    "during_tool_call",
)
ERROR_KINDS: tuple[str, ...] = ("rate_limit", "server_error", "invalid_request")


class ScenarioError(ConfigError):
    """A scenario is malformed; ``field`` is the path of the bad value (``turns[2].fault.at``)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure on cue, at point ``at`` of its turn (``mid_response``: ``after_ms`` of audio).

    ``drop``: the connection ends with no close frame (the client sees 1006). ``stall``: the
    server stops reading and writing but keeps the socket open (half-dead). ``close``: a close
    frame with ``code`` and ``reason``. ``session_end``: the session cap falls now (OpenAI:
    ``session_expired`` error and 1001; Gemini: ``goAway`` then 1000 ``time_left`` later).
    ``go_away``: Gemini's ``goAway`` with ``time_left``, then 1000 (OpenAI has none: as
    ``session_end``). ``malformed``: one frame that is not JSON. ``latency``: from here on every
    server message is late by ``latency_ms`` plus up to ``jitter_ms`` (order kept).
    """

    kind: FaultKind
    at: FaultPoint = "response_start"
    after_ms: float = 500.0
    code: int = 1011
    reason: str = ""
    time_left: float = 1.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Interrupt:
    """The user barges in after ``after_ms`` of the turn's audio: server VAD's
    ``speech_started`` and the response cancelled (Gemini: ``interrupted``); OpenAI with
    server VAD also gets ``speech_stopped`` ``speech_ms`` later (a user turn is committed)."""

    after_ms: float = 500.0
    speech_ms: float = 400.0


@dataclass(frozen=True, slots=True)
class ScenarioTurn:
    """One scripted response. Exactly one of ``say``, ``call_tool`` or ``error``.

    ``answer`` (tool turns) is the text said once the tool output is back; ``{output}`` in it
    is replaced by the output. ``first_audio_ms`` delays the turn's output from its first audio
    on. ``usage`` overrides ``input_tokens``/``output_tokens`` of the turn's usage report.
    """

    say: str | None = None
    call_tool: CallTool | None = None
    answer: str = "{output}"
    error: ErrorKind | None = None
    error_message: str = ""
    error_code: str = ""
    first_audio_ms: float = 0.0
    interrupt: Interrupt | None = None
    usage: Mapping[str, int] | None = None
    fault: Fault | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole script: the turns, hub pacing, base latency and what happens after the script."""

    turns: tuple[ScenarioTurn, ...] = ()
    pace: float | None = None
    chunk_ms: int | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0
    after: Literal["default", "silence"] = "default"


# --- parsing ---------------------------------------------------------------------------------


def _fail(path: str, message: str) -> ScenarioError:
    return ScenarioError(path, message)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(path, f"must be a mapping, got {_shown(value)}")
    return value


def _only(value: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in value:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise _fail(where, f"unknown field; expected one of {', '.join(allowed)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(
    m: Mapping[str, Any], key: str, path: str, default: float, *, low: float = 0.0
) -> float:
    value = m.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if not ok or value < low or value > 1e7:
        raise _fail(
            f"{path}.{key}" if path else key, f"must be a number >= {low:g}, got {_shown(value)}"
        )
    return float(value)


def _string(m: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
    value = m.get(key, default)
    if not isinstance(value, str):
        raise _fail(f"{path}.{key}" if path else key, f"must be a string, got {_shown(value)}")
    return value


def _choice(m: Mapping[str, Any], key: str, path: str, choices: Sequence[str], default: str) -> str:
    value = m.get(key, default)
    if value not in choices:
        where = f"{path}.{key}" if path else key
        raise _fail(where, f"must be one of {', '.join(choices)}, got {_shown(value)}")
    return str(value)


def _fault(raw: Any, path: str, turn_kind: str) -> Fault:
    m = _mapping(raw, path)
    _only(
        m,
        path,
        ("kind", "at", "after_ms", "code", "reason", "time_left", "latency_ms", "jitter_ms"),
    )
    if "kind" not in m:
        raise _fail(f"{path}.kind", "missing; one of " + ", ".join(FAULT_KINDS))
    kind = _choice(m, "kind", path, FAULT_KINDS, "")
    at = _choice(m, "at", path, FAULT_POINTS, "response_start")
    if at == "during_tool_call" and turn_kind != "call_tool":
        raise _fail(f"{path}.at", "during_tool_call needs a call_tool turn")
    if at in ("before_first_audio", "mid_response") and turn_kind == "error":
        raise _fail(f"{path}.at", f"an error turn has no audio, so no {at}")
    code = m.get("code", 1011)
    if not isinstance(code, int) or isinstance(code, bool) or not (1000 <= code <= 4999):
        raise _fail(f"{path}.code", f"must be a close code 1000..4999, got {_shown(code)}")
    if code in (1004, 1005, 1006, 1015):
        raise _fail(f"{path}.code", f"{code} may not be sent in a close frame (use kind: drop)")
    reason = _string(m, "reason", path)
    if len(reason.encode("utf-8", "replace")) > 123:
        raise _fail(f"{path}.reason", "is longer than a close frame allows (123 bytes)")
    return Fault(
        kind,  # type: ignore[arg-type]  # checked against FAULT_KINDS
        at,  # type: ignore[arg-type]  # checked against FAULT_POINTS
        after_ms=_number(m, "after_ms", path, 500.0),
        code=code,
        reason=reason,
        time_left=_number(m, "time_left", path, 1.0),
        latency_ms=_number(m, "latency_ms", path, 0.0),
        jitter_ms=_number(m, "jitter_ms", path, 0.0),
    )


def _usage(raw: Any, path: str) -> dict[str, int]:
    m = _mapping(raw, path)
    _only(m, path, ("input_tokens", "output_tokens"))
    out = {}
    for key, value in m.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            raise _fail(f"{path}.{key}", f"must be a token count >= 0, got {_shown(value)}")
        out[key] = value
    return out


_TURN_FIELDS = (
    "say",
    "call_tool",
    "answer",
    "error",
    "first_audio_ms",
    "interrupt",
    "usage",
    "fault",
)


def _turn(raw: Any, path: str) -> ScenarioTurn:
    m = _mapping(raw, path)
    _only(m, path, _TURN_FIELDS)
    kinds = [k for k in ("say", "call_tool", "error") if k in m]
    if len(kinds) != 1:
        raise _fail(
            path,
            "needs exactly one of say, call_tool, error"
            + (f" (has {', '.join(kinds)})" if kinds else ""),
        )
    kind = kinds[0]
    say = _string(m, "say", path) if kind == "say" else None
    call = None
    error: str | None = None
    message = code = ""
    if kind == "call_tool":
        where = f"{path}.call_tool"
        c = _mapping(m["call_tool"], where)
        _only(c, where, ("name", "arguments"))
        name = _string(c, "name", where)
        if not name:
            raise _fail(f"{where}.name", "missing or empty: the tool to call")
        call = CallTool(name, dict(_mapping(c.get("arguments", {}), f"{where}.arguments")))
    elif kind == "error":
        where = f"{path}.error"
        raw_error = m["error"]
        e = _mapping({"kind": raw_error} if isinstance(raw_error, str) else raw_error, where)
        _only(e, where, ("kind", "message", "code"))
        error = _choice(e, "kind", where, ERROR_KINDS, "")
        message, code = _string(e, "message", where), _string(e, "code", where)
    if "answer" in m and kind != "call_tool":
        raise _fail(f"{path}.answer", "only a call_tool turn has an answer")
    interrupt = None
    if "interrupt" in m:
        if kind == "error":
            raise _fail(f"{path}.interrupt", "an error turn has no audio to interrupt")
        i = _mapping(m["interrupt"], f"{path}.interrupt")
        _only(i, f"{path}.interrupt", ("after_ms", "speech_ms"))
        interrupt = Interrupt(
            _number(i, "after_ms", f"{path}.interrupt", 500.0),
            _number(i, "speech_ms", f"{path}.interrupt", 400.0),
        )
    return ScenarioTurn(
        say=say,
        call_tool=call,
        answer=_string(m, "answer", path, "{output}"),
        error=error,  # type: ignore[arg-type]  # checked against ERROR_KINDS
        error_message=message,
        error_code=code,
        first_audio_ms=_number(m, "first_audio_ms", path, 0.0),
        interrupt=interrupt,
        usage=_usage(m["usage"], f"{path}.usage") if "usage" in m else None,
        fault=_fault(m["fault"], f"{path}.fault", kind) if "fault" in m else None,
    )


def parse_scenario(raw: Any) -> Scenario:
    """A :class:`Scenario` from a plain mapping (a loaded YAML/JSON file, or Python data).

    Raises :class:`ScenarioError` naming the first bad field (``turns[1].fault.kind``).
    """
    m = _mapping(raw, "(scenario)")
    bad = _lone_surrogate(m, "")
    if bad is not None:
        raise _fail(bad, "holds a lone UTF-16 surrogate (not a Unicode character)")
    _only(m, "", ("turns", "pace", "chunk_ms", "latency_ms", "jitter_ms", "seed", "after"))
    turns_raw = m.get("turns", [])
    if not isinstance(turns_raw, list):
        raise _fail("turns", f"must be a list of turns, got {_shown(turns_raw)}")
    turns = tuple(_turn(t, f"turns[{n}]") for n, t in enumerate(turns_raw))
    chunk = m.get("chunk_ms")
    if chunk is not None and (
        not isinstance(chunk, int) or isinstance(chunk, bool) or not 1 <= chunk <= 10_000
    ):
        raise _fail("chunk_ms", f"must be an integer 1..10000, got {_shown(chunk)}")
    seed = m.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _fail("seed", f"must be an integer, got {_shown(seed)}")
    return Scenario(
        turns=turns,
        pace=_number(m, "pace", "", 1.0) if "pace" in m else None,
        chunk_ms=chunk,
        latency_ms=_number(m, "latency_ms", "", 0.0),
        jitter_ms=_number(m, "jitter_ms", "", 0.0),
        seed=seed,
        after=_choice(m, "after", "", ("default", "silence"), "default"),  # type: ignore[arg-type]
    )


def _lone_surrogate(node: Any, path: str, depth: int = 0) -> str | None:
    """The path of the first string (or key) under ``node`` with no UTF-8 form, or None."""
    if isinstance(node, str):
        return None if is_unicode(node) else (path or "(scenario)")
    if depth > 100:
        return None
    if isinstance(node, Mapping):
        for key, child in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not is_unicode(key):
                return path or "(scenario)"
            found = _lone_surrogate(child, where, depth + 1)
            if found is not None:
                return found
    elif isinstance(node, list):
        for n, child in enumerate(node):
            found = _lone_surrogate(child, f"{path}[{n}]", depth + 1)
            if found is not None:
                return found
    return None


# --- the stepper -----------------------------------------------------------------------------


@dataclass(slots=True)
class StartedTurn:
    """A turn whose response just began: which (``index``) and which part (``answering``)."""

    index: int
    turn: ScenarioTurn
    answering: bool = False


class ScenarioBrain(SimulatorBrain):
    """The brain that follows a :class:`Scenario`: each reply takes the next turn.

    After each reply, :attr:`started` holds the turn it began (the session wrapper reads it
    right after the call that made the reply); replies after the script come from the
    default brain (``after="default"``) or are empty.
    """

    def __init__(self, scenario: Scenario) -> None:
        super().__init__()
        self.load(scenario)

    def load(self, scenario: Scenario) -> None:
        """Start ``scenario`` from its first turn (what ran before is forgotten)."""
        self.scenario = scenario
        self.cursor = 0
        self._awaiting_output: int | None = None  # a tool turn whose answer is due
        self.started: deque[StartedTurn] = deque()

    @property
    def finished(self) -> bool:
        """Every turn has been played (a tool turn counts once its answer began)."""
        return self.cursor >= len(self.scenario.turns) and self._awaiting_output is None

    def reply(
        self,
        history: Sequence[Turn],
        tools: Sequence[ToolSpec],
        instructions: str | None = None,
    ) -> Reply:
        """The next scripted response for ``history``."""
        if self._awaiting_output is not None and _tool_output_back(history):
            index, self._awaiting_output = self._awaiting_output, None
            turn = self.scenario.turns[index]
            output = _latest_outputs(history)
            self.started.append(StartedTurn(index, turn, answering=True))
            return Say(turn.answer.replace("{output}", output))
        if self.cursor >= len(self.scenario.turns):
            if self.scenario.after == "default":
                return super().reply(history, tools, instructions)
            return Say("")
        index = self.cursor
        self.cursor += 1
        turn = self.scenario.turns[index]
        self.started.append(StartedTurn(index, turn))
        if turn.call_tool is not None:
            self._awaiting_output = index
            return turn.call_tool
        return Say(turn.say or "")


def _tool_output_back(history: Sequence[Turn]) -> bool:
    return bool(history) and history[-1].role == "function_result"


def _latest_outputs(history: Sequence[Turn]) -> str:
    """The outputs of the trailing tool results, joined (one call: its output)."""
    outputs: list[str] = []
    for turn in reversed(history):
        if turn.role != "function_result":
            break
        outputs.append(turn.text)
    return "; ".join(reversed(outputs))
