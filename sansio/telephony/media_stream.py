"""What the three carrier media streams share: the machine, framing, marks, field readers.

Theory of operation
-------------------
A carrier (Twilio, Telnyx, Plivo) connects a phone call to our WebSocket server
and speaks JSON text messages, each with an ``"event"`` field. One
:class:`CarrierMediaStream` subclass per carrier turns them into the events of
:mod:`adk_realtime.sansio.telephony.events` and builds the messages we send
back. It speaks the sans-IO contract: the driver feeds each received text
message to ``receive_data(message, now)``, drains ``next_event()``, and writes
every string from ``data_to_send()`` as one text message. There are no timers.

Outbound audio is G.711 μ-law at 8 kHz, the telephone network's own format.
``send_audio`` cuts it into 20 ms frames (160 bytes), one ``media`` message
each, and keeps a partial frame for the next call. ``flush()`` ends a response:
it pads the partial frame with μ-law silence (``0xFF``) to a whole frame,
sends it, and places a mark at the end, so the end of every response is
confirmed and every position on the timeline is a multiple of 20 ms.

Marks: after every ``mark_every_frames`` frames (5 = 100 ms by default) the
codec places a mark named ``adk-<n>@<position>ms``; ``send_mark(name)`` places
one of the caller's own. The echoes drive the accounting of
:mod:`adk_realtime.sansio.telephony.playback` (``heard_ms``, ``sent_ms``,
``ahead_ms``, ``response_heard_ms``), where the per-carrier behaviour of
marks at a ``clear()`` is documented.

The stream's life: nothing can be sent before the carrier's ``start`` (the
outbound messages name its stream) nor after its ``stop``; commands raise
``LocalProtocolError`` then. A second ``start`` is refused
(:class:`UnexpectedEventError`), an event this module does not know raises
:class:`UnknownEventError`, and every field is checked before anything
changes, so a ``DecodeError`` leaves the machine as it was and the driver can
log it and go on.
"""

from __future__ import annotations

import binascii
import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import ClassVar

from adk_realtime.sansio.audio import FrameSlicer
from adk_realtime.sansio.errors import ConfigError, DecodeError, LocalProtocolError
from adk_realtime.sansio.json_fields import JsonObject, check_text, fail, invalid
from adk_realtime.sansio.telephony.events import (
    MarkPlayed,
    MediaReceived,
    StreamStarted,
    TelephonyEvent,
)
from adk_realtime.sansio.telephony.playback import PlaybackLedger

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "ULAW_SILENCE",
    "CarrierMediaStream",
    "UnexpectedEventError",
    "UnknownEventError",
    "read_count",
    "read_digit",
    "read_object",
    "read_payload",
    "read_positive_int",
    "read_str",
    "read_str_map",
    "read_str_tuple",
]

FRAME_BYTES = 160
"""One outbound frame: 20 ms of μ-law at 8 kHz."""
FRAME_MS = 20
ULAW_SILENCE = 0xFF
"""The μ-law code of a zero sample (0x00 is a loud negative one)."""
_MAX_COUNT_TEXT = 20  # digits of a chunk number or timestamp written as text
_DTMF_DIGITS = frozenset("0123456789*#ABCD")


class UnknownEventError(DecodeError):
    """A carrier message has an ``event`` this codec does not know; ``event`` names it."""

    def __init__(self, carrier: str, event: str) -> None:
        super().__init__(f"{carrier} message has an unknown event {event!r}")
        self.event = event


class UnexpectedEventError(DecodeError):
    """A carrier message came when the stream's state does not allow it (a second ``start``)."""

    def __init__(self, carrier: str, event: str, why: str) -> None:
        super().__init__(f"{carrier} {event}: {why}")
        self.event = event


# ---------------------------------------------------------------------------
# Field readers: ``where`` names the message ("Twilio media"), ``name`` the
# dotted path of the field ("media.payload"), as json_fields words its errors.
# ---------------------------------------------------------------------------


def read_str(obj: JsonObject, key: str, where: str, name: str, *, required: bool = True) -> str:
    """``obj[key]`` as a string; absent or null is an error if ``required``, else ``""``."""
    value = obj.get(key)
    if value is None and not required:
        return ""
    if type(value) is not str:
        fail(where, name, "a string", value)
    return value


def read_object(
    obj: JsonObject, key: str, where: str, name: str, *, required: bool = True
) -> JsonObject:
    """``obj[key]`` as an object; absent or null is an error if ``required``, else ``{}``."""
    value = obj.get(key)
    if value is None and not required:
        return {}
    if type(value) is not dict:
        fail(where, name, "an object", value)
    return value


def read_positive_int(
    obj: JsonObject, key: str, where: str, name: str, default: int | None = None
) -> int:
    """``obj[key]``: a positive JSON integer (a sample rate, a channel count); absent or
    null gives ``default``, or is an error when there is none."""
    value = obj.get(key)
    if value is None and default is not None:
        return default
    if type(value) is not int or value <= 0:
        fail(where, name, "a positive integer", value)
    return value


def read_count(obj: JsonObject, key: str, where: str, name: str) -> int | None:
    """A non-negative integer written as a JSON number (Plivo) or as digits in a string
    (Twilio and Telnyx write ``"chunk": "2"``); ``None`` when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is int and value >= 0:
        return value
    if type(value) is str and 0 < len(value) <= _MAX_COUNT_TEXT and value.isascii():
        if value.isdigit():
            return int(value)
    fail(where, name, "a non-negative integer or a string of digits", value)


def read_payload(obj: JsonObject, key: str, where: str, name: str) -> bytes:
    """``obj[key]``: required base64 text, decoded (strictly: no stray characters)."""
    text = read_str(obj, key, where, name)
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        invalid(where, name, "is not valid base64")


def read_digit(obj: JsonObject, key: str, where: str, name: str) -> str:
    """A DTMF key: one of ``0-9 * # A-D`` (a lower-case letter is taken as upper case)."""
    digit = read_str(obj, key, where, name).upper()
    if digit not in _DTMF_DIGITS:
        invalid(where, name, f"must be one of 0-9 * # A-D, got {digit[:8]!r}")
    return digit


def read_str_tuple(obj: JsonObject, key: str, where: str, name: str) -> tuple[str, ...]:
    """``obj[key]``: an optional array of strings (absent or null is empty)."""
    value = obj.get(key)
    if value is None:
        return ()
    if type(value) is not list:
        fail(where, name, "an array of strings", value)
    for index, item in enumerate(value):
        if type(item) is not str:
            fail(where, f"{name}[{index}]", "a string", item)
    return tuple(value)


def read_str_map(obj: JsonObject, key: str, where: str, name: str) -> dict[str, str]:
    """``obj[key]``: an optional object whose values are strings (absent or null is empty).
    The error names the key but never prints a value (these carry callers' data)."""
    value = obj.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        fail(where, name, "an object", value)
    for item_key, item in value.items():
        if type(item) is not str:
            fail(where, f"{name}.{item_key}", "a string", item)
    return dict(value)


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------

_Handler = Callable[[JsonObject], None]


class CarrierMediaStream:
    """One carrier media stream (our side of the call's WebSocket), without the carrier.

    Subclasses name the ``carrier``, route each ``event`` to a handler
    (``_ROUTES``) and build the three outbound messages; everything else is here.
    Configuration: ``mark_every_frames`` (automatic mark interval, in 20 ms frames),
    ``max_pending_marks`` and ``max_tracked_responses`` (the ledger's bounds).
    """

    carrier: ClassVar[str] = "carrier"
    _ROUTES: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        mark_every_frames: int = 5,
        max_pending_marks: int = 4096,
        max_tracked_responses: int = 64,
    ) -> None:
        for field, value in (
            ("mark_every_frames", mark_every_frames),
            ("max_pending_marks", max_pending_marks),
            ("max_tracked_responses", max_tracked_responses),
        ):
            if type(value) is not int or value <= 0:
                raise ConfigError(field, f"must be a positive int, got {value!r}")
        self.ledger = PlaybackLedger(max_pending_marks, max_tracked_responses)
        """The playback books (read-only use: the codec keeps them)."""
        self.marks_skipped = 0
        """Automatic marks not placed because ``max_pending_marks`` were waiting."""
        self._mark_every = mark_every_frames
        self._frames_since_mark = 0
        self._mark_serial = 0
        self._slicer = FrameSlicer(FRAME_BYTES)
        self._events: deque[TelephonyEvent] = deque()
        self._out: list[str] = []
        self._started: StreamStarted | None = None
        self._stopped = False
        self._media_head = ""
        self._media_tail = ""
        self._handlers: dict[str, _Handler] = {
            event: getattr(self, method) for event, method in self._ROUTES.items()
        }

    # -- the carrier's messages -------------------------------------------

    def _media_frame_parts(self, started: StreamStarted) -> tuple[str, str]:
        """The text before and after the base64 payload of an outbound media message."""
        raise NotImplementedError

    def _mark_message(self, name: str) -> str:
        raise NotImplementedError

    def _clear_message(self) -> str:
        raise NotImplementedError

    def _audio_refusal(self) -> str | None:
        """Why outbound μ-law cannot be sent on this stream, or ``None`` (it can)."""
        return None

    # -- the contract -------------------------------------------------------

    def receive_data(self, data: str | bytes | bytearray | memoryview, now: float) -> None:
        """Decode one received text message; its event waits in :meth:`next_event`.

        ``now`` is unused (no timers). Raises a ``DecodeError`` (a
        ``ProtocolError``) naming the event and the field for malformed input,
        :class:`UnknownEventError` for an event this codec does not know and
        :class:`UnexpectedEventError` for a second ``start``; each leaves the
        machine unchanged, so the driver may log it and go on reading.
        """
        if isinstance(data, memoryview):
            data = data.tobytes()
        try:
            msg = json.loads(data)
        except (ValueError, TypeError, RecursionError) as exc:
            # JSONDecodeError and UnicodeDecodeError are ValueErrors.
            raise DecodeError(f"{self.carrier} message is not valid JSON: {exc}") from None
        if type(msg) is not dict:
            raise DecodeError(
                f"{self.carrier} message must be a JSON object, got {type(msg).__name__}"
            )
        event = msg.get("event")
        if type(event) is not str:
            fail(f"{self.carrier} message", "event", "a string", event)
        handler = self._handlers.get(event)
        if handler is None:
            raise UnknownEventError(self.carrier, event[:64])
        handler(msg)

    def next_event(self) -> TelephonyEvent | None:
        """The next decoded event, or ``None`` when every received message has been handled."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[str]:
        """The messages queued by commands since the last call, in order; send each as one
        WebSocket text message."""
        out = self._out
        self._out = []
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is due: never, this machine keeps no timers."""
        return None

    def handle_timer(self, now: float) -> None:
        """Nothing to do: this machine keeps no timers."""

    # -- state -------------------------------------------------------------

    @property
    def started(self) -> StreamStarted | None:
        """The carrier's ``start``, once it came."""
        return self._started

    @property
    def stream_id(self) -> str | None:
        """The carrier's id of this stream, once ``start`` came."""
        return None if self._started is None else self._started.stream_id

    @property
    def stopped(self) -> bool:
        """Whether the carrier sent ``stop``."""
        return self._stopped

    @property
    def sent_ms(self) -> int:
        """Milliseconds of audio queued on the playback timeline (see ``playback``)."""
        return self.ledger.sent_ms

    @property
    def heard_ms(self) -> int:
        """Position the caller is confirmed to have heard up to (the latest mark echo)."""
        return self.ledger.heard_ms

    @property
    def ahead_ms(self) -> int:
        """``sent_ms - heard_ms``: audio queued at the carrier and not confirmed played."""
        return self.ledger.ahead_ms

    @property
    def dropped_ms(self) -> int:
        """Audio dropped by ``clear()`` since the stream started."""
        return self.ledger.dropped_ms

    @property
    def pending_marks(self) -> int:
        """Marks placed whose echo has not come back."""
        return self.ledger.pending_marks

    @property
    def mark_every_frames(self) -> int:
        """Automatic mark interval, in 20 ms frames (a bridge sets it from its options).

        A change applies from the next frame on; ``ConfigError`` for a value that is
        not a positive int (the stream is left as it was)."""
        return self._mark_every

    @mark_every_frames.setter
    def mark_every_frames(self, value: int) -> None:
        if type(value) is not int or value <= 0:
            raise ConfigError("mark_every_frames", f"must be a positive int, got {value!r}")
        self._mark_every = value

    def response_heard_ms(self, key: str) -> int:
        """Milliseconds of response ``key`` the caller is confirmed to have heard."""
        return self.ledger.response_heard_ms(key)

    def response_sent_ms(self, key: str) -> int:
        """Milliseconds of response ``key`` queued (cut to what was kept by any clear)."""
        return self.ledger.response_sent_ms(key)

    # -- commands ------------------------------------------------------------

    def send_audio(self, ulaw: bytes | bytearray | memoryview) -> None:
        """Queue μ-law 8 kHz audio for the caller: one ``media`` message per whole 20 ms
        frame (collect them with :meth:`data_to_send`); a partial frame waits for the next
        call or for :meth:`flush`. A mark follows every ``mark_every_frames`` frames.

        Raises ``LocalProtocolError`` before ``start``, after ``stop``, for a non-bytes
        argument, or (Plivo) when the stream's format is not μ-law 8 kHz.
        """
        if not isinstance(ulaw, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"send_audio takes μ-law bytes, got {type(ulaw).__name__}")
        self._check_audio("send_audio")
        for frame in self._slicer.push(ulaw):
            self._queue_frame(frame)

    def flush(self) -> None:
        """End the current stretch of audio: pad the partial frame with μ-law silence to
        20 ms and queue it, place a mark at the end (unless one is already there), and
        close the open response. Call it when a response's audio is complete."""
        self._check_audio("flush")
        rest = self._slicer.flush()
        if rest:
            self._queue_frame(rest + bytes([ULAW_SILENCE]) * (FRAME_BYTES - len(rest)))
        if self._frames_since_mark:
            self._auto_mark()
        self.ledger.end_response()

    def begin_response(self, key: str) -> None:
        """Start response ``key``: what was queued before is flushed (:meth:`flush`), and
        audio from now on counts for ``key`` in :meth:`response_heard_ms`.

        Raises ``LocalProtocolError`` before ``start``/after ``stop`` or for a key
        already used (a key names one response; beginning the open one is a no-op).
        """
        key = check_text(key, "response key")
        self._check_can_send("begin_response")
        if key == self.ledger.current_response:
            return
        if self.ledger.knows_response(key):
            raise LocalProtocolError(f"response {key!r} was already begun; keys name one response")
        if self._slicer.pending or self._frames_since_mark:
            self.flush()
        self.ledger.begin_response(key)

    def send_mark(self, name: str) -> None:
        """Queue a mark named ``name`` after the whole frames queued so far (call
        :meth:`flush` first to include a partial frame); its echo comes as
        :class:`MarkPlayed` and moves ``heard_ms`` like an automatic mark.

        Raises ``LocalProtocolError`` before ``start``/after ``stop``, for a name that
        is not text, or when ``max_pending_marks`` marks are already waiting.
        """
        name = check_text(name, "mark name")
        self._check_can_send("send_mark")
        message = self._mark_message(name)
        self.ledger.place_mark(name)  # refuses (nothing queued) when too many are waiting
        self._frames_since_mark = 0
        self._out.append(message)

    def clear(self) -> None:
        """Barge-in: tell the carrier to drop the audio it has not played.

        Media and marks queued here and not yet collected by :meth:`data_to_send`
        are dropped too (the clear would drop them anyway), as is a partial frame.
        The accounting is cut at ``heard_ms`` and the open response ends (see
        :mod:`~adk_realtime.sansio.telephony.playback`). Raises
        ``LocalProtocolError`` before ``start``/after ``stop``.
        """
        self._check_can_send("clear")
        self._out = [self._clear_message()]
        self._slicer.reset()
        self._frames_since_mark = 0
        self.ledger.clear()

    # -- inside ------------------------------------------------------------

    def _check_can_send(self, command: str) -> None:
        if self._started is None:
            raise LocalProtocolError(
                f"{self.carrier} {command}: the stream has not started; wait for StreamStarted"
            )
        if self._stopped:
            raise LocalProtocolError(f"{self.carrier} {command}: the stream has stopped")

    def _check_audio(self, command: str) -> None:
        self._check_can_send(command)
        refusal = self._audio_refusal()
        if refusal is not None:
            raise LocalProtocolError(f"{self.carrier} {command}: {refusal}")

    def _queue_frame(self, frame: bytes | memoryview) -> None:
        payload = binascii.b2a_base64(frame, newline=False).decode("ascii")
        self._out.append(self._media_head + payload + self._media_tail)
        self.ledger.add_audio(FRAME_MS)
        self._frames_since_mark += 1
        if self._frames_since_mark >= self._mark_every:
            self._auto_mark()

    def _auto_mark(self) -> None:
        self._frames_since_mark = 0
        if not self.ledger.has_room_for_mark():
            self.marks_skipped += 1
            return
        self._mark_serial += 1
        name = f"adk-{self._mark_serial}@{self.ledger.sent_ms}ms"
        self.ledger.place_mark(name)
        self._out.append(self._mark_message(name))

    def _push(self, event: TelephonyEvent) -> None:
        self._events.append(event)

    def _stream_started(self, started: StreamStarted, event: str) -> None:
        """Record the carrier's ``start`` (a second one is refused) and queue the event."""
        if self._started is not None:
            raise UnexpectedEventError(self.carrier, event, "the stream has already started")
        self._media_head, self._media_tail = self._media_frame_parts(started)
        self._started = started
        self._push(started)

    def _media_received(self, msg: JsonObject, where: str) -> None:
        """A ``media`` message: the three carriers write its fields alike."""
        media = read_object(msg, "media", where, "media")
        payload = read_payload(media, "payload", where, "media.payload")
        track = read_str(media, "track", where, "media.track", required=False) or "inbound"
        chunk = read_count(media, "chunk", where, "media.chunk")
        timestamp_ms = read_count(media, "timestamp", where, "media.timestamp")
        self._push(MediaReceived(payload, track, chunk, timestamp_ms))

    def _mark_echoed(self, name: str) -> None:
        position, heard = self.ledger.mark_echoed(name)
        self._push(MarkPlayed(name, position, heard))

    def _stream_stopped(self) -> None:
        self._stopped = True

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "started" if self._started else "connecting"
        return (
            f"{type(self).__name__}({state}, stream_id={self.stream_id!r}, "
            f"sent_ms={self.sent_ms}, heard_ms={self.heard_ms})"
        )
