"""OpenAI Realtime wire shapes: how a RealtimeConfig and the client commands look as JSON.

Theory of operation
-------------------
Everything here is stateless: functions from our own values to the JSON
objects the OpenAI Realtime API expects, in one of two dialects.

* ``"ga"`` (``gpt-realtime*``): ``session.update`` carries ``session.type =
  "realtime"``, nested ``audio.input`` / ``audio.output`` objects with MIME-like
  formats (``audio/pcm`` at 24 kHz, ``audio/pcmu``, ``audio/pcma``), a single
  output modality, and no ``temperature``.
* ``"beta"`` (``gpt-4o-realtime-preview*``, ``gpt-4o-mini-realtime-preview*``):
  flat session fields (``modalities``, ``voice``, ``input_audio_format`` =
  ``pcm16`` | ``g711_ulaw`` | ``g711_alaw``, ``turn_detection``,
  ``input_audio_transcription``, ``temperature``, ``max_response_output_tokens``).

Only keys the official ``openai`` SDK types declare for the dialect are emitted
(``tests/test_openai_protocol.py`` checks every shape against those types with
unknown keys rejected); ``RealtimeConfig.extra`` is merged in as given.
The conversation state (what was sent, audio received) lives in
:mod:`adk_realtime.sansio.openai.protocol`, which calls these builders and reads
what the server sends with :mod:`adk_realtime.sansio.json_fields`.
"""

from __future__ import annotations

import base64
from typing import Any, Literal
from urllib.parse import quote

from adk_realtime.sansio.config import (
    AudioEncoding,
    AudioFormat,
    RealtimeConfig,
    VadConfig,
    VadMode,
)
from adk_realtime.sansio.events import Usage
from adk_realtime.sansio.json_fields import JsonObject, deep_merge, fail, opt_int

Dialect = Literal["ga", "beta"]
Transport = Literal["websocket", "webrtc"]

DEFAULT_BASE_URL = "wss://api.openai.com/v1"
DEFAULT_VOICE = "alloy"  # a voice every Realtime model offers

# Error codes that report an expected race, not a failure: a response.cancel
# sent when the server had already finished (or cancelled) the response, as
# happens on every barge-in that lands between two responses.
BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active"})

# The error a session gets when it hits its maximum duration ("Your session hit the
# maximum duration of 60 minutes."); the server closes the connection right after.
# It decodes as GoAway(time_left=0): the conversation goes on on a fresh session.
SESSION_EXPIRED_CODE = "session_expired"

_BETA_MODEL_PREFIXES = ("gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview")

# The largest client event OpenAI accepts ("up to a maximum of 15 MiB", the API
# reference of input_audio_buffer.append); a larger message is closed with 1009.
MAX_MESSAGE_SIZE = 15 * 2**20
# Audio per input_audio_buffer.append at most: a large buffer goes as many messages of a
# second each (64 KiB of JSON for 24 kHz PCM16), far below the limit, so commands and
# keepalive pings interleave with it.
MAX_AUDIO_MS_PER_MESSAGE = 1000

# Used when input transcription is on and no model was named.
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"

# What OpenAI carries on the wire: PCM16 only at 24 kHz, G.711 at 8 kHz.
PCM16_24K = AudioFormat.pcm16(24000)

_GA_FORMAT: dict[AudioEncoding, dict[str, Any]] = {
    AudioEncoding.PCM16: {"type": "audio/pcm", "rate": 24000},
    AudioEncoding.G711_ULAW: {"type": "audio/pcmu"},
    AudioEncoding.G711_ALAW: {"type": "audio/pcma"},
}
_BETA_FORMAT: dict[AudioEncoding, str] = {
    AudioEncoding.PCM16: "pcm16",
    AudioEncoding.G711_ULAW: "g711_ulaw",
    AudioEncoding.G711_ALAW: "g711_alaw",
}

# Turn-detection keys each VAD type declares, per dialect (the SDK types differ:
# GA server_vad has idle_timeout_ms, beta does not; only semantic_vad has eagerness).
_VAD_KEYS: dict[tuple[Dialect, VadMode], tuple[str, ...]] = {
    ("ga", VadMode.SERVER): (
        "threshold",
        "prefix_padding_ms",
        "silence_duration_ms",
        "create_response",
        "interrupt_response",
        "idle_timeout_ms",
    ),
    ("beta", VadMode.SERVER): (
        "threshold",
        "prefix_padding_ms",
        "silence_duration_ms",
        "create_response",
        "interrupt_response",
    ),
    ("ga", VadMode.SEMANTIC): ("create_response", "interrupt_response", "eagerness"),
    ("beta", VadMode.SEMANTIC): ("create_response", "interrupt_response", "eagerness"),
}


def dialect_for_model(model: str) -> Dialect:
    """The wire dialect a model speaks: ``"beta"`` for the 4o previews, else ``"ga"``."""
    return "beta" if model.startswith(_BETA_MODEL_PREFIXES) else "ga"


def endpoint_url(base_url: str, model: str) -> str:
    """The Realtime WebSocket URL for ``model`` under the API root ``base_url`` (``.../v1``)."""
    return f"{base_url.rstrip('/')}/realtime?model={quote(model, safe='')}"


def azure_endpoint_url(host: str, deployment: str, api_version: str) -> str:
    """Azure OpenAI's Realtime WebSocket URL for ``deployment`` on ``host``."""
    return (
        f"wss://{host}/openai/realtime?api-version={quote(api_version, safe='')}"
        f"&deployment={quote(deployment, safe='')}"
    )


def handshake_headers(dialect: Dialect) -> list[tuple[str, str]]:
    """Headers the WebSocket handshake needs besides the credentials (beta: ``OpenAI-Beta``)."""
    return [("OpenAI-Beta", "realtime=v1")] if dialect == "beta" else []


def wire_format(fmt: AudioFormat) -> AudioFormat:
    """The format OpenAI actually carries for ``fmt``: PCM16 at any rate becomes 24 kHz.

    The session layer resamples to this before ``AudioAppend``.
    """
    return PCM16_24K if fmt.encoding is AudioEncoding.PCM16 else fmt


def bytes_per_ms(fmt: AudioFormat) -> int:
    """Bytes of audio per millisecond in a wire format (PCM16 24 kHz: 48, G.711: 8)."""
    return fmt.bytes_per_sample * fmt.sample_rate // 1000


def turn_detection(vad: VadConfig, dialect: Dialect) -> dict[str, Any] | None:
    """The ``turn_detection`` object for ``vad``; ``None`` (JSON null) turns VAD off.

    Fields the chosen VAD type does not declare (e.g. ``eagerness`` with
    server VAD) are left out rather than rejected, so one config serves both
    providers and both VAD types.
    """
    if vad.mode is VadMode.NONE:
        return None
    mode = vad.mode  # ServerVad/SemanticVad are enum aliases of SERVER/SEMANTIC
    out: dict[str, Any] = {"type": mode.value}
    for key in _VAD_KEYS[(dialect, mode)]:
        value = getattr(vad, key)
        if value is not None:
            out[key] = value
    return out


def _tools(config: RealtimeConfig) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        }
        for tool in config.tools
    ]


def _tool_choice(choice: str, dialect: Dialect) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    # A tool name: GA forces it with an object; the beta SDK types declare a
    # plain string here, so the name goes as-is.
    return {"type": "function", "name": choice} if dialect == "ga" else choice


def session_object(
    config: RealtimeConfig,
    dialect: Dialect,
    *,
    clear_tools: bool = False,
    clear_transcription: bool = False,
) -> dict[str, Any]:
    """The ``session`` object of a ``session.update`` for ``config`` in ``dialect``.

    Fields the config leaves as ``None`` are omitted (the server keeps its
    current value). ``clear_tools`` / ``clear_transcription`` ask for an
    explicit ``[]`` / ``null`` when the config has none but an earlier update
    turned them on (``session.update`` only changes the keys it carries).
    """
    if dialect == "ga":
        session = _ga_session(config, clear_tools, clear_transcription)
    else:
        session = _beta_session(config, clear_tools, clear_transcription)
    if config.extra:
        deep_merge(session, config.extra)
    return session


def _ga_session(
    config: RealtimeConfig, clear_tools: bool, clear_transcription: bool
) -> dict[str, Any]:
    session: dict[str, Any] = {"type": "realtime"}
    if config.instruction is not None:
        session["instructions"] = config.instruction
    # GA takes exactly one output modality; audio always comes with a transcript.
    session["output_modalities"] = ["audio"] if config.wants_audio else ["text"]
    audio_in: dict[str, Any] = {}
    if config.input_audio_format is not None:
        audio_in["format"] = dict(_GA_FORMAT[config.input_audio_format.encoding])
    if config.vad is not None:
        audio_in["turn_detection"] = turn_detection(config.vad, "ga")
    if config.input_transcription:
        audio_in["transcription"] = _transcription(config)
    elif clear_transcription:
        audio_in["transcription"] = None
    if config.openai is not None and config.openai.noise_reduction is not None:
        audio_in["noise_reduction"] = _noise_reduction(config.openai.noise_reduction)
    audio_out: dict[str, Any] = {}
    if config.output_audio_format is not None:
        audio_out["format"] = dict(_GA_FORMAT[config.output_audio_format.encoding])
    if config.voice is not None:
        audio_out["voice"] = config.voice
    audio: dict[str, Any] = {}
    if audio_in:
        audio["input"] = audio_in
    if audio_out:
        audio["output"] = audio_out
    if audio:
        session["audio"] = audio
    if config.tools or clear_tools:
        session["tools"] = _tools(config)
    if config.tool_choice is not None:
        session["tool_choice"] = _tool_choice(config.tool_choice, "ga")
    if config.max_output_tokens is not None:
        session["max_output_tokens"] = config.max_output_tokens
    # GA sessions declare no temperature: it is left out on purpose.
    return session


def _beta_session(
    config: RealtimeConfig, clear_tools: bool, clear_transcription: bool
) -> dict[str, Any]:
    session: dict[str, Any] = {}
    # Beta audio output is always paired with text.
    session["modalities"] = ["text", "audio"] if config.wants_audio else ["text"]
    if config.instruction is not None:
        session["instructions"] = config.instruction
    if config.voice is not None:
        session["voice"] = config.voice
    if config.input_audio_format is not None:
        session["input_audio_format"] = _BETA_FORMAT[config.input_audio_format.encoding]
    if config.output_audio_format is not None:
        session["output_audio_format"] = _BETA_FORMAT[config.output_audio_format.encoding]
    if config.vad is not None:
        session["turn_detection"] = turn_detection(config.vad, "beta")
    if config.input_transcription:
        session["input_audio_transcription"] = _transcription(config)
    elif clear_transcription:
        session["input_audio_transcription"] = None
    if config.openai is not None and config.openai.noise_reduction is not None:
        noise = _noise_reduction(config.openai.noise_reduction)
        session["input_audio_noise_reduction"] = noise
    if config.tools or clear_tools:
        session["tools"] = _tools(config)
    if config.tool_choice is not None:
        session["tool_choice"] = _tool_choice(config.tool_choice, "beta")
    if config.temperature is not None:
        session["temperature"] = config.temperature
    if config.max_output_tokens is not None:
        session["max_response_output_tokens"] = config.max_output_tokens
    return session


def _transcription(config: RealtimeConfig) -> dict[str, Any]:
    # Same object in both dialects (GA audio.input.transcription, beta
    # input_audio_transcription): model, and the typed language/prompt hints.
    out: dict[str, Any] = {"model": config.input_transcription_model or DEFAULT_TRANSCRIPTION_MODEL}
    options = config.openai
    if options is not None and options.transcription_language is not None:
        out["language"] = options.transcription_language
    if options is not None and options.transcription_prompt is not None:
        out["prompt"] = options.transcription_prompt
    return out


def _noise_reduction(kind: str) -> dict[str, Any] | None:
    # GA audio.input.noise_reduction / beta input_audio_noise_reduction; null is off.
    return None if kind == "off" else {"type": kind}


def message_item(text: str, role: str, dialect: Dialect) -> dict[str, Any]:
    """A ``message`` conversation item carrying ``text`` from ``role``.

    User and system text is ``input_text``; assistant text is ``output_text``
    in GA and ``text`` in beta.
    """
    if role == "assistant":
        part_type = "output_text" if dialect == "ga" else "text"
    else:
        part_type = "input_text"
    return {
        "type": "message",
        "role": role,
        "content": [{"type": part_type, "text": text}],
    }


def input_audio_item(audio: bytes, item_id: str) -> dict[str, Any]:
    """A user ``message`` item carrying ``audio`` (the session's input format) as one
    ``input_audio`` content part, with id ``item_id`` (same in both dialects)."""
    part = {"type": "input_audio", "audio": base64.b64encode(audio).decode("ascii")}
    return {"type": "message", "id": item_id, "role": "user", "content": [part]}


def image_item(image_url: str) -> dict[str, Any]:
    """A user ``message`` item holding one ``input_image`` (``image_url``: a data URL); GA only."""
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_image", "image_url": image_url}],
    }


def function_output_item(call_id: str, output: str) -> dict[str, Any]:
    """A ``function_call_output`` item answering ``call_id`` (same in both dialects)."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


# --------------------------------------------------------------------------
# Reading received messages (the field readers are adk_realtime.sansio.json_fields)
# --------------------------------------------------------------------------


def usage_of(response: JsonObject, etype: str) -> Usage | None:
    """``Usage`` from a response's ``usage`` object, or ``None`` when it has none."""
    usage = response.get("usage")
    if usage is None:
        return None
    if type(usage) is not dict:
        fail(etype, "response.usage", "an object", usage)
    where = etype + " response.usage"
    input_tokens = opt_int(usage, "input_tokens", where)
    output_tokens = opt_int(usage, "output_tokens", where)
    total = usage.get("total_tokens")
    inputs = _token_details(usage, "input_token_details", where)
    outputs = _token_details(usage, "output_token_details", where)
    in_where, out_where = where + ".input_token_details", where + ".output_token_details"
    cached = _token_details(inputs, "cached_tokens_details", in_where)
    cached_where = in_where + ".cached_tokens_details"
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens
        if total is None
        else opt_int(usage, "total_tokens", where),
        input_text_tokens=opt_int(inputs, "text_tokens", in_where),
        input_audio_tokens=opt_int(inputs, "audio_tokens", in_where),
        input_image_tokens=opt_int(inputs, "image_tokens", in_where),
        cached_input_tokens=opt_int(inputs, "cached_tokens", in_where),
        cached_text_tokens=opt_int(cached, "text_tokens", cached_where),
        cached_audio_tokens=opt_int(cached, "audio_tokens", cached_where),
        output_text_tokens=opt_int(outputs, "text_tokens", out_where),
        output_audio_tokens=opt_int(outputs, "audio_tokens", out_where),
    )


def _token_details(obj: JsonObject, key: str, where: str) -> JsonObject:
    """``obj[key]``, a ``*_token_details`` object (empty when absent or null)."""
    value = obj.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        fail(where, key, "an object", value)
    return value
