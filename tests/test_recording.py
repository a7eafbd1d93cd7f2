"""Call recording (issue 18 item 4), against the simulator under asyncio and trio: a stereo
WAV with the user's audio on the left as sent, the agent's on the right as played, a
barge-in cut where the listener stopped hearing, and a full queue that drops and reports
instead of blocking."""

from __future__ import annotations

import logging
import threading
import wave
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from adk_realtime import RealtimeAgent, RealtimeRunner
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.recording import CallRecorder, Recording
from adk_realtime.sansio.config import AudioEncoding, AudioFormat
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.hub import SimulatorHub, synthesize_speech
from tests.test_runner import Recorder, model_for

pytestmark = pytest.mark.anyio

CHUNK = 480 * 2  # 20 ms of 24 kHz PCM16


class AgentAudio(Recorder):
    """Keeps the agent audio the runner played, per item."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, bytearray] = {}

    def on_audio(self, audio: bytes, item_id: str) -> None:
        super().on_audio(audio, item_id)
        self.items.setdefault(item_id, bytearray()).extend(audio)


def channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2
        assert wav.getframerate() == 24000
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0], frames[:, 1]


def trimmed(samples: np.ndarray) -> np.ndarray:
    nonzero = np.flatnonzero(samples)
    return samples[nonzero[0] : nonzero[-1] + 1] if nonzero.size else samples[:0]


def pcm(data: bytes | bytearray) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<i2")


async def send_speech(runner: RealtimeRunner, audio: bytes) -> None:
    for off in range(0, len(audio), CHUNK):
        await runner.send_audio(audio[off : off + CHUNK], 24000)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_the_wav_has_the_user_left_and_the_agent_right(
    anyio_backend: str, provider: str, tmp_path: Path
) -> None:
    heard = AgentAudio()
    speech = bytes(4800) + synthesize_speech("hello there", 24000) + bytes(24000)
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        runner = RealtimeRunner(
            agent=RealtimeAgent("a", model_for(provider, server)),
            event_handler=heard,
            recording=Recording(tmp_path / "call.wav"),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            await send_speech(runner, speech)
            with anyio.fail_after(10):
                while not heard.items:
                    await heard.response_done.wait()
            await runner.close()
    report = runner.recording_report
    assert report is not None and report.path == tmp_path / "call.wav"
    assert report.dropped_chunks == 0 and runner.recorder is None
    left, right = channels(report.path)
    assert report.duration_ms == len(left) * 1000 // 24000
    np.testing.assert_array_equal(trimmed(left), trimmed(pcm(speech)))
    (reply,) = heard.items.values()
    np.testing.assert_array_equal(trimmed(right), trimmed(pcm(reply)))
    # One timeline: the agent answers after the user started speaking.
    assert np.flatnonzero(right)[0] > np.flatnonzero(left)[0]


async def test_a_barge_in_cuts_the_agent_where_the_listener_stopped(
    anyio_backend: str, tmp_path: Path
) -> None:
    heard = AgentAudio()
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        runner = RealtimeRunner(
            agent=RealtimeAgent("a", model_for("openai", server)),
            event_handler=heard,
            recording=Recording(tmp_path),  # a directory: one file per call
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            with anyio.fail_after(10):
                await runner.send_text("Please tell me a long story about the sea")
                while not heard.items:
                    await heard.response_done.wait()
            (item_id,) = heard.items
            runner.audio_played(item_id, 300)  # the app's player got this far
            await runner.interrupt()
            await runner.close()
    assert [(i.item_id, i.played_ms) for i in heard.interruptions] == [(item_id, 300)]
    report = runner.recording_report
    assert report is not None and report.path.parent == tmp_path
    assert report.path.name.startswith("call-") and report.path.suffix == ".wav"
    _, right = channels(report.path)
    reply = pcm(heard.items[item_id])
    assert len(reply) > 24 * 300  # more was received than heard
    start = np.flatnonzero(right)[0]
    played = right[start:]
    assert not played[24 * 300 :].any()  # silence after what was heard
    np.testing.assert_array_equal(trimmed(played[: 24 * 300]), trimmed(reply[: 24 * 300]))


class StalledRecording(Recording):
    """A recording whose writer waits for ``release`` before writing anything."""

    release = threading.Event()

    def open(self, output_format: AudioFormat, now: float) -> CallRecorder:
        recorder = CallRecorder(self, output_format, now)
        apply = recorder._apply

        def stalled(op: Any) -> None:
            self.release.wait(10)
            apply(op)

        recorder._apply = stalled  # type: ignore[method-assign]
        return recorder


async def test_a_full_queue_drops_and_reports_instead_of_blocking(
    anyio_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    StalledRecording.release = threading.Event()
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        runner = RealtimeRunner(
            agent=RealtimeAgent("a", model_for("openai", server)),
            recording=StalledRecording(tmp_path / "call.wav", max_queued_chunks=4),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            with anyio.fail_after(5):  # the writer is stuck; sending must not be
                await send_speech(runner, bytes(CHUNK * 50))
            recorder = runner.recorder
            assert recorder is not None
            assert recorder.dropped_chunks >= 50 - 4 - 1  # (the writer may hold one)
            dropped = recorder.dropped_chunks
            StalledRecording.release.set()
            with caplog.at_level(logging.WARNING, logger="adk_realtime.recording"):
                await runner.close()
    report = runner.recording_report
    assert report is not None
    assert report.dropped_chunks == dropped and report.dropped_ms == dropped * 20
    assert f"dropped {dropped} audio chunks" in caplog.text
    left, _ = channels(report.path)
    assert len(left) >= (50 - dropped) * 480  # what was queued was written


def test_recording_settings_are_checked() -> None:
    for kwargs, field in (
        ({"target": ""}, "recording.target"),
        ({"target": "x.wav", "sample_rate": 44100}, "recording.sample_rate"),
        ({"target": "x.wav", "max_queued_chunks": 0}, "recording.max_queued_chunks"),
    ):
        with pytest.raises(ConfigError) as info:
            Recording(**kwargs)  # type: ignore[arg-type]
        assert info.value.field == field
    with pytest.raises(ConfigError, match="recording"):
        RealtimeRunner(model=object(), recording="calls/")  # type: ignore[arg-type]


def test_g711_sides_and_a_late_chunk_of_a_cut_item(tmp_path: Path) -> None:
    clock = iter([0.0, 0.0, 0.5, 0.5]).__next__
    recorder = CallRecorder(
        Recording(tmp_path / "g.wav"), AudioFormat.g711_ulaw(), now=0.0, clock=clock
    )
    recorder.user_audio(b"\x00" * 80, 8000, AudioEncoding.G711_ULAW)  # 10 ms of loud μ-law
    recorder.play(b"\x00" * 160, "item_1")  # 20 ms
    recorder.heard("item_1", 10)
    recorder.play(b"\x00" * 160, "item_1")  # late: not played
    report = recorder.close()
    left, right = channels(report.path)
    assert np.count_nonzero(left) > 200
    assert 0 < np.count_nonzero(right) <= 240  # 10 ms at 24 kHz at most


def test_a_chunk_the_writer_cannot_record_is_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = iter([0.0, 0.0, 0.0]).__next__
    recorder = CallRecorder(Recording(tmp_path / "x.wav"), AudioFormat.pcm16(), 0.0, clock=clock)
    with caplog.at_level(logging.ERROR, logger="adk_realtime.recording"):
        recorder.user_audio(b"\x01\x00" * 441, 44100)  # a rate the session refuses too
        recorder.user_audio(b"\x01\x00" * 240, 24000)
        report = recorder.close()
    assert recorder.failed_ops == 1 and "could not record a chunk" in caplog.text
    left, _ = channels(report.path)
    assert np.count_nonzero(left) == 240
