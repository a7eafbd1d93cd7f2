"""Tool calls that straddle a Gemini resumption: answered exactly once on the new connection.

Theory of operation
-------------------
Gemini issues no resumption handle while the model waits for a tool's answer
(the service is not resumable then), so a connection that ends with a call
outstanding, or with its answer sent after the last handle, resumes from a
state that does not hold the call: a ``toolResponse`` for it would answer
nothing. :class:`CarriedCalls` follows every call from its ``toolCall`` until a
handle whose state holds it (:meth:`~CarriedCalls.settled`); at a resumption the
calls not settled are *carried* to the new connection, each in one of two modes:

* **re-ask** (transparent resumption, when the messages sent again include some
  sent before the call arrived, i.e. the question that led to it): the resumed
  model hears the question again and asks again. The first new call with the
  same name and arguments *is* the carried call (:meth:`~CarriedCalls.reasked`):
  the app is not told twice, and the answer goes once, as a ``toolResponse``
  under the new call's id, as soon as both exist. If the model ends a turn
  without asking again, the call switches to the other mode.
* **inject** (otherwise): the answer goes as ``clientContent`` turns, the model's
  ``functionCall`` and the user's ``functionResponse`` with ``turnComplete``,
  as the history replay writes them (:func:`conversation.replay_messages`): the
  model answers from them.

Which calls are carried: every call still waiting for the app's answer, and a
call answered on the old connection only when transparent resumption shows the
answer was not consumed (its ``toolResponse`` is among the messages sent again).
Without transparent resumption nobody can tell whether the old server took an
answer, so it is left as any message after the last handle (the runner's Gemini
handoff, which answers and then reconnects on purpose, relies on that).
``toolResponse`` messages for carried calls among the messages sent again are
left out (they answer a call the resumed state does not hold), and so is an
injection of ours, which goes again anew. A call carried once stays carried
until a handle after its answer settles it, so a second switch before that
carries it again. A setup without a handle (a new conversation, seeded from the
record) carries the calls still waiting for the app's answer too (:meth:`~CarriedCalls.fresh`):
the replay leaves them out and each answer is injected with its call. Bounded: at most ``MAX_FOLLOWED`` calls are followed (the
oldest go first: a server that gives no handle for that long resumes from far
back anyway). Pure: no clock, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adk_realtime.sansio.gemini.conversation import replay_messages
from adk_realtime.sansio.gemini.wire import MAX_MESSAGE_SIZE, tool_output
from adk_realtime.sansio.history import HistoryFunctionCall, HistoryFunctionOutput
from adk_realtime.sansio.json_fields import dumps

__all__ = ["MAX_FOLLOWED", "CarriedCalls"]

MAX_FOLLOWED = 128
"""Calls followed until a handle settles them, at most."""

_TOOL_RESPONSE = '{"toolResponse"'


@dataclass(slots=True)
class _Call:
    call_id: str
    name: str
    arguments: str
    mark: int  # the log index the next client message had when the call arrived
    carried: bool = False
    reask: bool = False
    alias: str | None = None  # the re-asked call's id on the new connection
    output: str | None = None
    sent: bool = False  # the answer went on the current connection


def _args(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments else {}
    except (ValueError, RecursionError):
        return arguments


class CarriedCalls:
    """Calls the state behind the latest handle may not hold; see the module docstring."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        self._injected: dict[str, str] = {}  # injection message -> the call it answers

    def __contains__(self, call_id: object) -> bool:
        call = self._calls.get(call_id) if isinstance(call_id, str) else None
        return call is not None and call.carried

    def issued(self, call_id: str, name: str, arguments: str, mark: int) -> None:
        """The server asked for a call on this connection."""
        self._calls[call_id] = _Call(call_id, name, arguments, mark)
        while len(self._calls) > MAX_FOLLOWED:
            del self._calls[next(iter(self._calls))]

    def note_output(self, call_id: str, output: str) -> None:
        """The app answered call ``call_id`` of this connection with a ``toolResponse``
        (kept: if no handle holds it, a resumption carries the answer)."""
        call = self._calls.get(call_id)
        if call is not None and not call.carried:
            call.output = output

    def forget(self, call_ids: Iterable[str]) -> None:
        """The server cancelled these calls: nothing to carry."""
        for call_id in call_ids:
            self._calls.pop(call_id, None)

    def settled(self) -> None:
        """A new resumption handle: its state holds every call of this connection and
        every carried call answered on it; the others stay carried."""
        self._calls = {k: c for k, c in self._calls.items() if c.carried and not c.sent}
        self._injected.clear()

    def resume(self, replay: list[tuple[int, str]], transparent: bool) -> list[str]:
        """A connection resumes from the latest handle: ``replay`` is what the log sends
        again (numbered on the old connection). Returns the messages to send after
        ``setupComplete``: the replay without answers to carried calls, then the
        injected answers ready now."""
        # Answers (ours or injected) the old connection's server may not have taken.
        unconfirmed = {i for _, m in replay for i in _answered_ids(m, self._injected)}
        for call_id, call in list(self._calls.items()):
            if not call.carried and call.output is not None and call_id not in unconfirmed:
                # Answered, and the server took it, or (no transparent resumption) nobody
                # can tell: as any message after the last handle, it stays as it was.
                del self._calls[call_id]
        wire_ids = set(self._calls) | {c.alias for c in self._calls.values() if c.alias}
        out = [_without_answers(message, wire_ids, self._injected) for _, message in replay]
        messages = [m for m in out if m]
        self._injected.clear()
        for call in self._calls.values():
            call.carried, call.alias, call.sent = True, None, False
            call.reask = transparent and any(index < call.mark for index, _ in replay)
            call.mark = -1  # (an index of the old connection)
        for call in self._calls.values():
            if not call.reask and call.output is not None:
                messages.extend(self._inject(call))
        return messages

    def fresh(self, running: Iterable[HistoryFunctionCall] = ()) -> None:
        """A new conversation (no handle): the record's replay holds the calls and the
        answers known, but not the ``running`` calls (still waiting for the app's answer):
        those are carried, each answer injected with its call once the app gives it."""
        self._calls.clear()
        self._injected.clear()
        for call in running:
            self._calls[call.call_id] = _Call(
                call.call_id, call.name, call.arguments, mark=-1, carried=True
            )

    def answer(self, call_id: str, output: str) -> list[str]:
        """The app answered carried call ``call_id``: the messages that deliver it now
        (none while a re-asked call is still awaited)."""
        call = self._calls[call_id]
        call.output = output
        if call.reask and call.alias is None:
            return []
        return self._deliver(call)

    def reasked(self, name: str, arguments: str, call_id: str) -> tuple[str, list[str]] | None:
        """A new call arrived: if it is a carried call asked again, ``(carried call id,
        messages answering it now)``; else ``None``."""
        wanted = _args(arguments)
        for call in self._calls.values():
            if (
                call.carried
                and call.reask
                and call.alias is None
                and call.name == name
                and _args(call.arguments) == wanted
            ):
                call.alias = call_id
                return call.call_id, ([] if call.output is None else self._deliver(call))
        return None

    def turn_ended(self) -> list[str]:
        """The model ended a turn: calls still awaiting a re-ask will not get one; the
        messages injecting the answers known."""
        out: list[str] = []
        for call in self._calls.values():
            if call.carried and call.reask and call.alias is None:
                call.reask = False
                if call.output is not None:
                    out.extend(self._deliver(call))
        return out

    # -- internals

    def _deliver(self, call: _Call) -> list[str]:
        if call.sent or call.output is None:
            return []
        call.sent = True
        if call.alias is not None:
            result = {"result": tool_output(call.output)}
            body = {"id": call.alias, "name": call.name, "response": result}
            return [dumps({"toolResponse": {"functionResponses": [body]}})]
        return self._inject(call)

    def _inject(self, call: _Call) -> list[str]:
        call.sent = True
        items = (
            HistoryFunctionCall(f"{call.call_id}-call", call.call_id, call.name, call.arguments),
            HistoryFunctionOutput(f"{call.call_id}-out", call.call_id, call.output or ""),
        )
        messages = replay_messages(items, MAX_MESSAGE_SIZE)
        for message in messages:
            self._injected[message] = call.call_id
        return messages


def _answered_ids(message: str, injected: dict[str, str]) -> list[str]:
    """The call ids ``message`` answers (a ``toolResponse``, or an injection of ours)."""
    if message in injected:
        return [injected[message]]
    if not message.startswith(_TOOL_RESPONSE):
        return []
    responses = json.loads(message)["toolResponse"]["functionResponses"]
    return [r["id"] for r in responses if isinstance(r.get("id"), str)]


def _without_answers(message: str, call_ids: set[str], injected: dict[str, str]) -> str:
    """``message`` without the answers to ``call_ids`` ("" if nothing is left); an
    injection of ours goes again as a new one, so the old copy goes."""
    if message in injected:
        return ""
    if not message.startswith(_TOOL_RESPONSE):
        return message
    responses = json.loads(message)["toolResponse"]["functionResponses"]
    kept = [r for r in responses if r.get("id") not in call_ids]
    if len(kept) == len(responses):
        return message
    return dumps({"toolResponse": {"functionResponses": kept}}) if kept else ""
