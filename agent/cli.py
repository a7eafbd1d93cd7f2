"""The ``adk-realtime`` command line.

* ``adk-realtime demo`` — an offline spoken exchange with a tool call against
  the built-in simulator, over a real loopback WebSocket; writes the reply to
  a WAV and prints the time to first audio. Needs no key and no network.
* ``adk-realtime sim --port N`` — serve the simulator for other programs.
* ``adk-realtime talk --provider openai|gemini`` — the same assistant against a
  real provider (key from ``OPENAI_API_KEY`` / ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``), with the
  microphone and speaker (``audio`` extra) or ``--input``/``--output`` WAV files.
* ``adk-realtime phone serve|call`` — the assistant on the telephone (Twilio, Telnyx,
  Plivo) and a simulated caller: see :mod:`adk_realtime.cli_phone`.
* ``adk-realtime sip serve`` — the assistant answering SIP calls directly: see
  :mod:`adk_realtime.cli_sip`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import numpy as np

import adk_realtime
from adk_realtime.cli_common import (
    DEMO_QUESTION as DEMO_QUESTION,
    Console as Console,
    build_assistant as build_assistant,
    cannot_serve as cannot_serve,
    check_writable as check_writable,
    get_weather as get_weather,
)
from adk_realtime.cli_phone import add_phone_commands, run_phone
from adk_realtime.cli_sip import add_sip_commands, run_sip
from adk_realtime.models import RealtimeModel
from adk_realtime.runner import AudioInterrupted, EventHandler, RealtimeRunner
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.audio import SUPPORTED_RATES
from adk_realtime.sansio.errors import AuthError, ConfigError, ConnectionClosed, RealtimeError

CHUNK_MS = 20
# ------------------------------------------------------------------ output


@dataclass
class DemoHandler(EventHandler):
    """Shows the conversation; ``done`` is set once the model has answered (a response
    ended with speech after its last tool call) or the connection ended."""

    console: Console
    audio: bytearray = field(default_factory=bytearray)
    transcript: list[str] = field(default_factory=list)
    user_transcript: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    responses_with_audio: int = 0
    answered: bool = False
    first_audio_at: float | None = None
    speech_stopped_at: float | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    _line: list[str] = field(default_factory=list)
    _audio_this_response: bool = False
    _spoke_after_tools: bool = False

    def on_audio(self, audio: bytes, item_id: str) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = anyio.current_time()
        self._audio_this_response = self._spoke_after_tools = True
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
        self._spoke_after_tools = False  # the answer is what the model says after the result
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
        if self._spoke_after_tools:
            self.answered = True
            self.done.set()

    def on_interrupted(self, event: AudioInterrupted) -> None:
        self.console.event("info", f"interrupted {event.item_id} at {event.played_ms} ms")

    def on_error(self, error: ev.Error | BaseException) -> None:
        # A failure (an exception) ends the run and main() reports it, once, on stderr;
        # here only the provider's error events, which the conversation survives.
        if not isinstance(error, BaseException):
            self.console.event("error", str(error))

    def on_disconnect(self, reason: str) -> None:
        self.done.set()


def write_wav(path: Path, pcm: bytes, rate: int = 24000) -> None:
    with path.open("wb") as f, wave.open(f, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def resample_clip(pcm: bytes, src: int, dst: int) -> bytes:
    """Convert a whole PCM16 clip between any two rates (band-limited, through the FFT).

    For WAV files at rates the streaming resampler does not take (44.1 kHz, 22.05 kHz,
    32 kHz...); the whole file is in memory anyway.
    """
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    n = len(x)
    m = round(n * dst / src)
    if n == 0 or m == 0:
        return b""
    spectrum = np.fft.rfft(x)
    bins = m // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]  # drop what the new rate cannot carry
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), complex)])
    y = np.fft.irfft(spectrum, n=m) * (m / n)
    return np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()


def read_wav(path: Path, console: Console | None = None) -> tuple[bytes, int]:
    """A 16-bit PCM WAV as mono PCM16 at a rate ``send_audio`` takes (others are resampled
    to 24 kHz)."""
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
    if rate not in SUPPORTED_RATES:
        frames, old, rate = resample_clip(frames, rate, 24000), rate, 24000
        if console is not None:
            console.event("info", f"{path.name}: {old} Hz audio resampled to {rate} Hz")
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


async def converse(
    runner: RealtimeRunner,
    handler: DemoHandler,
    pcm: bytes,
    rate: int,
    meter: Console | None,
    timeout: float,
) -> tuple[float | None, bool]:
    """Connect, speak ``pcm`` at real-time pace and wait for the answer: ``timeout`` seconds
    plus the time the speech takes, in all. Returns when the speech started (None: it did
    not) and whether the time ran out."""
    started: float | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        with anyio.move_on_after(timeout + len(pcm) / (2 * rate)) as waiting:
            await runner.wait_connected()
            started = anyio.current_time()
            await stream_audio(runner, pcm, rate, meter, pace=True)
            await handler.done.wait()
        if waiting.cancelled_caught:
            tg.cancel_scope.cancel()
        else:
            await runner.close()
    return started, waiting.cancelled_caught


def no_answer(handler: DemoHandler, timeout: float, timed_out: bool) -> str:
    if not timed_out:
        return "the connection ended before the model answered"
    if handler.audio:
        return f"the answer did not finish within {timeout:g} s (--timeout)"
    return f"no answer within {timeout:g} s (--timeout)"


async def run_demo(args: argparse.Namespace) -> int:
    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
    from adk_realtime.openai import OpenAIRealtimeModel
    from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

    out = Path(args.output)
    check_writable(out, "--output")
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
        meter = None if args.json else console
        speaking_at, timed_out = await converse(
            runner, handler, question, rate, meter, args.timeout
        )
    if not handler.answered:
        raise SystemExit(no_answer(handler, args.timeout, timed_out))
    write_wav(out, bytes(handler.audio))
    heard = SpeechRecognizer(24000)
    heard.feed(bytes(handler.audio))
    # From the end of the user's speech (the provider's VAD event, or where the
    # spoken question ended when the provider sends none) to the first reply audio.
    end_of_speech = handler.speech_stopped_at or (speaking_at or started) + len(spoken) / (rate * 2)
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
    if args.question == DEMO_QUESTION and not handler.tool_calls:
        console.event("error", "the model answered without calling get_weather")
        return 1
    return 0


def sim_tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The server context of ``sim --tls-cert/--tls-key``; a mistake exits with one line."""
    if cert is None:
        if key is not None:
            raise SystemExit("--tls-key needs --tls-cert too (the certificate, PEM)")
        return None
    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not Path(path).is_file():
            raise SystemExit(f"{option} {path}: no such file (give a PEM file)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        if key is None:
            raise SystemExit(
                f"--tls-cert {cert}: no certificate with its private key in it "
                f"({exc.reason or exc}); give the key with --tls-key KEY.pem"
            ) from None
        raise SystemExit(
            f"--tls-cert {cert} / --tls-key {key}: cannot load them ({exc.reason or exc}); "
            "give a PEM certificate and its own private key"
        ) from None
    return ctx


async def run_sim(args: argparse.Namespace) -> int:
    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.sansio.sim.hub import SimulatorHub

    ctx = sim_tls_context(args.tls_cert, args.tls_key)
    director = None
    if args.scenario:
        # lazy: only a scenario run needs the loader
        from adk_realtime.sansio.sim.scenario_session import ScenarioDirector
        from adk_realtime.scenario_file import ScenarioFileError, load_scenario

        try:
            director = ScenarioDirector(load_scenario(args.scenario))
        except ScenarioFileError as exc:
            raise SystemExit(f"--scenario: {exc}") from None
    try:
        hub = SimulatorHub(
            api_key=args.api_key,
            session_max_seconds=args.session_max_seconds,
            drop_after=args.drop_after,
            drops=args.drops,
        )
    except ConfigError as exc:
        option = "--" + exc.field.replace("_", "-")
        raise SystemExit(f"{option}: {str(exc).partition(': ')[2]}") from None
    async with contextlib.AsyncExitStack() as stack:
        try:
            server = await stack.enter_async_context(
                run_simulator(args.host, args.port, ssl_context=ctx, hub=hub, director=director)
            )
        except OSError as exc:
            raise SystemExit(cannot_serve(args.host, args.port, exc)) from None
        scheme = "wss" if ctx else "ws"
        print(f"simulator listening on {scheme}://{args.host}:{server.port}", flush=True)
        print(f"  OpenAI: base_url={scheme}://{args.host}:{server.port}/v1", flush=True)
        print(f"  Gemini: base_url={scheme}://{args.host}:{server.port}", flush=True)
        if args.api_key:
            print("  clients must present the key given with --api-key", flush=True)
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
        out = Path(args.output)
        pcm, rate = read_wav(Path(args.input), console)
        check_writable(out, "--output")
        pcm += bytes(rate * 2)  # a second of silence ends the turn
        _, timed_out = await converse(runner, handler, pcm, rate, console, args.timeout)
        if not handler.answered:
            if handler.audio:
                write_wav(out, bytes(handler.audio))
                console.event("info", f"wrote the part received to {out}")
            heard = handler.user_transcript or not timed_out
            hint = "" if heard else "; was there speech in the --input WAV?"
            raise SystemExit(no_answer(handler, args.timeout, timed_out) + hint)
        write_wav(out, bytes(handler.audio))
        console.event("info", f"wrote {out}")
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
    parser.add_argument(
        "--version", action="version", version=f"adk-realtime {adk_realtime.__version__}"
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
    demo.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="wait this long for the answer after the question (%(default)s s)",
    )
    demo.add_argument(
        "--json", action="store_true", help="machine-readable events, one JSON object a line"
    )
    sim = sub.add_parser("sim", help="serve the simulator on loopback")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    sim.add_argument(
        "--port", type=int, default=8765, help="port to listen on (%(default)s; 0: any free one)"
    )
    sim.add_argument(
        "--scenario",
        help="play this scenario file (YAML or JSON; see the README's testing section)",
    )
    sim.add_argument("--tls-cert", help="serve wss:// with this certificate (PEM)")
    sim.add_argument("--tls-key", help="the certificate's private key (PEM)")
    sim.add_argument(
        "--api-key", help="accept only this key (default: any), to try a client's AuthError"
    )
    sim.add_argument(
        "--session-max-seconds",
        type=float,
        metavar="S",
        help="end every session S seconds after it opens, as the providers' session cap does "
        "(OpenAI: expires_at, then a session_expired error and close; Gemini: goAway, close)",
    )
    sim.add_argument(
        "--drop-after",
        type=float,
        metavar="S",
        help="fault: drop the first --drops sessions S seconds after they open, with no close "
        "frame (the client sees 1006), to try a client's reconnect",
    )
    sim.add_argument(
        "--drops", type=int, default=1, metavar="N", help="how many sessions --drop-after drops (1)"
    )
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
    talk.add_argument(
        "--input", help="a 16-bit WAV (any sample rate) to send instead of the microphone"
    )
    talk.add_argument(
        "--output", default="reply.wav", help="where --input mode writes the reply (%(default)s)"
    )
    talk.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="--input mode: wait this long for the answer after the input (%(default)s s)",
    )
    talk.add_argument(
        "--json", action="store_true", help="machine-readable events, one JSON object a line"
    )
    add_phone_commands(sub)
    add_sip_commands(sub)
    args = parser.parse_args(argv)
    runners = {"demo": run_demo, "sim": run_sim, "talk": run_talk, "phone": run_phone}
    runners["sip"] = run_sip
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
            if isinstance(error.code, str):  # a message: one line, naming the command
                raise SystemExit(f"adk-realtime {args.command}: {error.code}") from None
            raise error from None
        what = "timed out" if isinstance(error, TimeoutError) else str(error)
        what = " ".join(what.split()) or type(error).__name__  # one line, whatever the server sent
        print(f"adk-realtime {args.command}: {what}{_advice(args, error)}", file=sys.stderr)
        return 1


def _advice(args: argparse.Namespace, error: BaseException) -> str:
    """What to do about a failure of ``talk`` (the other commands need no key or network)."""
    if args.command != "talk":
        return ""
    if isinstance(error, AuthError):
        env = "GOOGLE_API_KEY" if args.provider == "gemini" else "OPENAI_API_KEY"
        return f" (check the key in {env})"
    return ""


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


if __name__ == "__main__":
    sys.exit(main())
