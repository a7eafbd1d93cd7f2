"""Fuzz PlivoAudioStream: only ProtocolError may escape, the accounting stays lawful.

Structured inputs mutate valid Plivo messages (``carrier_fuzz.py`` says how).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from carrier_fuzz import CarrierHarness

    from adk_realtime.sansio.telephony.plivo import PlivoAudioStream

STREAM = "87654321-4321-4321-4321-cba987654321"
TEMPLATES = {
    "start": {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": "C1",
            "streamId": STREAM,
            "accountId": "MA1",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
        "extra_headers": "userId=1;sessionId=a",
    },
    "media": {
        "event": "media",
        "sequenceNumber": 2,
        "streamId": STREAM,
        "media": {"track": "inbound", "timestamp": "1705312200000", "chunk": 1, "payload": "AAAA"},
    },
    "dtmf": {
        "event": "dtmf",
        "streamId": STREAM,
        "dtmf": {"track": "inbound", "digit": "5", "timestamp": "1705312250000"},
    },
    "playedStream": {"event": "playedStream", "streamId": STREAM, "name": "greeting"},
    "clearedAudio": {"event": "clearedAudio", "sequenceNumber": 3, "streamId": STREAM},
    "stop": {"event": "stop", "streamId": STREAM, "reason": "hangup"},
}
FIELDS = [
    "event", "sequenceNumber", "start", "callId", "streamId", "accountId", "tracks",
    "mediaFormat", "encoding", "sampleRate", "channels", "extra_headers", "media", "track",
    "timestamp", "chunk", "payload", "dtmf", "digit", "name", "reason",
]  # fmt: skip
HARNESS = CarrierHarness(PlivoAudioStream, TEMPLATES, FIELDS, mark_event="playedStream")


def TestOneInput(data: bytes) -> None:
    HARNESS.run(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
