"""LiveKit bridge against the SDK's own objects (no server can run here).

The SDK's AudioSource, LocalAudioTrack and AudioStream are real (its native
FFI library moves the frames); only the room is missing.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

rtc = pytest.importorskip("livekit.rtc")

from adk_realtime.drivers.livekit import LiveKitEventHandler, bridge_input  # noqa: E402

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
        handler = LiveKitEventHandler(source, Recorder())
        pcm = tone(24000, 0.6)
        # Odd-sized deltas, like a provider's: byte remainders must be carried per item.
        offset = 0
        for size in [4801, 3, 9600, 7777, 1] * 20:
            if offset >= len(pcm):
                break
            handler.on_audio(pcm[offset : offset + size], "item-1")
            offset += size
        await handler.flush()
        frames = await collect(stream, int(rate * 0.5))
        await handler.aclose()
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
    assert len(callbacks) == 12

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
        handler = LiveKitEventHandler(source, None)
        handler.on_audio(tone(24000, 3.0), "answer")
        await asyncio.sleep(0)  # let the writer start feeding the source
        assert len(handler._queue) > 100
        handler.on_interrupted(object())
        assert len(handler._queue) == 0
        assert source.queued_duration == 0
        await handler.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("input_rate", [16000, 24000])
def test_bridge_input_forwards_20ms_chunks_at_the_provider_rate(input_rate: int) -> None:
    class Sink:
        class model:
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

    class Inner:
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
            handler = LiveKitEventHandler(voice, inner)
            agent = RealtimeAgent("assistant", model, tools=[get_weather])  # type: ignore[arg-type]
            runner = RealtimeRunner(agent=agent, event_handler=handler)  # type: ignore[arg-type]
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
                step = room_rate // 100 * 2
                for off in range(0, len(question), step):
                    chunk = question[off : off + step]
                    await mic.capture_frame(rtc.AudioFrame(chunk, room_rate, 1, len(chunk) // 2))
                await asyncio.wait_for(inner.answered.wait(), 20)
                await handler.flush()
                await asyncio.wait_for(listener, 20)
                await bridge.stop()
                await handler.aclose()
                await runner.close()
            await heard.aclose()
            assert inner.tool_calls and "Paris" in inner.tool_calls[0]
            return recognizer.text

    text = asyncio.run(main())
    assert "Here is the weather" in text and "sunny" in text


def test_playback_waits_for_the_prebuffer_or_the_end_of_the_answer() -> None:
    async def main() -> None:
        source = rtc.AudioSource(24000, 1)
        handler = LiveKitEventHandler(source, None, prebuffer_ms=150)
        handler.on_audio(tone(24000, 0.05), "a")  # 50 ms: less than the pre-buffer
        await asyncio.sleep(0)
        assert handler.frames_captured == 0 and len(handler._queue) == 5
        handler.on_response_done(object())  # the answer ended: play what there is
        while handler._queue:
            await asyncio.sleep(0)
        await asyncio.wait_for(source.wait_for_playout(), 5)
        assert handler.frames_captured == 5
        await handler.aclose()

    asyncio.run(main())


def test_join_room_installs_the_public_handler_on_the_runner_and_its_context() -> None:
    """No server here: the connect fails at once, after the handler was installed."""
    import socket

    from adk_realtime import EventHandler, OpenAIRealtimeModel, RealtimeRunner
    from adk_realtime.livekit import LiveKitEventHandler as PublicHandler, join_room

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends
    inner = EventHandler()
    runner = RealtimeRunner(OpenAIRealtimeModel("sk-x"), event_handler=inner)

    async def main() -> None:
        with pytest.raises(Exception, match=r"(?i)connect"):
            await asyncio.wait_for(join_room(f"ws://127.0.0.1:{port}", "token", runner), 20)

    asyncio.run(main())
    assert isinstance(runner.handler, PublicHandler) and isinstance(runner.handler, EventHandler)
    assert runner.handler.inner is inner
    assert runner.context.event_handler is runner.handler
