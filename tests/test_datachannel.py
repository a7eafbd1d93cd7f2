"""Data channels (DCEP, RFC 8832) over our SCTP association, and against aiortc's SCTP."""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable

import pytest

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.webrtc.datachannel import (
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    ChannelState,
    DataChannel,
    DataChannelManager,
    DataChannelQueueFull,
)
from adk_realtime.sansio.webrtc.sctp.association import SctpAssociation, SctpState
from adk_realtime.sansio.webrtc.sctp.chunks import parse_packet
from tests.sctp_net import Net, make_pair


class Peers:
    """Two managers over two associations on a simulated link."""

    def __init__(self, seed: int = 0, loss: float = 0.0, **kw: object) -> None:
        a, b = make_pair(seed, **kw)
        self.client = DataChannelManager(a, is_client=True)
        self.server = DataChannelManager(b, is_client=False)
        self.net = Net(a, b, seed=seed, loss=loss, machines=(self.client, self.server))
        self.net.readers = [self.client.next_event, self.server.next_event]

    def start(self) -> None:
        self.client.connect(self.net.now)
        self.net.run(
            2.0, stop=lambda: self.net.a.state is self.net.b.state is SctpState.ESTABLISHED
        )

    def run(self, seconds: float = 5.0, stop: Callable[[], bool] | None = None) -> None:
        self.net.run(seconds, stop)

    def events(self, side: int, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.net.events[side] if isinstance(e, kind)]

    def messages(self, side: int) -> list[str | bytes]:
        return [e.data for e in self.events(side, ChannelMessage)]


def test_open_and_ack_handshake_on_an_even_stream() -> None:
    p = Peers()
    p.start()
    ch = p.client.open_channel("oai-events", p.net.now, protocol="json")
    assert ch.stream_id == 0 and ch.state is ChannelState.CONNECTING
    p.run()
    assert ch.state is ChannelState.OPEN
    assert [e.channel for e in p.events(0, ChannelOpened)] == [ch]
    (opened,) = p.events(1, ChannelOpened)
    remote = opened.channel
    assert (remote.stream_id, remote.label, remote.protocol, remote.ordered) == (
        0,
        "oai-events",
        "json",
        True,
    )
    # The OPEN carried PPID 50, was ordered and reliable (channel type 0x00).
    dcep = [
        c
        for pkt in p.net.sent[0]
        for c in parse_packet(pkt).chunks
        if getattr(c, "ppid", None) == 50
    ]
    assert dcep and dcep[0].user_data[:2] == b"\x03\x00"  # type: ignore[union-attr]


def test_server_side_channels_use_odd_stream_ids() -> None:
    p = Peers()
    p.start()
    first = p.server.open_channel("a", p.net.now)
    second = p.server.open_channel("b", p.net.now, ordered=False)
    assert (first.stream_id, second.stream_id) == (1, 3)
    p.run()
    remote = [e.channel for e in p.events(0, ChannelOpened)]
    assert [(c.stream_id, c.label, c.ordered) for c in remote] == [(1, "a", True), (3, "b", False)]


def test_51st_pending_message_raises_and_the_first_50_arrive_in_order() -> None:
    p = Peers()
    ch = p.client.open_channel("oai-events", p.net.now)  # before the association even exists
    for i in range(50):
        ch.send(f"message {i}", p.net.now)
    with pytest.raises(DataChannelQueueFull) as info:
        ch.send("message 50", p.net.now)
    assert str(info.value) == (
        "data channel 'oai-events' has 50 messages pending (limit 50); "
        "wait for the channel to open or drain"
    )
    assert ch.pending_count == 50  # nothing already queued was lost
    p.start()
    p.run(10.0)
    assert p.messages(1) == [f"message {i}" for i in range(50)]
    assert ch.pending_count == 0 and ch.state is ChannelState.OPEN


def test_pending_queue_survives_a_lossy_link() -> None:
    p = Peers(seed=3, loss=0.3)
    ch = p.client.open_channel("oai-events", p.net.now)
    for i in range(50):
        ch.send(bytes([i]) * 700, p.net.now)
    p.start()
    p.run(300.0, stop=lambda: len(p.messages(1)) == 50)
    assert p.messages(1) == [bytes([i]) * 700 for i in range(50)]


def test_empty_and_non_empty_string_and_binary_round_trip_with_their_types() -> None:
    p = Peers()
    p.start()
    ch = p.client.open_channel("oai-events", p.net.now)
    p.run()
    sent: list[str | bytes] = ["", b"", "text", b"bytes", "ünïcødé ✓", b"\x00"]
    for m in sent:
        ch.send(m, p.net.now)
    p.run()
    got = p.messages(1)
    assert got == sent
    assert [type(m) for m in got] == [type(m) for m in sent]
    ppids = [
        c.ppid  # type: ignore[union-attr]
        for pkt in p.net.sent[0]
        for c in parse_packet(pkt).chunks
        if getattr(c, "stream_id", None) == 0 and getattr(c, "ppid", 50) != 50
    ]
    assert ppids == [56, 57, 51, 53, 51, 53]


def test_messages_flow_both_ways() -> None:
    p = Peers()
    p.start()
    ch = p.client.open_channel("oai-events", p.net.now)
    p.run()
    (opened,) = p.events(1, ChannelOpened)
    opened.channel.send("pong", p.net.now)
    ch.send("ping", p.net.now)
    p.run()
    assert p.messages(0) == ["pong"] and p.messages(1) == ["ping"]
    (msg,) = p.events(1, ChannelMessage)
    assert (msg.label, msg.stream_id) == ("oai-events", 0)


def test_queue_waits_for_a_full_sctp_buffer_and_flushes_in_order() -> None:
    p = Peers(max_buffered=300_000, max_message_size=100_000)
    p.start()
    ch = p.client.open_channel("oai-events", p.net.now)
    p.run()
    for i in range(3):
        ch.send(bytes([i]) * 100_000, p.net.now)  # fills the SCTP send buffer
    assert ch.pending_count == 0
    ch.send(b"\x03" * 100_000, p.net.now)  # SCTP refuses: waits in the channel's queue
    assert ch.pending_count == 1
    assert ch.buffered_amount == 400_000  # queued plus SCTP's unacknowledged bytes
    p.run(30.0)
    assert [m[0] for m in p.messages(1)] == [0, 1, 2, 3]  # type: ignore[index]
    assert ch.pending_count == 0 and ch.buffered_amount == 0


def test_close_resets_the_stream_and_both_sides_see_channel_closed() -> None:
    p = Peers()
    p.start()
    ch = p.client.open_channel("oai-events", p.net.now)
    p.run()
    ch.send("last words", p.net.now)
    ch.close(p.net.now)
    assert ch.state is ChannelState.CLOSING
    with pytest.raises(LocalProtocolError, match="closing"):
        ch.send("too late", p.net.now)
    p.run()
    assert p.messages(1) == ["last words"]
    assert [e.channel.stream_id for e in p.events(1, ChannelClosed)] == [0]
    assert [e.channel for e in p.events(0, ChannelClosed)] == [ch]
    assert ch.state is ChannelState.CLOSED
    assert p.client.channels == {} and p.server.channels == {}
    again = p.client.open_channel("again", p.net.now)  # the stream can be reused afterwards
    assert again.stream_id == 0
    p.run()
    again.send("new life", p.net.now)
    p.run()
    assert p.messages(1) == ["last words", "new life"]


def test_closing_before_open_reports_unsent_messages() -> None:
    p = Peers()
    ch = p.client.open_channel("oai-events", p.net.now)
    ch.send("never sent", p.net.now)
    ch.close(p.net.now)
    assert p.client.next_event() == ChannelClosed(ch, unsent=1)


def test_association_failure_closes_every_channel() -> None:
    p = Peers()
    p.start()
    ch = p.client.open_channel("oai-events", p.net.now)
    p.run()
    p.net.b.abort("bye")
    p.run()
    assert [e.channel for e in p.events(0, ChannelClosed)] == [ch]


def test_opening_a_channel_on_a_dead_association_raises_and_leaves_no_trace() -> None:
    p = Peers()
    p.start()
    p.net.a.abort()
    with pytest.raises(LocalProtocolError, match="TERMINATED"):
        p.client.open_channel("oai-events", p.net.now)
    assert p.client.channels == {}


def test_malformed_dcep_is_counted_not_raised() -> None:
    p = Peers()
    p.start()
    p.net.a.send(0, b"\x03\x00\x00", 50, p.net.now)  # truncated OPEN on the client's own parity
    p.net.a.send(1, b"\x03" + b"\x00" * 11 + b"x", 50, p.net.now)  # lengths do not add up
    p.net.a.send(2, b"\x02", 50, p.net.now)  # ACK for nothing
    p.net.a.send(4, b"stray", 53, p.net.now)  # data without a channel
    p.run()
    assert p.server.stats.bad_dcep == 3 and p.server.stats.unknown_stream == 1
    assert p.server.channels == {}


def test_user_data_before_the_ack_opens_the_channel() -> None:
    a, b = make_pair()
    client = DataChannelManager(a, is_client=True)
    net = Net(a, b, machines=(client, b))
    net.readers = [client.next_event, b.next_event]
    client.connect(0.0)
    net.run(1.0)
    ch = client.open_channel("oai-events", net.now, ordered=False)
    net.run(1.0)
    # A peer that answers with data and no ACK (allowed: RFC 8832 6).
    b.send(0, b"early", 53, net.now)
    net.run(1.0)
    assert ch.state is ChannelState.OPEN
    assert [e.data for e in net.events[0] if isinstance(e, ChannelMessage)] == [b"early"]


def test_legacy_partial_ppids_are_joined() -> None:
    p = Peers()
    p.start()
    ch = p.client.open_channel("oai-events", p.net.now)
    p.run()
    p.net.a.send(0, b"hel", 52, p.net.now)
    p.net.a.send(0, "lo ✓".encode(), 51, p.net.now)
    p.run()
    assert p.messages(1) == ["hello ✓"]
    assert ch.state is ChannelState.OPEN


# --- interop with aiortc's own SCTP (no DTLS: packets are handed over directly) ---------


def test_interop_with_aiortc_sctp_both_directions() -> None:
    from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters
    from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ours = SctpAssociation(is_client=True, rng=random.Random(7))
        mgr = DataChannelManager(ours, is_client=True)
        events: list[object] = []
        changed = asyncio.Event()
        to_aiortc: asyncio.Queue[bytes] = asyncio.Queue()
        timer: list[asyncio.TimerHandle | None] = [None]

        def pump() -> None:
            while (ev := mgr.next_event()) is not None:
                events.append(ev)
                changed.set()
            for pkt in mgr.data_to_send():
                to_aiortc.put_nowait(pkt)
            if timer[0] is not None:
                timer[0].cancel()
            when = mgr.get_timer()
            if when is not None:
                timer[0] = loop.call_at(when, lambda: (mgr.handle_timer(loop.time()), pump()))

        class LoopbackDtls:  # the few hooks RTCSctpTransport uses on its DTLS transport
            state = "connected"
            _role = "server"  # aiortc plays the DTLS server: odd stream ids

            def _register_data_receiver(self, receiver: object) -> None:
                pass

            def _unregister_data_receiver(self, receiver: object) -> None:
                pass

            async def _send_data(self, data: bytes) -> None:
                mgr.receive_data(data, loop.time())
                pump()

        theirs = RTCSctpTransport(LoopbackDtls())  # type: ignore[arg-type]

        async def deliver() -> None:
            while True:
                await theirs._handle_data(await to_aiortc.get())

        async def until(pred: Callable[[], bool]) -> None:
            async with asyncio.timeout(10):
                while not pred():
                    changed.clear()
                    await changed.wait()

        their_messages: list[object] = []
        their_channels: list[RTCDataChannel] = []

        def on_channel(channel: RTCDataChannel) -> None:
            their_channels.append(channel)
            channel.on("message", lambda m: (their_messages.append(m), changed.set()))
            channel.on("close", changed.set)
            changed.set()

        theirs.on("datachannel", on_channel)
        delivery = asyncio.create_task(deliver())
        try:
            mgr.connect(loop.time())  # both sides send INIT, as WebRTC peers do
            pump()
            await theirs.start(RTCSctpCapabilities(maxMessageSize=65536), 5000)
            await until(lambda: ours.state is SctpState.ESTABLISHED)
            ch: DataChannel = mgr.open_channel("oai-events", loop.time(), protocol="json")
            for m in ("hello from adk", b"\x00\x01binary", "", b""):
                ch.send(m, loop.time())
            pump()
            await until(lambda: len(their_messages) == 4)
            assert their_messages == ["hello from adk", b"\x00\x01binary", "", b""]
            (remote,) = their_channels
            assert (remote.label, remote.protocol, remote.id) == ("oai-events", "json", 0)

            opened = RTCDataChannel(theirs, RTCDataChannelParameters(label="from-aiortc"))
            opened.on("open", lambda: (opened.send("hi from aiortc"), opened.send(b"raw")))
            await until(lambda: sum(isinstance(e, ChannelMessage) for e in events) == 2)
            msgs = [(e.label, e.data) for e in events if isinstance(e, ChannelMessage)]
            assert msgs == [("from-aiortc", "hi from aiortc"), ("from-aiortc", b"raw")]
            assert [e.channel.stream_id for e in events if isinstance(e, ChannelOpened)] == [0, 1]

            big = bytes(range(256)) * 200  # 51 KiB: fragmented both ways
            ch.send(big, loop.time())
            opened.send(big)
            pump()
            await until(lambda: big in their_messages)
            await until(lambda: any(getattr(e, "data", None) == big for e in events))

            ch.close(loop.time())  # RE-CONFIG stream reset; aiortc resets its side in reply
            pump()
            await until(lambda: remote.readyState == "closed")
            await until(lambda: any(isinstance(e, ChannelClosed) for e in events))
            assert ch.state is ChannelState.CLOSED
            assert ours.state is SctpState.ESTABLISHED and ours.stats.bad_checksum == 0
        finally:
            delivery.cancel()
            if timer[0] is not None:
                timer[0].cancel()
            await theirs.stop()
            pump()

    asyncio.run(scenario())


def test_dcep_open_message_layout_matches_rfc8832() -> None:
    a, _ = make_pair()
    mgr = DataChannelManager(a, is_client=True)
    mgr.open_channel("ab", 0.0, protocol="xyz", ordered=False)
    (chunk,) = a._out.pending  # not connected yet: the OPEN waits in the send queue
    payload = chunk.wire[16:][: chunk.size]
    mtype, ctype, prio, rel, llen, plen = struct.unpack_from("!BBHIHH", payload)
    assert (mtype, ctype, prio, rel, llen, plen) == (3, 0x80, 256, 0, 2, 3)
    assert payload[12:] == b"abxyz"


def _open_message(ctype: int, reliability: int, label: bytes, priority: int = 256) -> bytes:
    return struct.pack("!BBHIHH", 3, ctype, priority, reliability, len(label), 0) + label


def test_peer_opened_partial_reliability_parameters_are_parsed() -> None:
    p = Peers()
    p.start()
    p.net.a.send(
        0, _open_message(0x81, 3, b"rexmit"), 50, p.net.now
    )  # unordered, 3 retransmissions
    p.net.a.send(
        2, _open_message(0x02, 1500, b"timed", priority=512), 50, p.net.now
    )  # 1.5 s lifetime
    p.net.a.send(4, _open_message(0x00, 0, b"reliable"), 50, p.net.now)
    p.run()
    channels = {e.channel.label: e.channel for e in p.events(1, ChannelOpened)}
    rexmit, timed, reliable = channels["rexmit"], channels["timed"], channels["reliable"]
    assert (rexmit.ordered, rexmit.max_retransmits, rexmit.max_packet_life_time) == (
        False,
        3,
        None,
    )
    assert (timed.ordered, timed.max_retransmits, timed.max_packet_life_time) == (True, None, 1500)
    assert timed.priority == 512
    assert (reliable.max_retransmits, reliable.max_packet_life_time) == (None, None)
    # Each got its DATA_CHANNEL_ACK, and messages flow on them.
    acks = [
        c
        for pkt in p.net.sent[1]
        for c in parse_packet(pkt).chunks
        if getattr(c, "ppid", None) == 50
    ]
    assert len(acks) == 3
    p.net.a.send(0, b"x", 53, p.net.now)
    p.run()
    assert p.messages(1) == [b"x"]


def test_unknown_channel_type_is_counted_not_opened() -> None:
    p = Peers()
    p.start()
    p.net.a.send(0, _open_message(0x03, 0, b"weird"), 50, p.net.now)
    p.run()
    assert p.server.stats.bad_dcep == 1 and p.server.channels == {}


def test_peer_open_on_the_wrong_parity_is_still_answered() -> None:
    # The server opens stream 0 (the DTLS client's parity): accept it rather than
    # leave the peer's channel hanging in CONNECTING forever.
    p = Peers()
    p.start()
    p.net.b.send(0, _open_message(0x00, 0, b"odd-peer"), 50, p.net.now)
    p.run()
    (opened,) = p.events(0, ChannelOpened)
    assert (opened.channel.stream_id, opened.channel.label) == (0, "odd-peer")
    ours = p.client.open_channel("oai-events", p.net.now)
    assert ours.stream_id == 2  # our next even id skips the one taken


def test_a_negative_pending_limit_is_a_config_error() -> None:
    a, _ = make_pair()
    with pytest.raises(ConfigError) as info:
        DataChannelManager(a, is_client=True, max_pending=-1)
    assert info.value.field == "max_pending" and "not -1" in str(info.value)
