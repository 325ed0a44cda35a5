"""How fast the CLI starts: median wall time of `digest --help` (the console script) over
several runs, next to a bare `python -c pass` in the same run.

Usage: python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], runs: int) -> float:
    """Median seconds of `runs` runs of `cmd` (after one warm-up run)."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = shutil.which("digest")
    cli = [script, "--help"] if script else [sys.executable, "-m", "digest", "--help"]
    bare = timed([sys.executable, "-c", "pass"], args.runs)
    helped = timed(cli, args.runs)
    print(f"python -c pass: {bare * 1000:.0f} ms (median of {args.runs})")
    print(f"{' '.join(cli[-2:]) if script else 'python -m digest --help'}: {helped * 1000:.0f} ms")
    print(f"goal <= 300 ms: {'met' if helped <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
