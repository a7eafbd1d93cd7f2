"""OpenAI Realtime conversation items and the input audio buffer, for the simulator.

What a ``conversation.item.create`` may hold and how an item is written back (GA and beta
shapes), the conversation as the brain sees it, and :class:`InputAudioBuffer`: the audio the
client appended and has not committed yet, measured in input-audio time.

Input-audio time is counted in ms from the connection's first ``input_audio_buffer.append``
(what ``speech_started.audio_start_ms`` and ``speech_stopped.audio_end_ms`` report). A server-VAD
commit takes the buffer *up to* ``audio_end_ms`` and leaves the rest in the buffer for the next
turn; ``input_audio_buffer.commit`` takes all of it. So every appended byte is committed at most
once, in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adk_realtime.sansio.config import AudioEncoding
from adk_realtime.sansio.sim.brain import Turn
from adk_realtime.sansio.sim.core import b64decode_any, pcm_to_float
from adk_realtime.sansio.sim.openai_config import ClientError, obj, text
from adk_realtime.sansio.sim.speech import SpeechRecognizer

__all__ = ["InputAudioBuffer", "SimItem", "input_rate", "item_turns", "item_wire", "parse_item"]


@dataclass(slots=True)
class SimItem:
    """One conversation item of a simulated OpenAI session."""

    id: str
    type: str  # message | function_call | function_call_output
    role: str = ""
    part: str = ""  # input_text | input_audio | output_audio | output_text
    text: str = ""  # the text, or the transcript of audio
    full_text: str = ""  # what an assistant audio item says in full (truncation cuts text)
    show_transcript: bool = True
    name: str = ""
    call_id: str = ""
    arguments: str = ""
    status: str = "completed"
    audio_ms: float = 0.0
    images: int = 0  # input_image parts (the brain may say it sees them)


def item_wire(item: SimItem, beta: bool) -> dict[str, Any]:
    """The item as the dialect writes it (``conversation.item.*``, ``response.output_item.*``)."""
    out: dict[str, Any] = {"id": item.id, "object": "realtime.item", "type": item.type}
    out["status"] = item.status
    if item.type == "function_call":
        out.update(name=item.name, call_id=item.call_id, arguments=item.arguments)
        return out
    if item.type == "function_call_output":
        out.update(call_id=item.call_id, output=item.text)
        return out
    out["role"] = item.role
    part = item.part
    if beta:
        part = {"output_audio": "audio", "output_text": "text"}.get(part, part)
    if not part or (item.role == "assistant" and item.status == "in_progress"):
        out["content"] = []
    elif part == "input_image":  # echoed without the (large) image_url
        out["content"] = [{"type": "input_image"}]
    elif part in ("input_audio", "audio", "output_audio"):
        transcript = item.text if item.show_transcript else None
        out["content"] = [{"type": part, "transcript": transcript}]
    else:
        out["content"] = [{"type": part, "text": item.text}]
    return out


def item_turns(items: Sequence[SimItem]) -> list[Turn]:
    """The conversation as the brain sees it."""
    out: list[Turn] = []
    names = {i.call_id: i.name for i in items if i.type == "function_call"}
    for i in items:
        if i.type == "function_call":
            out.append(Turn("function_call", name=i.name, call_id=i.call_id, arguments=i.arguments))
        elif i.type == "function_call_output":
            name = names.get(i.call_id, "")
            out.append(Turn("function_result", text=i.text, name=name, call_id=i.call_id))
        elif i.role in ("user", "assistant", "system"):
            out.append(Turn(i.role, text=i.text, images=i.images))  # type: ignore[arg-type]
    return out


def parse_item(
    raw: Any,
    items: Sequence[SimItem],
    in_format: AudioEncoding,
    new_id: Callable[[], str],
) -> SimItem:
    """Validate ``conversation.item.create``'s ``item`` against the conversation ``items``.

    Client-chosen ids are kept (they must be new); a ``function_call_output`` must answer a
    ``function_call`` already in the conversation. Raises :class:`ClientError` and changes
    nothing when the item is invalid.
    """
    raw = obj(raw, "item")
    item_id = raw.get("id") or new_id()
    if not isinstance(item_id, str) or any(i.id == item_id for i in items):
        msg = f"Item id is invalid or already in use: {str(item_id)[:64]}"
        raise ClientError(msg, "invalid_value", "item.id")
    kind = raw.get("type", "message")
    if kind == "function_call_output":
        call_id = text(raw.get("call_id"), "item.call_id")
        if not any(i.type == "function_call" and i.call_id == call_id for i in items):
            msg = f"Tool call ID '{call_id[:64]}' not found in conversation."
            raise ClientError(msg, "invalid_value", "item.call_id")
        return SimItem(item_id, kind, call_id=call_id, text=text(raw.get("output"), "item.output"))
    if kind == "function_call":
        item = SimItem(item_id, kind, name=text(raw.get("name"), "item.name"))
        item.call_id = text(raw.get("call_id"), "item.call_id")
        item.arguments = text(raw.get("arguments", ""), "item.arguments")
        return item
    if kind != "message":
        msg = f"Invalid value: {str(kind)[:40]!r}. Supported values are: 'message', 'function_call' and 'function_call_output'."
        raise ClientError(msg, "invalid_value", "item.type")
    role = raw.get("role")
    if role not in ("user", "assistant", "system"):
        msg = "Invalid 'item.role': use 'user', 'assistant' or 'system'."
        raise ClientError(msg, "invalid_value", "item.role")
    content = raw.get("content")
    if not isinstance(content, list):
        msg = "Invalid type for 'item.content': expected an array."
        raise ClientError(msg, "invalid_type", "item.content")
    item = SimItem(item_id, kind, role)
    for n, c in enumerate(content):
        _read_content(item, obj(c, f"item.content[{n}]"), n, in_format)
    item.full_text = item.text
    return item


def _read_content(item: SimItem, c: dict[str, Any], n: int, in_format: AudioEncoding) -> None:
    where = f"item.content[{n}]"
    ctype = c.get("type")
    assistant = item.role == "assistant"
    if ctype in ("input_text", "text", "output_text"):
        item.part = "output_text" if assistant else "input_text"
        item.text += text(c.get("text"), f"{where}.text")
    elif ctype in ("input_audio", "audio", "output_audio"):
        item.part = "output_audio" if assistant else "input_audio"
        if "audio" in c:
            audio = b64decode_any(text(c.get("audio"), f"{where}.audio"))
            if audio is None:
                msg = "Invalid 'audio'. Expected base64-encoded audio bytes."
                raise ClientError(msg, "invalid_value", f"{where}.audio")
            rate = input_rate(in_format)
            ears = SpeechRecognizer(rate)
            samples = pcm_to_float(audio, in_format)
            ears.feed_samples(samples)
            item.text += ears.text
            item.audio_ms += samples.size * 1000 / rate
        else:
            item.text += text(c.get("transcript"), f"{where}.transcript", optional=True)
    elif ctype == "input_image":
        url = text(c.get("image_url"), f"{where}.image_url")
        head, _, data = url.partition(";base64,")
        if not head.startswith(("data:image/jpeg", "data:image/png")) or not data:
            msg = "Invalid 'image_url'. Expected a base64-encoded data URL of a PNG or JPEG image."
            raise ClientError(msg, "invalid_value", f"{where}.image_url")
        item.images += 1
        item.part = item.part or "input_image"
    else:
        raise ClientError(
            f"Invalid content type at '{where}.type'.", "invalid_value", f"{where}.type"
        )


def input_rate(encoding: AudioEncoding) -> int:
    """The sample rate of input audio in ``encoding`` (PCM16 at 24 kHz, G.711 at 8 kHz)."""
    return 24000 if encoding is AudioEncoding.PCM16 else 8000


class InputAudioBuffer:
    """The audio appended and not yet committed, in input-audio time.

    Each append is kept as it came, with its encoding's bytes per ms and sample width, so a
    cut at a time lands on the right byte even if the format changed mid-buffer.
    ``start_ms`` is the input-audio time of the first byte held, ``end_ms`` of the next one to
    come (the whole input so far); at most ``max_bytes`` are held: past that the oldest audio
    is given up (:meth:`append` returns it) rather than kept without bound.
    """

    def __init__(self, max_bytes: int = 32 * 2**20) -> None:
        self._chunks: deque[tuple[bytes, float, int]] = deque()  # audio, bytes per ms, width
        self._held = 0
        self.max_bytes = max_bytes
        self.start_ms = 0.0
        self.ms = 0.0

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.ms

    def append(self, audio: bytes, encoding: AudioEncoding) -> bytes:
        """Hold ``audio``; returns the oldest audio given up to stay within ``max_bytes``."""
        width = 2 if encoding is AudioEncoding.PCM16 else 1
        per_ms = input_rate(encoding) * width / 1000
        self._chunks.append((audio, per_ms, width))
        self._held += len(audio)
        self.ms += len(audio) / per_ms
        over = self._held - self.max_bytes
        return self._take(self.start_ms + self._ms_of_first(over)) if over > 0 else b""

    def take_until(self, end_ms: float) -> bytes:
        """Remove and return the audio from the start up to input-audio time ``end_ms``."""
        return self._take(end_ms)

    def take_all(self) -> bytes:
        """Remove and return everything held."""
        return self._take(self.end_ms)

    def _ms_of_first(self, size: int) -> float:
        """The duration of the first ``size`` bytes held."""
        ms = 0.0
        for chunk, per_ms, _ in self._chunks:
            part = min(size, len(chunk))
            ms += part / per_ms
            size -= part
            if size <= 0:
                break
        return ms

    def _take(self, end_ms: float) -> bytes:
        taken: list[bytes] = []
        while self._chunks and self.start_ms < end_ms - 1e-6:
            chunk, per_ms, width = self._chunks[0]
            chunk_ms = len(chunk) / per_ms
            if self.start_ms + chunk_ms <= end_ms + 1e-6:
                self._chunks.popleft()
                part = chunk
            else:
                cut = int((end_ms - self.start_ms) * per_ms + 1e-6)
                cut -= cut % width
                if cut == 0:
                    break
                part = chunk[:cut]
                self._chunks[0] = (chunk[cut:], per_ms, width)
            taken.append(part)
            self._held -= len(part)
            self.start_ms += len(part) / per_ms
            self.ms -= len(part) / per_ms
        if not self._chunks:
            self.ms = 0.0  # no rounding residue once empty
        return b"".join(taken)
