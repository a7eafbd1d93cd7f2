"""The server side of the Gemini Live protocol (``BidiGenerateContent``), simulated.

Theory of operation
-------------------
One :class:`GeminiSimSession` is one WebSocket. Client messages are JSON objects with exactly one
of ``setup``, ``clientContent``, ``realtimeInput``, ``toolResponse``; keys are accepted in
camelCase or snake_case (normalised on entry, except inside user data such as function ``args``
and schemas) and base64 in the standard or URL-safe alphabet. Server messages are camelCase.
The real service answers a malformed message by closing the socket, so this does too: 1007 for
a payload it cannot parse, 1008 for a message the session state does not allow.

    await_setup --setup--> ready (setupComplete [+ sessionResumptionUpdate])
    ready: idle --user turn ends--> generating --last chunk--> idle (generationComplete,
           turnComplete, sessionResumptionUpdate)
           idle --brain calls a tool--> awaiting_tool --toolResponse (all ids)--> generating
           generating|awaiting_tool --user starts speaking--> idle (interrupted /
           toolCallCancellation)
    any --session time up--> goAway(timeLeft) --timeLeft later--> close 1000

A user turn ends when the energy VAD hears speech stop (automatic activity detection), at
``activityEnd`` (manual), at ``audioStreamEnd`` during speech, on ``realtimeInput.text`` or on
``clientContent`` with ``turnComplete``. What the user said is what the tone-code recognizer heard.
With ``sessionResumption`` in setup, the conversation is stored in the hub's registry under a
fresh handle after every turn; a later ``setup`` carrying that handle continues it.

Transparent resumption (``sessionResumption.transparent``): every ``sessionResumptionUpdate``
also carries ``lastConsumedClientMessageIndex``, the index of the last client message of *this
connection* the update covers, counting the ``setup`` as 0 (a resumed connection counts from
its own setup again). An update comes after setup, before each ``turnComplete``, and whenever
25 client messages have arrived since the last one while the session is idle (none while the
model speaks or waits for tool responses: the real service says ``resumable: false`` then). Its
handle also keeps the ears mid-utterance, so a client that resumes and re-sends the messages
after the index has every message heard exactly once. The input ledger (``record_input``)
commits the audio an update covers; without transparent resumption, what was heard when a
user audio turn ends.

Seeded history (``historyConfig.initialHistoryInClientContent``): after setup, ``clientContent``
turns (text, ``functionCall`` and ``functionResponse`` parts) are remembered as history, until
one with ``turnComplete``, and start no model turn; ``realtimeInput`` or ``toolResponse`` before
that closes the socket (1008).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from adk_realtime.sansio.config import AudioEncoding
from adk_realtime.sansio.sim.core import (
    Playout,
    ResumptionRegistry,
    ResumptionState,
    Say,
    SimSessionBase,
    SimSettings,
    ToolSpec,
    Turn,
    b64decode_any,
    format_duration,
    lone_surrogate_at,
    pcm_to_float,
    tool_calls,
)
from adk_realtime.sansio.sim.speech import EnergyVad, SpeechRecognizer

__all__ = ["GeminiSimSession"]

_OPAQUE = frozenset(
    {
        "args",
        "response",
        "parameters",
        "parametersJsonSchema",
        "responseJsonSchema",
        "responseSchema",
        "labels",
        "metadata",
    }
)
_SETUP_KEYS = frozenset(
    "model generationConfig systemInstruction tools realtimeInputConfig sessionResumption "
    "contextWindowCompression inputAudioTranscription outputAudioTranscription proactivity "
    "explicitVadSignal historyConfig avatarConfig safetySettings labels".split()
)
_MESSAGE_KEYS = frozenset(
    {"setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate"}
)
_RATES = (8000, 16000, 24000, 48000)
_SENSITIVITY = {"START_SENSITIVITY_HIGH": 0.3, "START_SENSITIVITY_LOW": 0.7}
_END_SILENCE_MS = {"END_SENSITIVITY_HIGH": 300, "END_SENSITIVITY_LOW": 1000}
_MAX_TURNS = 1000
_UPDATE_EVERY = 25  # transparent resumption: an update at least every this many client messages


class _Reject(Exception):
    """Close the socket with ``code`` and ``reason`` (how the real service answers bad input)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camelize(value: Any) -> Any:
    """Keys snake_case -> camelCase, recursively, leaving user data (args, schemas) untouched."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = _camel(k) if isinstance(k, str) else k
            out[key] = v if key in _OPAQUE else camelize(v)
        return out
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


def _dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Reject(1007, f"Invalid value at '{where}': expected an object")
    return value


def _text_of(content: Any) -> str:
    """Plain text of a Content/Part/str value (systemInstruction, turns)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(c) for c in content)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return str(content["text"])
        if "parts" in content:
            return _text_of(content["parts"])
    return ""


@dataclass(slots=True)
class _Generation:
    playout: Playout
    audio: bool


class GeminiSimSession(SimSessionBase):
    """A simulated Gemini Live session. Create it with ``SimulatorHub.open_session``."""

    kind = "gemini"

    def __init__(
        self,
        settings: SimSettings,
        registry: ResumptionRegistry,
        now: float,
        seed: int,
        *,
        path: str = "",
        wall_now: float | None = None,
        drop_after: float | None = None,
    ) -> None:
        super().__init__(settings, now, seed, wall_now=wall_now, drop_after=drop_after)
        self._registry = registry
        self.path = path
        self.ready = False
        self.model = ""
        self.audio_out = True
        self.instructions = ""
        self.tools: list[ToolSpec] = []
        self.auto_vad = True
        self.interrupts = True
        self.resumption = False
        self.transparent = False  # sessionResumption.transparent: updates say what was consumed
        self.input_transcription = False
        self.output_transcription = False
        self.resumed_from: str | None = None
        self.latest_handle: str | None = None
        self._vad_settings = (0.5, 20, 500)
        self._rate = 16000
        self._ears = SpeechRecognizer(self._rate)
        self._vad = EnergyVad(self._rate)
        self._activity = False  # manual mode: between activityStart and activityEnd
        self._gen: _Generation | None = None
        self._pending: dict[str, str] = {}  # tool call id -> name
        self._client_messages = 0  # the setup is message 0 (lastConsumedClientMessageIndex)
        self._since_update = 0  # client messages since the last sessionResumptionUpdate
        self._history_phase = False  # historyConfig: clientContent is history until turnComplete
        self._unconsumed: list[bytes] = []  # the ledger's: audio not yet consumed (committed)

    # -- dispatch -------------------------------------------------------------------------------------
    def _on_message(self, message: str | bytes, now: float) -> None:
        try:
            try:
                raw = json.loads(message)
            except (ValueError, UnicodeDecodeError):
                raise _Reject(1007, "Invalid JSON payload received.") from None
            if not isinstance(raw, dict):
                raise _Reject(1007, "Invalid JSON payload received: expected an object.")
            where = lone_surrogate_at(message, raw)
            if where is not None:
                raise _Reject(
                    1007,
                    f"Invalid JSON payload received. Invalid value at '{where[:40]}': "
                    "a lone surrogate is not a character.",
                )
            msg = camelize(raw)
            unknown = [k for k in msg if k not in _MESSAGE_KEYS]
            if unknown:
                raise _Reject(
                    1007,
                    f'Invalid JSON payload received. Unknown name "{str(unknown[0])[:40]}": Cannot find field.',
                )
            if len(msg) != 1:
                raise _Reject(
                    1007,
                    "A client message must set exactly one of setup, clientContent, realtimeInput, toolResponse.",
                )
            self._client_messages += 1
            self._since_update += 1
            ((kind, body),) = msg.items()
            if not self.ready:
                if kind != "setup":
                    raise _Reject(1008, "The first message must be setup.")
                self._setup(_dict(body, "setup"))
            elif kind == "setup":
                raise _Reject(1008, "setup was already received on this connection.")
            elif self._history_phase and kind in ("realtimeInput", "toolResponse"):
                raise _Reject(
                    1008,
                    f"{kind} before the initial history ended: with history_config."
                    "initial_history_in_client_content, send client_content turns ending "
                    "with turn_complete first.",
                )
            elif kind == "clientContent":
                self._client_content(_dict(body, "clientContent"), now)
            elif kind == "realtimeInput":
                self._realtime_input(_dict(body, "realtimeInput"), now)
            elif kind == "contextUpdate":
                self._context_update(_dict(body, "contextUpdate"))
            else:
                self._tool_response(_dict(body, "toolResponse"), now)
            if self._since_update >= _UPDATE_EVERY and self._resumable_now():
                self._resumption_update()  # so a client never holds many unacknowledged messages
        except _Reject as rej:
            self.stats.errors += 1
            self._close(rej.code, rej.reason)

    def _on_expiry(self, now: float, time_left: float) -> None:
        self._send({"goAway": {"timeLeft": format_duration(time_left)}})

    # -- setup ------------------------------------------------------------------------------------------
    def _setup(self, setup: dict[str, Any]) -> None:
        unknown = [k for k in setup if k not in _SETUP_KEYS]
        if unknown:
            raise _Reject(
                1007,
                f"Invalid JSON payload received. Unknown name \"{str(unknown[0])[:40]}\" at 'setup': Cannot find field.",
            )
        model = setup.get("model")
        if not isinstance(model, str) or not model:
            raise _Reject(1007, "setup.model is required (e.g. models/gemini-live-2.5-flash).")
        gen = _dict(setup.get("generationConfig"), "setup.generationConfig")
        mods = gen.get("responseModalities") or ["AUDIO"]
        if not isinstance(mods, list) or any(
            not isinstance(m, str) or m.upper() not in ("AUDIO", "TEXT") for m in mods
        ):
            raise _Reject(1007, "Invalid value at 'setup.generation_config.response_modalities'.")
        tools = _parse_tools(setup.get("tools"), "setup.tools")
        ric = _dict(setup.get("realtimeInputConfig"), "setup.realtimeInputConfig")
        aad = _dict(
            ric.get("automaticActivityDetection"),
            "setup.realtimeInputConfig.automaticActivityDetection",
        )
        resumption = setup.get("sessionResumption")
        handle, resumed, transparent = self._resumption_of(resumption)
        initial_history = _flag(
            _dict(setup.get("historyConfig"), "setup.historyConfig"),
            "initialHistoryInClientContent",
            "setup.history_config.initial_history_in_client_content",
        )
        # Everything checked: apply.
        self.resumed_from = handle
        if resumed is not None and resumed.listening is not None and transparent:
            rate, ears, vad, activity = resumed.listening
            self._rate, self._ears, self._vad = rate, ears.clone(), vad.clone()
            self._activity = activity  # go on hearing the utterance the last connection began
        self.model = model
        self.audio_out = "AUDIO" in (m.upper() for m in mods)
        self.instructions = _text_of(setup.get("systemInstruction"))
        self.tools = tools
        self.auto_vad = not aad.get("disabled", False)
        self.interrupts = ric.get("activityHandling") != "NO_INTERRUPTION"
        threshold = _SENSITIVITY.get(str(aad.get("startOfSpeechSensitivity")), 0.5)
        end_silence = _END_SILENCE_MS.get(str(aad.get("endOfSpeechSensitivity")), 500)
        prefix = _non_negative_int(aad.get("prefixPaddingMs"), 20)
        silence = _non_negative_int(aad.get("silenceDurationMs"), end_silence)
        self._vad_settings = (threshold, prefix, silence)
        self._vad.configure(*self._vad_settings)
        self.resumption = resumption is not None
        self.transparent = transparent
        self._history_phase = initial_history
        self.input_transcription = setup.get("inputAudioTranscription") is not None
        self.output_transcription = setup.get("outputAudioTranscription") is not None
        self.history = list(resumed.turns) if resumed is not None else []
        self.ready = True
        self._send({"setupComplete": {}})
        if self.resumption:
            self._resumption_update()

    def _resumption_of(self, resumption: Any) -> tuple[str | None, ResumptionState | None, bool]:
        """setup.sessionResumption: its handle and the state it restores (None, None: a new
        conversation), and whether it asks for transparent resumption."""
        if resumption is None:
            return None, None, False
        body = _dict(resumption, "setup.sessionResumption")
        transparent = _flag(body, "transparent", "setup.session_resumption.transparent")
        handle = body.get("handle")
        if handle is None:
            return None, None, transparent
        state = self._registry.lookup(handle) if isinstance(handle, str) else None
        if state is None:
            raise _Reject(1008, "The session resumption handle is unknown or has expired.")
        return handle, state, transparent

    def _context_update(self, body: dict[str, Any]) -> None:
        """``contextUpdate``: new system instruction and/or tools for the following turns."""
        tools = None
        if "tools" in body:
            tools = _parse_tools(_dict(body["tools"], "context_update.tools").get("tools"), "tools")
        if "systemInstruction" in body:
            self.instructions = _text_of(body["systemInstruction"])
        if tools is not None:
            self.tools = tools

    # -- input ------------------------------------------------------------------------------------------
    def _realtime_input(self, body: dict[str, Any], now: float) -> None:
        blobs: list[Any] = []
        if "audio" in body:
            blobs.append(body["audio"])
        chunks = body.get("mediaChunks")
        if chunks is not None:
            if not isinstance(chunks, list):
                raise _Reject(
                    1007, "Invalid value at 'realtime_input.media_chunks': expected a list."
                )
            blobs.extend(chunks)
        if "video" in body:
            self._video_frame(_dict(body["video"], "realtime_input.video"))
        decoded = [self._audio_blob(_dict(b, "realtime_input.audio")) for b in blobs]
        for rate, audio in decoded:
            if audio is not None:
                self._hear(rate, audio, now)
        if body.get("activityStart") is not None or body.get("activityEnd") is not None:
            if self.auto_vad:
                raise _Reject(
                    1007,
                    "activityStart/activityEnd need realtime_input_config.automatic_activity_detection.disabled = true.",
                )
            if body.get("activityStart") is not None:
                self._activity = True
                self._ears.reset()
                self._interrupt()
            if body.get("activityEnd") is not None and self._activity:
                self._activity = False
                self._end_user_audio_turn(now)
        if body.get("audioStreamEnd") and self.auto_vad and self._vad.force_stop() is not None:
            self._end_user_audio_turn(now)
        text = body.get("text")
        if isinstance(text, str) and text:
            self._interrupt()
            self._user_turn(text, now)

    def _video_frame(self, blob: dict[str, Any]) -> None:
        mime = blob.get("mimeType")
        if not isinstance(mime, str) or not mime.startswith("image/"):
            raise _Reject(1007, "Invalid value at 'realtime_input.video.mime_type'.")
        if b64decode_any(blob.get("data", "")) is None:
            raise _Reject(1007, "Invalid value at 'realtime_input.video.data': not base64.")
        self.stats.video_frames += 1

    def _audio_blob(self, blob: dict[str, Any]) -> tuple[int, bytes | None]:
        mime = blob.get("mimeType", "")
        if not isinstance(mime, str):
            raise _Reject(1007, "Invalid value at 'realtime_input.audio.mime_type'.")
        if not mime.lower().startswith("audio/"):
            return self._rate, None  # video/images: accepted, not looked at
        if not mime.lower().startswith("audio/pcm"):
            raise _Reject(
                1007, f"Unsupported audio mime type {mime[:40]!r}: send audio/pcm;rate=16000."
            )
        match = re.search(r"rate=(\d+)", mime)
        rate = int(match.group(1)) if match else 16000
        if rate not in _RATES:
            raise _Reject(
                1007, f"Unsupported audio sample rate {rate}: use 8000, 16000, 24000 or 48000."
            )
        data = b64decode_any(blob.get("data", ""))
        if data is None:
            raise _Reject(1007, "Invalid value at 'realtime_input.audio.data': not base64.")
        return rate, data

    def _hear(self, rate: int, audio: bytes, now: float) -> None:
        if self._settings.ledger is not None:
            self._unconsumed.append(audio)
        if rate != self._rate:
            self._rate = rate
            self._ears = SpeechRecognizer(rate)
            self._vad = EnergyVad(rate, origin_ms=self._vad.audio_ms)
            self._vad.configure(*self._vad_settings)
        samples = pcm_to_float(audio, AudioEncoding.PCM16)
        self.stats.audio_received_ms += samples.size * 1000 / rate
        self._ears.feed_samples(samples)
        if not self.auto_vad:
            return
        for event in self._vad.feed(samples):
            if event.kind == "start":
                self._interrupt()
            else:
                self._end_user_audio_turn(now)

    def _end_user_audio_turn(self, now: float) -> None:
        text = self._ears.text
        self._ears.reset()
        if not self.transparent:
            self._consume()  # without resumption indices, a user turn is the commit point
        if self.input_transcription and text:
            self._send({"serverContent": {"inputTranscription": {"text": text}}})
        self._user_turn(text, now)

    def _client_content(self, body: dict[str, Any], now: float) -> None:
        turns = body.get("turns") or []
        if not isinstance(turns, list):
            raise _Reject(1007, "Invalid value at 'client_content.turns': expected a list.")
        if self._history_phase:  # seeded history: remembered, no model turn
            self._remember(*_history_turns(turns))
            if body.get("turnComplete"):
                self._history_phase = False
            return
        parsed = _history_turns(turns)  # (text, functionCall and functionResponse parts)
        self._interrupt()
        self._remember(*parsed)
        if body.get("turnComplete"):
            self._respond(now)

    def _tool_response(self, body: dict[str, Any], now: float) -> None:
        responses = body.get("functionResponses") or []
        if not isinstance(responses, list):
            raise _Reject(
                1007, "Invalid value at 'tool_response.function_responses': expected a list."
            )
        results = []
        for n, fr in enumerate(responses):
            f = _dict(fr, f"tool_response.function_responses[{n}]")
            call_id = f.get("id")
            if call_id is None:  # answered by name only (Vertex style): the oldest such call
                call_id = next((i for i, n in self._pending.items() if n == f.get("name")), None)
            if not isinstance(call_id, str) or call_id not in self._pending:
                continue  # late answer to a cancelled call: the real service ignores it too
            name = self._pending.pop(call_id)
            results.append(
                Turn(
                    "function_result",
                    text=_output_text(f.get("response")),
                    name=str(f.get("name") or name),
                    call_id=call_id,
                )
            )
        self._remember(*results)
        if results and not self._pending:
            self._respond(now)

    # -- model output -----------------------------------------------------------------------------------
    def _user_turn(self, text: str, now: float) -> None:
        self._remember(Turn("user", text=text))
        self._respond(now)

    def _remember(self, *turns: Turn) -> None:
        self.history.extend(turns)
        if len(self.history) > _MAX_TURNS:
            del self.history[: len(self.history) - _MAX_TURNS]

    def _respond(self, now: float) -> None:
        if self._gen is not None or self._pending:
            return
        self.stats.responses += 1
        reply = self._settings.brain.reply(self.history, self.tools, self.instructions)
        if not isinstance(reply, Say):
            wire = []
            for call in tool_calls(reply):
                call_id = "function-call-" + str(self._rng.getrandbits(60))
                self._pending[call_id] = call.name
                self.stats.tool_calls += 1
                arguments = json.dumps(dict(call.arguments))
                self._remember(
                    Turn("function_call", name=call.name, call_id=call_id, arguments=arguments)
                )
                wire.append({"id": call_id, "name": call.name, "args": dict(call.arguments)})
            self._send({"toolCall": {"functionCalls": wire}})
            return
        encoding = AudioEncoding.PCM16 if self.audio_out else None  # None: a text reply
        render = self._settings.render(reply.text, encoding, 24000)
        interval = (self._settings.chunk_ms / 1000) * self._settings.pace
        self._gen = _Generation(Playout(render, now, interval), self.audio_out)

    def _next_due(self) -> float | None:
        return self._gen.playout.next_due() if self._gen is not None else None

    def _pump(self, now: float) -> None:
        gen = self._gen
        if gen is None:
            return
        for chunk in gen.playout.take_due(now):
            if gen.audio:
                blob = {"mimeType": "audio/pcm;rate=24000", "data": chunk.audio_b64}
                self._send({"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}})
                self.stats.audio_sent_ms += chunk.ms
                if self.output_transcription and chunk.text:
                    self._send({"serverContent": {"outputTranscription": {"text": chunk.text}}})
            else:
                self._send({"serverContent": {"modelTurn": {"parts": [{"text": chunk.text}]}}})
        if gen.playout.finished:
            self._gen = None
            self._remember(Turn("assistant", text=gen.playout.render.text))
            self._send({"serverContent": {"generationComplete": True}})
            if self.resumption:  # before turnComplete: a client reading one turn gets it too
                self._resumption_update()
            self._send({"serverContent": {"turnComplete": True}, "usageMetadata": self._usage(gen)})

    def barge_in(self, now: float) -> None:
        """A scripted interruption: the user starts speaking now, whatever the activity
        handling: ``interrupted`` (and pending tool calls cancelled); then send and re-arm."""
        if self._ended:
            return
        interrupts, self.interrupts = self.interrupts, True
        self._interrupt()
        self.interrupts = interrupts

    def _interrupt(self) -> None:
        """The user started a new turn: stop generating, cancel pending tool calls."""
        if not self.interrupts:
            return
        if self._gen is not None:
            gen, self._gen = self._gen, None
            self.stats.responses_cancelled += 1
            self._remember(Turn("assistant", text=gen.playout.text_sent))
            self._send({"serverContent": {"interrupted": True}})
        if self._pending:
            ids = list(self._pending)
            self._pending.clear()
            self._send({"toolCallCancellation": {"ids": ids}})

    def _usage(self, gen: _Generation) -> dict[str, Any]:
        # The real service's rates: 25 audio tokens a second in, 25 out; text ~4 chars a token.
        prompt_text = sum(len(t.text) + len(t.arguments) for t in self.history) // 4
        prompt_audio = int(self.stats.audio_received_ms // 40)
        prompt = prompt_text + prompt_audio
        out = (
            int(gen.playout.ms_sent // 40) if gen.audio else max(1, len(gen.playout.text_sent) // 4)
        )
        prompt_details = [{"modality": "TEXT", "tokenCount": prompt_text}]
        if prompt_audio:
            prompt_details.append({"modality": "AUDIO", "tokenCount": prompt_audio})
        return {
            "promptTokenCount": prompt,
            "responseTokenCount": out,
            "totalTokenCount": prompt + out,
            "promptTokensDetails": prompt_details,
            "responseTokensDetails": [
                {"modality": "AUDIO" if gen.audio else "TEXT", "tokenCount": out}
            ],
        }

    def _resumable_now(self) -> bool:
        """Transparent resumption, idle: a handle now loses nothing (the real service says
        ``resumable: false`` while generating or calling tools; this sends no update then)."""
        return self.transparent and self.ready and self._gen is None and not self._pending

    def _resumption_update(self) -> None:
        handle = self._new_id("", 32)
        listening = None
        if self.transparent:
            listening = (self._rate, self._ears.clone(), self._vad.clone(), self._activity)
        self._registry.store(handle, ResumptionState(tuple(self.history), listening))
        self.latest_handle = handle
        update: dict[str, Any] = {"newHandle": handle, "resumable": True}
        if self.transparent:
            # Every client message so far is consumed; int64 is a string in proto3 JSON.
            update["lastConsumedClientMessageIndex"] = str(self._client_messages - 1)
            self._since_update = 0
            self._consume()
        self._send({"sessionResumptionUpdate": update})

    def _consume(self) -> None:
        """The audio received so far reached the conversation: commit it to the ledger."""
        if self._settings.ledger is not None and self._unconsumed:
            self._settings.ledger.commit(b"".join(self._unconsumed))
        self._unconsumed.clear()

    def _release_input(self) -> bytes:
        audio = b"".join(self._unconsumed)
        self._unconsumed.clear()
        return audio


def _parse_tools(raw_tools: Any, where: str) -> list[ToolSpec]:
    """The function declarations of a ``tools`` list (setup or contextUpdate)."""
    tools: list[ToolSpec] = []
    raw_tools = raw_tools or []
    if not isinstance(raw_tools, list):
        raise _Reject(1007, f"Invalid value at '{where}': expected a list.")
    for n, tool in enumerate(raw_tools):
        for decl in _dict(tool, f"{where}[{n}]").get("functionDeclarations") or []:
            d = _dict(decl, f"{where}[{n}].function_declarations")
            if not isinstance(d.get("name"), str):
                raise _Reject(
                    1007, f"Invalid value at '{where}[{n}]': a function declaration needs a name."
                )
            params = d.get("parameters") or d.get("parametersJsonSchema") or {}
            tools.append(
                ToolSpec(
                    d["name"],
                    str(d.get("description", "")),
                    params if isinstance(params, dict) else {},
                )
            )
    return tools


def _flag(body: dict[str, Any], key: str, where: str) -> bool:
    """An optional boolean field (absent: False)."""
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise _Reject(1007, f"Invalid value at '{where}': expected a boolean.")
    return value


def _images_in(parts: Any) -> int:
    """How many ``inlineData`` image parts a turn holds."""
    if not isinstance(parts, list):
        return 0
    blobs = [p.get("inlineData") for p in parts if isinstance(p, dict)]
    return sum(
        isinstance(b, dict) and str(b.get("mimeType", "")).startswith("image/") for b in blobs
    )


def _history_turns(contents: list[Any]) -> list[Turn]:
    """``clientContent.turns`` of seeded history: text, ``functionCall`` and
    ``functionResponse`` parts as the brain's turns, in order."""
    out: list[Turn] = []
    for n, content in enumerate(contents):
        c = _dict(content, f"client_content.turns[{n}]")
        role = c.get("role", "user")
        if role not in ("user", "model"):
            raise _Reject(
                1007, f"Invalid value at 'client_content.turns[{n}].role': user or model."
            )
        parts = c.get("parts") or []
        if not isinstance(parts, list):
            raise _Reject(1007, f"Invalid value at 'client_content.turns[{n}].parts'.")
        said = ""
        for k, raw in enumerate(parts):
            where = f"client_content.turns[{n}].parts[{k}]"
            part = _dict(raw, where)
            if isinstance(part.get("text"), str):
                said += part["text"]
                continue
            turn = _function_part(part, where)
            if turn is not None:
                if said:
                    out.append(Turn("assistant" if role == "model" else "user", text=said))
                    said = ""
                out.append(turn)
        images = _images_in(parts) if role == "user" else 0
        if said or images or not parts:
            out.append(Turn("assistant" if role == "model" else "user", text=said, images=images))
    return out


def _function_part(part: dict[str, Any], where: str) -> Turn | None:
    """A ``functionCall`` or ``functionResponse`` part as a turn (None: another kind of part)."""
    for key, role in (("functionCall", "function_call"), ("functionResponse", "function_result")):
        if key not in part:
            continue
        body = _dict(part[key], f"{where}.{key}")
        name, call_id = body.get("name"), body.get("id") or ""
        if not isinstance(name, str) or not name or not isinstance(call_id, str):
            raise _Reject(1007, f"Invalid value at '{where}.{key}': a name (and a string id).")
        if role == "function_call":
            args = body.get("args") or {}
            if not isinstance(args, dict):
                raise _Reject(1007, f"Invalid value at '{where}.{key}.args': expected an object.")
            return Turn("function_call", name=name, call_id=call_id, arguments=json.dumps(args))
        text = _output_text(body.get("response"))
        return Turn("function_result", text=text, name=name, call_id=call_id)
    return None


def _non_negative_int(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def _output_text(response: Any) -> str:
    """A function response as the brain quotes it: the lone output/result string, else JSON."""
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    try:
        return json.dumps(response)
    except (TypeError, ValueError):
        return str(response)
