"""Fuzz TelnyxMediaStream: only ProtocolError may escape, the accounting stays lawful.

Structured inputs mutate valid Telnyx messages (``carrier_fuzz.py`` says how).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from carrier_fuzz import CarrierHarness

    from adk_realtime.sansio.telephony.telnyx import TelnyxMediaStream

STREAM = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
TEMPLATES = {
    "connected": {
        "event": "connected",
        "version": "1.0.0",
        "connected": {"x-telnyx-streaming-auth-token": "t"},
    },
    "start": {
        "event": "start",
        "sequence_number": "1",
        "start": {
            "user_id": "U1",
            "call_control_id": "v3:C1",
            "call_session_id": "S1",
            "from": "+15550100000",
            "to": "+15550100001",
            "tags": ["TAG1"],
            "client_state": "aGk=",
            "custom_parameters": {"customer_id": "c1"},
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        },
        "stream_id": STREAM,
    },
    "media": {
        "event": "media",
        "sequence_number": "4",
        "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": "AAAA"},
        "stream_id": STREAM,
    },
    "dtmf": {"event": "dtmf", "stream_id": STREAM, "dtmf": {"digit": "1"}},
    "mark": {"event": "mark", "stream_id": STREAM, "mark": {"name": "some_mark_name"}},
    "error": {
        "event": "error",
        "payload": {"code": 100002, "title": "unknown_error", "detail": "x"},
        "stream_id": STREAM,
    },
    "stop": {"event": "stop", "stop": {"user_id": "U1", "call_control_id": "v3:C1"}},
}
FIELDS = [
    "event", "start", "stream_id", "user_id", "call_control_id", "call_session_id", "from",
    "to", "tags", "client_state", "custom_parameters", "media_format", "encoding",
    "sample_rate", "channels", "media", "track", "chunk", "timestamp", "payload", "dtmf",
    "digit", "mark", "name", "stop", "code", "title", "detail", "connected", "version",
    "x-telnyx-streaming-auth-token",
]  # fmt: skip
HARNESS = CarrierHarness(TelnyxMediaStream, TEMPLATES, FIELDS, mark_event="mark")


def TestOneInput(data: bytes) -> None:
    HARNESS.run(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
