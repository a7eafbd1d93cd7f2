"""ICE: two of our agents over a simulated lossy link, and interop with aioice and aiortc."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import pytest
from aioice import stun

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.webrtc.ice import (
    CHECK_TIMEOUT,
    IceAgent,
    IceEvent,
    IceState,
    IceStateChanged,
    PairState,
    Route,
    SelectedPair,
)
from adk_realtime.sansio.webrtc.sdp import IceCandidate, host_candidate

Address = tuple[str, int]
A_PWD = "apassword0123456789abcd"
B_PWD = "bpassword0123456789abcd"


@dataclass
class Net:
    """A simulated UDP network with a simulated clock (no sleeps, no sockets)."""

    rng: random.Random
    loss: float = 0.0
    delay: tuple[float, float] = (0.005, 0.005)
    cut: bool = False
    now: float = 0.0
    drop: Callable[[bytes, Address, Address], bool] = lambda data, src, dst: False
    reachable: Callable[[Address, Address], bool] = lambda src, dst: True
    sockets: dict[Address, tuple[IceAgent, int]] = field(default_factory=dict)
    agents: list[IceAgent] = field(default_factory=list)
    events: dict[int, list[IceEvent]] = field(default_factory=dict)
    sent: list[tuple[float, bytes, Address, Address]] = field(default_factory=list)
    lost: int = 0
    _queue: list[tuple[float, int, bytes, Address, Address]] = field(default_factory=list)
    _seq: int = 0

    def add(self, agent: IceAgent) -> IceAgent:
        for index, candidate in enumerate(agent.local_candidates):
            self.sockets[candidate.addr] = (agent, index)
        self.agents.append(agent)
        self.events[id(agent)] = []
        return agent

    def flush(self) -> None:
        for agent in self.agents:
            for data, (local, remote) in agent.datagrams_to_send(self.now):
                src = agent.local_candidates[local].addr
                self.sent.append((self.now, data, src, remote))
                if self.cut or self.rng.random() < self.loss or self.drop(data, src, remote):
                    self.lost += 1
                    continue
                if remote in self.sockets and self.reachable(src, remote):
                    self._seq += 1
                    at = self.now + self.rng.uniform(*self.delay)
                    heapq.heappush(self._queue, (at, self._seq, data, src, remote))
            while (event := agent.next_event()) is not None:
                self.events[id(agent)].append(event)

    def run(self, until: Callable[[], bool], limit: float) -> bool:
        """Advance the clock event by event until ``until()`` or ``limit`` seconds."""
        self.flush()
        while not until():
            timers = [t for a in self.agents if (t := a.get_timer()) is not None]
            next_time = min([*timers, *(q[0] for q in self._queue[:1])], default=None)
            if next_time is None or next_time > limit:
                self.now = max(self.now, limit)
                return until()
            self.now = max(self.now, next_time)
            while self._queue and self._queue[0][0] <= self.now:
                _, _, data, src, dst = heapq.heappop(self._queue)
                agent, index = self.sockets[dst]
                agent.receive_datagram(data, (index, src), self.now)
            for agent in self.agents:
                timer = agent.get_timer()
                if timer is not None and timer <= self.now:
                    agent.handle_timer(self.now)
            self.flush()
        return True


def make_pair(
    net: Net,
    *,
    a_controlling: bool = True,
    b_controlling: bool = False,
    a_candidates: list[IceCandidate] | None = None,
    b_candidates: list[IceCandidate] | None = None,
    tie_breakers: tuple[int, int] = (2**63 + 5, 7),
    **kwargs: object,
) -> tuple[IceAgent, IceAgent]:
    a = IceAgent(
        "aaaa",
        A_PWD,
        controlling=a_controlling,
        tie_breaker=tie_breakers[0],
        local_candidates=a_candidates or [host_candidate("10.0.0.1", 1000)],
        rng=random.Random(1),
        **kwargs,  # type: ignore[arg-type]
    )
    b = IceAgent(
        "bbbb",
        B_PWD,
        controlling=b_controlling,
        tie_breaker=tie_breakers[1],
        local_candidates=b_candidates or [host_candidate("10.0.0.2", 2000)],
        rng=random.Random(2),
    )
    return net.add(a), net.add(b)


def start(net: Net, a: IceAgent, b: IceAgent) -> None:
    a.set_remote("bbbb", B_PWD, list(b.local_candidates), now=net.now)
    b.set_remote("aaaa", A_PWD, list(a.local_candidates), now=net.now)


def both_completed(a: IceAgent, b: IceAgent) -> Callable[[], bool]:
    return lambda: a.state is IceState.COMPLETED and b.state is IceState.COMPLETED


def states(net: Net, agent: IceAgent) -> list[str]:
    return [e.state for e in net.events[id(agent)] if isinstance(e, IceStateChanged)]


def requests_sent(net: Net, src: Address) -> list[tuple[float, stun.Message]]:
    out = []
    for when, data, sender, _ in net.sent:
        message = stun.parse_message(data)
        if sender == src and message.message_class == stun.Class.REQUEST:
            out.append((when, message))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agents_connect_and_nominate_over_lossy_reordering_link(seed: int) -> None:
    net = Net(random.Random(seed), loss=0.2, delay=(0.002, 0.120))
    a, b = make_pair(net)
    start(net, a, b)
    assert net.run(both_completed(a, b), limit=30.0)
    assert states(net, a) == ["checking", "connected", "completed"]
    assert states(net, b) == ["checking", "connected", "completed"]
    assert a.selected_pair is not None and b.selected_pair is not None
    assert a.selected_pair.route == Route(0, ("10.0.0.2", 2000))
    assert b.selected_pair.route == Route(0, ("10.0.0.1", 1000))
    assert any(isinstance(e, SelectedPair) for e in net.events[id(b)])
    # the controlled side selected the pair because the controller sent USE-CANDIDATE
    assert any("USE-CANDIDATE" in m.attributes for _, m in requests_sent(net, ("10.0.0.1", 1000)))
    assert a.controlling and not b.controlling
    assert net.lost > 0


def test_every_check_carries_the_rfc8445_attributes() -> None:
    net = Net(random.Random(0))
    a, b = make_pair(net)
    start(net, a, b)
    net.run(both_completed(a, b), limit=5.0)
    _, request = requests_sent(net, ("10.0.0.1", 1000))[0]
    assert request.attributes["USERNAME"] == "bbbb:aaaa"
    assert request.attributes["ICE-CONTROLLING"] == 2**63 + 5
    assert request.attributes["PRIORITY"] == (110 << 24) + (65535 << 8) + 255
    assert request.check_message_integrity(B_PWD.encode())
    assert "FINGERPRINT" in request.attributes
    response = next(
        stun.parse_message(d)
        for _, d, s, _ in net.sent
        if s == ("10.0.0.2", 2000)
        and stun.parse_message(d).transaction_id == request.transaction_id
    )
    assert response.message_class == stun.Class.RESPONSE
    assert response.attributes["XOR-MAPPED-ADDRESS"] == ("10.0.0.1", 1000)
    assert response.check_message_integrity(B_PWD.encode())


def test_lost_response_is_retransmitted() -> None:
    dropped: list[bytes] = []

    def drop_first_response(data: bytes, src: Address, dst: Address) -> bool:
        if src != ("10.0.0.2", 2000):
            return False
        if stun.parse_message(data).message_class == stun.Class.REQUEST:
            return True  # keep b's own checks out of the way (no triggered checks on a)
        if not dropped:
            dropped.append(data)
            return True
        return False

    net = Net(random.Random(0), drop=drop_first_response)
    a, b = make_pair(net)
    start(net, a, b)
    assert net.run(lambda: a.state is IceState.COMPLETED, limit=5.0)
    (first_time, first), (again_time, again) = requests_sent(net, ("10.0.0.1", 1000))[:2]
    assert stun.parse_message(dropped[0]).transaction_id == first.transaction_id
    assert again.transaction_id == first.transaction_id
    assert again_time - first_time == pytest.approx(0.5)
    assert a.stats["retransmissions"] >= 1


def test_retransmissions_back_off_then_the_pair_fails() -> None:
    net = Net(random.Random(0))
    a, _ = make_pair(net, check_timeout=60.0)
    a.set_remote("bbbb", B_PWD, [host_candidate("10.9.9.9", 9)], now=0.0)
    net.run(lambda: a.checklist[0].state is PairState.FAILED, limit=30.0)
    times = [t for t, _ in requests_sent(net, ("10.0.0.1", 1000))]
    assert times == pytest.approx([0.0, 0.5, 1.5, 3.5, 6.7, 9.9, 13.1])
    assert net.now == pytest.approx(16.3)


def test_checks_are_paced_by_ta() -> None:
    net = Net(random.Random(0))
    a, _ = make_pair(net)
    remotes = [host_candidate(f"10.9.9.{i}", 9, local_preference=65535 - i) for i in range(4)]
    a.set_remote("bbbb", B_PWD, remotes, now=0.0)
    net.run(lambda: False, limit=0.3)
    first_sends: dict[bytes, float] = {}
    for when, message in requests_sent(net, ("10.0.0.1", 1000)):
        first_sends.setdefault(message.transaction_id, when)
    assert sorted(first_sends.values()) == pytest.approx([0.0, 0.05, 0.10, 0.15])


def test_role_conflict_when_both_controlling_resolves() -> None:
    net = Net(random.Random(4), loss=0.1, delay=(0.002, 0.05))
    a, b = make_pair(net, b_controlling=True, tie_breakers=(100, 2**64 - 1))
    start(net, a, b)
    assert net.run(both_completed(a, b), limit=30.0)
    # the larger tie-breaker keeps the controlling role
    assert b.controlling and not a.controlling
    assert a.stats["role_conflicts"] + b.stats["role_conflicts"] >= 1
    assert a.selected_pair is not None and b.selected_pair is not None
    assert a.selected_pair.route.remote == ("10.0.0.2", 2000)


def test_role_conflict_when_both_controlled_resolves() -> None:
    net = Net(random.Random(5))
    a, b = make_pair(net, a_controlling=False, tie_breakers=(2**64 - 1, 100))
    start(net, a, b)
    assert net.run(both_completed(a, b), limit=30.0)
    assert a.controlling and not b.controlling


def test_consent_lost_fails_after_thirty_seconds() -> None:
    net = Net(random.Random(6), delay=(0.002, 0.02))
    a, b = make_pair(net)
    start(net, a, b)
    assert net.run(both_completed(a, b), limit=5.0)
    # consent keeps the pair alive while the link works
    assert not net.run(lambda: a.state is IceState.FAILED, limit=net.now + 60.0)
    assert a.stats["responses_received"] > 10
    cut_at = net.now
    net.cut = True
    assert net.run(lambda: a.state is IceState.FAILED, limit=cut_at + 40.0)
    assert cut_at + 30.0 - 6.0 <= net.now <= cut_at + 30.0 + 0.01
    assert a.failure_reason is not None and "consent" in a.failure_reason
    assert states(net, a)[-1] == "failed"
    with pytest.raises(LocalProtocolError):
        a.send_data(b"x")


def test_no_reachable_remote_candidate_fails_by_the_check_timeout() -> None:
    net = Net(random.Random(7))
    a, _ = make_pair(net)
    a.set_remote("bbbb", B_PWD, [host_candidate("10.9.9.9", 9)], now=0.0)
    assert net.run(lambda: a.state is IceState.FAILED, limit=60.0)
    assert net.now == pytest.approx(CHECK_TIMEOUT)
    assert a.get_timer() is None and a.datagrams_to_send(net.now) == []


def test_unanswered_nomination_fails_both_sides_without_hanging() -> None:
    def drop_nominations(data: bytes, src: Address, dst: Address) -> bool:
        return "USE-CANDIDATE" in stun.parse_message(data).attributes

    net = Net(random.Random(15), drop=drop_nominations)
    a, b = make_pair(net)
    start(net, a, b)
    assert net.run(lambda: b.state is IceState.FAILED, limit=60.0)
    assert net.now == pytest.approx(CHECK_TIMEOUT)  # valid, but never nominated
    assert a.state is IceState.CHECKING  # its nomination still has retransmissions left
    assert net.run(lambda: a.state is IceState.FAILED, limit=60.0)
    nominations = [
        t for t, m in requests_sent(net, ("10.0.0.1", 1000)) if "USE-CANDIDATE" in m.attributes
    ]
    assert len(nominations) == 7
    assert net.now == pytest.approx(nominations[0] + 16.3)
    assert a.get_timer() is None and b.get_timer() is None


def test_several_local_sockets_each_datagram_names_its_socket() -> None:
    a_cands = [
        host_candidate("192.168.0.1", 1000),
        host_candidate("10.0.0.1", 1000, local_preference=100),
    ]
    b_cands = [
        host_candidate("172.16.0.2", 2000),
        host_candidate("10.0.0.2", 2000, local_preference=100),
    ]
    net = Net(
        random.Random(8),
        reachable=lambda src, dst: src[0].split(".")[0] == dst[0].split(".")[0],
    )
    a, b = make_pair(net, a_candidates=a_cands, b_candidates=b_cands)
    start(net, a, b)
    assert net.run(both_completed(a, b), limit=20.0)
    assert a.selected_pair is not None
    assert a.selected_pair.route == Route(1, ("10.0.0.2", 2000))
    a.send_data(b"dtls")
    assert a.datagrams_to_send(net.now) == [(b"dtls", Route(1, ("10.0.0.2", 2000)))]
    assert len(a.checklist) == 4  # 2 x 2 pairs, both IPv4


def test_pairs_join_udp_candidates_of_the_same_ip_family_only() -> None:
    tcp = IceCandidate("t", 1, "tcp", 1, "10.0.0.2", 443, "host", tcptype="passive")
    a = IceAgent(
        "aaaa",
        A_PWD,
        tie_breaker=1,
        local_candidates=[host_candidate("10.0.0.1", 1), host_candidate("2001:db8::1", 1)],
    )
    a.set_remote(
        "bbbb", B_PWD, [host_candidate("10.0.0.2", 2), host_candidate("2001:DB8:0::2", 2), tcp]
    )
    assert a.add_remote_candidate(tcp) is False
    assert {p.route for p in a.checklist} == {
        Route(0, ("10.0.0.2", 2)),
        Route(1, ("2001:db8::2", 2)),
    }


@pytest.mark.parametrize("controlling", [True, False])
def test_pair_priority_follows_rfc8445_formula(controlling: bool) -> None:
    local = host_candidate("10.0.0.1", 1, local_preference=65535)
    remote = host_candidate("10.0.0.2", 2, local_preference=100)
    a = IceAgent("aaaa", A_PWD, controlling=controlling, tie_breaker=1, local_candidates=[local])
    a.set_remote("bbbb", B_PWD, [remote])
    g, d = (local.priority, remote.priority) if controlling else (remote.priority, local.priority)
    assert a.checklist[0].priority == 2**32 * min(g, d) + 2 * max(g, d) + (1 if g > d else 0)
    assert a.checklist[0].priority % 2 == (1 if controlling else 0)


def test_peer_reflexive_remote_candidate_is_learnt_from_a_check() -> None:
    net = Net(random.Random(9))
    a, b = make_pair(net, a_controlling=False, b_controlling=True, tie_breakers=(1, 2))
    a.set_remote("bbbb", B_PWD, [], now=0.0)  # a knows no candidate of b
    b.set_remote("aaaa", A_PWD, list(a.local_candidates), now=0.0)
    assert net.run(both_completed(a, b), limit=10.0)
    assert a.selected_pair is not None and a.selected_pair.remote.type == "prflx"
    assert a.selected_pair.route.remote == ("10.0.0.2", 2000)


def test_check_received_before_set_remote_is_answered_and_replayed() -> None:
    net = Net(random.Random(10))
    a, b = make_pair(net, a_controlling=False, b_controlling=True, tie_breakers=(1, 2))
    b.set_remote("aaaa", A_PWD, list(a.local_candidates), now=0.0)
    net.run(lambda: b.stats["responses_received"] > 0, limit=1.0)
    assert a.state is IceState.NEW and a.stats["requests_received"] >= 1
    a.set_remote("bbbb", B_PWD, [], now=net.now)
    assert net.run(both_completed(a, b), limit=10.0)


def test_set_remote_without_now_starts_at_the_next_timer() -> None:
    net = Net(random.Random(11))
    net.now = 100.0
    a, b = make_pair(net)
    a.set_remote("bbbb", B_PWD, list(b.local_candidates))
    b.set_remote("aaaa", A_PWD, list(a.local_candidates))
    timer = a.get_timer()
    assert timer is not None and timer <= net.now
    assert net.run(both_completed(a, b), limit=105.0)


def test_response_with_bad_integrity_is_dropped_and_counted() -> None:
    a = IceAgent("aaaa", A_PWD, tie_breaker=1, local_candidates=[host_candidate("10.0.0.1", 1)])
    a.set_remote("bbbb", B_PWD, [host_candidate("10.0.0.2", 2)], now=0.0)
    [(request_bytes, route)] = a.datagrams_to_send(0.0)
    request = stun.parse_message(request_bytes)
    forged = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id)
    forged.attributes["XOR-MAPPED-ADDRESS"] = ("10.0.0.1", 1)
    forged.add_message_integrity(b"not the remote password!")
    a.receive_datagram(bytes(forged), route, 0.01)
    assert a.stats["bad_integrity"] == 1
    assert a.checklist[0].state is PairState.IN_PROGRESS and a.selected_pair is None
    a.handle_timer(0.5)
    [(again, _)] = a.datagrams_to_send(0.5)
    assert again == request_bytes  # still retransmitting


def test_response_from_an_unexpected_address_is_dropped_and_counted() -> None:
    a = IceAgent("aaaa", A_PWD, tie_breaker=1, local_candidates=[host_candidate("10.0.0.1", 1)])
    a.set_remote("bbbb", B_PWD, [host_candidate("10.0.0.2", 2)], now=0.0)
    [(request_bytes, _)] = a.datagrams_to_send(0.0)
    request = stun.parse_message(request_bytes)
    response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id)
    response.attributes["XOR-MAPPED-ADDRESS"] = ("10.0.0.1", 1)
    response.add_message_integrity(B_PWD.encode())
    a.receive_datagram(bytes(response), (0, ("10.6.6.6", 2)), 0.01)
    assert a.stats["unexpected_address"] == 1
    a.receive_datagram(bytes(response), (0, ("10.0.0.2", 2)), 0.02)
    a.receive_datagram(bytes(response), (0, ("10.0.0.2", 2)), 0.03)  # duplicate
    assert a.checklist[0].state is PairState.SUCCEEDED
    assert a.stats["unknown_transaction"] == 1


def test_peer_check_on_a_pair_in_progress_triggers_a_fresh_check() -> None:
    a = IceAgent("aaaa", A_PWD, tie_breaker=1, local_candidates=[host_candidate("10.0.0.1", 1)])
    a.set_remote("bbbb", B_PWD, [host_candidate("10.0.0.2", 2)], now=0.0)
    [(first, route)] = a.datagrams_to_send(0.0)
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    request.attributes.update({"USERNAME": "aaaa:bbbb", "PRIORITY": 5, "ICE-CONTROLLED": 3})
    request.add_message_integrity(A_PWD.encode())
    a.receive_datagram(bytes(request), route, 0.2)
    [(response, _)] = a.datagrams_to_send(0.2)
    assert stun.parse_message(response).message_class == stun.Class.RESPONSE
    a.handle_timer(0.2)
    [(fresh, _)] = a.datagrams_to_send(0.2)
    old_id = stun.parse_message(first).transaction_id
    assert stun.parse_message(fresh).transaction_id != old_id
    a.handle_timer(0.5)  # the cancelled check is not retransmitted
    assert a.datagrams_to_send(0.5) == []
    assert a.checklist[0].state is PairState.IN_PROGRESS


def test_request_with_bad_integrity_gets_401_and_is_counted() -> None:
    a = IceAgent("aaaa", A_PWD, tie_breaker=1, local_candidates=[host_candidate("10.0.0.1", 1)])
    a.set_remote("bbbb", B_PWD, [], now=0.0)
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    request.attributes.update({"USERNAME": "aaaa:bbbb", "PRIORITY": 5, "ICE-CONTROLLED": 3})
    request.add_message_integrity(b"wrong password")
    a.receive_datagram(bytes(request), (0, ("10.0.0.2", 2)), 0.0)
    [(reply, route)] = a.datagrams_to_send(0.0)
    assert stun.parse_message(reply).error_code == 401 and route == Route(0, ("10.0.0.2", 2))
    assert a.stats["bad_integrity"] == 1 and a.checklist == []
    request.attributes["USERNAME"] = "zzzz:bbbb"
    request.add_message_integrity(A_PWD.encode())
    a.receive_datagram(bytes(request), (0, ("10.0.0.2", 2)), 0.0)
    assert a.stats["bad_username"] == 1


def test_hostile_datagrams_are_dropped_and_counted() -> None:
    a = IceAgent("aaaa", A_PWD, tie_breaker=1, local_candidates=[host_candidate("10.0.0.1", 1)])
    a.set_remote("bbbb", B_PWD, [host_candidate("10.0.0.2", 2)], now=0.0)
    [(request_bytes, _)] = a.datagrams_to_send(0.0)
    rng = random.Random(12)
    hostile = [b"", b"\x00", request_bytes[:30], request_bytes[:-1], b"\x01\x01" + bytes(60)]
    hostile += [bytes([rng.randrange(4)]) + rng.randbytes(rng.randrange(80)) for _ in range(300)]
    for data in hostile:
        a.receive_datagram(data, (0, ("10.0.0.2", 2)), 0.01)
    a.receive_datagram(request_bytes, (5, ("10.0.0.2", 2)), 0.01)  # no such socket
    a.receive_datagram(request_bytes, (0, ("not an ip", 2)), 0.01)
    a.receive_datagram(b"\x80rtp", (0, ("10.0.0.2", 2)), 0.01)
    assert a.stats["malformed"] >= 250
    assert a.stats["unknown_local"] == 2 and a.stats["not_stun"] >= 1
    assert a.state is IceState.CHECKING


def test_send_data_waits_for_selection_and_close_stops_everything() -> None:
    net = Net(random.Random(13))
    a, b = make_pair(net)
    with pytest.raises(LocalProtocolError, match="SelectedPair"):
        a.send_data(b"early")
    start(net, a, b)
    assert net.run(both_completed(a, b), limit=5.0)
    b.send_data(b"x")
    assert b.datagrams_to_send(net.now) == [(b"x", Route(0, ("10.0.0.1", 1000)))]
    a.close()
    assert a.state is IceState.CLOSED and a.get_timer() is None
    assert states(net, a)[-1] == "completed" and a.next_event() == IceStateChanged(IceState.CLOSED)


def test_aggressive_nomination_selects_on_the_first_success() -> None:
    net = Net(random.Random(14))
    a, b = make_pair(net, aggressive_nomination=True)
    start(net, a, b)
    assert net.run(both_completed(a, b), limit=5.0)
    requests = requests_sent(net, ("10.0.0.1", 1000))
    assert all("USE-CANDIDATE" in m.attributes for _, m in requests)


def test_ice_lite_peer_makes_us_controlling() -> None:
    a = IceAgent(
        "aaaa",
        A_PWD,
        controlling=False,
        tie_breaker=1,
        local_candidates=[host_candidate("10.0.0.1", 1)],
    )
    a.set_remote("bbbb", B_PWD, [host_candidate("10.0.0.2", 2)], ice_lite=True, now=0.0)
    assert a.controlling


# --------------------------------------------------------------- real peers on loopback


class UdpDriver(asyncio.DatagramProtocol):
    """The tiny test-side driver: one UDP socket on 127.0.0.1 for one IceAgent."""

    def __init__(self) -> None:
        self.agent: IceAgent | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.loop = asyncio.get_running_loop()
        self.timer: asyncio.TimerHandle | None = None
        self.selected = asyncio.Event()
        self.failed = asyncio.Event()
        self.app_data: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.agent is not None
        if data and data[0] < 4:
            self.agent.receive_datagram(data, (0, (addr[0], addr[1])), self.loop.time())
            self.pump()
        else:
            self.app_data.put_nowait(data)

    def pump(self) -> None:
        assert self.agent is not None and self.transport is not None
        for data, (_, remote) in self.agent.datagrams_to_send(self.loop.time()):
            self.transport.sendto(data, remote)
        while (event := self.agent.next_event()) is not None:
            if isinstance(event, SelectedPair):
                self.selected.set()
            elif event.state is IceState.FAILED:
                self.failed.set()
        if self.timer is not None:
            self.timer.cancel()
        when = self.agent.get_timer()
        self.timer = None if when is None else self.loop.call_at(when, self.on_timer)

    def on_timer(self) -> None:
        assert self.agent is not None
        self.timer = None
        self.agent.handle_timer(self.loop.time())
        self.pump()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.close()


async def open_driver() -> tuple[UdpDriver, IceCandidate]:
    loop = asyncio.get_running_loop()
    transport, driver = await loop.create_datagram_endpoint(UdpDriver, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    return driver, host_candidate("127.0.0.1", port)


def test_controlling_agent_connects_to_aioice_controlled_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import aioice
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])

    async def scenario() -> tuple[bytes, bytes, dict[str, int]]:
        driver, local = await open_driver()
        conn = aioice.Connection(ice_controlling=False, use_ipv6=False)
        try:
            await conn.gather_candidates()
            agent = IceAgent(
                "ours",
                "ourpassword0123456789ab",
                tie_breaker=random.getrandbits(64),
                local_candidates=[local],
            )
            driver.agent = agent
            conn.remote_username, conn.remote_password = "ours", "ourpassword0123456789ab"
            await conn.add_remote_candidate(aioice.Candidate.from_sdp(local.to_sdp()))
            await conn.add_remote_candidate(None)
            theirs = [IceCandidate.from_sdp(c.to_sdp()) for c in conn.local_candidates]
            agent.set_remote(
                conn.local_username,
                conn.local_password,
                theirs,
                now=asyncio.get_running_loop().time(),
            )
            driver.pump()
            await asyncio.wait_for(asyncio.gather(conn.connect(), driver.selected.wait()), 10)
            agent.send_data(b"\x80 from us")
            driver.pump()  # sends it to the selected pair's remote
            received = await asyncio.wait_for(conn.recv(), 5)
            await conn.send(b"\x80 from aioice")
            reply = await asyncio.wait_for(driver.app_data.get(), 5)
            return received, reply, dict(agent.stats)
        finally:
            await conn.close()
            driver.close()

    received, reply, stats = asyncio.run(scenario())
    assert received == b"\x80 from us" and reply == b"\x80 from aioice"
    assert stats["requests_received"] >= 1 and stats["bad_integrity"] == 0


def test_controlling_agent_connects_to_aiortc_from_the_sdp_exchange(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import aioice.ice
    import aiortc

    from adk_realtime.sansio.webrtc.sdp import build_offer, parse_answer

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])

    async def scenario() -> str:
        driver, local = await open_driver()
        pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        try:
            offer = build_offer(
                ice_ufrag="ours",
                ice_pwd="ourpassword0123456789ab",
                fingerprint_sha256=":".join(["AA"] * 32),
                candidates=[local],
                audio_ssrc=1,
                cname="c",
                session_id=1,
            )
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            answer = parse_answer(pc.localDescription.sdp)
            completed = asyncio.Event()

            @pc.on("iceconnectionstatechange")
            def on_state() -> None:
                if pc.iceConnectionState == "completed":
                    completed.set()

            agent = IceAgent(
                "ours", "ourpassword0123456789ab", tie_breaker=2**64 - 1, local_candidates=[local]
            )
            driver.agent = agent
            agent.set_remote(
                answer.ice_ufrag,
                answer.ice_pwd,
                answer.candidates,
                answer.ice_lite,
                now=asyncio.get_running_loop().time(),
            )
            driver.pump()
            await asyncio.wait_for(asyncio.gather(driver.selected.wait(), completed.wait()), 10)
            assert agent.selected_pair is not None
            return str(agent.selected_pair.route.remote[0])
        finally:
            await pc.close()
            driver.close()

    assert asyncio.run(scenario()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("field", "kwargs", "shown"),
    [
        ("tie_breaker", {"tie_breaker": -1}, "-1"),
        ("tie_breaker", {"tie_breaker": 2**64}, str(2**64)),
        ("local_ufrag", {"local_ufrag": ""}, "''"),
        ("local_pwd", {"local_pwd": ""}, "0 characters"),
        ("check_timeout", {"check_timeout": 0}, "0"),
    ],
)
def test_bad_arguments_are_config_errors_naming_field_and_value(
    field: str, kwargs: dict[str, object], shown: str
) -> None:
    args: dict[str, object] = {
        "local_ufrag": "aaaa",
        "local_pwd": A_PWD,
        "tie_breaker": 1,
        "local_candidates": [host_candidate("10.0.0.1", 1)],
    }
    args.update(kwargs)
    ufrag, pwd = args.pop("local_ufrag"), args.pop("local_pwd")
    with pytest.raises(ConfigError) as info:
        IceAgent(ufrag, pwd, **args)  # type: ignore[arg-type]
    assert info.value.field == field and shown in str(info.value)
