"""The simulator's conversation model and its scripted brain, wire-neutral.

The brain sees the conversation as a list of :class:`Turn` and the tools as :class:`ToolSpec`,
and answers :class:`Say`, :class:`CallTool` or :class:`CallTools` (parallel calls). The OpenAI
and Gemini sessions translate their wire items to turns and back; nothing here knows either wire.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CallTool",
    "CallTools",
    "Reply",
    "Say",
    "SimulatorBrain",
    "ToolSpec",
    "Turn",
    "tool_calls",
]


@dataclass(frozen=True, slots=True)
class Turn:
    """One conversation entry as the brain sees it.

    ``role``: "user", "assistant", "system", "function_call" (``name``, ``call_id``,
    ``arguments`` JSON) or "function_result" (``text`` is the output; ``name``/``call_id``).
    """

    role: Literal["user", "assistant", "system", "function_call", "function_result"]
    text: str = ""
    name: str = ""
    call_id: str = ""
    arguments: str = ""
    images: int = 0  # images the user showed in this turn (send_image)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the client declared: its name, description and JSON-schema parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Say:
    """The brain wants to say ``text`` (spoken or written, per the session's modality)."""

    text: str


@dataclass(frozen=True, slots=True)
class CallTool:
    """The brain wants to call tool ``name`` with ``arguments``."""

    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CallTools:
    """The brain wants several tools called at once (parallel function calls, one response)."""

    calls: tuple[CallTool, ...]


Reply = Say | CallTool | CallTools


def tool_calls(reply: Reply) -> tuple[CallTool, ...]:
    """The calls a reply asks for (none for :class:`Say`)."""
    if isinstance(reply, CallTool):
        return (reply,)
    return reply.calls if isinstance(reply, CallTools) else ()


_STOP_WORDS = frozenset(
    "get set the fetch lookup look find check call run do make to for and query current info "
    "data tool function api by of from with create update list a an my".split()
)
_PLACE_PARAMS = frozenset({"city", "location", "place", "town", "country", "where", "region"})
_TEXT_PARAMS = frozenset({"query", "text", "question", "input", "message", "prompt", "q", "topic"})
_TRAILING = re.compile(r"\b(today|tomorrow|tonight|now|right now|please|currently)\b.*$", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

DEFAULT_REPLIES: Mapping[str, str] = {
    "hello": "Hello! I am the offline simulator. How can I help?",
    "how are you": "I am fine, thank you.",
    "your name": "I am the adk-realtime simulator.",
    "goodbye": "Goodbye!",
    "bye": "Goodbye!",
}


def _keywords(tool_name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", tool_name)
    words = [w.lower() for w in re.split(r"[\s_\-.]+", spaced) if len(w) >= 3]
    useful = [w for w in words if w not in _STOP_WORDS]
    return useful or words


class SimulatorBrain:
    """Deterministic scripted replies; subclass and override :meth:`reply` for other scripts.

    Rules, first match wins:

    1. the latest turns are tool results (after the last user turn): say an answer that
       quotes them ("Here is the weather: <output>.");
    2. the last user turn names a tool's keyword (``get_weather`` -> "weather"): call that
       tool, with arguments read from the text by the tool's JSON schema (a place parameter
       takes the words after "in", numbers take the first number, enums the value named).
       Several tools named, or several places for one ("in Paris and in London"), give
       parallel calls (:class:`CallTools`), one per clause;
    3. "what did I say" / "repeat": quote the previous user turn;
    4. a phrase of ``replies`` (case-insensitive substring) gives its canned answer;
    5. an image without words: "I see an image."; nothing was understood: say so;
       otherwise echo: "You said: <text>".

    Before rule 2, a question about the conversation itself is answered from it alone:
    "what city did I ask about" / "which city ...": "You asked about <Place>." where Place is the
    latest place in an earlier user turn (a capitalised name after "in", as the weather tool's
    argument is read) or in an earlier tool call's place argument; without one: "You have not
    asked about a city yet." (so a follow-up after a rollover is right only if the history was
    replayed).
    """

    def __init__(self, replies: Mapping[str, str] | None = None) -> None:
        self.replies = dict(DEFAULT_REPLIES if replies is None else replies)

    def reply(
        self,
        history: Sequence[Turn],
        tools: Sequence[ToolSpec],
        instructions: str | None = None,
    ) -> Reply:
        """Decide the next model output for ``history`` (oldest first)."""
        last_user = max((i for i, t in enumerate(history) if t.role == "user"), default=-1)
        since = history[last_user + 1 :]
        last_result = max(
            (i for i, t in enumerate(since) if t.role == "function_result"), default=-1
        )
        if last_result >= 0 and not any(t.role == "assistant" for t in since[last_result:]):
            results = [t for t in since if t.role == "function_result"]
            return Say(self._answer_with_results(results, history))
        text = history[last_user].text.strip() if last_user >= 0 else ""
        if _asks_which_city(text):
            place = _latest_place(history[:last_user])
            return Say(f"You asked about {place}." if place else _NO_CITY_YET)
        already_called = any(t.role == "function_call" for t in since)
        if text and not already_called:
            calls = self._plan_calls(text, tools)
            if len(calls) == 1:
                return calls[0]
            if calls:
                return CallTools(tuple(calls))
        low = text.lower()
        if "what did i say" in low or low.startswith("repeat"):
            earlier = [t.text for t in history[:last_user] if t.role == "user" and t.text]
            return Say(f"Earlier you said: {earlier[-1]}" if earlier else "This is our first turn.")
        for phrase, answer in self.replies.items():
            if re.search(rf"\b{re.escape(phrase.lower())}\b", low):
                return Say(answer)
        if not text and last_user >= 0 and history[last_user].images:
            return Say("I see an image.")
        if not text:
            return Say("Sorry, I could not make out what you said.")
        return Say(f"You said: {text}")

    def _pick_tool(self, text: str, tools: Sequence[ToolSpec]) -> ToolSpec | None:
        low = text.lower()
        for tool in tools:
            if any(k in low for k in _keywords(tool.name)):
                return tool
        return None

    def _plan_calls(self, text: str, tools: Sequence[ToolSpec]) -> list[CallTool]:
        """The calls ``text`` asks for: one per clause naming a tool or another place for it."""
        first = self._pick_tool(text, tools)
        if first is None:
            return []
        clauses = [c for c in _CLAUSE.split(text) if c.strip()]
        calls: list[CallTool] = []
        current: ToolSpec | None = None
        for clause in clauses:
            tool = self._pick_tool(clause, tools)
            if tool is not None:
                current = tool
                calls.append(CallTool(tool.name, _arguments_for(tool, clause)))
            elif current is not None and _has_place_param(current):
                place = _bare_place(clause)
                if place is not None:
                    calls.append(CallTool(current.name, _arguments_for(current, f"in {place}")))
        if len(calls) <= 1:  # one call: read its arguments from the whole turn, as before
            return [CallTool(first.name, _arguments_for(first, text))]
        unique: list[CallTool] = []
        for call in calls:
            if call not in unique:
                unique.append(call)
        return unique

    def _answer_with_results(self, results: Sequence[Turn], history: Sequence[Turn]) -> str:
        names = {t.call_id: t.name for t in history if t.role == "function_call"}
        parts = []
        for result in results:
            name = result.name or names.get(result.call_id, "")
            topic = " ".join(_keywords(name)) if name else "result"
            parts.append(f"Here is the {topic}: {result.text}")
        return ". ".join(parts) + "."


_CLAUSE = re.compile(r"\s*(?:[,;]|\band\b|\balso\b)\s*", re.I)
_NO_CITY_YET = "You have not asked about a city yet."
_PLACE_AFTER_IN = re.compile(r"\bin\s+([^?.!,;]+)")


def _asks_which_city(text: str) -> bool:
    low = text.lower()
    return "what city did i ask" in low or "which city" in low


def _latest_place(turns: Sequence[Turn]) -> str | None:
    """The latest place named in these turns: by the user after "in", or in a tool call."""
    for turn in reversed(turns):
        place = None
        if turn.role == "user":
            place = _last_place_in(turn.text)
        elif turn.role == "function_call":
            place = _place_argument(turn.arguments)
        if place:
            return place
    return None


def _last_place_in(text: str) -> str | None:
    """The last capitalised name after "in" in ``text`` ("in Paris and in London": London)."""
    found = None
    for clause in _CLAUSE.split(text):
        for match in _PLACE_AFTER_IN.finditer(clause):
            place = _TRAILING.sub("", match.group(1)).strip()
            if place[:1].isupper():
                found = place
    return found


def _place_argument(arguments: str) -> str | None:
    try:
        args = json.loads(arguments) if arguments else {}
    except ValueError:
        return None
    if not isinstance(args, dict):
        return None
    for key, value in args.items():
        if isinstance(key, str) and key.lower() in _PLACE_PARAMS and isinstance(value, str):
            if value.strip():
                return value.strip()
    return None


def _has_place_param(tool: ToolSpec) -> bool:
    props = tool.parameters.get("properties") if isinstance(tool.parameters, Mapping) else None
    return isinstance(props, Mapping) and any(
        isinstance(k, str) and k.lower() in _PLACE_PARAMS for k in props
    )


def _bare_place(clause: str) -> str | None:
    """A clause that is only a place ("in London", "Berlin?"): the place, else None."""
    words = re.sub(r"^(?:what about|how about|in|at|for|near)\s+", "", clause.strip(), flags=re.I)
    words = _TRAILING.sub("", words.strip(" ?.!")).strip()
    if not words or not words[0].isupper() or len(words.split()) > 4:
        return None
    return words


def _schema_type(schema: Mapping[str, Any]) -> str:
    t = schema.get("type", "string")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    return str(t).lower()


def _place_after_preposition(text: str) -> str | None:
    match = re.search(r"\b(?:in|at|for|near)\s+([^?.!,;]+)", text, re.I)
    if not match:
        return None
    place = _TRAILING.sub("", match.group(1)).strip()
    return place or None


def _arguments_for(tool: ToolSpec, text: str) -> dict[str, Any]:
    props = tool.parameters.get("properties") if isinstance(tool.parameters, Mapping) else None
    if not isinstance(props, Mapping):
        return {}
    required = tool.parameters.get("required") or []
    args: dict[str, Any] = {}
    low = text.lower()
    for name, schema in props.items():
        if not isinstance(name, str) or not isinstance(schema, Mapping):
            continue
        kind = _schema_type(schema)
        needed = name in required
        enum = schema.get("enum")
        value: Any = None
        if isinstance(enum, list) and enum:
            value = next((e for e in enum if str(e).lower() in low), enum[0] if needed else None)
        elif kind in ("number", "integer"):
            match = _NUMBER.search(text)
            if match:
                value = float(match.group()) if kind == "number" else int(float(match.group()))
            elif needed:
                value = 0
        elif kind == "boolean":
            value = True if needed else None
        elif kind == "string":
            if name.lower() in _PLACE_PARAMS:
                value = _place_after_preposition(text) or (text if needed else None)
            elif name.lower() in _TEXT_PARAMS or needed:
                value = text
        if value is not None:
            args[name] = value
    return args
