"""Session configuration shared by every provider.

:class:`RealtimeConfig` is provider-neutral; ``sansio/openai.py`` and
``sansio/gemini.py`` translate it into their wire shapes. Values are checked
when the object is built (and by ``with_*`` copies): a bad value raises
:class:`~adk_realtime.sansio.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.provider_options import GeminiOptions, OpenAIOptions

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")

# Keywords of neighbouring libraries (the OpenAI Agents SDK, Google ADK, the providers'
# own session objects) and what they are called here: a keyword name, or advice.
NEIGHBOUR_KEYWORDS: Mapping[str, str] = {
    "instructions": "instruction",
    "system_instruction": "instruction",
    "system_prompt": "instruction",
    "handoffs": "sub_agents",
    "handoff": "sub_agent",
    "agents": "sub_agents",
    "starting_agent": "RealtimeRunner(agent=...)",
    "turn_detection": "vad",
    "realtime_input_config": "vad",
    "input_audio_transcription": "input_transcription",
    "output_audio_transcription": "output_transcription",
    "response_modalities": "modalities",
    "output_modalities": "modalities",
    "max_response_output_tokens": "max_output_tokens",
    "max_tokens": "max_output_tokens",
    "voice_name": "voice",
    "speech_config": "voice",
    "functions": "tools",
    "function": "tool",
}


def did_you_mean(name: str, accepted: Iterable[str]) -> str | None:
    """What ``name`` (a keyword or method that does not exist) most likely meant, if anything:
    the name a neighbouring library's habit maps to, or the closest accepted one."""
    names = [n for n in accepted if not n.startswith("_")]
    hint = NEIGHBOUR_KEYWORDS.get(name)
    if hint is not None and not hint.isidentifier():
        return hint  # advice, e.g. where the setting lives instead
    bare = name.removeprefix("with_").removeprefix("set_")  # builder habits: with_voice()
    for candidate in (hint, name, bare):
        if candidate is None:
            continue
        if candidate in names:
            return candidate
        close = difflib.get_close_matches(candidate, names, n=1, cutoff=0.75)
        if close:
            return close[0]
    return _ELSEWHERE.get(hint or "")


# Where a setting lives when the object it was given to has no such keyword.
_ELSEWHERE: Mapping[str, str] = {
    "sub_agents": "RealtimeAgent(sub_agents=[...])",
    "sub_agent": "RealtimeAgent(sub_agents=[...])",
    "instruction": "RealtimeAgent(instruction=...) or RealtimeConfig(instruction=...)",
}


def unexpected_keyword(owner: str, name: str, accepted: Iterable[str]) -> TypeError:
    """The ``TypeError`` Python raises for an unknown keyword, plus "did you mean ...?"."""
    message = f"{owner}() got an unexpected keyword argument {name!r}"
    hint = did_you_mean(name, accepted)
    if hint is not None:
        message += f"; did you mean {hint if '(' in hint else repr(hint)}?"
    return TypeError(message)


def keyword_hints(owner: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Wrap a function (an ``__init__``) so an unknown keyword gets a "did you mean" error."""

    def wrap(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        params = inspect.signature(fn).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return fn
        accepted = frozenset(p.name for p in params if p.kind is not p.POSITIONAL_ONLY)

        @functools.wraps(fn)
        def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            for key in kwargs:
                if key not in accepted:
                    raise unexpected_keyword(owner, key, accepted - {"self"})
            return fn(*args, **kwargs)

        return checked

    return wrap


def _with_keyword_hints(cls: type[_T]) -> type[_T]:
    """Class decorator (outside ``@dataclass``): the generated ``__init__`` gets hints."""
    cls.__init__ = keyword_hints(cls.__name__)(cls.__init__)  # type: ignore[method-assign]
    return cls


class VadMode(enum.Enum):
    """Who decides when the user's turn ends."""

    SERVER = "server_vad"  # energy/voice based, server side
    SEMANTIC = "semantic_vad"  # OpenAI's semantic turn detection
    NONE = "none"  # manual: the client commits and asks for responses

    # Names the reference uses.
    ServerVad = "server_vad"
    SemanticVad = "semantic_vad"


class AudioEncoding(enum.Enum):
    PCM16 = "pcm16"
    G711_ULAW = "g711_ulaw"
    G711_ALAW = "g711_alaw"


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """An audio format on the wire: PCM16 at ``sample_rate``, or G.711 at 8 kHz."""

    encoding: AudioEncoding = AudioEncoding.PCM16
    sample_rate: int = 24000

    def __post_init__(self) -> None:
        if not isinstance(self.encoding, AudioEncoding):
            raise ConfigError("audio_format.encoding", f"unknown encoding {self.encoding!r}")
        if self.sample_rate not in (8000, 16000, 24000, 48000):
            raise ConfigError(
                "audio_format.sample_rate",
                f"{self.sample_rate} Hz is not supported (use 8000, 16000, 24000 or 48000)",
            )
        if self.encoding is not AudioEncoding.PCM16 and self.sample_rate != 8000:
            raise ConfigError("audio_format.sample_rate", "G.711 is always 8000 Hz")

    @classmethod
    def pcm16(cls, sample_rate: int = 24000) -> AudioFormat:
        return cls(AudioEncoding.PCM16, sample_rate)

    @classmethod
    def g711_ulaw(cls) -> AudioFormat:
        return cls(AudioEncoding.G711_ULAW, 8000)

    @classmethod
    def g711_alaw(cls) -> AudioFormat:
        return cls(AudioEncoding.G711_ALAW, 8000)

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding is AudioEncoding.PCM16 else 1


_EAGERNESS = ("low", "medium", "high", "auto")


@_with_keyword_hints
@dataclass(frozen=True, slots=True)
class VadConfig:
    """Turn detection. ``None`` fields mean "the provider's default"."""

    mode: VadMode = VadMode.SERVER
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    interrupt_response: bool | None = None
    create_response: bool | None = None
    eagerness: str | None = None
    idle_timeout_ms: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.mode, str) and not isinstance(self.mode, VadMode):
            # The wire names are accepted too: "server_vad", "semantic_vad", "none".
            try:
                object.__setattr__(self, "mode", VadMode(self.mode))
            except ValueError:
                pass
        if not isinstance(self.mode, VadMode):
            raise ConfigError(
                "vad.mode",
                f"unknown VAD mode {self.mode!r} (use VadMode.SERVER, VadMode.SEMANTIC "
                "or VadMode.NONE)",
            )
        if self.threshold is not None and not (
            isinstance(self.threshold, int | float)
            and not isinstance(self.threshold, bool)
            and math.isfinite(self.threshold)
            and 0.0 <= self.threshold <= 1.0
        ):
            raise ConfigError("vad.threshold", f"must be within 0.0..1.0, got {self.threshold!r}")
        for name in ("prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise ConfigError(f"vad.{name}", f"must be a non-negative int, got {value!r}")
        for name in ("interrupt_response", "create_response"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ConfigError(f"vad.{name}", f"must be True, False or None, got {value!r}")
        if self.eagerness is not None and self.eagerness not in _EAGERNESS:
            raise ConfigError(
                "vad.eagerness", f"must be one of {_EAGERNESS}, got {self.eagerness!r}"
            )

    @classmethod
    def server(cls) -> VadConfig:
        return cls(VadMode.SERVER)

    @classmethod
    def disabled(cls) -> VadConfig:
        return cls(VadMode.NONE)


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ConfigError("tools.name", f"must be a string, got {type(self.name).__name__}")
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ConfigError(
                "tools.name", f"tool names use letters, digits, '_' and '-', got {self.name!r}"
            )
        if len(self.name) > 64:
            raise ConfigError("tools.name", f"tool name longer than 64 characters: {self.name!r}")
        if not isinstance(self.description, str):
            raise ConfigError(
                "tools.description", f"must be a string, got {type(self.description).__name__}"
            )
        if not isinstance(self.parameters, dict):
            raise ConfigError("tools.parameters", "must be a JSON-schema object (dict)")


_TOOL_DICT_KEYS = frozenset({"type", "name", "description", "parameters"})


def _tool_from_dict(spec: dict[str, Any]) -> ToolDefinition:
    """An OpenAI-style function tool, ``{"type": "function", "name": ..., "description": ...,
    "parameters": {...}}`` (or Chat Completions' ``{"type": "function", "function": {...}}``)."""
    if spec.get("type", "function") != "function":
        raise ConfigError(
            "tools", f"only function tools are supported, got type {spec.get('type')!r}"
        )
    if isinstance(spec.get("function"), dict) and set(spec) <= {"type", "function"}:
        spec = {"type": "function", **spec["function"]}
        spec.pop("strict", None)  # Chat Completions only; the realtime APIs have no such flag
    unknown = sorted(set(spec) - _TOOL_DICT_KEYS)
    if unknown:
        raise ConfigError(
            "tools",
            f"unknown key(s) {', '.join(map(repr, unknown))} in a tool dict "
            "(a function tool has type, name, description and parameters)",
        )
    if "name" not in spec:
        raise ConfigError("tools.name", "a tool dict needs a 'name'")
    parameters = spec.get("parameters")
    return ToolDefinition(
        spec["name"],
        spec.get("description", ""),
        {"type": "object", "properties": {}} if parameters is None else parameters,
    )


_MODALITIES = ("text", "audio")


@_with_keyword_hints
@dataclass(frozen=True, slots=True)
class RealtimeConfig:
    """Provider-neutral session configuration.

    Build it with keywords or from ``RealtimeConfig()`` and the ``with_*``
    methods (each returns a checked copy). ``extra`` is merged into the
    provider's session/setup object as-is, for fields this library does not model.
    """

    instruction: str | None = None
    voice: str | None = None
    modalities: tuple[str, ...] | None = None
    input_audio_format: AudioFormat | None = None
    output_audio_format: AudioFormat | None = None
    vad: VadConfig | None = None
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: str | None = None
    input_transcription: bool = False
    input_transcription_model: str | None = None
    output_transcription: bool = True
    temperature: float | None = None
    max_output_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    openai: OpenAIOptions | None = None
    gemini: GeminiOptions | None = None

    def __post_init__(self) -> None:
        for name in ("instruction", "voice", "input_transcription_model", "tool_choice"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(name, f"must be a string or None, got {type(value).__name__}")
        for name in ("input_transcription", "output_transcription"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ConfigError(name, f"must be True or False, got {value!r}")
        if self.modalities is not None:
            if isinstance(self.modalities, str | bytes) or not isinstance(
                self.modalities, Iterable
            ):
                raise ConfigError(
                    "modalities", f"must be a tuple such as ('audio',), got {self.modalities!r}"
                )
            mods = tuple(self.modalities)
            object.__setattr__(self, "modalities", mods)
            if not mods or any(m not in _MODALITIES for m in mods) or len(set(mods)) != len(mods):
                raise ConfigError(
                    "modalities", f"must be a non-empty subset of {_MODALITIES}, got {mods!r}"
                )
        if isinstance(self.tools, str | bytes | dict) or not isinstance(self.tools, Iterable):
            raise ConfigError(
                "tools", f"must be a list of ToolDefinition (or dicts), got {self.tools!r:.60}"
            )
        object.__setattr__(
            self,
            "tools",
            tuple(_tool_from_dict(t) if isinstance(t, dict) else t for t in self.tools),
        )
        for tool in self.tools:
            if not isinstance(tool, ToolDefinition):
                raise ConfigError("tools", f"expected ToolDefinition, got {type(tool).__name__}")
        names = [t.name for t in self.tools]
        if len(names) != len(set(names)):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError("tools", f"duplicate tool names: {', '.join(dupes)}")
        if self.temperature is not None and not (
            isinstance(self.temperature, int | float)
            and not isinstance(self.temperature, bool)
            and math.isfinite(self.temperature)
            and 0.0 <= self.temperature <= 2.0
        ):
            raise ConfigError("temperature", f"must be within 0.0..2.0, got {self.temperature!r}")
        if self.max_output_tokens is not None and (
            not isinstance(self.max_output_tokens, int)
            or isinstance(self.max_output_tokens, bool)
            or self.max_output_tokens <= 0
        ):
            raise ConfigError(
                "max_output_tokens", f"must be a positive int, got {self.max_output_tokens!r}"
            )
        if self.tool_choice is not None and self.tool_choice not in ("auto", "none", "required"):
            if self.tool_choice not in names:
                raise ConfigError(
                    "tool_choice",
                    f"must be auto, none, required or a tool name, got {self.tool_choice!r}",
                )
        for name in ("input_audio_format", "output_audio_format"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, AudioFormat):
                raise ConfigError(name, f"expected AudioFormat, got {type(value).__name__}")
        if self.vad is not None and not isinstance(self.vad, VadConfig):
            raise ConfigError("vad", f"expected VadConfig, got {type(self.vad).__name__}")
        if not isinstance(self.extra, dict):
            raise ConfigError("extra", "must be a dict")
        _check_provider_options(self)

    # Builder-style copies, matching the reference's ``with_*`` methods.
    @classmethod
    def default(cls) -> RealtimeConfig:
        """The provider's defaults (same as ``RealtimeConfig()``; the reference's spelling)."""
        return cls()

    def replace(self, **changes: Any) -> RealtimeConfig:
        return dataclasses.replace(self, **changes)

    def with_instruction(self, instruction: str) -> RealtimeConfig:
        return self.replace(instruction=instruction)

    def with_voice(self, voice: str) -> RealtimeConfig:
        return self.replace(voice=voice)

    def with_modalities(self, modalities: list[str] | tuple[str, ...]) -> RealtimeConfig:
        return self.replace(modalities=tuple(modalities))

    def with_vad(self, vad: VadConfig) -> RealtimeConfig:
        return self.replace(vad=vad)

    def with_server_vad(self) -> RealtimeConfig:
        return self.replace(vad=VadConfig.server())

    def with_tool(self, tool: ToolDefinition) -> RealtimeConfig:
        return self.replace(tools=(*self.tools, tool))

    def with_input_audio_format(self, fmt: AudioFormat) -> RealtimeConfig:
        return self.replace(input_audio_format=fmt)

    def with_output_audio_format(self, fmt: AudioFormat) -> RealtimeConfig:
        return self.replace(output_audio_format=fmt)

    def with_input_transcription(self, enabled: bool = True) -> RealtimeConfig:
        return self.replace(input_transcription=enabled)

    def with_temperature(self, temperature: float) -> RealtimeConfig:
        return self.replace(temperature=temperature)

    def with_max_output_tokens(self, tokens: int) -> RealtimeConfig:
        return self.replace(max_output_tokens=tokens)

    @property
    def wants_audio(self) -> bool:
        return self.modalities is None or "audio" in self.modalities


def _check_provider_options(config: RealtimeConfig) -> None:
    # The typed provider-only options (sansio/provider_options.py); each provider
    # reads its own and ignores the other's.
    for name, kind in (("openai", OpenAIOptions), ("gemini", GeminiOptions)):
        value = getattr(config, name)
        if value is not None and not isinstance(value, kind):
            raise ConfigError(name, f"expected {kind.__name__}, got {type(value).__name__}")
    if config.openai is not None and not config.input_transcription:
        for name in ("transcription_language", "transcription_prompt"):
            value = getattr(config.openai, name)
            if value is not None:
                raise ConfigError(f"openai.{name}", f"{value!r} needs input_transcription=True")
