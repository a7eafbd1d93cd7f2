"""Fuzz OpenAIProtocol.receive_data: only DecodeError may escape, state stays bounded.

Inputs with an odd first byte go in raw (the JSON layer); the others are
turned into a JSON object of a known event ``type`` with fields and values
drawn from the input, so the fuzzer reaches the per-event decoders instead of
stopping at the JSON parser. Two long-lived
protocol objects (GA and beta) see every input, so state accumulates as in a
long session.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.errors import DecodeError
    from adk_realtime.sansio.events import ItemTruncate
    from adk_realtime.sansio.openai.protocol import (
        _ROUTES,
        MAX_PENDING_CALLS,
        MAX_TRACKED_ITEMS,
        OpenAIProtocol,
    )

TYPES = [*sorted(_ROUTES), "response.output_item.added", "conversation.created"]
FIELDS = [
    "delta", "item_id", "response_id", "call_id", "name", "arguments", "item", "response",
    "session", "error", "rate_limits", "transcript", "text", "content_index", "audio_end_ms",
    "audio_start_ms", "previous_item_id", "usage", "id", "type", "message", "code", "status",
    "input_tokens", "output_tokens", "total_tokens", "event_id",
]  # fmt: skip
PROTOCOLS = [OpenAIProtocol("gpt-realtime"), OpenAIProtocol("gpt-4o-realtime-preview")]


def _value(fdp: atheris.FuzzedDataProvider, depth: int) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-(2**40), 2**40)
    if kind == 3:
        return fdp.ConsumeRegularFloat()
    if kind == 4:
        return base64.b64encode(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))).decode()
    if kind == 5:
        return fdp.PickValueInList(["item_1", "call_1", "resp_1", "function_call", "", "x"])
    if kind in (6, 7) and depth < 3:
        return _object(fdp, depth + 1)
    if kind == 8 and depth < 3:
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 16))


def _object(fdp: atheris.FuzzedDataProvider, depth: int) -> dict[str, Any]:
    return {
        fdp.PickValueInList(FIELDS): _value(fdp, depth) for _ in range(fdp.ConsumeIntInRange(0, 6))
    }


def _message(data: bytes) -> bytes:
    """Raw bytes when the first byte is odd, else a structured message of a known type."""
    if not data or data[0] & 1:
        return data
    fdp = atheris.FuzzedDataProvider(data[1:])
    etype = fdp.PickValueInList(TYPES)
    body = _object(fdp, 0)
    body["type"] = etype
    return json.dumps(body).encode()


def TestOneInput(data: bytes) -> None:
    message = _message(data)
    for proto in PROTOCOLS:
        try:
            proto.receive_data(message, 0.0)
        except DecodeError:
            assert proto.next_event() is None, "a failed message queued events"
        while proto.next_event() is not None:
            pass
        assert len(proto._received) <= MAX_TRACKED_ITEMS
        assert len(proto.pending_calls) <= MAX_PENDING_CALLS
        item = proto.current_item_id
        if item and item in proto._received:
            # Whatever audio was received, a truncation never goes past it.
            proto.send_event(ItemTruncate(item, 10**9))
            (text,) = proto.data_to_send()
            assert json.loads(text)["audio_end_ms"] == proto.audio_ms_received(item)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
