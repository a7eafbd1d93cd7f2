"""What both wire sides of the simulator share: settings, the resumption registry, speech
rendering and the session base class (outbox, timers, ids, session expiry). The brain and the
conversation model live in ``brain.py`` and are re-exported here.

Theory of operation
-------------------
A simulated session is a pure state machine driven by two inputs: a client message
(``receive_data(message, now)``) and the passage of time (``handle_timer(now)``). It answers by
queueing server messages (``data_to_send()``) and, when it wants the socket closed, by queueing a
:class:`SimSessionClosed` event (``next_event()``). Model output is *paced*: a spoken reply is rendered once into
audio chunks (``chunk_ms`` each), and chunk *k* of a reply started at ``t0`` is due at
``t0 + k * chunk_ms * pace``; ``get_timer()`` returns the earliest due time. ``pace = 1`` is real
time (the load benchmark), ``pace = 0`` emits a whole reply at once (fast tests).

The brain (``brain.py``) is wire-neutral: it sees the conversation as a list of :class:`Turn` and
the tools as :class:`ToolSpec`. The OpenAI and Gemini sessions (``openai.py``, ``gemini.py``)
translate their wire items to turns and back.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from adk_realtime.sansio.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from adk_realtime.sansio.config import AudioEncoding
from adk_realtime.sansio.sim.brain import (
    CallTool,
    CallTools,
    Reply,
    Say,
    SimulatorBrain,
    ToolSpec,
    Turn,
    tool_calls,
)
from adk_realtime.sansio.sim.ledger import InputLedger
from adk_realtime.sansio.sim.speech import (
    EnergyVad,
    SpeechRecognizer,
    char_end_times,
    synthesize_speech,
)

__all__ = [
    "CallTool",
    "CallTools",
    "InputLedger",
    "Reply",
    "ResumptionRegistry",
    "ResumptionState",
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
    session_max_seconds: float | None = None
    go_away_after: float | None = None  # the older spelling of the cap: warn then, end later
    go_away_time_left: float = 1.0
    drop_after: float | None = None
    openai_session_extras: bool = False
    ledger: InputLedger | None = None
    max_outbox: int = 50_000
    render_cache: OrderedDict[tuple[str, AudioEncoding | None, int, int], SpeechRender] = field(
        default_factory=OrderedDict
    )
    render_cache_size: int = 256

    def session_limit(self) -> float | None:
        """Seconds from open to the end of every session (the cap), or None for no cap."""
        if self.session_max_seconds is not None:
            return self.session_max_seconds
        if self.go_away_after is not None:
            return self.go_away_after + self.go_away_time_left
        return None

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


@dataclass(frozen=True, slots=True)
class ResumptionState:
    """What a resumption handle restores: the conversation and, for transparent resumption,
    ``listening``: the input rate, ears, VAD and manual-activity flag as they were (copies), so
    mid-utterance audio already consumed is neither lost nor heard twice."""

    turns: tuple[Turn, ...]
    listening: tuple[int, SpeechRecognizer, EnergyVad, bool] | None = None


class ResumptionRegistry:
    """Bounded LRU map of resumption handle -> :class:`ResumptionState` (oldest evicted first)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, ResumptionState] = OrderedDict()

    def store(self, handle: str, state: ResumptionState) -> None:
        """Remember ``state`` under ``handle``; evicts the oldest handle when full."""
        self._entries[handle] = state
        self._entries.move_to_end(handle)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def lookup(self, handle: str) -> ResumptionState | None:
        """The state stored under ``handle``, or None if unknown or evicted."""
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
    video_frames: int = 0

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


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def b64decode_any(data: str) -> bytes | None:
    """Decode standard or URL-safe base64 (padding optional); None if it is not base64."""
    if not isinstance(data, str):
        return None
    if len(data) % 4 == 0:
        # Standard padded base64 (what clients send) decodes as it is: accepted, it holds no
        # whitespace, '-' or '_' and needs no padding, so the rewrite below would not change it.
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            pass
    s = data.strip().translate(_URLSAFE_TO_STANDARD)
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


def _g711_floats(decode: Callable[[bytes], bytes]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The float sample (-1..1) of each of the 256 G.711 codes, as ``pcm_to_float`` gives it."""
    table = np.frombuffer(decode(bytes(range(256))), dtype="<i2").astype(np.float64) / 32768.0
    table.flags.writeable = False
    return table


_ULAW_FLOATS = _g711_floats(ulaw_decode)
_ALAW_FLOATS = _g711_floats(alaw_decode)


def pcm_to_float(audio: bytes, encoding: AudioEncoding) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Input audio bytes (PCM16 or G.711) -> float samples in -1..1."""
    if encoding is AudioEncoding.G711_ULAW or encoding is AudioEncoding.G711_ALAW:
        table = _ULAW_FLOATS if encoding is AudioEncoding.G711_ULAW else _ALAW_FLOATS
        return np.take(table, np.frombuffer(audio, dtype=np.uint8))
    ints = np.frombuffer(audio[: len(audio) - len(audio) % 2], dtype="<i2")
    samples = ints.astype(np.float64)
    samples /= 32768.0  # in place: the same floats as ints / 32768.0, one array fewer
    return samples


def float_to_pcm(samples: np.ndarray[Any, np.dtype[np.float64]]) -> bytes:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


@dataclass(frozen=True, slots=True)
class SimSessionClosed:
    """The session is over: close the socket with ``code`` and ``reason``.

    Everything the session queued before it ended is already in :meth:`SimSessionBase.data_to_send`:
    send that first. After :meth:`SimSessionBase.connection_lost` the code is 1006 and there is
    no socket left to close.

    ``drop=True`` is the abrupt-drop fault (``drop_after``): send what is queued, then end the
    connection as a network failure would, without a close frame (the client sees 1006); the
    code is 1006 and the reason only says why.
    """

    code: int
    reason: str
    drop: bool = False


class SimSessionBase:
    """Outbox, events, ids, stats and the session-expiry timer shared by both wire sides.

    Driving loop (what a driver does, all a driver needs):

    1. after opening and after every call below, send every string of :meth:`data_to_send`
       as a text frame, then read :meth:`next_event` until it returns None;
    2. feed each received frame to :meth:`receive_data` with the current monotonic time;
    3. sleep until :meth:`get_timer` (if not None) and then call :meth:`handle_timer`;
    4. on :class:`SimSessionClosed`, close the socket with its code and reason (``drop``: end
       it with no close frame instead); call :meth:`connection_lost` when the peer goes away
       first.
    """

    kind: ClassVar[str] = ""

    def __init__(
        self,
        settings: SimSettings,
        now: float,
        seed: int,
        *,
        wall_now: float | None = None,
        drop_after: float | None = None,
    ) -> None:
        self._settings = settings
        self._rng = random.Random(seed)
        self._out: list[str] = []
        self._events: deque[SimSessionClosed] = deque()
        self._ended = False
        self.stats = SimStats()
        self.opened_at = now
        # Unix time minus session time: ``expires_at`` is reported in wall-clock seconds.
        self._wall_offset = (wall_now - now) if wall_now is not None else 0.0
        limit = settings.session_limit()
        self._end_at = now + limit if limit is not None else None
        self._warn_left = min(settings.go_away_time_left, limit) if limit is not None else 0.0
        warns = self._end_at is not None and self._warns_before_end()
        self._warn_at = (
            self._end_at - self._warn_left if warns and self._end_at is not None else None
        )
        self._drop_at = now + drop_after if drop_after is not None else None
        self.history: list[Turn] = []

    @property
    def expires_at(self) -> int | None:
        """Unix seconds when the session cap falls (``wall_now`` at open + the cap), or None."""
        if self._end_at is None:
            return None
        return int(self._end_at + self._wall_offset)

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
        candidates = (self._next_due(), self._warn_at, self._end_at, self._drop_at)
        times = [t for t in candidates if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Emit whatever is due at ``now``.

        Then send :meth:`data_to_send`, read :meth:`next_event` and re-arm the timer.
        """
        if self._ended:
            return
        drop, end = self._drop_at, self._end_at
        if drop is not None and now >= drop and (end is None or drop <= end):
            self._pump(drop)  # output due before the drop still goes out
            self._close(1006, "connection dropped (simulated network failure)", drop=True)
            return
        if end is not None and now >= end:
            self._pump(end)
            self._on_session_end(now)
            return
        if self._warn_at is not None and now >= self._warn_at:
            self._warn_at = None
            self._on_expiry(now, self._warn_left)
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

    def _warns_before_end(self) -> bool:
        """Whether the session warns ``go_away_time_left`` before its cap (:meth:`_on_expiry`)."""
        return True

    def _on_expiry(self, now: float, time_left: float) -> None:
        """The cap falls in ``time_left`` seconds: warn the client."""
        raise NotImplementedError

    def _on_session_end(self, now: float) -> None:
        """The cap fell: end the session."""
        self._close(1000, "session expired")

    def _release_input(self) -> bytes:
        """The session is ending: give up the input audio received but not committed."""
        return b""

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

    def end(self, code: int = 1000, reason: str = "") -> None:
        """End the session from outside (a hung-up call): as `_close`; flush it after."""
        self._close(code, reason)

    def _close(self, code: int, reason: str, *, drop: bool = False) -> None:
        """End the session once: queue the close event; later input and timers are ignored.

        Input audio not yet committed is discarded (the ledger, when on, records it)."""
        if not self._ended:
            self._ended = True
            uncommitted = self._release_input()
            if self._settings.ledger is not None:
                self._settings.ledger.discard(uncommitted)
            # A close frame's reason is at most 123 bytes.
            short = reason.encode("utf-8", "replace")[:123].decode("utf-8", "ignore")
            self._events.append(SimSessionClosed(code, short, drop))

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
