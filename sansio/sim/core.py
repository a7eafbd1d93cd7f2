"""What both wire sides of the simulator share: the scripted brain, settings, the resumption
registry, speech rendering and the session base class (outbox, timers, ids, session expiry).

Theory of operation
-------------------
A simulated session is a pure state machine driven by two inputs: a client message
(``receive_data(message, now)``) and the passage of time (``handle_timer(now)``). It answers by
queueing server messages (``data_to_send()``) and, when it wants the socket closed, by queueing a
:class:`SimSessionClosed` event (``next_event()``). Model output is *paced*: a spoken reply is rendered once into
audio chunks (``chunk_ms`` each), and chunk *k* of a reply started at ``t0`` is due at
``t0 + k * chunk_ms * pace``; ``get_timer()`` returns the earliest due time. ``pace = 1`` is real
time (the load benchmark), ``pace = 0`` emits a whole reply at once (fast tests).

The brain is wire-neutral: it sees the conversation as a list of :class:`Turn` and the tools as
:class:`ToolSpec`, and answers :class:`Say`, :class:`CallTool` or :class:`CallTools` (parallel
calls). The OpenAI and Gemini sessions (``openai.py``, ``gemini.py``) translate their
wire items to turns and back.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from adk_realtime.sansio.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from adk_realtime.sansio.config import AudioEncoding
from adk_realtime.sansio.sim.speech import char_end_times, synthesize_speech

__all__ = [
    "CallTool",
    "CallTools",
    "Reply",
    "ResumptionRegistry",
    "Say",
    "SimSessionBase",
    "SimSessionClosed",
    "SimSettings",
    "SimStats",
    "SimulatorBrain",
    "SpeechChunk",
    "SpeechRender",
    "ToolSpec",
    "Turn",
    "tool_calls",
]

# --- conversation model and brain --------------------------------------------------------------


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
    5. nothing was understood: say so; otherwise echo: "You said: <text>".
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


# --- speech rendering ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """One paced piece of model output: base64 audio (or None for text), its text, duration."""

    audio_b64: str | None
    text: str
    ms: float


@dataclass(frozen=True, slots=True)
class SpeechRender:
    """A reply rendered for one output format; ``ms`` is the audio length (0 for text)."""

    text: str
    chunks: tuple[SpeechChunk, ...]
    ms: float


def render_speech(
    text: str, encoding: AudioEncoding | None, sample_rate: int, chunk_ms: int
) -> SpeechRender:
    """Synthesize ``text`` and cut it into chunks of ``chunk_ms`` with matching transcript pieces.

    ``encoding``: PCM16 (at ``sample_rate``), G.711 u-law or A-law (8 kHz), or None for a text
    reply (no audio: the text is cut into word groups, one per chunk).
    """
    if encoding is None:
        words = re.findall(r"\S+\s*", text) or [text]
        pieces = ["".join(words[i : i + 4]) for i in range(0, len(words), 4)]
        return SpeechRender(text, tuple(SpeechChunk(None, p, 0.0) for p in pieces), 0.0)
    pcm16 = encoding is AudioEncoding.PCM16
    rate = sample_rate if pcm16 else 8000
    pcm = synthesize_speech(text, rate)
    if pcm16:
        audio, bytes_per_ms = pcm, rate * 2 / 1000
    else:
        audio = ulaw_encode(pcm) if encoding is AudioEncoding.G711_ULAW else alaw_encode(pcm)
        bytes_per_ms = rate / 1000
    step = int(chunk_ms * bytes_per_ms)
    step -= step % 2 if pcm16 else 0
    ends = char_end_times(text)
    chunks = []
    said = 0
    for start in range(0, len(audio), step):
        piece = audio[start : start + step]
        end_ms = (start + len(piece)) / bytes_per_ms
        last = start + step >= len(audio)
        upto = len(text) if last else sum(1 for t in ends if t * 1000 <= end_ms)
        chunks.append(
            SpeechChunk(
                base64.b64encode(piece).decode("ascii"), text[said:upto], len(piece) / bytes_per_ms
            )
        )
        said = max(said, upto)
    return SpeechRender(text, tuple(chunks), len(audio) / bytes_per_ms)


def heard_text(text: str, audio_ms: float) -> str:
    """The part of ``text`` fully spoken in its first ``audio_ms`` of synthesized audio."""
    ends = char_end_times(text)
    return text[: sum(1 for t in ends if t * 1000 <= audio_ms)]


# --- settings, registry, stats -------------------------------------------------------------------


@dataclass(slots=True)
class SimSettings:
    """Hub-wide behaviour every session reads (see :class:`SimulatorHub` for the meaning)."""

    brain: SimulatorBrain
    pace: float = 1.0
    chunk_ms: int = 100
    go_away_after: float | None = None
    go_away_time_left: float = 1.0
    openai_session_extras: bool = False
    max_outbox: int = 50_000
    render_cache: OrderedDict[tuple[str, AudioEncoding | None, int, int], SpeechRender] = field(
        default_factory=OrderedDict
    )
    render_cache_size: int = 256

    def render(self, text: str, encoding: AudioEncoding | None, sample_rate: int) -> SpeechRender:
        """Rendered speech for ``text`` (None: a text reply), cached (bounded LRU) across sessions."""
        key = (text, encoding, sample_rate, self.chunk_ms)
        hit = self.render_cache.get(key)
        if hit is not None:
            self.render_cache.move_to_end(key)
            return hit
        out = render_speech(text, encoding, sample_rate, self.chunk_ms)
        self.render_cache[key] = out
        if len(self.render_cache) > self.render_cache_size:
            self.render_cache.popitem(last=False)
        return out


class ResumptionRegistry:
    """Bounded LRU map of resumption handle -> conversation snapshot (oldest evicted first)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Turn, ...]] = OrderedDict()

    def store(self, handle: str, history: Sequence[Turn]) -> None:
        """Remember ``history`` under ``handle``; evicts the oldest handle when full."""
        self._entries[handle] = tuple(history)
        self._entries.move_to_end(handle)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def lookup(self, handle: str) -> tuple[Turn, ...] | None:
        """The snapshot stored under ``handle``, or None if unknown or evicted."""
        return self._entries.get(handle)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class SimStats:
    """Counters of one session (the hub sums them over closed sessions)."""

    messages_received: int = 0
    messages_sent: int = 0
    audio_received_ms: float = 0.0
    audio_sent_ms: float = 0.0
    responses: int = 0
    responses_cancelled: int = 0
    tool_calls: int = 0
    errors: int = 0

    def add(self, other: SimStats) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


# --- wire helpers ----------------------------------------------------------------------------------


def dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _shown(text: str) -> str:
    """``text`` printable as UTF-8: a lone surrogate is spelled as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_unicode(text: str) -> bool:
    """False when ``text`` holds a lone UTF-16 surrogate (it has no UTF-8 form)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lone_surrogate_at(raw: str | bytes, parsed: Any) -> str | None:
    """Where the JSON value ``parsed`` (read from ``raw``) holds a lone surrogate, or None.

    JSON may spell one (``"\\ud800"``) and ``json.loads`` keeps it (from bytes, even a raw
    encoded one), but it is not a Unicode character: nothing built from it can go back out
    as UTF-8, so the message is refused whole. The answer is a parameter path such as
    ``item.content[0].text``. Only messages with an escape or non-ASCII text are walked.
    """
    if isinstance(raw, str):
        plain = "\\u" not in raw and raw.isascii()
    else:
        plain = b"\\u" not in raw and raw.isascii()
    if plain:
        return None
    stack: list[tuple[Any, str]] = [(parsed, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if not is_unicode(node):
                return path or "(the message)"
        elif isinstance(node, dict):
            for key, child in node.items():
                where = f"{path}.{_shown(key)}" if path else _shown(key)
                if not is_unicode(key):
                    return where
                stack.append((child, where))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{n}]") for n, child in enumerate(node))
    return None


def b64decode_any(data: str) -> bytes | None:
    """Decode standard or URL-safe base64 (padding optional); None if it is not base64."""
    if not isinstance(data, str):
        return None
    s = data.strip().translate(str.maketrans("-_", "+/"))
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


def pcm_to_float(audio: bytes, encoding: AudioEncoding) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Input audio bytes (PCM16 or G.711) -> float samples in -1..1."""
    if encoding is AudioEncoding.G711_ULAW:
        audio = ulaw_decode(audio)
    elif encoding is AudioEncoding.G711_ALAW:
        audio = alaw_decode(audio)
    ints = np.frombuffer(audio[: len(audio) - len(audio) % 2], dtype="<i2")
    return ints.astype(np.float64) / 32768.0


def float_to_pcm(samples: np.ndarray[Any, np.dtype[np.float64]]) -> bytes:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


@dataclass(frozen=True, slots=True)
class SimSessionClosed:
    """The session is over: close the socket with ``code`` and ``reason``.

    Everything the session queued before it ended is already in :meth:`SimSessionBase.data_to_send`:
    send that first. After :meth:`SimSessionBase.connection_lost` the code is 1006 and there is
    no socket left to close.
    """

    code: int
    reason: str


class SimSessionBase:
    """Outbox, events, ids, stats and the session-expiry timer shared by both wire sides.

    Driving loop (what a driver does, all a driver needs):

    1. after opening and after every call below, send every string of :meth:`data_to_send`
       as a text frame, then read :meth:`next_event` until it returns None;
    2. feed each received frame to :meth:`receive_data` with the current monotonic time;
    3. sleep until :meth:`get_timer` (if not None) and then call :meth:`handle_timer`;
    4. on :class:`SimSessionClosed`, close the socket with its code and reason; call
       :meth:`connection_lost` when the peer goes away first.
    """

    kind: ClassVar[str] = ""

    def __init__(self, settings: SimSettings, now: float, seed: int) -> None:
        self._settings = settings
        self._rng = random.Random(seed)
        self._out: list[str] = []
        self._events: deque[SimSessionClosed] = deque()
        self._ended = False
        self.stats = SimStats()
        self.opened_at = now
        self._expire_at = (
            now + settings.go_away_after if settings.go_away_after is not None else None
        )
        self._close_at: float | None = None
        self.history: list[Turn] = []

    # -- public driving API --
    def receive_data(self, data: str | bytes, now: float) -> None:
        """Handle one client message (a whole text or binary frame).

        Then send :meth:`data_to_send`, read :meth:`next_event` and re-arm the timer. Ignored
        once the session has ended.
        """
        if self._ended:
            return
        self.stats.messages_received += 1
        self._on_message(data, now)
        self._pump(now)

    def data_to_send(self) -> list[str]:
        """Take the queued server messages (JSON text frames), oldest first."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> SimSessionClosed | None:
        """The next event for the driver, or None. The only one is :class:`SimSessionClosed`."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (monotonic seconds), or None."""
        if self._ended:
            return None
        times = [t for t in (self._next_due(), self._expire_at, self._close_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Emit whatever is due at ``now``.

        Then send :meth:`data_to_send`, read :meth:`next_event` and re-arm the timer.
        """
        if self._ended:
            return
        if self._close_at is not None and now >= self._close_at:
            self._close(1000, "session expired")
            return
        if self._expire_at is not None and now >= self._expire_at:
            self._expire_at = None
            self._close_at = now + self._settings.go_away_time_left
            self._on_expiry(now, self._settings.go_away_time_left)
        self._pump(now)

    def connection_lost(self) -> None:
        """The socket is gone: stop everything (idempotent).

        Queues ``SimSessionClosed(1006, ...)`` if the session had not ended already; the
        driver has nothing left to send or close.
        """
        self._close(1006, "connection lost")

    # -- for subclasses --
    def _on_message(self, message: str | bytes, now: float) -> None:
        raise NotImplementedError

    def _on_expiry(self, now: float, time_left: float) -> None:
        raise NotImplementedError

    def _next_due(self) -> float | None:
        return None

    def _pump(self, now: float) -> None:
        """Emit paced output that is due at ``now``."""

    def _send(self, obj: Mapping[str, Any]) -> None:
        if self._ended:
            return
        self._out.append(dumps(obj))
        self.stats.messages_sent += 1
        if len(self._out) > self._settings.max_outbox:
            # The driver is not draining us; stop rather than grow without bound.
            self._out.clear()
            self._close(1011, "outbox overflow: call data_to_send() after every call")

    def _close(self, code: int, reason: str) -> None:
        """End the session once: queue the close event; later input and timers are ignored."""
        if not self._ended:
            self._ended = True
            # A close frame's reason is at most 123 bytes.
            short = reason.encode("utf-8", "replace")[:123].decode("utf-8", "ignore")
            self._events.append(SimSessionClosed(code, short))

    def _new_id(self, prefix: str, length: int = 20) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(length))


@dataclass(slots=True)
class Playout:
    """A reply being emitted: chunk ``index`` is due at ``t0 + index * interval``."""

    render: SpeechRender
    t0: float
    interval: float
    index: int = 0
    text_sent: str = ""
    ms_sent: float = 0.0

    def next_due(self) -> float | None:
        if self.index >= len(self.render.chunks):
            return None
        return self.t0 + self.index * self.interval

    @property
    def finished(self) -> bool:
        return self.index >= len(self.render.chunks)

    def take_due(self, now: float) -> list[SpeechChunk]:
        """Chunks due by ``now`` (advancing the cursor)."""
        out = []
        while (
            self.index < len(self.render.chunks)
            and self.t0 + self.index * self.interval <= now + 1e-9
        ):
            chunk = self.render.chunks[self.index]
            self.index += 1
            self.text_sent += chunk.text
            self.ms_sent += chunk.ms
            out.append(chunk)
        return out


def format_duration(seconds: float) -> str:
    """A protobuf JSON Duration ("1s", "0.500s")."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.3f}s"
