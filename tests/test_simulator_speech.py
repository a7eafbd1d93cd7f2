"""The simulator's voice: the tone code (synthesis and recognition), G.711, the VAD, the brain.

The tone code must survive what audio meets between a client and a provider: resampling
between 8/16/24/48 kHz (plain linear interpolation here), G.711 telephony (checked with
python's ``audioop``), Opus at 48 kHz, noise and level changes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from adk_realtime.sansio.sim.hub import (
    CallTool,
    SimulatorBrain,
    SpeechRecognizer,
    ToolSpec,
    Turn,
    speech_duration,
    synthesize_speech,
)
from adk_realtime.sansio.sim.speech import EnergyVad
from tests.test_simulator import QUESTION, TOOL_GA, decode, resample, silence

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


# --- the speech code ----------------------------------------------------------------------------

SAMPLE_TEXT = "Héllo, weather in Paris? 22°C ✓ ok"
RATES = (8000, 16000, 24000, 48000)


@pytest.mark.parametrize("rate", RATES)
def test_speech_round_trips_at_every_rate(rate: int) -> None:
    pcm = synthesize_speech(SAMPLE_TEXT, rate)
    assert len(pcm) == round(speech_duration(SAMPLE_TEXT) * rate) * 2
    assert decode(pcm, rate) == SAMPLE_TEXT


@pytest.mark.parametrize("src", RATES)
@pytest.mark.parametrize("dst", RATES)
def test_speech_survives_resampling_between_rates(src: int, dst: int) -> None:
    pcm = resample(synthesize_speech(SAMPLE_TEXT, src), src, dst)
    assert decode(pcm, dst) == SAMPLE_TEXT


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
@pytest.mark.parametrize("listen_at", [8000, 16000, 24000])
def test_speech_survives_g711_telephony(law: str, listen_at: int) -> None:
    pcm8 = resample(synthesize_speech(SAMPLE_TEXT, 24000), 24000, 8000)
    enc, dec = (
        (audioop.lin2ulaw, audioop.ulaw2lin)
        if law == "ulaw"
        else (audioop.lin2alaw, audioop.alaw2lin)
    )
    heard = resample(dec(enc(pcm8, 2), 2), 8000, listen_at)
    assert decode(heard, listen_at) == SAMPLE_TEXT


def test_speech_survives_opus_at_48k() -> None:
    opuslib = pytest.importorskip("opuslib")
    pcm = synthesize_speech(SAMPLE_TEXT, 48000)
    frame = 960 * 2
    pcm += bytes(-len(pcm) % frame)
    encoder = opuslib.Encoder(48000, 1, opuslib.APPLICATION_VOIP)
    encoder.bitrate = 16000
    decoder = opuslib.Decoder(48000, 1)
    out = b"".join(
        decoder.decode(encoder.encode(pcm[i : i + frame], 960), 960)
        for i in range(0, len(pcm), frame)
    )
    assert decode(out, 48000) == SAMPLE_TEXT


def test_speech_survives_noise_and_level_changes() -> None:
    rng = np.random.default_rng(1)
    x = np.frombuffer(synthesize_speech(SAMPLE_TEXT, 16000), "<i2") * 0.3
    noisy = x + rng.normal(0, np.sqrt(np.mean(x**2)) / 10, x.size)  # 20 dB SNR
    assert decode(np.round(noisy).astype("<i2").tobytes(), 16000) == SAMPLE_TEXT


def test_recognizer_streams_any_chunking_and_resets() -> None:
    pcm = synthesize_speech("hello there", 16000)
    ears = SpeechRecognizer(16000)
    partial = []
    for i in range(0, len(pcm), 333):  # odd sizes split samples across calls
        ears.feed(pcm[i : i + 333])
        partial.append(ears.text)
    assert ears.text == "hello there"
    assert "hello" in partial[len(partial) // 2 + 2] or partial[-1] == "hello there"
    assert partial[0] == ""
    ears.reset()
    assert ears.text == ""


def test_back_to_back_utterances_are_joined_by_a_space() -> None:
    pcm = synthesize_speech("good", 24000) + synthesize_speech("good", 24000)
    assert decode(pcm, 24000) == "good good"


def test_silence_noise_and_plain_tones_decode_to_nothing() -> None:
    rng = np.random.default_rng(2)
    noise = np.round(rng.normal(0, 3000, 16000)).astype("<i2").tobytes()
    tone = (
        np.round(8000 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype("<i2").tobytes()
    )
    assert decode(silence(1000, 16000) + noise + tone, 16000) == ""


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    rate=st.sampled_from(RATES),
    chunk=st.integers(101, 6000),  # tiny chunks work too (see above), just slowly
)
def test_any_text_round_trips_with_any_chunking(text: str, rate: int, chunk: int) -> None:
    pcm = synthesize_speech(text, rate)
    ears = SpeechRecognizer(rate)
    for i in range(0, len(pcm), chunk):
        ears.feed(pcm[i : i + chunk])
    assert ears.text == text


def test_g711_codecs_match_audioop_exactly() -> None:
    # The simulator speaks G.711 through the library's own codec (adk_realtime.sansio.audio).
    x = np.arange(-32768, 32768, dtype=np.int16)
    assert ulaw_encode(x.tobytes()) == audioop.lin2ulaw(x.tobytes(), 2)
    assert alaw_encode(x.tobytes()) == audioop.lin2alaw(x.tobytes(), 2)
    every = bytes(range(256))
    assert ulaw_decode(every) == audioop.ulaw2lin(every, 2)
    assert alaw_decode(every) == audioop.alaw2lin(every, 2)


# --- the VAD ---------------------------------------------------------------------------------------


def _floats(pcm: bytes) -> np.ndarray[Any, Any]:
    return np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0


def test_vad_reports_speech_start_and_stop_in_input_audio_ms() -> None:
    speech = synthesize_speech("one two three", 16000)
    speech_ms = len(speech) // 32
    audio = silence(1000, 16000) + speech + silence(1000, 16000)
    vad = EnergyVad(16000, threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)
    events = []
    for i in range(0, len(audio), 640):  # 20 ms chunks
        events += vad.feed(_floats(audio[i : i + 640]))
    assert [e.kind for e in events] == ["start", "stop"]
    onset = 1000 + 40  # the utterance opens with 40 ms of silence
    assert abs(events[0].ms - (onset - 300)) <= 20
    end_of_tones = 1000 + speech_ms - 40
    assert abs(events[1].ms - (end_of_tones + 500)) <= 30


def test_vad_threshold_ignores_quiet_audio() -> None:
    quiet = (np.frombuffer(synthesize_speech("psst", 16000), "<i2") // 100).astype("<i2").tobytes()
    assert EnergyVad(16000, threshold=0.5).feed(_floats(quiet)) == []
    assert [e.kind for e in EnergyVad(16000, threshold=0.1).feed(_floats(quiet))] == ["start"]


# --- the brain -------------------------------------------------------------------------------------


def test_brain_calls_the_tool_whose_keyword_is_said_and_quotes_its_result() -> None:
    brain = SimulatorBrain()
    tools = [
        ToolSpec("get_time", parameters={}),
        ToolSpec("get_weather", parameters=TOOL_GA["parameters"]),
    ]
    call = brain.reply([Turn("user", "Weather in New York today, please")], tools)
    assert call == CallTool("get_weather", {"city": "New York"})
    history = [
        Turn("user", QUESTION),
        Turn("function_call", name="get_weather", call_id="c1", arguments='{"city": "Paris"}'),
        Turn("function_result", text="sunny", call_id="c1"),
    ]
    assert brain.reply(history, tools).text == "Here is the weather: sunny."  # type: ignore[union-attr]
    assert brain.reply([Turn("user", "hello")], []).text.startswith("Hello!")  # type: ignore[union-attr]
    assert brain.reply([Turn("user", "banana")], []).text == "You said: banana"  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10),
    pauses=st.lists(
        st.tuples(st.floats(0, 1), st.integers(1, 19)),  # where, and how many 20 ms frames
        max_size=4,
    ),
)
def test_speech_paused_by_late_frames_still_decodes(
    text: str, pauses: list[tuple[float, int]]
) -> None:
    """A phone that gets a frame late plays silence until it comes (an underrun): the
    utterance is paused, not changed, and the ear still understands it."""
    frame = 160 * 2  # 20 ms at 8 kHz
    pcm = ulaw_decode(ulaw_encode(synthesize_speech(text, 8000)))
    cuts = sorted({int(where * (len(pcm) // frame)) * frame for where, _ in pauses})
    heard, start = b"", 0
    for cut, (_, frames) in zip(cuts, pauses, strict=False):
        heard += pcm[start:cut] + silence(frames * 20, 8000)
        start = cut
    heard += pcm[start:]
    assert decode(heard, 8000) == text


def test_a_start_marker_paused_before_its_data_is_one_marker() -> None:
    pcm = synthesize_speech("ok", 8000)
    marker_middle = round((0.040 + 0.032) * 8000) * 2  # inside the 64 ms start marker
    paused = pcm[:marker_middle] + silence(100, 8000) + pcm[marker_middle:]
    assert decode(paused, 8000) == "ok"
    twice = synthesize_speech("ok", 8000) + synthesize_speech("no", 8000)
    assert decode(twice, 8000) == "ok no"  # real utterances still separate
