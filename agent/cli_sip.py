"""``adk-realtime sip serve``: the demo assistant answering SIP calls directly.

A trunk, a PBX or a softphone calls ``sip:agent@HOST:PORT``; with ``--provider sim``
(the default) the agent runs on the in-process simulator, no key needed; with
``openai`` or ``gemini`` on the real provider (``--base-url`` for a proxy).
``--metrics-port`` adds an HTTP listener with ``/metrics`` (Prometheus), ``/healthz``
and ``/readyz``; SIGTERM or Ctrl-C drains (503 to new calls) for ``--drain-seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from typing import TYPE_CHECKING, Any

import anyio

from adk_realtime.cli_common import Console, build_assistant, cannot_serve
from adk_realtime.cli_phone import CallConsole, open_phone_model

if TYPE_CHECKING:  # loaded when serving
    from adk_realtime.sip_server import SipServer

__all__ = ["add_sip_commands", "run_sip"]


def add_sip_commands(sub: Any) -> None:
    """Add ``sip serve`` to the ``adk-realtime`` parser."""
    sip = sub.add_parser(
        "sip",
        help="answer SIP calls with the demo agent",
        description="Answer SIP calls (UDP or TCP) with the demo agent.",
    )
    commands = sip.add_subparsers(dest="sip_command", required=True)
    serve = commands.add_parser("serve", help="listen for SIP calls: sip:agent@HOST:PORT")
    serve.add_argument("--host", default="127.0.0.1", help="IP address to listen on (%(default)s)")
    serve.add_argument(
        "--port", type=int, default=5060, help="SIP port (%(default)s; 0: any free one)"
    )
    serve.add_argument(
        "--transport",
        choices=["udp", "tcp"],
        default="udp",
        help="SIP signalling over udp (default) or tcp (RTP is UDP either way)",
    )
    serve.add_argument(
        "--public-host",
        help="the address callers reach, written in Contact and SDP (default: --host)",
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
        "--max-calls", type=int, help="calls at once; more are answered 486 Busy Here"
    )
    serve.add_argument(
        "--allow",
        action="append",
        help="accept calls only from this source address (repeat; default: any)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics (Prometheus), /healthz and /readyz over HTTP on this TCP port "
        "(0: any free one; needs prometheus_client for /metrics)",
    )
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="on SIGTERM/Ctrl-C, how long active calls may go on before they are hung up "
        "(%(default)s)",
    )


async def run_sip(args: argparse.Namespace) -> int:
    from adk_realtime.sip_server import SipServer, serve_sip

    console = Console(False)
    if args.max_calls is not None and args.max_calls < 1:
        raise SystemExit("--max-calls must be at least 1")
    if not 0 < args.drain_seconds < 86400:
        raise SystemExit("--drain-seconds must be more than 0")
    if args.metrics_port is not None and not 0 <= args.metrics_port < 65536:
        raise SystemExit("--metrics-port must be 0-65535")
    if args.host in ("0.0.0.0", "::") and not args.public_host:
        raise SystemExit(
            "listening on every address needs --public-host (the address callers reach)"
        )
    async with contextlib.AsyncExitStack() as stack:
        signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT))
        model = await stack.enter_async_context(open_phone_model(args, console))
        metrics = _metrics() if args.metrics_port is not None else None
        server = SipServer(
            model,
            build_assistant(model),
            host=args.host,
            port=args.port,
            transport=args.transport,
            public_host=args.public_host,
            max_calls=args.max_calls,
            allowed_sources=args.allow,
            event_handler=CallConsole(console),
            metrics=metrics,
        )
        try:
            where = await stack.enter_async_context(serve_sip(server))
        except OSError as exc:
            raise SystemExit(cannot_serve(args.host, args.port, exc)) from None
        print(
            f"SIP server listening on {args.host}:{where.port} ({args.transport.upper()}); agent on "
            f"{model.provider} {model.model_id}",
            flush=True,
        )
        tcp = ";transport=tcp" if args.transport == "tcp" else ""
        print(f"  call: sip:agent@{where.host}:{where.port}{tcp}", flush=True)
        if args.metrics_port is not None:
            await _serve_http(stack, server, args.host, args.metrics_port)
        async for _signum in signals:
            break
        print(f"draining: no new calls; {server.active_calls} active", flush=True)
        await server.drain(args.drain_seconds)  # then leaving serve_sip hangs up the rest
    return 0


def _metrics() -> Any:
    from adk_realtime.metrics import PrometheusMetrics, prometheus_available  # lazy: an extra

    return PrometheusMetrics() if prometheus_available() else None


async def _serve_http(
    stack: contextlib.AsyncExitStack, server: SipServer, host: str, port: int
) -> None:
    from adk_realtime.drivers.websocket_server import serve  # lazy: only with --metrics-port

    async def no_websocket(ws: Any) -> None:
        await ws.aclose(1008, "no WebSocket here")

    try:
        handle = await stack.enter_async_context(
            serve(
                no_websocket,
                host,
                port,
                reject=lambda target, headers: (404, "no WebSocket here"),
                http_handler=server.handle_http,
            )
        )
    except OSError as exc:
        raise SystemExit(
            cannot_serve(host, port, exc).replace("--port", "--metrics-port")
        ) from None
    shown = server.public_host if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    where = f"http://{shown}:{handle.port}"
    metrics = (
        "/metrics" if server.metrics is not None else "no /metrics: pip install prometheus_client"
    )
    print(f"  health: {where}/healthz (ready: /readyz, {metrics})", flush=True)
