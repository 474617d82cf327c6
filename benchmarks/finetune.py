"""Transfer learning on digits: pretrain a CNN on 0-4, fine-tune on a few dozen samples of 5-9.

    PYTHONPATH=. python benchmarks/finetune.py [--shots 30] [--seeds 0 1 2] [--epochs 5 30]

Writes the two halves of scikit-learn's digits as image folders (8×8 PNGs) and trains a CNN on
0-4 with `dlx train`. Then, at each training budget (`--epochs`), four runs on the same `--shots`
training images of 5-9: from scratch; a frozen *random* backbone (only the output layer
trains); the pretrained backbone frozen (`model.init_from=<pretrained> model.freeze=backbone`);
full fine-tuning (`model.init_from=<pretrained>`). The last three use `optim.head_lr_mult=10`.
Prints a markdown table of test accuracy (mean ± std over seeds; data.seed moves the split too).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

CNN = ["model=cnn", "model.channels=[16,32]", "model.fc=[64]", "model.dropout=0.2"]


def write_digits(root: Path, classes: range) -> Path:
    """Digits of `classes` as 8×8 grey PNGs, one folder per class."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    folder = root / f"digits-{classes.start}-{classes.stop - 1}"
    for i, (image, label) in enumerate(zip(d.images, d.target)):
        if label in classes:
            (folder / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L").save(folder / str(label) / f"{i}.png")
    return folder


def train(args: list[str]) -> dict:
    from dlx import config
    from dlx.engine import experiment

    return experiment.run(config.load(args), args)


def compare(root: Path, shots: int, seeds: list[int], budgets: list[int], threads: int = 1) -> dict:
    """Test accuracy per (epochs, setting) and seed."""
    first, second = write_digits(root, range(0, 5)), write_digits(root, range(5, 10))
    common = [*CNN, "data=image_folder", "data.image_size=8", "data.workers=0", "data.preprocess=pixels",
              f"trainer.num_threads={threads}", f"output_dir={root / 'outputs'}"]
    pretrained = train([*common, f"data.path={first}", "trainer.epochs=15", "name=pretrain"])["path"]
    few = [*common, f"data.path={second}", f"data.limit={shots}"]
    settings = {
        "from scratch": [],
        "frozen random backbone (no init_from)": ["model.freeze=backbone", "optim.head_lr_mult=10"],
        "frozen pretrained backbone": [f"model.init_from={pretrained}", "model.freeze=backbone",
                                       "optim.head_lr_mult=10"],
        "full fine-tuning": [f"model.init_from={pretrained}", "optim.head_lr_mult=10"],
    }
    return {(epochs, name): [train([*few, *extra, f"trainer.epochs={epochs}", f"trainer.seed={s}",
                                    f"data.seed={s}"])["test_acc"] for s in seeds]
            for epochs in budgets for name, extra in settings.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 30], help="training budgets to compare")
    parser.add_argument("--threads", type=int, default=1)
    a = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = compare(Path(tmp), a.shots, a.seeds, a.epochs, a.threads)
    print(f"\n{a.shots} training images of digits 5-9, test accuracy over seeds {a.seeds} "
          f"(CNN pretrained on 0-4):\n")
    print("| epochs | setting | test accuracy (mean ± std) | per seed |")
    print("|---|---|---|---|")
    for (epochs, name), accs in results.items():
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {epochs} | {name} | {statistics.mean(accs):.3f} ± {std:.3f} | {', '.join(f'{v:.3f}' for v in accs)} |")


if __name__ == "__main__":
    sys.exit(main())
