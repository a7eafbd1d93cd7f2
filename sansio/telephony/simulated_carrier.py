"""The carrier's side of a media stream, played as the phone company plays it, sans-IO.

Theory of operation
-------------------
A test (or ``adk-realtime phone call``) that wants to call a voice agent the way a real
phone call does needs what Twilio, Telnyx or Plivo do on their side of the media
WebSocket: `SimulatedCarrier` is that side, one subclass per carrier, speaking each one's
documented messages (see the codecs of this package, which are the other side).

It runs on a 20 ms clock started by `SimulatedCarrier.start` (``connected`` and
``start`` are queued then, with the call's ids and custom parameters). Every tick
(`handle_timer`):

* one frame of the caller's μ-law goes out as ``media``: what `say` queued, else
  silence, as a telephone line never stops sending;
* one frame of what the server sent is *played* (given as a `FramePlayed` event), and
  every mark the played audio has reached is sent back, in order, as the carrier
  does when "the media immediately preceding the mark finishes" (Plivo: a
  ``playedStream`` for a ``checkpoint``).

A ``clear`` (Plivo: ``clearAudio``) drops what is not played yet (`ClearHonoured`): Twilio
and Telnyx send back every mark still waiting at once, Plivo drops its checkpoints and
answers ``clearedAudio``. A mark that arrives when nothing waits to be played is sent
back at once. `press` sends DTMF digits, one a tick; `hang_up` sends ``stop``, after
which nothing more is sent or played. What the server sent is held, up to
``max_queued_ms``: more than that is a `DecodeError` (no carrier buffers without end).

Driving loop (the contract's verbs)::

    carrier.start(now)
    loop: send each of carrier.data_to_send() as a text message
          wait for a message (feed receive_data(message, now)) or carrier.get_timer()
          (call handle_timer(now)); drain next_event()
"""

from __future__ import annotations

import binascii
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from adk_realtime.sansio.errors import ConfigError, DecodeError, LocalProtocolError
from adk_realtime.sansio.json_fields import JsonObject, dumps, fail, invalid
from adk_realtime.sansio.telephony.media_stream import (
    FRAME_BYTES,
    FRAME_MS,
    ULAW_SILENCE,
    read_object,
    read_payload,
    read_str,
)

__all__ = [
    "CarrierSideEvent",
    "ClearHonoured",
    "FramePlayed",
    "SimulatedCarrier",
    "SimulatedPlivo",
    "SimulatedTelnyx",
    "SimulatedTwilio",
]

_TICK = FRAME_MS / 1000
_SILENCE = bytes([ULAW_SILENCE]) * FRAME_BYTES
_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class FramePlayed:
    """20 ms of the server's audio reached the caller's ear: ``payload`` (μ-law, 160
    bytes, silence-padded when the server sent less), ``at_ms`` the stream time."""

    payload: bytes = field(repr=False)
    at_ms: int


@dataclass(frozen=True, slots=True)
class ClearHonoured:
    """The server cleared the caller's buffer: ``dropped_ms`` of audio was never played,
    ``marks_returned`` marks were sent back unplayed (Twilio, Telnyx; Plivo returns none)."""

    dropped_ms: int
    marks_returned: int


CarrierSideEvent = FramePlayed | ClearHonoured


class SimulatedCarrier:
    """One call's media stream, the carrier's side (see the module docstring).

    ``stream_id``, ``call_id`` and ``account_id`` go into ``start``, as do
    ``custom_parameters`` (Twilio and Telnyx ``<Parameter>``s, Plivo's
    ``extraHeaders``) and, for Telnyx, ``caller``/``called``.
    """

    carrier: ClassVar[str] = "carrier"

    def __init__(
        self,
        *,
        stream_id: str,
        call_id: str,
        account_id: str = "AC00000000000000000000000000000000",
        custom_parameters: Mapping[str, str] | None = None,
        caller: str | None = None,
        called: str | None = None,
        max_queued_ms: int = 600_000,
    ) -> None:
        if type(max_queued_ms) is not int or max_queued_ms < FRAME_MS:
            raise ConfigError("max_queued_ms", f"must be an int of at least {FRAME_MS} ms")
        self.stream_id = stream_id
        self.call_id = call_id
        self.account_id = account_id
        self.custom_parameters = dict(custom_parameters or {})
        self.caller = caller
        self.called = called
        self.max_queued_ms = max_queued_ms
        self.played_ms = 0
        """Stream time played so far (silence included): the ticks since `start`."""
        self.heard_ms = 0
        """The server's audio played (silence between answers not counted)."""
        self.marks_returned = 0
        self.clears = 0
        self._out: list[str] = []
        self._events: deque[CarrierSideEvent] = deque()
        self._queue: deque[bytes | str] = deque()  # server audio chunks and mark names
        self._queued_bytes = 0
        self._speech = bytearray()  # the caller's μ-law still to send
        self._digits: deque[str] = deque()
        self._next_tick: float | None = None
        self._sequence = 0
        self._chunk = 0
        self._started = False
        self._stopped = False

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "started" if self._started else "idle"
        return f"{type(self).__name__}({state}, played_ms={self.played_ms})"

    # -- state ---------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def speaking(self) -> bool:
        """Whether the caller still has queued speech to send."""
        return bool(self._speech)

    @property
    def queued_ms(self) -> int:
        """The server's audio received and not played yet."""
        return self._queued_bytes * FRAME_MS // FRAME_BYTES

    @property
    def pending_marks(self) -> int:
        return sum(1 for item in self._queue if isinstance(item, str))

    # -- commands ------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Open the stream at ``now``: queue the carrier's first messages and start the
        20 ms clock. Then send `data_to_send` and read `get_timer`."""
        if self._started:
            raise LocalProtocolError(f"the {self.carrier} stream has started already")
        self._started = True
        self._out += self._opening_messages()
        self._next_tick = now + _TICK

    def say(self, ulaw: bytes | bytearray | memoryview) -> None:
        """Queue the caller's speech (μ-law 8 kHz): it goes out one frame a tick."""
        self._check_open("say")
        self._speech += bytes(ulaw)

    def press(self, digits: str) -> None:
        """Queue DTMF keys (``0-9 * # A-D``), sent one a tick."""
        self._check_open("press")
        if not digits or not set(digits) <= _DIGITS:
            raise LocalProtocolError("DTMF digits are 0-9, *, # and A-D")
        self._digits.extend(digits)

    def hang_up(self) -> None:
        """End the call: ``stop`` is queued; nothing is sent or played after it."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        self._next_tick = None
        self._out.append(self._stop_message())

    # -- the contract ----------------------------------------------------------------

    def receive_data(self, data: str | bytes, now: float) -> None:
        """One message from the server (media, a mark, a clear). Raises `DecodeError` for
        one a carrier would refuse (the state is left as it was); after `hang_up` it is
        ignored."""
        if self._stopped or not self._started:
            return
        try:
            msg = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"{self.carrier} got a message that is not JSON: {exc}") from None
        if type(msg) is not dict:
            raise DecodeError(f"{self.carrier} got a message that is not a JSON object")
        event = msg.get("event")
        if type(event) is not str:
            fail(f"message to {self.carrier}", "event", "a string", event)
        self._dispatch(event, msg)

    def get_timer(self) -> float | None:
        """When the next 20 ms tick is due (None before `start` and after `hang_up`)."""
        return self._next_tick

    def handle_timer(self, now: float) -> None:
        """Run every tick due by ``now`` (a late call catches up); then send
        `data_to_send` and drain `next_event`."""
        while self._next_tick is not None and self._next_tick <= now:
            self._next_tick += _TICK
            self._tick()

    def next_event(self) -> CarrierSideEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[str]:
        out, self._out = self._out, []
        return out

    # -- inside ----------------------------------------------------------------------

    def _check_open(self, command: str) -> None:
        if not self._started or self._stopped:
            raise LocalProtocolError(f"{command}: the {self.carrier} stream is not open")

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _tick(self) -> None:
        frame = bytes(self._speech[:FRAME_BYTES])
        del self._speech[:FRAME_BYTES]
        frame = (frame + _SILENCE)[:FRAME_BYTES]
        self._chunk += 1
        self._out.append(self._media_message(frame, self._chunk, self.played_ms))
        if self._digits:
            self._out.append(self._dtmf_message(self._digits.popleft()))
        self._return_marks()
        played = self._take_frame()
        if played is not None:
            self.heard_ms += FRAME_MS
            self._events.append(FramePlayed(played, self.played_ms))
        # A mark right after this frame comes back at the next tick: once it has played.
        self.played_ms += FRAME_MS

    def _take_frame(self) -> bytes | None:
        """Up to 160 bytes of queued audio (marks between are left for `_return_marks`)."""
        if not self._queue or isinstance(self._queue[0], str):
            return None
        taken = bytearray()
        while len(taken) < FRAME_BYTES and self._queue and isinstance(self._queue[0], bytes):
            chunk = self._queue.popleft()
            assert isinstance(chunk, bytes)
            room = FRAME_BYTES - len(taken)
            taken += chunk[:room]
            if len(chunk) > room:
                self._queue.appendleft(chunk[room:])
        self._queued_bytes -= len(taken)
        return bytes(taken + _SILENCE[len(taken) :])

    def _return_marks(self) -> None:
        while self._queue and isinstance(self._queue[0], str):
            name = self._queue.popleft()
            assert isinstance(name, str)
            self._out.append(self._played_message(name))
            self.marks_returned += 1

    def _audio_arrived(self, payload: bytes) -> None:
        limit = self.max_queued_ms * FRAME_BYTES // FRAME_MS
        if self._queued_bytes + len(payload) > limit:
            raise DecodeError(
                f"{self.carrier} would hold more than {self.max_queued_ms} ms of unplayed audio"
            )
        if payload:
            self._queue.append(payload)
            self._queued_bytes += len(payload)

    def _mark_arrived(self, name: str) -> None:
        self._queue.append(name)
        if len(self._queue) == 1:
            self._return_marks()  # nothing before it to play: it comes back at once

    def _clear(self, *, return_marks: bool) -> None:
        dropped = self.queued_ms
        marks = [item for item in self._queue if isinstance(item, str)]
        self._queue.clear()
        self._queued_bytes = 0
        self.clears += 1
        if return_marks:
            for name in marks:
                self._out.append(self._played_message(name))
            self.marks_returned += len(marks)
        self._events.append(ClearHonoured(dropped, len(marks) if return_marks else 0))

    # -- the carrier's messages (subclasses) ------------------------------------------

    def _dispatch(self, event: str, msg: JsonObject) -> None:
        raise NotImplementedError

    def _opening_messages(self) -> list[str]:
        raise NotImplementedError

    def _media_message(self, frame: bytes, chunk: int, at_ms: int) -> str:
        raise NotImplementedError

    def _dtmf_message(self, digit: str) -> str:
        raise NotImplementedError

    def _played_message(self, name: str) -> str:
        raise NotImplementedError

    def _stop_message(self) -> str:
        raise NotImplementedError


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


class SimulatedTwilio(SimulatedCarrier):
    """Twilio's side of a bidirectional Media Stream (``<Connect><Stream>``)."""

    carrier: ClassVar[str] = "Twilio"

    def _envelope(self, event: str, **body: Any) -> str:
        return dumps(
            {
                "event": event,
                "sequenceNumber": str(self._next_sequence()),
                "streamSid": self.stream_id,
                **body,
            }
        )

    def _opening_messages(self) -> list[str]:
        start = {
            "accountSid": self.account_id,
            "streamSid": self.stream_id,
            "callSid": self.call_id,
            "tracks": ["inbound"],
            "customParameters": self.custom_parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        connected = dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        return [connected, self._envelope("start", start=start)]

    def _media_message(self, frame: bytes, chunk: int, at_ms: int) -> str:
        media = {"track": "inbound", "chunk": str(chunk), "timestamp": str(at_ms)}
        return self._envelope("media", media={**media, "payload": _b64(frame)})

    def _dtmf_message(self, digit: str) -> str:
        return self._envelope("dtmf", dtmf={"track": "inbound_track", "digit": digit})

    def _played_message(self, name: str) -> str:
        return self._envelope("mark", mark={"name": name})

    def _stop_message(self) -> str:
        return self._envelope("stop", stop={"accountSid": self.account_id, "callSid": self.call_id})

    def _dispatch(self, event: str, msg: JsonObject) -> None:
        where = f"{self.carrier} {event}"
        if event == "media":
            self._audio_arrived(
                read_payload(
                    read_object(msg, "media", where, "media"), "payload", where, "media.payload"
                )
            )
        elif event == "mark":
            self._mark_arrived(
                read_str(read_object(msg, "mark", where, "mark"), "name", where, "mark.name")
            )
        elif event == "clear":
            self._clear(return_marks=True)
        else:
            raise DecodeError(f"{self.carrier} does not take a {event[:40]!r} message")


class SimulatedTelnyx(SimulatedTwilio):
    """Telnyx's side of a bidirectional stream in RTP mode (its messages are Twilio's
    with ``snake_case`` names, ``from``/``to`` in ``start``, and no stream id on ours)."""

    carrier: ClassVar[str] = "Telnyx"

    def _envelope(self, event: str, **body: Any) -> str:
        return dumps(
            {
                "event": event,
                "sequence_number": str(self._next_sequence()),
                "stream_id": self.stream_id,
                **body,
            }
        )

    def _opening_messages(self) -> list[str]:
        start: JsonObject = {
            "user_id": self.account_id,
            "call_control_id": self.call_id,
            "call_session_id": self.call_id,
            "from": self.caller,
            "to": self.called,
            "tags": [],
            "custom_parameters": self.custom_parameters,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }
        return [
            dumps({"event": "connected", "version": "1.0.0"}),
            self._envelope("start", start=start),
        ]

    def _dtmf_message(self, digit: str) -> str:
        return self._envelope("dtmf", dtmf={"digit": digit})

    def _stop_message(self) -> str:
        return self._envelope(
            "stop", stop={"user_id": self.account_id, "call_control_id": self.call_id}
        )


class SimulatedPlivo(SimulatedCarrier):
    """Plivo's side of a bidirectional audio stream (``contentType=audio/x-mulaw;rate=8000``)."""

    carrier: ClassVar[str] = "Plivo"

    def _envelope(self, event: str, **body: Any) -> str:
        return dumps(
            {
                "event": event,
                "sequenceNumber": self._next_sequence(),
                "streamId": self.stream_id,
                **body,
            }
        )

    def _extra_headers(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.custom_parameters.items())

    def _opening_messages(self) -> list[str]:
        start: JsonObject = {
            "callId": self.call_id,
            "streamId": self.stream_id,
            "accountId": self.account_id,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        }
        message = {"event": "start", "sequenceNumber": self._next_sequence(), "start": start}
        return [dumps({**message, "extra_headers": self._extra_headers()})]

    def _media_message(self, frame: bytes, chunk: int, at_ms: int) -> str:
        media = {
            "track": "inbound",
            "timestamp": str(at_ms),
            "chunk": chunk,
            "payload": _b64(frame),
        }
        return self._envelope("media", media=media, extra_headers=self._extra_headers())

    def _dtmf_message(self, digit: str) -> str:
        return self._envelope("dtmf", dtmf={"track": "inbound", "digit": digit, "timestamp": "0"})

    def _played_message(self, name: str) -> str:
        return self._envelope("playedStream", name=name)

    def _stop_message(self) -> str:
        return self._envelope("stop", reason="hangup")

    def _dispatch(self, event: str, msg: JsonObject) -> None:
        where = f"{self.carrier} {event}"
        if event == "playAudio":
            media = read_object(msg, "media", where, "media")
            if media.get("contentType") != "audio/x-mulaw" or media.get("sampleRate") != 8000:
                invalid(where, "media", "must be audio/x-mulaw at 8000 Hz, as the stream is")
            self._audio_arrived(read_payload(media, "payload", where, "media.payload"))
        elif event == "checkpoint":
            self._mark_arrived(read_str(msg, "name", where, "name"))
        elif event == "clearAudio":
            self._clear(return_marks=False)
            self._out.append(self._envelope("clearedAudio"))
        else:
            raise DecodeError(f"{self.carrier} does not take a {event[:40]!r} message")
