"""Fuzz adk_realtime.sansio.audio: chunk-invariance of the resampler, G.711, frame slicing.

Only AudioFormatError (a ProtocolError) is expected; anything else, or a broken
invariant (an AssertionError), is a finding.
"""

import itertools
import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.audio import (
        SUPPORTED_RATES,
        AudioFormatError,
        FrameSlicer,
        Resampler,
        alaw_decode,
        alaw_encode,
        pcm16_to_array,
        ulaw_decode,
        ulaw_encode,
    )

PAIRS = list(itertools.product(SUPPORTED_RATES, repeat=2))


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    src, dst = PAIRS[fdp.ConsumeIntInRange(0, len(PAIRS) - 1)]
    cuts = sorted(fdp.ConsumeIntInRange(0, 2048) for _ in range(fdp.ConsumeIntInRange(0, 8)))
    frame = fdp.ConsumeIntInRange(1, 64)
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())

    try:
        pcm16_to_array(payload)
    except AudioFormatError:
        pass

    # G.711: every byte string decodes; every even-length one encodes.
    assert len(ulaw_decode(payload)) == 2 * len(payload)
    assert len(alaw_decode(payload)) == 2 * len(payload)
    even = payload[: len(payload) & ~1]
    assert len(ulaw_encode(even)) == len(even) // 2 == len(alaw_encode(even))

    # Resampler: any cut into whole samples gives the same bytes; a bad chunk changes nothing.
    whole = Resampler(src, dst).process(even)
    r = Resampler(src, dst)
    parts = []
    bounds = [0, *(min(c & ~1, len(even)) for c in cuts), len(even)]
    for a, b in itertools.pairwise(bounds):
        parts.append(r.process(even[a:b]))
        try:
            r.process(b"\x00")
        except AudioFormatError:
            pass
        else:
            raise AssertionError("odd byte count accepted")
    assert b"".join(parts) == whole

    slicer = FrameSlicer(frame)
    got = b"".join(bytes(f) for f in slicer.push(payload))
    assert got + slicer.flush() == payload


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
