"""`dlx predict` throughput and memory on a generated 1,000,000-row CSV with the default MLP.

    PYTHONPATH=. python benchmarks/predict.py [--rows 1000000] [--features 20] [--threads 2]
                                              [--baseline OTHER_CHECKOUT --rounds 3]

Trains the default MLP (256-128) for one epoch on a 5,000-row sample of the generated table
(10 classes), then predicts the whole file to a CSV with `dlx.use.predict.predict` in a fresh
process, measuring rows/s (wall clock, reading + encoding + forward + writing), the process's CPU
time (user + sys of every thread: what a busy machine inflates least), the same
forward passes alone on random inputs (the floor on this machine), and the
process's peak resident memory above what it holds once the model is loaded (ru_maxrss
against a baseline taken after restoring the run). Targets (issue 14): >= 200,000 rows/s on
2 cores, <= 200 MB of growth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generate(path: Path, rows: int, features: int, seed: int = 0, chunk: int = 200_000) -> None:
    """A numeric table with a 10-class label, written in chunks (the generator stays small too)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(features, 10))
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        x = rng.normal(size=(n, features)).astype(np.float32)
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(features)])
        frame["label"] = (x @ w).argmax(axis=1)
        frame.to_csv(path, mode="a" if start else "w", header=start == 0, index=False, float_format="%.5g")


MEASURE = """
import json, resource, sys, time, torch
torch.set_num_threads({threads})
from dlx.use.predict import predict
from dlx.use.restore import find, restore
restore(find("last", {out!r}))  # warm: imports, model, first allocation
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t, cpu = time.perf_counter(), time.process_time()
info = predict("last", {csv!r}, {dest!r}, output_dir={out!r})
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
# the same forward passes alone, on random inputs in the same batches: the floor predict sits on
model = restore(find("last", {out!r})).model
x = torch.randn(8192, {features})
t = time.perf_counter()
with torch.inference_mode():
    for _ in range(-(-info["rows"] // 8192)):
        model(x)
forward = time.perf_counter() - t
print(json.dumps({{"rows": info["rows"], "seconds": seconds, "cpu": cpu, "base_mb": base, "peak_mb": peak,
                  "forward": forward}}))
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", help="another dlx checkout (e.g. a git worktree of an older commit): "
                        "its predict is measured too, interleaved with this one's, on the same file and model")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each checkout (interleaved)")
    a = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    checkouts = [("this", ROOT)] + ([("baseline", Path(a.baseline).resolve())] if a.baseline else [])
    print("| code | rows | threads | seconds | rows/s | CPU seconds (all threads) | forward passes alone "
          "| peak memory growth | load average |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big, sample, out = tmp / "big.csv", tmp / "sample.csv", str(tmp / "outputs")
        t = time.perf_counter()
        generate(big, a.rows, a.features)
        generate(sample, 5000, a.features)
        print(f"generated {a.rows:,} rows x {a.features} features ({big.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        subprocess.run([sys.executable, "-m", "dlx", "train", "data=csv", f"data.path={sample}", "data.target=label",
                        "trainer.epochs=1", f"output_dir={out}", "-q"], env=env, check=True, capture_output=True)
        code = MEASURE.format(threads=a.threads, out=out, features=a.features, csv=str(big), dest=str(tmp / "preds.csv"))
        for _ in range(a.rounds):
            for label, root in checkouts:
                done = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(root)}, check=True,
                                      capture_output=True, text=True)
                m = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"| {label} | {m['rows']:,} | {a.threads} | {m['seconds']:.2f} | {m['rows'] / m['seconds']:,.0f} "
                      f"| {m['cpu']:.2f} | {m['forward']:.2f} s ({m['rows'] / m['forward']:,.0f} rows/s) "
                      f"| {m['peak_mb'] - m['base_mb']:.0f} MB (baseline {m['base_mb']:.0f} MB) "
                      f"| {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
