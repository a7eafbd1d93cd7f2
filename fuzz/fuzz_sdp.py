"""Fuzz adk_realtime.sansio.webrtc.sdp: parse_answer / parse_offer on arbitrary text.

Only SdpError (a ProtocolError) is expected; anything else is a finding. Half the
inputs are spliced into a valid offer so the fuzzer reaches the attribute parsers.
"""

import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.webrtc.sdp import (
        SdpError,
        build_offer,
        host_candidate,
        parse_answer,
        parse_offer,
    )

BASE = build_offer(
    ice_ufrag="fuzz",
    ice_pwd="fuzzpassword0123456789",
    fingerprint_sha256=":".join(["AB"] * 32),
    candidates=[host_candidate("127.0.0.1", 5000), host_candidate("::1", 5001)],
    audio_ssrc=1,
    cname="fuzz",
    session_id=1,
).split("\r\n")


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    splice = fdp.ConsumeBool()
    where = fdp.ConsumeIntInRange(0, len(BASE))
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    if splice:
        text = "\r\n".join([*BASE[:where], text, *BASE[where:]])
    for parse in (parse_answer, parse_offer):
        try:
            parse(text)
        except SdpError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
