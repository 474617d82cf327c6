"""Ten `dlx.train` calls in one process against ten `dlx train` processes (issue 26).

The same run ten times (the default MLP on digits, 3 epochs, one thread; seeds 0..9): once as ten
calls of the Python API in this process — a notebook's or a script's loop —, once as ten fresh
`python -m dlx train` processes, each paying for its interpreter, imports and config composition
again. Both write ordinary run folders (in two temporary stores). The API side includes its first
call's imports; the processes start in a neutral folder with this checkout on PYTHONPATH.

    .venv/bin/python benchmarks/api_vs_cli.py [--runs 10] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def overrides(seed: int, epochs: int, store: Path) -> list[str]:
    return ["model=mlp", "data=digits", f"trainer.epochs={epochs}", "trainer.num_threads=1",
            f"trainer.seed={seed}", f"output_dir={store}"]


def time_processes(runs: int, epochs: int, store: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    for seed in range(runs):
        subprocess.run([sys.executable, "-m", "dlx", "train", "-q", *overrides(seed, epochs, store)], cwd=store,
                       env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def time_api(runs: int, epochs: int, store: Path) -> float:
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    import dlx  # inside the timing: the first call pays for torch as a process does

    for seed in range(runs):
        dlx.train(*overrides(seed, epochs, store))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        processes = time_processes(args.runs, args.epochs, Path(a))
        in_process = time_api(args.runs, args.epochs, Path(b))
    print(f"{args.runs} runs of {args.epochs} epochs (digits, mlp, one thread)")
    print(f"  {args.runs} `dlx train` processes : {processes:7.2f} s  ({processes / args.runs:.2f} s per run)")
    print(f"  {args.runs} `dlx.train` calls     : {in_process:7.2f} s  ({in_process / args.runs:.2f} s per run)")
    print(f"  ratio                       : {processes / in_process:.2f}x")


if __name__ == "__main__":
    main()
