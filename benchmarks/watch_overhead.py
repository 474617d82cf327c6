"""What `trainer.watch` costs per epoch: the default MLP on digits, dlx's loop with and without
the per-layer statistics, interleaved in one process, median of repeats.

`trainer.watch=none` (the default) adds no callback and no hook, so it costs exactly nothing:
the loop is the one loop_overhead.py measures. With watch=all, each optimizer step adds one
fused norm of the weight gradients and each activation's forward a few reductions (kept on the
device); each epoch's end reads them once and rewrites layers.csv.

    .venv/bin/python benchmarks/watch_overhead.py [--epochs 30] [--repeats 7] [--watch all] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from dlx import config, data
from dlx.data.loaders import TensorBatches
from dlx.engine.callbacks import FitContext
from dlx.engine.experiment import build_parts, watchers
from dlx.engine.runtime import seed_everything
from dlx.engine.supervised import SupervisedTask
from dlx.engine.trainer import Trainer
from dlx.engine.watch import LayerWatch
from dlx.store.rundir import RunDir


def fit(exp, watch: str | None) -> float:
    """Seconds per epoch of `Trainer.fit`, with a LayerWatch writing layers.csv when `watch`."""
    seed_everything(exp.trainer.seed)
    bundle = data.build(exp.data)
    model, loss, optimizer, schedule, _, batch_size, _ = build_parts(exp, bundle, torch.device("cpu"))
    generator = torch.Generator().manual_seed(exp.trainer.seed)
    train = TensorBatches(bundle.train.x, bundle.train.y, batch_size, shuffle=True, generator=generator)
    val = TensorBatches(bundle.val.x, bundle.val.y, exp.trainer.eval_batch_size)
    task = SupervisedTask(model, loss, optimizer, schedule, kind=bundle.kind, num_outputs=10)
    extra = [LayerWatch(watch)] if watch else []
    trainer = Trainer(exp.trainer, task, device=torch.device("cpu"), shuffle_generator=generator,
                      callbacks=[w for w in (*watchers(exp), *extra) if w is not None])
    if extra:
        run = RunDir.create(tempfile.mkdtemp(), "bench")
        trainer.callbacks.emit("on_fit_start", trainer, FitContext(run, exp, 0))
    start = time.perf_counter()
    trainer.fit(train, val)
    return (time.perf_counter() - start) / exp.trainer.epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--watch", default="all", choices=["grads", "weights", "activations", "all"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    exp = config.load([f"trainer.epochs={args.epochs}"])
    times = {"off": [], args.watch: []}
    fit(exp, None)  # warm-up
    for _ in range(args.repeats):
        times["off"].append(fit(exp, None))
        times[args.watch].append(fit(exp, args.watch))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"digits MLP, {args.epochs} epochs, batch {exp.trainer.batch_size}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    for name, value in med.items():
        print(f"  watch={name:<12} {value * 1000:7.2f} ms/epoch")
    print(f"watch cost ratio  {args.watch} / off = {med[args.watch] / med['off']:.3f}   (target <= 1.15)")


if __name__ == "__main__":
    main()
