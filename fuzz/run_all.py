"""Run every fuzz harness in this folder (``fuzz_*.py``).

``--smoke`` runs each for a few hundred inputs (inside ``make test``); without
it each runs for ``--runs`` inputs. A harness defines ``TestOneInput(data)`` and
runs under atheris when executed directly (``python fuzz/fuzz_x.py -runs=N``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--runs", type=int, default=200_000)
    args = parser.parse_args()
    runs = 300 if args.smoke else args.runs
    here = Path(__file__).parent
    failed = []
    harnesses = sorted(here.glob("fuzz_*.py"))
    for harness in harnesses:
        cmd = [
            sys.executable,
            str(harness),
            f"-runs={runs}",
            "-max_len=4096",
            "-print_final_stats=0",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        status = "ok" if proc.returncode == 0 else f"FAILED ({proc.returncode})"
        print(f"fuzz {harness.stem}: {runs} runs {status}")
        if proc.returncode != 0:
            failed.append(harness.stem)
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    print(f"fuzz: {len(harnesses) - len(failed)} harnesses passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
