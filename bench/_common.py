"""Shared helpers for the benchmarks in this folder (not a benchmark itself).

Every benchmark measures our code against a peer *in the same run* and reports
the ratio, so a slow or busy machine moves both figures together. Throughput
figures are CPU time of this process (``time.process_time``: the time the
process was descheduled because other processes wanted the cores does not
count) and take the best of several interleaved rounds, the figure least
disturbed by whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SMOKE = False  # set by parse_args(): a smoke run judges no goal and says so


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    """``--smoke`` (seconds-long run that only keeps the code working) and ``--plot DIR``."""
    global SMOKE
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny run, figures meaningless")
    parser.add_argument("--plot", metavar="DIR", help="write a PNG here (needs matplotlib)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    SMOKE = args.smoke
    return args


def judged(text: str) -> str:
    """``text`` (a goal and its verdict) in a real run; nothing in a smoke run, whose
    figures come from a few hundred iterations on whatever the machine is doing."""
    return "" if SMOKE else text


def summary(name: str, text: str) -> None:
    """Print the one line ``bench/run_all.py`` collects (marked as such in a smoke run)."""
    label = f"{name} (smoke run, figures not meaningful)" if SMOKE else name
    print(f"SUMMARY {label}: {text}", flush=True)


def note(text: str) -> None:
    """Detail lines (anything not starting with ``SUMMARY``)."""
    print(text, flush=True)


def best_rate(
    candidates: dict[str, Callable[[], int]], rounds: int, min_time: float = 0.0
) -> dict[str, float]:
    """Operations per second of each candidate, best of ``rounds`` interleaved rounds.

    Each callable runs one batch and returns how many operations it did. Rounds
    alternate between candidates so a burst of load elsewhere hits all of them.
    """
    best: dict[str, float] = dict.fromkeys(candidates, 0.0)
    gc_was = gc.isenabled()
    gc.collect()
    gc.disable()  # collections land at random in one candidate or another
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                ops = 0
                start = time.process_time()
                while True:
                    ops += fn()
                    elapsed = time.process_time() - start
                    if elapsed >= min_time:
                        break
                best[name] = max(best[name], ops / elapsed)
            gc.collect()
    finally:
        if gc_was:
            gc.enable()
    return best


def si(x: float) -> str:
    """412345 -> '412k', 1234567 -> '1.23M', 950 -> '950'."""
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def ratio(a: float, b: float) -> str:
    """'4.3x' (a / b)."""
    if b <= 0:
        return "inf"
    r = a / b
    return f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100), nearest-rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine() -> str:
    """'2 cpus, Intel(R) Xeon(R) Processor, Python 3.11.2'."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cpus, {model}, Python {platform.python_version()}"


def load_note() -> str:
    """'load 1.8/0.9, cpu pressure 45%': how busy the machine is (other processes skew timings)."""
    parts = []
    try:
        one, five = open("/proc/loadavg").read().split()[:2]
        parts.append(f"loadavg {one}/{five} (1/5 min)")
    except OSError:
        pass
    try:
        for line in open("/proc/pressure/cpu"):
            if line.startswith("some"):
                avg10 = line.split()[1].split("=")[1]
                parts.append(
                    f"cpu pressure {avg10}% (avg10: share of time something waited for a cpu)"
                )
    except OSError:
        pass
    return ", ".join(parts) or "load unknown"


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) jiffies of the whole machine so far (``/proc/stat``; (0, 0) if
    unreadable): the difference of two readings says what share of a window's CPU time
    the hypervisor gave to other guests, which no process of ours can see otherwise."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share (%) of the machine's CPU time stolen between two :func:`cpu_ticks`."""
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total > 0 else 0.0


def maybe_plot(plot_dir: str | None, name: str, draw: Callable[[Any], None]) -> None:
    """Call ``draw(pyplot)`` and save ``DIR/name.png`` when asked and matplotlib exists."""
    if not plot_dir:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        note(f"--plot: matplotlib is not installed, no {name}.png written")
        return
    Path(plot_dir).mkdir(parents=True, exist_ok=True)
    plt.figure(figsize=(7, 4))
    draw(plt)
    plt.tight_layout()
    path = Path(plot_dir) / f"{name}.png"
    plt.savefig(path, dpi=100, bbox_inches="tight")  # long bar labels must not be clipped
    plt.close()
    note(f"plot written: {path}")


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def python() -> str:
    return sys.executable


def read_port_line(proc: Any, timeout: float = 30.0) -> int | None:
    """The port from a server process's first stdout line ``PORT n``, waiting at most
    ``timeout`` s (a server that never prints must not hang the benchmark); ``None`` if it
    printed something else, exited or timed out."""
    import select

    stdout = proc.stdout
    ready, _, _ = select.select([stdout], [], [], timeout)
    if not ready:
        return None
    line = stdout.readline()
    if not line.startswith("PORT "):
        return None
    return int(line.split()[1])


def stop_process(proc: Any, timeout: float = 10.0) -> None:
    """``terminate()``, then ``kill()`` if it is still there after ``timeout`` s."""
    import subprocess

    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
