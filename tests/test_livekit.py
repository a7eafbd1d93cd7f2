"""LiveKit bridge against the SDK's own objects (no server can run here).

The SDK's AudioSource, LocalAudioTrack and AudioStream are real (its native
FFI library moves the frames); only the room is missing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import pytest

rtc = pytest.importorskip("livekit.rtc")

from adk_realtime.drivers.livekit import BridgeHandle, RoomSpeaker, bridge_input  # noqa: E402
from adk_realtime.livekit import LiveKitEventHandler  # noqa: E402
from adk_realtime.sansio.errors import ConnectionClosed  # noqa: E402

TONE_HZ = 1000.0


def tone(rate: int, seconds: float, hz: float = TONE_HZ, amp: float = 0.4) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * amp * 32767).astype("<i2").tobytes()


def peak_hz(pcm: np.ndarray, rate: int) -> float:
    samples = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


async def collect(
    stream: rtc.AudioStream, want_samples: int, timeout: float = 5.0
) -> list[rtc.AudioFrame]:
    frames: list[rtc.AudioFrame] = []
    got = 0

    async def read() -> None:
        nonlocal got
        async for ev in stream:
            frames.append(ev.frame)
            got += ev.frame.samples_per_channel
            if got >= want_samples:
                return

    await asyncio.wait_for(read(), timeout)
    return frames


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_audio(self, audio: bytes, item_id: str) -> None:
        self.calls.append("audio")

    def on_disconnect(self, reason: str) -> None:
        self.calls.append(f"disconnect:{reason}")

    def on_transcript(self, text: str, item_id: str) -> None:
        self.calls.append(f"transcript:{text}")


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (24000, 1), (48000, 1), (48000, 2)])
def test_model_audio_reaches_the_source_at_its_rate_without_mis_pitch(
    rate: int, channels: int
) -> None:
    async def main() -> None:
        source = rtc.AudioSource(rate, channels)
        track = rtc.LocalAudioTrack.create_audio_track("agent", source)
        stream = rtc.AudioStream.from_track(track=track, sample_rate=rate, num_channels=channels)
        speaker = RoomSpeaker(source)
        pcm = tone(24000, 0.6)
        # Odd-sized deltas, like a provider's: byte remainders must be carried per item.
        offset = 0
        for size in [4801, 3, 9600, 7777, 1] * 20:
            if offset >= len(pcm):
                break
            speaker.play(pcm[offset : offset + size], "item-1")
            offset += size
        await speaker.flush()
        frames = await collect(stream, int(rate * 0.5))
        await speaker.aclose()
        await stream.aclose()
        assert all(f.sample_rate == rate and f.num_channels == channels for f in frames)
        data = np.concatenate([np.frombuffer(f.data, "<i2") for f in frames]).reshape(-1, channels)
        mono = data[:, 0]
        voiced = mono[np.abs(mono) > 1000]
        assert voiced.size > rate * 0.3, "the tone did not come through"
        start = int(np.argmax(np.abs(mono) > 1000))
        window = mono[start + rate // 20 : start + rate // 20 + rate // 4]
        assert abs(peak_hz(window, rate) - TONE_HZ) < 15
        # No gaps: once the tone started it stays loud for the whole window.
        env = np.abs(window.astype(np.int32)).reshape(-1, rate // 200).max(axis=1)
        assert env.min() > 5000
        if channels == 2:
            assert np.array_equal(data[:, 0], data[:, 1])

    asyncio.run(main())


def test_every_callback_is_forwarded_including_disconnect() -> None:
    async def main() -> None:
        source = rtc.AudioSource(24000, 1)
        inner = Recorder()
        handler = LiveKitEventHandler(source, inner)
        handler.on_transcript("hi", "i")
        handler.on_audio(b"\0\0" * 240, "i")
        handler.on_disconnect("bye")
        handler.on_speech_started(5)  # not implemented by inner: ignored
        await handler.aclose()
        assert inner.calls == ["transcript:hi", "audio", "disconnect:bye"]

    asyncio.run(main())


def test_the_public_handler_is_an_event_handler_that_forwards_every_callback() -> None:
    from adk_realtime import EventHandler, RealtimeRunner
    from adk_realtime.livekit import LiveKitEventHandler as PublicHandler

    callbacks = sorted(n for n in vars(EventHandler) if n.startswith("on_"))
    assert len(callbacks) == 13  # on_dtmf (phone calls) is the 13th

    class Everything(EventHandler):
        def __init__(self) -> None:
            self.seen: list[str] = []

    inner = Everything()
    for name in callbacks:
        setattr(inner, name, lambda *args, _n=name: inner.seen.append(_n))

    async def main() -> None:
        handler = PublicHandler(rtc.AudioSource(24000, 1), inner)
        assert isinstance(handler, EventHandler)
        RealtimeRunner(model=object(), event_handler=handler)  # type: ignore[arg-type]
        args = {
            "on_audio": (b"\0\0" * 240, "i"),
            "on_speech_started": (0,),
            "on_speech_stopped": (10,),
            "on_tool_call": ("f", "{}", "c"),
            "on_response_done": (object(),),
            "on_interrupted": (object(),),
            "on_handoff": ("a", "b"),
            "on_error": (RuntimeError("x"),),
            "on_disconnect": ("bye",),
        }
        for name in callbacks:
            getattr(handler, name)(*args.get(name, ("text", "i")))
        await handler.aclose()
        assert inner.seen == callbacks  # none stopped at EventHandler's no-op default

    asyncio.run(main())


def test_interruption_clears_queued_audio() -> None:
    async def main() -> None:
        source = rtc.AudioSource(24000, 1)
        speaker = RoomSpeaker(source)
        speaker.play(tone(24000, 3.0), "answer")
        await asyncio.sleep(0)  # let the writer start feeding the source
        assert len(speaker._queue) > 100
        speaker.interrupt()
        assert len(speaker._queue) == 0
        assert source.queued_duration == 0
        await speaker.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("input_rate", [16000, 24000])
def test_bridge_input_forwards_20ms_chunks_at_the_provider_rate(input_rate: int) -> None:
    class Sink:
        input_sample_rate = input_rate

        def __init__(self) -> None:
            self.chunks: list[tuple[bytes, int]] = []
            self.enough = asyncio.Event()

        async def send_audio(self, pcm: bytes, sample_rate: int | None = None) -> None:
            self.chunks.append((pcm, sample_rate or 0))
            if len(self.chunks) >= 25:
                self.enough.set()

    async def main() -> None:
        source = rtc.AudioSource(48000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("user", source)
        sink = Sink()
        handle = bridge_input(track, sink)
        pcm = tone(48000, 0.6)
        frame = 480 * 2
        for off in range(0, len(pcm), frame):
            await source.capture_frame(rtc.AudioFrame(pcm[off : off + frame], 48000, 1, 480))
        await asyncio.wait_for(sink.enough.wait(), 5)
        await handle.stop()
        assert sink.chunks, "no audio was bridged"
        assert {rate for _, rate in sink.chunks} == {input_rate}
        assert {len(c) for c, _ in sink.chunks} == {input_rate * 2 // 50}
        data = np.frombuffer(b"".join(c for c, _ in sink.chunks), "<i2")
        loud = data[np.abs(data) > 1000]
        assert loud.size > input_rate * 0.2
        start = int(np.argmax(np.abs(data) > 1000))
        assert (
            abs(peak_hz(data[start + 400 : start + 400 + input_rate // 4], input_rate) - TONE_HZ)
            < 15
        )

    asyncio.run(main())


@pytest.mark.parametrize(
    ("provider", "room_rate"), [("openai", 48000), ("gemini", 16000), ("openai", 24000)]
)
def test_room_audio_to_simulator_and_back_keeps_pitch(provider: str, room_rate: int) -> None:
    """A spoken question enters through a LiveKit track, the simulator answers, and the
    answer read back from the agent's AudioSource still decodes: every rate conversion
    on the way in (room -> provider) and out (24 kHz -> room) kept the pitch."""
    from adk_realtime import (
        EventHandler,
        GeminiLiveBackend,
        GeminiRealtimeModel,
        OpenAIRealtimeModel,
        RealtimeAgent,
        RealtimeRunner,
        function_tool,
    )
    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.sansio.sim.hub import SimulatorHub
    from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    class Inner(EventHandler):  # the app's handler: the runner's only one
        def __init__(self) -> None:
            self.answered = asyncio.Event()
            self.tool_calls: list[str] = []

        def on_tool_call(self, name: str, arguments: str, call_id: str) -> None:
            self.tool_calls.append(arguments)

        def on_response_done(self, event: object) -> None:
            if self.tool_calls:
                self.answered.set()

    async def main() -> str:
        async with run_simulator(hub=SimulatorHub(pace=0)) as server:
            if provider == "openai":
                model: object = OpenAIRealtimeModel("sk-test", base_url=server.openai_base_url)
            else:
                backend = GeminiLiveBackend.Public("key", base_url=f"ws://127.0.0.1:{server.port}")
                model = GeminiRealtimeModel(backend)
            # The caller's microphone in the room, and the agent's voice.
            mic = rtc.AudioSource(room_rate, 1)
            mic_track = rtc.LocalAudioTrack.create_audio_track("caller", mic)
            voice = rtc.AudioSource(room_rate, 1)
            voice_track = rtc.LocalAudioTrack.create_audio_track("agent", voice)
            heard = rtc.AudioStream.from_track(
                track=voice_track, sample_rate=room_rate, num_channels=1
            )
            inner = Inner()
            speaker = RoomSpeaker(voice)
            agent = RealtimeAgent("assistant", model, tools=[get_weather])  # type: ignore[arg-type]
            runner = RealtimeRunner(agent=agent, event_handler=inner)
            runner.add_audio_output(speaker)  # the room's voice, next to the app's handler
            recognizer = SpeechRecognizer(room_rate)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(runner.run())
                await runner.wait_connected()
                bridge = bridge_input(mic_track, runner)

                async def listen() -> None:
                    async for frame_event in heard:
                        recognizer.feed(bytes(frame_event.frame.data.cast("B")))
                        if "sunny" in recognizer.text:
                            return

                listener = tg.create_task(listen())
                question = synthesize_speech("What is the weather in Paris?", room_rate)
                question += bytes(room_rate * 2)  # a second of silence ends the turn
                # In one capture: the source plays it on the SDK's clock, with no gap a
                # frame-by-frame feed could leave (the source fills those with silence).
                await mic.capture_frame(rtc.AudioFrame(question, room_rate, 1, len(question) // 2))
                await asyncio.wait_for(inner.answered.wait(), 20)
                await speaker.flush()
                await asyncio.wait_for(listener, 20)
                await bridge.stop()
                await speaker.aclose()
                await runner.close()
            await heard.aclose()
            assert inner.tool_calls and "Paris" in inner.tool_calls[0]
            return recognizer.text

    text = asyncio.run(main())
    assert "Here is the weather" in text and "sunny" in text


def test_playback_waits_for_the_prebuffer_or_the_end_of_the_answer() -> None:
    async def main() -> None:
        source = rtc.AudioSource(24000, 1)
        speaker = RoomSpeaker(source, prebuffer_ms=150)
        speaker.play(tone(24000, 0.05), "a")  # 50 ms: less than the pre-buffer
        await asyncio.sleep(0)
        assert speaker.frames_captured == 0 and len(speaker._queue) == 5
        speaker.end_of_response()  # the answer ended: play what there is
        await asyncio.wait_for(speaker.wait_drained(), 5)
        await asyncio.wait_for(source.wait_for_playout(), 5)
        assert speaker.frames_captured == 5
        await speaker.aclose()

    asyncio.run(main())


class GatedSource:
    """An AudioSource stand-in recording each capture; a capture waits while ``gate`` is shut
    (as the SDK's does while its queue is full)."""

    sample_rate = 24000
    num_channels = 1

    def __init__(self) -> None:
        self.captures: list[int] = []  # samples per capture_frame call
        self.clears = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        self.captures.append(frame.samples_per_channel)
        self.waiting.set()
        await self.gate.wait()

    def clear_queue(self) -> None:
        self.clears += 1


def test_the_speaker_hands_the_source_its_prebuffer_in_one_capture() -> None:
    """The source fills every 10 ms it finds empty with silence; fed a frame per round trip,
    the start of an answer raced that clock. All that is queued goes in one call instead."""

    async def main() -> None:
        source = GatedSource()
        speaker = RoomSpeaker(source, prebuffer_ms=150)  # type: ignore[arg-type]
        speaker.play(tone(24000, 0.3), "a")  # 30 frames, queued before the writer runs
        await asyncio.wait_for(speaker.wait_drained(), 5)
        assert source.captures == [24000 * 20 // 100, 24000 * 10 // 100]  # 200 ms, then 100
        assert speaker.frames_captured == 30
        speaker.play(tone(24000, 0.05), "b")  # a short answer: all of it at its end
        speaker.end_of_response()
        await asyncio.wait_for(speaker.wait_drained(), 5)
        assert source.captures[2:] == [24000 * 5 // 100] and speaker.frames_captured == 35
        await speaker.aclose()

    asyncio.run(main())


def test_a_capture_in_flight_at_barge_in_is_cleared_when_it_lands() -> None:
    async def main() -> None:
        source = GatedSource()
        source.gate.clear()  # the source is full: the first capture waits
        speaker = RoomSpeaker(source, prebuffer_ms=150)  # type: ignore[arg-type]
        speaker.play(tone(24000, 0.2), "old answer")
        await source.waiting.wait()
        speaker.interrupt()
        assert source.clears == 1 and not speaker._queue
        source.gate.set()  # the old answer's capture lands after the clear...
        async with asyncio.timeout(5):  # bounded: a missed clear fails, never hangs
            while source.clears < 2:
                await asyncio.sleep(0)
        assert source.clears == 2  # ...and is cleared again: the room never plays it
        assert speaker.frames_captured == 0
        await speaker.aclose()

    asyncio.run(main())


def test_join_room_leaves_the_runner_alone_when_it_cannot_connect() -> None:
    """No server here: the connect fails at once, and nothing of the room is left behind."""
    import socket

    from adk_realtime import EventHandler, OpenAIRealtimeModel, RealtimeRunner
    from adk_realtime.livekit import join_room

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends
    inner = EventHandler()
    runner = RealtimeRunner(OpenAIRealtimeModel("sk-x"), event_handler=inner)

    async def main() -> None:
        with pytest.raises(Exception, match=r"(?i)connect"):
            await asyncio.wait_for(join_room(f"ws://127.0.0.1:{port}", "token", runner), 20)

    asyncio.run(main())
    assert runner.handler is inner and runner.context.event_handler is inner
    assert runner._audio_outputs == []


class FakeRoom:
    """The part of ``rtc.Room`` that join_room touches (no LiveKit server runs here)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.published: list[Any] = []
        self.connected: tuple[str, str] | None = None
        self.disconnected = False
        self.local_participant = self

    def on(self, name: str, callback: Any) -> None:
        self.handlers[name] = callback

    async def connect(self, url: str, token: str) -> None:
        self.connected = (url, token)

    async def publish_track(self, track: Any, options: Any) -> None:
        self.published.append(track)

    async def disconnect(self) -> None:
        self.disconnected = True


@dataclass
class Publication:
    sid: str


@dataclass
class Participant:
    identity: str


def test_join_room_adds_the_room_voice_as_an_output_and_leaves_the_handler_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from adk_realtime import EventHandler, OpenAIRealtimeModel, RealtimeRunner
    from adk_realtime.livekit import RoomSpeaker as PublicSpeaker, join_room

    monkeypatch.setattr(rtc, "Room", FakeRoom)
    inner = EventHandler()
    runner = RealtimeRunner(OpenAIRealtimeModel("sk-x"), event_handler=inner)

    async def main() -> None:
        agent = await join_room("wss://room.example", "token", runner)
        room = agent.room
        assert isinstance(room, FakeRoom) and room.connected == ("wss://room.example", "token")
        assert len(room.published) == 1
        assert runner.handler is inner and runner.context.event_handler is inner  # unwrapped
        assert runner._audio_outputs == [agent.speaker]
        assert isinstance(agent.speaker, PublicSpeaker) and agent.speaker.source is agent.source
        # The first remote audio track is heard; a second one is counted and logged.
        caller = rtc.LocalAudioTrack.create_audio_track("caller", rtc.AudioSource(48000, 1))
        other = rtc.LocalAudioTrack.create_audio_track("other", rtc.AudioSource(48000, 1))
        on_track = room.handlers["track_subscribed"]
        with caplog.at_level(logging.INFO, "adk_realtime.livekit"):
            on_track(caller, Publication("TR_caller"), Participant("alice"))
            on_track(other, Publication("TR_other"), Participant("bob"))
        assert agent.bridged.is_set() and agent.bridge is not None
        assert agent.bridge.sample_rate == runner.input_sample_rate == 24000
        assert agent.ignored_tracks == 1 and "TR_other of bob" in caplog.text
        await agent.aclose()
        assert runner._audio_outputs == [] and room.disconnected and not agent.bridge.running

    asyncio.run(main())


# --------------------------------------------------------------- nothing is dropped unseen


def test_a_full_room_queue_drops_counts_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        source = rtc.AudioSource(24000, 1)
        # A pre-buffer larger than the queue: nothing plays, the queue only fills.
        speaker = RoomSpeaker(source, max_queued_ms=50, prebuffer_ms=1000)
        with caplog.at_level(logging.WARNING, "adk_realtime.livekit"):
            speaker.play(tone(24000, 0.2), "a")  # 20 frames of 10 ms into a queue of 5
        assert len(speaker._queue) == 5 and speaker.dropped_frames == 15
        warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
        assert len(warnings) == 1  # one line per run of drops, not one per frame
        await speaker.aclose()

    asyncio.run(main())


class RefusingSource:
    """An AudioSource whose frames the SDK refuses (as when its room is gone)."""

    sample_rate = 24000
    num_channels = 1

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        raise Exception("source disposed")  # the SDK raises plain Exception

    def clear_queue(self) -> None:
        pass


def test_frames_the_room_refuses_are_dropped_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        speaker = RoomSpeaker(RefusingSource(), prebuffer_ms=10)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, "adk_realtime.livekit"):
            speaker.play(tone(24000, 0.03), "a")
            speaker.end_of_response()
            await asyncio.wait_for(speaker.wait_drained(), 5)
        assert speaker.dropped_frames == 3 and speaker.frames_captured == 0
        warnings = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(warnings) == 1 and "source disposed" in warnings[0].getMessage()
        await speaker.aclose()

    asyncio.run(main())


def test_the_bridge_counts_what_it_could_not_deliver_once_the_session_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class ClosingRunner:
        input_sample_rate = 24000

        def __init__(self) -> None:
            self.chunks = 0

        async def send_audio(self, pcm: bytes, sample_rate: int | None = None) -> None:
            if self.chunks == 3:
                raise ConnectionClosed(1000, "bye")
            self.chunks += 1

    async def main() -> BridgeHandle:
        source = rtc.AudioSource(48000, 1)  # it plays silence while nothing is captured
        track = rtc.LocalAudioTrack.create_audio_track("caller", source)
        with caplog.at_level(logging.INFO, "adk_realtime.livekit"):
            handle = bridge_input(track, ClosingRunner())
            await asyncio.wait_for(handle.wait(), 10)
        return handle

    handle = asyncio.run(main())
    assert handle.chunks_forwarded == 3 and isinstance(handle.error, ConnectionClosed)
    assert handle.dropped_bytes == 24000 * 2 // 50  # the 20 ms chunk the session refused
    assert "bridge stopped" in caplog.text and "960 bytes not delivered" in caplog.text


# --------------------------------------------------------------- the runner's audio outputs


class RecordingOutput:
    """An audio output (not LiveKit): what the runner plays into it, in one shared log."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log

    def play(self, audio: bytes, item_id: str) -> None:
        self.log.append(("play", item_id, len(audio)))

    def end_of_response(self) -> None:
        self.log.append(("end_of_response",))

    def interrupt(self) -> None:
        self.log.append(("interrupt",))


@pytest.mark.anyio
async def test_the_runner_plays_into_its_outputs_next_to_the_handler(anyio_backend: str) -> None:
    from adk_realtime import EventHandler, OpenAIRealtimeModel, RealtimeRunner
    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.runner import AudioOutput
    from adk_realtime.sansio.sim.hub import SimulatorBrain, SimulatorHub

    log: list[tuple[Any, ...]] = []

    class Handler(EventHandler):
        def __init__(self) -> None:
            self.audio = anyio.Event()
            self.done = anyio.Event()

        def on_audio(self, audio: bytes, item_id: str) -> None:
            log.append(("on_audio", item_id, len(audio)))
            self.audio.set()

        def on_response_done(self, event: Any) -> None:
            log.append(("on_response_done",))
            self.done.set()

        def on_interrupted(self, event: Any) -> None:
            log.append(("on_interrupted",))

    # Real-time pace: the interruption finds the answer still playing.
    hub = SimulatorHub(pace=1.0, brain=SimulatorBrain({"hello": "ok"}))
    async with run_simulator(hub=hub) as server:
        handler = Handler()
        runner = RealtimeRunner(
            OpenAIRealtimeModel("sk-test", base_url=server.openai_base_url), event_handler=handler
        )
        output: AudioOutput = RecordingOutput(log)
        runner.add_audio_output(output)
        runner.add_audio_output(output)  # added once, whatever the number of calls
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.run)
                await runner.wait_connected()
                await runner.send_text("hello")
                await handler.audio.wait()
                await runner.interrupt()
                await handler.done.wait()
                first_turn = len(log)
                runner.remove_audio_output(output)
                handler.done = anyio.Event()
                await runner.send_text("hello")
                await handler.done.wait()
                await runner.close()
    # Each output call comes just before the handler's matching callback.
    pairs = {
        "play": "on_audio",
        "end_of_response": "on_response_done",
        "interrupt": "on_interrupted",
    }
    for n, entry in enumerate(log[:first_turn]):
        if entry[0] in pairs:
            assert log[n + 1][0] == pairs[entry[0]] and log[n + 1][1:] == entry[1:], log
    kinds = [entry[0] for entry in log[:first_turn]]
    assert kinds.count("play") == kinds.count("on_audio") >= 1
    assert kinds.count("interrupt") == kinds.count("end_of_response") == 1
    # Removed: the second answer reached the handler only.
    later = [entry[0] for entry in log[first_turn:]]
    assert "on_audio" in later and "on_response_done" in later
    assert not {"play", "end_of_response", "interrupt"} & set(later)
