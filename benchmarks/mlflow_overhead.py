"""What `trainer.loggers=[mlflow]` adds to the wall time of the default `dlx train`.

Each round runs `dlx train` twice as fresh processes, without and with the MLflow logger (the
default SQLite store under output_dir), in alternating order, so a machine that gets busier or
quieter weighs on both alike. One warm-up pair first (it creates the MLflow database, a one-time
cost, and fills the page cache); the figure is the median of the per-round ratios, with the load
average before and after (on a shared machine, read it with that in mind).

    .venv/bin/python benchmarks/mlflow_overhead.py [--rounds 5] [--threads 0] [extra overrides ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(folder: Path, mlflow: bool, extra: list[str]) -> float:
    """Seconds of one `dlx train` process, start to exit."""
    args = [sys.executable, "-m", "dlx", "train", "-q", f"output_dir={folder}", *extra]
    if mlflow:
        args.append("trainer.loggers=[mlflow]")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="trainer.num_threads (0: the default)")
    parser.add_argument("overrides", nargs="*", help="more overrides for both runs")
    args = parser.parse_args()
    extra = [*([f"trainer.num_threads={args.threads}"] if args.threads else []), *args.overrides]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train(folder, False, extra), train(folder, True, extra)  # warm-up: the database, the caches
        plain, logged = [], []
        for i in range(args.rounds):
            order = (False, True) if i % 2 == 0 else (True, False)
            times = {m: train(folder, m, extra) for m in order}
            plain.append(times[False])
            logged.append(times[True])
            print(f"round {i + 1}: without {times[False]:.2f} s, with mlflow {times[True]:.2f} s "
                  f"({100 * (times[True] / times[False] - 1):+.1f} %)", flush=True)
    ratios = [b / a for a, b in zip(plain, logged)]
    print(f"median without {statistics.median(plain):.2f} s, with {statistics.median(logged):.2f} s; "
          f"overhead (median of ratios) {100 * (statistics.median(ratios) - 1):+.1f} %")
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
