"""A real, independent SIP peer calls the agent: baresip (headless, a WAV as microphone,
what it hears recorded) dials ``sip:agent@127.0.0.1:P`` on our :class:`SipServer`, in
front of the demo weather agent on the in-process provider simulator.

Skipped only where ``baresip`` is not on PATH (``.ci/run`` installs baresip-core).
"""

from __future__ import annotations

import socket
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from adk_realtime.cli_common import DEMO_QUESTION, build_assistant
from adk_realtime.drivers.simulator import SimulatorServer, run_simulator
from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.phone_caller import spoken_ulaw
from adk_realtime.runner import EventHandler
from adk_realtime.sansio.audio import ulaw_decode
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.sansio.sim.speech import SpeechRecognizer
from adk_realtime.sansio.sip.message import SipMessage, parse_message
from adk_realtime.sip_server import SipAddress, SipServer, serve_sip
from tests.sip_peer import BARESIP, Baresip, write_wav

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        BARESIP is None, reason="baresip is not installed (apt-get install baresip-core)"
    ),
]


class Agents:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.infos: list[Any] = []

    def __call__(self, info: Any) -> Any:
        self.infos.append(info)
        return build_assistant(self.model)


class Digits(EventHandler):
    """Keeps the DTMF digits."""

    def __init__(self) -> None:
        self.digits: list[str] = []

    def on_dtmf(self, digit: str) -> None:
        self.digits.append(digit)


def question_wav(path: Path, seconds_after: float = 30.0) -> Path:
    """The demo question as the simulator's speech, 8 kHz, padded with silence so baresip
    (which hangs up when its WAV ends) stays on the line."""
    pcm = (
        bytes(2 * 2400)
        + ulaw_decode(spoken_ulaw(DEMO_QUESTION))
        + bytes(int(2 * 8000 * seconds_after))
    )
    write_wav(path, pcm)
    return path


def transcript(path: Path) -> str:
    with wave.open(str(path)) as wav:
        rate, data = wav.getframerate(), wav.readframes(wav.getnframes())
    ears = SpeechRecognizer(rate)
    ears.feed(data)
    return ears.text


def received_recording(peer: Baresip) -> Path:
    (path,) = [p for p in peer.recordings() if p.name.endswith("-dec.wav")]
    return path


@asynccontextmanager
async def agent_line(
    tmp_path: Path, provider: str = "openai", **server_kw: Any
) -> AsyncIterator[tuple[SipServer, SipAddress, SimulatorServer, Agents]]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as sim:
        model: Any
        if provider == "gemini":  # PCM16: the bridge transcodes both ways
            model = GeminiRealtimeModel(GeminiLiveBackend.Public("k", base_url=sim.gemini_base_url))
        else:  # μ-law passes through
            model = OpenAIRealtimeModel(
                "sk-simulator", "gpt-realtime", base_url=sim.openai_base_url
            )
        agents = Agents(model)
        server = SipServer(model, agents, port=0, **server_kw)
        async with serve_sip(server) as where:
            yield server, where, sim, agents


@asynccontextmanager
async def baresip(workdir: Path, microphone: Path) -> AsyncIterator[Baresip]:
    peer = Baresip(workdir, microphone)
    try:
        await peer.start()
        yield peer
    finally:
        with anyio.CancelScope(shield=True):
            await peer.stop()


async def wait_for_answer(server: SipServer, timeout: float = 40.0) -> None:
    """Until the agent's answer has gone out and the line was quiet for a second."""
    with anyio.fail_after(timeout):
        last, quiet_since = -1, time.monotonic()
        while True:
            heard = sum(m.carrier.heard_ms for m in server.media.values())
            if heard != last:
                last, quiet_since = heard, time.monotonic()
            elif heard > 2000 and time.monotonic() - quiet_since > 1.0:
                return
            await anyio.sleep(0.1)


@pytest.mark.parametrize(
    ("anyio_backend", "provider"),
    [("asyncio", "openai"), ("trio", "openai"), ("asyncio", "gemini")],
)
async def test_baresip_asks_and_hears_the_answer_presses_a_key_and_hangs_up(
    anyio_backend: str, provider: str, tmp_path: Path
) -> None:
    handler = Digits()
    async with agent_line(tmp_path, provider, event_handler=handler) as (
        server,
        where,
        sim,
        agents,
    ):
        async with baresip(tmp_path / "peer", question_wav(tmp_path / "q.wav")) as peer:
            await peer.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            await peer.wait_event("CALL_ESTABLISHED", 10)
            await wait_for_answer(server)
            await peer.command("sndcode", "5")
            with anyio.fail_after(5):
                while not handler.digits:
                    await anyio.sleep(0.05)
            await peer.command("hangup")
            hung_up = time.monotonic()
            await peer.wait_event("CALL_CLOSED", 5)
            with anyio.fail_after(1.0):  # BYE closes the provider session within a second
                await sim.wait_idle()
            assert time.monotonic() - hung_up < 1.5
            with anyio.fail_after(5):
                while not server.summaries:
                    await anyio.sleep(0.05)
        heard = transcript(received_recording(peer))
    assert "sunny" in heard and "Paris" in heard
    assert handler.digits == ["5"]
    (summary,) = server.summaries
    assert summary.carrier == "sip" and summary.ended_by == "carrier_stop"
    assert summary.heard_ms > 2000 and summary.dtmf_digits == "5"
    (info,) = agents.infos
    assert info.carrier == "sip" and info.caller == "sip:caller@127.0.0.1"
    assert info.called.startswith("sip:agent@127.0.0.1") and "caller@" not in repr(info)


def _invite(port: int, call_id: str, sdp: bytes, branch: str) -> bytes:
    return SipMessage(
        method="INVITE",
        uri=f"sip:agent@127.0.0.1:{port}",
        headers=[
            ("Via", f"SIP/2.0/UDP 127.0.0.1:9;branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", "<sip:probe@127.0.0.1>;tag=p1"),
            ("To", f"<sip:agent@127.0.0.1:{port}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", "<sip:probe@127.0.0.1>"),
            ("Content-Type", "application/sdp"),
        ],
        body=sdp,
    ).serialize()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_codecless_offer_gets_488_and_garbage_does_not_stop_the_next_call(
    anyio_backend: str, tmp_path: Path
) -> None:
    opus_only = b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"
    async with agent_line(tmp_path) as (server, where, _sim, _agents):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(5)
        try:
            probe.sendto(b"\x00\x01garbage\r\n\r\n", ("127.0.0.1", where.port))
            probe.sendto(
                _invite(where.port, "opus-1", opus_only, "z9hG4bK-o1"), ("127.0.0.1", where.port)
            )
            statuses = []
            with anyio.fail_after(5):
                while 488 not in statuses:
                    data, _addr = await anyio.to_thread.run_sync(probe.recvfrom, 65535)
                    statuses.append(parse_message(data).status)
            assert statuses == [100, 488]
        finally:
            probe.close()
        assert server.uas is not None and server.uas.dropped == 1
        # the next call, from baresip, still works
        async with baresip(tmp_path / "peer", question_wav(tmp_path / "q.wav")) as peer:
            await peer.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            await peer.wait_event("CALL_ESTABLISHED", 10)
            await peer.command("hangup")
            await peer.wait_event("CALL_CLOSED", 5)
        with anyio.fail_after(5):
            assert await server.drain(timeout=4)  # nothing left; new calls now get 503
        assert server.calls_served == 1 and server.active_calls == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_two_concurrent_calls_are_both_answered(anyio_backend: str, tmp_path: Path) -> None:
    async with agent_line(tmp_path) as (server, where, sim, _agents):
        question = question_wav(tmp_path / "q.wav")
        async with (
            baresip(tmp_path / "a", question) as first,
            baresip(tmp_path / "b", question) as second,
        ):
            for peer in (first, second):
                await peer.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            for peer in (first, second):
                await peer.wait_event("CALL_ESTABLISHED", 10)
            assert len(server.media) == 2
            await wait_for_answer(server, timeout=60)
            for peer in (first, second):
                await peer.command("hangup")
                await peer.wait_event("CALL_CLOSED", 5)
            with anyio.fail_after(2):
                await sim.wait_idle()
            with anyio.fail_after(5):
                while len(server.summaries) < 2:
                    await anyio.sleep(0.05)
        for peer in (first, second):
            assert "sunny" in transcript(received_recording(peer))
    assert len(server.summaries) == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_hold_and_resume_by_reinvite_pause_and_resume_our_rtp(
    anyio_backend: str, tmp_path: Path
) -> None:
    async with agent_line(tmp_path) as (server, where, _sim, _agents):
        async with baresip(tmp_path / "peer", question_wav(tmp_path / "q.wav")) as peer:
            await peer.command("dial", f"sip:agent@127.0.0.1:{where.port}")
            await peer.wait_event("CALL_ESTABLISHED", 10)
            (media,) = server.media.values()
            assert not media.on_hold
            await peer.command("hold")
            with anyio.fail_after(5):
                while not media.on_hold:
                    await anyio.sleep(0.05)
            await peer.command("resume")
            with anyio.fail_after(5):
                while media.on_hold:
                    await anyio.sleep(0.05)
            await peer.command("hangup")
            await peer.wait_event("CALL_CLOSED", 5)
