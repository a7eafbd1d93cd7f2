"""OpenAI Realtime session configuration for the simulator: defaults, ``session.update``
validation and the session object echoed in ``session.created`` / ``session.updated``.

The configuration is kept in one dialect-neutral dict (see :func:`default_config`); the GA and
beta wire shapes are parsed into it and rendered from it. Parsing works on a copy, so a rejected
``session.update`` leaves the session exactly as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adk_realtime.sansio.config import AudioEncoding

__all__ = ["ClientError", "default_config", "parse_update", "render_format", "render_session"]

FORMATS_GA = {
    "audio/pcm": AudioEncoding.PCM16,
    "audio/pcmu": AudioEncoding.G711_ULAW,
    "audio/pcma": AudioEncoding.G711_ALAW,
}
# The beta dialect names formats as AudioEncoding's values do.
FORMATS_BETA = {enc.value: enc for enc in AudioEncoding}
_GA_KEYS = frozenset(
    "type model output_modalities instructions audio tools tool_choice max_output_tokens tracing "
    "truncation prompt include".split()
)
_BETA_KEYS = frozenset(
    "model modalities instructions voice input_audio_format output_audio_format "
    "input_audio_transcription turn_detection tools tool_choice temperature "
    "max_response_output_tokens speed tracing input_audio_noise_reduction client_secret".split()
)


class ClientError(Exception):
    """A client event was invalid; the session answers it with an ``error`` event."""

    def __init__(self, message: str, code: str = "invalid_value", param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


def obj(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else a ClientError naming ``what``."""
    if not isinstance(value, dict):
        raise ClientError(f"Invalid type for '{what}': expected an object.", "invalid_type", what)
    return value


def text(value: Any, what: str, *, optional: bool = False) -> str:
    """``value`` if it is a string (or None when ``optional``: ""), else a ClientError."""
    if value is None and optional:
        return ""
    if value is None:
        msg = f"Missing required parameter: '{what}'."
        raise ClientError(msg, "missing_required_parameter", what)
    if not isinstance(value, str):
        raise ClientError(f"Invalid type for '{what}': expected a string.", "invalid_type", what)
    return value


def _check_keys(o: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in o:
        if key not in allowed:
            param = f"{where}.{key}"
            raise ClientError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)


def default_config(beta: bool) -> dict[str, Any]:
    """The session a new connection starts with (what the real service defaults to)."""
    return {
        "instructions": "You are a helpful assistant (offline simulator).",
        "voice": "alloy",
        "modalities": ["text", "audio"] if beta else ["audio"],
        "in_format": AudioEncoding.PCM16,
        "out_format": AudioEncoding.PCM16,
        "turn_detection": turn_detection({"type": "server_vad"}, "turn_detection", beta),
        "transcription": None,
        "noise_reduction": None,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "temperature": 0.8,
        "speed": 1.0,
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
    }


def turn_detection(td: Any, where: str, beta: bool) -> dict[str, Any] | None:
    """Validate a turn_detection object (None turns VAD off) and fill in the defaults."""
    if td is None:
        return None
    td = dict(obj(td, where))
    kind: Any = td.get("type", "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        msg = f"Invalid value: {str(kind)[:40]!r}. Supported values are: 'server_vad' and 'semantic_vad'."
        raise ClientError(msg, "invalid_value", f"{where}.type")
    threshold = td.get("threshold")
    if threshold is not None and not (
        isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and 0 <= threshold <= 1
    ):
        msg = f"Invalid '{where}.threshold': must be between 0 and 1."
        raise ClientError(msg, "invalid_value", f"{where}.threshold")
    for key in ("prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"):
        v = td.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            msg = f"Invalid '{where}.{key}': must be a non-negative integer."
            raise ClientError(msg, "invalid_value", f"{where}.{key}")
    for key in ("create_response", "interrupt_response"):
        if not isinstance(td.setdefault(key, True), bool):
            raise ClientError(
                f"Invalid '{where}.{key}': must be a boolean.", "invalid_type", f"{where}.{key}"
            )
    td["type"] = kind
    if kind == "server_vad":
        td.setdefault("threshold", 0.5)
        td.setdefault("prefix_padding_ms", 300)
        td.setdefault("silence_duration_ms", 200)
        if not beta:
            td.setdefault("idle_timeout_ms", None)
    elif td.setdefault("eagerness", "auto") not in ("low", "medium", "high", "auto"):
        raise ClientError(f"Invalid '{where}.eagerness'.", "invalid_value", f"{where}.eagerness")
    result: dict[str, Any] = td
    return result


def parse_ga_format(fmt: Any, where: str) -> AudioEncoding:
    """A GA audio format object -> its :class:`AudioEncoding`."""
    f = obj(fmt, where)
    kind = f.get("type")
    enc = FORMATS_GA.get(kind) if isinstance(kind, str) else None
    if enc is None:
        msg = f"Invalid '{where}.type': use 'audio/pcm', 'audio/pcmu' or 'audio/pcma'."
        raise ClientError(msg, "invalid_value", f"{where}.type")
    if enc is AudioEncoding.PCM16 and f.get("rate", 24000) != 24000:
        raise ClientError(
            f"Invalid '{where}.rate': only 24000 is supported.", "invalid_value", f"{where}.rate"
        )
    return enc


def parse_update(session: Any, cfg: Mapping[str, Any], beta: bool) -> dict[str, Any]:
    """Apply a ``session.update`` body to a copy of ``cfg``; raises ClientError if invalid."""
    s = obj(session, "session")
    new = dict(cfg)
    _check_keys(s, _BETA_KEYS if beta else _GA_KEYS, "session")
    if "instructions" in s:
        new["instructions"] = text(s["instructions"], "session.instructions")
    if "tools" in s:
        new["tools"] = _tools(s["tools"], "session.tools")
    if "tool_choice" in s:
        new["tool_choice"] = s["tool_choice"]
    if "tracing" in s:
        new["tracing"] = s["tracing"]
    (_update_beta if beta else _update_ga)(s, new)
    return new


def _tools(tools: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise ClientError(f"Invalid type for '{where}': expected an array.", "invalid_type", where)
    for n, tool in enumerate(tools):
        t = obj(tool, f"{where}[{n}]")
        if t.get("type", "function") != "function" or not isinstance(t.get("name"), str):
            msg = f"Invalid tool at '{where}[{n}]': function tools need type 'function' and a name."
            raise ClientError(msg, "invalid_value", f"{where}[{n}]")
    return [dict(t) for t in tools]


def _update_ga(s: dict[str, Any], new: dict[str, Any]) -> None:
    if s.get("type") != "realtime":
        if "type" not in s:
            msg = "Missing required parameter: 'session.type'."
            raise ClientError(msg, "missing_required_parameter", "session.type")
        msg = f"Invalid value: {str(s.get('type'))[:40]!r}. Supported values are: 'realtime'."
        raise ClientError(msg, "invalid_value", "session.type")
    if "output_modalities" in s:
        if s["output_modalities"] not in (["audio"], ["text"]):
            msg = "Invalid 'session.output_modalities': use ['audio'] or ['text']."
            raise ClientError(msg, "invalid_value", "session.output_modalities")
        new["modalities"] = list(s["output_modalities"])
    for key in ("max_output_tokens", "truncation", "prompt", "include"):
        if key in s:
            new[key] = s[key]
    audio = obj(s.get("audio", {}), "session.audio")
    _check_keys(audio, frozenset({"input", "output"}), "session.audio")
    a_in = obj(audio.get("input", {}), "session.audio.input")
    a_out = obj(audio.get("output", {}), "session.audio.output")
    in_keys = frozenset({"format", "transcription", "noise_reduction", "turn_detection"})
    _check_keys(a_in, in_keys, "session.audio.input")
    _check_keys(a_out, frozenset({"format", "voice", "speed"}), "session.audio.output")
    if "format" in a_in:
        new["in_format"] = parse_ga_format(a_in["format"], "session.audio.input.format")
    if "format" in a_out:
        new["out_format"] = parse_ga_format(a_out["format"], "session.audio.output.format")
    if "transcription" in a_in:
        t = a_in["transcription"]
        new["transcription"] = (
            None if t is None else dict(obj(t, "session.audio.input.transcription"))
        )
    if "noise_reduction" in a_in:
        new["noise_reduction"] = a_in["noise_reduction"]
    if "turn_detection" in a_in:
        where = "session.audio.input.turn_detection"
        new["turn_detection"] = turn_detection(a_in["turn_detection"], where, False)
    if "voice" in a_out:
        new["voice"] = text(a_out["voice"], "session.audio.output.voice")
    if "speed" in a_out:
        new["speed"] = a_out["speed"]


def _update_beta(s: dict[str, Any], new: dict[str, Any]) -> None:
    if "modalities" in s:
        mods = s["modalities"]
        if not isinstance(mods, list) or sorted(map(str, mods)) not in (
            ["text"],
            ["audio", "text"],
        ):
            msg = f"Invalid modalities: {str(mods)[:60]}. Supported combinations are: ['text'] and ['audio', 'text']."
            raise ClientError(msg, "invalid_value", "session.modalities")
        new["modalities"] = list(mods)
    for key, target in (("input_audio_format", "in_format"), ("output_audio_format", "out_format")):
        if key in s:
            enc = FORMATS_BETA.get(s[key]) if isinstance(s[key], str) else None
            if enc is None:
                msg = f"Invalid value for 'session.{key}': use 'pcm16', 'g711_ulaw' or 'g711_alaw'."
                raise ClientError(msg, "invalid_value", f"session.{key}")
            new[target] = enc
    if "voice" in s:
        new["voice"] = text(s["voice"], "session.voice")
    if "input_audio_transcription" in s:
        t = s["input_audio_transcription"]
        new["transcription"] = (
            None if t is None else dict(obj(t, "session.input_audio_transcription"))
        )
    if "input_audio_noise_reduction" in s:
        new["noise_reduction"] = s["input_audio_noise_reduction"]
    if "turn_detection" in s:
        new["turn_detection"] = turn_detection(s["turn_detection"], "session.turn_detection", True)
    for key, target in (
        ("temperature", "temperature"),
        ("max_response_output_tokens", "max_output_tokens"),
        ("speed", "speed"),
    ):
        if key in s:
            new[target] = s[key]


def render_format(enc: AudioEncoding, beta: bool) -> Any:
    """An encoding as the dialect writes it."""
    if beta:
        return enc.value
    if enc is AudioEncoding.PCM16:
        return {"type": "audio/pcm", "rate": 24000}
    return {"type": "audio/pcmu" if enc is AudioEncoding.G711_ULAW else "audio/pcma"}


def render_session(
    cfg: Mapping[str, Any], beta: bool, model: str, session_id: str
) -> dict[str, Any]:
    """The session object of ``session.created`` / ``session.updated`` for the dialect."""
    td = dict(cfg["turn_detection"]) if cfg["turn_detection"] else None
    if beta:
        return {
            "id": session_id,
            "model": model,
            "modalities": list(cfg["modalities"]),
            "instructions": cfg["instructions"],
            "voice": cfg["voice"],
            "input_audio_format": render_format(cfg["in_format"], True),
            "output_audio_format": render_format(cfg["out_format"], True),
            "input_audio_transcription": cfg["transcription"],
            "input_audio_noise_reduction": cfg["noise_reduction"],
            "turn_detection": td,
            "tools": list(cfg["tools"]),
            "tool_choice": cfg["tool_choice"],
            "temperature": cfg["temperature"],
            "max_response_output_tokens": cfg["max_output_tokens"],
            "speed": cfg["speed"],
            "tracing": cfg["tracing"],
        }
    audio_in = {
        "format": render_format(cfg["in_format"], False),
        "transcription": cfg["transcription"],
        "noise_reduction": cfg["noise_reduction"],
        "turn_detection": td,
    }
    audio_out = {
        "format": render_format(cfg["out_format"], False),
        "voice": cfg["voice"],
        "speed": cfg["speed"],
    }
    return {
        "type": "realtime",
        "model": model,
        "output_modalities": list(cfg["modalities"]),
        "instructions": cfg["instructions"],
        "audio": {"input": audio_in, "output": audio_out},
        "tools": list(cfg["tools"]),
        "tool_choice": cfg["tool_choice"],
        "max_output_tokens": cfg["max_output_tokens"],
        "tracing": cfg["tracing"],
        "truncation": cfg["truncation"],
        "prompt": cfg["prompt"],
        "include": cfg["include"],
    }
