"""A dlx plugin: a task kind of its own, "sum of a set" (permutation-invariant inputs).

    dlx --plugin examples/plugins/setsum.py train model=deepsets data=setsum
    dlx --plugin examples/plugins/setsum.py eval last
    dlx --plugin examples/plugins/setsum.py predict last --split test -o sums.csv

Each sample is a set of `set_size` numbers (drawn from data.seed); its target is their sum.
The model (DeepSets, Zaheer et al. 2017) embeds every element with one MLP, sums the
embeddings and maps the sum to the output with another: it cannot tell the order of the
elements. The task brings its own training batches: each epoch, every set is presented in a
fresh order of its elements, drawn from the run's shuffle generator (so resume is exact),
which the model must — and does — ignore. Nothing in dlx was edited for this file: the
dataset, the model and the task register through dlx's registries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlx import register_dataset, register_model
from dlx.data import DataConfig
from dlx.data.bundle import DataBundle, Split
from dlx.engine.tasks import OneModelTask
from dlx.errors import require
from dlx.metrics import accumulator, metric_names
from dlx.registry import TASKS

KIND = "set-sum"  # the data kind this plugin adds


# ---------------------------------------------------------------------------- the data


@dataclass
class SetSumConfig(DataConfig):
    name: str = "setsum"
    n_samples: int = 600  # sets generated
    set_size: int = 6  # numbers per set

    def __post_init__(self):
        super().__post_init__()
        require(self.n_samples >= 20, "n_samples", f"must be >= 20, got {self.n_samples}")
        require(self.set_size >= 1, "set_size", f"must be >= 1, got {self.set_size}")


@register_dataset("setsum", schema=SetSumConfig, task=KIND, shape=(6, 1), size="n_samples=600", download=False,
                  summary="generated sets of numbers; the target is their sum")
def build_setsum(cfg: SetSumConfig) -> DataBundle:
    """Splits by data.val_fraction / data.test_fraction, in the generated order (it is random)."""
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.rand(cfg.n_samples, cfg.set_size, 1, generator=g) * 2 - 1  # (N, elements, 1)
    y = x.sum(dim=(1, 2)).unsqueeze(1)  # (N, 1)
    n_test, n_val = int(cfg.n_samples * cfg.test_fraction), int(cfg.n_samples * cfg.val_fraction)
    cut = [cfg.n_samples - n_test - n_val, n_val, n_test]
    index = torch.arange(cfg.n_samples).split(cut)
    train, val, test = (Split(x[i], y[i], i.numpy()) for i in index)
    return DataBundle(train, val, test, input_shape=(cfg.set_size, 1), kind=KIND, classes=[])


# ---------------------------------------------------------------------------- the model


@dataclass
class DeepSetsConfig:
    hidden: int = 32  # width of the element and the set MLPs

    def __post_init__(self):
        require(self.hidden >= 1, "hidden", f"must be >= 1, got {self.hidden}")


class DeepSets(nn.Module):
    def __init__(self, features: int, hidden: int, num_outputs: int):
        super().__init__()
        self.element = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, elements, features)
        return self.head(self.element(x).sum(dim=1))  # the sum forgets the order


@register_model("deepsets", schema=DeepSetsConfig, task="setsum",
                summary="DeepSets: an MLP per element, summed, then an MLP (permutation-invariant)")
def build_deepsets(cfg: DeepSetsConfig, input_shape, num_outputs: int) -> nn.Module:
    return DeepSets(input_shape[-1], cfg.hidden, max(num_outputs, 1))


# ---------------------------------------------------------------------------- the task


class ShuffledSets:
    """Training batches of sets, each set's elements in a fresh order every epoch.

    What makes mid-epoch resume exact: every draw comes from `generator` (the run's shuffle
    generator, whose state the trainer saves at the start of each epoch), so iterating again
    from that state gives the same batches; `len` is the number of batches.
    """

    def __init__(self, split: Split, batch_size: int, generator: torch.Generator, device):
        self.x, self.y = split.x.to(device), split.y.to(device)  # resident: the trainer moves nothing
        self.batch_size, self.generator = max(1, min(batch_size, len(split))), generator

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        n, k = self.x.shape[0], self.x.shape[1]
        order = torch.randperm(n, generator=self.generator).to(self.x.device)
        within = torch.rand(n, k, generator=self.generator).argsort(dim=1).to(self.x.device)  # a permutation per set
        for start in range(0, n, self.batch_size):
            rows = order[start:start + self.batch_size]
            xb = self.x[rows].gather(1, within[rows].unsqueeze(2).expand(-1, -1, self.x.shape[2]))
            yield xb, self.y[rows]


@TASKS.register("setsum", kinds=(KIND,), by_model=False)
class SetSumTask(OneModelTask):
    """Regression of a set's sum: mean squared error; metrics as dlx's regression (loss, mae, rmse, r2)."""

    def __init__(self, model, optimizer, schedule, *, batch_size: int):
        super().__init__(model, optimizer, schedule, loss=nn.MSELoss(), batch_size=batch_size)
        self.num_outputs = 1

    @classmethod
    def build(cls, exp, bundle, device) -> "SetSumTask":
        from dlx.engine.parts import optimization
        from dlx.engine.records import CheckpointMeta

        model = cls.build_model(exp, CheckpointMeta.of("", bundle, 1), device)
        optimizer, schedule = optimization(exp, model, len(bundle.train), exp.trainer.batch_size)
        return cls(model, optimizer, schedule, batch_size=exp.trainer.batch_size)

    @classmethod
    def build_model(cls, exp, meta, device=None):
        from dlx.engine.parts import model_for

        return model_for(exp, meta.input_shape, 1, device, regularized=False)

    @classmethod
    def outputs_of(cls, exp, meta) -> int:
        return 1

    @classmethod
    def for_inference(cls, exp, meta, model) -> "SetSumTask":
        return cls(model, None, None, batch_size=0)

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        return "val_loss" if requested in ("auto", "val_acc") else requested  # a sum has no accuracy

    def metric_names(self) -> list[str]:
        return metric_names("regression", 1)

    def train_metrics(self):
        return accumulator("regression", 1, top5=False)

    def eval_metrics(self, keep_scores: bool = True):
        return accumulator("regression", 1)

    def batches(self, bundle, device, generator, *, eval_batch_size: int, min_batch: int = 1, shard=(0, 1)):
        from dlx.data.loaders import split_batches

        train = ShuffledSets(bundle.train, self.batch_size, generator, device)
        return train, split_batches(bundle.val, eval_batch_size, device), split_batches(bundle.test, eval_batch_size,
                                                                                        device)

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        """One row per set of a split: its elements, the true sum and the predicted one."""
        import pandas as pd

        if source is not None:
            raise_input(run)
        data = run.load_split(overrides, split or "test")
        with torch.inference_mode():
            predicted = self.model(data.x).squeeze(1)
        frame = pd.DataFrame({"set": [" ".join(f"{v:.4g}" for v in row) for row in data.x.squeeze(2).tolist()],
                              "target": data.y.squeeze(1).numpy(), "prediction": predicted.numpy()})
        return iter([frame])


def raise_input(run) -> None:
    from dlx.errors import ConfigError

    raise ConfigError(f"run {run.path.name} predicts on a split of its sets: use --split test")
