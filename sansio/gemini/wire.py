"""Gemini Live wire helpers: pure functions between JSON and Python values.

Nothing here holds state; :class:`~adk_realtime.sansio.gemini.GeminiProtocol`
owns the conversation and calls these. The endpoint URLs (public API and
Vertex AI) are here too, so the model classes above only add credentials.
Two halves:

* setup building: tool declarations (Gemini ``Schema`` when a tool's JSON
  Schema fits it, ``parametersJsonSchema`` otherwise), ``realtimeInputConfig``
  from a ``VadConfig``, and tool outputs turned back into JSON values;
* decoding: :func:`load_message` (bytes/str -> JSON object) and
  :func:`parse_message`, which validates a whole server message into a list of
  :data:`Op` (ready events, and small frozen records such as :class:`ModelAudio`
  or :class:`ToolCalls` for what needs the conversation state) before the
  protocol touches its state. Fields are read with
  :mod:`adk_realtime.sansio.json_fields` (camelCase or snake_case keys), plus
  the two Gemini-only forms here: base64 in either alphabet and protobuf
  durations; every failure is a :class:`~adk_realtime.sansio.errors.DecodeError`
  naming the field by its path.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig, VadMode
from adk_realtime.sansio.errors import ConfigError, DecodeError, LocalProtocolError
from adk_realtime.sansio.events import ServerEvent, Usage
from adk_realtime.sansio.json_fields import (
    expect_dict,
    expect_list,
    expect_str,
    fail,
    invalid,
    lax_bool,
    lax_int,
    loads as json_loads,
    proto_get,
)

__all__ = [
    "DEFAULT_VOICE",
    "EPHEMERAL_TOKEN_PREFIX",
    "PUBLIC_BASE_URL",
    "FunctionCall",
    "InputTranscription",
    "ModelAudio",
    "ModelInterrupted",
    "ModelText",
    "Op",
    "OutputTranscription",
    "ResumptionUpdate",
    "StateOp",
    "ToolCalls",
    "ToolCancellation",
    "TurnEnded",
    "UsageReport",
    "function_declaration",
    "load_message",
    "normalize_model",
    "parse_message",
    "public_endpoint_url",
    "realtime_input_config",
    "tool_output",
    "vertex_endpoint_url",
    "vertex_host",
]

PUBLIC_BASE_URL = "wss://generativelanguage.googleapis.com"
DEFAULT_VOICE = "Puck"  # a prebuilt voice every Live model offers
EPHEMERAL_TOKEN_PREFIX = "auth_tokens/"  # an ephemeral token, not an API key
# The largest client message sent to Gemini Live. Google publishes no limit for the
# WebSocket; 4 MiB is the default request size of its gRPC services behind it (and more
# text than a Live session's context window holds), so a message within it is taken.
MAX_MESSAGE_SIZE = 4 * 2**20
# Audio per realtimeInput message at most: a large buffer goes as many messages of a
# second each (43 KiB of JSON at 16 kHz), so other messages interleave with it.
MAX_AUDIO_MS_PER_MESSAGE = 1000

# Keys of Gemini's own (OpenAPI-subset) Schema. A tool schema using only these
# goes in ``parameters``; anything else (``$ref``, ``additionalProperties``,
# type lists...) goes in ``parametersJsonSchema``, which takes full JSON Schema.
_SCHEMA_KEYS = frozenset(
    "type format title description nullable enum maxItems minItems properties required "
    "minProperties maxProperties minLength maxLength pattern example anyOf propertyOrdering "
    "default items minimum maximum".split()
)
_SCHEMA_TYPES = frozenset("string number integer boolean array object null".split())


# ---------------------------------------------------------------------------
# Decoded operations: what a server message says that needs the protocol's
# state (the current turn, transcripts, pending calls) to become events.
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelAudio:
    """A chunk of the model's audio (PCM16, 24 kHz)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ModelText:
    """A chunk of the model's text."""

    text: str


@dataclass(frozen=True, slots=True)
class InputTranscription:
    """A chunk of the user's transcript; ``finished``: the utterance is over."""

    text: str
    finished: bool


@dataclass(frozen=True, slots=True)
class OutputTranscription:
    """A chunk of the transcript of the model's speech; ``finished`` as above."""

    text: str
    finished: bool


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Token usage so far in this turn (a later report replaces an earlier one)."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class ModelInterrupted:
    """The user's activity interrupted the model's output."""


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The model's turn is complete (``turnComplete``)."""


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One requested call; ``call_id`` is ``""`` when the server sent none."""

    call_id: str
    name: str
    arguments: str  # JSON text of an object


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The model asks for these calls (``toolCall``)."""

    calls: tuple[FunctionCall, ...]


@dataclass(frozen=True, slots=True)
class ToolCancellation:
    """The server cancelled these pending calls (``toolCallCancellation``)."""

    call_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResumptionUpdate:
    """A new resumption handle (or none) and whether resuming is possible now."""

    handle: str | None
    resumable: bool
    last_consumed: int | None = None
    """``lastConsumedClientMessageIndex`` (transparent resumption), if the server sent it."""


StateOp = (
    ModelAudio
    | ModelText
    | InputTranscription
    | OutputTranscription
    | UsageReport
    | ModelInterrupted
    | TurnEnded
    | ToolCalls
    | ToolCancellation
    | ResumptionUpdate
)
Op = ServerEvent | StateOp
"""One thing a message says: a ready event (no state needed) or a :data:`StateOp`."""

_W = "Gemini message"  # names the message in decode errors; fields go by their path
_URLSAFE_TO_STD = str.maketrans("-_", "+/")
_DURATION = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?s")

# Top-level server keys: camelCase -> snake_case.
_SERVER_KEYS = {
    "setupComplete": "setup_complete",
    "serverContent": "server_content",
    "toolCall": "tool_call",
    "toolCallCancellation": "tool_call_cancellation",
    "goAway": "go_away",
    "sessionResumptionUpdate": "session_resumption_update",
    "usageMetadata": "usage_metadata",
    "voiceActivity": "voice_activity",
    "voiceActivityDetectionSignal": "voice_activity_detection_signal",
}
_SNAKE_TO_CAMEL = {snake: camel for camel, snake in _SERVER_KEYS.items()}
_SPEECH_SIGNALS = {
    "ACTIVITY_START": True,
    "ACTIVITY_END": False,
    "VAD_SIGNAL_TYPE_SOS": True,
    "VAD_SIGNAL_TYPE_EOS": False,
}


# ---------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------


def public_endpoint_url(base_url: str, api_version: str, *, constrained: bool = False) -> str:
    """The Gemini API's Live WebSocket URL under ``base_url`` (scheme and host).

    ``constrained``: the ``BidiGenerateContentConstrained`` method, the one an
    ephemeral token (``auth_tokens/...``) may call.
    """
    method = "BidiGenerateContentConstrained" if constrained else "BidiGenerateContent"
    return (
        f"{base_url.rstrip('/')}/ws/google.ai.generativelanguage."
        f"{api_version}.GenerativeService.{method}"
    )


def vertex_host(location: str) -> str:
    """Vertex AI's host for a location: regional, multi-regional ("us", "eu") or global."""
    if location == "global":
        return "aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def vertex_endpoint_url(location: str, base_url: str | None = None) -> str:
    """Vertex AI's Live WebSocket URL for ``location`` (or under ``base_url``)."""
    base = base_url or f"wss://{vertex_host(location)}"
    return (
        f"{base.rstrip('/')}/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )


# ---------------------------------------------------------------------------
# Setup helpers
# ---------------------------------------------------------------------------


def normalize_model(
    model: str, vertex_project: str | None = None, vertex_location: str | None = None
) -> str:
    """The model's resource name: ``models/{m}``, or the Vertex publisher path."""
    if not isinstance(model, str) or not model.strip() or any(c.isspace() for c in model):
        raise ConfigError(
            "model", f"must be a model name like 'gemini-live-2.5-flash', got {model!r}"
        )
    if (vertex_project is None) != (vertex_location is None):
        raise ConfigError("vertex_location", "Vertex needs both vertex_project and vertex_location")
    if vertex_project is None or vertex_location is None:
        if model.startswith(("models/", "tunedModels/")):
            return model
        return f"models/{model}"
    if model.startswith("projects/"):
        return model
    # "models/x" and "publishers/google/models/x" name the same model as "x".
    name = model.rpartition("models/")[2] if model.startswith(("models/", "publishers/")) else model
    return f"projects/{vertex_project}/locations/{vertex_location}/publishers/google/models/{name}"


def function_declaration(tool: Any) -> dict[str, Any]:
    """One ``functionDeclarations`` entry for a ``ToolDefinition``."""
    decl: dict[str, Any] = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    params = tool.parameters
    if params:
        key = "parameters" if _fits_gemini_schema(params) else "parametersJsonSchema"
        decl[key] = params
    return decl


def _fits_gemini_schema(schema: Any, depth: int = 0) -> bool:
    """True if ``schema`` uses only what Gemini's ``Schema`` (an OpenAPI subset) knows."""
    if depth > 32 or not isinstance(schema, dict) or not set(schema) <= _SCHEMA_KEYS:
        return False
    kind = schema.get("type")
    if kind is not None and not (isinstance(kind, str) and kind.lower() in _SCHEMA_TYPES):
        return False
    enum = schema.get("enum")
    if enum is not None and not (isinstance(enum, list) and all(isinstance(e, str) for e in enum)):
        return False
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        return False
    props = schema.get("properties")
    if props is not None and not (
        isinstance(props, dict) and all(_fits_gemini_schema(p, depth + 1) for p in props.values())
    ):
        return False
    if "items" in schema and not _fits_gemini_schema(schema["items"], depth + 1):
        return False
    any_of = schema.get("anyOf")
    return any_of is None or (
        isinstance(any_of, list) and all(_fits_gemini_schema(s, depth + 1) for s in any_of)
    )


def realtime_input_config(config: RealtimeConfig) -> dict[str, Any]:
    """``realtimeInputConfig`` for ``config.vad``; empty when there is nothing to say."""
    vad = config.vad
    if vad is None:
        return {}
    out: dict[str, Any] = {}
    if vad.mode is VadMode.NONE:
        out["automaticActivityDetection"] = {"disabled": True}
    else:
        aad: dict[str, Any] = {}
        # OpenAI-style threshold: 0.5 is the neutral default; a lower threshold
        # hears speech more readily (HIGH sensitivity), a higher one less.
        if vad.threshold is not None and vad.threshold != 0.5:
            level = "HIGH" if vad.threshold < 0.5 else "LOW"
            aad["startOfSpeechSensitivity"] = f"START_SENSITIVITY_{level}"
        # Eagerness: an eager model ends the user's turn sooner.
        if vad.eagerness in ("low", "high"):
            aad["endOfSpeechSensitivity"] = f"END_SENSITIVITY_{vad.eagerness.upper()}"
        if vad.prefix_padding_ms is not None:
            aad["prefixPaddingMs"] = vad.prefix_padding_ms
        if vad.silence_duration_ms is not None:
            aad["silenceDurationMs"] = vad.silence_duration_ms
        if aad:
            aad["disabled"] = False
            out["automaticActivityDetection"] = aad
    if vad.interrupt_response is not None:
        out["activityHandling"] = (
            "START_OF_ACTIVITY_INTERRUPTS" if vad.interrupt_response else "NO_INTERRUPTION"
        )
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


# One decoder for every tool output: ``json.loads(..., parse_constant=...)`` builds a new
# decoder and scanner per call, which a soak run showed as steady allocator churn.
_FINITE_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def tool_output(output: str) -> Any:
    """A tool's output as JSON when it is JSON (finite numbers only), else the string."""
    if not isinstance(output, str):
        raise LocalProtocolError(f"ToolResponse.output must be a str, got {type(output).__name__}")
    try:
        return _FINITE_JSON.decode(output)
    except (ValueError, RecursionError):
        return output


# ---------------------------------------------------------------------------
# Decoding: pure functions from a decoded message to a list of operations.
# ---------------------------------------------------------------------------


def load_message(data: str | bytes | bytearray | memoryview) -> dict[str, Any]:
    """One received frame (text or UTF-8 bytes) as a JSON object, else ``DecodeError``."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"message is not UTF-8 text: {exc}") from None
    if not isinstance(data, str):
        raise DecodeError(f"message must be str or bytes, got {type(data).__name__}")
    try:
        msg = json_loads(data)  # (json.loads, faster)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"message is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(msg, dict):
        raise DecodeError(f"message must be a JSON object, got {type(msg).__name__}")
    return msg


def _b64(value: Any, where: str) -> bytes:
    """Bytes from base64 in the standard or URL-safe alphabet, padded or not."""
    text = expect_str(value, _W, where)
    if "-" in text or "_" in text:
        text = text.translate(_URLSAFE_TO_STD)
    if len(text) % 4:
        text += "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    invalid(_W, where, "is not valid base64")


def _duration(value: Any, where: str) -> float:
    """A protobuf Duration: ``"12.5s"``, ``{"seconds": .., "nanos": ..}`` or a number."""
    if isinstance(value, str):
        if _DURATION.fullmatch(value) is None:
            fail(_W, where, "a duration like '12.5s'", value)
        return float(value[:-1])
    try:
        if isinstance(value, dict):
            seconds = lax_int(value.get("seconds"), _W, f"{where}.seconds")
            nanos = lax_int(value.get("nanos"), _W, f"{where}.nanos")
            if seconds >= 0 and nanos >= 0:
                return seconds + nanos / 1e9
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and value >= 0:
                return float(value)
    except OverflowError:  # an int too large for a float
        value = None  # (reported below, outside the handler)
    if value is None:
        invalid(_W, where, "is a duration out of range")
    fail(_W, where, "a non-negative duration", value)


def _millis(value: Any, where: str) -> int:
    """A duration as whole milliseconds."""
    ms = _duration(value, where) * 1000
    if not math.isfinite(ms):
        invalid(_W, where, "is a duration out of range")
    return int(ms)


def parse_message(msg: dict[str, Any]) -> list[Op]:
    """Validate a whole message into operations: ready events, and :data:`StateOp` s."""
    ops: list[Op] = []
    usage_op: UsageReport | None = None
    for key, value in msg.items():
        if value is None:
            continue
        camel = key if key in _SERVER_KEYS else _SNAKE_TO_CAMEL.get(key)
        if camel is None:
            ops.append(ev.Unknown(key, msg))
        elif camel == "serverContent":
            _parse_content(expect_dict(value, _W, key), key, ops)
        elif camel == "usageMetadata":
            usage_op = UsageReport(_parse_usage(expect_dict(value, _W, key), key))
        elif camel == "setupComplete":
            body = expect_dict(value, _W, key)
            session_id = proto_get(body, "sessionId", "session_id")
            if session_id is not None:
                session_id = expect_str(session_id, _W, f"{key}.sessionId")
            ops.append(ev.SessionCreated(session=body, session_id=session_id))
        elif camel == "toolCall":
            ops.append(ToolCalls(_parse_calls(expect_dict(value, _W, key), key)))
        elif camel == "toolCallCancellation":
            ids = expect_list(expect_dict(value, _W, key).get("ids"), _W, f"{key}.ids")
            ops.append(
                ToolCancellation(
                    tuple(expect_str(i, _W, f"{key}.ids[{n}]") for n, i in enumerate(ids))
                )
            )
        elif camel == "goAway":
            left = proto_get(expect_dict(value, _W, key), "timeLeft", "time_left")
            ops.append(ev.GoAway(0.0 if left is None else _duration(left, f"{key}.timeLeft")))
        elif camel == "sessionResumptionUpdate":
            body = expect_dict(value, _W, key)
            handle = proto_get(body, "newHandle", "new_handle")
            if handle is not None:
                handle = expect_str(handle, _W, f"{key}.newHandle") or None
            resumable = lax_bool(body.get("resumable"), _W, f"{key}.resumable")
            consumed = proto_get(
                body, "lastConsumedClientMessageIndex", "last_consumed_client_message_index"
            )
            ops.append(ResumptionUpdate(handle, resumable, _message_index(consumed, key)))
        else:  # voiceActivity / voiceActivityDetectionSignal
            body = expect_dict(value, _W, key)
            if camel == "voiceActivity":
                signal = proto_get(body, "voiceActivityType", "voice_activity_type")
            else:
                signal = proto_get(body, "vadSignalType", "vad_signal_type")
            # (enum values match in any case, as the genai types read them)
            started = _SPEECH_SIGNALS.get(signal.upper()) if isinstance(signal, str) else None
            if started is not None:
                offset = proto_get(body, "audioOffset", "audio_offset")
                ms = 0 if offset is None else _millis(offset, f"{key}.audioOffset")
                ops.append(ev.SpeechStarted(ms) if started else ev.SpeechStopped(ms))
    if usage_op is not None:
        ops.insert(0, usage_op)  # so a turnComplete in the same message carries it
    return ops


def _parse_content(body: dict[str, Any], where: str, ops: list[Op]) -> None:
    text, finished = _transcript(body, "inputTranscription", "input_transcription", where)
    if text or finished:
        ops.append(InputTranscription(text, finished))
    turn = proto_get(body, "modelTurn", "model_turn")
    if turn is not None:
        parts = expect_list(
            expect_dict(turn, _W, f"{where}.modelTurn").get("parts"), _W, f"{where}.modelTurn.parts"
        )
        for n, part in enumerate(parts):
            _parse_part(
                expect_dict(part, _W, f"{where}.modelTurn.parts[{n}]"),
                f"{where}.modelTurn.parts[{n}]",
                ops,
            )
    text, finished = _transcript(body, "outputTranscription", "output_transcription", where)
    if text or finished:
        ops.append(OutputTranscription(text, finished))
    if lax_bool(body.get("interrupted"), _W, f"{where}.interrupted"):
        ops.append(ModelInterrupted())
    if lax_bool(
        proto_get(body, "generationComplete", "generation_complete"),
        _W,
        f"{where}.generationComplete",
    ):
        ops.append(ev.GenerationComplete())
    if lax_bool(proto_get(body, "turnComplete", "turn_complete"), _W, f"{where}.turnComplete"):
        ops.append(TurnEnded())


def _transcript(body: dict[str, Any], camel: str, snake: str, where: str) -> tuple[str, bool]:
    """A transcription chunk's text and its ``finished`` flag (the utterance is over)."""
    tr = proto_get(body, camel, snake)
    if tr is None:
        return "", False
    tr = expect_dict(tr, _W, f"{where}.{camel}")
    text = tr.get("text")
    finished = lax_bool(tr.get("finished"), _W, f"{where}.{camel}.finished")
    return ("" if text is None else expect_str(text, _W, f"{where}.{camel}.text")), finished


def _parse_part(part: dict[str, Any], where: str, ops: list[Op]) -> None:
    if lax_bool(part.get("thought"), _W, f"{where}.thought"):
        return  # the model's thinking is not part of the answer
    blob = proto_get(part, "inlineData", "inline_data")
    if blob is not None:
        blob = expect_dict(blob, _W, f"{where}.inlineData")
        mime = proto_get(blob, "mimeType", "mime_type") or ""
        if not expect_str(mime, _W, f"{where}.inlineData.mimeType") or mime.startswith("audio/"):
            data = proto_get(blob, "data", "data")
            if data is not None:
                audio = _b64(data, f"{where}.inlineData.data")
                if audio:
                    ops.append(ModelAudio(audio))
        # Other inline data (images...) is not part of a voice conversation.
    text = part.get("text")
    if text is not None and expect_str(text, _W, f"{where}.text"):
        ops.append(ModelText(text))


def _parse_calls(body: dict[str, Any], where: str) -> tuple[FunctionCall, ...]:
    calls = expect_list(
        proto_get(body, "functionCalls", "function_calls"), _W, f"{where}.functionCalls"
    )
    out: list[FunctionCall] = []
    for n, raw in enumerate(calls):
        at = f"{where}.functionCalls[{n}]"
        call = expect_dict(raw, _W, at)
        # Some models (older Vertex ones) send calls without an id: "" here,
        # and GeminiProtocol makes one up (and leaves it out of the answer).
        call_id = call.get("id")
        call_id = "" if call_id is None else expect_str(call_id, _W, f"{at}.id")
        name = expect_str(call.get("name"), _W, f"{at}.name")
        if not name:
            invalid(_W, f"{at}.name", "must not be empty")
        args = call.get("args")
        if args is None:
            args = {}
        args = expect_dict(args, _W, f"{at}.args")
        try:
            # allow_nan=False: a NaN/Infinity read from the frame is not JSON.
            arguments = json.dumps(args, allow_nan=False)
        except (ValueError, RecursionError):
            arguments = None
        if arguments is None:
            invalid(_W, f"{at}.args", "cannot be re-encoded as JSON (NaN or too deep)")
        out.append(FunctionCall(call_id, name, arguments))
    return tuple(out)


def _parse_usage(body: dict[str, Any], where: str) -> Usage:
    # Counts are int32 (proto3 JSON may still write them as strings, as it does int64).
    prompt = lax_int(
        proto_get(body, "promptTokenCount", "prompt_token_count"), _W, f"{where}.promptTokenCount"
    )
    response = proto_get(body, "responseTokenCount", "response_token_count")
    if response is None:  # Vertex names it like generateContent does
        response = proto_get(body, "candidatesTokenCount", "candidates_token_count")
    output = lax_int(response, _W, f"{where}.responseTokenCount")
    total = lax_int(
        proto_get(body, "totalTokenCount", "total_token_count"), _W, f"{where}.totalTokenCount"
    )
    cached = lax_int(
        proto_get(body, "cachedContentTokenCount", "cached_content_token_count"),
        _W,
        f"{where}.cachedContentTokenCount",
    )
    prompt_by = _tokens_by_modality(body, "promptTokensDetails", "prompt_tokens_details", where)
    cache_by = _tokens_by_modality(body, "cacheTokensDetails", "cache_tokens_details", where)
    out_by = _tokens_by_modality(body, "responseTokensDetails", "response_tokens_details", where)
    return Usage(
        prompt,
        output,
        total or prompt + output,
        input_text_tokens=prompt_by.get("TEXT", 0),
        input_audio_tokens=prompt_by.get("AUDIO", 0),
        # Video frames are images to the model (and billed alike).
        input_image_tokens=prompt_by.get("IMAGE", 0) + prompt_by.get("VIDEO", 0),
        cached_input_tokens=cached,
        cached_text_tokens=cache_by.get("TEXT", 0),
        cached_audio_tokens=cache_by.get("AUDIO", 0),
        output_text_tokens=out_by.get("TEXT", 0),
        output_audio_tokens=out_by.get("AUDIO", 0),
    )


def _tokens_by_modality(body: dict[str, Any], camel: str, snake: str, where: str) -> dict[str, int]:
    """A list of ``ModalityTokenCount`` (``{"modality": "AUDIO", "tokenCount": 12}``) as
    modality -> tokens; a modality we do not know counts in the totals only."""
    at = f"{where}.{camel}"
    counts: dict[str, int] = {}
    for index, entry in enumerate(expect_list(proto_get(body, camel, snake), _W, at)):
        entry = expect_dict(entry, _W, f"{at}[{index}]")
        modality = entry.get("modality")
        if modality is None:
            continue
        modality = expect_str(modality, _W, f"{at}[{index}].modality")
        tokens = lax_int(
            proto_get(entry, "tokenCount", "token_count"), _W, f"{at}[{index}].tokenCount"
        )
        counts[modality] = counts.get(modality, 0) + tokens
    return counts


def _message_index(value: object, key: str) -> int | None:
    """An int64 index, as a JSON number or (proto3 JSON) a string of digits."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    fail(_W, f"{key}.lastConsumedClientMessageIndex", "a non-negative integer", value)
