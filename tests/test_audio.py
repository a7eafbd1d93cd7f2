"""PCM16 views, frame slicing, the streaming resampler and G.711 (adk_realtime.sansio.audio)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.audio import (
    SUPPORTED_RATES,
    AudioFormatError,
    FrameSlicer,
    Resampler,
    alaw_decode,
    alaw_encode,
    array_to_pcm16,
    duration_ms,
    ms_to_bytes,
    pcm16_to_array,
    pcm16_to_float,
    resample,
    ulaw_decode,
    ulaw_encode,
)
from adk_realtime.sansio.errors import ConfigError, ProtocolError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")

ALL_PAIRS = list(itertools.product(SUPPORTED_RATES, repeat=2))
CONVERTING_PAIRS = [(s, d) for s, d in ALL_PAIRS if s != d]


def _pcm(samples: np.ndarray) -> bytes:
    return samples.astype("<i2").tobytes()


def _sine(freq: float, rate: int, seconds: float, amp: float = 16000.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return np.rint(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _steady(out: np.ndarray, rate: int) -> np.ndarray:
    """100 ms of output after the start-up transient (10 Hz FFT bins, whole periods)."""
    start = rate // 20
    seg = out[start : start + rate // 10].astype(np.float64)
    assert seg.shape[0] == rate // 10
    return seg


def _spectrum(seg: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.rfft(seg)) ** 2


# --------------------------------------------------------------------------- PCM16 views


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_pcm16_to_array_is_a_zero_copy_little_endian_view(kind: type) -> None:
    raw = bytearray(b"\x01\x00\xff\x7f\x00\x80")
    data = kind(raw) if kind is not bytearray else raw
    arr = pcm16_to_array(data)
    assert arr.dtype == np.dtype("<i2")
    assert arr.tolist() == [1, 32767, -32768]
    assert np.shares_memory(arr, np.frombuffer(data, dtype=np.uint8))


def test_pcm16_view_of_a_bytearray_sees_later_writes() -> None:
    raw = bytearray(4)
    arr = pcm16_to_array(raw)
    raw[0] = 7
    assert arr[0] == 7


@pytest.mark.parametrize(
    "call",
    [pcm16_to_array, pcm16_to_float, ulaw_encode, alaw_encode, Resampler(24000, 16000).process],
)
def test_odd_byte_count_is_an_audio_format_error(call: object) -> None:
    with pytest.raises(AudioFormatError, match="odd byte count"):
        call(b"\x00\x01\x02")  # type: ignore[operator]
    assert issubclass(AudioFormatError, ProtocolError)


def test_same_rate_resampler_rejects_odd_byte_count_too() -> None:
    with pytest.raises(AudioFormatError):
        Resampler(16000, 16000).process(b"\x00")


def test_non_buffer_input_is_an_audio_format_error() -> None:
    with pytest.raises(AudioFormatError, match="expected bytes"):
        pcm16_to_array("not audio")  # type: ignore[arg-type]


def test_array_to_pcm16_writes_int16_as_is() -> None:
    arr = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    data = array_to_pcm16(arr)
    assert data == b"\x00\x00\x01\x00\xff\xff\xff\x7f\x00\x80"
    assert pcm16_to_array(data).tolist() == arr.tolist()


def test_array_to_pcm16_scales_rounds_and_clips_floats() -> None:
    arr = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 1.0 / 65536.0], dtype=np.float32)
    assert pcm16_to_array(array_to_pcm16(arr)).tolist() == [
        0,
        16384,
        -16384,
        32767,
        -32768,
        32767,
        -32768,
        0,
    ]


def test_float_round_trip_through_pcm16_is_exact() -> None:
    ints = np.arange(-32768, 32768, dtype=np.int16)
    assert array_to_pcm16(pcm16_to_float(ints.tobytes())) == ints.tobytes()


@pytest.mark.parametrize(
    ("arr", "message"),
    [
        (np.array([0.1, np.nan]), "NaN"),
        (np.array([1, 2], dtype=np.int32), "dtype"),
        (np.zeros((2, 2), dtype=np.int16), "1-D"),
    ],
)
def test_array_to_pcm16_rejects_what_it_cannot_encode(arr: np.ndarray, message: str) -> None:
    with pytest.raises(AudioFormatError, match=message):
        array_to_pcm16(arr)


def test_duration_and_byte_count_helpers() -> None:
    assert ms_to_bytes(20, 24000) == 960
    assert ms_to_bytes(20, 8000, bytes_per_sample=1) == 160
    assert duration_ms(960, 24000) == pytest.approx(20.0)
    assert duration_ms(160, 8000, bytes_per_sample=1) == pytest.approx(20.0)
    with pytest.raises(ConfigError):
        ms_to_bytes(20, 0)
    with pytest.raises(ConfigError):
        duration_ms(10, -1)


# --------------------------------------------------------------------------- FrameSlicer


@settings(max_examples=150, deadline=None)
@given(
    frame=st.integers(1, 64),
    chunks=st.lists(st.binary(max_size=200), max_size=20),
)
def test_frame_slicer_yields_exact_frames_and_keeps_one_partial(
    frame: int, chunks: list[bytes]
) -> None:
    slicer = FrameSlicer(frame)
    got: list[bytes] = []
    for chunk in chunks:
        for f in slicer.push(chunk):
            assert len(f) == frame
            got.append(bytes(f))
        assert 0 <= slicer.pending < frame
    stream = b"".join(chunks)
    whole = len(stream) // frame * frame
    assert b"".join(got) == stream[:whole]
    assert slicer.flush() == stream[whole:]
    assert slicer.pending == 0


def test_frames_inside_one_chunk_are_views_of_it() -> None:
    chunk = bytes(range(10))
    frames = FrameSlicer(4).push(chunk)
    assert [bytes(f) for f in frames] == [bytes(range(4)), bytes(range(4, 8))]
    src = np.frombuffer(chunk, dtype=np.uint8)
    assert all(np.shares_memory(np.frombuffer(f, dtype=np.uint8), src) for f in frames)


def test_frame_straddling_chunks_is_assembled() -> None:
    slicer = FrameSlicer(4)
    assert slicer.push(b"ab") == []
    assert slicer.pending == 2
    frames = slicer.push(b"cdefgh")
    assert [bytes(f) for f in frames] == [b"abcd", b"efgh"]
    assert slicer.pending == 0


def test_frame_slicer_flush_can_pad_with_silence() -> None:
    slicer = FrameSlicer(6)
    slicer.push(b"\x01\x02")
    assert slicer.flush(pad=True) == b"\x01\x02\x00\x00\x00\x00"
    assert slicer.flush(pad=True) == b""


def test_frame_slicer_needs_a_positive_frame_size() -> None:
    with pytest.raises(ConfigError):
        FrameSlicer(0)


# --------------------------------------------------------------------------- Resampler


def _reference(src: int, dst: int, x: np.ndarray) -> bytes:
    """Textbook upsample / filter / decimate with the same integer filter, in int64."""
    from adk_realtime.sansio.audio import _DESIGNS

    d = _DESIGNS[(src, dst)]
    up = np.zeros(x.shape[0] * d.up, dtype=np.int64)
    up[:: d.up] = x
    full = np.convolve(up, d.flat)
    n = -(-x.shape[0] * d.up // d.down)
    y = np.rint(full[np.arange(n) * d.down] / float(1 << 24))
    return _pcm(np.clip(y, -32768, 32767))


@pytest.mark.parametrize(("src", "dst"), CONVERTING_PAIRS)
def test_resampler_equals_textbook_polyphase_reference(src: int, dst: int) -> None:
    rng = np.random.default_rng(src + dst)
    x = rng.integers(-32768, 32768, size=700).astype(np.int16)
    assert Resampler(src, dst).process(_pcm(x)) == _reference(src, dst, x)


@settings(max_examples=150, deadline=None)
@given(
    pair=st.sampled_from(ALL_PAIRS),
    x=st.lists(st.integers(-32768, 32767), max_size=600).map(lambda v: np.array(v, dtype=np.int16)),
    cuts=st.lists(st.integers(0, 600), max_size=40),
)
def test_resampling_in_any_chunks_is_bit_identical_to_one_call(
    pair: tuple[int, int], x: np.ndarray, cuts: list[int]
) -> None:
    src, dst = pair
    whole = Resampler(src, dst).process(_pcm(x))
    r = Resampler(src, dst)
    bounds = [0, *sorted(min(c, x.shape[0]) for c in cuts), x.shape[0]]
    parts = []
    for a, b in itertools.pairwise(bounds):  # repeated cuts make empty chunks
        out = r.process(_pcm(x[a:b]))
        assert len(out) // 2 <= r.max_output_samples(b - a)
        parts.append(out)
    assert b"".join(parts) == whole


@pytest.mark.parametrize(("src", "dst"), CONVERTING_PAIRS)
def test_one_sample_chunks_match_one_call(src: int, dst: int) -> None:
    x = np.random.default_rng(7).integers(-20000, 20000, size=257).astype(np.int16)
    whole = Resampler(src, dst).process_array(x)
    r = Resampler(src, dst)
    out = np.empty(r.max_output_samples(1), dtype=np.int16)
    parts = []
    for i in range(x.shape[0]):
        n = r.process_into(x[i : i + 1], out)
        parts.append(out[:n].copy())
        assert r.process_into(x[i:i], out) == 0
    assert np.array_equal(np.concatenate(parts), whole)


def test_large_chunks_are_split_internally_without_changing_output() -> None:
    x = np.random.default_rng(3).integers(-32768, 32768, size=40000).astype(np.int16)
    whole = Resampler(48000, 8000).process(_pcm(x))
    r = Resampler(48000, 8000)
    assert r.process(_pcm(x[:12345])) + r.process(_pcm(x[12345:])) == whole
    assert whole == _reference(48000, 8000, x)


@pytest.mark.parametrize(("src", "dst"), ALL_PAIRS)
def test_output_length_is_input_length_times_rate_ratio(src: int, dst: int) -> None:
    r = Resampler(src, dst)
    total_in = total_out = 0
    for n in (0, 1, 479, 480, 3, 1000):
        total_in += n
        total_out += len(r.process(bytes(2 * n))) // 2
        assert total_out == math.ceil(total_in * dst / src)


def test_process_variants_agree() -> None:
    x = np.random.default_rng(1).integers(-32768, 32768, size=480).astype(np.int16)
    a = Resampler(24000, 16000).process(_pcm(x))
    b = Resampler(24000, 16000).process_array(x)
    r = Resampler(24000, 16000)
    out = np.zeros(r.max_output_samples(480), dtype=np.int16)
    n = r.process_into(memoryview(_pcm(x)), out)
    assert a == _pcm(b) == _pcm(out[:n])


def test_process_into_with_too_small_buffer_consumes_nothing() -> None:
    x = np.arange(480, dtype=np.int16)
    r = Resampler(24000, 48000)
    with pytest.raises(AudioFormatError, match="max_output_samples"):
        r.process_into(x, np.empty(959, dtype=np.int16))
    assert r.process(_pcm(x)) == Resampler(24000, 48000).process(_pcm(x))


def test_bad_chunk_leaves_the_stream_untouched() -> None:
    x = np.random.default_rng(2).integers(-9000, 9000, size=300).astype(np.int16)
    r = Resampler(16000, 24000)
    first = r.process(_pcm(x[:100]))
    with pytest.raises(AudioFormatError):
        r.process(b"\x00\x00\x00")
    with pytest.raises(AudioFormatError):
        r.process_array(x.astype(np.int32))  # type: ignore[arg-type]
    assert first + r.process(_pcm(x[100:])) == Resampler(16000, 24000).process(_pcm(x))


def test_unsupported_rate_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="44100"):
        Resampler(44100, 48000)
    with pytest.raises(ConfigError, match="dst_rate"):
        Resampler(48000, 22050)


@pytest.mark.parametrize("rate", SUPPORTED_RATES)
def test_same_rate_passes_audio_through_without_copying(rate: int) -> None:
    r = Resampler(rate, rate)
    data = _pcm(np.arange(-50, 50, dtype=np.int16))
    assert r.process(data) is data
    arr = pcm16_to_array(data)
    assert r.process_array(arr) is arr
    assert r.delay == 0 and r.flush() == b""
    assert resample(data, rate, rate) == data


@pytest.mark.parametrize(("src", "dst"), CONVERTING_PAIRS)
@pytest.mark.parametrize("freq", [440, 1000])
def test_tone_keeps_its_frequency_and_level(src: int, dst: int, freq: int) -> None:
    out = pcm16_to_array(Resampler(src, dst).process(_pcm(_sine(freq, src, 0.3))))
    spec = _spectrum(_steady(out, dst))
    assert np.argmax(spec) * 10 == freq  # 10 Hz bins
    level = np.sqrt(2 * np.mean(_steady(out, dst) ** 2))
    assert 20 * np.log10(level / 16000) == pytest.approx(0.0, abs=0.02)


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s, d in CONVERTING_PAIRS if d < s])
def test_tones_above_the_target_nyquist_are_attenuated(src: int, dst: int) -> None:
    for freq in (round(0.52 * dst / 10) * 10, dst, round(0.97 * src / 20) * 10):
        out = pcm16_to_array(Resampler(src, dst).process(_pcm(_sine(freq, src, 0.3))))
        seg = _steady(out, dst)
        alias_db = 10 * np.log10(np.mean(seg**2) / (16000**2 / 2) + 1e-30)
        assert alias_db < -60, (freq, alias_db)


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s, d in CONVERTING_PAIRS if d > s])
def test_upsampling_images_are_attenuated(src: int, dst: int) -> None:
    freq = round(0.8 * src / 20) * 10  # a high in-band tone puts its image near Nyquist
    out = pcm16_to_array(Resampler(src, dst).process(_pcm(_sine(freq, src, 0.3))))
    spec = _spectrum(_steady(out, dst))
    bins = np.arange(spec.shape[0]) * 10
    tone = spec[bins == freq][0]
    images = spec[bins >= src / 2]
    assert 10 * np.log10(images.max() / tone) < -60


@pytest.mark.parametrize(("src", "dst"), CONVERTING_PAIRS)
def test_one_shot_resample_is_time_aligned_and_exact_length(src: int, dst: int) -> None:
    x = _sine(300, src, 0.2)
    y = pcm16_to_array(resample(_pcm(x), src, dst))
    assert y.shape[0] == math.ceil(x.shape[0] * dst / src)
    ideal = _sine(300, dst, 0.2)[: y.shape[0]]
    middle = slice(dst // 50, -dst // 50)  # away from the edges' transients
    assert np.max(np.abs(y[middle].astype(int) - ideal[middle])) < 16000 * 0.002


@pytest.mark.parametrize(("src", "dst"), CONVERTING_PAIRS)
def test_flush_drains_the_tail_and_resets(src: int, dst: int) -> None:
    x = np.random.default_rng(5).integers(-9000, 9000, size=333).astype(np.int16)
    r = Resampler(src, dst)
    body = r.process(_pcm(x))
    tail = r.flush()
    padded = np.concatenate([x, np.zeros(_taps(src, dst) - 1, dtype=np.int16)])
    assert body + tail == _reference(src, dst, padded)
    assert r.process(_pcm(x)) == body  # fresh stream after flush


def _taps(src: int, dst: int) -> int:
    from adk_realtime.sansio.audio import _DESIGNS

    return _DESIGNS[(src, dst)].taps


def test_silence_in_gives_silence_out_and_dc_stays_exact() -> None:
    for src, dst in CONVERTING_PAIRS:
        r = Resampler(src, dst)
        assert not any(r.process(bytes(2000)))
        for level in (32000, -31000, 1234):
            dc = Resampler(src, dst).process(_pcm(np.full(2000, level, np.int16)))
            assert np.all(pcm16_to_array(dc)[-50:] == level)


# --------------------------------------------------------------------------- G.711


ALL_PCM16 = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


def test_ulaw_encode_matches_audioop_for_every_int16() -> None:
    assert ulaw_encode(ALL_PCM16) == audioop.lin2ulaw(ALL_PCM16, 2)


def test_alaw_encode_matches_audioop_for_every_int16() -> None:
    assert alaw_encode(ALL_PCM16) == audioop.lin2alaw(ALL_PCM16, 2)


def test_ulaw_decode_matches_audioop_for_every_code() -> None:
    assert ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_matches_audioop_for_every_code() -> None:
    assert alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_g711_codes_survive_decode_then_encode() -> None:
    # Every A-law code and every u-law code but "negative zero" (0x7F) is a fixed point.
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES
    expected = bytearray(ALL_CODES)
    expected[0x7F] = 0xFF
    assert ulaw_encode(ulaw_decode(ALL_CODES)) == bytes(expected)


def test_g711_accepts_memoryview_and_empty_input() -> None:
    assert ulaw_encode(memoryview(ALL_PCM16)[:4]) == audioop.lin2ulaw(ALL_PCM16[:4], 2)
    assert alaw_decode(b"") == b"" and ulaw_encode(b"") == b""


def test_whole_samples_carries_a_cut_sample_to_the_next_chunk() -> None:
    from adk_realtime.sansio.audio import whole_samples

    whole, rest = whole_samples(b"", b"\x01\x02\x03")
    assert (bytes(whole), rest) == (b"\x01\x02", b"\x03")
    whole, rest = whole_samples(rest, b"\x04\x05\x06")
    assert (bytes(whole), rest) == (b"\x03\x04\x05\x06", b"")
    chunk = b"\x07\x08"
    whole, rest = whole_samples(b"", chunk)
    assert whole is chunk and rest == b""  # the common case copies nothing
