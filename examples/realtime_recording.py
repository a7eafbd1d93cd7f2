"""Record a call: a stereo WAV with the user on the left and the agent on the right.

``RealtimeRunner(..., recording=Recording(path))`` writes the call from a
background thread (never blocking the audio) on one timeline: the user speaks,
the agent answers, then the user shows the agent a picture (``send_image``) and
it says what it sees. The report at the end says where the file is and whether
the writer had to drop anything.

    python examples/realtime_recording.py                          # offline simulator
    python examples/realtime_recording.py --output call.wav --say "Hello"
    python examples/realtime_recording.py --provider openai        # needs OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import wave
import zlib
from pathlib import Path

import _common  # noqa: F401  (first: it says how to run the examples if anyio is missing)
import anyio
from _common import (
    RATE,
    ConsoleHandler,
    decode_sim_speech,
    open_model,
    parser,
    run,
    say,
    stream_audio,
    voice_for,
)

from adk_realtime import RealtimeAgent, RealtimeRunner, Recording


def tiny_png() -> bytes:
    """A real 8x8 PNG (a red square), built here so the example needs no file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 8 for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def main(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else Path(tempfile.mkdtemp()) / "call.wav"
    async with open_model(args) as model:
        agent = (
            RealtimeAgent.builder("assistant")
            .model(model)
            .instruction("You are a helpful voice assistant. Keep answers short.")
            .voice(voice_for(model))
            .build()
        )
        handler = ConsoleHandler()
        runner = RealtimeRunner(
            agent=agent,
            event_handler=handler,
            agent_event_sink=handler.sink,
            recording=Recording(output),
        )
        with anyio.fail_after(args.timeout):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.run)
                await runner.wait_connected()
                if args.provider == "sim":
                    from adk_realtime.sansio.sim.speech import synthesize_speech

                    say("user", f"(speaking) {args.say}")
                    speech = synthesize_speech(args.say, RATE) + bytes(RATE * 2)  # then 1 s quiet
                    if args.sim_pace == 0:  # all at once: laid end to end on the timeline
                        await runner.send_audio(speech, RATE)
                    else:  # like a microphone, in real time
                        await stream_audio(runner.send_audio, speech, RATE)
                else:  # a real model needs a real voice: type the greeting instead
                    say("user", args.say)
                    await runner.send_text(args.say)
                await handler.wait_turn()
                say("user", "(shows a picture) What do you see?")
                await runner.send_image(tiny_png(), "image/png", respond=True)
                await handler.wait_turn()
                await runner.close()
    report = runner.recording_report
    if report is None:
        return 1
    say(
        "recording",
        f"{report.path}: {report.duration_ms} ms, {report.dropped_chunks} chunk(s) dropped",
    )
    if args.provider == "sim":
        with wave.open(str(report.path)) as wav:
            frames = wav.readframes(wav.getnframes())
        left = b"".join(frames[i : i + 2] for i in range(0, len(frames), 4))
        right = b"".join(frames[i + 2 : i + 4] for i in range(0, len(frames), 4))
        say("heard", f"left (user): {decode_sim_speech(left)!r}")
        say("heard", f"right (agent): {decode_sim_speech(right)!r}")
    return 0


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--say", default="Hello", help="what the user says first")
    p.add_argument("--output", help="the WAV to write (default: a temporary file)")
    sys.exit(run(main, p.parse_args()))
