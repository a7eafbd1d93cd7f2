"""The unified event model shared by every provider and transport.

Server events are what a provider tells us (decoded from OpenAI Realtime or
Gemini Live wire messages); client events are what we tell a provider (encoded
by the provider's protocol object). All are frozen, slotted dataclasses so they
are cheap to create on the 20 ms audio path and safe to hand across tasks.

Audio payloads (``AudioDelta.delta``) are ``bytes`` of PCM16 little-endian mono
at the provider's output rate (24 kHz for both OpenAI and Gemini) unless the
session configured G.711, in which case they are the G.711 bytes as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from adk_realtime.sansio.config import RealtimeConfig

# --------------------------------------------------------------------------
# Server events
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionCreated:
    """The provider opened the session (OpenAI ``session.created``, Gemini ``setupComplete``)."""

    session: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    """The provider applied a configuration change."""

    session: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AudioDelta:
    """A chunk of model audio. ``delta`` is PCM16 at 24 kHz (or G.711 when configured)."""

    delta: bytes
    item_id: str = ""
    response_id: str = ""
    content_index: int = 0


@dataclass(frozen=True, slots=True)
class AudioDone:
    """The model finished the audio of an output item."""

    item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A chunk of model text (text modality)."""

    delta: str
    item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class TextDone:
    """The model finished a text part; ``text`` is the whole of it."""

    text: str
    item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    """A chunk of the transcript of the model's own speech."""

    delta: str
    item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class TranscriptDone:
    """The transcript of the model's speech for one item is complete."""

    transcript: str
    item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class InputTranscriptDelta:
    """A chunk of the transcript of the user's speech."""

    delta: str
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class InputTranscriptDone:
    """The transcript of one user utterance is complete."""

    transcript: str
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class FunctionCallDelta:
    """A chunk of a function call's JSON arguments."""

    call_id: str
    delta: str
    item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class FunctionCallDone:
    """The model asks for a tool call; answer it with a :class:`ToolResponse`."""

    call_id: str
    name: str
    arguments: str
    item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    """The model started a response."""

    response_id: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one response (or one Gemini turn).

    The totals come first (positional ``Usage(input, output, total)`` still works); the
    splits by modality follow, 0 where the provider reports none. ``cached_*`` count
    input tokens served from the provider's cache (a part of ``input_tokens``).
    OpenAI: ``usage.input_token_details`` / ``output_token_details``; Gemini:
    ``usageMetadata.promptTokensDetails`` / ``responseTokensDetails`` by modality and
    ``cachedContentTokenCount`` (``cacheTokensDetails`` by modality).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    cached_input_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """The model finished a response. ``status`` is e.g. completed, cancelled, failed."""

    response_id: str = ""
    status: str = "completed"
    usage: Usage | None = None
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Server VAD heard the user start speaking, ``audio_start_ms`` into the input buffer."""

    audio_start_ms: int = 0
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """Server VAD heard the user stop speaking, ``audio_end_ms`` into the input buffer."""

    audio_end_ms: int = 0
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class AudioCommitted:
    """The input audio buffer was committed as a user item."""

    item_id: str = ""
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True)
class AudioCleared:
    """The input audio buffer was cleared."""


@dataclass(frozen=True, slots=True)
class OutputAudioCleared:
    """The provider dropped model audio not yet played (WebRTC ``output_audio_buffer.cleared``)."""

    response_id: str = ""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The model's output was interrupted by the user (Gemini ``interrupted``)."""


@dataclass(frozen=True, slots=True)
class ItemCreated:
    """A conversation item was added (OpenAI ``conversation.item.*``)."""

    item_id: str = ""
    item: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ItemTruncated:
    """An assistant audio item was truncated at ``audio_end_ms``."""

    item_id: str = ""
    content_index: int = 0
    audio_end_ms: int = 0


@dataclass(frozen=True, slots=True)
class ItemDeleted:
    """A conversation item was deleted."""

    item_id: str = ""


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """Gemini finished its turn (``turnComplete``)."""


@dataclass(frozen=True, slots=True)
class GenerationComplete:
    """Gemini finished generating (``generationComplete``); playback may still go on."""


@dataclass(frozen=True, slots=True)
class ToolCallCancelled:
    """Gemini cancelled pending tool calls; their results must not be sent."""

    call_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GoAway:
    """The server will close soon; ``time_left`` is in seconds."""

    time_left: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionResumptionUpdate:
    """Gemini gave a new resumption handle (``newHandle``) and whether it is usable now."""

    handle: str | None = None
    resumable: bool = False


@dataclass(frozen=True, slots=True)
class SessionResumed:
    """The transport reconnected transparently with the latest resumption handle."""

    handle: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimitsUpdated:
    """OpenAI rate limits changed."""

    rate_limits: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Error:
    """The provider reported an error, or a message could not be understood.

    ``benign`` marks an error the provider reports for an expected race, which
    changes nothing and needs no reaction (OpenAI's ``response_cancel_not_active``:
    a cancel that arrived after the response had ended, as on many barge-ins).
    """

    code: str | None = None
    message: str = ""
    event_id: str | None = None
    benign: bool = False


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message type this library does not model; ``raw`` is the decoded JSON."""

    type: str
    raw: dict[str, Any] = field(default_factory=dict)


ServerEvent = (
    SessionCreated
    | SessionUpdated
    | AudioDelta
    | AudioDone
    | TextDelta
    | TextDone
    | TranscriptDelta
    | TranscriptDone
    | InputTranscriptDelta
    | InputTranscriptDone
    | FunctionCallDelta
    | FunctionCallDone
    | ResponseCreated
    | ResponseDone
    | SpeechStarted
    | SpeechStopped
    | AudioCommitted
    | AudioCleared
    | OutputAudioCleared
    | Interrupted
    | ItemCreated
    | ItemTruncated
    | ItemDeleted
    | TurnComplete
    | GenerationComplete
    | ToolCallCancelled
    | GoAway
    | SessionResumptionUpdate
    | SessionResumed
    | RateLimitsUpdated
    | Error
    | Unknown
)

# --------------------------------------------------------------------------
# Client events (what we ask a provider to do)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """Apply a :class:`~adk_realtime.sansio.config.RealtimeConfig` to the session."""

    config: RealtimeConfig


@dataclass(frozen=True, slots=True)
class AudioAppend:
    """Append input audio (already in the provider's input format) to the buffer."""

    audio: bytes


# The reference names the same command both ways.
InputAudioBufferAppend = AudioAppend


@dataclass(frozen=True, slots=True)
class AudioCommit:
    """Commit the input audio buffer as a user turn (manual turn taking)."""


@dataclass(frozen=True, slots=True)
class AudioClear:
    """Drop the input audio buffered so far."""


@dataclass(frozen=True, slots=True)
class ToolResponse:
    """The result of a tool call, answering :class:`FunctionCallDone` ``call_id``.

    ``name`` is needed by Gemini (its ``functionResponses`` carry id and name);
    protocols fill it from the pending call when left empty.
    """

    call_id: str
    output: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class ItemCreate:
    """Add a conversation item: a user text message, or a function-call output."""

    text: str | None = None
    role: Literal["user", "system", "assistant"] = "user"
    tool_response: ToolResponse | None = None


@dataclass(frozen=True, slots=True)
class ResponseCreate:
    """Ask the model to respond now; ``instructions`` overrides for this response only."""

    instructions: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCancel:
    """Cancel the in-progress response."""

    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class ItemTruncate:
    """Truncate an assistant audio item at ``audio_end_ms`` (what the user actually heard)."""

    item_id: str
    audio_end_ms: int
    content_index: int = 0


ClientEvent = (
    SessionUpdate
    | AudioAppend
    | AudioCommit
    | AudioClear
    | ItemCreate
    | ResponseCreate
    | ResponseCancel
    | ItemTruncate
)
