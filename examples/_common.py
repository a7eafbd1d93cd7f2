"""What the examples share: picking a provider, the offline simulator, and the console.

Every example runs offline by default: it starts the built-in provider
simulator in-process on a loopback port (no key, no network) and talks to it
over a real WebSocket, exactly as it would talk to OpenAI or Gemini. Pass
``--provider openai`` or ``--provider gemini`` to use the real service; the key
comes from ``OPENAI_API_KEY`` or ``GOOGLE_API_KEY`` (or ``GEMINI_API_KEY``).
``--base-url`` sends a real provider's traffic elsewhere: a proxy, or a
simulator served by ``adk-realtime sim``.

The simulator is not a language model: it follows a small script (it answers
"hello", calls a tool whose name matches a word you said, reads tool results
back) and it speaks a tone code that its own decoder understands, so spoken
input for it is made with ``synthesize_speech``. See
``adk_realtime.sansio.sim.core.SimulatorBrain`` for the script.

Output is one line per happening, ``[kind] text``, so a person can follow it
and a test can check it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

try:
    import anyio

    import adk_realtime  # noqa: F401
except ImportError as exc:  # e.g. `python3 examples/x.py` with the system Python
    raise SystemExit(
        f"{sys.executable} has no {exc.name or 'adk_realtime'!r}: run the examples with "
        ".venv/bin/python (after `make demo`), or `pip install -e .` into this Python first"
    ) from None

from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
from adk_realtime.models import RealtimeModel
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.runner import (
    AgentEvent,
    AudioInterrupted,
    EventHandler,
    RealtimeEvent,
    RealtimeRunner,
)
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import AuthError, ConnectionClosed, RealtimeError

OPENAI_MODEL = "gpt-realtime"
GEMINI_MODEL = "gemini-live-2.5-flash-native-audio"
RATE = 24000  # PCM16 mono: what the examples send and what OpenAI/Gemini send back
CHUNK_MS = 20


def say(kind: str, text: str = "") -> None:
    """Print one console line, ``[kind] text``, at once (tests read these)."""
    print(f"[{kind}] {text}".rstrip(), flush=True)


# ---------------------------------------------------------------- provider


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the provider options every example takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--provider",
        choices=["sim", "openai", "gemini"],
        default="sim",
        help="sim (default): the offline simulator, no key needed; openai: OPENAI_API_KEY; "
        "gemini: GOOGLE_API_KEY (or GEMINI_API_KEY)",
    )
    p.add_argument(
        "--base-url",
        help="with --provider openai|gemini: another endpoint, e.g. a proxy or `adk-realtime sim` "
        "(OpenAI: wss://HOST/v1, Gemini: wss://HOST; http(s):// works too)",
    )
    p.add_argument(
        "--sim-api",
        choices=["openai", "gemini"],
        default="openai",
        help="which provider's wire protocol the simulator speaks (default: openai)",
    )
    p.add_argument(
        "--sim-pace",
        type=float,
        default=1.0,
        help="how fast the simulator talks: 1 is real time, 0 is all at once "
        "(default: %(default)s)",
    )
    p.add_argument("--model", help=f"model name (default {OPENAI_MODEL} / {GEMINI_MODEL})")
    p.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    return p


def check_key(args: argparse.Namespace) -> str | None:
    """The API key the chosen provider needs; exits with a clear message when it is missing.

    Call this before starting anything, so a missing key costs nothing.
    """
    if args.provider == "sim" and args.base_url:
        raise SystemExit("--base-url needs --provider openai or --provider gemini")
    if args.provider == "openai":
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise SystemExit(
                "--provider openai needs an API key: set OPENAI_API_KEY "
                "(or run without --provider to use the offline simulator)"
            )
        return key
    if args.provider == "gemini":
        key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        if not key:
            raise SystemExit(
                "--provider gemini needs an API key: set GOOGLE_API_KEY or GEMINI_API_KEY "
                "(or run without --provider to use the offline simulator)"
            )
        return key
    return None


@asynccontextmanager
async def open_model(
    args: argparse.Namespace, *, hub: Any = None, transparent_resumption: bool | None = None
) -> AsyncIterator[RealtimeModel]:
    """The model to talk to: a real provider, or one pointed at an in-process simulator.

    The simulator (when used) runs for the duration of the block, with ``hub`` (a
    ``SimulatorHub``; default: one at ``--sim-pace``). ``transparent_resumption`` is passed
    to the simulator's Gemini model (the simulator offers it on the public path too).
    """
    key = check_key(args)
    if args.provider == "openai":
        assert key is not None
        yield OpenAIRealtimeModel(key, args.model or OPENAI_MODEL, base_url=args.base_url)
        return
    if args.provider == "gemini":
        assert key is not None
        backend = GeminiLiveBackend.Public(key, base_url=args.base_url)
        yield GeminiRealtimeModel(backend, args.model or GEMINI_MODEL)
        return
    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.sansio.sim.hub import SimulatorHub

    async with run_simulator(hub=hub or SimulatorHub(pace=args.sim_pace)) as server:
        say(
            "info", f"offline simulator on 127.0.0.1:{server.port}, speaking the {args.sim_api} API"
        )
        model: RealtimeModel
        if args.sim_api == "gemini":
            backend = GeminiLiveBackend.Public("sim-key", base_url=server.url)
            model = GeminiRealtimeModel(
                backend, args.model or GEMINI_MODEL, transparent_resumption=transparent_resumption
            )
        else:
            model = OpenAIRealtimeModel(
                "sk-simulator", args.model or OPENAI_MODEL, base_url=server.openai_base_url
            )
        yield model


def voice_for(model: RealtimeModel) -> str:
    """A voice the provider knows (OpenAI and Gemini name theirs differently)."""
    return "alloy" if model.provider == "openai" else "Puck"


def run(main: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    """Run ``main(args)`` on asyncio; turn the usual failures into one clear line."""
    try:
        try:
            return anyio.run(main, args)
        except BaseExceptionGroup as group:  # a task group's failure: report the real error
            raise _first_leaf(group) from None
    except KeyboardInterrupt:
        return 130
    except AuthError as exc:
        print(f"the provider refused the API key: {exc}", file=sys.stderr)
        return 2
    except ConnectionClosed as exc:
        print(f"the connection ended unexpectedly: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:  # before OSError, its base class
        print(f"gave up after {args.timeout:g} s", file=sys.stderr)
        return 1
    except (RealtimeError, OSError) as exc:  # unreachable, refused, TLS failure...
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real error in nested groups (cancellations are only its echoes).

    A ``ConnectionClosed`` next to another error is that error's echo too (the runner's
    ``wait_connected`` after a refused key), so the other error comes first. Called after
    ``anyio.run`` returned, so no event loop is running: ``run`` uses asyncio's cancellation.
    """
    stack: list[BaseException] = [group]
    leaves: list[BaseException] = []
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack[:0] = exc.exceptions
        else:
            leaves.append(exc)
    real = [e for e in leaves if not isinstance(e, asyncio.CancelledError)]
    real.sort(key=lambda e: isinstance(e, ConnectionClosed))  # stable: the rest keep order
    return (real or leaves)[0]


# ---------------------------------------------------------------- console


class ConsoleHandler(EventHandler):
    """Prints a conversation as ``[kind] text`` lines and tells when a turn is over.

    A turn is over at the first ``ResponseDone`` that follows assistant output
    (audio, text or transcript) produced after the latest tool call: the
    response that only asked for a tool does not end the turn, the answer that
    reads its result does. Wait for it with :meth:`wait_turn`.

    Pass :meth:`sink` as the runner's ``agent_event_sink`` too: a handoff on
    Gemini reconnects, and the resumed session (which waits for the caller)
    ends that turn.
    """

    def __init__(self) -> None:
        self.audio = bytearray()  # every byte of model audio, 24 kHz PCM16
        self.assistant_lines: list[str] = []
        self._line: list[str] = []
        self._user: dict[str, list[str]] = {}
        self._output = False
        self._handoff_waiting = False
        self._turn_done = anyio.Event()
        self.resumed = anyio.Event()

    async def wait_turn(self) -> None:
        """Until the current turn is over (then the next one can start)."""
        await self._turn_done.wait()
        self._turn_done = anyio.Event()

    def sink(self, event: AgentEvent) -> None:
        if isinstance(event, RealtimeEvent) and isinstance(event.event, ev.SessionResumed):
            say("info", "session resumed on a new connection")
            self.resumed.set()
            if self._handoff_waiting:
                # Gemini hands off by reconnecting with the new agent's setup; the
                # resumed session waits for the caller, so the turn is over.
                self._handoff_waiting = False
                self._turn_done.set()

    # EventHandler ------------------------------------------------------

    def on_audio(self, audio: bytes, item_id: str) -> None:
        self.audio += audio
        self._output = True

    def on_text(self, text: str, item_id: str) -> None:
        self._line.append(text)
        self._output = True

    def on_transcript(self, text: str, item_id: str) -> None:
        self._line.append(text)
        self._output = True

    def on_input_transcript(self, text: str, item_id: str) -> None:
        self._user.setdefault(item_id, []).append(text)

    def on_speech_started(self, audio_start_ms: int) -> None:
        say("vad", f"speech started at {audio_start_ms} ms")

    def on_speech_stopped(self, audio_end_ms: int) -> None:
        say("vad", f"speech stopped at {audio_end_ms} ms")

    def on_tool_call(self, name: str, arguments: str, call_id: str) -> None:
        self._output = False  # the answer that uses this call's result is still to come
        self.flush_user()
        say("tool", f"{name}({arguments})")

    def on_handoff(self, from_agent: str, to_agent: str) -> None:
        say("handoff", f"{from_agent} -> {to_agent}")
        self._handoff_waiting = True

    def on_interrupted(self, event: AudioInterrupted) -> None:
        say("interrupted", f"{event.item_id} after {event.played_ms} ms")

    def on_error(self, error: ev.Error | BaseException) -> None:
        say("error", str(error))

    def on_response_done(self, event: ev.ResponseDone) -> None:
        self.flush_user()
        if self._line:
            text = "".join(self._line).strip()
            self._line.clear()
            self.assistant_lines.append(text)
            say("assistant", text)
        if self._output:
            self._output = False
            self._handoff_waiting = False
            self._turn_done.set()

    def on_disconnect(self, reason: str) -> None:
        self.flush_user()
        self._turn_done.set()  # nothing more will come: do not leave anyone waiting

    def flush_user(self) -> None:
        """Print what the provider heard the user say (input transcription)."""
        for parts in self._user.values():
            text = "".join(parts).strip()
            if text:
                say("user", f"(heard) {text}")
        self._user.clear()


async def converse(
    runner: RealtimeRunner, handler: ConsoleHandler, messages: list[str], timeout: float
) -> None:
    """Run ``runner`` and send each text message as a turn, waiting for each answer."""
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            for text in messages:
                say("user", text)
                await runner.send_text(text)
                await handler.wait_turn()
            await runner.close()


# ---------------------------------------------------------------- audio


async def stream_audio(
    send: Callable[[bytes, int], Awaitable[None]], pcm: bytes, rate: int
) -> None:
    """Send ``pcm`` in 20 ms chunks at real-time pace, like a microphone would."""
    chunk = rate * 2 * CHUNK_MS // 1000
    start = anyio.current_time()
    for i, offset in enumerate(range(0, len(pcm), chunk)):
        await send(pcm[offset : offset + chunk], rate)
        await anyio.sleep_until(start + (i + 1) * CHUNK_MS / 1000)


def read_wav(path: Path) -> tuple[bytes, int]:
    """A 16-bit PCM WAV file as mono PCM16 bytes and its sample rate."""
    import numpy as np

    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit PCM WAV files are supported")
        frames = src.readframes(src.getnframes())
        if src.getnchannels() > 1:
            samples = np.frombuffer(frames, "<i2").reshape(-1, src.getnchannels())
            frames = samples.mean(axis=1).astype("<i2").tobytes()
        return frames, src.getframerate()


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def decode_sim_speech(pcm: bytes, rate: int = RATE) -> str:
    """What the simulator's tone-coded speech in ``pcm`` says (empty for real voices)."""
    from adk_realtime.sansio.sim.speech import SpeechRecognizer

    recognizer = SpeechRecognizer(rate)
    recognizer.feed(pcm)
    return recognizer.text


def tool_result_printer(ctx: Any, result: Any) -> None:
    """An ``after_tool_callback`` that prints each tool's result (and keeps it)."""
    from adk_realtime.tools import encode_tool_output

    say("tool-result", f"{ctx.name} -> {encode_tool_output(result)}")
