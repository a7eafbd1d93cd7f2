"""A voice agent in a LiveKit room: it hears the first participant and answers in the room.

``join_room(url, token, runner)`` connects to the room, publishes the agent's
voice track (an ``rtc.AudioSource`` fed by a ``RoomSpeaker``, which the runner
plays into next to its event handler) and bridges the first remote audio track
into the runner (``bridge_input``). The model behind the runner is any
provider: the offline simulator (default), OpenAI or Gemini; the room side
does not change.

    python examples/livekit_agent.py --url wss://my.livekit.cloud --token eyJ...
    LIVEKIT_URL=wss://... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... \\
        python examples/livekit_agent.py --room demo --provider openai
    python examples/livekit_agent.py --selftest     # no LiveKit server needed

``--selftest`` wires the same LiveKit SDK objects without a server: a caller's
``AudioSource`` -> ``LocalAudioTrack`` -> ``bridge_input`` -> the runner (on
the simulator) -> ``RoomSpeaker`` -> the agent's ``AudioSource``, and a
listener on the agent's track checks that the reply can be heard.

(The simulator understands only its own tone-coded speech, so in a real room
with ``--provider sim`` it will say it could not make out what people said.)
"""

from __future__ import annotations

import argparse
import os
import sys

import _common  # noqa: F401  (first: it says how to run the examples if anyio is missing)
import anyio
from _common import (
    RATE,
    ConsoleHandler,
    check_key,
    open_model,
    parser,
    run,
    say,
    voice_for,
)

from adk_realtime import RealtimeAgent, RealtimeRunner
from adk_realtime.models import RealtimeModel

ROOM_RATE = 48000  # what LiveKit rooms carry


def build_agent(model: RealtimeModel) -> RealtimeAgent:
    return (
        RealtimeAgent.builder("room_assistant")
        .model(model)
        .instruction("You are a friendly voice assistant in a call. Keep answers short.")
        .voice(voice_for(model))
        .server_vad()
        .input_transcription()
        .build()
    )


def room_credentials(args: argparse.Namespace) -> tuple[str, str]:
    """The room URL and a join token, from the flags or the environment; exits if missing."""
    url = args.url or os.environ.get("LIVEKIT_URL")
    token = args.token or os.environ.get("LIVEKIT_TOKEN")
    if url and not token:
        key, secret = os.environ.get("LIVEKIT_API_KEY"), os.environ.get("LIVEKIT_API_SECRET")
        if key and secret:
            from adk_realtime.livekit import make_token

            token = make_token(key, secret, args.room, args.identity)
    if not url or not token:
        raise SystemExit(
            "no LiveKit room to join: pass --url and --token, or set LIVEKIT_URL with "
            "LIVEKIT_API_KEY and LIVEKIT_API_SECRET (and --room); "
            "or run --selftest, which needs no server"
        )
    return url, token


async def in_room(args: argparse.Namespace) -> int:
    from adk_realtime.livekit import join_room

    url, token = room_credentials(args)
    async with open_model(args) as model:
        console = ConsoleHandler()
        runner = RealtimeRunner(
            agent=build_agent(model), event_handler=console, agent_event_sink=console.sink
        )
        try:
            room_agent = await join_room(url, token, runner)  # console stays the handler
        except Exception as exc:  # the SDK's ConnectError and friends
            raise SystemExit(f"could not join the LiveKit room at {url}: {exc}") from None
        say("room", f"joined {room_agent.room.name!r} as {args.identity}; waiting for a caller")
        try:
            await runner.run()  # until the session ends or Ctrl-C
        finally:
            await room_agent.aclose()
    return 0


async def selftest(args: argparse.Namespace) -> int:
    """The room's audio path end to end, with the SDK's real objects and no server."""
    from livekit import rtc

    from adk_realtime.livekit import RoomSpeaker, bridge_input
    from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech

    async with open_model(args) as model:
        console = ConsoleHandler()
        # The agent's voice, as join_room publishes it: an audio output of the runner.
        agent_source = rtc.AudioSource(ROOM_RATE, 1)
        agent_track = rtc.LocalAudioTrack.create_audio_track("agent-voice", agent_source)
        speaker = RoomSpeaker(agent_source)
        runner = RealtimeRunner(
            agent=build_agent(model), event_handler=console, agent_event_sink=console.sink
        )
        runner.add_audio_output(speaker)
        # A caller's microphone track, as a remote participant would publish it.
        caller_source = rtc.AudioSource(ROOM_RATE, 1)
        caller_track = rtc.LocalAudioTrack.create_audio_track("caller", caller_source)
        # Someone in the room listening to the agent.
        listener = rtc.AudioStream.from_track(track=agent_track, sample_rate=RATE, num_channels=1)
        ears = SpeechRecognizer(RATE)
        heard_so_far = [""]  # what the listener decoded, after each utterance
        hung_up = anyio.Event()
        utterance_ended = anyio.Event()

        async def caller() -> None:
            say("user", f"(speaking into the caller track) {args.say}")
            speech = synthesize_speech(args.say, ROOM_RATE)
            # The source plays in real time on the SDK's clock and fills any 10 ms it finds
            # empty with silence. So the question goes in whole, in one capture: it comes
            # out contiguous however busy this process is (fed 10 ms per call, its start
            # raced that clock and silence could split the first tone).
            await caller_source.capture_frame(
                rtc.AudioFrame(speech, ROOM_RATE, 1, len(speech) // 2)
            )
            samples = ROOM_RATE // 100  # 10 ms
            # Then an open microphone: silence, paced by the source's queue (a capture waits
            # while it is full), until the caller hangs up. Not cancelled mid-capture: the
            # SDK would answer that capture after it shut down, and complain.
            while not hung_up.is_set():
                await caller_source.capture_frame(
                    rtc.AudioFrame(bytes(2 * samples), ROOM_RATE, 1, samples)
                )

        async def listen() -> None:
            nonlocal utterance_ended
            async for event in listener:
                ears.feed(event.frame.data.cast("B"))
                if not ears.in_utterance and ears.text != heard_so_far[-1]:
                    heard_so_far.append(ears.text)
                    utterance_ended.set()
                    utterance_ended = anyio.Event()

        async def hear_reply() -> None:
            """Until the listener has heard the whole reply the model sent."""
            await console.wait_turn()
            said = console.assistant_lines[-1] if console.assistant_lines else ""
            while said not in heard_so_far[-1]:
                await utterance_ended.wait()

        bridge = None
        try:
            with anyio.fail_after(args.timeout):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(runner.run)
                    await runner.wait_connected()
                    # The caller's track feeds the runner from now on.
                    bridge = bridge_input(caller_track, runner)
                    tg.start_soon(listen)
                    async with anyio.create_task_group() as call:
                        call.start_soon(caller)
                        await hear_reply()  # generated, and played out on the agent's track
                        hung_up.set()  # the call ends once its last capture is answered
                    # Closing the runner ends the bridge by itself (its next send fails
                    # quietly; the track goes on carrying the source's silence): no stop().
                    await runner.close()
                    await bridge.wait()
                    tg.cancel_scope.cancel()
        finally:
            if bridge is not None and bridge.running:
                await bridge.stop()
            await speaker.aclose()
            await listener.aclose()
            await runner.close()
        assert bridge is not None
        say("heard", f"the agent's room track carried the reply: {ears.text!r}")
        say(
            "selftest",
            f"ok: {bridge.chunks_forwarded} caller chunks bridged in, "
            f"{speaker.frames_captured} frames of the reply played into the room",
        )
    return 0


async def main(args: argparse.Namespace) -> int:
    try:
        import livekit.rtc  # noqa: F401
    except ImportError:
        raise SystemExit(
            "this example needs the livekit extra: pip install 'adk-realtime[livekit]'"
        ) from None
    if args.selftest:
        if args.provider != "sim":
            raise SystemExit("--selftest speaks tone-coded speech: use it with the simulator")
        return await selftest(args)
    return await in_room(args)


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--url", help="LiveKit server URL (default: $LIVEKIT_URL)")
    p.add_argument(
        "--token",
        help="room join token (default: $LIVEKIT_TOKEN, or made from "
        "$LIVEKIT_API_KEY/$LIVEKIT_API_SECRET)",
    )
    p.add_argument("--room", default="adk-demo", help="room to join when making a token")
    p.add_argument("--identity", default="adk-agent", help="the agent's identity in the room")
    p.add_argument("--selftest", action="store_true", help="check the audio path without a server")
    p.add_argument("--say", default="Goodbye", help="what the selftest caller says")
    # The room plays the agent's voice out in real time from the handler's queue, so the
    # simulator may hand a reply over at once; a reply streamed at real-time pace would
    # leave the source's queue (and a loaded machine) no slack, and a stall becomes a gap.
    p.set_defaults(sim_pace=0.0)
    args = p.parse_args()
    if not args.selftest:
        room_credentials(args)  # fail fast, before anything starts
        check_key(args)
    sys.exit(run(main, args))
