"""Soak: a long conversation's client memory must level off (``make soak``).

A runner with a tool talks to the in-process simulator for many spoken turns
(tool calls every third turn). tracemalloc snapshots after a warm-up, halfway
and at the end; only allocations made outside the simulator count (it runs in
this process but is the server). Once warm, the client may not keep growing:
the check fails when the second half of the run retained more than
``--max-bytes-per-turn`` per turn (counting sites that gained two blocks or
more: one new block is a message in flight at snapshot time). A bounded structure (an LRU, a capped list)
levels off within the warm-up; anything that keeps one entry per turn or per
event shows up here, with the traceback of its allocation.

    python fuzz/soak_memory.py [--turns 300] [--provider openai|gemini|both]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc

import anyio

from adk_realtime import EventHandler, RealtimeAgent, RealtimeRunner, function_tool
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.gemini import GeminiLiveBackend, GeminiRealtimeModel
from adk_realtime.models import RealtimeModel
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.sansio.sim.speech import synthesize_speech

SERVER_SIDE = (
    "/sansio/sim/",
    "drivers/simulator",
    "websocket_server",
    "tracemalloc",
    "soak_memory",
)


@function_tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


class TurnWaiter(EventHandler):
    """Counts answered turns: a response that carried audio (a tool call alone is not one)."""

    def __init__(self) -> None:
        self.answers = 0
        self.spoke = False
        self.changed = anyio.Event()

    def on_audio(self, audio: bytes, item_id: str) -> None:
        self.spoke = True

    def on_response_done(self, event: object) -> None:
        if not self.spoke:
            return
        self.spoke = False
        self.answers += 1
        self.changed.set()
        self.changed = anyio.Event()


async def wait_answers(handler: TurnWaiter, count: int) -> None:
    with anyio.fail_after(30):
        while handler.answers < count:
            await handler.changed.wait()


def client_growth(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot
) -> list[tracemalloc.StatisticDiff]:
    stats = after.compare_to(before, "traceback")
    return [s for s in stats if not any(m in f.filename for f in s.traceback for m in SERVER_SIDE)]


async def soak(provider: str, turns: int) -> int:
    """Client bytes retained per turn over the second half of the run."""
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        model: RealtimeModel
        if provider == "gemini":
            backend = GeminiLiveBackend.Public("sim-key", base_url=server.url)
            model = GeminiRealtimeModel(backend, "gemini-2.0-flash-live-001")
        else:
            model = OpenAIRealtimeModel("sk-sim", "gpt-realtime", base_url=server.openai_base_url)
        agent = (
            RealtimeAgent.builder("soak").model(model).instruction("Be brief.").tool(get_weather)
            .server_vad().build()
        )  # fmt: skip
        handler = TurnWaiter()
        runner = RealtimeRunner(agent=agent, event_handler=handler)
        snapshots: list[tracemalloc.Snapshot] = []
        marks = (turns // 4, turns // 2, turns - 1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            for turn in range(turns):
                with_tool = turn % 3 == 0
                question = "What is the weather in Paris?" if with_tool else f"Say fact {turn % 7}."
                pcm = synthesize_speech(question, 24000) + bytes(48000)  # 1 s of silence ends it
                await runner.send_audio(pcm, sample_rate=24000)
                await wait_answers(handler, turn + 1)
                if turn in marks:
                    gc.collect()
                    snapshots.append(tracemalloc.take_snapshot())
            await runner.close()
    # A site that leaks does so once per turn or per event: many new blocks. A single
    # new block is a message in flight when the snapshot was taken, not retention.
    growth = [g for g in client_growth(snapshots[1], snapshots[2]) if g.count_diff >= 2]
    retained = sum(s.size_diff for s in growth)
    per_turn = retained // max(1, marks[2] - marks[1])
    print(f"soak {provider}: {turns} turns, client retained {retained} B over the second half "
          f"({per_turn} B/turn)")  # fmt: skip
    for stat in sorted(growth, key=lambda s: -s.size_diff)[:3]:
        if stat.size_diff > 0:
            print(f"  +{stat.size_diff} B in {stat.count_diff} blocks at")
            for line in stat.traceback.format()[-14:]:
                print("     ", line)
    return per_turn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--provider", choices=("openai", "gemini", "both"), default="both")
    parser.add_argument("--max-bytes-per-turn", type=int, default=64)
    args = parser.parse_args()
    tracemalloc.start(12)
    failed = False
    for provider in ("openai", "gemini") if args.provider == "both" else (args.provider,):
        per_turn = anyio.run(soak, provider, args.turns)
        if per_turn > args.max_bytes_per_turn:
            print(f"soak {provider}: FAILED, {per_turn} B/turn > {args.max_bytes_per_turn}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
