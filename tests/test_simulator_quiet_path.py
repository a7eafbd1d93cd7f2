"""The simulator's ear skips the analysis of quiet audio: with identical results.

``SpeechRecognizer`` labels a buffer whose peak keeps every window below its power floor as
silence without a spectrum, and ``EnergyVad`` counts such frames as quiet without their power;
``pcm_to_float`` reads G.711 through a float table and ``b64decode_any`` tries plain base64
first. Each shortcut must change nothing: here the full analysis (``_skip_quiet = False``) and
the shortcut hear the same streams of silence, tone-coded speech (whole or cut short), low and
loud noise, in random chunks, and must agree on the text, the VAD events and the internal state
after every chunk. The table and base64 shortcuts, and the leaner spectrum and frame power
of loud audio, are checked against the code they replaced.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from adk_realtime.sansio.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from adk_realtime.sansio.config import AudioEncoding
from adk_realtime.sansio.sim.core import b64decode_any, pcm_to_float
from adk_realtime.sansio.sim.hub import SimulatorBrain, SimulatorHub
from adk_realtime.sansio.sim.openai import OpenAISimSession
from adk_realtime.sansio.sim.speech import (
    _FLOOR,
    _IDLE_HOPS,
    _PURITY,
    EnergyVad,
    SpeechRecognizer,
    VadEvent,
    _peak_at_most,
    synthesize_speech,
)

RATES = (8000, 16000, 24000, 48000)

# --- streams -----------------------------------------------------------------------------------

# A segment: ("silence", ms), ("speech", text, kept share), ("noise", ms, peak, seed).
Segment = tuple[Any, ...]

segments = st.one_of(
    st.tuples(st.just("silence"), st.integers(1, 700)),
    st.tuples(
        st.just("speech"),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=3),
        st.sampled_from([1.0, 1.0, 0.8, 0.5, 0.2]),  # below 1: the stop marker is lost
    ),
    # peaks around both quiet bounds (about 51 for the recognizer, 7..1036 for the VAD)
    st.tuples(
        st.just("noise"),
        st.integers(1, 200),
        st.sampled_from([1, 7, 30, 51, 52, 60, 231, 232, 400, 1036, 1037]),
        st.integers(0, 2**16),
    ),
    st.tuples(st.just("noise"), st.integers(1, 200), st.integers(0, 32767), st.integers(0, 2**16)),
)


def pcm_of(stream: list[Segment], rate: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    parts = [np.zeros(0, np.int16)]
    for seg in stream:
        if seg[0] == "silence":
            parts.append(np.zeros(rate * seg[1] // 1000, np.int16))
        elif seg[0] == "speech":
            spoken = np.frombuffer(synthesize_speech(seg[1], rate), "<i2")
            parts.append(spoken[: round(spoken.size * seg[2])])
        else:
            _, ms, peak, seed = seg
            rng = np.random.default_rng(seed)
            parts.append(rng.integers(-peak, peak + 1, rate * ms // 1000).astype(np.int16))
    return np.concatenate(parts)


def chunked(samples: np.ndarray[Any, Any], sizes: list[int]) -> list[np.ndarray[Any, Any]]:
    out, at, n = [], 0, 0
    while at < samples.size:
        size = sizes[n % len(sizes)]
        out.append(samples[at : at + size])
        at, n = at + size, n + 1
    return out


def recognizer_state(ears: SpeechRecognizer) -> tuple[Any, ...]:
    """Everything the recognizer knows, read after its public state (which decodes what
    is queued: the fields are then current)."""
    public = (ears.text, ears.in_utterance)
    return (
        *public,
        ears._queued,
        ears._pending.tolist(),
        ears._odd,
        ears._run_label,
        ears._run_len,
        ears._gap,
        ears._last_symbol,
        ears._in_message,
        ears._data_seen,
        ears._prev,
        ears._high,
        ears._decoder.getstate(),
        list(ears._done),
        ears._current,
    )


def vad_state(vad: EnergyVad) -> tuple[Any, ...]:
    return (
        vad._pending.tolist(),
        vad._frames_seen,
        vad.speaking,
        vad._loud_run,
        vad._quiet_run,
        vad.audio_ms,
    )


def slow_recognizer(rate: int) -> SpeechRecognizer:
    ears = SpeechRecognizer(rate)
    ears._skip_quiet = False
    return ears


# --- the recognizer ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    stream=st.lists(segments, min_size=1, max_size=8),
    rate=st.sampled_from(RATES),
    sizes=st.lists(st.integers(1, 2500), min_size=1, max_size=6),
)
def test_recognizer_shortcut_hears_what_the_full_analysis_hears(
    stream: list[Segment], rate: int, sizes: list[int]
) -> None:
    fast, slow = SpeechRecognizer(rate), slow_recognizer(rate)
    for chunk in chunked(pcm_of(stream, rate), sizes):
        floats = chunk.astype(np.float64) / 32768.0
        fast.feed_samples(floats)
        slow.feed_samples(floats)
        assert recognizer_state(fast) == recognizer_state(slow)


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(st.sampled_from([-1, -1, 0, 3, 16, 17]), max_size=300),
    count=st.integers(0, 250) | st.integers(-2, 2).map(lambda d: ("to idle", d)),
    in_message=st.booleans(),
)
@example(labels=[17, 17, 3, 3, -1], count=("to idle", 0), in_message=False)
def test_quiet_hops_in_bulk_leave_the_state_of_one_hop_at_a_time(
    labels: list[int], count: int | tuple[str, int], in_message: bool
) -> None:
    one, bulk = SpeechRecognizer(8000), SpeechRecognizer(8000)
    for ears in (one, bulk):
        ears._in_message = in_message
        for label in labels:
            ears._hop_label(label)
    if isinstance(count, tuple):  # the hops that take the gap to the idle limit, give or take
        count = max(0, _IDLE_HOPS - one._gap + count[1])
    for _ in range(count):
        one._hop_label(-1)
    bulk._quiet_hops(count)
    assert recognizer_state(bulk) == recognizer_state(one)


def test_an_utterance_cut_short_ends_after_idle_silence_on_the_shortcut() -> None:
    spoken = synthesize_speech("hello", 8000)
    ears = SpeechRecognizer(8000)
    ears.feed(spoken[: len(spoken) * 3 // 4])  # the stop marker never comes
    ears.feed(bytes(320))  # 20 ms: the last windows that overlap the tone
    heard = ears.text
    assert ears.in_utterance and heard and "hello".startswith(heard)
    ears._labels = None  # type: ignore[assignment,method-assign]  # silence must not need it
    for _ in range(15):  # 320 ms in all: short of the 400 ms idle limit
        ears.feed(bytes(320))
    assert ears.in_utterance
    for _ in range(10):
        ears.feed(bytes(320))
    assert not ears.in_utterance and ears.text == heard


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.sampled_from([0.0, -0.0, 1e-4, -1e-4, 0.0015, -0.0016, 0.5, float("nan")]),
        min_size=1,
        max_size=40,
    ),
    bound=st.sampled_from([0.0, 1e-4, 0.0015, 0.007]),
)
def test_peak_at_most_is_every_magnitude_at_most_the_bound(
    values: list[float], bound: float
) -> None:
    samples = np.asarray(values)
    assert _peak_at_most(samples, bound) == bool(np.all(np.abs(samples) <= bound))


def test_quiet_buffers_skip_the_spectrum_and_loud_ones_do_not() -> None:
    calls = []
    ears = SpeechRecognizer(8000)
    full = ears._labels

    def counting(buf: np.ndarray[Any, Any], n_frames: int) -> Any:
        calls.append(n_frames)
        return full(buf, n_frames)

    ears._labels = counting  # type: ignore[method-assign]
    ears.feed(bytes(320))  # digital silence
    ears.feed(np.full(160, 51, "<i2").tobytes())  # below the bound: 2 * peak^2 <= floor / 2
    assert not ears.in_utterance  # reading the state decodes what was fed (it is batched)
    assert calls == []
    ears.feed(np.full(160, 52, "<i2").tobytes())
    assert not ears.in_utterance
    assert calls != []


def labels_before(ears: SpeechRecognizer, buf: np.ndarray[Any, Any], n: int) -> list[int]:
    """The window labels as ``feed_samples`` computed them before ``_labels``."""
    frames = np.lib.stride_tricks.sliding_window_view(buf, ears._win)[:: ears._hop][:n]
    spectrum = frames @ ears._basis
    tone_power = (spectrum.real**2 + spectrum.imag**2) * ears._tone_scale
    total = (frames * frames) @ ears._window * ears._power_scale
    best = np.argmax(tone_power, axis=1)
    best_power = tone_power[np.arange(n), best]
    voiced = (total > _FLOOR) & (best_power >= _PURITY * total)
    labels: list[int] = np.where(voiced, best, -1).tolist()
    return labels


@settings(max_examples=150, deadline=None)
@given(
    stream=st.lists(segments, min_size=1, max_size=4),
    rate=st.sampled_from(RATES),
    start=st.integers(0, 400),
    stride=st.sampled_from([1, 1, 1, 2]),  # a caller's strided view
    nan_at=st.none() | st.integers(0, 5000),
)
def test_window_labels_are_the_ones_computed_before(
    stream: list[Segment], rate: int, start: int, stride: int, nan_at: int | None
) -> None:
    ears = SpeechRecognizer(rate)
    floats = pcm_of(stream, rate).astype(np.float64) / 32768.0
    if nan_at is not None and floats.size:
        floats[nan_at % floats.size] = np.nan
    buf = floats[start::stride]
    if buf.size < ears._win:
        return
    n = 1 + (buf.size - ears._win) // ears._hop
    assert ears._labels(buf, n).tolist() == labels_before(ears, buf, n)


# --- the VAD ------------------------------------------------------------------------------------

vad_settings = st.fixed_dictionaries(
    {
        "threshold": st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.8, 1.0]),
        "prefix_padding_ms": st.integers(0, 500),
        "silence_duration_ms": st.integers(0, 800),
        "min_speech_ms": st.integers(0, 100),
        "origin_ms": st.sampled_from([0.0, 1234.5]),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    stream=st.lists(segments, min_size=1, max_size=8),
    rate=st.sampled_from(RATES),
    sizes=st.lists(st.integers(1, 2500), min_size=1, max_size=6),
    opts=vad_settings,
    change=st.none() | st.tuples(st.integers(0, 30), st.integers(0, 800), st.floats(0, 1)),
)
def test_vad_shortcut_reports_what_the_full_analysis_reports(
    stream: list[Segment],
    rate: int,
    sizes: list[int],
    opts: dict[str, Any],
    change: tuple[int, int, float] | None,
) -> None:
    fast, slow = EnergyVad(rate, **opts), EnergyVad(rate, **opts)
    slow._skip_quiet = False
    for n, chunk in enumerate(chunked(pcm_of(stream, rate), sizes)):
        if change is not None and n == change[0]:  # settings changed mid-stream (mid-speech)
            for vad in (fast, slow):
                vad.configure(change[2], opts["prefix_padding_ms"], change[1])
        floats = chunk.astype(np.float64) / 32768.0
        assert fast.feed(floats) == slow.feed(floats)
        assert vad_state(fast) == vad_state(slow)


@settings(max_examples=100, deadline=None)
@given(
    runs=st.lists(st.tuples(st.booleans(), st.integers(1, 60)), max_size=8),  # loud?, frames
    count=st.integers(0, 150),
    silence_ms=st.integers(0, 800),
    shorter_ms=st.none() | st.sampled_from([0, 10, 20, 50]) | st.integers(0, 800),
)
@example(runs=[(True, 5), (False, 10)], count=3, silence_ms=800, shorter_ms=50)
@example(runs=[(True, 5), (False, 10)], count=3, silence_ms=800, shorter_ms=100)
def test_quiet_frames_in_bulk_do_what_one_frame_at_a_time_does(
    runs: list[tuple[bool, int]], count: int, silence_ms: int, shorter_ms: int | None
) -> None:
    one, bulk = (EnergyVad(8000, silence_duration_ms=silence_ms) for _ in range(2))
    for vad in (one, bulk):
        for is_loud, frames in runs:
            for _ in range(frames):
                vad._next_frame(is_loud, [])
        if shorter_ms is not None:
            vad.configure(0.5, 300, shorter_ms)
    one_events: list[VadEvent] = []
    for _ in range(count):
        one._next_frame(False, one_events)
    bulk_events: list[VadEvent] = []
    bulk._quiet_frames(count, bulk_events)
    assert bulk_events == one_events
    assert vad_state(bulk) == vad_state(one)


@settings(max_examples=150, deadline=None)
@given(
    stream=st.lists(segments, min_size=1, max_size=4),
    rate=st.sampled_from(RATES),
    stride=st.sampled_from([1, 1, 2]),
)
def test_frame_powers_are_the_means_computed_before(
    stream: list[Segment], rate: int, stride: int
) -> None:
    vad = EnergyVad(rate)
    floats = (pcm_of(stream, rate).astype(np.float64) / 32768.0)[::stride]
    n = floats.size // vad._frame
    if not n:
        return
    whole = floats[: n * vad._frame]
    before = np.mean(whole.reshape(n, vad._frame) ** 2, axis=1)
    assert vad._powers(whole, n).tolist() == before.tolist()


# --- G.711 table and base64 -----------------------------------------------------------------------


def pcm_to_float_before(audio: bytes, encoding: AudioEncoding) -> np.ndarray[Any, Any]:
    if encoding is AudioEncoding.G711_ULAW:
        audio = ulaw_decode(audio)
    elif encoding is AudioEncoding.G711_ALAW:
        audio = alaw_decode(audio)
    ints = np.frombuffer(audio[: len(audio) - len(audio) % 2], dtype="<i2")
    return ints.astype(np.float64) / 32768.0


@settings(max_examples=200, deadline=None)
@given(audio=st.binary(max_size=700), encoding=st.sampled_from(list(AudioEncoding)))
def test_pcm_to_float_gives_the_floats_it_gave_before(
    audio: bytes, encoding: AudioEncoding
) -> None:
    got, want = pcm_to_float(audio, encoding), pcm_to_float_before(audio, encoding)
    assert got.dtype == want.dtype == np.float64
    assert got.tolist() == want.tolist()
    got[:] = 0.0  # the caller's own array: writable, the table is untouched
    assert pcm_to_float(audio, encoding).tolist() == want.tolist()


def test_every_g711_code_reads_as_before() -> None:
    every = bytes(range(256))
    for encoding in (AudioEncoding.G711_ULAW, AudioEncoding.G711_ALAW):
        assert pcm_to_float(every, encoding).tolist() == (
            pcm_to_float_before(every, encoding).tolist()
        )


def b64decode_any_before(data: str) -> bytes | None:
    if not isinstance(data, str):
        return None
    s = data.strip().translate(str.maketrans("-_", "+/"))
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


b64_texts = st.one_of(
    st.text(st.sampled_from("AQYWz09+/-_= \n\t\x1céA"), max_size=24),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    st.binary(max_size=40).map(lambda b: " " + base64.b64encode(b).decode() + "\n"),
)


@settings(max_examples=400, deadline=None)
@given(data=b64_texts)
def test_b64decode_any_decodes_as_before(data: str) -> None:
    assert b64decode_any(data) == b64decode_any_before(data)


@pytest.mark.parametrize("data", [None, 3, b"YQ==", "YQ", "YQ=", "YQ==YQ==", "=YQ=", "é", ""])
def test_b64decode_any_odd_inputs_as_before(data: Any) -> None:
    assert b64decode_any(data) == b64decode_any_before(data)


# --- a whole session ------------------------------------------------------------------------------


def run_session(law: str, audio: bytes, *, skip_quiet: bool) -> list[Any]:
    hub = SimulatorHub(pace=0, brain=SimulatorBrain({"weather": "It is sunny."}))
    session = hub.open_session("openai", path="/v1/realtime?model=gpt-realtime", now=0.0)
    assert isinstance(session, OpenAISimSession)
    fmt = {"type": f"audio/{law}"}
    update = {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"format": fmt}}},
    }
    session.receive_data(json.dumps(update), 0.0)
    session._ears._skip_quiet = skip_quiet
    session._vad._skip_quiet = skip_quiet
    return appended_frames(session, audio)


def appended_frames(session: OpenAISimSession, audio: bytes) -> list[dict[str, Any]]:
    """What ``session`` says, then says as it hears ``audio`` (G.711) in 20 ms appends."""
    out = [json.loads(m) for m in session.data_to_send()]
    now = 0.0
    for at in range(0, len(audio), 160):  # 20 ms frames
        now += 0.02
        piece = base64.b64encode(audio[at : at + 160]).decode()
        session.receive_data(json.dumps({"type": "input_audio_buffer.append", "audio": piece}), now)
        session.handle_timer(now)
        out += [json.loads(m) for m in session.data_to_send()]
    return out


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
def test_a_phone_session_answers_the_same_with_and_without_the_shortcut(law: str) -> None:
    encode = ulaw_encode if law == "pcmu" else alaw_encode
    quiet = encode(bytes(2 * 8000))  # 1 s of digital silence
    question = encode(synthesize_speech("What is the weather in Paris?", 8000))
    cut = encode(synthesize_speech("weather", 8000))[:1500]  # lost its stop marker
    audio = quiet + question + quiet + cut + quiet + question + quiet
    fast = run_session(law, audio, skip_quiet=True)
    assert fast == run_session(law, audio, skip_quiet=False)
    kinds = [m["type"] for m in fast]
    assert kinds.count("input_audio_buffer.speech_started") >= 3
    assert any("sunny" in json.dumps(m) for m in fast)
