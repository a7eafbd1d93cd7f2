"""``adk-realtime sip serve``: the demo assistant answering SIP calls directly.

A trunk, a PBX or a softphone calls ``sip:agent@HOST:PORT``; with ``--provider sim``
(the default) the agent runs on the in-process simulator, no key needed; with
``openai`` or ``gemini`` on the real provider (``--base-url`` for a proxy).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import anyio

from adk_realtime.cli_common import Console, build_assistant, cannot_serve
from adk_realtime.cli_phone import CallConsole, open_phone_model

__all__ = ["add_sip_commands", "run_sip"]


def add_sip_commands(sub: Any) -> None:
    """Add ``sip serve`` to the ``adk-realtime`` parser."""
    sip = sub.add_parser(
        "sip",
        help="answer SIP calls with the demo agent",
        description="Answer SIP calls (UDP) with the demo agent.",
    )
    commands = sip.add_subparsers(dest="sip_command", required=True)
    serve = commands.add_parser("serve", help="listen for SIP calls: sip:agent@HOST:PORT")
    serve.add_argument("--host", default="127.0.0.1", help="IP address to listen on (%(default)s)")
    serve.add_argument(
        "--port", type=int, default=5060, help="UDP port (%(default)s; 0: any free one)"
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


async def run_sip(args: argparse.Namespace) -> int:
    from adk_realtime.sip_server import SipServer, serve_sip

    console = Console(False)
    if args.max_calls is not None and args.max_calls < 1:
        raise SystemExit("--max-calls must be at least 1")
    if args.host in ("0.0.0.0", "::") and not args.public_host:
        raise SystemExit(
            "listening on every address needs --public-host (the address callers reach)"
        )
    async with contextlib.AsyncExitStack() as stack:
        model = await stack.enter_async_context(open_phone_model(args, console))
        server = SipServer(
            model,
            build_assistant(model),
            host=args.host,
            port=args.port,
            public_host=args.public_host,
            max_calls=args.max_calls,
            allowed_sources=args.allow,
            event_handler=CallConsole(console),
        )
        try:
            where = await stack.enter_async_context(serve_sip(server))
        except OSError as exc:
            raise SystemExit(cannot_serve(args.host, args.port, exc)) from None
        print(
            f"SIP server listening on {args.host}:{where.port} (UDP); agent on "
            f"{model.provider} {model.model_id}",
            flush=True,
        )
        print(f"  call: sip:agent@{where.host}:{where.port}", flush=True)
        await anyio.sleep_forever()
    return 0
