"""Test helpers for the carrier media streams: the documented examples and each carrier's wire.

``doc_messages(carrier)`` reads ``tests/data/telephony/<carrier>.json``, where every
example message of the carrier's documentation is kept verbatim with the URL it
came from. ``WIRES`` describes, per carrier, the messages a test needs to play
the carrier's part: a ``start``, a mark echo, and how to recognise our outbound
media, marks and clears. ``FakeCarrier`` plays the carrier's side of playback:
it buffers our audio, plays it on request, sends marks back when the audio
before them has played, and at a clear does what the carrier's docs say.
"""

from __future__ import annotations

import binascii
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream
from adk_realtime.sansio.telephony.plivo import PlivoAudioStream
from adk_realtime.sansio.telephony.telnyx import TelnyxMediaStream
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream

DATA = Path(__file__).resolve().parent / "data" / "telephony"
Msg = dict[str, Any]


@dataclass(frozen=True)
class DocMessage:
    name: str
    direction: str  # "from_carrier" or "to_carrier"
    url: str
    text: str


def doc_messages(carrier: str) -> list[DocMessage]:
    doc = json.loads((DATA / f"{carrier}.json").read_text())
    return [
        DocMessage(m["name"], m["direction"], doc["sources"][m["source"]], m["text"])
        for m in doc["messages"]
    ]


def doc_message(carrier: str, name: str, direction: str = "from_carrier", index: int = 0) -> str:
    found = [m for m in doc_messages(carrier) if m.name == name and m.direction == direction]
    return found[index].text


def b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode()


@dataclass(frozen=True)
class Wire:
    """One carrier's wire, as much of it as the tests need."""

    cls: type[CarrierMediaStream]
    start: Callable[[str], Msg]  # stream id -> a start message
    echo: Callable[[str], Msg]  # mark name -> the carrier sending it back
    media: Callable[[bytes], Msg]  # audio -> an inbound media message
    stop: Msg
    out_media: str  # the event of our outbound audio
    out_mark: str
    out_clear: str
    echoes_marks_at_clear: bool

    def mark_name(self, msg: Msg) -> str:
        return str(msg["mark"]["name"] if "mark" in msg else msg["name"])


def _twilio_start(sid: str) -> Msg:
    return {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC0",
            "streamSid": sid,
            "callSid": "CA0",
            "tracks": ["inbound"],
            "customParameters": {"From": "+15550100000"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": sid,
    }


def _telnyx_start(sid: str) -> Msg:
    return {
        "event": "start",
        "sequence_number": "1",
        "start": {
            "user_id": "U0",
            "call_control_id": "v3:C0",
            "from": "+15550100000",
            "to": "+15550100001",
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        },
        "stream_id": sid,
    }


def _plivo_start(sid: str) -> Msg:
    return {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": "C0",
            "streamId": sid,
            "accountId": "MA0",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
        "extra_headers": "",
    }


WIRES: dict[str, Wire] = {
    "twilio": Wire(
        cls=TwilioMediaStream,
        start=_twilio_start,
        echo=lambda name: {"event": "mark", "streamSid": "S", "mark": {"name": name}},
        media=lambda audio: {
            "event": "media",
            "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": b64(audio)},
        },
        stop={"event": "stop", "stop": {"accountSid": "AC0", "callSid": "CA0"}},
        out_media="media",
        out_mark="mark",
        out_clear="clear",
        echoes_marks_at_clear=True,
    ),
    "telnyx": Wire(
        cls=TelnyxMediaStream,
        start=_telnyx_start,
        echo=lambda name: {"event": "mark", "stream_id": "S", "mark": {"name": name}},
        media=lambda audio: {
            "event": "media",
            "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": b64(audio)},
        },
        stop={"event": "stop", "stop": {"user_id": "U0", "call_control_id": "v3:C0"}},
        out_media="media",
        out_mark="mark",
        out_clear="clear",
        echoes_marks_at_clear=True,
    ),
    "plivo": Wire(
        cls=PlivoAudioStream,
        start=_plivo_start,
        echo=lambda name: {"event": "playedStream", "streamId": "S", "name": name},
        media=lambda audio: {
            "event": "media",
            "media": {"track": "inbound", "chunk": 1, "timestamp": "1", "payload": b64(audio)},
        },
        stop={"event": "stop", "reason": "hangup"},
        out_media="playAudio",
        out_mark="checkpoint",
        out_clear="clearAudio",
        echoes_marks_at_clear=False,
    ),
}


def started(carrier: str, sid: str = "S", **options: Any) -> CarrierMediaStream:
    """A stream of ``carrier`` that has seen its ``start`` (events drained)."""
    wire = WIRES[carrier]
    stream = wire.cls(**options)
    stream.receive_data(json.dumps(wire.start(sid)), 0.0)
    while stream.next_event() is not None:
        pass
    return stream


def drain(stream: CarrierMediaStream) -> list[Any]:
    events = []
    while (event := stream.next_event()) is not None:
        events.append(event)
    return events


def sent(stream: CarrierMediaStream) -> list[Msg]:
    return [json.loads(text) for text in stream.data_to_send()]


class FakeCarrier:
    """The carrier's side of playback, as its docs describe it.

    ``take(messages)`` reads what we sent; ``play(ms)`` plays that much of the
    buffer (20 ms frames), queuing the echo of each mark whose audio has played;
    ``deliver(n)`` hands the first ``n`` queued echoes to the stream. At a clear the
    buffer is emptied and, where the carrier does so, waiting marks are echoed.
    Every frame's first byte tags the response it belongs to, so ``played_by_tag``
    says what the caller really heard of each.
    """

    def __init__(self, carrier: str, stream: CarrierMediaStream) -> None:
        self.wire = WIRES[carrier]
        self.stream = stream
        self.buffer: deque[tuple[str, Any]] = deque()  # ("audio", tag) | ("mark", name)
        self.in_flight: deque[Msg] = deque()
        self.played_ms = 0
        self.played_by_tag: dict[int, int] = {}

    def take(self, messages: list[Msg]) -> None:
        for msg in messages:
            event = msg["event"]
            if event == self.wire.out_media:
                audio = binascii.a2b_base64(msg["media"]["payload"])
                assert len(audio) == 160, "every outbound message carries one 20 ms frame"
                self.buffer.append(("audio", audio[0]))
            elif event == self.wire.out_mark:
                self.buffer.append(("mark", self.wire.mark_name(msg)))
            elif event == self.wire.out_clear:
                self._clear()
            else:
                raise AssertionError(f"unexpected outbound message {msg}")
        self._echo_ready_marks()

    def _clear(self) -> None:
        for kind, value in self.buffer:
            if kind == "mark" and self.wire.echoes_marks_at_clear:
                self.in_flight.append(self.wire.echo(value))
        self.buffer.clear()
        if not self.wire.echoes_marks_at_clear:
            self.in_flight.append({"event": "clearedAudio", "streamId": "S"})

    def _echo_ready_marks(self) -> None:
        while self.buffer and self.buffer[0][0] == "mark":
            self.in_flight.append(self.wire.echo(self.buffer.popleft()[1]))

    def play(self, ms: int) -> None:
        for _ in range(ms // 20):
            self._echo_ready_marks()
            if not self.buffer:
                return
            _kind, tag = self.buffer.popleft()
            self.played_ms += 20
            self.played_by_tag[tag] = self.played_by_tag.get(tag, 0) + 20
        self._echo_ready_marks()

    def deliver(self, count: int | None = None) -> None:
        count = len(self.in_flight) if count is None else min(count, len(self.in_flight))
        for _ in range(count):
            self.stream.receive_data(json.dumps(self.in_flight.popleft()), 0.0)
