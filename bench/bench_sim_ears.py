"""The simulator's ears: time per 20 ms u-law ``input_audio_buffer.append`` it hears.

100 ``OpenAISimSession``s (the load of ``bench_phone.py``'s 100 calls, in one process) each
hear the same stream of 20 ms G.711 u-law frames, one append per session per frame in turn:
either tone-coded speech (a long question, without its end so no turn ends) or digital
silence. Each append is the whole ``receive_data`` of the JSON event (parse, base64, u-law,
VAD, recognizer). Two candidates in the same run, interleaved rounds, best of each:

* ``batched``: the recognizer as it is, decoding once enough windows are pending;
* ``per_feed``: the same recognizer told to decode every feed at once (``_batch_hops = 1``),
  which is how it worked before batching.

Also the recognizer alone (``feed_samples`` of the 160 samples of one frame, 100 recognizers
in turn, the state read at the end), both ways. Times are CPU time of this process.

``--smoke`` runs about a second. Prints one ``SUMMARY sim_ears:`` line.
"""

from __future__ import annotations

import base64
import gc
import json
import time
from collections.abc import Callable

import _common as c
import numpy as np

from adk_realtime.sansio.audio import ulaw_encode
from adk_realtime.sansio.sim.hub import SimulatorBrain, SimulatorHub
from adk_realtime.sansio.sim.openai import OpenAISimSession
from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

RATE = 8000
FRAME = RATE // 50  # samples (and u-law bytes) in 20 ms
QUESTION = (
    "Could you tell me the weather in Paris, Lisbon and Rome tomorrow morning, "
    "and whether I need an umbrella?"
)

PER_FEED = 1  # ``_batch_hops`` that decodes every feed at once


def speech_frames(count: int) -> list[bytes]:
    """``count`` 20 ms u-law frames of the question (its trailing silence left out)."""
    pcm = synthesize_speech(QUESTION, RATE)
    law = ulaw_encode(pcm)
    usable = len(law) // FRAME - 3  # the stop marker and the lead-out would end the turn
    if count > usable:
        raise SystemExit(f"the question gives {usable} frames, {count} asked for")
    return [law[i * FRAME : (i + 1) * FRAME] for i in range(count)]


def silence_frames(count: int) -> list[bytes]:
    return [ulaw_encode(bytes(2 * FRAME))] * count


def appends(frames: list[bytes]) -> list[str]:
    return [
        json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(f).decode()})
        for f in frames
    ]


def open_sessions(n: int, batch_hops: int | None) -> list[OpenAISimSession]:
    hub = SimulatorHub(pace=0, brain=SimulatorBrain({"weather": "It is sunny."}))
    update = {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
    }
    sessions = []
    for _ in range(n):
        session = hub.open_session("openai", path="/v1/realtime?model=gpt-realtime", now=0.0)
        assert isinstance(session, OpenAISimSession)
        session.receive_data(json.dumps(update), 0.0)
        session.data_to_send()
        if batch_hops is not None:
            session._ears._batch_hops = batch_hops
        sessions.append(session)
    return sessions


def time_sessions(n: int, messages: list[str], batch_hops: int | None) -> tuple[float, str]:
    """CPU seconds per append over ``n`` sessions hearing ``messages``; the text one heard."""
    sessions = open_sessions(n, batch_hops)
    busy = 0.0
    now = 0.0
    for message in messages:
        now += 0.02
        start = time.process_time()
        for session in sessions:
            session.receive_data(message, now)
        busy += time.process_time() - start
        for session in sessions:
            session.data_to_send()
    start = time.process_time()
    heard = [session._ears.text for session in sessions]  # what is still pending, decoded
    busy += time.process_time() - start
    assert len(set(heard)) == 1, "every session heard the same audio"
    return busy / (n * len(messages)), heard[0]


def time_recognizers(n: int, frames: list[bytes], batch_hops: int | None) -> float:
    """CPU seconds per ``feed_samples`` of one frame over ``n`` recognizers."""
    from adk_realtime.sansio.audio import ulaw_decode

    floats = [np.frombuffer(ulaw_decode(f), "<i2").astype(np.float64) / 32768.0 for f in frames]
    ears = [SpeechRecognizer(RATE) for _ in range(n)]
    if batch_hops is not None:
        for one in ears:
            one._batch_hops = batch_hops
    start = time.process_time()
    for samples in floats:
        for one in ears:
            one.feed_samples(samples)
    for one in ears:
        _ = one.text
    return (time.process_time() - start) / (n * len(floats))


def best(candidates: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """The least seconds per operation of each candidate over interleaved rounds."""
    out = dict.fromkeys(candidates, float("inf"))
    gc.collect()
    gc.disable()  # a collection would land in one candidate or the other at random
    try:
        for _ in range(rounds):
            for name, run in candidates.items():
                out[name] = min(out[name], run())
            gc.collect()
    finally:
        gc.enable()
    return out


def main() -> None:
    c.parse_args(__doc__.splitlines()[0])
    n, count, rounds = (10, 40, 1) if c.SMOKE else (100, 250, 5)
    speech, silence = appends(speech_frames(count)), appends(silence_frames(count))
    heard: dict[str, str] = {}

    def sessions(messages: list[str], batch_hops: int | None, key: str) -> Callable[[], float]:
        def run() -> float:
            seconds, heard[key] = time_sessions(n, messages, batch_hops)
            return seconds

        return run

    us = best(
        {
            "speech batched": sessions(speech, None, "batched"),
            "speech per_feed": sessions(speech, PER_FEED, "per_feed"),
            "silence batched": sessions(silence, None, "silence"),
            "silence per_feed": sessions(silence, PER_FEED, "silence per_feed"),
        },
        rounds,
    )
    assert heard["batched"] == heard["per_feed"] and QUESTION.startswith(heard["batched"])
    assert heard["silence"] == heard["silence per_feed"] == ""
    frames = speech_frames(count)
    ears_us = best(
        {
            "batched": lambda: time_recognizers(n, frames, None),
            "per_feed": lambda: time_recognizers(n, frames, PER_FEED),
        },
        rounds,
    )
    us.update({f"ears {k}": v for k, v in ears_us.items()})
    us = {k: v * 1e6 for k, v in us.items()}
    c.note(c.machine())
    c.note(f"{n} sessions x {count} appends of 20 ms u-law, best of {rounds} rounds (CPU time)")
    for name, value in us.items():
        unit = "feed_samples" if name.startswith("ears") else "append"
        c.note(f"  {name:<18} {value:7.1f} us per {unit}")
    c.note(f"  heard: {heard['batched']!r}")
    c.summary(
        "sim_ears",
        f"speech append {us['speech batched']:.1f} us "
        f"(per-feed decoding {us['speech per_feed']:.1f} us, "
        f"{c.ratio(us['speech per_feed'], us['speech batched'])} faster), "
        f"silence append {us['silence batched']:.1f} us (per-feed {us['silence per_feed']:.1f} us); "
        f"recognizer alone per speech frame {us['ears batched']:.1f} us "
        f"(per-feed {us['ears per_feed']:.1f} us)",
    )


if __name__ == "__main__":
    main()
