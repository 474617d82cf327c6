"""Whole-process cost of `dlx train` against the plain script a user would write for the same run.

Both are fresh subprocesses (imports, data, 30 epochs, files), run in interleaved pairs; the
median of each side's wall times gives the ratio. The plain script (`PLAIN` below, written to a
temporary file) does what `dlx train` with its defaults does: scikit-learn's digits split the same
way (stratified, seeded, test then validation), standardised on the training split, the default MLP
(64 -> 256 -> 128 -> 10, ReLU, dropout), fused Adam, the default loss, batch 32 from a permutation
per epoch, validation loss and accuracy every epoch, the best epoch's weights saved with
`torch.save`, the test split evaluated with them, and a metrics CSV.

dlx's modules are byte-compiled first, as an installed package's are, and every process starts in
a neutral folder, so that PYTHONPATH alone says which checkout runs.

Its hyper-parameters are read from dlx's composed default config (in this parent process, before
any timing), so the two stay the same run when a default changes.

    .venv/bin/python benchmarks/process_overhead.py [--pairs 5] [--threads 0] [--baseline ../main] [--plain-gc]
                                                   [overrides...]

`--baseline CHECKOUT` times another dlx checkout (say the main branch) in the same rounds, so a
change is measured against its parent under the same load. dlx sets up without the garbage
collector and freezes what set-up made (dlx/heap.py), which a plain script does not; `--plain-gc`
gives the plain script those lines too, leaving the cost of the framework itself. Wall time is the figure; the CPU
seconds of each child are printed beside it (steadier when other jobs share the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAIN = r'''
import csv, gc, json, sys
p = json.loads(sys.argv[1])
if p["gc"]:  # --plain-gc: the collector off while setting up, frozen before the loop, as dlx does
    gc.disable()
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = sys.argv[2]
if p["threads"]:
    torch.set_num_threads(p["threads"])
torch.manual_seed(p["seed"])
d = load_digits()
x = torch.tensor(d.images.reshape(len(d.images), -1), dtype=torch.float32)
y = torch.tensor(d.target)
idx = np.arange(len(y))
dev, test = train_test_split(idx, test_size=p["test_fraction"], random_state=p["data_seed"], stratify=y)
train, val = train_test_split(dev, test_size=p["val_fraction"], random_state=p["data_seed"], stratify=y[dev])
mean, std = x[train].mean(0), x[train].std(0, unbiased=False)
std[std <= 1e-8] = 1
x = (x - mean) / std
xt, yt, xv, yv, xs, ys = x[train], y[train], x[val], y[val], x[test], y[test]

layers, width = [], x.shape[1]
for h in p["hidden"]:
    layers += [torch.nn.Linear(width, h), torch.nn.ReLU(), torch.nn.Dropout(p["dropout"])]
    width = h
model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
opt = torch.optim.Adam(model.parameters(), lr=p["lr"], fused=True)
ls = p["label_smoothing"]
gen = torch.Generator().manual_seed(p["seed"])

def evaluate(xe, ye):
    model.eval()
    with torch.inference_mode():
        o = model(xe)
        return F.cross_entropy(o, ye, label_smoothing=ls).item(), (o.argmax(1) == ye).float().mean().item()

if p["gc"]:
    gc.freeze()
    gc.enable()
rows, best = [], -1.0
for epoch in range(1, p["epochs"] + 1):
    model.train()
    perm = torch.randperm(len(yt), generator=gen)
    total = correct = 0.0
    for i in range(0, len(yt), p["batch_size"]):
        b = perm[i:i + p["batch_size"]]
        xb, yb = xt[b], yt[b]
        o = model(xb)
        loss = F.cross_entropy(o, yb, label_smoothing=ls)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(yb)
        correct += (o.argmax(1) == yb).sum().item()
    val_loss, val_acc = evaluate(xv, yv)
    rows.append(dict(epoch=epoch, train_loss=total / len(yt), train_acc=correct / len(yt),
                     val_loss=val_loss, val_acc=val_acc))
    if val_acc > best:
        best = val_acc
        torch.save(model.state_dict(), out + "/best.pt")
model.load_state_dict(torch.load(out + "/best.pt"))
test_loss, test_acc = evaluate(xs, ys)
with open(out + "/metrics.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
print(json.dumps({"best_val_acc": best, "test_acc": test_acc}))
'''


def plain_params(overrides, threads: int, tuned_gc: bool = False) -> dict:
    """The default run's hyper-parameters, from dlx's own composed config (the plain script's input)."""
    sys.path.insert(0, str(ROOT))
    from dlx import config

    exp = config.load(list(overrides))
    checks = {"data.name": (exp.data.name, "digits"), "model.name": (exp.model.name, "mlp"),
              "optim.name": (exp.optim.name, "adam"), "scheduler.name": (exp.scheduler.name, "none"),
              "model.activation": (exp.model.activation, "relu"), "model.batchnorm": (exp.model.batchnorm, False),
              "data.preprocess": (exp.data.preprocess, "standardize"), "trainer.monitor": (exp.trainer.monitor.replace("auto", "val_acc"), "val_acc")}  # auto: val_acc here
    for key, (value, expected) in checks.items():
        if value != expected:
            sys.exit(f"the plain script mirrors {key}={expected}, but the config has {value}")
    reg = exp.regularizer
    if reg.l1 or reg.l2 or reg.clip_grad_norm or reg.early_stopping.patience or exp.optim.weight_decay:
        sys.exit("the plain script has no penalty, clipping, weight decay or early stopping")
    # as dlx.losses.build_loss: regularizer.label_smoothing when set, else the loss's own
    smoothing = reg.label_smoothing or getattr(exp.loss, "label_smoothing", 0.0) or 0.0
    dropout = reg.dropout if reg.dropout is not None else exp.model.dropout
    return {"seed": exp.trainer.seed, "data_seed": exp.data.seed, "test_fraction": exp.data.test_fraction,
            "val_fraction": exp.data.val_fraction, "hidden": list(exp.model.hidden), "dropout": dropout,
            "lr": exp.optim.lr, "epochs": exp.trainer.epochs, "batch_size": exp.trainer.batch_size,
            "label_smoothing": smoothing, "threads": threads, "gc": tuned_gc}


def timed(cmd, env, cwd) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # run from a neutral folder: `python -m dlx` puts the working directory first on sys.path,
    # which would import the checkout it is started from rather than PYTHONPATH's
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{cmd[:4]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in both (0 = torch's default)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--plain-gc", action="store_true",
                        help="give the plain script dlx's garbage-collector set-up too (dlx/heap.py): what is "
                             "left is the cost of the framework itself")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="another dlx checkout (e.g. the main branch) timed in the same rounds")
    parser.add_argument("overrides", nargs="*", help="dlx overrides for both (e.g. trainer.epochs=10)")
    args = parser.parse_args()
    params = plain_params(args.overrides, args.threads, args.plain_gc)
    for checkout in [ROOT, *([Path(args.baseline)] if args.baseline else [])]:
        # dlx's bytecode, as an installed package has it (pip compiles a wheel's modules; a checkout
        # run with PYTHONDONTWRITEBYTECODE=1 would compile its ~150 modules again in every process)
        subprocess.run([args.python, "-m", "compileall", "-q", str(Path(checkout).resolve() / "dlx")], check=True)
    extra = [f"trainer.num_threads={args.threads}"] if args.threads else []
    envs = {"dlx": {**os.environ, "PYTHONPATH": str(ROOT)}}
    if args.baseline:
        envs["baseline"] = {**os.environ, "PYTHONPATH": str(Path(args.baseline).resolve())}
    wall = {name: [] for name in ["plain", *envs]}
    cpu = {name: [] for name in wall}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "plain_train.py"
        script.write_text(PLAIN)
        for i in range(args.pairs + 1):  # round 0 warms the file cache, and is not counted
            out = Path(tmp) / f"plain-{i}"
            out.mkdir()
            cmds = {"plain": ([args.python, str(script), json.dumps(params), str(out)], os.environ)}
            for name, env in envs.items():
                cmds[name] = ([args.python, "-m", "dlx", "train", *args.overrides, *extra,
                               f"output_dir={tmp}/{name}-{i}"], env)
            names = list(cmds) if i % 2 == 0 else list(cmds)[::-1]  # alternate who goes first
            for name in names:
                w, c = timed(*cmds[name], cwd=tmp)
                if i:
                    wall[name].append(w)
                    cpu[name].append(c)
            if i:
                print(f"round {i}: " + "  ".join(f"{n} {wall[n][-1]:.2f} s" for n in wall), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"digits MLP, {params['epochs']} epochs, {os.cpu_count()} CPUs, load average {load:.2f} at the end, "
          f"median of {args.pairs} interleaved rounds")
    for name in wall:
        print(f"  {name:<9} wall {statistics.median(wall[name]):6.2f} s   CPU {statistics.median(cpu[name]):6.2f} s")
    plain_wall, plain_cpu = statistics.median(wall["plain"]), statistics.median(cpu["plain"])
    for name in envs:
        # each round's pair ran back to back: the median of their ratios follows a machine whose
        # speed drifts between rounds better than the ratio of the medians does
        paired = statistics.median(w / p for w, p in zip(wall[name], wall["plain"]))
        print(f"{name} / plain: wall {statistics.median(wall[name]) / plain_wall:.3f}   "
              f"CPU {statistics.median(cpu[name]) / plain_cpu:.3f}   "
              f"median of the rounds' wall ratios {paired:.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
