"""The ``adk-realtime`` command line.

* ``adk-realtime demo`` — an offline spoken exchange with a tool call against
  the built-in simulator, over a real loopback WebSocket; writes the reply to
  a WAV and prints the time to first audio. Needs no key and no network.
* ``adk-realtime sim --port N`` — serve the simulator for other programs.
* ``adk-realtime talk --provider openai|gemini`` — the same assistant against a
  real provider (key from ``OPENAI_API_KEY`` / ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``), with the
  microphone and speaker (``audio`` extra) or ``--input``/``--output`` WAV files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from adk_realtime.agent import RealtimeAgent
from adk_realtime.models import RealtimeModel
from adk_realtime.runner import AudioInterrupted, EventHandler, RealtimeRunner
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import ConnectionClosed, RealtimeError
from adk_realtime.tools import function_tool

CHUNK_MS = 20
DEMO_QUESTION = "What is the weather in Paris?"


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city name, e.g. Paris.
    """
    table = {"paris": (18, "sunny"), "london": (12, "cloudy"), "tokyo": (22, "clear")}
    temp, sky = table.get(city.strip().lower(), (20, "mild"))
    return {"city": city, "temperature_c": temp, "conditions": sky}


def build_assistant(model: RealtimeModel) -> RealtimeAgent:
    return (
        RealtimeAgent.builder("voice_assistant")
        .model(model)
        .instruction("You are a helpful voice assistant. Use get_weather for weather questions.")
        .voice(model.default_voice)
        .server_vad()
        .tool(get_weather)
        .input_transcription()
        .build()
    )


# ------------------------------------------------------------------ output


class Console:
    """Prints the live view: plain lines (rich when installed) or JSON lines."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self._rich: Any = None
        if not json_mode:
            try:
                from rich.console import Console as RichConsole

                self._rich = RichConsole(highlight=False)
            except ImportError:
                self._rich = None

    def event(self, kind: str, text: str = "", **data: Any) -> None:
        if self.json_mode:
            print(json.dumps({"event": kind, "text": text, **data}), flush=True)
            return
        styles = {
            "user": "bold cyan",
            "assistant": "bold green",
            "tool": "bold yellow",
            "info": "dim",
            "error": "bold red",
        }
        label = f"[{kind}]"
        self._clear_meter()
        if self._rich is not None:
            from rich.markup import escape

            style = styles.get(kind, "")
            self._rich.print(f"[{style}]{escape(label)}[/{style}] {escape(text)}")
        else:
            print(f"{label} {text}", flush=True)

    _meter_shown = False

    def level(self, rms_db: float) -> None:
        """A one-line input level meter, redrawn in place (terminals only)."""
        if self.json_mode or not sys.stderr.isatty():
            return
        bars = max(0, min(30, int((rms_db + 60) / 2)))
        sys.stderr.write(f"\r  mic {'#' * bars}{' ' * (30 - bars)} {rms_db:6.1f} dBFS")
        sys.stderr.flush()
        self._meter_shown = True

    def _clear_meter(self) -> None:
        if self._meter_shown:
            sys.stderr.write("\r" + " " * 50 + "\r")
            sys.stderr.flush()
            self._meter_shown = False


@dataclass
class DemoHandler(EventHandler):
    console: Console
    audio: bytearray = field(default_factory=bytearray)
    transcript: list[str] = field(default_factory=list)
    user_transcript: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    responses_with_audio: int = 0
    first_audio_at: float | None = None
    speech_stopped_at: float | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    _line: list[str] = field(default_factory=list)
    _audio_this_response: bool = False

    def on_audio(self, audio: bytes, item_id: str) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = anyio.current_time()
        self._audio_this_response = True
        self.audio += audio

    def on_transcript(self, text: str, item_id: str) -> None:
        self._line.append(text)

    def on_input_transcript(self, text: str, item_id: str) -> None:
        self.user_transcript.append(text)
        self.console.event("user", text)

    def on_speech_started(self, audio_start_ms: int) -> None:
        self.console.event("info", f"speech started at {audio_start_ms} ms")

    def on_speech_stopped(self, audio_end_ms: int) -> None:
        self.speech_stopped_at = anyio.current_time()
        self.console.event("info", f"speech stopped at {audio_end_ms} ms")

    def on_tool_call(self, name: str, arguments: str, call_id: str) -> None:
        self.tool_calls.append((name, arguments))
        self.console.event("tool", f"{name}({arguments})")

    def on_response_done(self, event: ev.ResponseDone) -> None:
        if self._line:
            text = "".join(self._line)
            self.transcript.append(text)
            self.console.event("assistant", text)
            self._line.clear()
        if self._audio_this_response:
            self.responses_with_audio += 1
            self._audio_this_response = False
            if self.tool_calls:
                self.done.set()

    def on_interrupted(self, event: AudioInterrupted) -> None:
        self.console.event("info", f"interrupted {event.item_id} at {event.played_ms} ms")

    def on_error(self, error: ev.Error | BaseException) -> None:
        self.console.event("error", str(error))

    def on_disconnect(self, reason: str) -> None:
        self.done.set()


def write_wav(path: Path, pcm: bytes, rate: int = 24000) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def read_wav(path: Path) -> tuple[bytes, int]:
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (give a 16-bit PCM WAV with --input)")
    try:
        src = wave.open(str(path), "rb")
    except (wave.Error, EOFError) as exc:
        raise SystemExit(f"{path}: not a PCM WAV file ({str(exc) or type(exc).__name__})") from None
    with src:
        if src.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit PCM WAV files are supported")
        frames = src.readframes(src.getnframes())
        rate = src.getframerate()
        if src.getnchannels() > 1:
            samples = np.frombuffer(frames, "<i2").reshape(-1, src.getnchannels())
            frames = samples.mean(axis=1).astype("<i2").tobytes()
        return frames, rate


async def stream_audio(
    runner: RealtimeRunner, pcm: bytes, rate: int, console: Console | None, *, pace: bool
) -> None:
    """Send ``pcm`` in 20 ms chunks, at real-time pace when ``pace``."""
    chunk = rate * 2 * CHUNK_MS // 1000
    start = anyio.current_time()
    for i, offset in enumerate(range(0, len(pcm), chunk)):
        piece = pcm[offset : offset + chunk]
        await runner.send_audio(piece, rate)
        if console is not None and i % 5 == 0:
            samples = np.frombuffer(piece, "<i2").astype(np.float64)
            rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
            console.level(20 * np.log10(max(rms, 1.0) / 32768.0))
        if pace:
            await anyio.sleep_until(start + (i + 1) * CHUNK_MS / 1000)


# ------------------------------------------------------------------ demo


async def run_demo(args: argparse.Namespace) -> int:
    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
    from adk_realtime.openai import OpenAIRealtimeModel
    from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

    console = Console(args.json)
    async with run_simulator() as server:
        model: RealtimeModel
        if args.provider == "gemini":
            model = GeminiRealtimeModel(
                GeminiLiveBackend.Public("sim-key", base_url=f"ws://127.0.0.1:{server.port}"),
                "gemini-live-2.5-flash-native-audio",
            )
        else:
            model = OpenAIRealtimeModel(
                "sk-simulator", "gpt-realtime", base_url=server.openai_base_url
            )
        console.event("info", f"simulator on 127.0.0.1:{server.port}; provider {model.provider}")
        handler = DemoHandler(console)
        runner = RealtimeRunner(agent=build_assistant(model), event_handler=handler)
        rate = 24000
        spoken = synthesize_speech(args.question, rate)
        question = spoken + bytes(rate * 2 * 800 // 1000)
        console.event("user", f"(speaking) {args.question}")
        started = anyio.current_time()
        with anyio.fail_after(args.timeout):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.run)
                await runner.wait_connected()
                speech_end_at = anyio.current_time() + len(spoken) / (rate * 2)
                meter = None if args.json else console
                await stream_audio(runner, question, rate, meter, pace=True)
                await handler.done.wait()
                await runner.close()
    out = Path(args.output)
    write_wav(out, bytes(handler.audio))
    heard = SpeechRecognizer(24000)
    heard.feed(bytes(handler.audio))
    # From the end of the user's speech (the provider's VAD event, or where the
    # spoken question ended when the provider sends none) to the first reply audio.
    end_of_speech = handler.speech_stopped_at or speech_end_at
    latency = (
        (handler.first_audio_at - end_of_speech) * 1000 if handler.first_audio_at else float("nan")
    )
    seconds = len(handler.audio) / 48000
    console.event("info", f"reply audio decoded back from the WAV: {heard.text!r}")
    console.event(
        "info",
        f"wrote {out} ({seconds:.2f} s of 24 kHz audio); time to first audio "
        f"{latency:.0f} ms after end of speech; whole exchange {anyio.current_time() - started:.2f} s",
        time_to_first_audio_ms=round(latency, 1),
        wav=str(out),
        tool_calls=len(handler.tool_calls),
    )
    if not handler.tool_calls or not handler.audio:
        console.event("error", "the exchange did not complete (no tool call or no audio)")
        return 1
    return 0


async def run_sim(args: argparse.Namespace) -> int:
    import ssl

    from adk_realtime.drivers.simulator import run_simulator

    ctx = None
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    async with contextlib.AsyncExitStack() as stack:
        try:
            server = await stack.enter_async_context(
                run_simulator(args.host, args.port, ssl_context=ctx)
            )
        except OSError as exc:
            raise SystemExit(
                f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc} "
                "(pick another port with --port, or --port 0 for any free one)"
            ) from None
        scheme = "wss" if ctx else "ws"
        print(f"simulator listening on {scheme}://{args.host}:{server.port}", flush=True)
        print(f"  OpenAI: base_url={scheme}://{args.host}:{server.port}/v1", flush=True)
        print(f"  Gemini: base_url={scheme}://{args.host}:{server.port}", flush=True)
        await anyio.sleep_forever()
    return 0


async def run_talk(args: argparse.Namespace) -> int:
    from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
    from adk_realtime.openai import OpenAIRealtimeModel

    console = Console(args.json)
    model: RealtimeModel
    if args.provider == "gemini":
        key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        if not key:
            raise SystemExit("set GOOGLE_API_KEY (or GEMINI_API_KEY) to talk to Gemini Live")
        model = GeminiRealtimeModel(
            GeminiLiveBackend.Public(key, base_url=args.base_url),
            args.model or "gemini-live-2.5-flash-native-audio",
        )
    else:
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise SystemExit("set OPENAI_API_KEY to talk to the OpenAI Realtime API")
        model = OpenAIRealtimeModel(key, args.model or "gpt-realtime", base_url=args.base_url)
    handler = DemoHandler(console)
    runner = RealtimeRunner(agent=build_assistant(model), event_handler=handler)
    if args.input:
        pcm, rate = read_wav(Path(args.input))
        pcm += bytes(rate * 2)  # a second of silence ends the turn
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            await stream_audio(runner, pcm, rate, console, pace=True)
            with anyio.move_on_after(args.timeout):
                await handler.done.wait()
            await runner.close()
        write_wav(Path(args.output), bytes(handler.audio))
        console.event("info", f"wrote {args.output}")
        return 0
    try:
        import sounddevice  # noqa: F401
    except ImportError:
        raise SystemExit(
            "live microphone needs the audio extra (pip install 'adk-realtime[audio]'); "
            "or pass --input question.wav --output reply.wav"
        ) from None
    from adk_realtime.live_audio import run_live_audio

    await run_live_audio(runner, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="adk-realtime", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline spoken exchange with a tool call (no key needed)")
    demo.add_argument(
        "--provider",
        choices=["openai", "gemini"],
        default="openai",
        help="which wire protocol the simulator speaks (default: openai)",
    )
    demo.add_argument("--question", default=DEMO_QUESTION, help="what the user says")
    demo.add_argument(
        "--output", default="demo_reply.wav", help="where to write the reply (default: %(default)s)"
    )
    demo.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    demo.add_argument(
        "--json", action="store_true", help="machine-readable events, one JSON object a line"
    )
    sim = sub.add_parser("sim", help="serve the simulator on loopback")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    sim.add_argument(
        "--port", type=int, default=8765, help="port to listen on (%(default)s; 0: any free one)"
    )
    sim.add_argument("--tls-cert", help="serve wss:// with this certificate (PEM)")
    sim.add_argument("--tls-key", help="the certificate's private key (PEM)")
    talk = sub.add_parser("talk", help="talk to a real provider (key from the environment)")
    talk.add_argument(
        "--provider",
        choices=["openai", "gemini"],
        default="openai",
        help="openai (OPENAI_API_KEY) or gemini (GOOGLE_API_KEY or GEMINI_API_KEY)",
    )
    talk.add_argument(
        "--model", help="model name (default gpt-realtime / gemini-live-2.5-flash-native-audio)"
    )
    talk.add_argument("--base-url", help="another endpoint (a proxy, or `adk-realtime sim`)")
    talk.add_argument("--input", help="a 16-bit WAV to send instead of the microphone")
    talk.add_argument(
        "--output", default="reply.wav", help="where --input mode writes the reply (%(default)s)"
    )
    talk.add_argument(
        "--timeout", type=float, default=60.0, help="--input mode: wait this long for the answer"
    )
    talk.add_argument(
        "--json", action="store_true", help="machine-readable events, one JSON object a line"
    )
    args = parser.parse_args(argv)
    runners = {"demo": run_demo, "sim": run_sim, "talk": run_talk}
    try:
        return anyio.run(runners[args.command], args)
    except BaseException as exc:  # sorted out below: a clear line instead of a traceback
        leaves = _leaves(exc)
        error: BaseException
        for kind in (KeyboardInterrupt, BrokenPipeError, SystemExit):
            if any(isinstance(e, kind) for e in leaves):
                error = next(e for e in leaves if isinstance(e, kind))
                break
        else:
            known = [e for e in leaves if isinstance(e, RealtimeError | OSError | TimeoutError)]
            if not known:
                raise
            # A connect failure also makes waiters see "not connected": name the cause.
            causes = [e for e in known if not isinstance(e, ConnectionClosed)]
            error = (causes or known)[0]
        if isinstance(error, KeyboardInterrupt):
            return 130
        if isinstance(error, BrokenPipeError):  # e.g. `adk-realtime demo --json | head`
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        if isinstance(error, SystemExit):
            raise error from None
        what = "timed out" if isinstance(error, TimeoutError) else str(error)
        print(f"adk-realtime {args.command}: {what or type(error).__name__}", file=sys.stderr)
        return 1


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


if __name__ == "__main__":
    sys.exit(main())
