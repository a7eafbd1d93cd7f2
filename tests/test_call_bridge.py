"""``bridge_call`` end to end: a Twilio caller (``tests.carrier_peer``) on a real WebSocket,
the bridge, and the offline simulator speaking OpenAI (``audio/pcmu``) or Gemini (PCM).

Real time: the caller's microphone and playout run on the clock, so each call takes the
seconds its audio lasts (the phrases are short). Every wait is on an event: something the
caller received, played or echoed, or an event of the runner.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from adk_realtime.agent import RealtimeAgent
from adk_realtime.agent_events import AgentEvent, AudioInterrupted, RealtimeEvent
from adk_realtime.call_bridge import BridgeOptions, CallSummary, bridge_call
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.drivers.websocket import open_websocket, serve
from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
from adk_realtime.models import RealtimeModel
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.runner import EventHandler
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.audio import ulaw_encode
from adk_realtime.sansio.config import VadConfig
from adk_realtime.sansio.sim.hub import SimSession, SimulatorHub
from adk_realtime.sansio.sim.speech import synthesize_speech
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream
from adk_realtime.tools import function_tool
from tests.carrier_peer import (
    FRAME_BYTES,
    TwilioCaller,
    confirmed_frames,
    heard_text,
    ulaw_speech,
)
from tests.loop_lag import watch_loop_lag

pytestmark = pytest.mark.anyio

QUESTION = "What is the weather in Paris?"


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: The city name, e.g. Paris.
    """
    return "sunny" if city == "Paris" else "unknown"


@function_tool
def get_forecast(city: str) -> str:
    """A long forecast for a city (long enough to interrupt)."""
    return "sunny all week with a light breeze from the west"


def phone_agent(model: RealtimeModel, *tools: Any) -> RealtimeAgent:
    return RealtimeAgent(
        "phone_assistant",
        model,
        instruction="You answer the phone. Use get_weather for weather questions.",
        tools=list(tools) or [get_weather],
        vad=VadConfig.server(),
    )


class RecordingHub(SimulatorHub):
    """A simulator that keeps its sessions and the audio each OpenAI session was sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sessions: list[SimSession] = []
        self.appended: list[bytearray] = []

    def open_session(self, *args: Any, **kwargs: Any) -> SimSession:
        session = super().open_session(*args, **kwargs)
        self.sessions.append(session)
        appended = bytearray()
        self.appended.append(appended)
        receive = session.receive_data

        def recording(data: str | bytes, now: float) -> None:
            message = json.loads(data)
            if message.get("type") == "input_audio_buffer.append":
                appended.extend(base64.b64decode(message["audio"]))
            receive(data, now)

        session.receive_data = recording  # type: ignore[method-assign]
        return session


@dataclass
class Recorder(EventHandler):
    """The runner's events the tests look at, with the time they reached the runner."""

    transcripts: dict[str, str] = field(default_factory=dict)
    finished_transcripts: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    seen: list[tuple[float, Any]] = field(default_factory=list)
    responses_done: int = 0
    changed: anyio.Event = field(default_factory=anyio.Event)

    def on_transcript(self, text: str, item_id: str) -> None:
        self.transcripts[item_id] = self.transcripts.get(item_id, "") + text

    def on_response_done(self, event: ev.ResponseDone) -> None:
        self.responses_done += 1
        self._poke()

    def on_dtmf(self, digit: str) -> None:
        self.dtmf.append(digit)
        self._poke()

    def sink(self, event: AgentEvent) -> None:
        """``agent_event_sink``: the first moment an event reaches the runner."""
        if isinstance(event, RealtimeEvent):
            if isinstance(event.event, ev.SpeechStarted | ev.Interrupted):
                self.seen.append((anyio.current_time(), event.event))
            elif isinstance(event.event, ev.TranscriptDone):
                self.finished_transcripts.append(event.event.transcript)
        elif isinstance(event, AudioInterrupted):
            self.seen.append((anyio.current_time(), event))
        self._poke()

    def _poke(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self.changed.wait()


@dataclass
class Call:
    caller: TwilioCaller
    handler: Recorder
    summary: list[CallSummary]
    done: anyio.Event


MARK_HOPS = 3  # wake-ups between the caller echoing a mark and the runner counting it


@asynccontextmanager
async def call(
    model: RealtimeModel,
    agent: RealtimeAgent,
    *,
    options: BridgeOptions | None = None,
    **runner_kwargs: Any,
) -> AsyncIterator[Call]:
    """A bridge server on loopback and one Twilio caller connected to it; the block talks,
    then hangs up with ``caller.stop()``; the summary is there when the block ends."""
    handler = Recorder()
    summary: list[CallSummary] = []
    done = anyio.Event()

    async def serve_call(ws: Any) -> None:
        try:
            summary.append(
                await bridge_call(
                    ws,
                    TwilioMediaStream(),
                    model,
                    agent,
                    options=options,
                    event_handler=handler,
                    runner_kwargs={"agent_event_sink": handler.sink, **runner_kwargs},
                )
            )
        finally:
            done.set()

    async with serve(serve_call) as server:
        async with open_websocket(server.url) as ws, anyio.create_task_group() as tg:
            caller = TwilioCaller(ws)
            await tg.start(caller.run)
            yield Call(caller, handler, summary, done)
        with anyio.fail_after(10):
            await done.wait()


def openai_model(url: str) -> OpenAIRealtimeModel:
    return OpenAIRealtimeModel("sk-test", base_url=url)


def gemini_model(port: int) -> GeminiRealtimeModel:
    return GeminiRealtimeModel(GeminiLiveBackend.Public("key", base_url=f"ws://127.0.0.1:{port}"))


def padded_ulaw_speech(text: str) -> bytes:
    """What the simulator says for ``text`` in ``audio/pcmu``, padded to whole 20 ms frames
    with μ-law silence (the bridge's last frame of a response)."""
    ulaw = ulaw_encode(synthesize_speech(text, 8000))
    return ulaw + b"\xff" * (-len(ulaw) % FRAME_BYTES)


# ---------------------------------------------------------------------------- the answer


async def test_the_caller_hears_the_answer_to_a_spoken_question() -> None:
    """OpenAI and Gemini, side by side: the caller asks by voice and hears the weather. With
    OpenAI both directions are the same bytes end to end (no transcoding)."""
    hub = RecordingHub(pace=0.5)
    results: dict[str, tuple[Call, str]] = {}
    async with run_simulator(hub=hub) as server:

        async def one(name: str, model: RealtimeModel) -> None:
            async with call(model, phone_agent(model)) as c:
                await c.caller.say(ulaw_speech(QUESTION))
                done = c.handler.finished_transcripts
                await c.handler.wait_for(lambda: any("weather" in t for t in done))
                answer = next(t for t in done if "weather" in t)
                expected_frames = len(padded_ulaw_speech(answer)) // FRAME_BYTES
                # Every frame of the answer played and its end mark came back.
                await c.caller.wait_for(
                    lambda r: (
                        len(r.frames) >= expected_frames
                        and any(m.played and m.frames_before == len(r.frames) for m in r.marks)
                    )
                )
                await c.caller.stop()
            results[name] = (c, answer)

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "openai", openai_model(server.openai_base_url))
            tg.start_soon(one, "gemini", gemini_model(server.port))

    for name, (c, answer) in results.items():
        assert answer == "Here is the weather: sunny.", name
        assert heard_text(c.caller.record.heard()) == answer, name
        summary = c.summary[0]
        assert summary.ended_by == "carrier_stop" and summary.interruptions == 0
        assert summary.heard_ms == summary.audio_out_ms == 20 * len(c.caller.record.frames)
        assert summary.bad_messages == 0

    # OpenAI: what the caller received is, byte for byte, what the simulator rendered...
    openai_call, answer = results["openai"]
    assert openai_call.caller.record.received() == padded_ulaw_speech(answer)
    # ...and what the simulator was sent is, byte for byte, what the caller's phone sent.
    (sent_to_openai,) = (a for s, a in zip(hub.sessions, hub.appended) if s.kind == "openai")
    said = openai_call.caller.sent_audio
    assert len(sent_to_openai) >= len(ulaw_speech(QUESTION))
    assert bytes(sent_to_openai) == bytes(said[: len(sent_to_openai)])


# ---------------------------------------------------------------------------- barge-in


async def test_barge_in_clears_at_once_and_truncates_where_the_caller_stopped_hearing() -> None:
    """The caller talks over the answer: the clear arrives within a frame of the speech-start
    event, nothing of the answer follows it, and the runner's truncation is what the
    caller's marks confirmed (OpenAI: the simulator truncated its item there)."""
    figures: dict[str, dict[str, float]] = {}

    async def one(name: str, model: RealtimeModel, hub: RecordingHub) -> None:
        async with call(model, phone_agent(model, get_forecast)) as c:
            await c.caller.say(ulaw_speech("Forecast for Paris?"))
            await c.caller.wait_for(lambda r: c.caller.heard_ms() >= 600)
            await c.caller.say(ulaw_speech("Stop."))
            record = c.caller.record
            await c.caller.wait_for(lambda r: bool(r.clears))
            cleared_at = record.clears[0]
            answer_frames = sum(1 for f in record.frames if f.arrived <= cleared_at)
            (interrupted,) = (e for _, e in c.handler.seen if isinstance(e, AudioInterrupted))
            forecast = c.handler.transcripts[interrupted.item_id]  # as far as it was generated
            if name == "openai":  # the reply to "Stop." comes after the clear
                await c.handler.wait_for(lambda: c.handler.responses_done >= 3)
                await c.caller.wait_for(lambda r: len(r.frames) >= answer_frames + 10)
            else:  # the reply to "Stop." is a new turn: it comes after the clear, in full
                reply_frames = len(padded_ulaw_speech("You said: Stop.")) // FRAME_BYTES
                await c.caller.wait_for(lambda r: len(r.frames) >= answer_frames + reply_frames)
            await c.caller.stop()
        speech_at = max(t for t, e in c.handler.seen if not isinstance(e, AudioInterrupted))
        confirmed_ms = 20 * confirmed_frames(record, cleared_at)
        figures[name] = {
            "clear_latency_ms": (cleared_at - speech_at) * 1000,
            "played_ms": interrupted.played_ms,
            "confirmed_ms": confirmed_ms,
            "heard_ms": c.caller.heard_ms(cleared_at),
        }
        assert confirmed_ms > 0  # (the latency and the truncation: checked below)
        assert forecast.startswith(heard_text(record.heard(0, answer_frames)))
        after = record.received(answer_frames)
        summary = c.summary[0]
        assert summary.interruptions == 1 and summary.cleared_ms > 0
        if name == "openai":
            assert interrupted.truncated
            assert summary.unsent_ms > 0  # the rest of the answer never left the bridge
            # After the clear: the reply to "Stop." from its first byte, nothing else.
            reply = padded_ulaw_speech("You said: Stop.")
            assert len(after) >= 10 * FRAME_BYTES and after == reply[: len(after)]
            (item,) = (
                i
                for s in hub.sessions
                for i in getattr(s, "items", [])
                if i.role == "assistant" and i.full_text == forecast
            )
            assert item.audio_ms == interrupted.played_ms  # conversation.item.truncate
        else:  # (transcoded: compared as what the caller heard)
            assert heard_text(record.heard(answer_frames)) == "You said: Stop."

    openai_hub, gemini_hub = RecordingHub(pace=0), RecordingHub(pace=1.0)
    async with watch_loop_lag() as lag:
        async with run_simulator(hub=openai_hub) as fast, run_simulator(hub=gemini_hub) as live:
            async with anyio.create_task_group() as tg:
                tg.start_soon(one, "openai", openai_model(fast.openai_base_url), openai_hub)
                tg.start_soon(one, "gemini", gemini_model(live.port), gemini_hub)
    print("barge-in figures:", json.dumps(figures), f"loop lag worst {lag.worst * 1000:.1f} ms")
    # One frame, plus what the loop itself was late by (a loaded machine delays every
    # task alike; on a quiet one that is ~0 and the bound is one frame).
    for name, figure in figures.items():
        assert 0 <= figure["clear_latency_ms"] <= 20 + lag.worst * 1000, name
        slack = 20 + lag.frames(hops=MARK_HOPS)  # marks on their way when the runner acted
        assert abs(figure["played_ms"] - figure["confirmed_ms"]) <= slack, name
