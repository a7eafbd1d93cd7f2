"""``bridge_call``'s control paths on in-memory sockets: DTMF, the call's identity reaching
the agent, secrets, a carrier that never starts, bad messages, who ends the call, the other
carriers, and the streaming conversions (asyncio and trio).
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
import pytest

from adk_realtime.agent import RealtimeAgent
from adk_realtime.call_bridge import (
    BridgeOptions,
    CallInfo,
    CallStartError,
    CallStartTimeout,
    CallSummary,
    bridge_call,
    call_info,
)
from adk_realtime.carrier_speaker import CarrierSpeaker
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.models import RealtimeModel
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.runner import EventHandler, RunContext
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.audio import Resampler, ulaw_decode, ulaw_encode
from adk_realtime.sansio.config import AudioEncoding, AudioFormat, RealtimeConfig
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream
from adk_realtime.sansio.telephony.plivo import PlivoAudioStream
from adk_realtime.sansio.telephony.telnyx import TelnyxMediaStream
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream
from adk_realtime.tools import ToolContext, function_tool
from tests.carrier_peer import MemorySocket, TwilioCaller, heard_text, memory_socket_pair
from tests.memory_provider import Peer, ScriptedModel
from tests.telephony_wire import WIRES, started
from tests.test_secrets import Hunt

pytestmark = pytest.mark.anyio

CALLER = "+14155550199"
DIALLED = "+18005550142"
SECRET = "LEAKCHECK-crm-token-71c2"
PIN = "7319"


@dataclass
class Handler(EventHandler):
    dtmf: list[str] = field(default_factory=list)
    responses: int = 0
    said: str = ""
    changed: anyio.Event = field(default_factory=anyio.Event)

    def on_dtmf(self, digit: str) -> None:
        self.dtmf.append(digit)
        self._poke()

    def on_response_done(self, event: ev.ResponseDone) -> None:
        self.responses += 1
        self._poke()

    def on_transcript(self, text: str, item_id: str) -> None:
        self.said += text

    def _poke(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def wait_for(self, condition: Any) -> None:
        while not condition():
            await self.changed.wait()


@dataclass
class Bridged:
    caller: TwilioCaller
    bridge_side: MemorySocket
    outcome: list[CallSummary | BaseException]
    done: anyio.Event

    async def summary(self) -> CallSummary:
        with anyio.fail_after(10):
            await self.done.wait()
        (result,) = self.outcome
        if isinstance(result, BaseException):
            raise result
        return result


@asynccontextmanager
async def bridged(
    model: RealtimeModel,
    agent: Any,
    *,
    stream: CarrierMediaStream | None = None,
    caller_kwargs: dict[str, Any] | None = None,
    start_caller: bool = True,
    **kwargs: Any,
) -> AsyncIterator[Bridged]:
    """``bridge_call`` on one end of an in-memory pipe, a Twilio caller on the other."""
    bridge_side, caller_side = memory_socket_pair()
    outcome: list[CallSummary | BaseException] = []
    done = anyio.Event()

    async def run_bridge() -> None:
        try:
            outcome.append(
                await bridge_call(
                    bridge_side, stream or TwilioMediaStream(), model, agent, **kwargs
                )
            )
        except Exception as exc:
            outcome.append(exc)
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_bridge)
        caller = TwilioCaller(caller_side, **(caller_kwargs or {}))
        if start_caller:
            await tg.start(caller.run)
        yield Bridged(caller, bridge_side, outcome, done)
        with anyio.fail_after(10):
            await done.wait()
        tg.cancel_scope.cancel()


def sim_model(server: Any) -> OpenAIRealtimeModel:
    return OpenAIRealtimeModel("sk-test", base_url=server.openai_base_url)


# ---------------------------------------------------------------- DTMF and the call's identity


async def test_dtmf_and_the_call_reach_the_agent_and_secrets_stay_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hunt = Hunt(caplog, extra=(CALLER, DIALLED, SECRET, "4155550199"))
    seen: dict[str, CallInfo] = {}

    def instructions(ctx: RunContext) -> str:
        seen["instructions"] = ctx.state["call"]
        return "You answer the phone."

    @function_tool
    def pressed_key(digit: str, tool_context: ToolContext) -> str:
        """Note a key the caller pressed."""
        seen["tool"] = tool_context.state["call"]
        return "noted"

    hub = SimulatorHub(pace=0)
    async with run_simulator(hub=hub) as server:
        model = sim_model(server)
        agent = RealtimeAgent(
            "phone", model, instruction_provider=instructions, tools=[pressed_key]
        )
        handler = Handler()
        params = {"called": DIALLED, "crm_token": SECRET}
        async with bridged(
            model,
            agent,
            event_handler=handler,
            options=BridgeOptions(dtmf_as_text=True),
            caller_kwargs={"caller": CALLER, "custom_parameters": params},
        ) as call:
            await call.caller.dtmf("5")
            # The model heard "The caller pressed 5.", called the tool, then said so.
            await handler.wait_for(lambda: handler.responses >= 2)
            await call.caller.wait_for(lambda r: len(r.frames) > 0)
            for digit in PIN:
                await call.caller.dtmf(digit)
            await handler.wait_for(lambda: len(handler.dtmf) == 1 + len(PIN))
            await call.caller.stop()
            summary = await call.summary()

    assert handler.dtmf == ["5", *PIN]
    assert summary.dtmf_digits == "5" + PIN and summary.ended_by == "carrier_stop"
    info = seen["instructions"]
    assert seen["tool"] is info
    assert info == CallInfo(
        "twilio",
        call.caller.call_sid,
        call.caller.stream_sid,
        CALLER,
        DIALLED,
        info.custom_parameters,
    )
    assert dict(info.custom_parameters) == {"caller": CALLER, **params}
    assert "Here is the pressed key: noted." in handler.said
    hunt.show("CallInfo", info)
    hunt.show("CallSummary", summary)
    hunt.assert_clean()
    assert PIN not in repr(summary) and PIN not in caplog.text
    assert "caller=<hidden>" in repr(info) and "custom_parameters=<3 hidden>" in repr(info)


async def test_the_digit_reaches_the_model_as_a_user_message() -> None:
    said: list[dict[str, Any]] = []
    both_said = anyio.Event()

    async def provider(peer: Peer) -> None:
        await peer.send({"type": "session.created", "session": {}})
        while True:
            message = await peer.recv()
            if message["type"] == "conversation.item.create":
                said.append(message["item"])
                if len(said) == 2:
                    both_said.set()

    model = ScriptedModel(provider)
    handler = Handler()
    agent = RealtimeAgent("phone", model, instruction="x")
    async with bridged(
        model, agent, event_handler=handler, options=BridgeOptions(dtmf_as_text=True)
    ) as call:
        await call.caller.dtmf("#")
        await handler.wait_for(lambda: handler.dtmf == ["#"])
        await call.caller.dtmf("9")
        await handler.wait_for(lambda: handler.dtmf == ["#", "9"])
        # "#" ends an entry at once; "9" goes after the inter-digit pause (dtmf_pause).
        with anyio.fail_after(10):
            await both_said.wait()
        await call.caller.stop()
        await call.summary()
    assert [item["content"][0]["text"] for item in said] == [
        "The caller pressed #.",
        "The caller pressed 9.",
    ]
    assert all(item["role"] == "user" for item in said)


async def test_the_carrier_is_read_while_the_model_connects_and_its_audio_kept() -> None:
    """A slow model connection holds nothing up: DTMF is handled at once, and the caller's
    audio of that time reaches the model, in order, once it is connected."""
    appended = bytearray()
    connected, heard_it = anyio.Event(), anyio.Event()
    said = bytes(range(256)) * 5

    async def provider(peer: Peer) -> None:
        await peer.send({"type": "session.created", "session": {}})
        while True:
            message = await peer.recv()
            if message["type"] == "input_audio_buffer.append":
                appended.extend(base64.b64decode(message["audio"]))
                if said in appended:
                    heard_it.set()

    class SlowModel(ScriptedModel):
        @property
        def accepts_g711(self) -> bool:
            return True

        @asynccontextmanager
        async def _connect(self, config: RealtimeConfig, *args: Any) -> AsyncIterator[Any]:
            await connected.wait()  # the provider answers late
            async with super()._connect(config, *args) as session:
                yield session

    model = SlowModel(provider)
    handler = Handler()
    async with bridged(model, RealtimeAgent("phone", model), event_handler=handler) as call:
        await call.caller.say(said)  # (while the model is not there)
        await call.caller.dtmf("4")
        await handler.wait_for(lambda: handler.dtmf == ["4"])
        connected.set()
        with anyio.fail_after(10):  # (a model that never connects fails here, not hangs)
            await heard_it.wait()
        await call.caller.stop()
        await call.summary()
    assert bytes(appended) == bytes(call.caller.sent_audio[: len(appended)])


# ---------------------------------------------------------------- a call that never starts


async def test_a_carrier_that_never_starts_times_out_with_a_clear_error() -> None:
    model = OpenAIRealtimeModel("sk-test", base_url="ws://127.0.0.1:9/v1")  # never reached
    agent = RealtimeAgent("phone", model)
    options = BridgeOptions(start_timeout=0.2)
    async with bridged(model, agent, options=options, start_caller=False) as call:
        await call.caller.socket.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await call.caller.socket.send("not json")  # skipped, counted
        with pytest.raises(
            CallStartTimeout, match=r"no start from the Twilio stream within 0\.2 s"
        ):
            await call.summary()
    assert call.bridge_side.close_code == 1008


@pytest.mark.parametrize("how", ["stop", "close", "not_mulaw"])
async def test_a_stream_that_ends_or_cannot_be_bridged_before_start_is_an_error(how: str) -> None:
    model = OpenAIRealtimeModel("sk-test", base_url="ws://127.0.0.1:9/v1")
    agent = RealtimeAgent("phone", model)
    async with bridged(model, agent, start_caller=False) as call:
        socket = call.caller.socket
        if how == "stop":
            await socket.send(json.dumps({"event": "stop", "stop": {}}))
        elif how == "close":
            await socket.aclose(1001, "bye")
        else:
            start = WIRES["twilio"].start("S")
            start["start"]["mediaFormat"]["encoding"] = "audio/x-l16"
            await socket.send(json.dumps(start))
        with pytest.raises(CallStartError) as caught:
            await call.summary()
    assert {
        "stop": "stopped before start",
        "close": "closed before start (1001",
        "not_mulaw": "μ-law",
    }[how] in str(caught.value)


async def test_arguments_are_checked_and_the_socket_closed() -> None:
    model = OpenAIRealtimeModel("sk-test", base_url="ws://127.0.0.1:9/v1")
    agent = RealtimeAgent("phone", model)
    for kwargs, field_name in (
        ({"runner_kwargs": {"model": model}}, "runner_kwargs"),
        ({"options": {"max_ahead_ms": 100}}, "options"),
    ):
        bridge_side, _ = memory_socket_pair()
        with pytest.raises(ConfigError, match=field_name):
            await bridge_call(bridge_side, TwilioMediaStream(), model, agent, **kwargs)
        assert bridge_side.close_code == 1011
    with pytest.raises(ConfigError, match="max_ahead_ms"):
        BridgeOptions(max_ahead_ms=10)
    with pytest.raises(ConfigError, match="start_timeout"):
        BridgeOptions(start_timeout=0)
    bridge_side, _ = memory_socket_pair()
    with pytest.raises(ConfigError, match="fresh"):
        await bridge_call(bridge_side, started("twilio"), model, agent)


# ---------------------------------------------------------------- bad messages, who ends the call


async def test_bad_carrier_messages_are_skipped_and_counted() -> None:
    async def provider(peer: Peer) -> None:
        await peer.send({"type": "session.created", "session": {}})
        await anyio.sleep_forever()

    model = ScriptedModel(provider)
    handler = Handler()
    async with bridged(model, RealtimeAgent("phone", model), event_handler=handler) as call:
        socket = call.caller.socket
        await socket.send("{")
        await socket.send(json.dumps({"event": "surprise"}))
        await socket.send(json.dumps({"event": "media", "media": {"payload": "not base64!"}}))
        await socket.send(json.dumps(WIRES["twilio"].start("S2")))  # a second start
        await call.caller.dtmf("1")
        await handler.wait_for(lambda: handler.dtmf == ["1"])  # the call went on
        await call.caller.stop()
        summary = await call.summary()
    assert summary.bad_messages == 4 and summary.ended_by == "carrier_stop"


async def test_when_the_agent_ends_the_call_the_caller_hears_the_end_then_the_socket_closes() -> (
    None
):
    context = RunContext()
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        model = sim_model(server)
        handler = Handler()
        options = BridgeOptions(greeting="Say goodbye")
        async with bridged(
            model,
            RealtimeAgent("phone", model, instruction="x"),
            event_handler=handler,
            options=options,
            runner_kwargs={"context": context},
        ) as call:
            await handler.wait_for(lambda: handler.responses >= 1)
            await context.close()  # the agent hangs up while "Goodbye!" is still playing
            await call.caller.wait_for(lambda r: r.closed_at is not None)
            summary = await call.summary()
    record = call.caller.record
    assert heard_text(record.heard()) == "Goodbye!"
    assert record.closed_at is not None and record.closed_at >= record.frames[-1].end - 0.005
    assert summary.ended_by == "agent_ended" and summary.error is None
    assert call.bridge_side.close_code == 1000
    assert summary.audio_out_ms == 20 * len(record.frames)


async def test_a_model_that_fails_ends_the_call_with_an_error_summary() -> None:
    model = OpenAIRealtimeModel("sk-test", base_url="ws://127.0.0.1:9/v1")  # nothing listens
    async with bridged(model, RealtimeAgent("phone", model)) as call:
        summary = await call.summary()
        await call.caller.wait_for(lambda r: r.closed_at is not None)
    assert summary.ended_by == "model_error" and summary.error
    assert call.bridge_side.close_code == 1011


async def test_the_agent_may_be_chosen_per_call() -> None:
    chosen: list[CallInfo] = []

    async def provider(peer: Peer) -> None:
        await peer.send({"type": "session.created", "session": {}})
        await anyio.sleep_forever()

    model = ScriptedModel(provider)

    async def pick(info: CallInfo) -> RealtimeAgent:
        chosen.append(info)
        return RealtimeAgent("sales" if info.custom_parameters.get("line") == "2" else "x", model)

    async with bridged(model, pick, caller_kwargs={"custom_parameters": {"line": "2"}}) as call:
        await call.caller.stop()
        summary = await call.summary()
    assert chosen[0].call_id == summary.call_id == call.caller.call_sid


# ---------------------------------------------------------------- the other carriers


def ulaw(frames: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(f["media"]["payload"]) for f in frames)


@pytest.mark.parametrize("carrier", ["telnyx", "plivo"])
async def test_telnyx_and_plivo_calls_are_bridged_too(carrier: str) -> None:
    wire = WIRES[carrier]
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        model = sim_model(server)
        bridge_side, caller_side = memory_socket_pair()
        stream = TelnyxMediaStream() if carrier == "telnyx" else PlivoAudioStream()
        options = BridgeOptions(greeting="Say goodbye")
        result: list[CallSummary] = []

        async def run_bridge() -> None:
            agent = RealtimeAgent("phone", model, instruction="x")
            result.append(await bridge_call(bridge_side, stream, model, agent, options=options))

        frames: list[dict[str, Any]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_bridge)
            await caller_side.send(json.dumps(wire.start("S")))
            await caller_side.send(json.dumps(wire.media(b"\xff" * 160)))
            while True:  # play the part of the carrier until the greeting's end mark
                message = json.loads(await caller_side.receive())
                if message["event"] == wire.out_media:
                    frames.append(message)
                elif message["event"] == wire.out_mark:
                    name = wire.mark_name(message)
                    await caller_side.send(json.dumps(wire.echo(name)))
                    at_end = name.endswith(f"@{20 * len(frames)}ms")  # the codec's mark names
                    if at_end and heard_text(ulaw(frames)) == "Goodbye!":
                        break
            await caller_side.send(json.dumps(wire.stop))
    (summary,) = result
    assert summary.carrier == carrier and summary.ended_by == "carrier_stop"
    assert summary.heard_ms == 20 * len(frames) > 0
    assert heard_text(ulaw(frames)) == "Goodbye!"
    info = call_info(stream)
    assert info.carrier == carrier
    if carrier == "telnyx":
        assert (info.caller, info.called) == ("+15550100000", "+15550100001")


# ---------------------------------------------------------------- streaming conversions


def sine(rate: int, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * math.pi * hz * t) * 12000).astype("<i2").tobytes()


class SendSink:
    """A carrier socket with ``send`` only (as an ASGI app's)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def send(self, message: str) -> None:
        self.messages.append(message)


class BatchSink(SendSink):
    """One with ``send_many`` too (as ``WebSocketConnection``): each batch kept as given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    async def send_many(self, messages: list[str]) -> None:
        self.batches.append(list(messages))
        self.messages.extend(messages)


async def test_the_speaker_sends_what_is_due_at_once_where_the_socket_can() -> None:
    """The same messages reach a socket with ``send_many`` as one without; a response's
    first frames and their mark, due together, go in one batch."""

    async def speak(sink: SendSink) -> None:
        speaker = CarrierSpeaker(
            started("twilio"), audio_format=AudioFormat.g711_ulaw(), on_heard=lambda i, m: None
        )
        speaker.play(bytes(range(256)) * 10, "item")  # 320 ms: 16 frames
        speaker.end_of_response()
        speaker.finish(drain=True)  # returns once everything was sent and played
        with anyio.fail_after(10):
            await speaker.run(sink)

    plain, batched = SendSink(), BatchSink()
    await speak(plain)
    await speak(batched)
    assert batched.messages == plain.messages
    kinds = [json.loads(m)["event"] for m in plain.messages]
    assert kinds.count("media") == 16 and "mark" in kinds
    lead = [json.loads(m)["event"] for m in batched.batches[0]]
    assert lead == ["media"] * 5 + ["mark"]  # max_ahead_ms (100) at once, then its mark
    assert all(len(batch) > 1 for batch in batched.batches)  # single ones go by send


def test_model_pcm_to_the_carrier_is_resampled_as_one_stream() -> None:
    """24 kHz PCM in many small deltas (odd sizes, a sample split across two) gives the
    caller the same μ-law as one delta: no clicks at chunk edges."""
    pcm = sine(24000, 0.5)

    def through_speaker(chunks: list[bytes]) -> bytes:
        stream = started("twilio")
        speaker = CarrierSpeaker(
            stream, audio_format=AudioFormat.pcm16(24000), on_heard=lambda i, m: None
        )
        for chunk in chunks:
            speaker.play(chunk, "item")
        speaker.end_of_response()
        out = b""
        while (due := speaker.pacer.get_timer()) is not None:  # the sender's clock
            speaker.pacer.handle_timer(due)
            for message in speaker.pacer.data_to_send():
                decoded = json.loads(message)
                if decoded["event"] == "media":
                    out += base64.b64decode(decoded["media"]["payload"])
        return out

    sizes = [1, 7, 480, 2, 333, 960, 5]
    chunks, i, k = [], 0, 0
    while i < len(pcm):
        chunks.append(pcm[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    one = through_speaker([pcm])
    many = through_speaker(chunks)
    assert many == one
    resampler = Resampler(24000, 8000)
    expected = ulaw_encode(resampler.process(pcm) + resampler.flush())
    assert one == expected + b"\xff" * (-len(expected) % 160)  # padded to a whole frame


async def test_caller_ulaw_reaches_a_pcm_model_resampled_as_one_stream() -> None:
    """Gemini's way (here an OpenAI session configured for PCM): 8 kHz μ-law in 20 ms
    payloads becomes the same PCM as the whole call converted at once."""
    ulaw = ulaw_encode(sine(8000, 0.4))
    received: list[bytes] = []
    got_all = anyio.Event()

    async def provider(peer: Peer) -> None:
        await peer.send({"type": "session.created", "session": {}})
        while True:
            message = await peer.recv()
            if message["type"] == "input_audio_buffer.append":
                received.append(base64.b64decode(message["audio"]))
                if sum(map(len, received)) >= len(ulaw) * 3 - 400:
                    got_all.set()

    model = ScriptedModel(provider)
    async with model.connect(RealtimeConfig()) as session:
        for i in range(0, len(ulaw), 160):
            await session.send_encoded_audio(ulaw[i : i + 160], AudioEncoding.G711_ULAW)
        with anyio.fail_after(5):
            await got_all.wait()
    expected = Resampler(8000, 24000).process(ulaw_decode(ulaw))
    assert b"".join(received) == expected


async def test_g711_sessions_take_the_carrier_bytes_unchanged() -> None:
    ulaw = bytes(range(256)) * 2
    received: list[bytes] = []
    got = anyio.Event()

    async def provider(peer: Peer) -> None:
        await peer.send({"type": "session.created", "session": {}})
        while True:
            message = await peer.recv()
            if message["type"] == "input_audio_buffer.append":
                received.append(base64.b64decode(message["audio"]))
                got.set()

    model = ScriptedModel(provider, protocol=OpenAIProtocol)
    config = RealtimeConfig(input_audio_format=AudioFormat.g711_ulaw())
    async with model.connect(config) as session:
        await session.send_encoded_audio(ulaw, AudioEncoding.G711_ULAW)
        with pytest.raises(ConfigError, match="send_audio"):
            await session.send_encoded_audio(b"\x00\x00", AudioEncoding.PCM16)
        with anyio.fail_after(5):
            await got.wait()
    assert received == [ulaw]


def test_which_models_take_g711() -> None:
    assert OpenAIRealtimeModel("k").accepts_g711
    assert not OpenAIRealtimeModel("k", transport="webrtc").accepts_g711  # Opus over RTP
    assert not ScriptedModel(lambda peer: anyio.sleep(0)).accepts_g711  # the default
