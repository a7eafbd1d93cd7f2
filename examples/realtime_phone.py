"""A voice agent on the telephone: a phone server and a simulated caller, in one process.

``PhoneServer`` puts a ``RealtimeAgent`` behind a carrier's endpoints: the voice
webhook (answered with TwiML, TeXML or Plivo XML, signature checked) and the media
WebSocket the call's audio streams over (μ-law, 8 kHz, 20 ms frames). The simulated
caller dials it exactly as the carrier would: a signed webhook POST, then a signed
WebSocket upgrade, the question spoken in real time, the answer played on a real-time
clock with every mark sent back once played. Nothing leaves this machine.

    python examples/realtime_phone.py                     # offline simulator, as Twilio
    python examples/realtime_phone.py --carrier plivo
    python examples/realtime_phone.py --provider openai   # needs OPENAI_API_KEY

A real number: run ``adk-realtime phone serve`` behind a tunnel (see the README).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _common import ConsoleHandler, open_model, parser, run, say, voice_for

from adk_realtime import RealtimeAgent, function_tool
from adk_realtime.phone_caller import call
from adk_realtime.phone_server import PhoneServer, serve_phone

# Made up for this example: the server checks signatures with it and the simulated
# caller signs with it, as Twilio signs with your account's auth token.
AUTH_TOKEN = "example-auth-token"
SECRETS = {"twilio": "twilio_auth_token", "plivo": "plivo_auth_token"}


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city name, e.g. Paris.
    """
    table = {"paris": (18, "sunny"), "london": (12, "cloudy"), "tokyo": (22, "clear")}
    temp, sky = table.get(city.strip().lower(), (20, "mild"))
    return {"city": city, "temperature_c": temp, "conditions": sky}


async def main(args: argparse.Namespace) -> int:
    async with open_model(args) as model:
        agent = (
            RealtimeAgent.builder("phone_assistant")
            .model(model)
            .instruction("You answer the phone. Use get_weather for weather questions.")
            .voice(voice_for(model))
            .server_vad()
            .tool(get_weather)
            .input_transcription()
            .build()
        )
        secret = {SECRETS[args.carrier]: AUTH_TOKEN} if args.carrier in SECRETS else {}
        server = PhoneServer(
            model, agent, carriers=[args.carrier], event_handler=ConsoleHandler(), **secret
        )
        async with serve_phone(server, "127.0.0.1", 0):
            webhook = server.urls.webhooks[args.carrier]
            say("info", f"{args.carrier} webhook: {webhook}")
            say("caller", f"(dials and says) {args.question}")
            result = await call(
                webhook,
                question=args.question,
                carrier=args.carrier,
                auth_token=AUTH_TOKEN if secret else None,
                answer_timeout=args.timeout,
                wav=args.output,
            )
    if not result.answered:
        say("error", "the call ended without an answer")
        return 1
    say("heard", result.transcript or "(a real voice: listen to the WAV)")
    say(
        "info",
        f"the caller heard {result.heard_ms / 1000:.2f} s of the answer "
        f"({result.marks_returned} marks sent back); wrote {args.output}",
    )
    return 0


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument(
        "--carrier", choices=["twilio", "telnyx", "plivo"], default="twilio", help="(%(default)s)"
    )
    p.add_argument("--question", default="What is the weather in Paris?", help="what to ask")
    p.add_argument("--output", default="phone_answer.wav", help="what the caller heard (WAV)")
    sys.exit(run(main, p.parse_args()))
