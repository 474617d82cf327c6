"""Ensembles on digits: a 5-fold CV's fold models combined, against the mean of the members.

    PYTHONPATH=. python benchmarks/ensemble.py [--folds 5] [--epochs 30] [--bag 5] [--jobs 2]

Runs `dlx cv` (default MLP, digits), then `dlx ensemble --cv` with mean and vote, and — with
`--bag N` — `dlx bag --members N`; prints a markdown table of test accuracy on the shared
360-image test split: each way's members (mean ± std, min) and the ensemble.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def row(name: str, summary: dict) -> str:
    accs = [m["acc"] for m in summary["members"].values()]
    stats = summary["member_stats"]["acc"]
    return (f"| {name} | {len(accs)} | {stats['mean']:.4f} ± {stats['std']:.4f} | {min(accs):.4f} | "
            f"**{summary['ensemble']['acc']:.4f}** | {summary['ensemble']['acc'] - stats['mean']:+.4f} |")


def main(argv=None) -> None:
    from dlx.cv import driver
    from dlx.use import bag, ensemble

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--bag", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    a = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "outputs")
        common = [f"trainer.epochs={a.epochs}", f"output_dir={out}"]
        cv = driver.cross_validate(common, a.folds, jobs=a.jobs)
        paths = ensemble.member_paths(out, [], cv.cv_id, None, None)
        rows = [row(f"{a.folds}-fold CV models, mean of probabilities", ensemble.build(paths, "mean", out)),
                row(f"{a.folds}-fold CV models, majority vote", ensemble.build(paths, "vote", out))]
        if a.bag:
            rows.append(row(f"bagging: {a.bag} bootstrap members, mean", bag.bag(common, a.bag, a.jobs)))
    print(f"\ndigits, default MLP, {a.epochs} epochs; test accuracy on the shared test split (360 images):\n")
    print("| ensemble | members | members: mean ± std | worst member | ensemble | gain |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
