"""Fuzz TwilioMediaStream: only ProtocolError may escape, the accounting stays lawful.

Structured inputs mutate valid Twilio messages (``carrier_fuzz.py`` says how).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from carrier_fuzz import CarrierHarness

    from adk_realtime.sansio.telephony.twilio import TwilioMediaStream

TEMPLATES = {
    "connected": {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    "start": {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC1",
            "streamSid": "MZ1",
            "callSid": "CA1",
            "tracks": ["inbound"],
            "customParameters": {"From": "+15550100000"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": "MZ1",
    },
    "media": {
        "event": "media",
        "sequenceNumber": "3",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "AAAA"},
        "streamSid": "MZ1",
    },
    "dtmf": {"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": "1"}},
    "mark": {"event": "mark", "streamSid": "MZ1", "mark": {"name": "my label"}},
    "stop": {"event": "stop", "stop": {"accountSid": "AC1", "callSid": "CA1"}, "streamSid": "MZ1"},
}
FIELDS = [
    "event", "start", "streamSid", "accountSid", "callSid", "tracks", "customParameters",
    "mediaFormat", "encoding", "sampleRate", "channels", "media", "track", "chunk",
    "timestamp", "payload", "dtmf", "digit", "mark", "name", "stop", "protocol", "version",
]  # fmt: skip
HARNESS = CarrierHarness(TwilioMediaStream, TEMPLATES, FIELDS, mark_event="mark")


def TestOneInput(data: bytes) -> None:
    HARNESS.run(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
