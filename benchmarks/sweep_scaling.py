"""Sweep scaling: the same 8-trial grid with `--jobs 1` and `--jobs 2`; target ratio >= 1.7x.

    .venv/bin/python benchmarks/sweep_scaling.py [--epochs 30] [--repeats 1] [--threads 1]

Each sweep is a fresh `python -m dlx sweep ...` in a temporary folder. Throughput is trials
per second of the trial phase, from the first trial's start to the last trial's end as the
optuna study records them, so process start-up is left out; the whole command's wall time
(start-up included: `--jobs 2` also starts two worker processes) and the CPU seconds all its
processes used are printed beside it: on a busy machine the CPU seconds show whether the
workers did more work or only waited for a core.
`--jobs 1` trains in the sweep's own process with torch's default threads (all cores);
`--jobs 2` gives each of its two workers half of them. `--threads 1` pins every trial to one
thread (`trainer.num_threads=1`) in both, which measures the process parallelism alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["optim.lr=0.1,0.03,0.01,0.003", "optim=sgd,adam"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_sweep(jobs: int, epochs: int, threads: int) -> dict:
    import optuna

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cpu_before = _children_cpu()
        started = time.perf_counter()
        pinned = [f"trainer.num_threads={threads}"] if threads else []
        subprocess.run([sys.executable, "-m", "dlx", "sweep", *GRID, f"trainer.epochs={epochs}", *pinned,
                        "--jobs", str(jobs), "-q"], cwd=tmp, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - started
        cpu = _children_cpu() - cpu_before  # the sweep and its workers, imports included
        (folder,) = (Path(tmp) / "outputs" / "sweeps").iterdir()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")
        trials = study.trials
        assert all(t.state.name == "COMPLETE" for t in trials) and len(trials) == 8
        first = min(t.datetime_start for t in trials)
        last = max(t.datetime_complete for t in trials)
        span = (last - first).total_seconds()
        mean = sum(t.duration.total_seconds() for t in trials) / len(trials)
    return {"jobs": jobs, "wall_s": wall, "trials_s": span, "throughput": len(trials) / span, "mean_s": mean,
            "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per trial (full digits)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each; the best is kept")
    parser.add_argument("--threads", type=int, default=0, help="trainer.num_threads for every trial "
                        "(0: dlx's default, all cores for --jobs 1 and half each for --jobs 2)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    threads = f"{args.threads} thread(s) per trial" if args.threads else "threads: cores // jobs"
    print(f"8-trial grid, {args.epochs} epochs per trial, {threads}, {cores} cores, "
          f"load average {load:.1f} at start")
    best = {}
    for _ in range(args.repeats):
        for jobs in (1, 2):
            result = run_sweep(jobs, args.epochs, args.threads)
            if jobs not in best or result["throughput"] > best[jobs]["throughput"]:
                best[jobs] = result
    for jobs in (1, 2):
        r = best[jobs]
        print(f"--jobs {jobs}: trials {r['trials_s']:6.1f} s  ({r['throughput']:.2f} trials/s, "
              f"{r['mean_s']:.1f} s per trial)   whole command {r['wall_s']:6.1f} s, "
              f"{r['cpu_s']:.1f} CPU s")
    ratio = best[2]["throughput"] / best[1]["throughput"]
    wall_ratio = best[1]["wall_s"] / best[2]["wall_s"]
    print(f"throughput ratio --jobs 2 / --jobs 1: {ratio:.2f}x (target >= 1.7x); "
          f"whole-command ratio {wall_ratio:.2f}x; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
