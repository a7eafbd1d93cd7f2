"""A RealtimeAgent as a LiveKit Agents job, through livekit-agents' own local job path.

No LiveKit server runs here. ``AgentServer.run(unregistered=True)`` starts the real
worker (its process pool, job executor and HTTP health server) without registering,
and ``simulate_job(fake_job=True)`` launches a job as LiveKit's console does: the job's
room is livekit-agents' mock room (``ipc/mock_room.py``), so the participant's track
is handed to the room's ``track_subscribed`` handler by the test, on the job's loop, as
the SDK would. Everything else is real: the worker, the job thread and its context,
the runner, the bridge, the simulator on loopback, LiveKit's audio tracks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any
from unittest import mock

import pytest

pytest.importorskip("livekit.agents")

from livekit import rtc
from livekit.agents import JobContext
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.job import JobExecutorType

from adk_realtime import (
    EventHandler,
    OpenAIRealtimeModel,
    RealtimeAgent,
    function_tool,
    livekit_agents as lka,
)
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

ROOM_RATE = 48000


@function_tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return "sunny"


class Answers(EventHandler):
    """The app's handler in the job: signals the main thread when the answer is done."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.tool_calls: list[str] = []
        self.room_state: dict[str, Any] = {}

    def on_tool_call(self, name: str, arguments: str, call_id: str) -> None:
        self.tool_calls.append(arguments)

    def on_response_done(self, event: object) -> None:
        if self.tool_calls:
            self.answered.set()


class JobProbe:
    """What the job thread tells the test: its loop and the attached room agent."""

    def __init__(self) -> None:
        self.attached = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.room_agent: Any = None
        self.state: dict[str, Any] | None = None
        self.ended = threading.Event()


async def wait_thread_event(event: threading.Event, timeout: float) -> None:
    ok = await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)
    assert ok, "the job thread did not get there in time"


def on_job_loop(probe: JobProbe, fn: Any, *args: Any) -> None:
    """Run ``fn(*args)`` on the job's loop (where the SDK emits room events) and wait."""
    assert probe.loop is not None
    done: concurrent.futures.Future[None] = concurrent.futures.Future()

    def call() -> None:
        try:
            fn(*args)
            done.set_result(None)
        except BaseException as exc:  # handed back to the test
            done.set_exception(exc)

    probe.loop.call_soon_threadsafe(call)
    done.result(timeout=10)


def test_a_job_runs_the_agent_in_its_room_against_the_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = JobProbe()
    answers = Answers()
    real_attach = lka.attach_room

    async def attach_and_tell(room: Any, runner: Any, **kwargs: Any) -> Any:
        room_agent = await real_attach(room, runner, **kwargs)
        probe.loop = asyncio.get_running_loop()
        probe.room_agent = room_agent
        probe.state = runner.context.state
        probe.attached.set()
        return room_agent

    monkeypatch.setattr(lka, "attach_room", attach_and_tell)

    async def main() -> str:
        async with run_simulator(hub=SimulatorHub(pace=0)) as sim:

            def build_agent(ctx: JobContext) -> RealtimeAgent:
                model = OpenAIRealtimeModel("sk-test", base_url=sim.openai_base_url)
                return RealtimeAgent("assistant", model, tools=[get_weather])

            job = lka.RealtimeJob(build_agent, runner_options={"event_handler": answers})
            server = lka.realtime_server(
                job,
                max_sessions=2,
                job_executor_type=JobExecutorType.THREAD,
                num_idle_processes=0,
                port=0,
            )
            started = asyncio.Event()
            server.once("worker_started", lambda *_: started.set())
            serving = asyncio.create_task(server.run(devmode=True, unregistered=True))
            try:
                await asyncio.wait_for(started.wait(), 30)
                assert server.load_fnc is not None
                assert server.load_fnc(server) == 0.0  # type: ignore[call-arg]
                await server.simulate_job("weather-room", fake_job=True)
                await wait_thread_event(probe.attached, 30)
                # One job of two: the load LiveKit's dispatcher sees.
                assert server.load_fnc(server) == 0.5  # type: ignore[call-arg]
                return await converse(probe, answers, server)
            finally:
                await server.aclose()
                await asyncio.wait_for(serving, 30)

    text = asyncio.run(main())
    assert answers.tool_calls and "Paris" in answers.tool_calls[0]
    assert "Here is the weather" in text and "sunny" in text
    assert probe.state is not None
    assert probe.state["room"]["participant"] == "caller-1"
    assert probe.state["room"]["job_id"].startswith("mock-job-")


async def converse(probe: JobProbe, answers: Answers, server: Any) -> str:
    room = create_mock_room()  # the job's room: livekit-agents caches the one mock
    handlers = {c.args[0]: c.args[1] for c in room.on.call_args_list if len(c.args) == 2}
    published = room.local_participant.publish_track.call_args.args[0]
    assert published is probe.room_agent.track
    # The caller's microphone, as a remote participant's track.
    mic = rtc.AudioSource(ROOM_RATE, 1)
    mic_track = rtc.LocalAudioTrack.create_audio_track("caller", mic)
    heard = rtc.AudioStream.from_track(track=published, sample_rate=ROOM_RATE, num_channels=1)
    caller = mock.Mock(identity="caller-1")
    on_job_loop(probe, handlers["track_subscribed"], mic_track, mock.Mock(sid="TR_1"), caller)
    recognizer = SpeechRecognizer(ROOM_RATE)

    async def listen() -> None:
        async for frame_event in heard:
            recognizer.feed(bytes(frame_event.frame.data.cast("B")))
            if "sunny" in recognizer.text:
                return

    listener = asyncio.create_task(listen())
    question = synthesize_speech("What is the weather in Paris?", ROOM_RATE)
    question += bytes(ROOM_RATE * 2)  # a second of silence ends the turn
    await mic.capture_frame(rtc.AudioFrame(question, ROOM_RATE, 1, len(question) // 2))
    await wait_thread_event(answers.answered, 30)
    await asyncio.wait_for(listener, 30)
    # The participant leaves: the session ends and so does the job (its executor closes;
    # the pool's event is the one signal of that, hence the private attribute).
    closed = asyncio.Event()
    server._proc_pool.on("process_closed", lambda *_: closed.set())
    on_job_loop(probe, handlers["participant_disconnected"], caller)
    await asyncio.wait_for(closed.wait(), 30)
    assert not server.active_jobs
    assert server.load_fnc(server) == 0.0
    await heard.aclose()
    return recognizer.text


def test_session_load_and_the_server_refuse_bad_settings() -> None:
    server = mock.Mock(active_jobs=[1, 2, 3])
    assert lka.SessionLoad(4)(server) == 0.75
    assert lka.SessionLoad(2)(server) == 1.0  # capped: LiveKit compares with the threshold
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ConfigError, match="max_sessions"):
            lka.SessionLoad(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="agent"):
        lka.RealtimeJob("not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="runner_options"):
        lka.RealtimeJob(lambda ctx: None, runner_options={"context": 1})  # type: ignore[arg-type,return-value]
    job = lka.RealtimeJob(lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="load_fnc"):
        lka.realtime_server(job, load_fnc=lambda: 0.0)
    with pytest.raises(ConfigError, match="job"):
        lka.realtime_server(object())  # type: ignore[arg-type]


def test_the_worker_example_builds_a_server_with_the_session_load() -> None:
    import runpy
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "livekit_agents_worker.py"
    namespace = runpy.run_path(str(example), run_name="not_main")  # no LiveKit server here
    server = namespace["server"]
    assert isinstance(server.load_fnc, lka.SessionLoad) and server.load_fnc.max_sessions == 20
    job = server._entrypoint_fnc  # what each job runs (livekit-agents keeps it there)
    assert isinstance(job, lka.RealtimeJob) and job.agent is namespace["build_agent"]
