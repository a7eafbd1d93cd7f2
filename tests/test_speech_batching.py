"""The simulator's ear decodes in batches: with the results of decoding every feed at once.

``SpeechRecognizer`` queues what it is fed and decodes a batch of windows at a time, or when
its state is read (``text``, ``in_utterance``, ``clone()``); ``reset()`` drops the queue.
Here a batched recognizer and one that decodes every feed at once (``_batch_hops = 0``) hear
the same streams of tone-coded speech (whole or cut short), silence and noise, in random
chunks, with reads, resets and clones at random points, and must agree on the text, whether
an utterance is in progress and the whole decoding state at every read; a recognizer fed the
whole stream in one call must hear the same text at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.audio import ulaw_encode
from adk_realtime.sansio.sim.hub import SimulatorBrain, SimulatorHub
from adk_realtime.sansio.sim.openai import OpenAISimSession
from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech
from tests.test_simulator_quiet_path import appended_frames, pcm_of, recognizer_state as state

RATES = (8000, 16000, 24000, 48000)

# A segment: ("silence", ms), ("speech", text, kept share), ("noise", ms, peak, seed).
segments = st.one_of(
    st.tuples(st.just("silence"), st.integers(1, 600)),
    st.tuples(
        st.just("speech"),
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=4),
        st.sampled_from([1.0, 1.0, 1.0, 0.7, 0.3]),  # below 1: the stop marker is lost
    ),
    st.tuples(
        st.just("noise"),
        st.integers(1, 150),
        st.sampled_from([30, 51, 52, 400, 3000, 32767]),  # around the quiet bound, and loud
        st.integers(0, 2**16),
    ),
)


def unbatched(rate: int) -> SpeechRecognizer:
    ears = SpeechRecognizer(rate)
    ears._batch_hops = 0
    return ears


# A step after each chunk: nothing, a read, a reset or a clone (which then goes on hearing).
steps = st.sampled_from(["feed"] * 6 + ["read", "read", "reset", "clone"])


@settings(max_examples=150, deadline=None)
@given(
    stream=st.lists(segments, min_size=1, max_size=6),
    rate=st.sampled_from(RATES),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=6),
    plan=st.lists(steps, min_size=1, max_size=40),
    as_bytes=st.booleans(),
)
def test_batched_hears_what_decoding_every_feed_at_once_hears(
    stream: list[tuple[Any, ...]],
    rate: int,
    sizes: list[int],
    plan: list[str],
    as_bytes: bool,
) -> None:
    pcm = pcm_of(stream, rate)
    # PCM16 bytes cut anywhere (half a sample waits for the next feed), or floats.
    data: Any = pcm.tobytes() if as_bytes else pcm.astype(np.float64) / 32768.0
    batched, each = SpeechRecognizer(rate), unbatched(rate)
    assert batched._batch_hops > 1  # the default batches
    since_reset: list[Any] = []
    clones: list[tuple[SpeechRecognizer, tuple[Any, ...]]] = []
    at, n = 0, 0
    while at < len(data):
        chunk = data[at : at + sizes[n % len(sizes)]]
        step = plan[n % len(plan)]
        at, n = at + len(chunk), n + 1
        since_reset.append(chunk)
        for ears in (batched, each):
            if as_bytes:
                ears.feed(chunk)
            else:
                ears.feed_samples(chunk)
        if step == "read":
            assert state(batched) == state(each)
        elif step == "reset":
            assert batched.text == each.text
            batched.reset()
            each.reset()
            since_reset = []
        elif step == "clone":
            twin = batched.clone()  # the queue is decoded first: the twin starts from it
            assert state(twin) == state(batched) == state(each)
            clones.append((batched, state(batched)))
            batched, each = twin, each.clone()
    assert state(batched) == state(each)
    whole = unbatched(rate)  # what was heard since the last reset, in one call
    if as_bytes:
        whole.feed(b"".join(since_reset))
    elif since_reset:
        whole.feed_samples(np.concatenate(since_reset))
    assert (whole.text, whole.in_utterance) == (batched.text, batched.in_utterance)
    for original, at_clone in clones:  # a clone's audio never reached the recognizer it left
        assert state(original) == at_clone


@pytest.mark.parametrize("rate", RATES)
def test_twenty_ms_frames_are_decoded_in_batches_no_larger_than_the_limit(rate: int) -> None:
    spoken = synthesize_speech("What is the weather in Paris?", rate)
    frame = rate // 50 * 2  # bytes of 20 ms
    ears = SpeechRecognizer(rate)
    full, quiet = ears._labels, ears._quiet_hops
    products: list[int] = []
    skipped: list[int] = []

    def counting(buf: np.ndarray[Any, Any], n_frames: int) -> Any:
        products.append(n_frames)
        return full(buf, n_frames)

    def counting_quiet(count: int) -> None:
        skipped.append(count)
        quiet(count)

    ears._labels = counting  # type: ignore[method-assign]
    ears._quiet_hops = counting_quiet  # type: ignore[method-assign]
    for at in range(0, len(spoken), frame):
        ears.feed(spoken[at : at + frame])
    assert ears.text == "What is the weather in Paris?"
    windows = 1 + (len(spoken) // 2 - ears._win) // ears._hop
    assert sum(products) + sum(skipped) == windows  # each window labelled once
    per_frame = (rate // 50) // ears._hop  # 5 windows of 4 ms in 20 ms
    batch = ears._batch_hops
    assert batch == min(SpeechRecognizer._BATCH_HOPS, SpeechRecognizer._BATCH_SAMPLES // ears._win)
    assert max(products) <= max(batch, per_frame + 1)  # never more than a batch or one frame
    if batch >= 2 * per_frame:  # at 8 and 16 kHz: several frames per spectrum
        assert len(products) <= sum(products) // (batch // per_frame * per_frame) + 2
        assert len(products) < len(spoken) // frame / 2


def test_every_state_read_decodes_what_is_queued() -> None:
    spoken = synthesize_speech("hi", 8000)
    reads: dict[str, Callable[[SpeechRecognizer], object]] = {
        "text": lambda e: e.text,
        "in_utterance": lambda e: e.in_utterance,
        "clone": lambda e: e.clone().text,
    }
    for name, read in reads.items():
        ears, each = SpeechRecognizer(8000), unbatched(8000)
        for ear in (ears, each):
            ear.feed(spoken[:1000])  # the start marker and a little of the first character
        assert ears._queued, name  # too little for a batch: nothing decoded yet
        read(ears)
        assert not ears._queued, name
        assert state(ears) == state(each), name


def test_reset_drops_the_queued_audio() -> None:
    ears = SpeechRecognizer(8000)
    ears.feed(synthesize_speech("hello", 8000)[:1200])
    assert ears._queued
    ears.reset()
    assert not ears._queued and ears._queued_size == 0
    ears.feed(synthesize_speech("bye", 8000))
    assert ears.text == "bye" and not ears.in_utterance


def test_a_caller_reusing_its_array_does_not_change_what_was_heard() -> None:
    samples = np.frombuffer(synthesize_speech("ok", 8000), "<i2").astype(np.float64) / 32768.0
    ears, reused = SpeechRecognizer(8000), np.empty(160)
    for at in range(0, samples.size, 160):
        piece = samples[at : at + 160]
        reused[: piece.size] = piece
        ears.feed_samples(reused[: piece.size])  # queued: a copy, not the caller's array
    assert ears.text == "ok"


# --- a whole session -----------------------------------------------------------------------------


def run_session(audio: bytes, *, batch_hops: int | None) -> list[Any]:
    hub = SimulatorHub(pace=0, brain=SimulatorBrain({"weather": "It is sunny."}))
    session = hub.open_session("openai", path="/v1/realtime?model=gpt-realtime", now=0.0)
    assert isinstance(session, OpenAISimSession)
    fmt = {"type": "audio/pcmu"}
    update = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"format": fmt, "transcription": {"model": "whisper-1"}}},
        },
    }
    session.receive_data(json.dumps(update), 0.0)
    if batch_hops is not None:
        session._ears._batch_hops = batch_hops
    return appended_frames(session, audio)


def test_a_phone_session_hears_and_answers_the_same_batched_or_not() -> None:
    quiet = ulaw_encode(bytes(2 * 8000))  # 1 s of digital silence
    question = ulaw_encode(synthesize_speech("What is the weather in Paris?", 8000))
    cut = ulaw_encode(synthesize_speech("weather", 8000))[:1500]  # lost its stop marker
    audio = quiet + question + quiet + cut + quiet + question + quiet
    batched = run_session(audio, batch_hops=None)
    assert batched == run_session(audio, batch_hops=0)
    heard = [
        m["transcript"]
        for m in batched
        if m["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert heard[0] == heard[-1] == "What is the weather in Paris?"
    assert any("sunny" in json.dumps(m) for m in batched)
