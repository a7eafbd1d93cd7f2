"""Fuzz GeminiProtocol.receive_data: only DecodeError may escape, and a
failed message leaves the protocol's state as it was.

One input drives one protocol through several messages, so decoding is
exercised mid-turn, with tool calls pending and handles kept. The first byte
picks the mode: raw bytes as a frame, or JSON built from the input over the
Gemini vocabulary (keys, durations, base64 in both alphabets), which reaches
the inner decoders far sooner than random bytes do.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.config import RealtimeConfig
    from adk_realtime.sansio.errors import DecodeError
    from adk_realtime.sansio.events import FunctionCallDone
    from adk_realtime.sansio.gemini.protocol import GeminiProtocol

KEYS = (
    "setupComplete serverContent toolCall toolCallCancellation goAway sessionResumptionUpdate "
    "usageMetadata voiceActivity voiceActivityDetectionSignal server_content tool_call "
    "modelTurn model_turn parts inlineData inline_data data mimeType text thought "
    "turnComplete interrupted generationComplete inputTranscription outputTranscription "
    "functionCalls function_calls id name args ids timeLeft time_left seconds nanos newHandle "
    "resumable promptTokenCount responseTokenCount totalTokenCount sessionId "
    "voiceActivityType vadSignalType audioOffset finished somethingNew"
).split()
STRINGS = (
    "", "AAEC", "AAE", "-_8=", "+/8=", "1.5s", "12s", "0.000000001s", "ACTIVITY_START",
    "VAD_SIGNAL_TYPE_EOS", "audio/pcm;rate=24000", "image/png", "c1", "12", "x",
)  # fmt: skip


def _value(fdp: atheris.FuzzedDataProvider, depth: int) -> Any:
    kind = fdp.ConsumeIntInRange(0, 8 if depth < 5 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        if fdp.ConsumeIntInRange(0, 7) == 0:
            return 10**400  # larger than any float: durations must not overflow
        return fdp.ConsumeIntInRange(-3, 1 << 40)
    if kind == 3:
        return fdp.ConsumeRegularFloat()
    if kind == 4:
        return STRINGS[fdp.ConsumeIntInRange(0, len(STRINGS) - 1)]
    if kind == 5:
        return fdp.ConsumeUnicodeNoSurrogates(8)
    if kind == 6:
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {
        KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]: _value(fdp, depth + 1)
        for _ in range(fdp.ConsumeIntInRange(0, 4))
    }


def _state(proto: GeminiProtocol) -> tuple[object, ...]:
    return (
        proto.current_item_id,
        proto.turn_open,
        proto.pending_tool_calls,
        proto.resumption_handle,
        proto.resumable,
        proto.audio_ms_received(proto.current_item_id),
    )


def _no_constant(name: str) -> Any:
    raise AssertionError(f"FunctionCallDone.arguments holds {name}, which is not JSON")


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    proto = GeminiProtocol("gemini-live")
    proto.start(RealtimeConfig())
    proto.data_to_send()
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        mode = fdp.ConsumeIntInRange(0, 3)
        message: str | bytes
        if mode == 0:
            message = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))
        else:
            message = json.dumps(
                _value(fdp, 0) if mode == 1 else {KEYS[fdp.ConsumeIntInRange(0, 8)]: _value(fdp, 1)}
            )
            if mode == 3:
                message = message.encode()
        before = _state(proto)
        try:
            proto.receive_data(message, 0.0)
        except DecodeError:
            if _state(proto) != before:
                raise AssertionError("a failed message changed the protocol state") from None
            if proto.next_event() is not None:
                raise AssertionError("a failed message queued events") from None
        else:
            while (event := proto.next_event()) is not None:
                if isinstance(event, FunctionCallDone):
                    # Strict JSON: NaN/Infinity would make the tool's parser fail.
                    json.loads(event.arguments, parse_constant=_no_constant)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
