"""A simple text-based realtime session: connect, send text, stream the answer.

The low-level session API, with no agent on top: ``model.connect(config)``
opens a session, ``send_text`` + ``create_response`` start a turn, and the
session's events stream the answer as it is generated.

    python examples/realtime_basic.py                      # offline simulator
    python examples/realtime_basic.py --provider openai    # needs OPENAI_API_KEY
    python examples/realtime_basic.py --provider gemini    # needs GOOGLE_API_KEY
    python examples/realtime_basic.py --message "Hi there" --message "Repeat that"

Gemini's native-audio models answer only with audio: add ``--modality audio``
(the transcript of the spoken answer is printed instead of text).
"""

from __future__ import annotations

import argparse
import sys

import _common  # noqa: F401  (first: it says how to run the examples if anyio is missing)
import anyio
from _common import open_model, parser, run, say

from adk_realtime import (
    AudioDelta,
    Error,
    RealtimeConfig,
    ResponseDone,
    SessionCreated,
    TextDelta,
    TranscriptDelta,
)

DEFAULT_MESSAGES = ["Hello!", "What did I say?"]


async def main(args: argparse.Namespace) -> int:
    async with open_model(args) as model:
        config = (
            RealtimeConfig()
            .with_instruction("You are a helpful assistant. Answer in one short sentence.")
            .with_modalities([args.modality])
        )
        if args.modality == "audio":
            config = config.with_voice("alloy" if model.provider == "openai" else "Puck")
        with anyio.fail_after(args.timeout):
            async with model.connect(config) as session:
                say("connected", f"{model.provider} {model.model_id}")
                for message in args.message or DEFAULT_MESSAGES:
                    say("user", message)
                    await session.send_text(message)
                    await session.create_response()
                    streaming = False
                    audio_bytes = 0
                    # Events stream in as the model produces them; print each piece at once.
                    async for event in session:
                        match event:
                            case SessionCreated():
                                say("session", "created")
                            case TextDelta(delta=delta) | TranscriptDelta(delta=delta):
                                if not streaming:
                                    print("[assistant] ", end="", flush=True)
                                    streaming = True
                                print(delta, end="", flush=True)
                            case ResponseDone(status=status, usage=usage):
                                if streaming:
                                    print(flush=True)
                                tokens = f", {usage.total_tokens} tokens" if usage else ""
                                extra = f", {audio_bytes} bytes of audio" if audio_bytes else ""
                                say("done", f"response {status}{tokens}{extra}")
                                break
                            case Error(code=code, message=text):
                                say("error", f"{code}: {text}")
                            case AudioDelta(delta=delta):
                                audio_bytes += len(delta)  # 24 kHz PCM16: play it
    return 0


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument(
        "--message",
        action="append",
        help="a user message (repeat for several turns; default: a greeting and a follow-up)",
    )
    p.add_argument(
        "--modality",
        choices=["text", "audio"],
        default="text",
        help="what the model answers with: text (default) or audio (its transcript is printed)",
    )
    sys.exit(run(main, p.parse_args()))
