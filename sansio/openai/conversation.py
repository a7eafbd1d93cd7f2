"""What an OpenAI conversation needs to continue on a new connection: replay and input audio.

Theory of operation
-------------------
An OpenAI Realtime session cannot be resumed: when its connection ends (or the
session hits its maximum duration) the conversation continues on a fresh
session that ``OpenAIProtocol.start()`` fills from the conversation record. The
pure pieces live here.

Replay (:func:`replay_messages`)
    One ``conversation.item.create`` per record item, in order, with the item's
    id, in the dialect's shapes: user and system text as ``input_text``;
    assistant text as ``output_text`` (GA) or ``text`` (beta), a spoken
    assistant turn as its transcript (audio cannot be replayed); function calls
    as ``function_call`` and outputs as ``function_call_output`` items. A user
    message without text (speech without a transcript) goes as its audio, an
    ``input_audio`` part, while :class:`TurnAudio` holds it; other messages
    without text (an assistant cut before a word was heard) are not replayed. No message exceeds the provider's limit: a text
    too long for one message goes as several items of the same role (the first
    keeps the id, the others get the server's), and a call or an output too long
    for one raises ``MessageTooLargeToSend`` (nothing is queued).

Ids (:func:`api_id`)
    OpenAI takes client item and call ids of at most 32 characters. The ids the
    record learnt from the server, and the ones the protocol makes up, are such
    ids and are kept, so a later output, truncation or deletion for the same id
    still matches. A seeded id that is not (``protocol.seed``) is replaced by a
    stable one derived from it (``h_`` and 24 hex digits of its SHA-256).

Uncommitted input audio (:class:`InputAudioLog`)
    Each input byte must reach a committed user turn exactly once. The log keeps
    the input audio appended since the server's last commit point, bounded by
    ``max_replay_ms``. Positions are on the connection's input timeline, counted
    from its first append, in 1/48 ms units (exact for PCM16 at 24 kHz, 1 byte
    per unit, and for G.711 at 8 kHz, 6 units per byte). The commit points:

    * server VAD: ``input_audio_buffer.committed`` after a ``speech_stopped``
      with ``audio_end_ms`` commits the input up to that many ms
      (:meth:`InputAudioLog.commit_to`); what follows stays in the buffer;
    * a client ``AudioCommit`` commits everything appended so far
      (:meth:`~InputAudioLog.commit_all`);
    * ``input_audio_buffer.cleared`` or a client ``AudioClear`` drop it
      (:meth:`~InputAudioLog.clear`).

    On a new connection the uncommitted audio is appended again
    (:meth:`~InputAudioLog.restart`) and becomes the start of the new timeline.
    With server VAD only from ``SILENCE_TAIL_MS`` before the speech the server
    reported starting (``speech_started``), or before the end when it reported
    none: the rest is silence by the server's own judgement, and re-sending it
    on every rollover would cost up to ``max_replay_ms`` each time
    (``skipped_ms`` counts it; it is not an error).
    Audio older than ``max_replay_ms`` leaves the log (counted in ``dropped_ms``);
    if a connection ends before a commit covered it, it cannot be replayed and
    :meth:`~InputAudioLog.restart` reports how much.

    Caveat for the real service: its VAD may commit a little more than
    ``audio_end_ms`` (the item holds the audio up to where it decided the turn
    ended, padded). A switch right after such a commit re-sends those few ms; the
    simulator commits exactly ``audio_end_ms``.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from adk_realtime.sansio.config import AudioEncoding, AudioFormat
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.history import (
    History,
    HistoryFunctionCall,
    HistoryFunctionOutput,
    HistoryItem,
    HistoryMessage,
)
from adk_realtime.sansio.json_fields import check_size, dumps
from adk_realtime.sansio.openai import wire
from adk_realtime.sansio.openai.wire import Dialect

__all__ = [
    "DEFAULT_MAX_REPLAY_MS",
    "MAX_TURN_AUDIO_BYTES",
    "InputAudioLog",
    "TurnAudio",
    "api_id",
    "normalize_ids",
    "replay_messages",
]

DEFAULT_MAX_REPLAY_MS = 30_000
"""Uncommitted input audio kept for a replay, by default."""

SILENCE_TAIL_MS = 1000
"""With server VAD, the input audio a rollover sends again starts this long before the
speech the server heard start, or before the end when it heard none: the rest is
silence (the tail covers speech the VAD had not reported yet)."""

MAX_TURN_AUDIO_BYTES = 2 * 2**20
"""The audio of committed user turns kept to replay them while they have no transcript,
in all (about 43 s of PCM16 at 24 kHz; the oldest turns' audio goes first)."""

MAX_ID_LENGTH = 32  # OpenAI's limit on client item and call ids ("maximum length 32")
_API_ID = re.compile(r"[A-Za-z0-9_\-]{1,32}")
_UNITS_PER_MS = 48  # 1/48 ms: one PCM16 24 kHz byte, one sixth of a G.711 byte


def api_id(value: str) -> str:
    """``value`` if OpenAI takes it as an item or call id, else a stable id made from it."""
    if _API_ID.fullmatch(value):
        return value
    return "h_" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def normalize_ids(history: History) -> tuple[History, dict[str, str]]:
    """``history`` with every item and call id valid for OpenAI (:func:`api_id`), and the
    call ids that changed (``{given: used}``)."""
    calls: dict[str, str] = {}
    items: list[HistoryItem] = []
    for item in history:
        item_id = api_id(item.item_id)
        if isinstance(item, HistoryMessage):
            if item_id != item.item_id:
                item = HistoryMessage(item_id, item.role, item.text, item.spoken, item.truncated)
        else:
            call_id = api_id(item.call_id)
            if call_id != item.call_id:
                calls[item.call_id] = call_id
            if isinstance(item, HistoryFunctionCall):
                if (item_id, call_id) != (item.item_id, item.call_id):
                    item = HistoryFunctionCall(item_id, call_id, item.name, item.arguments)
            elif (item_id, call_id) != (item.item_id, item.call_id):
                item = HistoryFunctionOutput(item_id, call_id, item.output)
        items.append(item)
    try:
        return History(tuple(items)), calls
    except ConfigError as exc:  # two ids made the same: astronomically unlikely
        raise ConfigError("history", f"ids not valid for OpenAI collide: {exc}") from None


def _create(item: dict[str, Any]) -> str:
    return dumps({"type": "conversation.item.create", "item": item})


def _message_items(message: HistoryMessage, dialect: Dialect, limit: int) -> list[str]:
    item = wire.message_item(message.text, message.role, dialect)
    item["id"] = message.item_id
    text = _create(item)
    if len(text) <= limit:  # (ASCII-only JSON: characters are bytes)
        return [text]
    # Several items of the same role; the first keeps the id. A character takes at
    # most 12 bytes of JSON (a surrogate pair as two \uXXXX escapes).
    piece = max(1, (limit - len(_create(wire.message_item("", message.role, dialect))) - 64) // 12)
    out = []
    for start in range(0, len(message.text), piece):
        part = wire.message_item(message.text[start : start + piece], message.role, dialect)
        if start == 0:
            part["id"] = message.item_id
        out.append(check_size(_create(part), limit, "a replayed message"))
    return out


def replay_messages(
    items: Iterable[HistoryItem],
    dialect: Dialect,
    limit: int,
    audio_of: Callable[[str], bytes | None] = lambda _item_id: None,
) -> list[str]:
    """The ``conversation.item.create`` messages that rebuild ``items`` on a new session;
    a user message without text whose audio ``audio_of`` has goes as ``input_audio``.

    Raises ``MessageTooLargeToSend`` for a call or an output over ``limit``.
    """
    out: list[str] = []
    for item in items:
        if isinstance(item, HistoryMessage):
            if item.text:
                out.extend(_message_items(item, dialect, limit))
            elif item.role == "user" and (audio := audio_of(item.item_id)):
                spoken = _create(wire.input_audio_item(audio, item.item_id))
                if len(spoken) <= limit:  # (else left out, as without the audio)
                    out.append(spoken)
        elif isinstance(item, HistoryFunctionCall):
            call = {
                "type": "function_call",
                "id": item.item_id,
                "call_id": item.call_id,
                "name": item.name,
                "arguments": item.arguments,
            }
            out.append(check_size(_create(call), limit, "a replayed function call"))
        else:
            output = wire.function_output_item(item.call_id, item.output)
            output["id"] = item.item_id
            out.append(check_size(_create(output), limit, "a replayed function output"))
    return out


class TurnAudio:
    """The audio of committed user turns, by item id, to replay a turn that has no
    transcript (input transcription off, or not arrived yet). Bounded: at most
    ``max_bytes`` in all, the oldest turns' audio leaving first; a turn over the bound
    is not kept. Audio in another format than the session's input cannot be replayed:
    a format change lets it all go."""

    __slots__ = ("_audio", "_bytes", "_upb", "max_bytes")

    def __init__(self, max_bytes: int = MAX_TURN_AUDIO_BYTES) -> None:
        self.max_bytes = max_bytes
        self._audio: dict[str, bytes] = {}
        self._bytes = 0
        self._upb = 1

    def keep(self, item_id: str, audio: bytes) -> None:
        """The server committed ``audio`` as user item ``item_id``."""
        self.discard(item_id)
        if not audio or len(audio) > self.max_bytes:
            return
        self._audio[item_id] = audio
        self._bytes += len(audio)
        while self._bytes > self.max_bytes:
            self.discard(next(iter(self._audio)))

    def get(self, item_id: str) -> bytes | None:
        """The audio of user item ``item_id``, if kept."""
        return self._audio.get(item_id)

    def discard(self, item_id: str) -> None:
        """Let the audio of ``item_id`` go (it has a transcript, or left the record)."""
        audio = self._audio.pop(item_id, None)
        if audio is not None:
            self._bytes -= len(audio)

    def set_format(self, fmt: AudioFormat) -> None:
        """The input format is ``fmt`` from now on."""
        upb = units_per_byte(fmt)
        if upb != self._upb:
            self._audio.clear()
            self._bytes = 0
            self._upb = upb


def units_per_byte(fmt: AudioFormat) -> int:
    """Timeline units (1/48 ms) per byte of a wire input format."""
    return 6 if fmt.encoding is not AudioEncoding.PCM16 else 1


class InputAudioLog:
    """The input audio appended since the server's last commit point; see the module
    docstring. Bounded by ``max_replay_ms``; pure (positions are counted, not timed)."""

    __slots__ = (
        "_chunks",
        "_committed",
        "_committed_audio",
        "_dropped",
        "_end",
        "_max_units",
        "_skip",
        "_skipped",
        "_speech_from",
        "_start",
        "_upb",
        "server_vad",
    )

    def __init__(self, max_replay_ms: int, fmt: AudioFormat = wire.PCM16_24K) -> None:
        if type(max_replay_ms) is not int or max_replay_ms < 0:
            raise ConfigError("max_replay_ms", f"must be a non-negative int, got {max_replay_ms!r}")
        self._max_units = max_replay_ms * _UNITS_PER_MS
        self._upb = units_per_byte(fmt)
        self._chunks: deque[bytes] = deque()
        self._skip = 0  # bytes of the first chunk already gone
        self._start = 0  # timeline position of the first byte kept
        self._end = 0  # timeline position after the last byte appended
        self._committed = 0  # the commit point: audio before it is in a user turn
        self._dropped = 0  # units that left the log before a commit covered them
        self._committed_audio: list[bytes] = []  # what the last commit point took
        self._speech_from: int | None = None  # server VAD heard speech start there
        self._skipped = 0  # ms of silence a restart did not send again
        self.server_vad = True
        """The server's VAD decides the turns (else the client commits all it sent)."""

    @property
    def uncommitted_ms(self) -> int:
        """Milliseconds of audio kept for a replay."""
        return (self._end - self._start) // _UNITS_PER_MS

    @property
    def skipped_ms(self) -> int:
        """Milliseconds of silence restarts did not send again (see :meth:`restart`)."""
        return self._skipped

    @property
    def dropped_ms(self) -> int:
        """Milliseconds of input audio that left the log (over ``max_replay_ms``) before a
        commit point covered them, so far."""
        return self._dropped // _UNITS_PER_MS

    def append(self, audio: bytes) -> None:
        """Keep ``audio`` (just sent as ``input_audio_buffer.append``)."""
        self._chunks.append(audio)
        self._end += len(audio) * self._upb
        if self._end - self._start > self._max_units:
            self._drop_before(self._end - self._max_units, counted=True)

    def set_format(self, fmt: AudioFormat) -> None:
        """The input format changed: audio kept in the old one cannot be replayed in the
        new one, so it leaves (counted as dropped unless committed later)."""
        upb = units_per_byte(fmt)
        if upb != self._upb:
            self._drop_before(self._end, counted=True)
            self._upb = upb

    def commit_to(self, audio_end_ms: int) -> None:
        """Server VAD committed the input up to ``audio_end_ms`` on this connection."""
        point = min(max(0, audio_end_ms) * _UNITS_PER_MS, self._end)
        if point > self._committed:
            self._committed = point
            self._committed_audio = self._drop_before(point, counted=False)
            self._speech_from = None

    def speech_started(self, audio_start_ms: int) -> None:
        """Server VAD heard speech begin at ``audio_start_ms`` on this connection: the
        audio from there on is the user's next turn."""
        if self._speech_from is None:
            self._speech_from = max(0, audio_start_ms) * _UNITS_PER_MS

    def commit_all(self) -> None:
        """A client ``AudioCommit``: everything appended so far is in a user turn."""
        self._committed = self._end
        self._committed_audio = self._drop_before(self._end, counted=False)
        self._speech_from = None

    def clear(self) -> None:
        """The buffer was cleared: what it held is in no turn, on purpose."""
        self.commit_all()
        self._committed_audio = []

    def take_committed(self) -> bytes:
        """The audio the last commit point took (the part still held: audio over
        ``max_replay_ms`` had left), once; ``b""`` after a clear."""
        audio, self._committed_audio = b"".join(self._committed_audio), []
        return audio

    def restart(self) -> tuple[bytes, int]:
        """A new connection: ``(audio to append again, ms lost)``. The audio is the start
        of the new connection's timeline; ms lost is the uncommitted audio that had
        left the log (it could not be replayed).

        With server VAD, audio more than ``SILENCE_TAIL_MS`` before the speech it heard
        start (or, when it heard none, before the end) is silence by the server's own
        judgement: it is not sent again (counted in :attr:`skipped_ms`, whole ms)."""
        lost = max(0, self._start - self._committed) // _UNITS_PER_MS
        data = b"".join(self._chunks)[self._skip :]
        if self.server_vad:
            speech = self._end if self._speech_from is None else self._speech_from
            silent_ms = max(0, speech - SILENCE_TAIL_MS * _UNITS_PER_MS - self._start)
            silent_ms //= _UNITS_PER_MS
            skip = min(silent_ms * _UNITS_PER_MS // self._upb, len(data))
            skip -= skip % (_UNITS_PER_MS // self._upb)  # whole ms
            self._skipped += skip * self._upb // _UNITS_PER_MS
            data = data[skip:]
            if self._speech_from is not None:  # where it is on the new timeline
                self._speech_from = max(0, self._speech_from - self._start - skip * self._upb)
        else:
            self._speech_from = None
        self._chunks.clear()
        self._skip = 0
        self._start = self._committed = 0
        self._end = len(data) * self._upb
        if data:
            self._chunks.append(data)
        return data, lost

    def _drop_before(self, point: int, *, counted: bool) -> list[bytes]:
        """Let the audio before timeline ``point`` go (whole samples); returns it."""
        gone: list[bytes] = []
        upb = self._upb
        sample = 2 if upb == 1 else 1  # PCM16 samples are two bytes
        while self._chunks and self._start < point:
            chunk = self._chunks[0]
            left = len(chunk) - self._skip
            wanted = -(-(point - self._start) // upb)  # bytes, rounded up
            wanted += -wanted % sample
            take = min(left, wanted)
            if counted:
                self._dropped += max(
                    0, min(self._start + take * upb, point) - max(self._start, self._committed)
                )
            self._start += take * upb
            gone.append(chunk[self._skip : self._skip + take])
            if take == left:
                self._chunks.popleft()
                self._skip = 0
            else:
                self._skip += take
        if not self._chunks:
            self._start = self._end
        return gone
