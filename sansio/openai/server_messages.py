"""The server-message half of :class:`~adk_realtime.sansio.openai.protocol.OpenAIProtocol`.

Theory of operation
-------------------
:class:`ServerMessageHandlers` holds one handler per server message type
(``_ROUTES`` maps the wire type to it); ``OpenAIProtocol.receive_data`` parses
the JSON, looks the type up and calls the handler, which validates every field
it reads *before* changing any state or queuing any event, so a
``DecodeError`` leaves the protocol as it was. The class is a mixin: the state
it reads and writes is created by ``OpenAIProtocol.__init__`` and declared
below for the type checker. Commands (what we send) live in ``protocol``.

Server message -> unified event (and state change)::

    session.created / session.updated             SessionCreated / SessionUpdated
    response.created                              ResponseCreated      response_id := id
    response.done                                 ResponseDone(+Usage) response_id := None
    response.output_item.added                    Unknown              current item; pending call
    response.output_audio.delta (beta audio.)     AudioDelta           audio bytes per item
    response.output_audio.done                    AudioDone
    response.output_text.delta/.done (text.)      TextDelta / TextDone
    response.output_audio_transcript.* (audio_transcript.*)  TranscriptDelta / TranscriptDone
    conversation.item.input_audio_transcription.delta/completed  InputTranscriptDelta / Done
    response.function_call_arguments.delta        FunctionCallDelta    arguments accumulate
    response.function_call_arguments.done         FunctionCallDone     name from pending (beta)
    input_audio_buffer.speech_started/stopped     SpeechStarted / SpeechStopped
    input_audio_buffer.committed / cleared        AudioCommitted / AudioCleared
    output_audio_buffer.cleared                   OutputAudioCleared
    conversation.item.added/created/done          ItemCreated
    conversation.item.truncated / deleted         ItemTruncated / ItemDeleted
    rate_limits.updated                           RateLimitsUpdated
    error                                         Error(code or type, message, event_id)
    anything else                                 Unknown(type, raw)
"""

from __future__ import annotations

import binascii
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adk_realtime.sansio.events import (
    AudioCleared,
    AudioCommitted,
    AudioDelta,
    AudioDone,
    Error,
    FunctionCallDelta,
    FunctionCallDone,
    GoAway,
    InputTranscriptDelta,
    InputTranscriptDone,
    ItemCreated,
    ItemDeleted,
    ItemTruncated,
    OutputAudioCleared,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    TextDelta,
    TextDone,
    TranscriptDelta,
    TranscriptDone,
    Unknown,
)
from adk_realtime.sansio.history import (
    ConversationRecord,
    HistoryFunctionCall,
    HistoryFunctionOutput,
    HistoryItem,
    HistoryMessage,
    Role,
)
from adk_realtime.sansio.json_fields import (
    fail,
    invalid,
    opt_int,
    opt_str,
    opt_str_or_none,
    req_dict,
    req_str,
)
from adk_realtime.sansio.openai import wire as wire
from adk_realtime.sansio.openai.conversation import InputAudioLog, TurnAudio
from adk_realtime.sansio.openai.wire import usage_of
from adk_realtime.sansio.received_audio import ReceivedAudio

__all__ = ["MAX_PENDING_CALLS", "PendingCall", "ServerMessageHandlers"]

MAX_PENDING_CALLS = 64
"""Unanswered function calls remembered (the oldest is forgotten beyond this)."""

# Wire type -> handler method. Both dialects' names are always accepted.
_ROUTES: dict[str, str] = {
    "session.created": "_on_session_created",
    "session.updated": "_on_session_updated",
    "response.created": "_on_response_created",
    "response.done": "_on_response_done",
    "response.output_item.added": "_on_output_item_added",
    "response.output_audio.delta": "_on_audio_delta",
    "response.audio.delta": "_on_audio_delta",
    "response.output_audio.done": "_on_audio_done",
    "response.audio.done": "_on_audio_done",
    "response.output_text.delta": "_on_text_delta",
    "response.text.delta": "_on_text_delta",
    "response.output_text.done": "_on_text_done",
    "response.text.done": "_on_text_done",
    "response.output_audio_transcript.delta": "_on_transcript_delta",
    "response.audio_transcript.delta": "_on_transcript_delta",
    "response.output_audio_transcript.done": "_on_transcript_done",
    "response.audio_transcript.done": "_on_transcript_done",
    "conversation.item.input_audio_transcription.delta": "_on_input_transcript_delta",
    "conversation.item.input_audio_transcription.completed": "_on_input_transcript_done",
    "response.function_call_arguments.delta": "_on_function_delta",
    "response.function_call_arguments.done": "_on_function_done",
    "input_audio_buffer.speech_started": "_on_speech_started",
    "input_audio_buffer.speech_stopped": "_on_speech_stopped",
    "input_audio_buffer.committed": "_on_committed",
    "input_audio_buffer.cleared": "_on_cleared",
    "output_audio_buffer.cleared": "_on_output_cleared",
    "conversation.item.added": "_on_item_created",
    "conversation.item.created": "_on_item_created",
    "conversation.item.done": "_on_item_created",
    "conversation.item.truncated": "_on_item_truncated",
    "conversation.item.deleted": "_on_item_deleted",
    "rate_limits.updated": "_on_rate_limits",
    "error": "_on_error",
}

_Msg = dict[str, Any]
_Handler = Callable[[_Msg, str], None]


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A function call the model made that has not been answered yet."""

    call_id: str
    name: str
    arguments: str
    item_id: str = ""


class _Call:
    """Mutable bookkeeping behind :class:`PendingCall` (arguments arrive in chunks)."""

    __slots__ = ("arguments", "done", "item_id", "name")

    def __init__(self, name: str, item_id: str) -> None:
        self.name = name
        self.item_id = item_id
        self.arguments: list[str] = []
        self.done = False  # its arguments are complete (FunctionCallDone was given)


class ServerMessageHandlers:
    """The handlers of OpenAI server messages, mixed into ``OpenAIProtocol``.

    Each ``_on_<what>(msg, etype)`` reads one decoded message, updates the
    protocol's state and queues its events; ``etype`` is the wire type (errors name it).
    """

    # The state the handlers share with the commands (set by OpenAIProtocol.__init__).
    _events: deque[ServerEvent]
    _push: Callable[[ServerEvent], None]
    _response_id: str | None
    _current_item_id: str | None
    _received: ReceivedAudio
    _calls: dict[str, _Call]
    _record: ConversationRecord
    _input: InputAudioLog
    _turn_audio: TurnAudio
    _expires_at: float | None
    _vad_end_ms: int | None
    _response_wanted: bool
    _auto_response: bool
    _provisional: deque[tuple[str, tuple[str, ...]]]

    # -- audio and text ------------------------------------------------

    def _on_audio_delta(self, msg: _Msg, etype: str) -> None:
        delta = msg.get("delta")
        item_id = msg.get("item_id")
        if type(delta) is not str:
            fail(etype, "delta", "a base64 string", delta)
        if type(item_id) is not str:
            fail(etype, "item_id", "a string", item_id)
        # (the checks of opt_str / opt_int, inline for the usual values: the hot path)
        if type(response_id := msg.get("response_id")) is not str:
            response_id = opt_str(msg, "response_id", etype)
        if type(content_index := msg.get("content_index")) is not int:
            content_index = opt_int(msg, "content_index", etype)
        try:
            audio = binascii.a2b_base64(delta, strict_mode=True)
        except (binascii.Error, ValueError):
            audio = None
        if audio is None:
            invalid(etype, "delta", "is not valid base64")
        self._received.add(item_id, len(audio))
        if item_id:
            self._current_item_id = item_id
        self._push(AudioDelta(audio, item_id, response_id, content_index))

    def _on_audio_done(self, msg: _Msg, etype: str) -> None:
        self._push(AudioDone(opt_str(msg, "item_id", etype), opt_str(msg, "response_id", etype)))

    def _on_text_delta(self, msg: _Msg, etype: str) -> None:
        delta = req_str(msg, "delta", etype)
        item_id = opt_str(msg, "item_id", etype)
        event = TextDelta(delta, item_id, opt_str(msg, "response_id", etype))
        if item_id:
            self._current_item_id = item_id
            self._message(item_id, "assistant")
            self._record.append_text(item_id, delta)
        self._push(event)

    def _on_text_done(self, msg: _Msg, etype: str) -> None:
        text = req_str(msg, "text", etype)
        item_id = opt_str(msg, "item_id", etype)
        event = TextDone(text, item_id, opt_str(msg, "response_id", etype))
        if item_id:
            self._message(item_id, "assistant")
            self._record.set_text(item_id, text)
        self._push(event)

    def _on_transcript_delta(self, msg: _Msg, etype: str) -> None:
        delta = req_str(msg, "delta", etype)
        item_id = opt_str(msg, "item_id", etype)
        event = TranscriptDelta(delta, item_id, opt_str(msg, "response_id", etype))
        if item_id:
            # Anchored at the audio received so far: where these words are (the cut).
            self._message(item_id, "assistant")
            self._record.append_text(item_id, delta, audio_ms=self._received.ms(item_id))
        self._push(event)

    def _on_transcript_done(self, msg: _Msg, etype: str) -> None:
        transcript = req_str(msg, "transcript", etype)
        item_id = opt_str(msg, "item_id", etype)
        event = TranscriptDone(transcript, item_id, opt_str(msg, "response_id", etype))
        if item_id:
            self._message(item_id, "assistant")
            self._record.set_text(item_id, transcript, spoken=True)
        self._push(event)

    def _on_input_transcript_delta(self, msg: _Msg, etype: str) -> None:
        # The SDK types leave ``delta`` optional here.
        delta = opt_str(msg, "delta", etype)
        item_id = opt_str(msg, "item_id", etype)
        if item_id:
            self._message(item_id, "user", spoken=True)
            self._record.append_text(item_id, delta)
        self._push(InputTranscriptDelta(delta, item_id))

    def _on_input_transcript_done(self, msg: _Msg, etype: str) -> None:
        transcript = req_str(msg, "transcript", etype)
        item_id = opt_str(msg, "item_id", etype)
        if item_id:
            self._message(item_id, "user", spoken=True)
            self._record.set_text(item_id, transcript, spoken=True)
        self._push(InputTranscriptDone(transcript, item_id))

    def _message(self, item_id: str, role: Role, *, spoken: bool = False) -> None:
        """Make sure the record has message ``item_id`` (at the end when new)."""
        if item_id not in self._record:
            self._record.put(HistoryMessage(item_id, role, "", spoken))

    def _cut(self, item_id: str, audio_end_ms: int) -> None:
        """Cut ``item_id``'s transcript at what the listener heard (the record's cut)."""
        self._record.cut(item_id, audio_end_ms, self._received.ms(item_id))

    # -- responses and items ---------------------------------------------

    def _on_session_created(self, msg: _Msg, etype: str) -> None:
        session = req_dict(msg, "session", etype)
        session_id = opt_str_or_none(session, "id", etype + " session")
        self._expires_at = _expires_at(session, etype)
        self._push(SessionCreated(session, session_id))

    def _on_session_updated(self, msg: _Msg, etype: str) -> None:
        session = req_dict(msg, "session", etype)
        if "expires_at" in session:
            self._expires_at = _expires_at(session, etype)
        self._push(SessionUpdated(session))

    def _on_response_created(self, msg: _Msg, etype: str) -> None:
        response = req_dict(msg, "response", etype)
        response_id = opt_str(response, "id", etype + " response")
        self._response_id = response_id or None
        self._response_wanted = True  # until its response.done (a rollover asks again)
        self._push(ResponseCreated(response_id))

    def _on_response_done(self, msg: _Msg, etype: str) -> None:
        response = req_dict(msg, "response", etype)
        where = etype + " response"
        response_id = opt_str(response, "id", where)
        status = opt_str(response, "status", where, "completed")
        usage = usage_of(response, etype)
        if self._response_id == response_id or not response_id:
            self._response_id = None
            self._response_wanted = False
        self._push(ResponseDone(response_id, status, usage, response))

    def _on_output_item_added(self, msg: _Msg, etype: str) -> None:
        item = req_dict(msg, "item", etype)
        where = etype + " item"
        item_id = opt_str(item, "id", where)
        if item.get("type") == "function_call":
            call_id = req_str(item, "call_id", where)
            name = opt_str(item, "name", where)
            self._remember_call(call_id, name, item_id)
            if item_id and item_id not in self._record:
                self._record.put(HistoryFunctionCall(item_id, call_id, name or "?", ""))
        elif item_id and item.get("type", "message") == "message":
            role = item.get("role")
            self._message(item_id, role if role in ("user", "system") else "assistant")
        if item_id:
            self._current_item_id = item_id
        self._push(Unknown(etype, msg))

    def _remember_call(self, call_id: str, name: str, item_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            if len(self._calls) >= MAX_PENDING_CALLS:
                del self._calls[next(iter(self._calls))]
            call = self._calls[call_id] = _Call(name, item_id)
        else:
            call.name = call.name or name
            call.item_id = call.item_id or item_id
        return call

    def _on_function_delta(self, msg: _Msg, etype: str) -> None:
        call_id = req_str(msg, "call_id", etype)
        delta = req_str(msg, "delta", etype)
        item_id = opt_str(msg, "item_id", etype)
        response_id = opt_str(msg, "response_id", etype)
        self._remember_call(call_id, "", item_id).arguments.append(delta)
        self._push(FunctionCallDelta(call_id, delta, item_id, response_id))

    def _on_function_done(self, msg: _Msg, etype: str) -> None:
        call_id = req_str(msg, "call_id", etype)
        arguments = req_str(msg, "arguments", etype)
        name = opt_str(msg, "name", etype)  # GA has it; beta does not
        item_id = opt_str(msg, "item_id", etype)
        response_id = opt_str(msg, "response_id", etype)
        call = self._remember_call(call_id, name, item_id)
        call.arguments = [arguments]
        call.done = True
        # The record's call gets its final arguments (under the item id we know).
        record_id = item_id or call.item_id or call_id
        self._record.put(
            HistoryFunctionCall(record_id, call_id, name or call.name or "?", arguments)
        )
        self._push(FunctionCallDone(call_id, name or call.name, arguments, item_id, response_id))

    def _on_item_created(self, msg: _Msg, etype: str) -> None:
        item = req_dict(msg, "item", etype)
        item_id = opt_str(item, "id", etype + " item")
        if item_id and item_id not in self._record:
            self._note_item(item_id, item)
        self._push(ItemCreated(item_id, item))

    def _note_item(self, item_id: str, item: _Msg) -> None:
        """Record an item the server announces: one we created (it gives our provisional
        id its own), or one we had not heard of (a user's committed speech...)."""
        recorded = item_from_server(item_id, item)
        if recorded is None:
            return
        if _as_we_send_it(item):
            key = provisional_key(recorded)
            for n, (local_id, wanted) in enumerate(self._provisional):
                if wanted == key:
                    del self._provisional[n]
                    self._record.rename(local_id, item_id)
                    return
        self._record.put(recorded)

    def _on_item_truncated(self, msg: _Msg, etype: str) -> None:
        item_id = req_str(msg, "item_id", etype)
        audio_end_ms = opt_int(msg, "audio_end_ms", etype)
        event = ItemTruncated(item_id, opt_int(msg, "content_index", etype), audio_end_ms)
        self._cut(item_id, audio_end_ms)  # (the server may truncate by itself: WebRTC)
        self._push(event)

    def _on_item_deleted(self, msg: _Msg, etype: str) -> None:
        item_id = req_str(msg, "item_id", etype)
        self._record.delete(item_id)
        self._push(ItemDeleted(item_id))

    # -- input buffer, output buffer, limits, errors -----------------------

    def _on_speech_started(self, msg: _Msg, etype: str) -> None:
        start_ms = opt_int(msg, "audio_start_ms", etype)
        event = SpeechStarted(start_ms, opt_str(msg, "item_id", etype))
        self._input.speech_started(start_ms)  # (a rollover re-sends from about there)
        self._push(event)

    def _on_speech_stopped(self, msg: _Msg, etype: str) -> None:
        audio_end_ms = opt_int(msg, "audio_end_ms", etype)
        event = SpeechStopped(audio_end_ms, opt_str(msg, "item_id", etype))
        self._vad_end_ms = audio_end_ms  # the commit that follows ends the turn there
        self._push(event)

    def _on_committed(self, msg: _Msg, etype: str) -> None:
        item_id = opt_str(msg, "item_id", etype)
        event = AudioCommitted(item_id, opt_str_or_none(msg, "previous_item_id", etype))
        if self._vad_end_ms is not None:
            # Server VAD: the turn holds the input up to speech_stopped's audio_end_ms,
            # and the server answers it by itself where create_response is on.
            self._input.commit_to(self._vad_end_ms)
            self._vad_end_ms = None
            if self._auto_response:
                self._response_wanted = True
        if item_id:
            self._message(item_id, "user", spoken=True)
            self._turn_audio.keep(item_id, self._input.take_committed())
        self._push(event)

    def _on_cleared(self, msg: _Msg, etype: str) -> None:
        self._input.clear()
        self._vad_end_ms = None
        self._push(AudioCleared())

    def _on_output_cleared(self, msg: _Msg, etype: str) -> None:
        self._push(OutputAudioCleared(opt_str(msg, "response_id", etype)))

    def _on_rate_limits(self, msg: _Msg, etype: str) -> None:
        limits = msg.get("rate_limits")
        if type(limits) is not list:
            fail(etype, "rate_limits", "an array", limits)
        for limit in limits:
            if type(limit) is not dict:
                fail(etype, "rate_limits[]", "an object", limit)
        self._push(RateLimitsUpdated(tuple(limits)))

    def _on_error(self, msg: _Msg, etype: str) -> None:
        error = req_dict(msg, "error", etype)
        where = etype + " error"
        message = opt_str(error, "message", where)
        code = opt_str_or_none(error, "code", where)
        kind = opt_str_or_none(error, "type", where)
        opt_str_or_none(error, "event_id", where)  # the failed client event; we set none
        event_id = opt_str_or_none(msg, "event_id", etype)
        if code == wire.SESSION_EXPIRED_CODE:
            # The session hit its maximum duration and the server closes it: the
            # conversation goes on on a fresh session (a rollover), not an error.
            self._push(GoAway(0.0))
            return
        benign = code in wire.BENIGN_ERROR_CODES
        self._push(Error(code if code is not None else kind, message, event_id, benign))


def _expires_at(session: _Msg, etype: str) -> float | None:
    """``session.expires_at`` in unix seconds; ``None`` when absent, null or 0."""
    value = session.get("expires_at")
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        fail(etype + " session", "expires_at", "a non-negative number", value)
    return float(value) or None


def _text_of(value: Any) -> str:
    return value if type(value) is str else ""


def item_from_server(item_id: str, item: _Msg) -> HistoryItem | None:
    """A server's conversation item as a history item (read leniently: a field of an
    unexpected shape reads as empty), or ``None`` for a kind the record does not keep."""
    kind = item.get("type", "message")
    if kind in ("function_call", "function_call_output"):
        call_id = _text_of(item.get("call_id"))
        if not call_id:
            return None
        if kind == "function_call_output":
            return HistoryFunctionOutput(item_id, call_id, _text_of(item.get("output")))
        name = _text_of(item.get("name")) or "?"
        return HistoryFunctionCall(item_id, call_id, name, _text_of(item.get("arguments")))
    if kind != "message":
        return None
    role = item.get("role")
    texts: list[str] = []
    spoken = image = False
    content = item.get("content")
    for part in content if type(content) is list else ():
        if type(part) is dict:
            spoken = spoken or part.get("type") in ("input_audio", "audio", "output_audio")
            image = image or part.get("type") == "input_image"
            texts.append(_text_of(part.get("text")) or _text_of(part.get("transcript")))
    if image and not any(texts):
        return None  # an image only (send_image): the record keeps text, not images
    return HistoryMessage(
        item_id, role if role in ("user", "system") else "assistant", "".join(texts), spoken
    )


def _as_we_send_it(item: _Msg) -> bool:
    """True for an item shaped like the ones ``ItemCreate`` sends: a text message (one
    text part) or a function call output, so a response's own items never match."""
    if item.get("type") == "function_call_output":
        return True
    content = item.get("content")
    return (
        type(content) is list
        and len(content) == 1
        and type(content[0]) is dict
        and content[0].get("type") in ("input_text", "text", "output_text")
    )


def provisional_key(item: HistoryItem) -> tuple[str, ...]:
    """What matches an item we created (without an id) with the server's announcement."""
    if isinstance(item, HistoryMessage):
        return ("message", item.role, item.text)
    if isinstance(item, HistoryFunctionOutput):
        return ("function_call_output", item.call_id)
    return ("function_call", item.call_id)
