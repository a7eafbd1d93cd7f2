"""A long call: one conversation across provider session caps and a dropped connection.

Providers end realtime sessions (OpenAI at 60 minutes, Gemini closes a connection after
about ten) and networks drop them. The session carries the conversation over by itself:
OpenAI *rolls over* to a fresh provider session seeded from the conversation record (with
the input audio no turn had taken yet), Gemini *resumes* with its resumption handle. The
app sees one ``SessionResumed`` per switch and no error; ``runner.history`` is the
conversation so far, which ``History.to_json()`` saves and ``RealtimeRunner(...,
history=History.from_json(...))`` continues in a new session.

Offline, the in-process simulator ends every session after ``--cap`` seconds (20) and drops
the first connection after ``--drop-after`` seconds (7) with no close frame. The example
plays an open microphone: it asks "What is the weather in Paris?" (a tool answers), stays
on the line across the drop and three caps, then asks "What city did I ask about?". The
simulated model answers that from the conversation alone, so the answer is right only if
the history crossed every switch. Then it saves the history to a file, and a new runner
seeded with that file answers the same question.

    python examples/realtime_long_call.py                      # offline, about a minute
    python examples/realtime_long_call.py --cap 2.4 --drop-after 0.9 --sim-pace 0
    python examples/realtime_long_call.py --sim-api gemini     # Gemini resumes instead
    python examples/realtime_long_call.py --provider openai    # needs OPENAI_API_KEY

The simulator understands only its own tone-coded speech, so offline the questions are
spoken; a real provider gets them as text while the microphone streams silence. A real
provider's cap is far away: ``--switches N`` waits for N switches before the second
question, e.g. against ``adk-realtime sim --session-max-seconds 20 --drop-after 7``
(``--base-url``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (first: it says how to run the examples if anyio is missing)
import anyio
from _common import (
    CHUNK_MS,
    ConsoleHandler,
    check_key,
    open_model,
    parser,
    run,
    say,
    tool_result_printer,
    voice_for,
)

from adk_realtime import History, RealtimeAgent, RealtimeRunner, RealtimeSession, function_tool
from adk_realtime.models import RealtimeModel
from adk_realtime.runner import AgentEvent, RealtimeEvent
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.sansio.sim.speech import synthesize_speech

FIRST = "What is the weather in Paris?"
FOLLOW_UP = "What city did I ask about?"


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: The city name, e.g. Paris.
    """
    return {"city": city, "temp": 18, "sky": "sunny"}


class WatchedSimulator(SimulatorHub):
    """The simulator, noting when each session opened, to tell a drop from a rollover.

    The first ``drops`` sessions end abruptly ``drop_after`` seconds after they opened
    (unless the client replaced them before); the simulator and the app share the clock.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.opened: list[float] = []

    def open_session(self, kind: Any, **kwargs: Any) -> Any:
        self.opened.append(kwargs["now"])
        return super().open_session(kind, **kwargs)

    def dropped(self, connection: int, now: float) -> bool:
        """Whether connection number ``connection`` (from 1) ended by the drop fault."""
        drop_after = self.settings.drop_after
        if drop_after is None or connection > min(self.drops, len(self.opened)):
            return False
        return now - self.opened[connection - 1] >= drop_after


class CallConsole(ConsoleHandler):
    """The console, plus one line per switch of connection (``SessionResumed``)."""

    def __init__(self, simulator: WatchedSimulator | None) -> None:
        super().__init__()
        self.simulator = simulator
        # The simulator numbers every connection it served; this call's first is the next.
        self.first = len(simulator.opened) + 1 if simulator is not None else 1
        self.switches = 0
        self.switched = anyio.Event()

    def sink(self, event: AgentEvent) -> None:
        if not (isinstance(event, RealtimeEvent) and isinstance(event.event, ev.SessionResumed)):
            return
        if self._line:  # a response the switch cut: what had arrived of it was said
            say("assistant", "".join(self._line).strip() + " [cut by the switch]")
            self._line.clear()
        self.switches += 1
        sim, ended = self.simulator, self.first + self.switches - 1
        if sim is not None and sim.dropped(ended, anyio.current_time()):
            say("sim", f"connection {ended} dropped, no close frame (--drop-after)")
        # OpenAI rolls over to a fresh session; Gemini resumes the same one by its handle.
        kind = "rollover" if event.event.handle is None else "resumption"
        say("resumed", f"session {self.switches + 1} ({kind})")
        self.switched.set()
        self.switched = anyio.Event()

    async def wait_switches(self, count: int) -> None:
        while self.switches < count:
            await self.switched.wait()


class Microphone:
    """An open microphone at real-time pace: silence, and what is said into it."""

    def __init__(self, runner: RealtimeRunner, rate: int) -> None:
        self.runner = runner
        self.rate = rate
        self._queue: list[bytes] = []

    def speak(self, pcm: bytes) -> None:
        self._queue.append(pcm)

    async def run(self) -> None:
        chunk = self.rate * 2 * CHUNK_MS // 1000
        silence = bytes(chunk)
        pending = b""
        start = anyio.current_time()
        sent = 0
        while True:
            if not pending and self._queue:
                pending = self._queue.pop(0)
            piece, pending = (pending[:chunk], pending[chunk:]) if pending else (silence, b"")
            await self.runner.send_audio(piece, self.rate)
            sent += 1
            await anyio.sleep_until(start + sent * CHUNK_MS / 1000)


async def answer_heard(runner: RealtimeRunner) -> None:
    """A polite caller lets the answer play out before speaking again (playback is
    taken to run in real time from the answer's first audio)."""
    playback = runner.playback
    item = playback.current_item
    if item is not None:
        left = playback.received_ms(item) - playback.played_ms(item, anyio.current_time())
        await anyio.sleep(max(left, 0) / 1000)


def make_agent(model: RealtimeModel) -> RealtimeAgent:
    return (
        RealtimeAgent.builder("weather_assistant")
        .model(model)
        .instruction("You are a helpful voice assistant. Use get_weather for the weather.")
        .voice(voice_for(model))
        .tool(get_weather)
        .after_tool_callback(tool_result_printer)
        # A spoken turn enters the record as its transcript: without one it cannot be
        # replayed to a fresh OpenAI session, nor saved.
        .input_transcription()
        .build()
    )


async def converse(
    runner: RealtimeRunner,
    handler: CallConsole,
    questions: list[str],
    *,
    spoken: bool,
    switches: int = 0,
) -> RealtimeSession:
    """Ask each question in turn on an open line; before the last, wait for ``switches``."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        session = await runner.wait_connected()
        mic = Microphone(runner, runner.input_sample_rate)
        tg.start_soon(mic.run)
        for n, question in enumerate(questions):
            if n == len(questions) - 1 and switches:
                say("info", f"staying on the line until {switches} switches of connection")
            if n:
                await answer_heard(runner)
                await handler.wait_switches(switches)
            if spoken:
                say("user", f"(speaking) {question}")
                mic.speak(synthesize_speech(question, mic.rate))
            else:
                say("user", question)
                await runner.send_text(question)
            await handler.wait_turn()
        tg.cancel_scope.cancel()
    await runner.close()
    return session


async def main(args: argparse.Namespace) -> int:
    check_key(args)
    offline = args.provider == "sim"
    switches = args.switches if args.switches is not None else (4 if offline else 0)
    simulator = None
    if offline:
        simulator = WatchedSimulator(
            pace=args.sim_pace,
            session_max_seconds=args.cap,
            drop_after=args.drop_after,
            drops=1,
        )
    # The simulator offers Gemini's transparent resumption on the public path too (the
    # real public API does not: there input in flight at a drop may be lost).
    async with open_model(args, hub=simulator, transparent_resumption=offline or None) as model:
        if offline:
            say(
                "info",
                f"every session ends after {args.cap:g} s; "
                f"the first connection drops after {args.drop_after:g} s",
            )
        with anyio.fail_after(args.timeout):
            handler = CallConsole(simulator)
            runner = RealtimeRunner(
                agent=make_agent(model), event_handler=handler, agent_event_sink=handler.sink
            )
            session = await converse(
                runner, handler, [FIRST, FOLLOW_UP], spoken=offline, switches=switches
            )
            say(
                "info",
                f"{handler.switches} switches: {session.rollovers} rollovers, "
                f"{session.resumptions - session.rollovers} resumptions by handle",
            )

            # Save the conversation; a new runner, in this process or another, continues it.
            path = Path(args.save) if args.save else Path(tempfile.mkdtemp()) / "history.json"
            path.write_text(runner.history.to_json(), encoding="utf-8")
            say("history", f"saved {len(runner.history)} items to {path}")

            saved = History.from_json(path.read_text(encoding="utf-8"))
            say("seeded", f"a new session starts from the {len(saved)} saved items")
            seeded = CallConsole(simulator)
            again = RealtimeRunner(
                agent=make_agent(model),
                event_handler=seeded,
                agent_event_sink=seeded.sink,
                history=saved,
            )
            await converse(again, seeded, [FOLLOW_UP], spoken=offline)
    return 0


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument(
        "--cap",
        type=float,
        default=20.0,
        help="offline: seconds every simulated session lasts (default: %(default)s)",
    )
    p.add_argument(
        "--drop-after",
        type=float,
        default=7.0,
        help="offline: the first connection drops after this many seconds (default: %(default)s)",
    )
    p.add_argument(
        "--switches",
        type=int,
        help="switches of connection to stay on the line for before the second question "
        "(default: 4 offline, the drop and three caps; 0 with a real provider)",
    )
    p.add_argument("--save", help="where to save the history (default: a temporary file)")
    p.set_defaults(timeout=180.0)
    sys.exit(run(main, p.parse_args()))
