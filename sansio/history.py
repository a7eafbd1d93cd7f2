"""The conversation record: what was said, in order, as a provider protocol saw it.

Theory of operation
-------------------
Each provider protocol owns a :class:`ConversationRecord` and updates it from
what it sends and receives: user text, user speech (with its transcript), the
model's text and the transcript of its speech, function calls and their
outputs, truncation and deletion. Items are keyed by item id and kept in
conversation order; an update to an item in progress (a transcript delta, the
final arguments of a call) lands in place. ``protocol.history`` is an
immutable :class:`History` snapshot of it, and ``protocol.seed(history)``
makes a history the start of a new conversation, which ``start()`` replays
to the provider.

Items
    :class:`HistoryMessage` (user, assistant or system text; ``spoken`` when it
    was audio: user speech with its input transcript, or assistant audio with
    its output transcript; ``truncated`` when the assistant's text was cut at
    what the listener heard), :class:`HistoryFunctionCall` and
    :class:`HistoryFunctionOutput`. A message with empty text is kept (it says
    that someone spoke, or that the assistant was cut before a word was heard)
    but is not replayed from a saved history.

Spoken user turns without a transcript
    The record keeps text only, so a user turn heard without input transcription
    is an empty ``spoken`` message. Within one OpenAI conversation the protocol
    also keeps the audio each server commit point took, by item id
    (``openai.conversation.TurnAudio``: at most ``MAX_TURN_AUDIO_BYTES``, 2 MiB,
    in all; the oldest turns' audio leaves first; a format change lets it all
    go), and a rollover replays such a turn as an ``input_audio`` part of a user
    ``message`` item. Once the transcript is in the record the text goes
    instead. A saved :class:`History` carries no audio: JSON v1 is unchanged.

Consistency (checked by :class:`History` itself, so every snapshot and every
history built by hand or loaded from JSON holds it): item ids are unique and
non-empty; call ids are unique among calls; every output follows the call it
answers (no orphan outputs); all text is valid Unicode.

Bounds and eviction
    :class:`HistoryLimits` bounds the record by item count and by characters
    (message text, call name and arguments, output). When an update takes the
    record over a bound, the oldest items leave first; a function call leaves
    together with its outputs (an output never outlives its call); the item
    being updated (the last one touched, e.g. the response in progress) is
    never evicted, so only while it is the oldest item left can the record
    stay over its bounds. An output whose call is not (or no longer) in the
    record is not recorded. ``evicted`` counts the items that left this way.

Cut at what the listener heard
    When the user barges in, the listener heard ``heard_ms`` of an assistant
    item of which ``audio_ms`` had been received. :meth:`ConversationRecord.cut`
    keeps the part of the transcript that matches that audio:

    * every transcript delta is anchored at the milliseconds of the item's
      audio received when it arrived (the protocol passes them to
      :meth:`~ConversationRecord.append_text`), which gives a point "the first
      *c* characters are the first *m* ms of audio". OpenAI's transcript is the
      text the model voices, so it runs ahead of the audio: a delta arriving at
      *m* ms starts there (*c* = the characters before it). Gemini's output
      transcription is made from the audio, so it runs behind: a chunk
      arriving at *m* ms ends there (*c* = the characters through it,
      ``transcript_lags=True``). The character position is the piecewise-linear
      function of audio position through ``(0, 0)``, these points and
      ``(audio_ms, len(text))``. The audio received when a delta arrives marks
      where its words are, whatever the network did to the timing; anchoring
      keeps the error within one delta, where a single proportion over the
      whole item would smear pauses and speech-rate changes over all of it.
      Without deltas (a transcript set whole) it is the plain proportion
      ``heard_ms / audio_ms``;
    * the character count is rounded *down* to a word boundary (text without
      any whitespace, such as Chinese or Japanese, is cut at the character);
    * the message is marked ``truncated`` and is final from then on: text
      arriving later for it (more deltas, the full transcript) was not heard
      and is ignored. Cutting again only ever shortens it;
    * nothing heard leaves the message in the record with empty text (marked
      ``truncated``): the record says the assistant was interrupted before a
      word was heard, and keeps the item id the provider still knows.
      Messages without text are not replayed.

    The estimate may keep the start of a word the listener did not quite
    hear; the rounding down to a whole word absorbs most of that.

JSON
    :meth:`History.to_json` / :meth:`History.from_json` use a stable shape,
    version 1 (keys are exactly these; ``spoken`` and ``truncated`` may be
    left out when false)::

        {"version": 1, "items": [
          {"type": "message", "item_id": "...", "role": "user" | "assistant" | "system",
           "text": "...", "spoken": false, "truncated": false},
          {"type": "function_call", "item_id": "...", "call_id": "...", "name": "...",
           "arguments": "{...}"},
          {"type": "function_call_output", "item_id": "...", "call_id": "...",
           "output": "..."}]}

    :meth:`History.to_list` / :meth:`History.from_list` are the ``items``
    list alone. Bad input raises :class:`~adk_realtime.sansio.errors.ConfigError`
    naming the field (``items[3].call_id``). The round trip is exact.

Everything here is pure: no clock, no I/O; time is the milliseconds of audio
the protocol counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from adk_realtime.sansio.errors import ConfigError

__all__ = [
    "HISTORY_VERSION",
    "ConversationRecord",
    "History",
    "HistoryFunctionCall",
    "HistoryFunctionOutput",
    "HistoryItem",
    "HistoryLimits",
    "HistoryMessage",
    "Role",
]

HISTORY_VERSION = 1
"""The version of the JSON shape :meth:`History.to_json` writes."""

Role = Literal["user", "assistant", "system"]
_ROLES = ("user", "assistant", "system")


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """A message: user, assistant or system text.

    ``spoken``: it was audio (user speech with its input transcript, or assistant
    audio with its output transcript). ``truncated``: assistant text cut at what
    the listener heard.
    """

    item_id: str
    role: Role
    text: str
    spoken: bool = False
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class HistoryFunctionCall:
    """A function call the model made; ``arguments`` is its JSON text."""

    item_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class HistoryFunctionOutput:
    """The output of a function call, answering ``call_id``."""

    item_id: str
    call_id: str
    output: str


HistoryItem = HistoryMessage | HistoryFunctionCall | HistoryFunctionOutput


def _is_text(value: object) -> bool:
    if type(value) is not str:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_item(item: object, where: str) -> None:
    """ConfigError naming the first bad field of one item."""
    if isinstance(item, HistoryMessage):
        fields: tuple[tuple[str, object], ...] = (("item_id", item.item_id), ("text", item.text))
        if item.role not in _ROLES:
            raise ConfigError(
                f"{where}.role", f"must be user, assistant or system, got {item.role!r}"
            )
        for name in ("spoken", "truncated"):
            if type(getattr(item, name)) is not bool:
                raise ConfigError(f"{where}.{name}", f"must be a bool, got {getattr(item, name)!r}")
    elif isinstance(item, HistoryFunctionCall):
        fields = (
            ("item_id", item.item_id),
            ("call_id", item.call_id),
            ("name", item.name),
            ("arguments", item.arguments),
        )
    elif isinstance(item, HistoryFunctionOutput):
        fields = (("item_id", item.item_id), ("call_id", item.call_id), ("output", item.output))
    else:
        raise ConfigError(where, f"must be a history item, got {type(item).__name__}")
    for name, value in fields:
        if not _is_text(value):
            raise ConfigError(f"{where}.{name}", f"must be valid Unicode text, got {value!r:.80}")
        if name in ("item_id", "call_id", "name") and not value:
            raise ConfigError(f"{where}.{name}", "must not be empty")


@dataclass(frozen=True, slots=True)
class History:
    """An immutable snapshot of a conversation: its items, in order.

    Iterate it, index it, take its ``len()``; save it with :meth:`to_json` and
    give it back to a new protocol with ``protocol.seed(History.from_json(text))``.
    Building one checks it (see the module docstring) and raises ``ConfigError``.
    """

    items: tuple[HistoryItem, ...] = ()

    def __post_init__(self) -> None:
        items = self.items
        if not isinstance(items, tuple):
            if not isinstance(items, list):
                raise ConfigError("items", f"must be a tuple of items, got {type(items).__name__}")
            items = tuple(items)
            object.__setattr__(self, "items", items)
        ids: set[str] = set()
        calls: set[str] = set()
        for n, item in enumerate(items):
            where = f"items[{n}]"
            _check_item(item, where)
            if item.item_id in ids:
                raise ConfigError(f"{where}.item_id", f"{item.item_id!r} is used twice")
            ids.add(item.item_id)
            if isinstance(item, HistoryFunctionCall):
                if item.call_id in calls:
                    raise ConfigError(f"{where}.call_id", f"{item.call_id!r} is used by two calls")
                calls.add(item.call_id)
            elif isinstance(item, HistoryFunctionOutput) and item.call_id not in calls:
                raise ConfigError(
                    f"{where}.call_id",
                    f"no function call before this output has call_id {item.call_id!r}",
                )

    def __iter__(self) -> Iterator[HistoryItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> HistoryItem:
        return self.items[index]

    # -- JSON

    def to_list(self) -> list[dict[str, Any]]:
        """The items as JSON-ready dicts (the ``items`` of :meth:`to_json`)."""
        return [_item_to_dict(item) for item in self.items]

    @classmethod
    def from_list(cls, data: Any) -> History:
        """A history from :meth:`to_list`'s shape; ``ConfigError`` names a bad field."""
        if not isinstance(data, list):
            raise ConfigError("items", f"must be a list, got {type(data).__name__}")
        return cls(tuple(_item_from_dict(raw, f"items[{n}]") for n, raw in enumerate(data)))

    def to_json(self) -> str:
        """``{"version": 1, "items": [...]}`` (see the module docstring)."""
        return json.dumps({"version": HISTORY_VERSION, "items": self.to_list()})

    @classmethod
    def from_json(cls, text: str | bytes) -> History:
        """A history from :meth:`to_json`'s text; ``ConfigError`` names a bad field."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ConfigError("history", f"is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("history", f"must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"version", "items"})
        if unknown:
            raise ConfigError(unknown[0], "is not a field of a history")
        version = data.get("version")
        if type(version) is not int or version != HISTORY_VERSION:
            raise ConfigError("version", f"must be {HISTORY_VERSION}, got {version!r}")
        return cls.from_list(data.get("items"))


_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type -> (required keys, optional keys)
    "message": (("item_id", "role", "text"), ("spoken", "truncated")),
    "function_call": (("item_id", "call_id", "name", "arguments"), ()),
    "function_call_output": (("item_id", "call_id", "output"), ()),
}


def _item_to_dict(item: HistoryItem) -> dict[str, Any]:
    if isinstance(item, HistoryMessage):
        return {
            "type": "message",
            "item_id": item.item_id,
            "role": item.role,
            "text": item.text,
            "spoken": item.spoken,
            "truncated": item.truncated,
        }
    if isinstance(item, HistoryFunctionCall):
        return {
            "type": "function_call",
            "item_id": item.item_id,
            "call_id": item.call_id,
            "name": item.name,
            "arguments": item.arguments,
        }
    return {
        "type": "function_call_output",
        "item_id": item.item_id,
        "call_id": item.call_id,
        "output": item.output,
    }


def _item_from_dict(raw: Any, where: str) -> HistoryItem:
    if not isinstance(raw, dict):
        raise ConfigError(where, f"must be an object, got {type(raw).__name__}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise ConfigError(
            f"{where}.type",
            f"must be message, function_call or function_call_output, got {kind!r}",
        )
    required, optional = _KEYS[kind]
    for key in raw:
        if key != "type" and key not in required and key not in optional:
            raise ConfigError(f"{where}.{key}", f"is not a field of a {kind} item")
    for key in required:
        if key not in raw:
            raise ConfigError(f"{where}.{key}", "is missing")
    item: HistoryItem
    if kind == "message":
        item = HistoryMessage(
            raw["item_id"],
            raw["role"],
            raw["text"],
            raw.get("spoken", False),
            raw.get("truncated", False),
        )
    elif kind == "function_call":
        item = HistoryFunctionCall(raw["item_id"], raw["call_id"], raw["name"], raw["arguments"])
    else:
        item = HistoryFunctionOutput(raw["item_id"], raw["call_id"], raw["output"])
    _check_item(item, where)
    return item


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """Bounds of a :class:`ConversationRecord`: at most ``max_items`` items and
    ``max_chars`` characters (message text, call names and arguments, outputs)."""

    max_items: int = 500
    max_chars: int = 200_000

    def __post_init__(self) -> None:
        for name in ("max_items", "max_chars"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(name, f"must be a positive int, got {value!r}")


def _clean(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (which JSON can carry) becomes U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _size(item: HistoryItem) -> int:
    if isinstance(item, HistoryMessage):
        return len(item.text)
    if isinstance(item, HistoryFunctionCall):
        return len(item.name) + len(item.arguments)
    return len(item.output)


def word_floor(text: str, keep: int) -> str:
    """The first ``keep`` characters of ``text``, rounded down to a word boundary.

    Text without whitespace is cut at the character (scripts written without spaces).
    """
    if keep >= len(text):
        return text
    if keep <= 0:
        return ""
    if text[keep].isspace() or text[keep - 1].isspace():
        return text[:keep].rstrip()
    head = text[:keep]
    cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    if cut < 0:
        return "" if any(c.isspace() for c in text) else head
    return head[:cut].rstrip()


def heard_chars(anchors: list[tuple[int, int]], length: int, heard_ms: int, audio_ms: int) -> int:
    """How many of ``length`` transcript characters ``heard_ms`` of audio covers.

    ``anchors`` are ``(characters, ms)`` points in arrival order: the first
    *characters* are the first *ms* of audio; ``audio_ms`` is the item's audio
    received in all. The position is piecewise linear through ``(0, 0)``, the
    points and ``(audio_ms, length)``; see the module docstring.
    """
    if heard_ms <= 0:
        return 0
    points = [(ms, char) for char, ms in anchors] or [(0, 0)]
    end_ms = max(audio_ms, points[-1][0])
    if heard_ms >= end_ms:
        return length
    points.append((end_ms, length))
    low_ms, low_char = 0, 0
    for ms, char in points:
        if ms > heard_ms:  # (so ms > low_ms)
            return low_char + (char - low_char) * (heard_ms - low_ms) // (ms - low_ms)
        low_ms, low_char = ms, char
    return length


class _Entry:
    """One item of the record. A message keeps the text received in pieces (joined
    when read), the anchors of its deltas and, once cut, the text kept."""

    __slots__ = ("anchors", "cut_text", "item", "parts", "size", "stale")

    def __init__(self, item: HistoryItem) -> None:
        self.item = item  # up to date unless ``stale`` (message text only)
        self.parts: list[str] = [item.text] if isinstance(item, HistoryMessage) else []
        self.anchors: list[tuple[int, int]] = []  # (characters, ms of audio) points
        self.cut_text: str | None = None  # what a cut kept: the text is final
        self.size = _size(item)
        self.stale = False

    def received_text(self) -> str:
        """The whole text received (a cut does not shorten it)."""
        if len(self.parts) != 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0]

    def current(self) -> HistoryItem:
        item = self.item
        if self.stale and isinstance(item, HistoryMessage):
            text = self.received_text() if self.cut_text is None else self.cut_text
            item = HistoryMessage(item.item_id, item.role, text, item.spoken, item.truncated)
            self.item = item
            self.stale = False
        return item


class ConversationRecord:
    """The mutable record behind ``protocol.history``; see the module docstring.

    Pure and bounded. The protocols call :meth:`put` for whole items,
    :meth:`append_text` / :meth:`set_text` for text in progress, :meth:`cut`
    on a barge-in, :meth:`delete`, :meth:`rename` (a provisional id the server
    replaced); :meth:`snapshot` gives the :class:`History`.
    """

    def __init__(self, limits: HistoryLimits | None = None) -> None:
        if limits is None:
            limits = HistoryLimits()
        elif not isinstance(limits, HistoryLimits):
            raise ConfigError("history_limits", f"must be HistoryLimits, got {limits!r}")
        self.limits = limits
        self._entries: dict[str, _Entry] = {}
        self._call_items: dict[str, str] = {}  # call_id -> item id of the call
        self._outputs: dict[str, list[str]] = {}  # call_id -> item ids of its outputs
        self._chars = 0
        self._active: str | None = None  # the item last touched: never evicted
        self.evicted = 0
        """Items evicted to keep the record within its limits, so far."""

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._entries

    def __repr__(self) -> str:
        return f"ConversationRecord({len(self._entries)} items, {self._chars} chars)"

    @property
    def chars(self) -> int:
        """Characters held (what ``max_chars`` bounds)."""
        return self._chars

    @property
    def active_item_id(self) -> str | None:
        """The item last touched (never evicted), or ``None``."""
        return self._active

    def get(self, item_id: str) -> HistoryItem | None:
        """The item ``item_id`` as it is now, or ``None``."""
        entry = self._entries.get(item_id)
        return None if entry is None else entry.current()

    def call(self, call_id: str) -> HistoryFunctionCall | None:
        """The call ``call_id`` while it is in the record, else ``None``."""
        item_id = self._call_items.get(call_id)
        item = None if item_id is None else self._entries[item_id].item
        return item if isinstance(item, HistoryFunctionCall) else None

    def snapshot(self) -> History:
        """The record as an immutable :class:`History`."""
        return History(tuple(entry.current() for entry in self._entries.values()))

    # -- updates

    def load(self, history: History) -> None:
        """Replace the whole record by ``history`` (evicting down to the limits)."""
        self.clear()
        for item in history:
            self.put(item)

    def clear(self) -> None:
        """Forget every item."""
        self._entries.clear()
        self._call_items.clear()
        self._outputs.clear()
        self._chars = 0
        self._active = None

    def put(self, item: HistoryItem, *, before: str | None = None) -> bool:
        """Add ``item``, or replace the item with its id in place. A new item goes at
        the end, or just before the item ``before`` when that is in the record.

        Returns False (recording nothing) for an output whose call is not in the
        record, or a call whose call id another item holds.
        """
        item = _cleaned(item)
        old = self._entries.get(item.item_id)
        if isinstance(item, HistoryFunctionOutput):
            holder = self._call_items.get(item.call_id)
            if holder is None or holder == item.item_id:
                return False
            before = None  # an output goes after its call: at the end
        elif isinstance(item, HistoryFunctionCall):
            holder = self._call_items.get(item.call_id)
            if holder is not None and holder != item.item_id:
                return False
        if old is not None and not _same_slot(old.item, item):
            # Another kind of item (or a call or output for another call): the old one
            # leaves, with what depends on it, and this one is new. No eviction before
            # it is in: evicting now could take the call this output answers.
            for gone in self._group(old.item):
                self._remove(gone)
            old = None
        entry = _Entry(item)
        if old is not None:
            self._unindex(old.item)
            self._chars -= old.size
            self._entries[item.item_id] = entry
        elif before is not None and before in self._entries:
            self._insert_before(before, item.item_id, entry)
        else:
            self._entries[item.item_id] = entry
        self._index(item)
        self._chars += entry.size
        self._touch(item.item_id)
        return True

    def append_text(
        self,
        item_id: str,
        delta: str,
        *,
        audio_ms: int | None = None,
        transcript_lags: bool = False,
    ) -> None:
        """Add ``delta`` to the text of message ``item_id`` (nothing if it is unknown,
        not a message, or already cut). ``audio_ms``: the item's audio received when
        the delta arrived, which anchors the cut at the delta's start, or at its end
        when the transcript runs behind the audio (``transcript_lags``); the message
        becomes ``spoken``."""
        entry = self._entries.get(item_id)
        if entry is None or not delta:
            return
        item = entry.item
        if not isinstance(item, HistoryMessage):
            return
        if entry.cut_text is not None:
            self._refuse(entry)
            return
        delta = _clean(delta)
        if audio_ms is not None:
            chars = entry.size + len(delta) if transcript_lags else entry.size
            entry.anchors.append((chars, max(0, audio_ms)))
            if not item.spoken:
                entry.item = HistoryMessage(
                    item.item_id, item.role, item.text, True, item.truncated
                )
        entry.parts.append(delta)
        entry.size += len(delta)
        entry.stale = True
        self._chars += len(delta)
        self._touch(item_id)

    def set_text(self, item_id: str, text: str, *, spoken: bool | None = None) -> None:
        """Set the whole text of message ``item_id`` (a final transcript); nothing if it
        is unknown, not a message, or already cut. The anchors of the deltas stay when
        the final text begins with what they gave."""
        entry = self._entries.get(item_id)
        if entry is None or not isinstance(entry.item, HistoryMessage):
            return
        text = _clean(text)
        if entry.cut_text is not None:
            if text != entry.received_text():
                self._refuse(entry)
            return
        if not text.startswith(entry.received_text()):
            entry.anchors.clear()
        old = entry.item
        flag = old.spoken if spoken is None else spoken
        entry.item = HistoryMessage(old.item_id, old.role, text, flag, old.truncated)
        entry.parts = [text]
        entry.stale = False
        self._chars += len(text) - entry.size
        entry.size = len(text)
        self._touch(item_id)

    def cut(self, item_id: str, heard_ms: int, audio_ms: int) -> None:
        """Cut assistant message ``item_id`` at what the listener heard: ``heard_ms`` of
        the ``audio_ms`` received (see the module docstring). Nothing for another item;
        a second cut measures from the same text and anchors, and only shortens."""
        entry = self._entries.get(item_id)
        item = None if entry is None else entry.item
        if entry is None or not isinstance(item, HistoryMessage) or item.role != "assistant":
            return
        received = entry.received_text()
        keep = heard_chars(entry.anchors, len(received), max(0, heard_ms), max(0, audio_ms))
        text = word_floor(received, keep)
        if entry.cut_text is not None and len(entry.cut_text) <= len(text):
            return
        truncated = item.truncated or len(text) < len(received)
        entry.cut_text = text
        entry.item = HistoryMessage(item.item_id, item.role, text, item.spoken, truncated)
        entry.stale = False
        self._chars += len(text) - entry.size
        entry.size = len(text)

    def delete(self, item_id: str) -> None:
        """Remove ``item_id`` (a call takes its outputs along); nothing if unknown."""
        entry = self._entries.get(item_id)
        if entry is None:
            return
        for gone in self._group(entry.item):
            self._remove(gone)
        self._evict()

    def rename(self, old_id: str, new_id: str) -> None:
        """Give item ``old_id`` the id ``new_id``, in place (nothing if ``old_id`` is
        unknown or ``new_id`` is empty or taken)."""
        entry = self._entries.get(old_id)
        if entry is None or not new_id or new_id in self._entries:
            return
        self._unindex(entry.item)
        entry.item = _with_id(entry.item, new_id)
        self._index(entry.item)
        self._entries = {(new_id if k == old_id else k): v for k, v in self._entries.items()}
        if self._active == old_id:
            self._active = new_id

    # -- internals

    def _refuse(self, entry: _Entry) -> None:
        # Text for an item already cut was not heard: it stays out, and the item says so.
        old = entry.current()
        if isinstance(old, HistoryMessage) and not old.truncated:
            entry.item = HistoryMessage(old.item_id, old.role, old.text, old.spoken, True)

    def _insert_before(self, anchor: str, item_id: str, entry: _Entry) -> None:
        entries: dict[str, _Entry] = {}
        for key, value in self._entries.items():
            if key == anchor:
                entries[item_id] = entry
            entries[key] = value
        self._entries = entries

    def _index(self, item: HistoryItem) -> None:
        if isinstance(item, HistoryFunctionCall):
            self._call_items[item.call_id] = item.item_id
        elif isinstance(item, HistoryFunctionOutput):
            self._outputs.setdefault(item.call_id, []).append(item.item_id)

    def _unindex(self, item: HistoryItem) -> None:
        if isinstance(item, HistoryFunctionCall):
            self._call_items.pop(item.call_id, None)
        elif isinstance(item, HistoryFunctionOutput):
            outputs = self._outputs.get(item.call_id)
            if outputs is not None and item.item_id in outputs:
                outputs.remove(item.item_id)
                if not outputs:
                    del self._outputs[item.call_id]

    def _group(self, item: HistoryItem) -> list[str]:
        """``item`` and what must leave with it (a call's outputs)."""
        if isinstance(item, HistoryFunctionCall):
            return [item.item_id, *self._outputs.get(item.call_id, ())]
        return [item.item_id]

    def _remove(self, item_id: str) -> None:
        entry = self._entries.pop(item_id)
        self._unindex(entry.item)
        self._chars -= entry.size
        if self._active == item_id:
            self._active = None

    def _touch(self, item_id: str) -> None:
        self._active = item_id
        self._evict()

    def _evict(self) -> None:
        limits = self.limits
        while len(self._entries) > limits.max_items or self._chars > limits.max_chars:
            oldest = self._entries[next(iter(self._entries))].item
            group = self._group(oldest)
            if self._active in group:
                return  # the item in progress stays, even over the bounds
            for gone in group:
                self._remove(gone)
                self.evicted += 1


def _cleaned(item: HistoryItem) -> HistoryItem:
    if isinstance(item, HistoryMessage):
        text = _clean(item.text)
        if text is item.text:
            return item
        return HistoryMessage(item.item_id, item.role, text, item.spoken, item.truncated)
    if isinstance(item, HistoryFunctionCall):
        name, arguments = _clean(item.name), _clean(item.arguments)
        if name is item.name and arguments is item.arguments:
            return item
        return HistoryFunctionCall(item.item_id, item.call_id, name, arguments)
    output = _clean(item.output)
    if output is item.output:
        return item
    return HistoryFunctionOutput(item.item_id, item.call_id, output)


def _same_slot(old: HistoryItem, new: HistoryItem) -> bool:
    """True if ``new`` may replace ``old`` in place: same kind, same call."""
    if type(old) is not type(new):
        return False
    if isinstance(old, HistoryMessage):
        return True
    return old.call_id == new.call_id  # type: ignore[union-attr]


def _with_id(item: HistoryItem, item_id: str) -> HistoryItem:
    if isinstance(item, HistoryMessage):
        return HistoryMessage(item_id, item.role, item.text, item.spoken, item.truncated)
    if isinstance(item, HistoryFunctionCall):
        return HistoryFunctionCall(item_id, item.call_id, item.name, item.arguments)
    return HistoryFunctionOutput(item_id, item.call_id, item.output)
