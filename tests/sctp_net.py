"""A simulated network for SCTP tests: two associations, a lossy link, a jumping clock."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from adk_realtime.sansio.webrtc.sctp import chunks as chunks
from adk_realtime.sansio.webrtc.sctp.association import (
    DataReceived,
    SctpAssociation,
    SctpEvent,
    SctpState,
)
from adk_realtime.sansio.webrtc.sctp.chunks import (
    encode_packet,
    parse_packet,
)

# --- the simulated network -------------------------------------------------------------


class SctpMachine(Protocol):
    """The verbs the network drives: an association, or a layer over one."""

    def receive_data(self, data: bytes, now: float) -> None: ...
    def data_to_send(self) -> list[bytes]: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...


@dataclass
class Net:
    """Two endpoints, one link each way, one simulated clock."""

    a: SctpAssociation
    b: SctpAssociation
    seed: int = 0
    loss: float = 0.0
    dup: float = 0.0
    delay: float = 0.02
    jitter: float = 0.0
    now: float = 0.0
    blackout: tuple[float, float] | None = None
    drop: Callable[[int, bytes], bool] | None = None  # (destination side, packet) -> drop?
    events: tuple[list[SctpEvent], list[SctpEvent]] = field(default_factory=lambda: ([], []))
    on_event: Callable[[int, object], None] | None = None
    readers: list[Callable[[], object]] = field(default_factory=list)
    # What the network drives (inputs, timers, output): the associations themselves, or
    # a layer that passes the verbs through to them (a data channel manager).
    machines: tuple[SctpMachine, SctpMachine] | None = None
    sent: tuple[list[bytes], list[bytes]] = field(default_factory=lambda: ([], []))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._queue: list[tuple[float, int, int, bytes]] = []
        self._seq = 0
        if not self.readers:
            self.readers = [self.a.next_event, self.b.next_event]
        if self.machines is None:
            self.machines = (self.a, self.b)

    @property
    def ends(self) -> tuple[SctpAssociation, SctpAssociation]:
        return self.a, self.b

    def _transmit(self, side: int, pkt: bytes) -> None:
        self.sent[side].append(pkt)
        dest = 1 - side
        if self.blackout and self.blackout[0] <= self.now < self.blackout[1]:
            return
        if self.drop is not None and self.drop(dest, pkt):
            return
        if self.rng.random() < self.loss:
            return
        for _ in range(2 if self.rng.random() < self.dup else 1):
            self._seq += 1
            t = self.now + self.delay + self.rng.random() * self.jitter
            heapq.heappush(self._queue, (t, self._seq, dest, pkt))

    def pump(self) -> None:
        """Drain events and send what both ends have to send."""
        for side in (0, 1):
            while (ev := self.readers[side]()) is not None:
                if self.on_event is not None:
                    self.on_event(side, ev)
                else:
                    self.events[side].append(ev)  # type: ignore[arg-type]
            for pkt in self.machines[side].data_to_send():
                self._transmit(side, pkt)

    def step(self, until: float) -> bool:
        """Advance to the next packet or timer (not past ``until``); False if none."""
        self.pump()
        times = [t for t in (m.get_timer() for m in self.machines) if t is not None]
        if self._queue:
            times.append(self._queue[0][0])
        if not times or min(times) > until:
            self.now = max(self.now, until)
            return False
        self.now = max(self.now, min(times))
        while self._queue and self._queue[0][0] <= self.now:
            _, _, dest, pkt = heapq.heappop(self._queue)
            self.machines[dest].receive_data(pkt, self.now)
        for end in self.machines:
            t = end.get_timer()
            if t is not None and t <= self.now:
                end.handle_timer(self.now)
        self.pump()
        return True

    def run(self, duration: float, stop: Callable[[], bool] | None = None) -> None:
        until = self.now + duration
        while self.step(until):
            if stop is not None and stop():
                return

    def kinds(self, side: int) -> list[str]:
        return [type(e).__name__ for e in self.events[side]]

    def data(self, side: int) -> list[bytes]:
        return [e.data for e in self.events[side] if isinstance(e, DataReceived)]


def make_pair(seed: int = 0, **kw: object) -> tuple[SctpAssociation, SctpAssociation]:
    a = SctpAssociation(is_client=True, rng=random.Random(seed * 2 + 1), **kw)  # type: ignore[arg-type]
    b = SctpAssociation(is_client=False, rng=random.Random(seed * 2 + 2), **kw)  # type: ignore[arg-type]
    return a, b


def connected(seed: int = 0, **kw: object) -> Net:
    a, b = make_pair(seed, **kw)
    net = Net(a, b, seed=seed)
    a.connect(0.0)
    net.run(1.0, stop=lambda: a.state is b.state is SctpState.ESTABLISHED)
    assert a.state is SctpState.ESTABLISHED and b.state is SctpState.ESTABLISHED
    net.events[0].clear()
    net.events[1].clear()
    return net


def chunk_types(pkt: bytes) -> list[str]:
    return [type(c).__name__ for c in parse_packet(pkt).chunks]


def rewrite(pkt: bytes, fn: Callable[[list[chunks.Chunk]], list[chunks.Chunk]]) -> bytes:
    """Decode ``pkt``, let ``fn`` change its chunks, re-encode with a correct checksum."""
    p = parse_packet(pkt)
    new = fn(list(p.chunks))
    return encode_packet(
        p.source_port, p.destination_port, p.verification_tag, [c.encode() for c in new]
    )
