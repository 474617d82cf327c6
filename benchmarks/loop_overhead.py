"""dlx's training loop against a minimal hand-written PyTorch loop doing the same work.

Same model (the default MLP), data (digits, standardised), batch size, optimizer (fused
Adam), loss (cross-entropy with the default label smoothing), tensor batching (a
permutation per epoch, then slices) and per-epoch validation with loss and accuracy.
Both run in this one process, interleaved, `--repeats` times each; the medians' ratio
is the overhead. A second ratio includes what `dlx train` adds on top of the loop:
metrics.csv and log.txt every epoch, checkpoints written atomically as a run writes them (at
the end of an epoch a second or more after the previous one, and at the final epoch; timed
until the last checkpoint is on disk); the third compares the loop with its files to the loop
without (target <= 1.05).

    .venv/bin/python benchmarks/loop_overhead.py [--epochs 50] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from dlx import config, data
from dlx.data.loaders import TensorBatches
from dlx.engine.experiment import RunWriter, build_parts, watchers
from dlx.engine.supervised import SupervisedTask
from dlx.store.rundir import RunDir
from dlx.engine.runtime import seed_everything
from dlx.engine.trainer import Trainer


def setup(exp):
    seed_everything(exp.trainer.seed)
    bundle = data.build(exp.data)
    model, loss, optimizer, schedule, penalty, batch_size, _ = build_parts(exp, bundle, torch.device("cpu"))
    return bundle, model, loss, optimizer, schedule, batch_size


def dlx_loop(exp, write_run: bool = False, every_s: float | None = None) -> float:
    bundle, model, loss, optimizer, schedule, batch_size = setup(exp)
    generator = torch.Generator().manual_seed(exp.trainer.seed)
    train = TensorBatches(bundle.train.x, bundle.train.y, batch_size, shuffle=True, generator=generator)
    val = TensorBatches(bundle.val.x, bundle.val.y, exp.trainer.eval_batch_size)
    callbacks, run_dir = [], None
    if write_run:
        run_dir = RunDir.create(tempfile.mkdtemp(), "bench")
        callbacks.append(RunWriter(run_dir, True, {}, exp.trainer.checkpoint_every_s if every_s is None else every_s))
    task = SupervisedTask(model, loss, optimizer, schedule, kind=bundle.kind, num_outputs=10)
    trainer = Trainer(exp.trainer, task, device=torch.device("cpu"), shuffle_generator=generator,
                      callbacks=[w for w in (*watchers(exp), *callbacks) if w is not None])
    start = time.perf_counter()
    trainer.fit(train, val)
    if run_dir is not None:
        run_dir.flush()  # the last checkpoint on disk, as a run waits for it
    return time.perf_counter() - start


def hand_loop(exp) -> float:
    bundle, model, _, optimizer, _, batch_size = setup(exp)
    smoothing = exp.loss.label_smoothing
    x, y = bundle.train.x, bundle.train.y
    xv, yv = bundle.val.x, bundle.val.y
    generator = torch.Generator().manual_seed(exp.trainer.seed)
    n = len(y)
    start = time.perf_counter()
    for _ in range(exp.trainer.epochs):
        model.train()
        perm = torch.randperm(n, generator=generator)
        xs, ys = x[perm], y[perm]
        total, correct = 0.0, 0
        for i in range(0, n, batch_size):
            xb, yb = xs[i:i + batch_size], ys[i:i + batch_size]
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            correct += (out.argmax(1) == yb).sum().item()
        model.eval()
        with torch.inference_mode():
            out = model(xv)
            val_loss = F.cross_entropy(out, yv, label_smoothing=smoothing).item()
            val_acc = (out.argmax(1) == yv).float().mean().item()
    del total, correct, val_loss, val_acc
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--checkpoint-every-s", type=float, default=None,
                        help="trainer.checkpoint_every_s: least seconds between epoch-end checkpoints "
                             "(0: every epoch; default: a run's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    every = [] if args.checkpoint_every_s is None else [f"trainer.checkpoint_every_s={args.checkpoint_every_s}"]
    exp = config.load([f"trainer.epochs={args.epochs}", "trainer.monitor=val_acc", *every])  # auto: val_acc here
    times = {"hand": [], "dlx": [], "dlx+files": []}
    hand_loop(exp)  # warm-up: first-touch allocations and kernel selection
    for _ in range(args.repeats):
        times["hand"].append(hand_loop(exp))
        times["dlx"].append(dlx_loop(exp))
        times["dlx+files"].append(dlx_loop(exp, write_run=True))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"digits MLP, {args.epochs} epochs, batch {exp.trainer.batch_size}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}, checkpoints >= {exp.trainer.checkpoint_every_s:g} s apart")
    for name, value in med.items():
        print(f"  {name:<10} {value:7.3f} s")
    print(f"loop overhead ratio  dlx / hand = {med['dlx'] / med['hand']:.3f}   (target <= 1.05)")
    print(f"with run files       dlx+files / hand = {med['dlx+files'] / med['hand']:.3f}")
    print(f"run files' cost      dlx+files / dlx = {med['dlx+files'] / med['dlx']:.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
