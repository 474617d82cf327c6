"""Least squares on diabetes: the closed form against gradient descent, as `dlx train` runs them.

    python benchmarks/closed_form_vs_gd.py                  # the README's table
    python benchmarks/closed_form_vs_gd.py --epochs 10 100 1000 --lr 0.1

Row one is `dlx train model=linear data=diabetes` (scikit-learn's LinearRegression on the
standardised training rows); the others are `model.solver=gd optim=gd` (full-batch gradient
descent on the mean squared error, one step per epoch) for a growing number of epochs. Both
fit the same rows, train + validation (data.val_fraction=0), so gd keeps its last epoch's weights,
not the best on a validation split. Columns: test RMSE and R², training MSE, and how
far the weights are from the closed form's, ‖w − w*‖ / ‖w*‖ (bias included). Runs go to a
temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's dlx


class KeepTrainer:
    """Run callback: holds on to the trainer, whose model has the final weights after the run."""

    trainer = None

    def on_epoch_end(self, trainer, row) -> None:
        self.trainer = trainer


def fit(overrides: list[str], root: str) -> tuple[dict, "object"]:
    """(summary, weights as one vector [w, b]) of one `dlx train` run."""
    import numpy as np

    from dlx import config
    from dlx.engine import estimator, experiment

    overrides = [*overrides, f"output_dir={root}", "trainer.num_threads=1"]
    exp = config.load(overrides)
    keep = KeepTrainer()
    summary = experiment.run(exp, overrides, callbacks=[keep])
    if estimator.applies(exp):
        est = estimator.load_estimator(Path(summary["path"]), exp.model)
        return summary, np.append(est.coef_.ravel(), est.intercept_)
    layer = keep.trainer.model.net[1]
    return summary, np.append(layer.weight.detach().double().numpy().ravel(), layer.bias.detach().double().numpy())


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", nargs="*", type=int, default=[10, 100, 1000, 5000])
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    print("| solver | optimizer | epochs | test RMSE | test R² | train MSE | ‖w − w*‖ / ‖w*‖ |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as root:
        # no validation split: both fit the same 353 rows (train + val), gd keeps its last epoch
        base = ["model=linear", "data=diabetes", "data.val_fraction=0"]
        exact, w_star = fit(base, root)
        rows = [("closed_form", "—", "—", exact, 0.0)]
        for epochs in args.epochs:
            s, w = fit([*base, "model.solver=gd", "optim=gd", f"optim.lr={args.lr}", f"trainer.epochs={epochs}",
                        "trainer.checkpoint=false"], root)
            rows.append(("gd", f"gd, lr {args.lr:g}", str(epochs), s, float(np.linalg.norm(w - w_star)
                                                                                / np.linalg.norm(w_star))))
        for solver, optim, epochs, s, gap in rows:
            print(f"| {solver} | {optim} | {epochs} | {s['test_rmse']:.3f} | {s['test_r2']:.4f} | "
                  f"{s['train_loss']:.2f} | {gap:.2e} |", flush=True)


if __name__ == "__main__":
    main()
