"""PeerConnection in memory: a simulated clock and network against an answerer built from
our own sans-IO pieces (ICE controlled, DTLS client, SCTP, SRTP), so every behaviour is
driven deterministically. The real-peer interop is tests/test_webrtc_aiortc.py."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import anyio
import anyio.abc
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.drivers.webrtc import open_peer
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError, ProtocolError
from adk_realtime.sansio.webrtc.datachannel import DataChannelManager
from adk_realtime.sansio.webrtc.dtls import (
    DtlsApplicationData,
    DtlsCertificate,
    DtlsConnected,
    DtlsEndpoint,
    classify_datagram,
)
from adk_realtime.sansio.webrtc.ice import IceAgent, SelectedPair
from adk_realtime.sansio.webrtc.media import AudioReceiver, AudioSender
from adk_realtime.sansio.webrtc.opus import OpusEncoder
from adk_realtime.sansio.webrtc.peer import (
    AudioFrame,
    ChannelMessage,
    ChannelOpened,
    ConnectionStateChanged,
    DataChannelQueueFull,
    PeerConnection,
    PeerEvent,
    PeerState,
)
from adk_realtime.sansio.webrtc.rtp import RtpPacketizer, is_rtcp, parse_rtp
from adk_realtime.sansio.webrtc.sctp.association import SctpAssociation
from adk_realtime.sansio.webrtc.sdp import build_offer, host_candidate, parse_offer
from adk_realtime.sansio.webrtc.srtp import SrtpSession

OURS = ("127.0.0.1", 5000)
THEIRS = ("127.0.0.1", 6000)
CERT = DtlsCertificate.generate()  # one per file: key generation is the slow part
OTHER_CERT = DtlsCertificate.generate()


class Answerer:
    """The answering side, composed by hand from the sans-IO pieces (no PeerConnection)."""

    def __init__(
        self,
        offer_sdp: str,
        rng: random.Random,
        *,
        lie_fingerprint: bool = False,
        theirs: tuple[str, int] = THEIRS,
        setup: str = "active",
        refuse_silently: bool = False,
    ):
        # refuse_silently: as aiortc does with a certificate that is not the one in the
        # offer, finish the DTLS handshake, then go quiet (no alert, no SCTP; ICE goes on).
        self.refuse_silently = refuse_silently
        self.refused = False
        offer = parse_offer(offer_sdp)
        self.peer_addr = offer.candidates[0].addr
        self.offer = offer
        self.ice = IceAgent(
            "ansr",
            "answererpassword012345678",
            controlling=False,
            tie_breaker=rng.getrandbits(64),
            local_candidates=[host_candidate(*theirs)],
            rng=rng,
        )
        role = "client" if setup == "active" else "server"
        self.dtls = DtlsEndpoint(role, certificate=CERT, remote_fingerprint=offer.fingerprint.value)
        advertised = OTHER_CERT if lie_fingerprint else CERT
        self.answer = build_offer(
            ice_ufrag="ansr",
            ice_pwd="answererpassword012345678",
            fingerprint_sha256=advertised.fingerprint_sdp,
            candidates=[host_candidate(*theirs)],
            audio_ssrc=4242,
            cname="answerer",
            session_id=7,
            include_g711=False,
        ).replace("a=setup:actpass", f"a=setup:{setup}")
        self.sctp = SctpAssociation(is_client=role == "client", rng=rng, mtu=1100)
        self.channels = DataChannelManager(self.sctp, is_client=role == "client")
        self.srtp: SrtpSession | None = None
        self.sender: AudioSender | None = None
        self.receiver: AudioReceiver | None = None
        self.rtp_seen: list[bytes] = []  # plaintext RTP packets from the offerer
        self.pcm: list[bytes] = []
        self.messages: list[str | bytes] = []
        self.opened: list[str] = []
        self.connected = False
        self.route: tuple[int, tuple[str, int]] | None = None
        self.out: list[bytes] = []
        self.started = False
        self.ssrc_override: int | None = None

    def start(self, now: float) -> None:
        self.ice.set_remote(
            self.offer.ice_ufrag, self.offer.ice_pwd, self.offer.candidates, now=now
        )
        self.started = True
        self.process(now)

    def receive(self, data: bytes, now: float) -> None:
        kind = classify_datagram(data[0])
        if kind == "stun":
            self.ice.receive_datagram(data, (0, self.peer_addr), now)
        elif kind == "dtls" and not self.refused:
            self.dtls.receive_datagram(data, self.peer_addr, now)
        elif kind == "rtp" and self.srtp is not None and not is_rtcp(data):
            plain = self.srtp.unprotect_rtp(data)
            if plain is not None:
                self.rtp_seen.append(plain)
            assert self.receiver is not None
            self.receiver.receive_data(data, now)
            while (ev := self.receiver.next_event()) is not None:
                if isinstance(ev, AudioFrame):
                    self.pcm.append(ev.pcm)
        self.process(now)

    def timer(self) -> float | None:
        times = [self.ice.get_timer(), self.dtls.get_timer(), self.channels.get_timer()]
        return min((t for t in times if t is not None), default=None)

    def handle_timer(self, now: float) -> None:
        if not self.started:
            return
        self.ice.handle_timer(now)
        self.dtls.handle_timer(now)
        self.channels.handle_timer(now)
        self.process(now)

    def process(self, now: float) -> None:
        while (ev := self.ice.next_event()) is not None:
            if isinstance(ev, SelectedPair):
                self.dtls.start(now)
        while (dev := self.dtls.next_event()) is not None:
            if isinstance(dev, DtlsConnected) and self.refuse_silently:
                self.refused = True  # what aiortc does after a fingerprint mismatch
            elif isinstance(dev, DtlsConnected):
                assert dev.srtp_keys is not None
                self.connected = True
                self.srtp = SrtpSession(dev.srtp_keys)
                self.receiver = AudioReceiver(SrtpSession(dev.srtp_keys), 48000)
                self.sender = AudioSender(
                    RtpPacketizer(ssrc=4242, rng=random.Random(1)),
                    OpusEncoder(48000),
                    SrtpSession(dev.srtp_keys),
                    48000,
                )
                self.channels.connect(now)
            elif isinstance(dev, DtlsApplicationData):
                self.channels.receive_data(dev.data, now)
        while (cev := self.channels.next_event()) is not None:
            if isinstance(cev, ChannelMessage):
                self.messages.append(cev.data)
            elif isinstance(cev, ChannelOpened):
                self.opened.append(cev.channel.label)
        if self.dtls.is_connected:
            for packet in self.channels.data_to_send():
                self.dtls.send_application_data(packet)
        self.out += self.dtls.datagrams_to_send(now)
        self.out += [data for data, _route in self.ice.datagrams_to_send(now)]

    def send_audio(self, pcm: bytes) -> None:
        assert self.sender is not None
        self.sender.send_pcm(pcm)
        self.out += self.sender.data_to_send()

    def echo_message(self, text: str, now: float) -> None:
        channel = next(iter(self.channels.channels.values()))
        channel.send(text, now)
        self.process(now)


Drop = Callable[[str, bytes], bool]


class Net:
    """Moves datagrams between the two sides and advances a simulated clock."""

    def __init__(self, pc: PeerConnection, answerer: Answerer) -> None:
        self.pc = pc
        self.ans = answerer
        self.now = 0.0
        self.events: list[PeerEvent] = []
        self.drop: Drop = lambda direction, data: False
        self.to_them: list[bytes] = []

    def pump(self) -> None:
        for _ in range(1000):
            moved = False
            for data, route in self.pc.datagrams_to_send(self.now):
                assert route.local == 0 and route.remote == THEIRS
                self.to_them.append(data)
                moved = True
                if not self.drop("out", data):
                    self.ans.receive(data, self.now)
            out, self.ans.out = self.ans.out, []
            for data in out:
                moved = True
                if not self.drop("in", data):
                    self.pc.receive_datagram(data, (0, THEIRS), self.now)
            while (event := self.pc.next_event()) is not None:
                self.events.append(event)
            if not moved:
                return
        raise AssertionError("network never went quiet")

    def step(self) -> None:
        self.pump()
        times = [t for t in (self.pc.get_timer(), self.ans.timer()) if t is not None]
        self.now = max(self.now + 0.001, min(times, default=self.now + 0.02))
        self.pc.handle_timer(self.now)
        self.ans.handle_timer(self.now)
        self.pump()

    def run(self, until: Callable[[], bool], limit: float = 30.0) -> None:
        end = self.now + limit
        while not until():
            assert self.now < end, f"not done after {limit} simulated seconds"
            self.step()

    def states(self) -> list[PeerState]:
        return [e.state for e in self.events if isinstance(e, ConnectionStateChanged)]


def connect(
    seed: int = 1,
    *,
    lie_fingerprint: bool = False,
    input_rate: int = 24000,
    setup: str = "active",
    refuse_silently: bool = False,
) -> tuple[PeerConnection, Answerer, Net]:
    rng = random.Random(seed)
    pc = PeerConnection(local_addresses=[OURS], rng=rng, certificate=CERT, input_rate=input_rate)
    answerer = Answerer(
        pc.create_offer(),
        random.Random(seed + 100),
        lie_fingerprint=lie_fingerprint,
        setup=setup,
        refuse_silently=refuse_silently,
    )
    net = Net(pc, answerer)
    pc.set_answer(answerer.answer, 0.0)
    answerer.start(0.0)
    return pc, answerer, net


def channel_is_open(net: Net) -> Callable[[], bool]:
    return lambda: any(isinstance(e, ChannelOpened) for e in net.events)


def messages(events: list[PeerEvent]) -> list[tuple[str, str | bytes]]:
    """(label, data) of every channel message among ``events``."""
    return [(e.label, e.data) for e in events if isinstance(e, ChannelMessage)]


def opened(events: list[PeerEvent]) -> list[str]:
    """The labels of the channels that opened among ``events``."""
    return [e.label for e in events if isinstance(e, ChannelOpened)]


def tone(freq: float, rate: int, ms: int) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * math.pi * freq * t) * 12000).astype("<i2").tobytes()


def peak_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


# ---------------------------------------------------------------------------- tests


def test_offerer_connects_opens_oai_events_and_messages_flow_both_ways() -> None:
    pc, ans, net = connect()
    assert pc.state is PeerState.CHECKING
    net.run(channel_is_open(net))
    assert net.states() == [PeerState.CHECKING, PeerState.CONNECTED]
    assert ans.opened == ["oai-events"]
    pc.send_message('{"type":"session.update"}', net.now)
    net.pump()
    assert ans.messages == ['{"type":"session.update"}']
    ans.echo_message('{"type":"session.updated"}', net.now)
    net.pump()
    assert ("oai-events", '{"type":"session.updated"}') in messages(net.events)


def test_a_passive_answer_makes_us_the_dtls_client_with_even_stream_ids() -> None:
    pc, ans, net = connect(seed=2, setup="passive")
    net.run(channel_is_open(net))
    assert pc.dtls is not None and pc.dtls.role == "client"
    assert ans.dtls.role == "server"
    assert [c.stream_id % 2 for c in ans.channels.channels.values()] == [0]  # RFC 8832 6
    pc.send_message("as client", net.now)
    net.pump()
    assert ans.messages == ["as client"]


def test_messages_sent_before_the_channel_opens_wait_and_the_51st_raises() -> None:
    pc, ans, net = connect()
    for i in range(50):
        pc.send_message(f"early {i}", net.now)
    with pytest.raises(DataChannelQueueFull):
        pc.send_message("one too many", net.now)
    net.run(lambda: len(ans.messages) == 50)
    assert ans.messages == [f"early {i}" for i in range(50)]  # in order, none lost


def test_pending_queue_is_bounded_while_dtls_is_up_but_channel_not_yet_acked() -> None:
    pc, ans, net = connect()
    blocked = [True]
    # No SCTP (DTLS application data, content type 23) reaches the answerer: the channel
    # stays unacknowledged while DTLS and audio are up.
    net.drop = lambda direction, data: blocked[0] and direction == "out" and data[0] == 23
    net.run(lambda: pc.dtls is not None and pc.dtls.is_connected)  # CONNECTED waits for it
    net.step()
    assert not pc.channel_open
    sent = 0
    with pytest.raises(DataChannelQueueFull):
        for i in range(60):
            pc.send_message(f"m{i}", net.now)
            sent += 1
    assert sent == 50
    blocked[0] = False
    net.run(lambda: len(ans.messages) == 50)
    assert ans.messages == [f"m{i}" for i in range(50)]


def test_rtp_clock_is_48khz_and_ssrc_is_stable_whatever_the_input_rate() -> None:
    for rate in (24000, 16000, 48000):
        pc, ans, net = connect(seed=3, input_rate=rate)
        net.run(lambda pc=pc: pc.state is PeerState.CONNECTED)
        for _ in range(10):  # 200 ms in odd-sized chunks
            pc.send_audio(tone(440, rate, 20)[: rate // 50 * 2 - 6])
            pc.send_audio(b"\x00" * 6)
        net.pump()
        packets = [parse_rtp(p) for p in ans.rtp_seen]
        assert len(packets) == 10
        assert {p.ssrc for p in packets} == {pc.local_ssrc}
        assert f"a=ssrc:{pc.local_ssrc} " in pc.create_offer()
        steps = {(b.timestamp - a.timestamp) % 2**32 for a, b in itertools.pairwise(packets)}
        assert steps == {960}
        assert {(b.sequence - a.sequence) % 2**16 for a, b in itertools.pairwise(packets)} == {1}
        assert packets[0].marker and not any(p.marker for p in packets[1:])


def test_audio_resampled_from_another_rate_keeps_the_clock() -> None:
    pc, ans, net = connect(seed=4, input_rate=24000)
    net.run(lambda: pc.state is PeerState.CONNECTED)
    for _ in range(5):
        pc.send_audio(tone(300, 48000, 20), 48000)
    net.pump()
    packets = [parse_rtp(p) for p in ans.rtp_seen]
    assert len(packets) >= 4
    assert {(b.timestamp - a.timestamp) % 2**32 for a, b in itertools.pairwise(packets)} == {960}


def test_tone_round_trips_through_opus_srtp_both_ways() -> None:
    pc, ans, net = connect(seed=5)
    net.run(lambda: pc.state is PeerState.CONNECTED)
    pcm = tone(440, 24000, 600)
    for i in range(0, len(pcm), 960):
        pc.send_audio(pcm[i : i + 960])
        net.pump()
    assert abs(peak_hz(b"".join(ans.pcm[5:]), 48000) - 440) < 10
    back = tone(660, 48000, 600)
    for i in range(0, len(back), 1920):
        ans.send_audio(back[i : i + 1920])
        net.pump()
    frames = [e for e in net.events if isinstance(e, AudioFrame)]
    assert len(frames) >= 25 and {f.sample_rate for f in frames} == {24000}
    assert {len(f.pcm) for f in frames} == {960}  # 20 ms of PCM16 at 24 kHz
    assert abs(peak_hz(b"".join(f.pcm for f in frames[5:]), 24000) - 660) < 10


def test_a_second_inbound_ssrc_is_ignored_and_counted() -> None:
    pc, ans, net = connect(seed=6)
    net.run(lambda: pc.state is PeerState.CONNECTED)
    assert ans.sender is not None
    ans.send_audio(tone(500, 48000, 60))
    net.pump()
    before = len([e for e in net.events if isinstance(e, AudioFrame)])
    assert before == 3
    intruder = AudioSender(
        RtpPacketizer(ssrc=999, rng=random.Random(2)),
        OpusEncoder(48000),
        ans.sender.srtp,
        48000,
    )
    intruder.send_pcm(tone(900, 48000, 60))
    ans.out += intruder.data_to_send()
    net.pump()
    assert len([e for e in net.events if isinstance(e, AudioFrame)]) == before
    assert pc.audio_receiver is not None
    assert pc.audio_receiver.depacketizer.stats["foreign_ssrc"] == 3
    assert pc.audio_receiver.depacketizer.ssrc == 4242


def test_audio_before_the_connection_is_up_is_dropped_and_counted() -> None:
    pc = PeerConnection(local_addresses=[OURS], rng=random.Random(1), certificate=CERT)
    pc.send_audio(b"\x00" * 960)
    assert pc.stats["audio_packets_sent"] == 0
    assert pc.stats["audio_bytes_dropped"] == 960
    assert pc.datagrams_to_send(0.0) == []


def test_dtls_fingerprint_mismatch_fails_at_once() -> None:
    pc, _ans, net = connect(seed=7, lie_fingerprint=True)
    net.run(lambda: PeerState.FAILED in net.states())
    assert net.states() == [PeerState.CHECKING, PeerState.FAILED]
    failed = [e for e in net.events if isinstance(e, ConnectionStateChanged)][-1]
    assert "fingerprint mismatch" in failed.reason
    assert pc.get_timer() is None or pc.state is PeerState.FAILED
    with pytest.raises(LocalProtocolError):
        pc.send_message("too late", net.now)


def test_ice_failure_reports_failed_in_the_same_call() -> None:
    pc, _ans, net = connect(seed=8)
    net.drop = lambda direction, data: True  # nothing ever arrives
    deadline = None
    while pc.state is not PeerState.FAILED:
        deadline = pc.get_timer()
        assert deadline is not None and deadline < 40
        net.now = deadline
        pc.handle_timer(deadline)
        pc.datagrams_to_send(deadline)
        if pc.state is PeerState.FAILED:
            # the event is already queued by the call that failed
            event = pc.next_event()
            assert event == ConnectionStateChanged(PeerState.FAILED, event.reason)  # type: ignore[union-attr]
            assert event is not None and "ICE failed" in event.reason  # type: ignore[union-attr]
        else:
            while pc.next_event() is not None:
                pass
    assert deadline is not None and 14 <= deadline <= 16  # the 15 s check timeout


def test_lost_consent_fails_the_connection() -> None:
    _pc, _ans, net = connect(seed=9)
    net.run(channel_is_open(net))
    net.drop = lambda direction, data: direction == "in"  # the peer vanishes
    net.run(lambda: PeerState.FAILED in net.states(), limit=40)
    failed = [e for e in net.events if isinstance(e, ConnectionStateChanged)][-1]
    assert "consent" in failed.reason


def test_sctp_abort_from_the_peer_fails_the_connection() -> None:
    pc, ans, net = connect(seed=10)
    net.run(channel_is_open(net))
    ans.sctp.abort("bye")
    ans.process(net.now)
    net.pump()
    assert net.states()[-1] is PeerState.FAILED
    assert pc.failure_reason is not None and "SCTP" in pc.failure_reason


def test_close_sends_abort_and_close_notify_then_is_inert() -> None:
    pc, ans, net = connect(seed=11)
    net.run(channel_is_open(net))
    pc.close()
    net.pump()
    assert net.states()[-1] is PeerState.CLOSED
    assert ans.dtls.state == "closed"
    assert pc.get_timer() is None
    pc.receive_datagram(b"\x16garbage", (0, THEIRS), net.now)
    assert pc.stats["after_close"] == 1


def test_hostile_datagrams_are_counted_never_raised() -> None:
    pc, ans, net = connect(seed=12)
    net.run(channel_is_open(net))
    garbage = [
        b"",
        b"\xff" * 40,
        b"\x00\x01",
        b"\x16\xfe\xfd" + b"\x00" * 5,
        b"\x80" + b"\x00" * 3,
        b"\x80\x6f" + b"\x01" * 100,
        b"\x81\xc8" + b"\x00" * 30,
    ]
    for data in garbage:
        pc.receive_datagram(data, (0, THEIRS), net.now)
    pc.receive_datagram(b"\x80\x6f" + b"\x00" * 40, (0, ("10.9.9.9", 1)), net.now)
    pc.receive_datagram(b"\x80\x6f" + b"\x00" * 40, (7, THEIRS), net.now)  # no such socket
    pc.receive_datagram(b"\x16" * 20, "nonsense", net.now)  # type: ignore[arg-type]
    assert pc.stats["unknown_datagrams"] == 2
    assert pc.stats["unexpected_source"] == 3
    assert pc.state is PeerState.CONNECTED
    pc.send_message("still fine", net.now)
    net.pump()
    assert ans.messages[-1] == "still fine"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8), st.sampled_from([0, 1]))
def test_demux_of_garbage_never_raises(datagrams: list[bytes], stage: int) -> None:
    pc = _GARBAGE_PEERS[stage]
    for data in datagrams:
        pc.receive_datagram(data, (0, THEIRS), 1.0)
        pc.handle_timer(1.0)
        pc.datagrams_to_send(1.0)
        while pc.next_event() is not None:
            pass


def _garbage_peers() -> list[PeerConnection]:
    fresh = PeerConnection(local_addresses=[OURS], rng=random.Random(3), certificate=CERT)
    fresh.create_offer()
    answered, _ans, net = connect(seed=13)
    net.run(channel_is_open(net))
    return [fresh, answered]


_GARBAGE_PEERS = _garbage_peers()


def test_bad_answers_raise_protocol_errors_and_change_nothing() -> None:
    pc = PeerConnection(local_addresses=[OURS], rng=random.Random(1), certificate=CERT)
    with pytest.raises(LocalProtocolError):
        pc.set_answer("v=0", 0.0)  # no offer yet
    offer = pc.create_offer()
    for bad in ("", "garbage", offer.replace("m=application", "m=video")):
        with pytest.raises(ProtocolError):
            pc.set_answer(bad, 0.0)
    assert pc.state is PeerState.NEW and pc.answer is None


def test_repr_and_offer_hide_nothing_secret_but_carry_ice_credentials() -> None:
    pc = PeerConnection(local_addresses=[OURS, ("127.0.0.2", 5001)], rng=random.Random(1))
    offer = pc.create_offer()
    assert offer == pc.create_offer()
    assert "a=candidate:" in offer and "127.0.0.2 5001" in offer
    assert "a=ice-pwd:" in offer and "ice-pwd" not in repr(pc)
    assert "BEGIN" not in repr(pc)


def test_datagrams_are_all_within_the_mtu() -> None:
    pc, ans, net = connect(seed=14)
    net.run(channel_is_open(net))
    pc.send_message("x" * 60000, net.now)
    net.run(lambda: len(ans.messages) == 1)
    assert ans.messages == ["x" * 60000]
    assert max(len(d) for d in net.to_them) <= 1200


def test_the_answer_must_carry_opus_and_a_data_channel() -> None:
    pc = PeerConnection(local_addresses=[OURS], rng=random.Random(1), certificate=CERT)
    ans = Answerer(pc.create_offer(), random.Random(2))
    no_opus = ans.answer.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 foo/48000/2")
    with pytest.raises(ProtocolError, match="Opus"):
        pc.set_answer(no_opus, 0.0)
    cut = ans.answer.split("m=application")[0]
    with pytest.raises(ProtocolError, match="data channel"):
        pc.set_answer(cut, 0.0)


@pytest.mark.anyio
async def test_udp_driver_connects_on_loopback_under_each_backend() -> None:
    """The anyio driver (asyncio and trio) against the composed answerer on a real socket."""
    sock = await anyio.create_udp_socket(local_host="127.0.0.1", local_port=0)
    theirs = ("127.0.0.1", int(sock.extra(anyio.abc.SocketAttribute.local_port)))
    async with sock, open_peer(local_addresses=["127.0.0.1"], certificate=CERT) as peer:
        ans = Answerer(peer.offer, random.Random(21), theirs=theirs)
        peer.set_answer(ans.answer)
        ans.start(anyio.current_time())

        async def flush() -> None:
            out, ans.out = ans.out, []
            for data in out:
                await sock.sendto(data, *ans.peer_addr)

        async def serve() -> None:
            async with anyio.create_task_group() as tg:

                async def timers() -> None:
                    while True:  # the test peer polls its timers every 20 ms at most
                        due = ans.timer()
                        wait = 0.02 if due is None else min(0.02, due - anyio.current_time())
                        await anyio.sleep(max(0.0, wait))
                        ans.handle_timer(anyio.current_time())
                        await flush()

                tg.start_soon(timers)
                async for data, _addr in sock:
                    ans.receive(data, anyio.current_time())
                    await flush()

        frames: list[AudioFrame] = []
        got: list[ChannelMessage] = []
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve)
                peer.send_message("hello over udp")
                while len(frames) < 5 or not got:
                    event = await peer.next_event()
                    if isinstance(event, ChannelOpened):
                        ans.echo_message("hi back", anyio.current_time())
                        ans.send_audio(tone(500, 48000, 100))
                        await flush()
                    elif isinstance(event, AudioFrame):
                        frames.append(event)
                    elif isinstance(event, ChannelMessage):
                        got.append(event)
                    elif isinstance(event, ConnectionStateChanged):
                        assert event.state is not PeerState.FAILED, event.reason
                tg.cancel_scope.cancel()
        assert ans.messages == ["hello over udp"]
        assert [(m.label, m.data) for m in got] == [("oai-events", "hi back")]
        assert {len(f.pcm) for f in frames} == {960}
    assert peer.closed and peer.state is PeerState.CLOSED


def test_dtls_handshake_timeout_fails_the_connection() -> None:
    pc, _ans, net = connect(seed=15)
    net.drop = lambda direction, data: 20 <= data[0] <= 63  # ICE works, DTLS never arrives
    net.run(lambda: PeerState.FAILED in net.states(), limit=40)
    assert pc.ice.selected_pair is not None  # ICE itself had succeeded
    assert pc.failure_reason is not None and "timed out" in pc.failure_reason
    assert 9.9 <= net.now <= 10.5  # setup_timeout after ICE found a path, not DTLS's own 30 s


def connect_with(
    edit: Callable[[str], str], seed: int = 16
) -> tuple[PeerConnection, Answerer, Net]:
    """Like `connect`, with the answer text rewritten by ``edit`` before we read it."""
    pc = PeerConnection(local_addresses=[OURS], rng=random.Random(seed), certificate=CERT)
    ans = Answerer(pc.create_offer(), random.Random(seed + 100))
    net = Net(pc, ans)
    pc.set_answer(edit(ans.answer), 0.0)
    ans.start(0.0)
    return pc, ans, net


def test_opus_payload_type_comes_from_the_answer_both_ways() -> None:
    # aiortc and many stacks number Opus 96; the answer's number is used on the wire.
    def pt96(sdp: str) -> str:
        sdp = sdp.replace("SAVPF 111", "SAVPF 96").replace("a=rtpmap:111 ", "a=rtpmap:96 ")
        return sdp.replace("a=fmtp:111 ", "a=fmtp:96 ")

    pc, ans, net = connect_with(pt96)
    assert pc.answer is not None and pc.answer.opus is not None
    assert pc.answer.opus.payload_type == 96
    net.run(lambda: pc.state is PeerState.CONNECTED)
    for _ in range(3):
        pc.send_audio(tone(440, 24000, 20))
    net.pump()
    assert [parse_rtp(p).payload_type for p in ans.rtp_seen] == [96, 96, 96]
    assert ans.sender is not None
    ans.sender.packetizer.payload_type = 96
    ans.send_audio(tone(500, 48000, 60))
    ans.sender.packetizer.payload_type = 111  # a payload type the answer did not choose
    ans.send_audio(tone(500, 48000, 20))
    net.pump()
    assert len([e for e in net.events if isinstance(e, AudioFrame)]) == 3
    assert pc.audio_receiver is not None
    assert pc.audio_receiver.depacketizer.stats["wrong_payload_type"] == 1


def test_real_world_answer_text_connects() -> None:
    """An answer as servers really write it: LF endings, trailing blanks, lower-case
    fingerprint, extmap/ssrc/rtcp-fb lines, and candidates we must skip (TCP, mDNS,
    IPv6, component 2) next to the UDP host one."""

    def realistic(sdp: str) -> str:
        lines = []
        for line in sdp.split("\r\n"):
            if line.startswith("a=fingerprint:"):
                line = line.lower()
            if line.startswith("a=candidate:") and " udp " in line:
                line += " generation 0 network-id 1 ufrag ansr"
                lines += [
                    "a=candidate:9 1 tcp 1671430143 127.0.0.1 443 typ host tcptype passive",
                    "a=candidate:8 1 udp 2122194687 1f4712db-ea17-4bcf.local 54400 typ host",
                    "a=candidate:7 1 udp 2122262783 2001:db8::7 6000 typ host generation 0",
                    "a=candidate:6 2 udp 2130706430 127.0.0.1 6001 typ host",
                ]
            if line.startswith("a=rtpmap:111"):
                lines += [
                    "a=rtcp-fb:111 transport-cc",
                    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
                    "a=extmap:4/sendrecv http://www.ietf.org/id/"
                    "draft-holmer-rmcat-transport-wide-cc-extensions-01",
                ]
            lines.append(line + ("  " if line.startswith("a=") else ""))
        lines.insert(4, "a=ice-options:trickle")
        return "\n".join(lines)

    pc, _ans, net = connect_with(realistic, seed=17)
    assert pc.answer is not None
    assert [c.addr for c in pc.answer.candidates] == [("2001:db8::7", 6000), THEIRS]
    assert len(pc.answer.ignored_candidates) == 3  # TCP, mDNS, component 2
    net.run(channel_is_open(net))
    assert net.states() == [PeerState.CHECKING, PeerState.CONNECTED]


def test_max_message_size_from_the_answer_is_honoured() -> None:
    pc, ans, net = connect_with(
        lambda sdp: sdp.replace("a=max-message-size:262144", "a=max-message-size:1024"), seed=18
    )
    net.run(channel_is_open(net))
    with pytest.raises(LocalProtocolError, match="max-message-size"):
        pc.send_message("x" * 1025, net.now)
    pc.send_message("x" * 1024, net.now)
    net.pump()
    assert ans.messages == ["x" * 1024]


def test_a_channel_the_peer_opens_is_announced_and_carries_messages() -> None:
    pc, ans, net = connect(seed=19)  # the answerer is the DTLS client: even ids
    net.run(channel_is_open(net))
    side = ans.channels.open_channel("side", net.now, protocol="x")
    ans.process(net.now)
    net.run(lambda: "side" in opened(net.events))
    side.send(b"\x01\x02", net.now)
    side.send("", net.now)
    ans.process(net.now)
    net.run(lambda: ("side", "") in messages(net.events))
    assert ("side", b"\x01\x02") in messages(net.events)
    assert pc.channel_open and side.stream_id % 2 == 0
    assert pc._channel is not None and pc._channel.stream_id % 2 == 1  # ours stays odd


@pytest.mark.parametrize(
    ("field", "kwargs", "shown"),
    [
        ("local_addresses", {"local_addresses": []}, "not []"),
        ("local_addresses", {"local_addresses": [("localhost", 5000)]}, "('localhost', 5000)"),
        ("local_addresses", {"local_addresses": ["127.0.0.1"]}, "'127.0.0.1'"),
        ("input_rate", {"input_rate": 44100}, "not 44100"),
        ("output_rate", {"output_rate": 11025}, "not 11025"),
        ("channel_label", {"channel_label": ""}, "not ''"),
        ("ice_check_timeout", {"ice_check_timeout": 0.0}, "not 0.0"),
        ("setup_timeout", {"setup_timeout": -1.0}, "not -1.0"),
    ],
)
def test_bad_peer_settings_name_the_field_and_value(
    field: str, kwargs: dict[str, object], shown: str
) -> None:
    args: dict[str, object] = {"local_addresses": [OURS], "certificate": CERT}
    args.update(kwargs)
    with pytest.raises(ConfigError) as info:
        PeerConnection(**args)  # type: ignore[arg-type]
    assert info.value.field == field and shown in str(info.value)


def test_a_peer_that_refuses_our_certificate_after_its_handshake_fails_fast() -> None:
    """aiortc checks our fingerprint only once its DTLS handshake is done, then goes quiet
    (no alert, no SCTP). That is not CONNECTED: the channel never opens, and the peer
    fails within setup_timeout (10 s) of ICE finding a path, saying why."""
    pc, ans, net = connect(seed=20, refuse_silently=True)
    pc.send_message("queued while connecting", net.now)  # the channel may still open
    net.run(lambda: pc.dtls is not None and pc.dtls.is_connected)
    assert ans.refused and pc.state is PeerState.CHECKING  # DTLS alone is not connected
    net.run(lambda: PeerState.FAILED in net.states(), limit=20.0)
    assert net.states() == [PeerState.CHECKING, PeerState.FAILED]
    reason = pc.failure_reason or ""
    assert "certificate" in reason and "SCTP" in reason and "10 s" in reason
    assert net.now <= 10.5
    with pytest.raises(LocalProtocolError):
        pc.send_message("too late", net.now)


def test_connected_means_dtls_done_and_the_channel_open() -> None:
    pc, _ans, net = connect(seed=21)
    blocked = [True]
    # No SCTP (DTLS application data, content type 23) reaches the answerer for a while.
    net.drop = lambda direction, data: blocked[0] and direction == "out" and data[0] == 23
    net.run(lambda: pc.dtls is not None and pc.dtls.is_connected)
    net.step()
    assert pc.state is PeerState.CHECKING and not pc.channel_open  # DTLS up, no channel yet
    blocked[0] = False
    net.run(lambda: pc.state is PeerState.CONNECTED)
    assert pc.channel_open and net.states() == [PeerState.CHECKING, PeerState.CONNECTED]
