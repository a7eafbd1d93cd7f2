"""SCTP association: handshake, data path under loss, timers, shutdown, reset, codec.

Everything runs on a simulated clock: :class:`Net` joins two associations with a
link that can lose, duplicate, delay, reorder and black out packets, and jumps
time straight to the next packet arrival or timer.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.webrtc.sctp import chunks as chunks
from adk_realtime.sansio.webrtc.sctp.association import (
    AssociationClosed,
    AssociationEstablished,
    AssociationFailed,
    BufferedAmountLow,
    DataReceived,
    SctpAssociation,
    SctpBufferFull,
    SctpState,
    StreamReset,
)
from adk_realtime.sansio.webrtc.sctp.chunks import (
    CookieEchoChunk,
    SackChunk,
    parse_packet,
)

# --- the simulated network -------------------------------------------------------------
from tests.sctp_net import Net, chunk_types, connected, make_pair, rewrite

# --- handshake -------------------------------------------------------------------------


def test_client_connects_to_passive_server() -> None:
    a, b = make_pair()
    net = Net(a, b)
    a.connect(0.0)
    net.run(1.0)
    assert a.state is SctpState.ESTABLISHED and b.state is SctpState.ESTABLISHED
    assert net.kinds(0) == ["AssociationEstablished"]
    assert net.kinds(1) == ["AssociationEstablished"]
    assert a.peer_supports_reconfig and b.peer_supports_reconfig
    # INIT went out alone with tag 0; the server answered with a cookie and kept no state.
    assert chunk_types(net.sent[0][0]) == ["InitChunk"]
    assert parse_packet(net.sent[0][0]).verification_tag == 0
    assert chunk_types(net.sent[1][0]) == ["InitAckChunk"]
    assert chunk_types(net.sent[0][1]) == ["CookieEchoChunk"]
    assert chunk_types(net.sent[1][1]) == ["CookieAckChunk"]


def test_connect_after_the_peer_already_connected_us_is_harmless() -> None:
    a, b = make_pair()
    net = Net(a, b)
    a.connect(0.0)
    net.run(1.0)
    b.connect(net.now)  # a WebRTC stack calls connect on both sides; b is already up
    net.run(1.0)
    assert a.state is SctpState.ESTABLISHED and b.state is SctpState.ESTABLISHED
    assert net.kinds(1) == ["AssociationEstablished"]


def test_bad_configuration_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="mtu"):
        SctpAssociation(is_client=True, rng=random.Random(), mtu=100)
    with pytest.raises(ConfigError, match="max_buffered"):
        SctpAssociation(is_client=True, rng=random.Random(), max_buffered=10)


def test_server_role_can_be_the_initiator() -> None:
    a, b = make_pair()
    net = Net(a, b)
    b.connect(0.0)
    net.run(1.0)
    assert a.state is SctpState.ESTABLISHED and b.state is SctpState.ESTABLISHED


def test_simultaneous_init_from_both_sides_establishes_once() -> None:
    a, b = make_pair(seed=4)
    net = Net(a, b)
    a.connect(0.0)
    b.connect(0.0)
    net.run(2.0)
    assert a.state is SctpState.ESTABLISHED and b.state is SctpState.ESTABLISHED
    assert net.kinds(0) == ["AssociationEstablished"]
    assert net.kinds(1) == ["AssociationEstablished"]
    a.send(3, b"from a", 53, net.now)
    b.send(4, b"from b", 53, net.now)
    net.run(1.0)
    assert net.data(1) == [b"from a"] and net.data(0) == [b"from b"]


@pytest.mark.parametrize("lose", ["INIT", "INIT-ACK", "COOKIE-ECHO", "COOKIE-ACK"])
def test_handshake_recovers_from_each_lost_packet(lose: str) -> None:
    a, b = make_pair(seed=6)
    names = {"INIT": "InitChunk", "INIT-ACK": "InitAckChunk"}
    names |= {"COOKIE-ECHO": "CookieEchoChunk", "COOKIE-ACK": "CookieAckChunk"}
    dropped = []

    def drop(_dest: int, pkt: bytes) -> bool:
        if not dropped and names[lose] in chunk_types(pkt):
            dropped.append(pkt)
            return True
        return False

    net = Net(a, b, drop=drop)
    a.connect(0.0)
    a.send(0, b"early", 53, net.now)  # queued before the association exists
    net.run(10.0)
    assert dropped and a.state is SctpState.ESTABLISHED and b.state is SctpState.ESTABLISHED
    assert net.data(1) == [b"early"]


def _handshake_until_cookie_echo() -> tuple[SctpAssociation, SctpAssociation, bytes]:
    a, b = make_pair(seed=8)
    a.connect(0.0)
    (init,) = a.data_to_send()
    b.receive_data(init, 0.01)
    (init_ack,) = b.data_to_send()
    a.receive_data(init_ack, 0.02)
    (echo,) = a.data_to_send()
    return a, b, echo


def test_cookie_with_bad_signature_is_rejected() -> None:
    _a, b, echo = _handshake_until_cookie_echo()

    def tamper(cs: list[chunks.Chunk]) -> list[chunks.Chunk]:
        (c,) = cs
        assert isinstance(c, CookieEchoChunk)
        forged = bytearray(c.cookie)
        forged[12] ^= 0xFF  # change the peer's tag inside the cookie
        return [CookieEchoChunk(bytes(forged))]

    b.receive_data(rewrite(echo, tamper), 0.03)
    assert b.stats.bad_cookie == 1
    assert b.state is SctpState.CLOSED
    assert b.next_event() is None and b.data_to_send() == []
    b.receive_data(echo, 0.04)  # the genuine cookie still works
    assert b.state is SctpState.ESTABLISHED


def test_stale_cookie_is_refused_and_the_initiator_starts_over() -> None:
    a, b, echo = _handshake_until_cookie_echo()
    b.receive_data(echo, 0.03 + 61.0)  # cookie lifetime is 60 s
    assert b.state is SctpState.CLOSED and b.stats.stale_cookie == 1
    (err,) = b.data_to_send()
    assert chunk_types(err) == ["ErrorChunk"]
    a.receive_data(err, 61.1)
    assert a.state is SctpState.COOKIE_WAIT  # RFC 4960 5.2.6: a fresh INIT, a fresh cookie
    net = Net(a, b, now=61.1)
    net.run(5.0)
    assert a.state is SctpState.ESTABLISHED and b.state is SctpState.ESTABLISHED


def test_cookie_that_keeps_going_stale_fails_after_four_rounds() -> None:
    a, b = make_pair()
    a.connect(0.0)
    now = 0.0
    for _ in range(4):
        b.receive_data(a.data_to_send()[0], now)  # INIT
        a.receive_data(b.data_to_send()[0], now)  # INIT-ACK
        now += 100.0
        b.receive_data(a.data_to_send()[0], now)  # COOKIE-ECHO, long after
        a.receive_data(b.data_to_send()[0], now)  # ERROR: stale cookie
    ev = a.next_event()
    assert isinstance(ev, AssociationFailed) and "stale" in ev.reason
    assert a.state is SctpState.TERMINATED and b.stats.stale_cookie == 4


def test_init_that_is_never_answered_fails_after_max_init_retransmits() -> None:
    a, b = make_pair()
    net = Net(a, b, loss=1.0)
    a.connect(0.0)
    net.run(1000.0)
    assert a.state is SctpState.TERMINATED
    (ev,) = net.events[0]
    assert isinstance(ev, AssociationFailed) and "INIT" in ev.reason
    assert len(net.sent[0]) == 1 + 8  # first INIT + Max.Init.Retransmits


# --- data path -------------------------------------------------------------------------


def test_large_messages_fragment_and_reassemble_with_ppid() -> None:
    net = connected()
    big = os.urandom(262144)
    mid = os.urandom(65536)
    net.a.send(1, big, 53, net.now)
    net.a.send(1, mid, 51, net.now)
    net.a.send(2, b"tiny", 52, net.now, ordered=False)
    net.run(30.0)
    got = [(e.stream_id, e.ppid, e.data) for e in net.events[1] if isinstance(e, DataReceived)]
    assert sorted(got) == sorted([(1, 53, big), (1, 51, mid), (2, 52, b"tiny")])
    assert [d for s, _, d in got if s == 1] == [big, mid]
    # Every DATA packet fitted the MTU.
    assert max(len(p) for p in net.sent[0]) <= 1200


def test_send_rejects_bad_arguments_with_clear_errors() -> None:
    a, _ = make_pair()
    with pytest.raises(LocalProtocolError, match="exceeds max_message_size"):
        a.send(0, b"x" * 262145, 53, 0.0)
    with pytest.raises(LocalProtocolError, match="empty message"):
        a.send(0, b"", 53, 0.0)
    with pytest.raises(LocalProtocolError, match="out of range"):
        a.send(70000, b"x", 53, 0.0)


def test_send_buffer_is_bounded_and_signals_when_it_drains() -> None:
    net = connected(max_buffered=300_000)
    a = net.a
    a.send(0, b"a" * 200_000, 53, net.now)
    with pytest.raises(SctpBufferFull, match="max_buffered"):
        a.send(0, b"b" * 200_000, 53, net.now)
    assert a.buffered_amount == 200_000  # the refused message was not queued
    net.run(30.0, stop=lambda: any(isinstance(e, BufferedAmountLow) for e in net.events[0]))
    low = [e for e in net.events[0] if isinstance(e, BufferedAmountLow)]
    assert low and low[0].buffered_amount + 200_000 <= 300_000
    a.send(0, b"b" * 200_000, 53, net.now)
    net.run(30.0)
    assert [len(d) for d in net.data(1)] == [200_000, 200_000]
    assert a.buffered_amount == 0


def test_receiver_window_holds_back_a_sender_until_the_app_reads() -> None:
    net = connected(receive_window=300_000, max_message_size=100_000)
    b_events: list[object] = []
    reading = [False]

    def reader_b() -> object:
        return net.b.next_event() if reading[0] else None

    net.readers[1] = reader_b
    for i in range(10):
        net.a.send(0, bytes([i]) * 100_000, 53, net.now)
    net.run(900.0)  # a slow reader must not look like a dead peer (zero-window probes)
    assert net.a.state is SctpState.ESTABLISHED
    assert len(net.b._events) <= 3  # at most the window's worth was accepted
    assert net.a.buffered_amount > 0 and net.b.stats.rwnd_drops > 0
    reading[0] = True
    net.on_event = lambda side, ev: b_events.append(ev) if side == 1 else None
    net.run(120.0)
    got = [e.data[0] for e in b_events if isinstance(e, DataReceived)]
    assert got == list(range(10))


def test_delayed_sack_waits_200ms_for_one_packet_and_not_for_two() -> None:
    net = connected()
    a, b = net.a, net.b
    a.send(0, b"one", 53, net.now)
    (p1,) = a.data_to_send()
    b.receive_data(p1, net.now)
    assert b.data_to_send() == []  # SACK delayed
    assert b.get_timer() == pytest.approx(net.now + 0.2)
    b.handle_timer(net.now + 0.2)
    assert chunk_types(b.data_to_send()[0]) == ["SackChunk"]
    a.send(0, b"x" * 2000, 53, net.now + 0.3)  # two packets
    p2, p3 = a.data_to_send()
    b.receive_data(p2, net.now + 0.3)
    assert b.data_to_send() == []
    b.receive_data(p3, net.now + 0.3)
    assert chunk_types(b.data_to_send()[0]) == ["SackChunk"]


def test_sack_reports_gaps_and_duplicates() -> None:
    net = connected()
    a, b = net.a, net.b
    for i in range(3):
        a.send(0, bytes([i]) * 1100, 53, net.now)  # one chunk, one packet each
    p1, _lost, p3 = a.data_to_send()
    b.receive_data(p1, net.now)
    b.receive_data(p3, net.now)
    b.receive_data(p3, net.now)
    sacks = [c for p in b.data_to_send() for c in parse_packet(p).chunks]
    sack = [c for c in sacks if isinstance(c, SackChunk)][-1]
    assert sack.gaps == ((2, 2),)
    assert len(sack.duplicates) == 1
    assert b.stats.duplicate_tsns == 1


def test_fast_retransmit_after_three_miss_indications_without_timeout() -> None:
    net = connected()
    lost: list[int] = []

    def drop(dest: int, pkt: bytes) -> bool:
        if dest == 1 and not lost and "DataChunk" in chunk_types(pkt):
            lost.append(1)
            return True
        return False

    net.drop = drop
    for i in range(8):
        net.a.send(0, bytes([i]) * 1100, 53, net.now)
    net.run(0.9)  # less than one RTO: only fast retransmit can repair the loss
    assert [d[0] for d in net.data(1)] == list(range(8))
    assert net.a.stats.fast_retransmissions == 1 and net.a.stats.t3_expirations == 0


def test_tsn_and_ssn_wrap_around() -> None:
    class NearWrap(random.Random):
        def getrandbits(self, k: int) -> int:
            return 2**32 - 3 if k == 32 else super().getrandbits(k)

    a = SctpAssociation(is_client=True, rng=NearWrap(1))
    b = SctpAssociation(is_client=False, rng=NearWrap(2))
    net = Net(a, b, seed=1, loss=0.05)
    a.connect(0.0)
    net.run(5.0, stop=lambda: a.state is b.state is SctpState.ESTABLISHED)
    n = 66_000  # more than 2**16 SSNs on one stream
    for i in range(n):
        while True:
            try:
                a.send(7, i.to_bytes(3, "big"), 53, net.now)
                break
            except SctpBufferFull:
                net.step(net.now + 100)
    net.run(600.0, stop=lambda: len(net.events[1]) >= n + 1)
    got = [int.from_bytes(d, "big") for d in net.data(1)]
    assert got == list(range(n))


# --- the stress test -------------------------------------------------------------------


def test_10000_messages_survive_loss_reordering_and_duplication() -> None:
    rng = random.Random(2024)
    a, b = make_pair(seed=11)
    net = Net(a, b, seed=12, loss=0.20, dup=0.05, delay=0.02, jitter=0.04)
    plan: list[tuple[int, bool, bytes]] = []
    for i in range(10_000):
        r = rng.random()
        size = (
            rng.randint(1, 600)
            if r < 0.9
            else rng.randint(600, 8000)
            if r < 0.99
            else rng.randint(8000, 65536)
        )
        stream = rng.randrange(5)  # stream 4 is unordered
        body = (i.to_bytes(4, "big") * (size // 4 + 1))[:size]
        plan.append((stream, stream != 4, body))
    expected: dict[int, list[bytes]] = {}
    for stream, _, body in plan:
        expected.setdefault(stream, []).append(body)
    received: dict[int, list[bytes]] = {}
    back: list[bytes] = []
    cursor = [0]

    def feed() -> None:
        while cursor[0] < len(plan):
            stream, ordered, body = plan[cursor[0]]
            try:
                a.send(stream, body, 53, net.now, ordered=ordered)
            except SctpBufferFull:
                return
            cursor[0] += 1

    def on_event(side: int, ev: object) -> None:
        assert not isinstance(ev, AssociationFailed), ev
        if isinstance(ev, DataReceived):
            (received if side == 1 else {}).setdefault(ev.stream_id, []).append(ev.data)
            if side == 0:
                back.append(ev.data)
        if side == 0 and isinstance(ev, (AssociationEstablished, BufferedAmountLow)):
            feed()

    net.on_event = on_event
    for i in range(200):  # some traffic the other way too
        b.send(9, i.to_bytes(2, "big") * 50, 53, net.now)
    start = time.perf_counter()
    a.connect(0.0)
    net.run(
        100_000.0,
        stop=lambda: sum(map(len, received.values())) == len(plan) and len(back) == 200,
    )
    wall = time.perf_counter() - start
    for stream in range(4):
        assert received[stream] == expected[stream], f"stream {stream} out of order or lossy"
    assert sorted(received[4]) == sorted(expected[4])  # unordered: exactly once
    assert back == [i.to_bytes(2, "big") * 50 for i in range(200)]
    s = a.stats
    print(
        f"\nSCTP stress: {len(plan)} messages, {sum(len(p[2]) for p in plan)} bytes, "
        f"20% loss + 5% duplication + reordering: {s.retransmissions} retransmitted chunks "
        f"({s.fast_retransmissions} fast retransmits, {s.t3_expirations} T3 timeouts), "
        f"{net.b.stats.duplicate_tsns} duplicate TSNs at the receiver, "
        f"{s.stale_sacks} stale SACKs ignored; simulated {net.now:.0f} s in {wall:.1f} s"
    )
    assert s.fast_retransmissions > 0 and s.t3_expirations > 0


# --- timers: blackouts, heartbeats -----------------------------------------------------


def test_survives_a_5_second_blackout() -> None:
    net = connected()
    net.blackout = (net.now, net.now + 5.0)
    for i in range(20):
        net.a.send(0, bytes([i]) * 500, 53, net.now)
    net.run(60.0)
    assert [d[0] for d in net.data(1)] == list(range(20))
    assert net.a.state is SctpState.ESTABLISHED and net.a.stats.t3_expirations >= 2
    assert not any(isinstance(e, AssociationFailed) for e in net.events[0])


def test_long_blackout_fails_cleanly_after_max_retransmissions() -> None:
    net = connected()
    start = net.now
    net.blackout = (start, start + 10_000.0)
    net.a.send(0, b"into the void", 53, net.now)
    net.run(2000.0, stop=lambda: net.a.state is SctpState.TERMINATED)
    assert net.a.state is SctpState.TERMINATED
    (failed,) = [e for e in net.events[0] if isinstance(e, AssociationFailed)]
    assert "10 retransmissions" in failed.reason
    assert net.a.stats.t3_expirations == 11
    # 1+2+4+8+16+32 s, then five times RTO.Max (60 s): about 363 s of trying
    assert net.now - start == pytest.approx(1 + 2 + 4 + 8 + 16 + 32 + 5 * 60, abs=0.5)
    assert chunk_types(net.sent[0][-1]) == ["AbortChunk"]  # told the peer, even if unheard
    assert net.a.get_timer() is None
    with pytest.raises(LocalProtocolError):
        net.a.send(0, b"more", 53, net.now)


def test_idle_association_sends_heartbeats_and_measures_rtt() -> None:
    net = connected()
    net.run(95.0)
    assert net.a.stats.heartbeats_sent >= 2 and net.b.stats.heartbeats_sent >= 2
    assert net.a.rto == pytest.approx(1.0)  # RTT 40 ms -> RTO clamped to RTO.Min
    assert net.a.state is SctpState.ESTABLISHED


def test_a_peer_we_keep_hearing_from_is_not_heartbeated() -> None:
    net = connected()
    for i in range(100):  # b only sends SACKs for a minute and a half
        net.a.send(0, bytes([i]) * 100, 53, net.now)
        net.run(0.9)
    assert net.b.stats.heartbeats_sent == 0
    assert net.a.stats.heartbeats_sent == 0


def test_idle_peer_that_vanishes_is_detected_by_heartbeats() -> None:
    net = connected()
    net.blackout = (net.now, net.now + 100_000.0)
    net.run(3000.0)
    failed = [e for e in net.events[0] if isinstance(e, AssociationFailed)]
    assert failed and "heartbeat" in failed[0].reason


# --- shutdown, abort, stream reset -----------------------------------------------------


def test_graceful_shutdown_delivers_queued_data_then_closes_both_sides() -> None:
    net = connected()
    net.loss = 0.2
    for i in range(30):
        net.a.send(0, bytes([i]) * 3000, 53, net.now)
    net.a.shutdown(net.now)
    with pytest.raises(LocalProtocolError):
        net.a.send(0, b"late", 53, net.now)
    net.run(300.0)
    assert [d[0] for d in net.data(1)] == list(range(30))
    assert net.kinds(0)[-1] == "AssociationClosed" and net.kinds(1)[-1] == "AssociationClosed"
    assert net.a.state is SctpState.TERMINATED and net.b.state is SctpState.TERMINATED


def test_lost_shutdown_complete_is_answered_after_close() -> None:
    net = connected()
    lost: list[bytes] = []

    def drop(dest: int, pkt: bytes) -> bool:
        if not lost and "ShutdownCompleteChunk" in chunk_types(pkt):
            lost.append(pkt)
            return True
        return False

    net.drop = drop
    net.a.shutdown(net.now)
    net.run(30.0)
    assert lost  # the first SHUTDOWN-COMPLETE vanished; b repeated SHUTDOWN-ACK
    assert AssociationClosed() in net.events[0] and AssociationClosed() in net.events[1]
    reply = parse_packet(net.sent[0][-1])
    assert isinstance(reply.chunks[0], chunks.ShutdownCompleteChunk)
    assert reply.chunks[0].flags & chunks.FLAG_T  # sent without a TCB: tag reflected


def test_simultaneous_shutdown_closes_both_sides() -> None:
    net = connected()
    net.a.shutdown(net.now)
    net.b.shutdown(net.now)
    net.run(10.0)
    assert AssociationClosed() in net.events[0] and AssociationClosed() in net.events[1]


def test_abort_received_fails_the_association_with_the_reason() -> None:
    net = connected()
    net.a.abort("going away")
    net.run(1.0)
    assert net.events[0] == [AssociationClosed()]
    (ev,) = net.events[1]
    assert isinstance(ev, AssociationFailed) and "going away" in ev.reason
    assert net.b.state is SctpState.TERMINATED
    net.b.receive_data(net.sent[0][-1], net.now)  # anything later is counted, not processed
    assert net.b.stats.after_close == 1


def test_oversized_incoming_message_aborts_instead_of_buffering() -> None:
    a = SctpAssociation(is_client=True, rng=random.Random(1))
    b = SctpAssociation(is_client=False, rng=random.Random(2), max_message_size=1000)
    net = Net(a, b)
    a.connect(0.0)
    net.run(1.0)
    a.send(0, b"x" * 5000, 53, net.now)
    net.run(5.0)
    (ev,) = [e for e in net.events[1] if isinstance(e, AssociationFailed)]
    assert "max_message_size" in ev.reason
    assert isinstance(net.events[0][-1], AssociationFailed)


def test_stream_reset_reaches_the_peer_and_ssns_restart() -> None:
    net = connected()
    net.a.send(3, b"before", 53, net.now)
    net.a.reset_streams([3], net.now)
    with pytest.raises(LocalProtocolError, match="being reset"):
        net.a.send(3, b"during", 53, net.now)
    net.run(5.0)
    assert net.events[1] == [DataReceived(3, 53, b"before"), StreamReset((3,))]
    net.a.send(3, b"after", 53, net.now)  # SSN 0 again, and the peer expects exactly that
    net.run(5.0)
    assert net.data(1) == [b"before", b"after"]


def test_stream_reset_waits_for_data_sent_before_it() -> None:
    net = connected()
    held: list[bytes] = []

    def drop(dest: int, pkt: bytes) -> bool:
        if dest == 1 and not held and "DataChunk" in chunk_types(pkt):
            held.append(pkt)
            return True
        return False

    net.drop = drop
    net.a.send(5, b"first", 53, net.now)
    net.a.reset_streams([5], net.now)
    net.run(10.0)
    # The reset was answered "in progress" until the lost DATA was retransmitted.
    assert net.events[1] == [DataReceived(5, 53, b"first"), StreamReset((5,))]
    assert held


def test_reset_streams_needs_an_established_association() -> None:
    a, _ = make_pair()
    with pytest.raises(LocalProtocolError, match="cannot reset streams"):
        a.reset_streams([1], 0.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mtu", 100),
        ("local_port", 0),
        ("remote_port", 70000),
        ("max_message_size", 0),
        ("max_buffered", 10),
        ("receive_window", 10),
        ("streams", 0),
        ("rto_initial", 0.0),
        ("rto_min", -1.0),
        ("rto_max", 0.5),
        ("max_retransmits", -1),
        ("max_init_retransmits", -1),
        ("heartbeat_interval", 0.0),
        ("cookie_lifetime", 0.0),
    ],
)
def test_every_bad_setting_is_a_config_error_naming_field_and_value(
    field: str, value: object
) -> None:
    with pytest.raises(ConfigError) as info:
        SctpAssociation(is_client=True, rng=random.Random(), **{field: value})  # type: ignore[arg-type]
    assert info.value.field == field and f"not {value!r}" in str(info.value)
