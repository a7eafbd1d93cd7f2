"""The server side of the OpenAI Realtime protocol (GA and beta dialects), simulated.

Theory of operation
-------------------
One :class:`OpenAISimSession` is one WebSocket (or WebRTC data channel) session. It opens by
queueing ``session.created``. Client events are JSON objects dispatched on ``type`` through
``_HANDLERS``; anything malformed is answered with an ``error`` event (as the real service does)
and changes nothing. The dialect is fixed at open: beta when the
``OpenAI-Beta: realtime=v1`` header is present (any model), else GA; it only
changes names and shapes (``response.audio.delta`` vs ``response.output_audio.delta``,
``conversation.item.created`` vs ``conversation.item.added``/``.done``, the session object in
``openai_config.py``).

At most one response is active, as on the real service:

    idle --response.create | VAD speech stop--> active --last chunk due--> idle (completed)
    active --speech_started (interrupt_response) | response.cancel | truncate--> idle (cancelled)

Input audio goes through the energy VAD (when ``turn_detection`` is set) and the tone-code
recognizer, both in input-audio time (ms from the connection's first append); speech stop
commits the buffer *up to* ``speech_stopped.audio_end_ms`` as a user item whose transcript is
what the recognizer heard (the rest stays buffered for the next turn; see ``openai_items.py``),
then (``create_response``) starts a response. A session cap (``session_max_seconds``) shows
in ``session.expires_at`` and ends the session with a ``session_expired`` error and a 1001 close.
With ``transport="webrtc"`` the session also plays the server's output audio buffer:
``output_audio_buffer.started/stopped/cleared`` and the ``output_audio_buffer.clear`` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from adk_realtime.sansio.config import AudioEncoding
from adk_realtime.sansio.sim.core import (
    CallTool,
    Playout,
    Say,
    SimSessionBase,
    SimSettings,
    ToolSpec,
    Turn,
    b64decode_any,
    heard_text,
    is_unicode,
    lone_surrogate_at,
    pcm_to_float,
    tool_calls,
)
from adk_realtime.sansio.sim.openai_config import (
    FORMATS_BETA,
    ClientError,
    default_config,
    obj,
    parse_ga_format,
    parse_update,
    render_format,
    render_session,
    text,
)
from adk_realtime.sansio.sim.openai_items import (
    InputAudioBuffer,
    SimItem,
    input_rate,
    item_turns,
    item_wire,
    parse_item,
)
from adk_realtime.sansio.sim.speech import EnergyVad, SpeechRecognizer

__all__ = ["OpenAISimSession"]

_MAX_ITEMS = 1000  # conversation items kept (oldest dropped), like the service's context limit
_EAGERNESS_SILENCE_MS = {"low": 1200, "medium": 600, "high": 250, "auto": 600}
_RATE_LIMITS = [
    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
    {"name": "tokens", "limit": 400000, "remaining": 399000, "reset_seconds": 0.15},
]


@dataclass(slots=True)
class _Response:
    id: str
    modalities: list[str]
    voice: str
    out_format: AudioEncoding
    metadata: Any
    in_conversation: bool
    max_output_tokens: Any
    output: list[SimItem] = field(default_factory=list)
    item: SimItem | None = None  # the message being spoken/written
    playout: Playout | None = None


class OpenAISimSession(SimSessionBase):
    """A simulated OpenAI Realtime session. Create it with ``SimulatorHub.open_session``."""

    kind = "openai"

    def __init__(
        self,
        settings: SimSettings,
        now: float,
        seed: int,
        *,
        model: str,
        beta: bool,
        webrtc: bool = False,
        wall_now: float | None = None,
        drop_after: float | None = None,
        cfg: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(settings, now, seed, wall_now=wall_now, drop_after=drop_after)
        self.model, self.beta, self.webrtc = model, beta, webrtc
        self.session_id = self._new_id("sess_")
        self.conversation_id = self._new_id("conv_")
        self.items: list[SimItem] = []
        self.cfg = dict(cfg) if cfg is not None else default_config(beta)  # a SIP call's accept
        self._resp: _Response | None = None
        self._playing: tuple[str, SimItem, float, float] | None = (
            None  # webrtc: resp, item, t0, end
        )
        self._input = InputAudioBuffer()
        self._speech_item: str | None = None
        self._audio_spoken = False
        self._make_ears(0.0)
        session = self._session_object()
        if settings.openai_session_extras and not beta:
            # Real servers add these; the SDK's session type does not declare them.
            session.update({"id": self.session_id, "object": "realtime.session"})
            session.setdefault("expires_at", 0)
        self._emit("session.created", session=session)
        if beta:
            conv = {"id": self.conversation_id, "object": "realtime.conversation"}
            self._emit("conversation.created", conversation=conv)

    # -- plumbing --------------------------------------------------------------------------------
    def _emit(self, type_: str, **fields: Any) -> None:
        self._send({"type": type_, "event_id": self._new_id("event_"), **fields})

    def _name(self, ga: str, beta: str) -> str:
        return beta if self.beta else ga

    def _rate(self) -> int:
        return input_rate(self.cfg["in_format"])

    def _make_ears(self, origin_ms: float) -> None:
        td = self.cfg["turn_detection"] or {}
        silence = td.get("silence_duration_ms", 200)
        if td.get("type") == "semantic_vad":
            silence = _EAGERNESS_SILENCE_MS.get(td.get("eagerness") or "auto", 600)
        self._vad = EnergyVad(
            self._rate(),
            threshold=td.get("threshold", 0.5),
            prefix_padding_ms=td.get("prefix_padding_ms", 300),
            silence_duration_ms=silence,
            origin_ms=origin_ms,
        )
        self._ears = SpeechRecognizer(self._rate())

    def _error(self, err: ClientError, client_event_id: str | None) -> None:
        self.stats.errors += 1
        error: dict[str, Any] = {"type": "invalid_request_error", "code": err.code}
        error.update(message=err.message, param=err.param, event_id=client_event_id)
        self._emit("error", error=error)

    # -- wire shapes ---------------------------------------------------------------------------------
    def _item_wire(self, item: SimItem) -> dict[str, Any]:
        return item_wire(item, self.beta)

    def _response_wire(
        self, r: _Response, status: str, details: Any = None, usage: Any = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": r.id, "object": "realtime.response", "status": status}
        out["status_details"] = details
        out["output"] = [self._item_wire(i) for i in r.output]
        out["conversation_id"] = self.conversation_id if r.in_conversation else None
        out.update(max_output_tokens=r.max_output_tokens, usage=usage, metadata=r.metadata)
        fmt = render_format(r.out_format, self.beta)
        if self.beta:
            out.update(modalities=r.modalities, voice=r.voice, output_audio_format=fmt)
            out["temperature"] = self.cfg["temperature"]
        else:
            out["output_modalities"] = r.modalities
            out["audio"] = {"output": {"format": fmt, "voice": r.voice}}
        return out

    def _usage(self, r: _Response) -> dict[str, Any]:
        said = sum(len(i.text) for i in self.items if i.role in ("user", "system"))
        in_text = (said + len(self.cfg["instructions"])) // 4
        in_audio = int(self.stats.audio_received_ms // 100)
        out_text = sum(len(i.text) + len(i.arguments) for i in r.output) // 4
        out_audio = int(r.playout.ms_sent // 50) if r.playout and r.playout.render.ms else 0
        details: dict[str, Any] = {
            "text_tokens": in_text,
            "audio_tokens": in_audio,
            "cached_tokens": 0,
        }
        if not self.beta:
            details["cached_tokens_details"] = {
                "text_tokens": 0,
                "audio_tokens": 0,
                "image_tokens": 0,
            }
            details["image_tokens"] = 0
        return {
            "total_tokens": in_text + in_audio + out_text + out_audio,
            "input_tokens": in_text + in_audio,
            "output_tokens": out_text + out_audio,
            "input_token_details": details,
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    def _announce(self, item: SimItem, *, done: bool) -> None:
        """conversation.item.created (beta) or conversation.item.added/.done (GA)."""
        if self.beta and done:
            return
        index = next((n for n, it in enumerate(self.items) if it is item), 0)
        previous = self.items[index - 1].id if index > 0 else None
        kind = "conversation.item.created" if self.beta else "conversation.item.added"
        kind = "conversation.item.done" if done else kind
        self._emit(kind, previous_item_id=previous, item=self._item_wire(item))

    def _add_item(self, item: SimItem, after: str | None = None) -> None:
        index = len(self.items)
        if after is not None:
            index = next(n for n, it in enumerate(self.items) if it.id == after) + 1
        self.items.insert(index, item)
        if len(self.items) > _MAX_ITEMS:
            del self.items[0]

    def turns(self) -> list[Turn]:
        """The conversation as the brain sees it."""
        return item_turns(self.items)

    # -- dispatch --------------------------------------------------------------------------------------
    def _on_message(self, message: str | bytes, now: float) -> None:
        event_id: str | None = None
        try:
            try:
                event = json.loads(message)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ClientError(f"Invalid JSON in client event: {exc}", "invalid_json") from None
            if not isinstance(event, dict):
                raise ClientError("Client events must be JSON objects.", "invalid_json")
            if isinstance(event.get("event_id"), str) and is_unicode(event["event_id"]):
                event_id = event["event_id"]  # echoed in an error: it must have a UTF-8 form
            where = lone_surrogate_at(message, event)
            if where is not None:
                msg = f"Invalid Unicode at '{where[:64]}': a lone surrogate is not a character."
                raise ClientError(msg, "invalid_value", where[:64])
            kind = event.get("type")
            if kind is None:
                msg = "Missing required parameter: 'type'."
                raise ClientError(msg, "missing_required_parameter", "type")
            handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
            if handler is None:
                supported = ", ".join(f"'{k}'" for k in _HANDLERS)
                msg = f"Invalid value: {str(kind)[:64]!r}. Supported values are: {supported}."
                raise ClientError(msg, "invalid_value", "type")
            handler(self, event, now)
        except ClientError as err:
            self._error(err, event_id)

    def _session_object(self) -> dict[str, Any]:
        """The session of ``session.created``/``.updated``; with a cap, ``expires_at`` (unix s),
        which the real service sends and the SDK's session types do not declare."""
        session = render_session(self.cfg, self.beta, self.model, self.session_id)
        if self._settings.session_max_seconds is not None:
            session["expires_at"] = self.expires_at
        return session

    def _warns_before_end(self) -> bool:
        # Only the older go_away_after spelling warns ahead; the real service errs at the cap.
        return self._settings.go_away_after is not None

    def _on_expiry(self, now: float, time_left: float) -> None:
        minutes = (now - self.opened_at) / 60
        msg = f"Your session hit the maximum duration of {minutes:g} minutes."
        self._error(ClientError(msg, "session_expired"), None)

    def _on_session_end(self, now: float) -> None:
        if self._settings.go_away_after is not None:
            super()._on_session_end(now)  # the error came go_away_time_left ago: close 1000
            return
        # As the real service: the error, then a close 1001 ("going away") saying the same.
        minutes = (self._settings.session_max_seconds or 0.0) / 60
        msg = f"Your session hit the maximum duration of {minutes:g} minutes."
        self._error(ClientError(msg, "session_expired"), None)
        self._close(1001, msg)

    def _release_input(self) -> bytes:
        return self._input.take_all()

    def _ledger_commit(self, audio: bytes) -> None:
        if self._settings.ledger is not None:
            self._settings.ledger.commit(audio)

    def _session_update(self, event: dict[str, Any], now: float) -> None:
        cfg = parse_update(event.get("session"), self.cfg, self.beta)
        if cfg["voice"] != self.cfg["voice"] and self._audio_spoken:
            msg = "Cannot update a conversation's voice if assistant audio is present."
            raise ClientError(msg, "cannot_update_voice", "session.voice")
        ears = ("in_format", "turn_detection")
        changed = any(cfg[k] != self.cfg[k] for k in ears)
        self.cfg = cfg
        if changed:
            self._make_ears(self._input.end_ms)  # the new VAD's frame 0 is the next byte
        self._emit("session.updated", session=self._session_object())

    # -- input audio ---------------------------------------------------------------------------------
    def _append(self, event: dict[str, Any], now: float) -> None:
        audio = b64decode_any(text(event.get("audio"), "audio"))
        if audio is None:
            msg = "Invalid 'audio'. Expected base64-encoded audio bytes, but got a value that could not be decoded."
            raise ClientError(msg, "invalid_value", "audio")
        samples = pcm_to_float(audio, self.cfg["in_format"])
        self.stats.audio_received_ms += samples.size * 1000 / self._rate()
        start_ms = self._input.end_ms
        overflow = self._input.append(audio, self.cfg["in_format"])
        if overflow and self._settings.ledger is not None:
            self._settings.ledger.clear(overflow, overflow=True)
        vad_events = self._vad.feed(samples) if self.cfg["turn_detection"] is not None else []
        fed = 0  # samples of this append the ears have heard: a turn hears up to its cut only
        for vad_event in vad_events:
            if vad_event.kind == "start":
                self._speech_started(vad_event.ms, now)
                continue
            cut = round((vad_event.ms - start_ms) * self._rate() / 1000)
            cut = min(max(cut, fed), samples.size)
            self._ears.feed_samples(samples[fed:cut])
            fed = cut
            self._speech_stopped(vad_event.ms, now)
        self._ears.feed_samples(samples[fed:])

    def _speech_started(self, ms: int, now: float) -> None:
        self._speech_item = self._new_id("item_")
        self._emit(
            "input_audio_buffer.speech_started", audio_start_ms=ms, item_id=self._speech_item
        )
        if self.cfg["turn_detection"]["interrupt_response"]:
            if self._resp is not None:
                self._cancel("turn_detected", now)
            elif self.webrtc:
                self._clear_playback(now)

    def barge_in(self, now: float) -> None:
        """A scripted interruption: the user starts speaking now. Queues ``speech_started`` and
        cancels the response in progress (as server VAD with ``interrupt_response``); then
        send :meth:`data_to_send` and re-arm the timer."""
        if self._ended:
            return
        self._speech_item = self._new_id("item_")
        where = {"audio_start_ms": int(self._input.end_ms), "item_id": self._speech_item}
        self._emit("input_audio_buffer.speech_started", **where)
        self._cancel("turn_detected", now)

    def speech_end(self, now: float) -> None:
        """The scripted interruption's speech stops: with server VAD, ``speech_stopped``, the
        buffer committed and (``create_response``) a response; then send and re-arm."""
        if self._ended or self._speech_item is None or self.cfg["turn_detection"] is None:
            return
        self._speech_stopped(int(self._input.end_ms), now)
        self._pump(now)

    def _speech_stopped(self, ms: int, now: float) -> None:
        item_id = self._speech_item or self._new_id("item_")
        self._speech_item = None
        self._emit("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item_id)
        # The turn is the buffer up to audio_end_ms; what came after stays for the next one.
        self._commit_buffer(item_id, self._input.take_until(ms))
        if self.cfg["turn_detection"]["create_response"] and self._resp is None:
            self._start_response({}, now)

    def _commit_buffer(self, item_id: str, audio: bytes) -> None:
        heard = self._ears.text
        self._ears.reset()
        self._ledger_commit(audio)
        item = SimItem(item_id, "message", "user", "input_audio", heard, show_transcript=False)
        self._add_item(item)
        previous = self.items[-2].id if len(self.items) > 1 else None
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        self._announce(item, done=False)
        self._announce(item, done=True)
        if self.cfg["transcription"] is not None:
            item.show_transcript = True
            where = {"item_id": item_id, "content_index": 0}
            self._emit("conversation.item.input_audio_transcription.delta", **where, delta=heard)
            usage = {"type": "duration", "seconds": round(self.stats.audio_received_ms / 1000, 3)}
            kind = "conversation.item.input_audio_transcription.completed"
            self._emit(kind, **where, transcript=heard, usage=usage)

    def _commit(self, event: dict[str, Any], now: float) -> None:
        if self._input.ms < 100:
            msg = (
                "Error committing input audio buffer: buffer too small. Expected at least 100ms "
                f"of audio, but buffer only has {self._input.ms:.2f}ms of audio."
            )
            raise ClientError(msg, "input_audio_buffer_commit_empty")
        item_id = self._speech_item or self._new_id("item_")
        self._speech_item = None
        self._vad.force_stop()
        self._commit_buffer(item_id, self._input.take_all())

    def _clear(self, event: dict[str, Any], now: float) -> None:
        self._ears.reset()
        self._vad.reset_state()
        cleared = self._input.take_all()
        if self._settings.ledger is not None:
            self._settings.ledger.clear(cleared)
        self._speech_item = None
        self._emit("input_audio_buffer.cleared")

    # -- conversation items ---------------------------------------------------------------------------
    def _find(self, item_id: Any, param: str = "item_id") -> SimItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise ClientError(
            f"Item with item_id not found: {str(item_id)[:64]}", "item_not_found", param
        )

    def _item_create(self, event: dict[str, Any], now: float) -> None:
        after = event.get("previous_item_id")
        if after is not None:
            self._find(after, "previous_item_id")
        new_id = partial(self._new_id, "item_")
        item = parse_item(event.get("item"), self.items, self.cfg["in_format"], new_id)
        self._add_item(item, after)
        self._announce(item, done=False)
        self._announce(item, done=True)

    def _item_delete(self, event: dict[str, Any], now: float) -> None:
        item = self._find(event.get("item_id"))
        if self._resp is not None and item in self._resp.output:
            raise ClientError(
                "Cannot delete an item of the active response.", "invalid_value", "item_id"
            )
        self.items.remove(item)
        self._emit("conversation.item.deleted", item_id=item.id)

    def _item_retrieve(self, event: dict[str, Any], now: float) -> None:
        item = self._find(event.get("item_id"))
        self._emit("conversation.item.retrieved", item=self._item_wire(item))

    def _item_truncate(self, event: dict[str, Any], now: float) -> None:
        item = self._find(event.get("item_id"))
        end = event.get("audio_end_ms")
        if not isinstance(end, int) or isinstance(end, bool) or end < 0:
            msg = "Invalid 'audio_end_ms': must be a non-negative integer."
            raise ClientError(msg, "invalid_value", "audio_end_ms")
        if item.role != "assistant" or item.part != "output_audio":
            msg = "Only assistant messages with audio can be truncated."
            raise ClientError(msg, "invalid_value", "item_id")
        if event.get("content_index", 0) != 0:
            msg = "Invalid 'content_index': the item has one content part (0)."
            raise ClientError(msg, "invalid_value", "content_index")
        active = self._resp is not None and self._resp.item is item
        playout = self._resp.playout if active and self._resp is not None else None
        length = playout.render.ms if playout is not None else item.audio_ms
        if end > length + 0.5:
            msg = f"Audio content of {int(length)}ms is already shorter than {end}ms"
            raise ClientError(msg, "invalid_value", "audio_end_ms")
        if active:
            self._cancel("client_cancelled", now)  # stop generating what will not be heard
            end = min(end, int(item.audio_ms))  # clamp to the audio actually sent
        item.audio_ms = float(end)
        item.text = heard_text(item.full_text, end)
        self._emit(
            "conversation.item.truncated", item_id=item.id, content_index=0, audio_end_ms=end
        )

    # -- responses --------------------------------------------------------------------------------------
    def _response_create(self, event: dict[str, Any], now: float) -> None:
        if self._resp is not None:
            msg = (
                f"Conversation already has an active response in progress: {self._resp.id}. "
                "Wait until the response is finished before creating a new one."
            )
            raise ClientError(msg, "conversation_already_has_active_response")
        self._start_response(obj(event.get("response") or {}, "response"), now)

    def _response_cancel(self, event: dict[str, Any], now: float) -> None:
        wanted = event.get("response_id")
        if self._resp is None or (wanted is not None and wanted != self._resp.id):
            raise ClientError(
                "Cancellation failed: no active response found", "response_cancel_not_active"
            )
        self._cancel("client_cancelled", now)

    def _output_clear(self, event: dict[str, Any], now: float) -> None:
        if not self.webrtc:
            msg = "output_audio_buffer.clear is only supported for WebRTC and SIP sessions."
            raise ClientError(msg, "invalid_value", "type")
        if self._resp is not None:
            self._cancel("client_cancelled", now)
        else:
            self._clear_playback(now)

    def _response_params(self, p: dict[str, Any]) -> tuple[_Response, list[ToolSpec], str]:
        """Validate response.create's ``response`` (all of it, before anything changes)."""
        c = self.cfg
        mods = p.get("modalities" if self.beta else "output_modalities", c["modalities"])
        if not isinstance(mods, list) or not mods or any(m not in ("text", "audio") for m in mods):
            where = "response.modalities" if self.beta else "response.output_modalities"
            raise ClientError("Invalid output modalities.", "invalid_value", where)
        voice, fmt = c["voice"], c["out_format"]
        if self.beta:
            voice = p.get("voice", voice)
            if "output_audio_format" in p:
                wanted = p["output_audio_format"]
                beta_fmt = FORMATS_BETA.get(wanted) if isinstance(wanted, str) else None
                if beta_fmt is None:
                    raise ClientError(
                        "Invalid output_audio_format.",
                        "invalid_value",
                        "response.output_audio_format",
                    )
                fmt = beta_fmt
        else:
            out = obj(
                obj(p.get("audio", {}), "response.audio").get("output", {}), "response.audio.output"
            )
            voice = out.get("voice", voice)
            if "format" in out:
                fmt = parse_ga_format(out["format"], "response.audio.output.format")
        instructions = text(p.get("instructions", c["instructions"]), "response.instructions")
        tools_raw = p.get("tools", c["tools"])
        if not isinstance(tools_raw, list):
            raise ClientError(
                "Invalid type for 'response.tools': expected an array.",
                "invalid_type",
                "response.tools",
            )
        metadata = p.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
        ):
            raise ClientError(
                "Invalid 'response.metadata': a map of strings.",
                "invalid_value",
                "response.metadata",
            )
        limit = p.get(
            "max_output_tokens", p.get("max_response_output_tokens", c["max_output_tokens"])
        )
        if limit != "inf" and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ClientError(
                "Invalid 'max_output_tokens'.", "invalid_value", "response.max_output_tokens"
            )
        choice = p.get("tool_choice", c["tool_choice"])
        tools = [
            ToolSpec(t["name"], str(t.get("description", "")), t.get("parameters") or {})
            for t in tools_raw
            if isinstance(t, dict) and isinstance(t.get("name"), str) and choice != "none"
        ]
        in_conv = p.get("conversation", "auto") != "none"
        r = _Response(self._new_id("resp_"), list(mods), str(voice), fmt, metadata, in_conv, limit)
        return r, tools, instructions

    def _start_response(self, params: dict[str, Any], now: float) -> None:
        r, tools, instructions = self._response_params(params)
        self._resp = r
        self.stats.responses += 1
        self._emit("response.created", response=self._response_wire(r, "in_progress"))
        reply = self._settings.brain.reply(self.turns(), tools, instructions)
        if not isinstance(reply, Say):
            for index, call in enumerate(tool_calls(reply)):
                self._emit_call(r, call, index)
            self._finish(r, "completed", None)
            return
        audio = "audio" in r.modalities
        part = "output_audio" if audio else "output_text"
        item = SimItem(self._new_id("item_"), "message", "assistant", part, status="in_progress")
        item.full_text = reply.text
        r.item = item
        r.output.append(item)
        self._emit(
            "response.output_item.added",
            response_id=r.id,
            output_index=0,
            item=self._item_wire(item),
        )
        if r.in_conversation:
            self._add_item(item)
            self._announce(item, done=False)
        where = {"response_id": r.id, "item_id": item.id, "output_index": 0, "content_index": 0}
        wire_part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        self._emit("response.content_part.added", **where, part=wire_part)
        render = self._settings.render(reply.text, r.out_format if audio else None, 24000)
        r.playout = Playout(render, now, (self._settings.chunk_ms / 1000) * self._settings.pace)
        if audio:
            self._audio_spoken = True
            if self.webrtc:
                self._emit("output_audio_buffer.started", response_id=r.id)

    def _emit_call(self, r: _Response, call: CallTool, index: int) -> None:
        args = json.dumps(dict(call.arguments))
        item = SimItem(self._new_id("item_"), "function_call", name=call.name, status="in_progress")
        item.call_id = self._new_id("call_", 16)
        r.output.append(item)
        self.stats.tool_calls += 1
        self._emit(
            "response.output_item.added",
            response_id=r.id,
            output_index=index,
            item=self._item_wire(item),
        )
        if r.in_conversation:
            self._add_item(item)
            self._announce(item, done=False)
        where = {
            "response_id": r.id,
            "item_id": item.id,
            "output_index": index,
            "call_id": item.call_id,
        }
        half = len(args) // 2
        for piece in (args[:half], args[half:]):
            self._emit("response.function_call_arguments.delta", **where, delta=piece)
        named = {} if self.beta else {"name": call.name}
        self._emit("response.function_call_arguments.done", **where, arguments=args, **named)
        item.arguments, item.status = args, "completed"
        self._emit(
            "response.output_item.done",
            response_id=r.id,
            output_index=index,
            item=self._item_wire(item),
        )
        if r.in_conversation:
            self._announce(item, done=True)

    def _next_due(self) -> float | None:
        if self._resp is not None and self._resp.playout is not None:
            return self._resp.playout.next_due()
        return self._playing[3] if self._playing is not None else None

    def _pump(self, now: float) -> None:
        if self._playing is not None and now >= self._playing[3]:
            self._emit("output_audio_buffer.stopped", response_id=self._playing[0])
            self._playing = None
        r = self._resp
        if r is None or r.playout is None or r.item is None:
            return
        where = {"response_id": r.id, "item_id": r.item.id, "output_index": 0, "content_index": 0}
        audio = r.playout.render.ms > 0
        audio_delta = self._name("response.output_audio.delta", "response.audio.delta")
        transcript_delta = self._name(
            "response.output_audio_transcript.delta", "response.audio_transcript.delta"
        )
        text_delta = self._name("response.output_text.delta", "response.text.delta")
        for chunk in r.playout.take_due(now):
            if audio:
                self._emit(audio_delta, **where, delta=chunk.audio_b64)
                self.stats.audio_sent_ms += chunk.ms
                if chunk.text:
                    self._emit(transcript_delta, **where, delta=chunk.text)
            else:
                self._emit(text_delta, **where, delta=chunk.text)
        if r.playout.finished:
            self._close_item(r, "completed", now)
            self._finish(r, "completed", None)

    def _close_item(self, r: _Response, status: str, now: float) -> None:
        """Emit the done events of the message being said, with what was sent so far."""
        item, p = r.item, r.playout
        if item is None or p is None:
            return
        item.text, item.audio_ms, item.status = p.text_sent, p.ms_sent, status
        where = {"response_id": r.id, "item_id": item.id, "output_index": 0, "content_index": 0}
        part: dict[str, Any]
        if p.render.ms > 0:
            self._emit(self._name("response.output_audio.done", "response.audio.done"), **where)
            kind = self._name(
                "response.output_audio_transcript.done", "response.audio_transcript.done"
            )
            self._emit(kind, **where, transcript=item.text)
            part = {"type": "audio", "transcript": item.text}
            if self.webrtc and status == "completed":
                self._playing = (r.id, item, p.t0, p.t0 + p.ms_sent / 1000)
        else:
            self._emit(
                self._name("response.output_text.done", "response.text.done"),
                **where,
                text=item.text,
            )
            part = {"type": "text", "text": item.text}
        self._emit("response.content_part.done", **where, part=part)
        self._emit(
            "response.output_item.done",
            response_id=r.id,
            output_index=0,
            item=self._item_wire(item),
        )
        if r.in_conversation:
            self._announce(item, done=True)

    def _finish(self, r: _Response, status: str, details: Any) -> None:
        self._resp = None
        if status == "cancelled":
            self.stats.responses_cancelled += 1
        self._emit(
            "response.done", response=self._response_wire(r, status, details, self._usage(r))
        )
        self._emit("rate_limits.updated", rate_limits=_RATE_LIMITS)

    def _cancel(self, reason: str, now: float) -> None:
        r = self._resp
        if r is None:
            return
        if r.item is not None and r.playout is not None and r.playout.render.ms > 0 and self.webrtc:
            self._emit("output_audio_buffer.cleared", response_id=r.id)
        self._close_item(r, "incomplete", now)
        self._finish(r, "cancelled", {"type": "cancelled", "reason": reason})

    def _clear_playback(self, now: float) -> None:
        """WebRTC: the user interrupted audio still playing; clear it and truncate the item."""
        if self._playing is None:
            return
        resp_id, item, t0, _ = self._playing
        self._playing = None
        self._emit("output_audio_buffer.cleared", response_id=resp_id)
        heard = int(min(item.audio_ms, max(0.0, (now - t0) * 1000)))
        item.audio_ms, item.text = float(heard), heard_text(item.full_text, heard)
        self._emit(
            "conversation.item.truncated", item_id=item.id, content_index=0, audio_end_ms=heard
        )


_Handler = Callable[[OpenAISimSession, dict[str, Any], float], None]
_HANDLERS: dict[str, _Handler] = {
    "session.update": OpenAISimSession._session_update,
    "input_audio_buffer.append": OpenAISimSession._append,
    "input_audio_buffer.commit": OpenAISimSession._commit,
    "input_audio_buffer.clear": OpenAISimSession._clear,
    "conversation.item.create": OpenAISimSession._item_create,
    "conversation.item.delete": OpenAISimSession._item_delete,
    "conversation.item.retrieve": OpenAISimSession._item_retrieve,
    "conversation.item.truncate": OpenAISimSession._item_truncate,
    "response.create": OpenAISimSession._response_create,
    "response.cancel": OpenAISimSession._response_cancel,
    "output_audio_buffer.clear": OpenAISimSession._output_clear,
}
