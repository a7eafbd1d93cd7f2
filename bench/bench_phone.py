"""Phone calls at load: N Twilio callers through ``bridge_call`` to the simulator (OpenAI).

Processes (this one only starts them, then reads their CPU from ``/proc`` over one
wall-clock window):

* the simulator (``run_simulator``, ``pace=0.5``: the model speaks twice as fast as real
  time, as real providers stream ahead of playback; 100 ms of audio per delta);
* the bridge, the processes measured: ``--workers`` processes (1 for the comparison at
  N=20, 2 for the load levels) accepting on one listening socket bound here and inherited,
  as the serving supervisor's workers do, each running ``bridge_call(ws,
  TwilioMediaStream(), model, agent)`` per connection, the agent the phone demo's (a
  weather tool);
* the callers, in ``--caller-procs`` processes of their own (1 by default; so the load
  side does not share a loop, or a core's worth of CPU, with anything): each caller
  sends ``connected`` and ``start``, then one 20 ms μ-law ``media`` frame every 20 ms
  (the callers of a process are served in four groups 5 ms apart), asks "What is the
  weather in Paris?" (first at a random time in one turn's length after the common
  start, so the callers' turns have independent phases; ``--herd``: all within 0.5 s,
  and so in step every turn after; then 0.6 s after each answer finished playing), plays
  what it receives on a playout clock and sends each mark back when its audio has
  played. They must cost far less than the bridge they load, so a caller process is
  plain asyncio with the lean WebSocket client of ``_phone_caller`` (the upgrade by
  hand, the fixed ``media`` messages framed and masked once, frames written straight to
  the socket, one timer for all its callers) rather than the library's client: a caller
  costs about 2 ms of CPU per call-second (the library's client: 6 and more), so one
  process serves 100.

At the callers: inter-frame jitter, ``|arrival interval - 20 ms|`` of frames in steady
state (inside a talk spurt, after its first ``max_ahead_ms / 20`` frames, which the bridge
sends at once by design); playout gaps, a frame arriving after the one before it finished
playing inside a talk spurt (what a caller would hear as a drop-out); the answers heard
(the first one of a caller is decoded to text: the bench does the real work). Bridge CPU:
its utime + stime (``/proc``) over the window, per call and second of call, and per carrier
message (the callers' messages both ways in the window: a figure that stays comparable when
a starved run moved less audio). ``--calls N --against PYTHON`` runs another checkout's
bridge (its venv's interpreter) next to ours, N callers each, at the same time: a
before/after under the very same load.

Compared at the same N, alternating: *ours* (``audio/pcmu`` both ways, the carrier's
bytes passed through) and *transcoding*: the same bridge given a model that does not
take G.711 (``accepts_g711`` false), so the session is PCM16 at 24 kHz both ways and the
bridge does what the neighbours' examples do: μ-law -> PCM, 8 -> 24 kHz in; 24 -> 8 kHz,
PCM -> μ-law out (and the provider's messages carry six times the bytes).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import _common as c
from _phone_caller import LeanWebSocket, text_frame

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUESTION = "What is the weather in Paris?"
ANSWER = "Here is the weather: sunny."
FRAME_S = 0.02
LEAD_FRAMES = 5  # BridgeOptions.max_ahead_ms (100) / 20: sent at once when a spurt starts
GROUPS = 4  # callers are served in this many groups, FRAME_S / GROUPS apart
SID = "MZ00000000000000000000000000000000"
SIM_PROCS = [1]  # simulator processes (--sim-procs, sharing one port)
SPREAD_S = [5.0]  # first questions over ~one turn: independent phases (--herd: 0.5 s)
HANDSHAKE_TIMEOUT = 10.0  # a server that never answers the upgrade fails the caller


# ------------------------------------------------------------------ the two servers


async def serve_simulator(fd: int) -> None:
    """One simulator process, accepting on the listening socket ``fd`` the bench bound (the
    ``--sim-procs`` processes share it, as the bridge workers share theirs)."""
    import socket

    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.sansio.sim.hub import SimulatorHub

    hub = SimulatorHub(pace=0.5, chunk_ms=100)
    async with run_simulator(hub=hub, sock=socket.socket(fileno=fd)) as sim:
        print(f"PORT {sim.port}", flush=True)
        import anyio

        await anyio.sleep_forever()


def make_model(kind: str, sim_port: int) -> Any:
    """The model of a variant: ``ours`` takes G.711; ``transcoding`` says it does not."""
    from adk_realtime.openai import OpenAIRealtimeModel

    class TranscodingModel(OpenAIRealtimeModel):
        @property
        def accepts_g711(self) -> bool:
            return False

    cls = OpenAIRealtimeModel if kind == "ours" else TranscodingModel
    return cls("sk-bench", base_url=f"ws://127.0.0.1:{sim_port}/v1")


async def serve_bridge(kind: str, sim_port: int, fd: int) -> None:
    """One bridge worker: accepts on the listening socket ``fd`` the bench bound (as the
    serving supervisor's workers do), so N of them share one port."""
    import logging
    import socket

    import anyio

    logging.basicConfig(level=logging.WARNING)  # to the log the bench reads

    from adk_realtime.agent import RealtimeAgent
    from adk_realtime.call_bridge import bridge_call
    from adk_realtime.drivers.websocket import serve
    from adk_realtime.sansio.config import VadConfig
    from adk_realtime.sansio.telephony.twilio import TwilioMediaStream
    from adk_realtime.serving import freeze_startup_heap
    from adk_realtime.tools import function_tool

    @function_tool
    def weather(city: str) -> str:
        """Current weather for a city."""
        return "sunny"

    model = make_model(kind, sim_port)
    agent = RealtimeAgent(
        "phone", model, instruction="Answer the phone.", tools=[weather], vad=VadConfig.server()
    )

    calls = 0

    async def handler(ws: Any) -> None:
        nonlocal calls
        calls += 1
        print(f"CALL {os.getpid()} {calls}", file=sys.stderr, flush=True)  # calls per worker
        await bridge_call(ws, TwilioMediaStream(), model, agent)

    sock = socket.socket(fileno=fd)
    freeze_startup_heap()  # as a serving worker does once it is ready
    async with serve(handler, sock=sock, send_queue_size=256) as server:
        print(f"PORT {server.port}", flush=True)
        if os.environ.get("BENCH_PHONE_LOG"):
            await trace_loop()
        await anyio.sleep_forever()


async def trace_loop() -> None:
    """Diagnostics (BENCH_PHONE_LOG=1): the bridge's event-loop lag, every 2 s, to the log."""
    import anyio

    lags: list[float] = []
    next_report = anyio.current_time() + 2
    while True:
        due = anyio.current_time() + 0.01
        await anyio.sleep(0.01)
        lags.append((anyio.current_time() - due) * 1000)
        if anyio.current_time() >= next_report:
            next_report += 2
            print(
                f"bridge loop lag p50 {c.percentile(lags, 50):.1f} p99 {c.percentile(lags, 99):.1f} "
                f"max {max(lags):.1f} ms",
                file=sys.stderr,
                flush=True,
            )
            lags.clear()


def start_server(
    args: list[str], log: Any, pass_fds: tuple[int, ...] = (), python: str = sys.executable
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [python, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        pass_fds=pass_fds,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait()
        log.seek(0)
        raise RuntimeError(f"{args[0]} did not start: {line!r}\n{log.read()[-2000:]}")
    return proc, int(line.split()[1])


def start_py_spy(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """Diagnostics (``BENCH_PHONE_PYSPY=FILE.svg``, or ``.txt`` for collapsed stacks): py-spy
    records ``pid`` at 200 Hz (``PY_SPY``: the py-spy executable if not on ``PATH``)."""
    out = os.environ.get("BENCH_PHONE_PYSPY")
    if not out:
        return None
    exe = shutil.which("py-spy") or os.environ.get("PY_SPY", "py-spy")
    cmd = [exe, "record", "--pid", str(pid), "--rate", "200", "--duration", str(int(seconds))]
    if out.endswith(".txt"):
        cmd += ["--format", "raw", "--function"]
    return subprocess.Popen([*cmd, "--output", out, "--nonblocking"], stdout=subprocess.DEVNULL)


def proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (Linux); 0.0 if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


# ------------------------------------------------------------------ the callers


def media_message(frame: bytes) -> str:
    payload = base64.b64encode(frame).decode()
    return (
        '{"event":"media","streamSid":"' + SID + '","media":{"track":"inbound",'
        '"chunk":"1","timestamp":"0","payload":"' + payload + '"}}'
    )


def question_messages() -> list[str]:
    from adk_realtime.sansio.audio import Resampler, ulaw_encode
    from adk_realtime.sansio.sim.speech import synthesize_speech

    resampler = Resampler(16000, 8000)
    pcm = synthesize_speech(QUESTION, 16000)
    ulaw = ulaw_encode(resampler.process(pcm) + resampler.flush())
    ulaw += b"\xff" * (-len(ulaw) % 160)
    return [media_message(ulaw[i : i + 160]) for i in range(0, len(ulaw), 160)]


MEDIA_PREFIX = '{"event":"media"'
PAYLOAD_KEY = '"payload":"'
MARK_PREFIX = '{"event":"mark"'
MARK_KEY, NAME_KEY = '"mark":{', '"name":"'


def media_payload(message: str) -> bytes | None:
    """The audio of one of the bridge's Twilio ``media`` messages, or None for another event."""
    if not message.startswith(MEDIA_PREFIX):
        return None
    start = message.index(PAYLOAD_KEY) + len(PAYLOAD_KEY)
    return base64.b64decode(message[start : message.index('"', start)])


def mark_name(message: str) -> str:
    """The name of a Twilio ``mark`` message: read in place when it is written the way the
    codec writes it (compact, no escape in the name), else from a full JSON decode."""
    at = message.find(MARK_KEY)
    at = message.find(NAME_KEY, at) if at >= 0 else -1
    if at >= 0:
        start = at + len(NAME_KEY)
        end = message.find('"', start)
        if end >= 0 and "\\" not in message[start:end]:
            return message[start:end]
    name: str = json.loads(message)["mark"]["name"]
    return name


def mark_message(name: str) -> str:
    return '{"event":"mark","streamSid":"' + SID + '","mark":{"name":' + json.dumps(name) + "}}"


class Caller:
    """One lean Twilio caller (see the module docstring). ``question`` (its frames) and
    ``silence`` are complete WebSocket frames (``_phone_caller.text_frame``), framed once
    for every caller of the process; what it receives comes as text."""

    def __init__(self, index: int, question: list[bytes], silence: bytes, now: float) -> None:
        self.index = index
        self.question = question
        self.silence = silence
        self.ws: Any = None  # its _phone_caller.LeanWebSocket once connected
        self.error: str | None = None  # why it could not connect
        self.speaking: deque[bytes] = deque()
        self.ask_at = now + 1.0 + random.random()  # after the model connected
        self.asked_at = 0.0
        self.play_end = 0.0
        self.last_arrival = -1.0
        self.spurt = 0  # frames into the current talk spurt
        self.marks: deque[tuple[float, str]] = deque()
        self.jitter: list[float] = []
        self.slack: list[float] = []  # ms a frame arrived before its playout (< 0: a gap)
        self.gaps: list[float] = []
        self.frames = 0
        self.answers = 0  # talk spurts heard: one per answer
        self.first_answer = bytearray()
        self.measuring = False
        self.sent = self.received_messages = 0  # messages each way while measuring

    def start_message(self) -> str:
        return json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "start": {
                    "accountSid": "AC0",
                    "streamSid": SID,
                    "callSid": f"CA{self.index:032d}",
                    "tracks": ["inbound"],
                    "customParameters": {"caller": "+15550100000"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": SID,
            }
        )

    def tick(self, now: float) -> bytes:
        """The frames due at ``now``, to write at once: one microphone frame, and the marks
        whose audio played."""
        if not self.speaking and now >= self.ask_at:
            self.speaking.extend(self.question)
            self.asked_at = now
            self.ask_at = now + 15.0  # ask again then if no answer comes
        frame = self.speaking.popleft() if self.speaking else self.silence
        self.sent += self.measuring
        if not self.marks or self.marks[0][0] > now:
            return frame
        frames = [frame]
        while self.marks and self.marks[0][0] <= now:
            frames.append(text_frame(mark_message(self.marks.popleft()[1])))
            self.sent += self.measuring
        return b"".join(frames)

    def received(self, message: str, now: float) -> None:
        self.received_messages += self.measuring
        payload = media_payload(message)
        if payload is not None:
            self.frames += 1
            in_spurt = self.last_arrival >= 0 and now - self.last_arrival < 0.5
            if in_spurt:
                self.spurt += 1
                if self.measuring and self.spurt >= LEAD_FRAMES:
                    self.jitter.append(abs(now - self.last_arrival - FRAME_S) * 1000)
                if self.measuring:
                    self.slack.append((self.play_end - now) * 1000)
                    if now > self.play_end + 1e-4:
                        self.gaps.append((now - self.play_end) * 1000)
            else:
                self.spurt = 0
                self.answers += 1
            if self.answers == 1:
                self.first_answer += payload
            self.last_arrival = now
            self.play_end = max(now, self.play_end) + FRAME_S
            # The caller asks again 0.6 s after the answer has played to its end.
            self.ask_at = self.play_end + 0.6
        elif message.startswith(MARK_PREFIX):
            self.marks.append((self.play_end, mark_name(message)))  # sent back once played


async def connect_caller(caller: Caller, port: int) -> None:
    """Connect ``caller``, send ``connected`` and ``start``; a failure goes to ``error``."""
    loop = asyncio.get_running_loop()
    try:
        _, caller.ws = await loop.create_connection(
            functools.partial(LeanWebSocket, caller, "127.0.0.1", port), "127.0.0.1", port
        )
        await asyncio.wait_for(caller.ws.opened, HANDSHAKE_TIMEOUT)
    except Exception as exc:
        caller.error = (caller.ws and caller.ws.error) or f"connect: {exc!r}"
        if caller.ws is not None:
            caller.ws.abort()
            caller.ws = None
        return
    caller.ws.send(text_frame('{"event":"connected","protocol":"Call","version":"1.0.0"}'))
    caller.ws.send(text_frame(caller.start_message()))


async def run_callers(
    port: int, first: int, n: int, start_at: float, warmup: float, window: float, spread: float
) -> dict[str, Any]:
    """``n`` callers (numbered from ``first``) for one caller process: connect, then from
    ``start_at`` (wall clock, the same for every caller process) talk for ``warmup`` +
    ``window`` seconds, measuring in the window. Returns the raw figures. One loop, one
    timer (this function) for every caller; frames are written straight to the sockets."""
    loop = asyncio.get_running_loop()
    clock = loop.time
    question = [text_frame(message) for message in question_messages()]
    silence = text_frame(media_message(b"\xff" * 160))
    callers = [Caller(first + i, question, silence, clock()) for i in range(n)]
    lags: list[float] = []
    for caller in callers:
        await connect_caller(caller, port)
    t0 = clock() + max(0.0, start_at - time.time())
    for caller in callers:
        caller.ask_at = t0 + (0.3 if c.SMOKE else 1.0) + random.random() * spread
    measure_from = t0 + warmup
    stop_at = measure_from + window
    groups = [callers[group::GROUPS] for group in range(GROUPS)]
    tick = 0
    measuring = False
    while True:
        due = t0 + tick * FRAME_S / GROUPS
        now = clock()
        if due > now:
            await asyncio.sleep(due - now)
            now = clock()
        elif measuring:
            lags.append((now - due) * 1000)
        if not measuring and now >= measure_from:
            measuring = True
            for caller in callers:
                caller.measuring = True
        if now >= stop_at:
            break
        for caller in groups[tick % GROUPS]:
            frames = caller.tick(now)
            if caller.ws is not None:
                caller.ws.send(frames)  # nothing once it closed (counted below)
        tick += 1
    for caller in callers:
        caller.measuring = False
    connected = [caller.ws for caller in callers if caller.ws is not None]
    for ws in connected:
        ws.close()
    if connected:  # every server answers our close, then ends the connection
        await asyncio.wait([ws.finished for ws in connected], timeout=10.0)
    for ws in connected:
        ws.abort()  # a server that did not (that is not an error of the call)
    errors = [caller.error or caller.ws.error for caller in callers]
    kinds = [error for error in errors if error is not None]
    return {
        "jitter": [j for caller in callers for j in caller.jitter],
        "slack": [s for caller in callers for s in caller.slack],
        "gaps": [g for caller in callers for g in caller.gaps],
        "answers": sum(caller.answers for caller in callers),
        "first_answer": bytes(callers[0].first_answer).hex() if callers else "",
        "lags": lags,
        "messages": sum(caller.sent + caller.received_messages for caller in callers),
        "errors": len(kinds),
        "error_kinds": sorted(set(kinds))[:5],
    }


def caller_process(argv: list[str]) -> None:
    """``--callers PORT FIRST N START_AT WARMUP WINDOW SPREAD OUT``: one caller process
    (plain asyncio: see ``_phone_caller``)."""
    port, first, n = (int(a) for a in argv[:3])
    start_at, warmup, window, spread = (float(a) for a in argv[3:7])
    c.SMOKE = os.environ.get("BENCH_PHONE_SMOKE") == "1"
    result = asyncio.run(run_callers(port, first, n, start_at, warmup, window, spread))
    Path(argv[7]).write_text(json.dumps(result))


def bind_socket() -> Any:
    """The listening socket the bridge workers share (bound once, inherited)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def one_run(
    kind: str, n: int, warmup: float, window: float, workers: int = 1, caller_procs: int = 1
) -> dict[str, Any]:
    """One side of :func:`run_sides`: a fresh simulator, the bridge workers, the callers."""
    return run_sides(kind, n, warmup, window, workers, caller_procs, [sys.executable])[0]


def run_sides(
    kind: str,
    n: int,
    warmup: float,
    window: float,
    workers: int,
    caller_procs: int,
    pythons: list[str],
) -> list[dict[str, Any]]:
    """:func:`one_run` for one bridge side per Python in ``pythons`` (each its own port,
    workers and ``n`` callers), all at once against one simulator: ``--against PYTHON``
    runs another checkout's bridge next to ours, under the same load at the same time."""
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "log", "w+") as log:
        sim_sock = bind_socket()
        sim_port = sim_sock.getsockname()[1]
        sims = [
            start_server(["--serve-sim", str(sim_sock.fileno())], log, (sim_sock.fileno(),))[0]
            for _ in range(SIM_PROCS[0])
        ]
        procs: list[subprocess.Popen[Any]] = list(sims)
        socks = [sim_sock, *(bind_socket() for _ in pythons)]
        sides: list[dict[str, Any]] = []
        try:
            for python, sock in zip(pythons, socks[1:], strict=True):
                args = ["--serve-bridge", kind, str(sim_port), str(sock.fileno())]
                bridges = [
                    start_server(args, log, pass_fds=(sock.fileno(),), python=python)[0]
                    for _ in range(workers)
                ]
                procs.extend(bridges)
                sides.append({"python": python, "bridges": bridges, "port": sock.getsockname()[1]})
            spy = start_py_spy(sides[-1]["bridges"][0].pid, warmup + window)
            start_at = time.time() + 1.0 + n * len(pythons) * 0.03  # all connected by then
            shares = [n // caller_procs + (i < n % caller_procs) for i in range(caller_procs)]
            env = {**os.environ, "BENCH_PHONE_SMOKE": "1" if c.SMOKE else "0"}
            # All asked before measuring (a smoke run's window is too short to spread)
            spread = 0.5 if c.SMOKE else min(SPREAD_S[0], warmup - 1.0)
            for k, side in enumerate(sides):
                side["outs"], side["callers"] = [], []
                for i, share in enumerate(shares):
                    out = str(Path(tmp) / f"callers{k}-{i}.json")
                    args = [side["port"], sum(shares[:i]), share, start_at, warmup, window, spread]
                    args.append(out)
                    cmd = [sys.executable, __file__, "--callers", *map(str, args)]
                    side["callers"].append(subprocess.Popen(cmd, stderr=log, env=env))
                    side["outs"].append(out)
                procs.extend(side["callers"])

            def cpu_now() -> dict[str, float]:
                out = {"sim": sum(proc_cpu(p.pid) for p in sims)}
                for k, side in enumerate(sides):
                    out[f"bridge{k}"] = sum(proc_cpu(b.pid) for b in side["bridges"])
                    out[f"callers{k}"] = sum(proc_cpu(p.pid) for p in side["callers"])
                return out

            sleep_until(start_at + warmup)
            cpu0, wall0, ticks0 = cpu_now(), time.monotonic(), c.cpu_ticks()
            sleep_until(start_at + warmup + window)
            cpu1, seconds, ticks1 = cpu_now(), time.monotonic() - wall0, c.cpu_ticks()
            for side in sides:
                for proc in side["callers"]:
                    proc.wait(timeout=60 + n)
            if spy is not None:
                spy.wait(timeout=60)
            for side in sides:
                side["parts"] = [json.loads(Path(out).read_text()) for out in side["outs"]]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)
            for sock in socks:
                sock.close()
        log.seek(0)
        text = log.read()
    cpu = {k: (cpu1[k] - cpu0[k]) / seconds for k in cpu0}
    results = []
    for k, side in enumerate(sides):
        result = summarize(side["parts"], n, seconds)
        result.update(
            kind=kind,
            python=side["python"],
            workers=workers,
            caller_procs=caller_procs,
            cpu_ms_per_call_s=cpu[f"bridge{k}"] / n * 1000,
            us_per_message=cpu[f"bridge{k}"] * seconds / max(1, result["messages"]) * 1e6,
            bridge_cpu_pct=cpu[f"bridge{k}"] * 100,
            sim_cpu_pct=cpu["sim"] * 100,
            callers_cpu_pct=cpu[f"callers{k}"] * 100,
            per_worker=sorted(
                sum(1 for line in text.splitlines() if line.startswith(f"CALL {b.pid} "))
                for b in side["bridges"]
            ),
            tracebacks=text.count("Traceback"),
            steal_pct=c.steal_pct(ticks0, ticks1),
            warnings=text.count("WARNING"),
        )
        results.append(result)
        note_run(result)
    if os.environ.get("BENCH_PHONE_LOG"):
        c.note(text[-3000:])
    return results


def note_run(result: dict[str, Any]) -> None:
    """The detail line of one run (one side)."""
    who = "" if result["python"] == sys.executable else f" [bridge on {result['python']}]"
    c.note(
        f"{result['kind']} N={result['n']}{who} ({result['workers']} bridge worker(s), calls "
        f"{result['per_worker']}; {result['caller_procs']} caller process(es)): bridge "
        f"{result['cpu_ms_per_call_s']:.1f} ms CPU "
        f"per call-second, {result['us_per_message']:.0f} us per carrier message "
        f"({result['bridge_cpu_pct']:.0f}% of a core; simulator {result['sim_cpu_pct']:.0f}%, "
        f"callers {result['callers_cpu_pct']:.0f}%); caller jitter p50 "
        f"{result['jitter_p50']:.2f} p99 {result['jitter_p99']:.2f} max "
        f"{result['jitter_max']:.1f} ms over {result['jitter_n']} frames; frames arrived "
        f"{result['slack_p1']:.0f} ms (p1) and at least {result['slack_min']:.0f} ms before "
        f"their playout; gaps {result['gaps']} "
        f"({result['gap_ms']:.0f} ms); answers heard {result['answers']}, the first decodes "
        f"to {result['first_answer']!r}; caller loop lag p99 {result['caller_lag_p99']:.1f} ms; "
        f"errors {result['errors']} {result['error_kinds']}, tracebacks {result['tracebacks']}; "
        f"host steal {result['steal_pct']:.0f}%"
    )


def summarize(parts: list[dict[str, Any]], n: int, seconds: float) -> dict[str, Any]:
    """The callers' figures of every caller process, together."""
    from adk_realtime.sansio.audio import ulaw_decode
    from adk_realtime.sansio.sim.speech import SpeechRecognizer

    jitter = [j for part in parts for j in part["jitter"]]
    slack = [s for part in parts for s in part["slack"]]
    gaps = [g for part in parts for g in part["gaps"]]
    recognizer = SpeechRecognizer(8000)
    recognizer.feed(ulaw_decode(bytes.fromhex(parts[0]["first_answer"])) + bytes(8000))
    return {
        "n": n,
        "window_s": seconds,
        "jitter_p50": c.percentile(jitter, 50),
        "jitter_p99": c.percentile(jitter, 99),
        "jitter_max": max(jitter, default=0.0),
        "jitter_n": len(jitter),
        "slack_min": min(slack, default=0.0),
        "slack_p1": c.percentile(slack, 1),
        "gaps": len(gaps),
        "gap_ms": sum(gaps),
        "answers": sum(part["answers"] for part in parts),
        "first_answer": recognizer.text,
        "caller_lag_p99": max(c.percentile(part["lags"], 99) for part in parts),
        "messages": sum(part["messages"] for part in parts),
        "errors": sum(part["errors"] for part in parts),
        "error_kinds": sorted({k for part in parts for k in part["error_kinds"]})[:5],
    }


def load_line(load: dict[str, Any]) -> str:
    """One load level for the SUMMARY line."""
    where = (
        f"{load['n']} calls on {load['workers']} bridge process(es) "
        f"(calls {'/'.join(str(k) for k in load['per_worker'])}), "
        f"{load['caller_procs']} caller process(es), "
        f"{'in step' if SPREAD_S[0] <= 0.5 or c.SMOKE else 'turns independent'}"
    )
    cpu = (
        f"bridge {load['cpu_ms_per_call_s']:.1f} ms CPU per call-second "
        f"({load['us_per_message']:.0f} us per carrier message); CPU: "
        f"bridge {load['bridge_cpu_pct']:.0f}% + simulator {load['sim_cpu_pct']:.0f}% + "
        f"callers {load['callers_cpu_pct']:.0f}% of a core; host steal "
        f"{load['steal_pct']:.0f}% of the machine's CPU time"
    )
    if not load["jitter_n"]:  # nothing to judge: say so rather than print zeros
        return (
            f"{where}: NO answer audio measured in the window ({load['answers']} answers "
            f"heard; callers' loop lag p99 {load['caller_lag_p99']:.0f} ms), {cpu}"
        )
    return (
        f"{where}: caller jitter p50 {load['jitter_p50']:.1f} ms p99 "
        f"{load['jitter_p99']:.1f} ms, gaps {load['gaps']} ({load['gap_ms']:.0f} ms over "
        f"{load['jitter_n'] * 20 / 1000:.0f} s of audio), min slack {load['slack_min']:.0f} ms, "
        f"{cpu}"
    )


def budget_line(rows: list[dict[str, Any]]) -> str:
    """CPU per call-second of every process a call needs here (bridge, simulator and
    callers together), from the ``ours`` run with the most calls (fixed costs shared
    most), and the cores 100 calls would take."""
    row = max(rows, key=lambda r: (r["n"], -r["cpu_ms_per_call_s"]))
    n = row["n"]
    sim, callers = row["sim_cpu_pct"] * 10 / n, row["callers_cpu_pct"] * 10 / n
    total = row["cpu_ms_per_call_s"] + sim + callers
    return (
        f"a call costs bridge {row['cpu_ms_per_call_s']:.1f} + simulator {sim:.1f} + callers "
        f"{callers:.1f} = {total:.1f} ms CPU per call-second here, so 100 calls need "
        f"{total / 10:.1f} cores ({os.cpu_count()} on this machine, shared) and the bridge "
        f"alone carries ~{1000 / row['cpu_ms_per_call_s']:.0f} calls per core"
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-sim":
        import anyio

        anyio.run(serve_simulator, int(sys.argv[2]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bridge":
        import anyio

        profile = os.environ.get("BENCH_PHONE_PROFILE")  # diagnostics: a cProfile dump
        if profile:
            import cProfile
            import signal

            profiler = cProfile.Profile()

            def dump(*_: object) -> None:
                profiler.disable()
                profiler.dump_stats(profile)
                os._exit(0)

            signal.signal(signal.SIGTERM, dump)
            profiler.enable()
        anyio.run(serve_bridge, sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--callers":
        caller_process(sys.argv[2:])
        return 0

    def options(parser: Any) -> None:
        parser.add_argument(
            "--calls", type=int, metavar="N", help="only one run: ours at N calls (diagnostics)"
        )
        parser.add_argument("--kind", default="ours", choices=("ours", "transcoding"))
        parser.add_argument(
            "--workers", type=int, default=2, help="bridge processes for the load runs (2)"
        )
        parser.add_argument(
            "--caller-procs", type=int, default=1, help="caller processes for the load runs (1)"
        )
        parser.add_argument(
            "--sim-procs",
            type=int,
            default=1,
            help="simulator processes sharing one port, for every run (1: two were worse here)",
        )
        parser.add_argument(
            "--levels", default="30,50,100", help="the load runs' call counts (30,50,100)"
        )
        parser.add_argument(
            "--herd",
            action="store_true",
            help="every caller asks within the same 0.5 s, and so in step every turn after "
            "(default: first questions spread over one turn, as independent callers)",
        )
        parser.add_argument(
            "--against",
            metavar="PYTHON",
            help="with --calls: also run the bridge on this interpreter (another checkout's "
            "venv) at the same time, N callers each: before/after under the same load",
        )

    args = c.parse_args(__doc__.splitlines()[0], options)
    SIM_PROCS[0] = max(1, args.sim_procs)
    if args.herd:
        SPREAD_S[0] = 0.5
    c.note(f"machine: {c.machine()}; {c.load_note()}")
    if args.calls:
        pythons = [args.against, sys.executable] if args.against else [sys.executable]
        sides = run_sides(
            args.kind, args.calls, 6.0, 10.0, args.workers, args.caller_procs, pythons
        )
        c.note(f"after: {c.load_note()}")
        if args.against:
            before, after = sides
            c.summary(
                "phone",
                f"partial run (--calls --against): {args.calls} calls on each side at once, "
                f"bridge CPU per call-second {before['cpu_ms_per_call_s']:.1f} ms there vs "
                f"{after['cpu_ms_per_call_s']:.1f} ms here, "
                f"{before['us_per_message']:.0f} vs {after['us_per_message']:.0f} us per carrier "
                f"message ({c.ratio(before['us_per_message'], after['us_per_message'])})",
            )
            return 0
        c.summary("phone", f"partial run (--calls): {load_line(sides[0])}")
        return 0
    if args.smoke:
        compare_n, levels, warmup, window, rounds = 2, [2], 3.0, 1.5, 1
    else:
        compare_n, warmup, window, rounds = 20, 4.0, 10.0, 2
        levels = [int(n) for n in args.levels.split(",") if n]
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "transcoding": []}
    for _ in range(rounds):
        for kind in ("ours", "transcoding"):
            runs[kind].append(one_run(kind, compare_n, warmup, window))
    loads = [
        one_run("ours", n, warmup + 2.0, window * 1.5, args.workers, args.caller_procs)
        for n in levels
    ]
    c.note(f"after: {c.load_note()}")

    def best(kind: str) -> float:
        return min(r["cpu_ms_per_call_s"] for r in runs[kind])

    def best_us(kind: str) -> float:
        return min(r["us_per_message"] for r in runs[kind])

    ours, transcoding = best("ours"), best("transcoding")
    heard = {r["first_answer"] for rows in runs.values() for r in rows}
    same = "every caller's first answer decoded right" if heard == {ANSWER} else f"heard {heard}"
    parts = [
        f"bridge CPU per call ours {ours:.1f} ms/s vs transcoding {transcoding:.1f} ms/s; per "
        f"carrier message {best_us('ours'):.0f} vs {best_us('transcoding'):.0f} us "
        f"({c.ratio(best_us('transcoding'), best_us('ours'))}) at N={compare_n}, 1 bridge "
        f"process, best of {rounds} ({same})",
        budget_line([*runs["ours"], *(load for load in loads if load["jitter_n"])]),
    ]
    parts.extend(load_line(load) for load in loads)
    c.summary("phone", "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
