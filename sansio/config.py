"""Session configuration shared by every provider.

:class:`RealtimeConfig` is provider-neutral; ``sansio/openai.py`` and
``sansio/gemini.py`` translate it into their wire shapes. Values are checked
when the object is built (and by ``with_*`` copies): a bad value raises
:class:`~adk_realtime.sansio.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adk_realtime.sansio.errors import ConfigError


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


_MODALITIES = ("text", "audio")


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
            raise ConfigError("tools", f"must be a tuple of ToolDefinition, got {self.tools!r:.60}")
        object.__setattr__(self, "tools", tuple(self.tools))
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
