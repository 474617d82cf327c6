"""Train every registered model with its default config on digits; print a table.

    python benchmarks/models_digits.py                       # all models, trainer.seed=0
    python benchmarks/models_digits.py --seeds 0 1 2 --models cnn resnet
    python benchmarks/models_digits.py --models transformer -- model.layers=3

Each row is one `dlx train model=X trainer.seed=S` (runs go to a temporary folder):
test accuracy on the 360 held-out digits, parameter count, wall time and CPU time (the
process's, summed over its threads: less sensitive than wall time to other jobs on the
machine). Extra overrides after `--` apply to every run, to try a change before making it
the default.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's dlx

BARS = {"mlp": 0.97, "cnn": 0.98, "resnet": 0.97, "lstm": 0.96, "gru": 0.96, "rnn": 0.90, "transformer": 0.95}


def train(model: str, seed: int, extra: list[str], root: str) -> dict:
    from dlx import config
    from dlx.engine import experiment

    overrides = [f"model={model}", f"trainer.seed={seed}", f"output_dir={root}", "trainer.checkpoint=false",
                 *extra]
    started, cpu = time.perf_counter(), time.process_time()
    summary = experiment.run(config.load(overrides), overrides)
    return {**summary, "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}


def main() -> None:
    from dlx.plugins import load_builtins

    load_builtins()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=sorted(BARS))  # the networks (not the baselines)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=0, help="trainer.num_threads (0: torch's default)")
    parser.add_argument("extra", nargs="*", help="overrides for every run, after --")
    args = parser.parse_args()
    extra = [f"trainer.num_threads={args.threads}", *args.extra]
    print(f"{'model':<12} {'seed':>4} {'test acc':>9} {'bar':>5} {'params':>9} {'wall s':>7} {'cpu s':>7}")
    with tempfile.TemporaryDirectory() as root:
        for model in args.models:
            for seed in args.seeds:
                s = train(model, seed, extra, root)
                bar = BARS.get(model, 0.0)
                flag = "" if s["test_acc"] >= bar else "  below bar"
                print(f"{model:<12} {seed:>4} {s['test_acc']:>9.2%} {bar:>5.0%} {s['params']:>9,} "
                      f"{s['wall_s']:>7.1f} {s['cpu_s']:>7.1f}{flag}", flush=True)


if __name__ == "__main__":
    main()
