"""Data-parallel overhead on CPU: 2 gloo processes against 1 process at the same global batch.

    .venv/bin/python benchmarks/ddp_overhead.py [--epochs 6] [--model mlp|cnn] [--batch 64] [--repeats 1]

Each configuration is a fresh `python -m dlx train` in a temporary folder on the whole digits
data. Per-step time is the median epoch's `epoch_time_s`
(metrics.csv: the training steps and the validation pass, which every rank runs whole)
divided by the steps per epoch; the first epoch is left out (warm-up).

On a machine with two cores, two ranks each get one thread and the same cores the single
process uses, so the ratio shows what the gradient all-reduce and the process split cost,
not a speed-up; data parallelism pays off with a device per rank (GPUs).

Start-up: seconds from launching `dlx train trainer.devices=N` to the end of the first
optimizer step (a test pause point, `DLX_TEST_PAUSE=step@1`, marks it): imports, the
elastic launcher's rendezvous, N interpreters importing torch, reading the data.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"mlp": ["model=mlp"], "cnn": ["model=cnn", "model.channels=[16,16]", "model.fc=[64]"]}


def per_step(devices: int, args, threads: int = 0) -> float:
    """Seconds per optimizer step (training plus its share of validation), median epoch."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "dlx", "train", *MODELS[args.model], f"trainer.epochs={args.epochs}",
               f"trainer.batch_size={args.batch}", f"trainer.devices={devices}", "trainer.checkpoint=false",
               "-q"]
        if threads:
            cmd.append(f"trainer.num_threads={threads}")  # 2 ranks split the cores by themselves
        subprocess.run(cmd, cwd=tmp, env=env, check=True, capture_output=True)
        (run,) = (Path(tmp) / "outputs" / "runs").iterdir()
        with open(run / "metrics.csv", newline="") as f:
            times = [float(row["epoch_time_s"]) for row in csv.DictReader(f)][1:]
        train_size = json.loads((run / "summary.json").read_text())["train_size"]
        return statistics.median(times) / math.ceil(train_size / args.batch)


def time_to_first_step(devices: int, args) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "first-step"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DLX_TEST_PAUSE": "step@1", "DLX_TEST_MARKER": str(marker)}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "dlx", "train", *MODELS[args.model],
                                 f"trainer.devices={devices}", "trainer.checkpoint=false", "-q"],
                                cwd=tmp, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not marker.exists():
                if proc.poll() is not None:
                    raise SystemExit(f"dlx train trainer.devices={devices} ended before its first step")
                time.sleep(0.01)
            return time.perf_counter() - started
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    configs = {f"1 process, {cores} threads": (1, cores), "1 process, 1 thread": (1, 1),
               f"2 gloo processes, {max(1, cores // 2)} thread(s) each": (2, 0)}
    steps = {name: statistics.median(per_step(n, args, t) for _ in range(args.repeats))
             for name, (n, t) in configs.items()}
    starts = {n: statistics.median(time_to_first_step(n, args) for _ in range(args.repeats)) for n in (1, 2)}
    print(f"{args.model}, global batch {args.batch}, {cores} cores, median of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| configuration | ms per step | ratio to the first row |")
    print("|---|---|---|")
    first = next(iter(steps.values()))
    for name, value in steps.items():
        print(f"| {name} | {value * 1e3:.2f} | {value / first:.2f} |")
    print(f"\nlaunch to first step: 1 process {starts[1]:.1f} s, trainer.devices=2 {starts[2]:.1f} s")


if __name__ == "__main__":
    main()
