"""Issue 17's targets: VAE / conv VAE on digits, GAN on moons, DCGAN on digits, GCN on a 3-block SBM,
GCN on karate with 4 labelled nodes, GIN on generated graph sets.

    PYTHONPATH=. nice python benchmarks/generative_graphs.py [--seeds 0 1 2 3 4] [--threads 1]

Every row is one `dlx train` (in-process, one thread) whose command keys are printed; karate
is repeated over --seeds (data.seed chooses the labelled nodes, trainer.seed the weights).
Prints a markdown table with the wall time of each row and the machine load (`uptime`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

ROWS = {
    "VAE, digits, latent 2 (MLP)": ["model=vae", "data=digits", "data.preprocess=minmax", "model.recon=bce",
                                     "trainer.epochs=30"],
    "VAE, digits, latent 2 (conv)": ["model=vae", "model.family=conv", "data=digits", "data.preprocess=minmax",
                                      "model.recon=bce", "trainer.epochs=30"],
    "GAN, moons (noise 0.1)": ["model=gan", "data=moons", "data.noise=0.1", "trainer.epochs=60", "optim.lr=0.0005",
                               "model.d_lr=0.0005", "optim.betas=[0.5,0.999]", "trainer.batch_size=64",
                               "model.sample_every=0"],
    "DCGAN, digits": ["model=gan", "model.family=conv", "data=digits", "model.noise=16", "trainer.epochs=30",
                      "optim.lr=0.0005", "model.d_lr=0.0005", "optim.betas=[0.5,0.999]", "trainer.batch_size=64",
                      "model.sample_every=0"],
    "GCN, 3-block SBM": ["model=gnn", "data=sbm", "trainer.epochs=100", "optim.lr=0.01"],
    "GIN + sum readout, cycles vs trees": ["model=gnn", "model.conv=gin", "model.readout=sum", "data=graph_set",
                                            "trainer.epochs=20"],
    "GIN + mean readout, SBM vs ER (equal density)": ["model=gnn", "model.conv=gin", "model.readout=mean",
                                                      "model.layers=3", "model.hidden=32", "data=graph_set",
                                                      "data.shapes=[sbm,er]", "trainer.epochs=60", "optim.lr=0.01"],
}
_KARATE = ["model=gnn", "data=karate", "data.val_fraction=0", "trainer.epochs=200", "optim.lr=0.01"]
KARATE = {  # 4 labelled nodes either way; the other 30 are the test split
    "4 communities, 1 labelled node each": [*_KARATE, "data.communities=4", "data.labelled_per_class=1"],
    "2 clubs, 2 labelled nodes each": [*_KARATE, "data.labelled_per_class=2"],
}


def train(args: list[str]) -> tuple[dict, pd.DataFrame, float]:
    from dlx import config
    from dlx.engine import experiment

    start = time.perf_counter()
    summary = experiment.run(config.load(args), args)
    return summary, pd.read_csv(Path(summary["path"]) / "metrics.csv"), time.perf_counter() - start


def result_of(name: str, summary: dict, metrics: pd.DataFrame) -> str:
    if name.startswith("VAE"):
        elbo = metrics["val_elbo"]
        rises = int((elbo.diff().dropna() > 0).sum())
        return (f"val ELBO {elbo.iloc[0]:.1f} (epoch 1) → {elbo.iloc[-1]:.1f} (epoch {len(elbo)}), higher in "
                f"{rises} of {len(elbo) - 1} epochs; test ELBO {summary['test_elbo']:.1f}")
    if "GAN" in name:
        mmd = metrics["val_mmd"]
        return f"val MMD {mmd.iloc[0]:.3f} (epoch 1) → {mmd.iloc[-1]:.3f} (epoch {len(mmd)}): {mmd.iloc[0] / mmd.iloc[-1]:.1f}× lower"
    return f"test acc {summary['test_acc']:.3f} ({summary['test_size']} {'graphs' if 'readout' in name else 'nodes'})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"load before: {os.popen('uptime').read().strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        common = [f"trainer.num_threads={args.threads}", f"output_dir={tmp}/outputs"]
        print("| experiment | command keys | result | time |\n|---|---|---|---|")
        for name, keys in ROWS.items():
            summary, metrics, seconds = train([*keys, *common])
            print(f"| {name} | `{' '.join(keys)}` | {result_of(name, summary, metrics)} | {seconds:.0f} s |", flush=True)
        for label, keys in KARATE.items():
            accs, total = [], 0.0
            for s in args.seeds:
                summary, _, seconds = train([*keys, f"data.seed={s}", f"trainer.seed={s}", *common])
                accs.append(summary["test_acc"])
                total += seconds
            spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
            print(f"| GCN, karate, {label} | `{' '.join(keys)}` | test acc {statistics.mean(accs):.3f} ± {spread:.3f} "
                  f"over data.seed = trainer.seed in {args.seeds} (30 nodes; min {min(accs):.3f}, max {max(accs):.3f})"
                  f" | {total / len(accs):.0f} s each |", flush=True)
    print(f"load after: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()
