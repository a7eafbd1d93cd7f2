"""Codec throughput: our sans-IO decoders/encoders vs the official SDKs' own paths.

What is measured, per 20 ms of 24 kHz PCM16 (960 bytes, 1280 base64 chars):

OpenAI decode of GA ``response.output_audio.delta`` (the same JSON text to each):
  ours    ``OpenAIProtocol.receive_data(text, now)`` + ``next_event()`` -> ``AudioDelta(bytes)``
  SDK     what ``AsyncRealtimeConnection.recv()`` does: ``parse_event`` =
          ``json.loads`` + ``openai._models.construct_type_unchecked(value=...,
          type_=RealtimeServerEvent)``, then ``base64.b64decode(event.delta)``
          (the SDK hands over base64; every app decodes it)
  strict  ``pydantic.TypeAdapter(RealtimeServerEvent).validate_json`` + base64

OpenAI encode of ``input_audio_buffer.append`` (960 bytes of PCM in, text out):
  ours    ``OpenAIProtocol.send_audio(pcm)`` + ``data_to_send()``
  SDK     what ``connection.input_audio_buffer.append(audio=b64)`` runs:
          ``base64`` + ``strip_not_given`` + ``json.dumps(maybe_transform(event,
          Union[RealtimeClientEventParam, ...]))`` (``connection.send`` on a dict)
  model   ``InputAudioBufferAppendEvent(...).to_json(use_api_names=True,
          exclude_unset=True)`` (``connection.send`` on a pydantic model)

Gemini decode of ``serverContent.modelTurn.parts[0].inlineData`` audio:
  ours    ``GeminiProtocol.receive_data(text, now)`` + ``next_event()`` until ``None``
  SDK     what ``AsyncSession._receive`` does: ``json.loads`` +
          ``_LiveServerMessage_from_mldev`` + ``LiveServerMessage._from_response``
          (pydantic decodes the base64 into bytes)
  strict  ``LiveServerMessage.model_validate_json``

Gemini encode of ``realtimeInput.audio`` (640 bytes = 20 ms at 16 kHz):
  ours    ``GeminiProtocol.send_audio(pcm)`` + ``data_to_send()``
  SDK     what ``send_realtime_input(audio=Blob(...))`` runs before the socket.

Goal: ours >= 3x the SDK on OpenAI decode.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any, Union

import _common as c

FRAME = 960  # 20 ms of 24 kHz PCM16
FRAME_16K = 640  # 20 ms of 16 kHz PCM16
DISTINCT = 64  # different payloads, cycled


def openai_messages() -> list[str]:
    out = []
    for i in range(DISTINCT):
        out.append(
            json.dumps(
                {
                    "type": "response.output_audio.delta",
                    "event_id": f"event_{i:06d}",
                    "response_id": "resp_CIGJqVtdiCVZyanHyDOyX",
                    "item_id": "item_CIGJqW6ABDUn3bfl6txfK",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": base64.b64encode(os.urandom(FRAME)).decode(),
                },
                separators=(",", ":"),
            )
        )
    return out


def gemini_messages() -> list[str]:
    out = []
    for _ in range(DISTINCT):
        out.append(
            json.dumps(
                {
                    "serverContent": {
                        "modelTurn": {
                            "parts": [
                                {
                                    "inlineData": {
                                        "mimeType": "audio/pcm;rate=24000",
                                        "data": base64.b64encode(os.urandom(FRAME)).decode(),
                                    }
                                }
                            ]
                        }
                    }
                },
                separators=(",", ":"),
            )
        )
    return out


def build_openai(msgs: list[str], pcms: list[bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    import pydantic
    from openai._models import construct_type_unchecked
    from openai._utils import maybe_transform, strip_not_given
    from openai.types.realtime import (
        InputAudioBufferAppendEvent,
        RealtimeClientEventParam,
        RealtimeServerEvent,
    )
    from openai.types.realtime.response_create_event_with_references_param import (
        ResponseCreateEventWithReferencesParam,
    )

    from adk_realtime.sansio.openai.protocol import OpenAIProtocol

    proto = OpenAIProtocol("gpt-realtime")
    adapter: Any = pydantic.TypeAdapter(RealtimeServerEvent)
    b64decode = base64.b64decode
    loads = json.loads

    # Each path checked once: same bytes out of each, before anything is timed.
    expected = base64.b64decode(json.loads(msgs[0])["delta"])
    proto.receive_data(msgs[0], 0.0)
    event: Any = proto.next_event()
    assert event.delta == expected and proto.next_event() is None
    sdk_event: Any = construct_type_unchecked(value=loads(msgs[0]), type_=RealtimeServerEvent)
    assert b64decode(sdk_event.delta) == expected
    assert b64decode(adapter.validate_json(msgs[0]).delta) == expected

    def ours_decode() -> int:
        receive, next_event = proto.receive_data, proto.next_event
        for m in msgs:
            receive(m, 0.0)
            next_event()  # one AudioDelta per message
        return len(msgs)

    def sdk_decode() -> int:
        for m in msgs:
            event: Any = construct_type_unchecked(value=loads(m), type_=RealtimeServerEvent)
            b64decode(event.delta)
        return len(msgs)

    def strict_decode() -> int:
        validate = adapter.validate_json
        for m in msgs:
            b64decode(validate(m).delta)
        return len(msgs)

    # exactly what connection.send passes to maybe_transform
    param_union: Any = Union[RealtimeClientEventParam, ResponseCreateEventWithReferencesParam]  # noqa: UP007
    b64encode = base64.b64encode

    def ours_encode() -> int:
        send, data_to_send = proto.send_audio, proto.data_to_send
        for p in pcms:
            send(p)
            data_to_send()
        return len(pcms)

    def sdk_encode() -> int:
        for p in pcms:
            event = strip_not_given(
                {"type": "input_audio_buffer.append", "audio": b64encode(p).decode("ascii")}
            )
            json.dumps(maybe_transform(event, param_union))
        return len(pcms)

    def model_encode() -> int:
        for p in pcms:
            InputAudioBufferAppendEvent(
                type="input_audio_buffer.append", audio=b64encode(p).decode("ascii")
            ).to_json(use_api_names=True, exclude_unset=True)
        return len(pcms)

    # The encoders agree on the content.
    proto.send_audio(pcms[0])
    (sent,) = proto.data_to_send()
    ours = json.loads(sent)
    sdk = json.loads(
        json.dumps(
            maybe_transform(
                {"type": "input_audio_buffer.append", "audio": b64encode(pcms[0]).decode()},
                param_union,
            )
        )
    )
    assert ours == sdk, (ours, sdk)

    decode = {"ours": ours_decode, "sdk": sdk_decode, "strict": strict_decode}
    encode = {"ours": ours_encode, "sdk": sdk_encode, "model": model_encode}
    return decode, encode


def build_gemini(msgs: list[str], pcms: list[bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    from google.genai import _common as genai_common, _live_converters as conv, types

    from adk_realtime.sansio.gemini.protocol import GeminiProtocol

    proto = GeminiProtocol("gemini-live-2.5-flash")
    loads = json.loads
    from_mldev = conv._LiveServerMessage_from_mldev
    from_response = types.LiveServerMessage._from_response
    validate_json = types.LiveServerMessage.model_validate_json

    expected = base64.b64decode(
        json.loads(msgs[0])["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
    )
    proto.receive_data(msgs[0], 0.0)
    got = []
    while (event := proto.next_event()) is not None:
        if type(event).__name__ == "AudioDelta":
            got.append(event)
    assert len(got) == 1 and got[0].delta == expected

    def sdk_one(m: str) -> Any:
        # AsyncSession._receive, minus the socket.
        parameter_model = types.LiveServerMessage()
        response_dict = from_mldev(loads(m))
        return from_response(response=response_dict, kwargs=parameter_model.model_dump())

    assert sdk_one(msgs[0]).data == expected
    assert validate_json(msgs[0]).data == expected

    def ours_decode() -> int:
        receive, next_event = proto.receive_data, proto.next_event
        for m in msgs:
            receive(m, 0.0)
            while next_event() is not None:  # an AudioDelta (a ResponseCreated opens a turn)
                pass
        return len(msgs)

    def sdk_decode() -> int:
        for m in msgs:
            sdk_one(m).server_content.model_turn.parts[0].inline_data.data  # noqa: B018
        return len(msgs)

    def strict_decode() -> int:
        for m in msgs:
            validate_json(m).server_content.model_turn.parts[0].inline_data.data  # noqa: B018
        return len(msgs)

    def ours_encode() -> int:
        send, data_to_send = proto.send_audio, proto.data_to_send
        for p in pcms:
            send(p)
            data_to_send()
        return len(pcms)

    def sdk_encode() -> int:
        # AsyncSession.send_realtime_input(audio=Blob(...)), minus the socket.
        for p in pcms:
            blob = types.Blob(data=p, mime_type="audio/pcm;rate=16000")
            params = types.LiveSendRealtimeInputParameters.model_validate({"audio": blob})
            d = conv._LiveSendRealtimeInputParameters_to_mldev(from_object=params)
            d = genai_common.convert_to_dict(d)
            d = genai_common.encode_unserializable_types(d)
            json.dumps({"realtime_input": d})
        return len(pcms)

    decode = {"ours": ours_decode, "sdk": sdk_decode, "strict": strict_decode}
    encode = {"ours": ours_encode, "sdk": sdk_encode}
    return decode, encode


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rounds, min_time = (2, 0.02) if args.smoke else (7, 0.25)
    pcms24 = [os.urandom(FRAME) for _ in range(DISTINCT)]
    pcms16 = [os.urandom(FRAME_16K) for _ in range(DISTINCT)]

    o_dec, o_enc = build_openai(openai_messages(), pcms24)
    g_dec, g_enc = build_gemini(gemini_messages(), pcms16)
    od = c.best_rate(o_dec, rounds, min_time)
    oe = c.best_rate(o_enc, rounds, min_time)
    gd = c.best_rate(g_dec, rounds, min_time)
    ge = c.best_rate(g_enc, rounds, min_time)

    c.note(f"machine: {c.machine()}; {c.load_note()}")
    for label, rates in (
        ("openai decode", od),
        ("openai encode", oe),
        ("gemini decode", gd),
        ("gemini encode", ge),
    ):
        detail = ", ".join(
            f"{k} {c.si(v)} ev/s ({1e6 / v:.2f} us/ev)" for k, v in rates.items() if v
        )
        c.note(f"{label}: {detail}")
    goal = c.judged(f" [goal >=3x {'met' if od['ours'] >= 3 * od['sdk'] else 'MISSED'}]")
    c.summary(
        "codec",
        f"openai decode {c.si(od['ours'])} ev/s vs SDK {c.si(od['sdk'])} "
        f"({c.ratio(od['ours'], od['sdk'])}), strict {c.si(od['strict'])} "
        f"({c.ratio(od['ours'], od['strict'])}){goal}; "
        f"encode {c.si(oe['ours'])} vs SDK {c.si(oe['sdk'])} ({c.ratio(oe['ours'], oe['sdk'])}), "
        f"model {c.si(oe['model'])} ({c.ratio(oe['ours'], oe['model'])}); "
        f"gemini decode {c.si(gd['ours'])} vs SDK {c.si(gd['sdk'])} "
        f"({c.ratio(gd['ours'], gd['sdk'])}), strict {c.si(gd['strict'])} "
        f"({c.ratio(gd['ours'], gd['strict'])}); "
        f"gemini encode {c.si(ge['ours'])} vs SDK {c.si(ge['sdk'])} "
        f"({c.ratio(ge['ours'], ge['sdk'])})",
    )

    def draw(plt: Any) -> None:
        groups = [
            ("OpenAI decode", od),
            ("OpenAI encode", oe),
            ("Gemini decode", gd),
            ("Gemini encode", ge),
        ]
        labels, values = [], []
        for g, rates in groups:
            for k, v in rates.items():
                labels.append(f"{g}\n{k}")
                values.append(v / 1e3)
        plt.barh(labels[::-1], values[::-1])
        plt.xlabel("thousand events / s (higher is better)")
        plt.title("bench_codec: 20 ms audio events")

    c.maybe_plot(args.plot, "bench_codec", draw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
