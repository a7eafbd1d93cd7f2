"""Fuzz the simulator's server side: no client input may make a session raise.

Each input drives one fresh session (OpenAI GA, OpenAI beta or Gemini) through a few messages,
each either raw fuzz bytes or a valid client message with one value replaced by fuzz (ids the
server handed out are reused, so deep paths such as tool outputs and truncation are reached),
with simulated time passing and timers firing. Fuzzed text may hold lone UTF-16 surrogates, sent
as JSON escapes in text frames or raw in binary ones. Every queued server message must be JSON
that a text frame can carry (it has a UTF-8 form).
The simulator answers bad input with ``error`` events or a close event; an exception is a bug.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.sim.hub import (
        SimSession,
        SimSessionClosed,
        SimulatorHub,
        synthesize_speech,
    )

_SPEECH24 = base64.b64encode(synthesize_speech("weather in Paris", 24000)[:9600]).decode()
_SPEECH16 = base64.b64encode(synthesize_speech("weather in Paris", 16000)[:6400]).decode()
_SILENCE24 = base64.b64encode(bytes(24000)).decode()
_TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
_OPENAI = [
    {"type": "session.update", "session": {"type": "realtime", "tools": [_TOOL]}},
    {"type": "session.update", "session": {"tools": [_TOOL], "modalities": ["text"]}},
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": None, "format": {"type": "audio/pcmu"}}},
        },
    },
    {"type": "input_audio_buffer.append", "audio": _SPEECH24},
    {"type": "input_audio_buffer.append", "audio": _SILENCE24},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "weather in Paris"}],
        },
    },
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "$CALL", "output": "sunny"},
    },
    {
        "type": "conversation.item.truncate",
        "item_id": "$ITEM",
        "content_index": 0,
        "audio_end_ms": 300,
    },
    {"type": "conversation.item.delete", "item_id": "$ITEM"},
    {"type": "conversation.item.retrieve", "item_id": "$ITEM"},
    {
        "type": "response.create",
        "response": {"output_modalities": ["audio"], "metadata": {"k": "v"}},
    },
    {"type": "response.cancel"},
    {"type": "output_audio_buffer.clear"},
]
_GEMINI = [
    {"realtimeInput": {"audio": {"data": _SPEECH16, "mimeType": "audio/pcm;rate=16000"}}},
    {
        "realtime_input": {
            "media_chunks": [{"data": _SPEECH16, "mime_type": "audio/pcm"}],
            "audio_stream_end": True,
        }
    },
    {"realtimeInput": {"activityStart": {}, "activityEnd": {}, "text": "weather in Paris"}},
    {
        "clientContent": {
            "turns": [{"role": "user", "parts": [{"text": "weather in Paris"}]}],
            "turnComplete": True,
        }
    },
    {
        "toolResponse": {
            "functionResponses": [
                {"id": "$CALL", "name": "get_weather", "response": {"output": "sunny"}}
            ]
        }
    },
    {"setup": {"model": "m"}},
    {
        "clientContent": {
            "turns": [
                {
                    "role": "model",
                    "parts": [{"functionCall": {"id": "c1", "name": "f", "args": {}}}],
                },
                {"role": "user", "parts": [{"functionResponse": {"id": "c1", "name": "f"}}]},
            ],
            "turnComplete": True,
        }
    },
]
_SETUP = {
    "setup": {
        "model": "models/m",
        "tools": [
            {"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}
        ],
        "sessionResumption": {},
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
    }
}
# Transparent resumption and seeded history (historyConfig).
_SETUP_CONTINUITY = {
    "setup": {
        **_SETUP["setup"],
        "sessionResumption": {"transparent": True},
        "historyConfig": {"initialHistoryInClientContent": True},
    }
}


def _fuzz_text(fdp: atheris.FuzzedDataProvider) -> str:
    """Any text, lone UTF-16 surrogates included (JSON can spell them: "\\ud800")."""
    n = fdp.ConsumeIntInRange(0, 64)
    kind = fdp.ConsumeIntInRange(0, 2)
    if kind == 0:
        return fdp.ConsumeUnicodeNoSurrogates(n)
    if kind == 1:
        return fdp.ConsumeUnicode(n)  # may hold surrogates anywhere
    text = fdp.ConsumeUnicodeNoSurrogates(n)
    at = fdp.ConsumeIntInRange(0, len(text))
    return text[:at] + chr(fdp.ConsumeIntInRange(0xD800, 0xDFFF)) + text[at:]


def _fuzz_value(fdp: atheris.FuzzedDataProvider, seen: list[str]) -> Any:
    pick = fdp.ConsumeIntInRange(0, 9)
    if pick == 0 and seen:
        return seen[fdp.ConsumeIntInRange(0, len(seen) - 1)]
    simple: list[Any] = [None, True, -1, 0, 2**63, 1e308, "", [], {}, "AAAA"]
    if pick < 8:
        return simple[fdp.ConsumeIntInRange(0, len(simple) - 1)]
    return _fuzz_text(fdp)


def _encode(message: Any, fdp: atheris.FuzzedDataProvider) -> str | bytes:
    """A client message as a text frame (surrogates escaped) or a binary frame (raw bytes)."""
    if fdp.ConsumeBool():
        return json.dumps(message)
    return json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _mutate(value: Any, fdp: atheris.FuzzedDataProvider, seen: list[str], depth: int = 0) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return seen[fdp.ConsumeIntInRange(0, len(seen) - 1)] if seen else "none"
    if isinstance(value, dict) and value:
        out = dict(value)
        target = list(out)[fdp.ConsumeIntInRange(0, len(out) - 1)]
        for key in out:
            if key == target and fdp.ConsumeBool():
                out[key] = (
                    _fuzz_value(fdp, seen)
                    if depth > 4 or fdp.ConsumeBool()
                    else _mutate(out[key], fdp, seen, depth + 1)
                )
            else:
                out[key] = (
                    _mutate(out[key], fdp, seen, depth + 1)
                    if isinstance(out[key], str)
                    else out[key]
                )
        return out
    if isinstance(value, list) and value and fdp.ConsumeBool():
        return [_mutate(v, fdp, seen, depth + 1) for v in value]
    return value


def _collect_ids(message: str, seen: list[str]) -> None:
    message.encode("utf-8")  # every server message must be sendable as a text frame
    event = json.loads(message)  # and be JSON
    stack = [event]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if (
                    key in ("item_id", "call_id", "id")
                    and isinstance(value, str)
                    and len(seen) < 32
                ):
                    seen.append(value)
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _drain(session: SimSession, seen: list[str]) -> bool:
    """Take everything the session queued; True once it has ended (its close event came)."""
    for out in session.data_to_send():
        _collect_ids(out, seen)
    ended = False
    while (event := session.next_event()) is not None:
        assert isinstance(event, SimSessionClosed) and not ended, event  # one close, at most
        assert len(event.reason.encode("utf-8")) <= 123  # fits a close frame
        ended = True
    return ended


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cap = {"go_away_after": 5.0} if fdp.ConsumeBool() else {"session_max_seconds": 6.0}
    hub = SimulatorHub(
        pace=fdp.PickValueInList([0.0, 1.0]),
        drop_after=fdp.PickValueInList([None, 2.0]),
        record_input=fdp.ConsumeBool(),
        **cap,  # type: ignore[arg-type]
    )
    which = fdp.ConsumeIntInRange(0, 2)
    now = 0.0
    seen: list[str] = []
    if which == 2:
        session: SimSession = hub.open_session("gemini", path="/ws/x", now=now)
        templates = _GEMINI
        if fdp.ConsumeBool():
            setup = _SETUP_CONTINUITY if fdp.ConsumeBool() else _SETUP
            session.receive_data(_encode(setup, fdp), now)
    else:
        model = "gpt-realtime" if which == 0 else "gpt-4o-realtime-preview"
        beta = [("OpenAI-Beta", "realtime=v1")] if which == 1 else []
        path = f"/v1/realtime?model={model}"
        session = hub.open_session("openai", path=path, headers=beta, now=now)
        templates = _OPENAI
    ended = _drain(session, seen)
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        if ended:
            break
        if fdp.ConsumeIntInRange(0, 3) == 0:
            message: str | bytes = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))
        else:
            template = templates[fdp.ConsumeIntInRange(0, len(templates) - 1)]
            message = _encode(_mutate(template, fdp, seen), fdp)
        session.receive_data(message, now)
        ended = _drain(session, seen)
        now += fdp.ConsumeFloatInRange(0.0, 3.0)
        timer = session.get_timer()
        if timer is not None and timer <= now:
            session.handle_timer(now)
            ended = _drain(session, seen) or ended


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
