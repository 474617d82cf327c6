"""`trainer.num_threads=auto` against explicit thread counts, idle and beside busy processes.

Each setting is a fresh `dlx train` process (the wall time a user waits, start-up included),
run with 0, then `--busy` (default 2), CPU-bound processes spinning beside it. The ratio that
matters is auto's median over the best explicit setting's median in the same condition;
0 is torch's default (one thread per core), which `auto` replaced as the default.
The load average is printed with each figure: on a shared machine the figures move with it.

    .venv/bin/python benchmarks/threads.py [--epochs 5] [--repeats 3] [--busy 2] [-- OVERRIDES]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spin(_: int) -> None:  # pragma: no cover - a CPU-bound neighbour
    while True:
        pass


def train(threads: str, epochs: int, overrides: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dlx", "train", f"trainer.epochs={epochs}",
                        f"trainer.num_threads={threads}", f"output_dir={out}", "-q", *overrides],
                       check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        return time.perf_counter() - start


def measure(settings, epochs, repeats, overrides) -> dict[str, float]:
    times: dict[str, list[float]] = {s: [] for s in settings}
    for _ in range(repeats):  # interleaved: a change of load hits every setting alike
        for s in settings:
            times[s].append(train(s, epochs, overrides))
    return {s: statistics.median(t) for s, t in times.items()}


def report(title: str, medians: dict[str, float]) -> None:
    best = min((v, k) for k, v in medians.items() if k != "auto")
    print(f"{title} (load {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores):")
    for k, v in medians.items():
        print(f"  num_threads={k:<5} {v:6.1f} s")
    print(f"  auto / best explicit ({best[1]}): {medians['auto'] / best[0]:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=2)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    settings = ["auto", "0", *(str(n) for n in range(1, cores + 1))]
    report("idle", measure(settings, args.epochs, args.repeats, args.overrides))
    neighbours = [mp.Process(target=spin, args=(i,), daemon=True) for i in range(args.busy)]
    for p in neighbours:
        p.start()
    try:
        time.sleep(5)  # let the load average see them
        report(f"beside {args.busy} busy processes", measure(settings, args.epochs, args.repeats, args.overrides))
    finally:
        for p in neighbours:
            p.terminate()


if __name__ == "__main__":
    main()
