"""Rollover gap: how long a call is without a live provider session when the session switches.

Method (see bench/README.md): the project's simulator runs in this process (``pace=0``) and
sessions talk to it over loopback WebSocket. Each session is built as the models build
theirs (``RealtimeSession`` with the provider's protocol and a WebSocket link factory), the
factory wrapping every link it opens in a probe that notes when the link ended: the moment
the session started closing it (a planned rollover, the reaction to ``goAway``) or its
``receive`` raised ``ConnectionClosed`` (a drop seen). The app reads events as an app does.
Per switch, the **gap** is the time from that end to the moment the app reads the
``SessionResumed`` of the new connection (the new session is ready: OpenAI's
``session.update`` and the replayed conversation sent, Gemini's ``setupComplete`` received);
the time to the first message sent on the new link is noted too. Three kinds of switch:

  openai rollover  the session replaces its connection before ``expires_at`` (a cap of
                   ``CAP`` s; idle, so at once): close, new connection, seeded from the record
  openai drop      the simulator drops the connection (no close frame, 1006) after
                   ``HEALTHY_LINK_SECONDS`` + 0.3 s, so the first attempt is immediate as for
                   any link that had lived (a link that dies sooner is retried with backoff)
  gemini goAway    ``goAway`` 1 s before the cap: close, resume with the handle

Every conversation holds ``ITEMS`` items (seeded at the start), which OpenAI's rollover
replays. The reference, in the same run: **fresh connect**, opening a new session of the
same conversation from nothing to ready (``N`` times per provider, half before the switches
and half after, against a simulator without faults). Figures: median and p95 of the gap per kind, and median gap / median fresh
connect of its provider.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import _common as c
import anyio

from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.gemini import GeminiLiveBackend
from adk_realtime.models import websocket_link
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.sansio.history import History, HistoryMessage
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.session import (
    HEALTHY_LINK_SECONDS,
    Link,
    RealtimeSession,
    SessionOptions,
    open_session,
)

CAP = 2.0  # seconds a simulated session lasts (rollover, goAway)
ITEMS = 20  # conversation items each session carries


@dataclass
class Probe:
    """One link's times (anyio's clock, seconds)."""

    opened: float
    first_send: float | None = None
    sent: int = 0  # messages sent on the link
    ended: float | None = None
    how: str = ""  # "receive" (a close or drop seen) or the reason the session closed it


class ProbedLink:
    """A link that notes its first send and its end; everything else passes through."""

    def __init__(self, link: Link, probe: Probe) -> None:
        self._link = link
        self._probe = probe

    async def send(self, message: str) -> None:
        if self._probe.first_send is None:
            self._probe.first_send = anyio.current_time()
        self._probe.sent += 1
        await self._link.send(message)

    async def receive(self) -> Any:
        try:
            return await self._link.receive()
        except ConnectionClosed:
            if self._probe.ended is None:
                self._probe.ended = anyio.current_time()  # the drop (or the close) seen
                self._probe.how = "receive"
            raise

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        if self._probe.ended is None:
            self._probe.ended = anyio.current_time()  # the session starts closing it
            self._probe.how = reason
        await self._link.aclose(code, reason)


@dataclass
class Call:
    """One instrumented session: its links' probes and when each SessionResumed was read."""

    probes: list[Probe] = field(default_factory=list)
    resumed_at: list[float] = field(default_factory=list)


def gaps(call: Call, how: str) -> tuple[list[float], list[float]]:
    """Per switch, ms from the old link's end to the SessionResumed read, and to the first
    message sent on the new link. The k-th SessionResumed follows the end of link k, which
    must have ended ``how`` (so a rollover that turned into a cap hit is not counted as one)."""
    ready, first = [], []
    for k, at in enumerate(call.resumed_at):
        old, new = call.probes[k], call.probes[k + 1]
        assert old.ended is not None and new.first_send is not None, (k, old, new)
        assert old.how == how, f"switch {k + 1}: the link ended by {old.how!r}, not {how!r}"
        ready.append((at - old.ended) * 1e3)
        first.append((new.first_send - old.ended) * 1e3)
    return ready, first


def conversation() -> History:
    """``ITEMS`` alternating user and assistant messages of a sentence each."""
    return History(
        tuple(
            HistoryMessage(
                f"item_{i:04d}",
                "user" if i % 2 == 0 else "assistant",
                f"Sentence number {i} of a conversation that goes on for a while.",
            )
            for i in range(ITEMS)
        )
    )


def make_session(provider: str, server: Any, call: Call) -> RealtimeSession:
    """A session built as the models build theirs, its links probed."""
    options = SessionOptions()
    protocol: OpenAIProtocol | GeminiProtocol
    if provider == "openai":
        protocol = OpenAIProtocol("gpt-realtime")
        url, secrets = protocol.endpoint_url(server.openai_base_url), ["sk-bench"]
    else:
        protocol = GeminiProtocol("gemini-live-2.5-flash-native-audio")
        backend = GeminiLiveBackend.Public("bench-key", base_url=server.url)
        url, secrets = backend.url(), backend.secrets()

    @asynccontextmanager
    async def factory(_handle: str | None) -> AsyncIterator[Link]:
        probe = Probe(anyio.current_time())
        call.probes.append(probe)
        if provider == "openai":
            headers = [("Authorization", "Bearer sk-bench"), *protocol.handshake_headers()]
        else:
            headers = await backend.headers()
        async with websocket_link(url, headers, secrets=secrets, options=options) as link:
            yield ProbedLink(link, probe)

    return RealtimeSession(
        protocol,
        RealtimeConfig(),
        factory,
        provider=provider,
        options=options,
        history=conversation(),
    )


async def measure_switches(provider: str, hub: SimulatorHub, switches: int) -> Call:
    """Run one call until ``switches`` SessionResumed were read."""
    call = Call()
    async with run_simulator(hub=hub) as server:
        session = make_session(provider, server, call)
        async with open_session(session):
            async for event in session:
                if isinstance(event, ev.SessionResumed):
                    call.resumed_at.append(anyio.current_time())
                    if len(call.resumed_at) >= switches:
                        break
    return call


async def measure_fresh(provider: str, times: int) -> list[float]:
    """ms to open a session of the same conversation from nothing to ready, ``times`` times
    (after one more, not counted: the first connection of a process pays its imports)."""
    out = []
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        for _ in range(times + 1):
            session = make_session(provider, server, Call())
            start = anyio.current_time()
            async with open_session(session):
                out.append((anyio.current_time() - start) * 1e3)
    return out[1:]


def stats(values: list[float]) -> tuple[float, float]:
    return c.percentile(values, 50), c.percentile(values, 95)


async def run(n: int) -> dict[str, Any]:
    drop_after = HEALTHY_LINK_SECONDS + 0.3
    # The reference is measured in two halves, before and after the switches, so a change
    # in the machine's load during the run lands on both sides of the ratio.
    half = max(1, n // 2)
    fresh = {p: await measure_fresh(p, half) for p in ("openai", "gemini")}
    kinds = {
        "openai rollover": (
            "openai",
            SimulatorHub(pace=0, session_max_seconds=CAP),
            "session rollover",
        ),
        "openai drop": (
            "openai",
            SimulatorHub(pace=0, drop_after=drop_after, drops=n + 1),
            "receive",
        ),
        "gemini goAway": (
            "gemini",
            SimulatorHub(pace=0, session_max_seconds=CAP),
            "resuming after goAway",
        ),
    }
    results: dict[str, Any] = {"fresh": fresh, "drop_after": drop_after}
    for kind, (provider, hub, how) in kinds.items():
        call = await measure_switches(provider, hub, n)
        results[kind] = (provider, *gaps(call, how))
    for p in fresh:
        fresh[p] += await measure_fresh(p, half)
    return results


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0] if __doc__ else "")
    n = 1 if args.smoke else 20
    c.note(f"before: {c.load_note()}")
    results = anyio.run(run, n)
    c.note(f"machine: {c.machine()}; {c.load_note()}")
    c.note(
        f"{n} switches of each kind, {ITEMS} conversation items, sessions capped at {CAP:g} s, "
        f"drops after {results['drop_after']:.1f} s; simulator in process, loopback WebSocket"
    )
    fresh = {p: stats(v) for p, v in results["fresh"].items()}
    for provider, (p50, p95) in fresh.items():
        c.note(f"fresh connect {provider}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    parts = []
    for kind in ("openai rollover", "openai drop", "gemini goAway"):
        provider, ready, first = results[kind]
        (p50, p95), (f50, f95) = stats(ready), stats(first)
        base = fresh[provider][0]
        c.note(
            f"{kind}: gap to SessionResumed p50 {p50:.1f} ms, p95 {p95:.1f} ms, max "
            f"{max(ready):.1f} ms; to the first message on the new link p50 {f50:.1f} ms, "
            f"p95 {f95:.1f} ms; all: " + ", ".join(f"{g:.1f}" for g in ready)
        )
        parts.append(f"{kind} p50 {p50:.1f} ms p95 {p95:.1f} ({c.ratio(p50, base)} fresh)")
    c.summary(
        "rollover",
        f"gap from the old connection's end to SessionResumed, {n} switch(es) of each kind: "
        + "; ".join(parts)
        + f"; fresh connect p50 openai {fresh['openai'][0]:.1f} ms, "
        f"gemini {fresh['gemini'][0]:.1f} ms",
    )

    def draw(plt: Any) -> None:
        labels = ["openai rollover", "openai drop", "gemini goAway"]
        data = [results[k][1] for k in labels]
        data += [results["fresh"]["openai"], results["fresh"]["gemini"]]
        labels += ["fresh connect openai", "fresh connect gemini"]
        plt.boxplot(data, vert=False, labels=labels, whis=(5, 95))
        plt.xlabel("ms (old connection's end -> SessionResumed; fresh: connect -> ready)")
        plt.title(f"bench_rollover: {n} switches each, {ITEMS} conversation items")

    c.maybe_plot(args.plot, "bench_rollover", draw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
