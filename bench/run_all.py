"""Run every benchmark in this folder (``bench_*.py``) and collect their summary lines.

Each benchmark accepts ``--smoke`` (seconds-long, to keep it working in CI) and
prints exactly one line starting with ``SUMMARY`` that a reader can quote.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--plot", metavar="DIR", help="each benchmark writes DIR/bench_<name>.png")
    parser.add_argument("names", nargs="*", help="only these benchmarks (file stems)")
    args = parser.parse_args()
    here = Path(__file__).parent
    failed = []
    summaries = []
    for bench in sorted(here.glob("bench_*.py")):
        if args.names and bench.stem not in args.names:
            continue
        cmd = [sys.executable, str(bench)] + (["--smoke"] if args.smoke else [])
        if args.plot:
            cmd += ["--plot", args.plot]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY")]
        if proc.returncode != 0 or not lines:
            failed.append(bench.stem)
            sys.stderr.write(
                f"bench {bench.stem} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}\n"
            )
        summaries.extend(lines)
    if args.smoke:
        print(
            "bench smoke run: each benchmark ran for a second or so to show it still works; "
            "its figures are not measurements and no goal is judged (`make bench` measures)"
        )
    for line in summaries:
        print(line)
    kind = "smoke runs" if args.smoke else "summaries"
    print(f"bench: {len(summaries)} {kind}, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
