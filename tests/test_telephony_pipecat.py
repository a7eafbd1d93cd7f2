"""An independent check of the carrier codecs: Pipecat's Twilio, Telnyx and Plivo serializers.

Pipecat (``pipecat-ai``, https://github.com/pipecat-ai/pipecat, ``src/pipecat/serializers``)
plays the bot's side of the same three protocols. Its serializers and ours must agree:

* the outbound messages it builds for a 20 ms frame and for an interruption are the
  ones ours build (same event, same fields, same μ-law bytes), except that its Plivo
  ``playAudio`` adds ``streamId``, which Plivo's reference does not show;
* the carrier messages we decode, it decodes to the same audio and DTMF;
* our outbound ``media`` messages decode in it (Twilio and Telnyx share the inbound
  shape), and its outbound messages decode in ours.

Pipecat neither places marks nor reads their echoes (its ``deserialize`` returns
``None`` for them): the playback accounting has no counterpart there.

Skipped unless pipecat is importable: it is heavy (59 distributions, 550 MB with
onnxruntime and numba) and not a dependency. To run it, from this checkout (after its
strict editable install), in a throwaway venv::

    python3 -m venv /tmp/pcvenv
    /tmp/pcvenv/bin/pip install "pipecat-ai==1.14.0" pytest hypothesis trio wsproto h11
    echo "$PWD/build/__editable__.adk_realtime-0.1.0-py3-none-any" \\
        > /tmp/pcvenv/lib/python3.11/site-packages/adk_checkout.pth
    /tmp/pcvenv/bin/python -m pytest tests/test_telephony_pipecat.py
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from adk_realtime.sansio.audio import ulaw_decode, ulaw_encode
from adk_realtime.sansio.telephony.events import DtmfReceived, MediaReceived
from tests.telephony_wire import WIRES, b64, doc_message, drain, sent, started

pytest.importorskip("pipecat")

from pipecat.frames.frames import (
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
)
from pipecat.serializers.plivo import PlivoFrameSerializer
from pipecat.serializers.telnyx import TelnyxFrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer

SID = "S-42"
CARRIERS = ["twilio", "telnyx", "plivo"]
# A 20 ms frame of PCM at 8 kHz: a ramp through the whole range, so every μ-law
# segment is exercised.
PCM = b"".join(int(v).to_bytes(2, "little", signed=True) for v in range(-32000, 32000, 400))


def serializer(carrier: str) -> Any:
    if carrier == "twilio":
        s: Any = TwilioFrameSerializer(
            SID, params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
        )
    elif carrier == "telnyx":
        s = TelnyxFrameSerializer(
            SID, "PCMU", "PCMU", params=TelnyxFrameSerializer.InputParams(auto_hang_up=False)
        )
    else:
        s = PlivoFrameSerializer(SID, params=PlivoFrameSerializer.InputParams(auto_hang_up=False))
    # setup() only reads the pipeline's input rate: keep everything at 8 kHz.
    asyncio.run(s.setup(SimpleNamespace(audio_in_sample_rate=8000)))
    return s


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_pipecat_builds_the_media_and_clear_messages_we_build(carrier: str) -> None:
    assert len(PCM) == 320
    theirs = json.loads(run(serializer(carrier).serialize(OutputAudioRawFrame(PCM, 8000, 1))))
    stream = started(carrier, sid=SID)
    stream.send_audio(ulaw_encode(PCM))
    (ours,) = sent(stream)
    if carrier == "plivo":
        assert theirs.pop("streamId") == SID  # Pipecat adds it; Plivo's reference does not
    assert theirs == ours
    theirs_clear = json.loads(run(serializer(carrier).serialize(InterruptionFrame())))
    stream.clear()
    assert [theirs_clear] == sent(stream)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_pipecat_decodes_what_we_decode(carrier: str) -> None:
    audio = ulaw_encode(PCM)
    message = json.dumps(WIRES[carrier].media(audio))
    stream = started(carrier, sid=SID)
    stream.receive_data(message, 0.0)
    (ours,) = drain(stream)
    assert isinstance(ours, MediaReceived)
    frame = run(serializer(carrier).deserialize(message))
    assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 8000
    assert frame.audio == ulaw_decode(ours.payload)
    for digit in ("1", "#", "*"):
        dtmf = json.dumps({"event": "dtmf", "dtmf": {"digit": digit}})
        stream.receive_data(dtmf, 0.0)
        assert drain(stream) == [DtmfReceived(digit)]
        theirs = run(serializer(carrier).deserialize(dtmf))
        assert isinstance(theirs, InputDTMFFrame) and theirs.button.value == digit


def test_pipecat_decodes_the_documented_twilio_and_telnyx_media() -> None:
    msg = json.loads(doc_message("twilio", "media inbound track"))
    msg["media"]["payload"] = b64(ulaw_encode(PCM))
    frame = run(serializer("twilio").deserialize(json.dumps(msg)))
    assert frame.audio == ulaw_decode(ulaw_encode(PCM))
    telnyx = doc_message("telnyx", "media")
    frame = run(serializer("telnyx").deserialize(telnyx))
    stream = started("telnyx")
    stream.receive_data(telnyx, 0.0)
    (ours,) = drain(stream)
    assert frame.audio == ulaw_decode(ours.payload)


@pytest.mark.parametrize("carrier", ["twilio", "telnyx"])
def test_our_outbound_media_decodes_in_pipecat_and_theirs_in_ours(carrier: str) -> None:
    stream = started(carrier, sid=SID)
    stream.send_audio(ulaw_encode(PCM))
    (ours,) = stream.data_to_send()
    frame = run(serializer(carrier).deserialize(ours))
    assert frame.audio == ulaw_decode(ulaw_encode(PCM))
    theirs = run(serializer(carrier).serialize(OutputAudioRawFrame(PCM, 8000, 1)))
    stream.receive_data(theirs, 0.0)
    assert drain(stream) == [MediaReceived(ulaw_encode(PCM), "inbound", None, None)]


@pytest.mark.parametrize("carrier", CARRIERS)
def test_pipecat_keeps_no_playback_books(carrier: str) -> None:
    """Marks and their echoes mean nothing to Pipecat's serializers."""
    wire = WIRES[carrier]
    echo = json.dumps(wire.echo("adk-1@100ms"))
    assert run(serializer(carrier).deserialize(echo)) is None
