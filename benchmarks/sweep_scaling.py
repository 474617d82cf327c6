"""Sweep speed: one `dlx sweep --jobs 2` against the same configs as `dlx train` commands, one after another.

    .venv/bin/python benchmarks/sweep_scaling.py [--epochs 30] [--repeats 1] [--jobs 2]
    .venv/bin/python benchmarks/sweep_scaling.py --compare-jobs        # --jobs 1 vs --jobs 2 throughput

The default measurement is what a user sees (issue 13): the 8-trial grid
`optim.lr=0.1,0.03,0.01,0.003 optim=sgd,adam` as 8 `dlx train` processes run in sequence, against
one `dlx sweep ... --jobs 2` of the same grid; each command is timed whole (start-up, imports,
training, files), each in a fresh temporary folder, with dlx's default threads. The ratio is
sequential wall time / sweep wall time; target >= 3.5x on 2 cores. With `--repeats` the two
alternate and each keeps its median, so a busy machine slows both alike. The CPU seconds of all
the processes are printed beside the wall times: on a loaded machine they show whether the
processes worked or waited for a core.

`--compare-jobs` keeps the older measurement: trial-phase throughput of `--jobs 2` over `--jobs 1`
(from the optuna study's trial times, so start-up is left out).
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LRS, OPTIMS = ("0.1", "0.03", "0.01", "0.003"), ("sgd", "adam")
GRID = [f"optim.lr={','.join(LRS)}", f"optim={','.join(OPTIMS)}"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _dlx(args: list[str], cwd: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "dlx", *args], cwd=cwd, env=env, check=True, capture_output=True)


def timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every child process) of `run()`."""
    cpu, started = _children_cpu(), time.perf_counter()
    run()
    return time.perf_counter() - started, _children_cpu() - cpu


def sequential_trains(epochs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        def run():
            for lr, optim in itertools.product(LRS, OPTIMS):
                wall, _ = timed(lambda: _dlx(["train", f"optim.lr={lr}", f"optim={optim}",
                                              f"trainer.epochs={epochs}", "-q"], tmp))
                print(f"  dlx train optim.lr={lr} optim={optim}: {wall:.1f} s", flush=True)
        return timed(run)


def one_sweep(epochs: int, jobs: int, extra: list[str] = ()) -> tuple[float, float, Path | None]:
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = timed(lambda: _dlx(["sweep", *GRID, f"trainer.epochs={epochs}", *extra, "--jobs", str(jobs),
                                        "-q"], tmp))
        span = _trial_span(Path(tmp))
    return wall, cpu, span


def _trial_span(tmp: Path) -> float:
    """First trial's start to last trial's end, as the optuna study records them."""
    import optuna

    (folder,) = (tmp / "outputs" / "sweeps").iterdir()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")
    trials = study.trials
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)
    return (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()


def versus_trains(args) -> None:
    seq, sweep = [], []
    for _ in range(args.repeats):  # alternate, so a change in load hits both
        sweep.append(one_sweep(args.epochs, args.jobs)[:2])
        print(f"  dlx sweep --jobs {args.jobs}: {sweep[-1][0]:.1f} s", flush=True)
        seq.append(sequential_trains(args.epochs))
    s_wall, s_cpu = (statistics.median(x) for x in zip(*seq))
    w_wall, w_cpu = (statistics.median(x) for x in zip(*sweep))
    print(f"8 x dlx train, one after another: {s_wall:6.1f} s  ({s_cpu:.1f} CPU s)")
    print(f"dlx sweep --jobs {args.jobs}:              {w_wall:6.1f} s  ({w_cpu:.1f} CPU s)")
    print(f"ratio: {s_wall / w_wall:.2f}x (target >= 3.5x); runs: "
          + ", ".join(f"{a[0] / b[0]:.2f}x" for a, b in zip(seq, sweep)))


def jobs_throughput(args) -> None:
    pinned = [f"trainer.num_threads={args.threads}"] if args.threads else []
    spans = {}
    for jobs in (1, 2):
        wall, cpu, span = one_sweep(args.epochs, jobs, pinned)
        spans[jobs] = span
        print(f"--jobs {jobs}: trials {span:6.1f} s ({8 / span:.2f} trials/s)   whole command {wall:6.1f} s, "
              f"{cpu:.1f} CPU s")
    print(f"throughput ratio --jobs 2 / --jobs 1: {spans[1] / spans[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (full digits)")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each; medians are kept")
    parser.add_argument("--jobs", type=int, default=2, help="the sweep's --jobs")
    parser.add_argument("--compare-jobs", action="store_true", help="--jobs 1 vs --jobs 2 trial throughput")
    parser.add_argument("--threads", type=int, default=0, help="with --compare-jobs: trainer.num_threads")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"8-trial grid, {args.epochs} epochs per run, {cores} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start", flush=True)
    (jobs_throughput if args.compare_jobs else versus_trains)(args)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
