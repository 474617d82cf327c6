"""Issue 16's targets: attention on `reverse`, LSTM vs RNN on `adding`, a char LM vs unigram.

    .venv/bin/python benchmarks/sequences.py                 # all three pairs
    .venv/bin/python benchmarks/sequences.py --only reverse  # one of: reverse, adding, lm

Each configuration is one `dlx train` (in a temporary folder, no checkpoints); the table
prints the test figures, the epochs run and the wall time. Not a timed test: the figures are
the point. The issue allows each configuration 5 minutes on 2 cores, so a run stops after
the epoch past which another would not fit in `--budget` seconds (its epochs are printed).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's dlx

REVERSE = ["model=seq2seq", "data=reverse", "data.n_samples=4000", "model.cell=gru", "model.hidden_size=64",
           "optim.lr=0.002", "regularizer.clip_grad_norm=1.0", "trainer.epochs=60", "trainer.batch_size=64",
           "trainer.monitor=val_exact"]
ADDING = ["data=adding", "data.length=50", "data.n_samples=10000", "model.hidden_size=64", "optim.lr=0.003",
          "trainer.epochs=100", "trainer.batch_size=64", "regularizer.clip_grad_norm=1.0"]
LM = ["model=lm", "data.context=64", "model.d_model=64", "model.num_heads=4", "model.dim_feedforward=128",
      "optim.lr=0.003", "trainer.epochs=10", "trainer.batch_size=32"]

CASES = {
    "reverse": [("gru + additive attention, lengths 10-20", [*REVERSE, "model.attention=additive"]),
                ("gru, no attention, lengths 10-20", [*REVERSE, "model.attention=none"]),
                ("gru + additive attention, length 30", [*REVERSE, "model.attention=additive",
                                                         "data.min_length=30", "data.max_length=30"]),
                ("gru, no attention, length 30", [*REVERSE, "model.attention=none", "data.min_length=30",
                                                  "data.max_length=30"])],
    "adding": [("lstm, length 50", [*ADDING, "model=lstm"]), ("rnn (tanh), length 50", [*ADDING, "model=rnn"])],
    "lm": [("char transformer LM", [*LM, "model.arch=transformer"]), ("char LSTM LM", [*LM, "model.arch=lstm"])],
}
FIGURES = {"reverse": ("test_acc", "test_exact"), "adding": ("test_loss", "test_r2"), "lm": ("test_ppl", "test_bpc")}


def corpus(path: Path, n: int = 6000, seed: int = 0) -> Path:
    """Generated sentences with structure: a grammar of subjects, verbs and objects."""
    import random

    rng = random.Random(seed)
    subjects = ["the cat", "a dog", "my old bird", "the small fish", "her brother"]
    verbs = ["sat on", "ran to", "looked at", "jumped over", "found"]
    objects = ["the mat.", "a red ball.", "the garden gate.", "an empty box.", "the river."]
    path.write_text("\n".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}"
                              for _ in range(n)) + "\n")
    return path


def unigram_perplexity(path: Path) -> float:
    """Test perplexity of the training part's character frequencies (add-one smoothed)."""
    from dlx import data
    from dlx.data.text import TextConfig

    bundle = data.build(TextConfig(name="text", path=str(path), context=64, val_fraction=0.1, test_fraction=0.1))
    counts = [c + 1 for c in bundle.preprocess["unigram"]]
    total = sum(counts)
    ids = bundle.test.y.flatten().tolist()
    return math.exp(-sum(math.log(counts[i] / total) for i in ids) / len(ids))


class TimeBudget:
    """Stop training when one more epoch (as long as the last) would pass `seconds`."""

    def __init__(self, seconds: float):
        self.seconds, self.started, self.last = seconds, time.perf_counter(), time.perf_counter()

    def on_epoch_end(self, trainer, row: dict) -> None:
        now = time.perf_counter()
        if now - self.started + (now - self.last) > self.seconds:
            trainer.stop_training = True
        self.last = now


def train(overrides: list[str], root: str, budget: float, threads: int) -> dict:
    from dlx import config
    from dlx.engine import experiment

    overrides = [*overrides, f"output_dir={root}", "trainer.checkpoint=false", f"trainer.num_threads={threads}"]
    started = time.perf_counter()
    summary = experiment.run(config.load(overrides), overrides, callbacks=[TimeBudget(budget)])
    return {**summary, "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), nargs="*", default=sorted(CASES))
    parser.add_argument("--budget", type=float, default=270.0, help="seconds of training per configuration")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: a decoder step's small ops run faster on one thread than on two)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        text = corpus(Path(root) / "corpus.txt")
        for group in args.only:
            names = FIGURES[group]
            print(f"\n| {group} | {' | '.join(names)} | epochs | seconds |\n|---|{'---|' * len(names)}---|---|",
                  flush=True)
            if group == "lm":
                print(f"| unigram (train frequencies) | {unigram_perplexity(text):.3f} | | | |", flush=True)
            for label, overrides in CASES[group]:
                extra = [f"data.path={text}"] if group == "lm" else []
                run = [*overrides, *extra, "data=text"] if group == "lm" else overrides
                s = train(run, root, args.budget, args.threads)
                print(f"| {label} | {' | '.join(f'{s[n]:.4f}' for n in names)} | {s['epochs_run']} "
                      f"| {s['wall_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
