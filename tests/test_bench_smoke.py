"""The benchmark harness measures what it claims: its helpers and its cross-checks.

No timings are asserted here (the figures live in bench/README.md); these tests
check that the paths the benchmarks compare produce the same results, so a
"faster" figure can never come from doing less work.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402


def test_percentile_is_nearest_rank_and_handles_empty_input() -> None:
    values = [float(v) for v in range(1, 101)]
    assert _common.percentile(values, 50) in (50.0, 51.0)
    assert _common.percentile(values, 99) == 99.0
    assert _common.percentile(values, 100) == 100.0
    assert _common.percentile([], 99) == 0.0


def test_si_and_ratio_format_figures_for_the_summary_line() -> None:
    assert _common.si(412_345) == "412k"
    assert _common.si(1_234_567) == "1.23M"
    assert _common.si(950) == "950"
    assert _common.ratio(430, 100) == "4.3x"
    assert _common.ratio(1, 0) == "inf"


def test_best_rate_keeps_the_best_round_per_candidate() -> None:
    calls = {"a": 0, "b": 0}

    def a() -> int:
        calls["a"] += 1
        return 10

    def b() -> int:
        calls["b"] += 1
        return 1

    rates = _common.best_rate({"a": a, "b": b}, rounds=3)
    assert calls == {"a": 3, "b": 3}
    assert rates["a"] > 0 and rates["b"] > 0


def test_codec_bench_paths_decode_the_same_audio_as_the_sdks() -> None:
    import bench_codec

    msgs = bench_codec.openai_messages()[:4]
    pcms = [os.urandom(bench_codec.FRAME) for _ in range(4)]
    decode, encode = bench_codec.build_openai(msgs, pcms)  # asserts agreement inside
    assert set(decode) == {"ours", "sdk", "strict"} and set(encode) == {"ours", "sdk", "model"}
    for fn in (*decode.values(), *encode.values()):
        assert fn() == 4
    gmsgs = bench_codec.gemini_messages()[:4]
    gdecode, gencode = bench_codec.build_gemini(gmsgs, pcms)
    for fn in (*gdecode.values(), *gencode.values()):
        assert fn() == 4
    first = json.loads(gmsgs[0])["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
    assert len(base64.b64decode(first)) == bench_codec.FRAME


def test_media_bench_round_trip_gives_back_20_ms_frames() -> None:
    pytest.importorskip("opuslib")
    import bench_media

    frames = bench_media.speech_frames(10)
    for opus_rate in (24000, 48000):
        step = bench_media.make_ours(opus_rate)
        out = [pcm for f in frames for pcm in step(f, 0.0)]
        assert len(out) >= 8, opus_rate
        assert all(len(pcm) == bench_media.FRAME_BYTES for pcm in out), opus_rate


def test_rollover_bench_pairs_each_switch_with_the_link_that_ended_before_it() -> None:
    import bench_rollover as br

    call = br.Call(
        probes=[
            br.Probe(0.0, first_send=0.001, ended=1.000, how="receive"),
            br.Probe(1.002, first_send=1.004, ended=2.000, how="receive"),
            br.Probe(2.001, first_send=2.003),
        ],
        resumed_at=[1.010, 2.020],
    )
    ready, first = br.gaps(call, "receive")
    assert ready == pytest.approx([10.0, 20.0]) and first == pytest.approx([4.0, 3.0])
    with pytest.raises(AssertionError, match="not 'session rollover'"):
        br.gaps(call, "session rollover")  # a switch of another kind is never counted


def test_rollover_bench_switch_replays_the_conversation(anyio_backend: str) -> None:
    """The measured OpenAI rollover does the whole job: the new link carries the session
    update and every item of the conversation before SessionResumed is read."""
    import anyio
    import bench_rollover as br

    from adk_realtime.sansio.sim.hub import SimulatorHub

    hub = SimulatorHub(pace=0, session_max_seconds=1.0)
    call = anyio.run(br.measure_switches, "openai", hub, 1, backend=anyio_backend)
    assert len(call.resumed_at) == 1 and call.probes[0].how == "session rollover"
    assert call.probes[1].sent >= 1 + br.ITEMS
    assert br.gaps(call, "session rollover")[0][0] > 0


def test_smoke_runs_say_so_and_judge_no_goal() -> None:
    """`make test` ends with the benchmarks' smoke runs: a newcomer read "goal MISSED" and
    "sustained 0 sessions" there as failures, from figures a smoke run cannot give."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("bench smoke run: ") and "no goal is judged" in lines[0]
    summaries = [line for line in lines if line.startswith("SUMMARY")]
    assert len(summaries) == len(list(BENCH.glob("bench_*.py")))
    assert all("(smoke run, figures not meaningful): " in line for line in summaries)
    for word in ("goal", "MISSED", " met", "sustained", "not judged"):
        assert not any(word in line for line in summaries), word
    assert lines[-1] == f"bench: {len(summaries)} smoke runs, 0 failed"


def test_judged_hides_verdicts_only_in_a_smoke_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "SMOKE", False)
    assert _common.judged(" [goal >=3x met]") == " [goal >=3x met]"
    monkeypatch.setattr(_common, "SMOKE", True)
    assert _common.judged(" [goal >=3x met]") == ""


def test_phone_bench_callers_speak_and_read_the_bridge_wire() -> None:
    """bench_phone's lean callers send the question the simulator understands, read the
    codec's own media messages, and count a gap only where the playout ran dry."""
    import bench_phone

    from adk_realtime.sansio.audio import ulaw_decode
    from adk_realtime.sansio.sim.speech import SpeechRecognizer
    from adk_realtime.sansio.telephony.twilio import TwilioMediaStream

    frames = [bench_phone.media_payload(m) for m in bench_phone.question_messages()]
    recognizer = SpeechRecognizer(8000)
    recognizer.feed(ulaw_decode(b"".join(f for f in frames if f is not None)) + bytes(8000))
    assert recognizer.text == bench_phone.QUESTION

    stream = TwilioMediaStream()
    stream.receive_data(bench_phone.Caller(0, [], "", 0.0).start_message(), 0.0)
    stream.send_audio(bytes(range(160)))
    media, *_ = stream.data_to_send()
    assert bench_phone.media_payload(media) == bytes(range(160))
    assert bench_phone.media_payload('{"event":"mark","mark":{"name":"x"}}') is None

    caller = bench_phone.Caller(0, [], "", 0.0)
    caller.measuring = True
    for k in range(10):  # a steady spurt: 5 frames at once, then one every 20 ms
        caller.received(media, 1.0 + max(0, k - 4) * 0.02)
    assert caller.gaps == [] and max(caller.jitter) < 1e-6
    caller.received(media, 1.0 + 5 * 0.02 + 0.2)  # 200 ms late: the buffer had run dry
    assert len(caller.gaps) == 1 and caller.answers == 1


def test_phone_bench_compares_the_same_bridge_with_and_without_g711() -> None:
    import bench_phone

    assert bench_phone.make_model("ours", 1).accepts_g711
    assert not bench_phone.make_model("transcoding", 1).accepts_g711
