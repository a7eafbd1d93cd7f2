"""The conversation record as Gemini Live tells it, and the history a new setup replays.

Theory of operation
-------------------
Gemini Live has no item ids and no conversation events: :class:`GeminiConversation`
turns what the protocol sees into the items of a
:class:`~adk_realtime.sansio.history.ConversationRecord`:

* a model turn is one assistant message, id ``turn-N`` (the turn's
  ``item_id``), from its output transcription (``spoken``; each chunk, made from
  the audio, is anchored as ending at the turn's audio received so far) or its
  text parts;
* its tool calls are function calls, ids ``turn-N-fcK``; the answer sent for
  one is its output, id ``<call item id>-out``; a call the server cancels leaves
  the record (with its output, if any);
* user text (``ItemCreate``) is a user message, id ``user-N``; an assistant
  ``ItemCreate`` (history) is an assistant message, id ``model-N``;
* user speech is a user message, id ``user-N``, from the input transcription:
  it opens with the first chunk and closes when the transcription says
  ``finished``, when the model turn ends, when the user interrupts the model,
  or when the user sends text. Transcription runs behind the audio, so a user
  message that opens while a model turn answers (not interrupted) goes just
  before that turn's first item: it is the speech the turn answers. Speech
  without input transcription (``inputAudioTranscription`` off) leaves no item.

Ids skip any an item in the record already has (a seeded history may use them).

Replay (:func:`replay_messages`): on a connection that starts a new server
conversation (no resumption handle) the setup asks for
``historyConfig.initialHistoryInClientContent`` and, once ``setupComplete``
arrives, the record goes as ``clientContent`` turns: consecutive items of one
side make one turn (``role`` ``user`` or ``model``); text as ``text`` parts, calls
as ``functionCall`` parts and outputs as ``functionResponse`` parts (with the
call's id and name, the output as ``{"result": ...}`` like a live answer). The
last message says ``turnComplete: true``; with that setup flag it does not start
a model turn. Gemini has no system role in a conversation: a system message goes
as user text. Messages without text are left out. The turns are spread over as
many messages as ``max_message_size`` needs; a single call or output too large
for one message raises ``MessageTooLargeToSend``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from adk_realtime.sansio.errors import ConfigError, MessageTooLargeToSend
from adk_realtime.sansio.gemini.wire import FunctionCall, tool_output
from adk_realtime.sansio.history import (
    ConversationRecord,
    History,
    HistoryFunctionCall,
    HistoryFunctionOutput,
    HistoryItem,
    HistoryLimits,
    HistoryMessage,
)
from adk_realtime.sansio.json_fields import check_size, dumps

__all__ = ["GeminiConversation", "replay_messages"]

_HEAD = '{"clientContent":{"turns":['
_TAIL_OPEN = '],"turnComplete":false}}'
_TAIL_DONE = '],"turnComplete":true}}'


class GeminiConversation:
    """The record of a Gemini conversation; see the module docstring."""

    def __init__(self, limits: HistoryLimits | None = None) -> None:
        self.record = ConversationRecord(limits)
        self._user: str | None = None  # the user message being transcribed
        self._turn_first: str | None = None  # the first item of the open model turn
        self._counters: dict[str, int] = {}

    def fresh_id(self, prefix: str) -> str:
        """``prefix-N`` for the next N no item in the record has."""
        n = self._counters.get(prefix, 0)
        while True:
            n += 1
            item_id = f"{prefix}-{n}"
            if item_id not in self.record:
                self._counters[prefix] = n
                return item_id

    def seed(self, history: History) -> None:
        """Make ``history`` the record; ``ConfigError`` if Gemini cannot replay it."""
        for n, item in enumerate(history):
            if isinstance(item, HistoryFunctionCall):
                _arguments(item.arguments, f"items[{n}].arguments")
        self.record.load(history)

    # -- what the user says

    def user_text(self, text: str, role: str = "user") -> None:
        """Text the client sent (``ItemCreate``): a user, or an assistant history, message."""
        self.close_user()
        if role == "user":
            self.record.put(HistoryMessage(self.fresh_id("user"), "user", text))
        else:
            self.record.put(HistoryMessage(self.fresh_id("model"), "assistant", text))

    def heard_input(self, text: str, *, answering: bool) -> None:
        """A chunk of the input transcription; ``answering``: a model turn is open and
        was not interrupted (so the speech is what it answers)."""
        if not text:
            return
        if self._user is None or self._user not in self.record:
            self._user = self.fresh_id("user")
            before = self._turn_first if answering else None
            self.record.put(HistoryMessage(self._user, "user", "", spoken=True), before=before)
        self.record.append_text(self._user, text)

    def close_user(self) -> None:
        """The user's utterance is over: more transcription opens a new message."""
        self._user = None

    # -- what the model says

    def turn_opened(self) -> None:
        """A model turn began."""
        self._turn_first = None

    def model_output(self, turn_id: str, text: str, audio_ms: int | None) -> None:
        """Text of model turn ``turn_id``: transcript (``audio_ms`` received so far) or text."""
        if not text:
            return
        if turn_id not in self.record:
            self._put_in_turn(HistoryMessage(turn_id, "assistant", ""))
        # (The output transcription is made from the audio: it ends where it arrives.)
        self.record.append_text(turn_id, text, audio_ms=audio_ms, transcript_lags=True)

    def calls(self, turn_id: str, calls: Sequence[tuple[str, FunctionCall]]) -> None:
        """Model turn ``turn_id`` asked for ``(call_id, call)`` calls."""
        for call_id, call in calls:
            item_id = self.fresh_id(f"{turn_id}-fc")
            self._put_in_turn(HistoryFunctionCall(item_id, call_id, call.name, call.arguments))

    def cancelled(self, call_ids: Iterable[str]) -> None:
        """The server cancelled these calls: they leave (with any output)."""
        for call_id in call_ids:
            call = self.record.call(call_id)
            if call is not None:
                self.record.delete(call.item_id)

    def output(self, call_id: str, output: str) -> None:
        """The client answered ``call_id`` (nothing if the call is not in the record)."""
        call = self.record.call(call_id)
        if call is not None:
            item_id = f"{call.item_id}-out"
            if item_id in self.record:
                item_id = self.fresh_id(item_id)
            self.record.put(HistoryFunctionOutput(item_id, call_id, output))

    def _put_in_turn(self, item: HistoryItem) -> None:
        if self.record.put(item) and self._turn_first is None:
            self._turn_first = item.item_id


def _arguments(arguments: str, field: str) -> dict[str, Any]:
    """A call's arguments as the JSON object Gemini takes (empty text: no arguments)."""
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise ConfigError(field, "Gemini takes a call's arguments as a JSON object")
    return value


def _parts(items: Iterable[HistoryItem], limit: int) -> list[tuple[str, str]]:
    """``(role, part as JSON)`` per item, text split so that each part fits a message."""
    names: dict[str, str] = {}
    out: list[tuple[str, str]] = []
    room = limit - len(_HEAD) - len(_TAIL_DONE) - 64
    for n, item in enumerate(items):
        if isinstance(item, HistoryMessage):
            role = "model" if item.role == "assistant" else "user"
            text = item.text
            piece = max(1, room // 12)  # a character takes at most 12 bytes of JSON
            for start in range(0, len(text), piece):
                out.append((role, dumps({"text": text[start : start + piece]})))
            continue
        if isinstance(item, HistoryFunctionCall):
            names[item.call_id] = item.name
            body = {"id": item.call_id, "name": item.name}
            args = _arguments(item.arguments, f"items[{n}].arguments")
            part, role = dumps({"functionCall": {**body, "args": args}}), "model"
        else:
            result = {"result": tool_output(item.output)}
            body = {"id": item.call_id, "name": names.get(item.call_id, "?")}
            part, role = dumps({"functionResponse": {**body, "response": result}}), "user"
        if len(part) > room:
            raise MessageTooLargeToSend("a replayed tool call or output", len(part), room)
        out.append((role, part))
    return out


def replay_messages(items: Iterable[HistoryItem], limit: int) -> list[str]:
    """The ``clientContent`` messages that give ``items`` to a new conversation (empty
    when nothing is replayable). Raises ``ConfigError`` for call arguments that are not
    a JSON object and ``MessageTooLargeToSend`` for a call or output over ``limit``."""
    parts = _parts(items, limit)
    messages: list[str] = []
    turns: list[str] = []  # finished turns of the message being built, as JSON
    role, current = "", list[str]()  # the turn being built
    size = len(_HEAD) + len(_TAIL_DONE)

    def turn() -> str:
        return '{"role":"' + role + '","parts":[' + ",".join(current) + "]}"

    for part_role, part in parts:
        cost = len(part) + 1 + (0 if part_role == role else 32)
        if size + cost > limit and (turns or current):
            if current:
                turns.append(turn())
            messages.append(_HEAD + ",".join(turns) + _TAIL_OPEN)
            turns, current, role = [], [], ""
            size = len(_HEAD) + len(_TAIL_DONE)
            cost = len(part) + 33
        if part_role != role:
            if current:
                turns.append(turn())
            role, current = part_role, []
        current.append(part)
        size += cost
    if current:
        turns.append(turn())
    if turns:
        messages.append(_HEAD + ",".join(turns) + _TAIL_DONE)
    return [check_size(m, limit, "the replayed history") for m in messages]
