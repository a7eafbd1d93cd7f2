"""``adk-realtime phone``: serve phone calls to the demo agent, or place a simulated call.

* ``adk-realtime phone serve [--port 8080]`` — the demo assistant (with its weather
  tool) behind the Twilio, Telnyx and Plivo endpoints, against the offline simulator
  (``--provider sim``, the default: no key, no network) or a real provider (key from
  the environment). Prints the URLs to give a carrier.
* ``adk-realtime phone call URL`` — the simulated caller: dials the webhook (or a
  media stream) as the carrier does, asks ``--question`` as speech, plays the answer
  in real time, prints what it heard and writes it to a WAV.

Offline, in two shells::

    adk-realtime phone serve --port 8080
    adk-realtime phone call http://127.0.0.1:8080/twilio/voice

``phone serve`` drains on SIGTERM or Ctrl-C (no new call; the active ones get up to
``--drain-seconds``); ``--workers N`` runs N worker processes on the one port
(:mod:`adk_realtime.serving`).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from adk_realtime.cli_common import (
    DEMO_QUESTION,
    Console,
    build_assistant,
    cannot_serve,
    check_writable,
)
from adk_realtime.models import RealtimeModel
from adk_realtime.runner import EventHandler
from adk_realtime.sansio import events as ev

if TYPE_CHECKING:  # the phone modules load when a phone command runs
    from adk_realtime.phone_caller import CarrierName
    from adk_realtime.phone_server import PhoneServer  # lazy: loads when serving
    from adk_realtime.serving import WorkerInfo

__all__ = ["add_phone_commands", "phone_worker", "run_phone"]

_ENV = {
    "twilio": "TWILIO_AUTH_TOKEN",
    "plivo": "PLIVO_AUTH_TOKEN",
    "telnyx_public": "TELNYX_PUBLIC_KEY",
    "telnyx_private": "TELNYX_PRIVATE_KEY",
}


def add_phone_commands(sub: Any) -> None:
    """Add ``phone serve`` and ``phone call`` to the ``adk-realtime`` parser."""
    phone = sub.add_parser(
        "phone",
        help="serve phone calls to the demo agent, or place a simulated call",
        description="Serve phone calls to the demo agent, or place a simulated call.",
    )
    commands = phone.add_subparsers(dest="phone_command", required=True)
    serve = commands.add_parser(
        "serve", help="the demo agent behind Twilio, Telnyx and Plivo endpoints"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument(
        "--port", type=int, default=8080, help="port to listen on (%(default)s; 0: any free one)"
    )
    serve.add_argument(
        "--provider",
        choices=["sim", "openai", "gemini"],
        default="sim",
        help="sim (default): the offline simulator, no key; openai: OPENAI_API_KEY; "
        "gemini: GOOGLE_API_KEY or GEMINI_API_KEY",
    )
    serve.add_argument("--base-url", help="with openai|gemini: another endpoint (a proxy)")
    serve.add_argument("--model", help="model name (default gpt-realtime / gemini-live-2.5-...)")
    serve.add_argument(
        "--public-url",
        help="where the carriers reach this server, e.g. https://abc.ngrok.app (a tunnel to "
        "this port); signatures are checked over it (default: http://HOST:PORT)",
    )
    serve.add_argument(
        "--twilio-auth-token",
        default=os.environ.get(_ENV["twilio"]),
        help=f"verify Twilio's signatures with this token (default: ${_ENV['twilio']})",
    )
    serve.add_argument(
        "--telnyx-public-key",
        default=os.environ.get(_ENV["telnyx_public"]),
        help=f"verify Telnyx's signatures with this base64 key (default: ${_ENV['telnyx_public']})",
    )
    serve.add_argument(
        "--plivo-auth-token",
        default=os.environ.get(_ENV["plivo"]),
        help=f"verify Plivo's signatures with this token (default: ${_ENV['plivo']})",
    )
    serve.add_argument(
        "--max-calls", type=int, help="calls at once (per worker); more are answered busy"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (%(default)s: this process serves)",
    )
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="on SIGTERM/Ctrl-C, how long active calls may go on before they are ended "
        "(%(default)s)",
    )
    call = commands.add_parser("call", help="a simulated caller: dial a phone server as a carrier")
    call.add_argument("url", help="the webhook (http://HOST:PORT/twilio/voice) or a ws:// stream")
    call.add_argument("--question", default=DEMO_QUESTION, help="what the caller says")
    call.add_argument(
        "--carrier",
        choices=["twilio", "telnyx", "plivo"],
        help="which carrier to play (default: from the URL's path, else twilio)",
    )
    call.add_argument(
        "--wav", default="phone_call.wav", help="where to write what was heard (%(default)s)"
    )
    call.add_argument(
        "--twilio-auth-token",
        default=os.environ.get(_ENV["twilio"]),
        help=f"sign as Twilio does (default: ${_ENV['twilio']})",
    )
    call.add_argument(
        "--plivo-auth-token",
        default=os.environ.get(_ENV["plivo"]),
        help=f"sign as Plivo does (default: ${_ENV['plivo']})",
    )
    call.add_argument(
        "--telnyx-private-key",
        default=os.environ.get(_ENV["telnyx_private"]),
        help=f"sign as Telnyx does: a base64 Ed25519 seed (default: ${_ENV['telnyx_private']})",
    )
    call.add_argument("--dtmf", default="", help="keys to press after the question, e.g. 12#")
    call.add_argument(
        "--interrupt-with", help="say this over the answer once it has played a while (barge-in)"
    )
    call.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="hang up if no answer comes this long after the question (%(default)s s)",
    )
    call.add_argument(
        "--json", action="store_true", help="machine-readable events, one JSON object a line"
    )


async def run_phone(args: argparse.Namespace) -> int:
    if args.phone_command == "serve":
        return await run_serve(args)
    return await run_call(args)


# ------------------------------------------------------------------ serve


class CallConsole(EventHandler):
    """Prints what happens on the calls (shared by every call: lines are per item)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lines: dict[str, list[str]] = {}

    def on_input_transcript(self, text: str, item_id: str) -> None:
        self.console.event("caller", text)

    def on_transcript(self, text: str, item_id: str) -> None:
        self._lines.setdefault(item_id, []).append(text)

    def on_tool_call(self, name: str, arguments: str, call_id: str) -> None:
        self.console.event("tool", f"{name}({arguments})")

    def on_response_done(self, event: ev.ResponseDone) -> None:
        for item_id in list(self._lines):
            self.console.event("assistant", "".join(self._lines.pop(item_id)).strip())

    def on_error(self, error: ev.Error | BaseException) -> None:
        if not isinstance(error, BaseException):
            self.console.event("error", str(error))


@asynccontextmanager
async def open_phone_model(
    args: argparse.Namespace, console: Console
) -> AsyncIterator[RealtimeModel]:
    """The model behind the phone: the in-process simulator, or a real provider."""
    from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
    from adk_realtime.openai import OpenAIRealtimeModel

    if args.provider == "openai":
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise SystemExit("--provider openai needs OPENAI_API_KEY set")
        yield OpenAIRealtimeModel(key, args.model or "gpt-realtime", base_url=args.base_url)
        return
    if args.provider == "gemini":
        key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        if not key:
            raise SystemExit("--provider gemini needs GOOGLE_API_KEY (or GEMINI_API_KEY) set")
        model_id = args.model or "gemini-live-2.5-flash-native-audio"
        yield GeminiRealtimeModel(GeminiLiveBackend.Public(key, base_url=args.base_url), model_id)
        return
    if args.base_url:
        raise SystemExit("--base-url needs --provider openai or --provider gemini")
    from adk_realtime.drivers.simulator import run_simulator

    async with run_simulator() as sim:
        console.event("info", f"offline simulator on 127.0.0.1:{sim.port} (OpenAI's protocol)")
        yield OpenAIRealtimeModel(
            "sk-simulator", args.model or "gpt-realtime", base_url=sim.openai_base_url
        )


def _check_serve_args(args: argparse.Namespace) -> None:
    if args.max_calls is not None and args.max_calls < 1:
        raise SystemExit("--max-calls must be at least 1")
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    if not 0 < args.drain_seconds < 86400:
        raise SystemExit("--drain-seconds must be more than 0")


def _phone_server(
    args: argparse.Namespace, model: RealtimeModel, console: Console, worker: WorkerInfo | None
) -> PhoneServer:
    from adk_realtime.phone_server import PhoneServer  # lazy: loads when serving

    return PhoneServer(
        model,
        build_assistant(model),
        public_url=args.public_url,
        twilio_auth_token=args.twilio_auth_token or None,
        telnyx_public_key=args.telnyx_public_key or None,
        plivo_auth_token=args.plivo_auth_token or None,
        max_calls=args.max_calls,
        event_handler=CallConsole(console),
        stream_key=worker.stream_key if worker is not None else None,
        worker_id=worker.id if worker is not None else None,
    )


async def run_serve(args: argparse.Namespace) -> int:
    from adk_realtime.phone_server import serve_phone

    _check_serve_args(args)
    if args.workers > 1:
        return await _run_workers(args)
    console = Console(False)
    async with contextlib.AsyncExitStack() as stack:
        signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT))
        model = await stack.enter_async_context(open_phone_model(args, console))
        server = _phone_server(args, model, console, None)
        try:
            where = await stack.enter_async_context(serve_phone(server, args.host, args.port))
        except OSError as exc:
            raise SystemExit(cannot_serve(args.host, args.port, exc)) from None
        urls = server.urls
        print(
            f"phone server listening on {args.host}:{where.port}; agent on {model.provider} {model.model_id}",
            flush=True,
        )
        names = {
            "twilio": "Twilio voice webhook",
            "telnyx": "Telnyx TeXML webhook",
            "plivo": "Plivo answer URL",
        }
        for carrier, webhook in urls.webhooks.items():
            verified = carrier in server.routes.verified
            checked = "signatures checked" if verified else "NOT verified"
            print(f"  {names[carrier]} (POST): {webhook}  [{checked}]", flush=True)
            token = "/<a token per call>" if verified else ""
            print(f"    its media stream: {urls.media[carrier]}{token}", flush=True)
        print(f"  health: {urls.health}", flush=True)
        if args.public_url is None:
            print(
                "  a carrier needs a public https URL: run a tunnel to this port and pass "
                "--public-url https://<tunnel host>",
                flush=True,
            )
        first = next(iter(urls.webhooks.values()))
        print(f"  try it: adk-realtime phone call {first}", flush=True)
        async for _signum in signals:
            break
        print(f"draining: no new calls; {server.active_calls} active", flush=True)
        await server.drain(args.drain_seconds)  # a second signal waits in the receiver
    return 0


def _worker_argv(args: argparse.Namespace) -> list[str]:
    """The options a worker rebuilds its server from (secrets travel in the environment,
    never on a command line that ``ps`` shows)."""
    argv = ["--provider", args.provider, "--host", args.host, "--port", str(args.port)]
    for option, value in (
        ("--base-url", args.base_url),
        ("--model", args.model),
        ("--public-url", args.public_url),
        ("--max-calls", args.max_calls),
    ):
        if value is not None:
            argv += [option, str(value)]
    return argv


async def _run_workers(args: argparse.Namespace) -> int:
    from adk_realtime.serving import bind_listening_socket, supervise  # lazy: with --workers

    env = dict(os.environ)
    for name, value in (
        (_ENV["twilio"], args.twilio_auth_token),
        (_ENV["telnyx_public"], args.telnyx_public_key),
        (_ENV["plivo"], args.plivo_auth_token),
    ):
        env.pop(name, None)
        if value:
            env[name] = value
    try:
        sock = bind_listening_socket(args.host, args.port)
    except OSError as exc:
        raise SystemExit(cannot_serve(args.host, args.port, exc)) from None
    port = sock.getsockname()[1]
    argv = _worker_argv(args)
    argv[argv.index("--port") + 1] = str(port)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    print(
        f"phone server listening on {args.host}:{port} with {args.workers} workers",
        flush=True,
    )
    print(
        f"  health: http://{shown}:{port}/healthz (ready: /readyz, metrics: /metrics)", flush=True
    )
    print(f"  try it: adk-realtime phone call http://{shown}:{port}/twilio/voice", flush=True)
    try:
        return await supervise(
            "adk_realtime.cli_phone:phone_worker",
            workers=args.workers,
            drain_seconds=args.drain_seconds,
            app_args=argv,
            env=env,
            sock=sock,
        )
    finally:
        sock.close()


@asynccontextmanager
async def phone_worker(worker: WorkerInfo) -> AsyncIterator[PhoneServer]:
    """One worker of ``phone serve --workers N`` (started by :mod:`adk_realtime.serving`)."""
    parser = argparse.ArgumentParser(prog="adk-realtime")
    add_phone_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["phone", "serve", *worker.argv])
    console = Console(False)
    async with open_phone_model(args, console) as model:
        yield _phone_server(args, model, console, worker)


# ------------------------------------------------------------------ call


def _carrier_of(url: str) -> CarrierName:
    if "/telnyx/" in url:
        return "telnyx"
    return "plivo" if "/plivo/" in url else "twilio"


def _telnyx_seed(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        seed = b""
    if len(seed) != 32:
        raise SystemExit("--telnyx-private-key: give the base64 of a 32-byte Ed25519 seed")
    return seed


async def run_call(args: argparse.Namespace) -> int:
    from adk_realtime.phone_caller import call

    console = Console(args.json)
    wav = Path(args.wav)
    check_writable(wav, "--wav")
    carrier: CarrierName = args.carrier or _carrier_of(args.url)
    token = args.plivo_auth_token if carrier == "plivo" else args.twilio_auth_token
    console.event("user", f"(speaking) {args.question}")
    result = await call(
        args.url,
        question=args.question,
        carrier=carrier,
        auth_token=token or None,
        telnyx_private_key=_telnyx_seed(args.telnyx_private_key) if carrier == "telnyx" else None,
        dtmf=args.dtmf,
        interrupt_with=args.interrupt_with,
        answer_timeout=args.timeout,
        wav=wav,
    )
    if args.interrupt_with:
        console.event("user", f"(spoke over the answer) {args.interrupt_with}")
    if not result.answered:
        if result.server_hung_up:
            raise SystemExit(
                f"the server ended the call (WebSocket close {result.close_code}) before any "
                "answer; its log says why"
            )
        raise SystemExit(f"no answer within {args.timeout:g} s of the question (--timeout)")
    shown = result.transcript or "(not the simulator's speech: listen to the WAV)"
    console.event("assistant", shown)
    note = f"; {result.dropped_ms} ms cut by barge-in" if result.clears else ""
    console.event(
        "info",
        f"heard {result.heard_ms / 1000:.2f} s of the answer{note}; wrote {wav} "
        f"(8 kHz, what the caller heard); call lasted {result.call_seconds:.1f} s",
        wav=str(wav),
        heard_ms=result.heard_ms,
        transcript=result.transcript,
    )
    return 0
