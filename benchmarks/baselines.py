"""Baselines against the default network (issue 28): `dlx baselines`' time, then 5-fold CV.

    python benchmarks/baselines.py                         # breast_cancer wine digits diabetes + a CSV
    python benchmarks/baselines.py --data wine --folds 3

Per dataset: `dlx baselines data=NAME` (every baseline that fits, defaults, the network's split;
its wall time is the "≤ 60 s on 2 cores" check), the best baseline by validation score, then
`dlx cv -k 5` of that baseline and of the default network (model=mlp, trainer defaults). The
table shows the CV mean ± std of val_acc (classes) or val_r2 (values). The CSV is iris written
to a file, read back with data=csv. Runs go to a temporary folder; the load average is printed.
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
DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "csv")


def dlx(args: list[str], cwd: Path) -> float:
    """Run `dlx ARGS` in `cwd` (this checkout's dlx, one torch thread); its wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlx", *args, "trainer.num_threads=1"], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def csv_args(folder: Path) -> list[str]:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    path = folder / "iris.csv"
    frame.to_csv(path, index=False)
    return ["data=csv", f"data.path={path}", "data.target=target"]


def data_args(name: str, folder: Path) -> list[str]:
    return csv_args(folder) if name == "csv" else [f"data={name}"]


def summaries(folder: Path):
    for path in sorted((folder / "outputs" / "runs").iterdir()):
        yield json.loads((path / "summary.json").read_text())


def cv_score(folder: Path, args: list[str], folds: int, score: str) -> tuple[float, float, float]:
    """(mean, std, wall seconds) of val_<score> over `folds` folds."""
    seconds = dlx(["cv", "-k", str(folds), "-q", *args, f"output_dir={folder / 'cv'}"], folder)
    newest = max((folder / "cv" / "cv").iterdir())
    metric = json.loads((newest / "summary.json").read_text())["metrics"][f"val_{score}"]
    return metric["mean"], metric["std"], seconds


def bench(name: str, folds: int, root: Path) -> dict:
    folder = root / name
    folder.mkdir()
    args = data_args(name, folder)
    seconds = dlx(["baselines", *args, "-q"], folder)
    rows = list(summaries(folder))
    score = "r2" if rows[0]["task"] == "regression" else "acc"
    best = max(rows, key=lambda s: s[f"val_{score}"])
    base = cv_score(folder, [*args, f"model={best['model']}"], folds, score)
    net = cv_score(folder, args, folds, score)
    return {"data": name, "score": score, "baselines_s": seconds, "best": best["model"], "baseline": base,
            "network": net}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DATASETS))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    print(f"| data | `dlx baselines` wall | best baseline | its {args.folds}-fold CV | default network (mlp) "
          f"{args.folds}-fold CV |\n|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data:
            r = bench(name, args.folds, Path(tmp))
            (bm, bs, _), (nm, ns, nt) = r["baseline"], r["network"]
            print(f"| {name} | {r['baselines_s']:.1f} s | {r['best']} | val_{r['score']} {bm:.4f} ± {bs:.4f} | "
                  f"val_{r['score']} {nm:.4f} ± {ns:.4f} ({nt:.0f} s) |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
