"""A voice assistant with Voice Activity Detection: just talk, the server hears when you stop.

The agent asks for server-side VAD (``.server_vad()`` for the provider's
defaults, or ``.vad(VadConfig(...))`` to tune it, as below). The example plays
the part of an open microphone: it streams the spoken question in 20 ms
chunks at real-time pace and keeps streaming silence; the provider's VAD
reports when speech starts and stops, commits the turn and answers by itself,
with no ``commit``/``create_response`` from us. The reply is written to a WAV.

    python examples/realtime_vad.py                              # offline simulator
    python examples/realtime_vad.py --say "How are you" --output reply.wav
    python examples/realtime_vad.py --default-vad                # .server_vad() defaults
    python examples/realtime_vad.py --provider openai --input question.wav

The simulator understands only its own tone-coded speech, so offline the
question is synthesized from ``--say``; a real provider needs a recording
(``--input``, a 16-bit PCM WAV).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (first: it says how to run the examples if anyio is missing)
import anyio
from _common import (
    RATE,
    ConsoleHandler,
    check_key,
    decode_sim_speech,
    open_model,
    parser,
    read_wav,
    run,
    say,
    stream_audio,
    voice_for,
    write_wav,
)

from adk_realtime import RealtimeAgent, RealtimeRunner, VadConfig, VadMode

# The reference's "Custom VAD" settings.
CUSTOM_VAD = VadConfig(
    mode=VadMode.ServerVad,
    threshold=0.5,  # how loud speech must be (0..1)
    prefix_padding_ms=300,  # audio kept from before speech was detected
    silence_duration_ms=500,  # this much silence ends the turn
    interrupt_response=True,  # talking over the assistant interrupts it
    eagerness=None,  # only for semantic VAD
)


class Timing:
    """Agent callbacks: when the user stopped talking and when the reply began."""

    def __init__(self) -> None:
        self.speech_stopped_at: float | None = None
        self.first_audio_at: float | None = None

    def speech_stopped(self, audio_end_ms: int) -> None:
        self.speech_stopped_at = anyio.current_time()

    def audio(self, pcm: bytes, item_id: str) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = anyio.current_time()


async def main(args: argparse.Namespace) -> int:
    check_key(args)
    if args.provider != "sim" and not args.input:
        raise SystemExit(
            "a real provider needs real speech: pass --input question.wav (16-bit PCM WAV)"
        )
    if args.input:
        speech, rate = read_wav(Path(args.input))
    else:
        from adk_realtime.sansio.sim.speech import synthesize_speech

        speech, rate = synthesize_speech(args.say, RATE), RATE
    async with open_model(args) as model:
        timing = Timing()
        builder = (
            RealtimeAgent.builder("voice_assistant")
            .model(model)
            .instruction("You are a helpful voice assistant. Keep answers short.")
            .voice(voice_for(model))
            .input_transcription()  # so we can print what the provider heard
            .on_speech_stopped(timing.speech_stopped)
            .on_audio(timing.audio)
        )
        agent = (builder.server_vad() if args.default_vad else builder.vad(CUSTOM_VAD)).build()
        vad = agent.vad
        assert vad is not None
        if args.default_vad:
            say("info", "server VAD with the provider's default settings")
        else:
            say(
                "info",
                f"server VAD: threshold={vad.threshold}, prefix_padding_ms="
                f"{vad.prefix_padding_ms}, silence_duration_ms={vad.silence_duration_ms}",
            )
        handler = ConsoleHandler()
        runner = RealtimeRunner(agent=agent, event_handler=handler, agent_event_sink=handler.sink)
        with anyio.fail_after(args.timeout):
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.run)
                await runner.wait_connected()

                async def microphone() -> None:
                    # The question, then silence for as long as the microphone stays open.
                    say("user", f"(speaking) {args.say if not args.input else args.input}")
                    await stream_audio(runner.send_audio, speech, rate)
                    silence = bytes(rate * 2 // 50)  # 20 ms
                    while True:
                        await stream_audio(runner.send_audio, silence, rate)

                tg.start_soon(microphone)
                await handler.wait_turn()
                tg.cancel_scope.cancel()
            await runner.close()
    output = Path(args.output) if args.output else Path(tempfile.mkdtemp()) / "vad_reply.wav"
    write_wav(output, bytes(handler.audio))
    say("info", f"wrote {output} ({len(handler.audio) / (2 * RATE):.2f} s of 24 kHz audio)")
    if timing.first_audio_at is not None and timing.speech_stopped_at is not None:
        latency = (timing.first_audio_at - timing.speech_stopped_at) * 1000
        say("info", f"first reply audio {latency:.0f} ms after the end of speech")
    if args.provider == "sim":
        say("heard", f"the reply WAV decodes to: {decode_sim_speech(bytes(handler.audio))!r}")
    return 0 if handler.audio else 1


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--say", default="Hello", help="what to say to the simulator")
    p.add_argument("--input", help="a 16-bit PCM WAV with the question (real providers)")
    p.add_argument("--output", help="where to write the reply WAV (default: a temporary file)")
    p.add_argument(
        "--default-vad", action="store_true", help="use .server_vad() instead of the custom VAD"
    )
    sys.exit(run(main, p.parse_args()))
