"""A scikit-learn estimator as a task on the shared run path (issues 19, 23, 28): `EstimatorTask`.

`dlx train model=knn` goes through `experiment.run` as a network does: the same data bundle
(split seeds, CV folds, preprocessing fitted on the training rows), the same trainer, metric
accumulators, callbacks and run folder. Its one training step fits the estimator on the whole
training split (rows in order), then stops the trainer, so metrics.csv has one row and
summary.json a network run's keys (`params`: the numbers the fitted model keeps). The fitted
estimator is saved as arrays (`checkpoints/estimator.pt`, tensors and plain values only), so
loading it back never unpickles code; `dlx.use.restore` rebuilds it into `Fitted`.

Classification outputs are log-probabilities (a binary `bce` run: the log-odds), the form a
network's logits take after softmax, so the loss is the cross-entropy of the predicted
probabilities; a probability of 0 is clamped to 1e-12 (as log-loss implementations clip), except
in a binary log-odds, clamped at the smallest double so that it keeps predict_proba's order (a
confidently wrong row then costs up to 744 nats of loss rather than 28: compare by accuracy or AUC).
Outputs stay in float64, as scikit-learn computes them (a network's are float32): the run's
metrics equal scikit-learn's on the same rows to ~1e-12, not to float32's ~1e-7.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

from dlx.config import Experiment
from dlx.engine.callbacks import Callback
from dlx.engine.records import CheckpointMeta
from dlx.engine.supervised import SupervisedTask
from dlx.errors import ConfigError, DataError
from dlx.registry import TASKS
from dlx.store.rundir import RunDir

CHECKPOINT = "estimator"  # checkpoints/estimator.pt: not a network's best.pt
EPS = 1e-12
TINY = math.ulp(0.0)  # the smallest double: a binary log-odds keeps every distinct probability apart


def applies(exp: Experiment) -> bool:
    """True when `exp.model` is fitted by a scikit-learn estimator, not trained by the loop."""
    return bool(getattr(exp.model, "fits_estimator", False))


class Fitted(torch.nn.Module):
    """A scikit-learn estimator as a module: raw rows in, what a network of its kind outputs
    (log-probabilities, log-odds or values). No parameters: its arrays are saved by the task."""

    fits_estimator = True  # nothing to export: no tensor graph

    def __init__(self, estimator, kind, num_outputs: int):
        super().__init__()
        self.estimator, self.data_kind, self.num_outputs = estimator, kind, num_outputs

    def forward(self, x):
        return outputs_of(self.estimator, x.reshape(len(x), -1).double().numpy(), self.data_kind, self.num_outputs)


@TASKS.register("estimator", kinds=("multiclass", "binary", "regression"), by_model=True)
class EstimatorTask(SupervisedTask):
    """A scikit-learn baseline on the shared run path: its one training step fits the estimator on
    the whole training split (in order), then the trainer stops; validation and test are measured
    by the supervised accumulators, and checkpoints/estimator.pt keeps the fitted arrays.
    `model=linear model.solver=gd` is a network: built as the supervised task builds it."""

    run = None  # the run folder, given by `callbacks`: scikit-learn's warnings go to its log.txt
    loop_checkpoints = False  # no best.pt / last.pt: checkpoints/estimator.pt is the whole fitted model

    @classmethod
    def build(cls, exp, bundle, device):
        from dlx.losses import build_loss
        from dlx.registry import MODELS

        if not applies(exp):
            return SupervisedTask.build(exp, bundle, device)
        rows = len(rows_of(bundle.train, exp.data.name)[0])  # refuses file-backed data in one line
        entry = MODELS.get(exp.model.name)
        loss = build_loss(exp.loss, bundle.kind, bundle.num_classes, bundle.num_targets, 0.0)
        model = Fitted(entry.meta["estimator"](exp.model, bundle.kind, rows), _Kind(bundle.kind, bundle.num_classes),
                       loss.num_outputs)
        task = cls(model, loss, None, None, kind=bundle.kind, num_outputs=loss.num_outputs, batch_size=rows)
        task.exp, task.bundle, task.entry, task.fitted_params = exp, bundle, entry, 0
        return task

    def lr(self) -> float:
        return math.nan  # no optimizer

    def batches(self, bundle, device, generator, *, eval_batch_size: int, min_batch: int = 1, shard=(0, 1)):
        """One batch of every split, rows in order: the estimator sees the rows a hand fit would."""
        return tuple([(split.x, split.y)] if len(split) else [] for split in (bundle.train, bundle.val, bundle.test))

    def to_device(self, batch, device):
        return batch  # scikit-learn reads CPU rows

    def callbacks(self, run) -> list:
        self.run = run
        return [SaveFitted(self)] if self.exp.trainer.checkpoint else []

    def record(self, metrics, out, target, value: float, training: bool) -> None:
        metrics.update(out, target, value)  # float64, as scikit-learn computed them

    def describe_fit(self) -> str:
        """What the one training step does, for log.txt and the terminal (not epochs and parameters)."""
        features = math.prod(self.bundle.input_shape)
        return f"fitting {type(self.model.estimator).__name__} on {len(self.bundle.train)} rows of {features} features"

    def train_step(self, trainer, batch, metrics) -> float:
        x, y = batch
        estimator = self.model.estimator
        self.run.log(self.describe_fit())
        fit(estimator, (x.reshape(len(x), -1).double().numpy(), y.numpy()), self.run)
        arrays = self.entry.meta["to_arrays"](estimator)
        self.fitted_params = int(sum(np.asarray(v).size for v in arrays.values() if isinstance(v, np.ndarray)))
        out = self.model(x)
        value = float(self.loss(out, y))
        metrics.update(out, y, value)
        trainer.stop_training = True  # a fit is one step: no second epoch
        return value


class SaveFitted(Callback):
    """checkpoints/estimator.pt after the fit: the estimator's arrays (tensors and plain values)."""

    def __init__(self, task: EstimatorTask):
        self.task = task

    def on_epoch_end(self, trainer, row: dict) -> None:
        task = self.task
        meta = CheckpointMeta.of(task.run.id, task.bundle, task.num_outputs).to_dict()
        arrays = to_tensors(task.entry.meta["to_arrays"](task.model.estimator))
        task.run.save_checkpoint(CHECKPOINT, {"model": task.exp.model.name, "task": task.bundle.kind,
                                              "arrays": arrays, "meta": meta})


def fit(estimator, train: tuple, run_dir: RunDir) -> None:
    """Fit on the training rows; scikit-learn's warnings (no convergence, ...) go to log.txt."""
    with warnings.catch_warnings(record=True) as caught:  # an interrupt is the trainer's to record
        warnings.simplefilter("always")
        estimator.fit(*train)
    for w in caught:
        run_dir.log(f"warning: {str(w.message).splitlines()[0]}")


def rows_of(split, data_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, F) float64, targets) of an in-memory split: each input flattened to one row."""
    x = getattr(split, "x", None)
    if x is None:
        raise DataError(f"data '{data_name}' is read from files batch by batch; scikit-learn baselines need "
                        "an in-memory dataset (digits, iris, mnist, csv, ...)")
    # float64: scikit-learn's solvers work in double, and the closed form must match numpy's lstsq
    return x.reshape(len(x), -1).double().numpy(), split.y.numpy()


def outputs_of(estimator, x: np.ndarray, bundle, num_outputs: int):
    """What a network would output for `x`: predictions (regression), log-probabilities, or log-odds."""
    import torch

    if bundle.kind == "regression":
        return torch.as_tensor(np.asarray(estimator.predict(x), dtype=np.float64)).reshape(len(x), -1)
    if num_outputs == 1 and len(estimator.classes_) == 2:
        return log_odds(estimator, x)[:, None]
    log_p = torch.full((len(x), bundle.num_classes), math.log(EPS), dtype=torch.float64)  # (N, classes)
    # a class absent from the training rows (a small data.limit) gets probability 0
    log_p[:, torch.as_tensor(np.asarray(estimator.classes_, dtype=np.int64))] = class_log_scores(estimator, x)
    return (log_p[:, 1] - log_p[:, 0])[:, None] if num_outputs == 1 else log_p


def log_odds(estimator, x: np.ndarray):
    """Two classes: log p1 - log(1 - p1), a function of p1 alone, clamped only at the smallest double,
    so rows keep the order and the ties of predict_proba[:, 1] (the AUC is scikit-learn's on it); or
    the decision function (a perceptron, an SVM without Platt scaling), which is its log-odds."""
    import torch

    if not hasattr(estimator, "predict_proba"):
        return torch.as_tensor(estimator.decision_function(x), dtype=torch.float64)
    p1 = torch.as_tensor(estimator.predict_proba(x)[:, 1], dtype=torch.float64)
    return p1.clamp_min(TINY).log() - (1 - p1).clamp_min(TINY).log()


def class_log_scores(estimator, x: np.ndarray):
    """Log-probabilities over `estimator.classes_`: its predict_proba where it has one; else
    (a perceptron, an SVM without Platt scaling) its decision function as log-odds (two classes)
    or softmax scores (a perceptron's argmax), or its predicted class (a multiclass SVM votes)."""
    import torch

    if hasattr(estimator, "predict_proba"):  # an SVM without probability=true has none
        return torch.as_tensor(estimator.predict_proba(x), dtype=torch.float64).clamp_min(EPS).log()
    score = torch.as_tensor(estimator.decision_function(x), dtype=torch.float64)
    if score.ndim == 1:  # two classes: log sigmoid of minus / plus the score, whose difference is the score
        return torch.stack([torch.nn.functional.logsigmoid(-score), torch.nn.functional.logsigmoid(score)], 1)
    if type(estimator).__name__ == "SVC":  # one-vs-one votes: the argmax of the scores may differ from predict
        chosen = np.searchsorted(estimator.classes_, estimator.predict(x))
        return torch.full(score.shape, math.log(EPS), dtype=torch.float64).index_put_(
            (torch.arange(len(x)), torch.as_tensor(chosen)), torch.tensor(0.0, dtype=torch.float64))
    return torch.log_softmax(score, 1)


def to_tensors(arrays: dict) -> dict:
    """Arrays as tensors (exact dtypes), numbers as numbers: what `torch.load(weights_only=True)` reads."""
    import torch

    # a numpy scalar (an SVM's gamma) is pickled as numpy code: kept as the plain number it is
    return {k: torch.as_tensor(np.ascontiguousarray(v)) if isinstance(v, np.ndarray)
            else v.item() if isinstance(v, np.generic) else v for k, v in arrays.items()}


def load_estimator(run_path: Path, model_cfg):
    """The fitted estimator of the run at `run_path`, rebuilt from its arrays (nothing unpickled)."""
    from dlx import plugins
    from dlx.registry import MODELS
    from dlx.store.checkpoint import load_checkpoint

    plugins.load()
    path = RunDir(Path(run_path)).checkpoint_path(CHECKPOINT)
    if not path.exists():
        raise ConfigError(f"{Path(run_path).name} has no checkpoints/{CHECKPOINT}.pt "
                          "(not an estimator run, or trained with trainer.checkpoint=false)")
    state = load_checkpoint(path)
    arrays = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in state["arrays"].items()}
    return MODELS.get(state["model"]).meta["from_arrays"](model_cfg, state["task"], arrays)


class _Kind:
    """What `outputs_of` reads of a bundle: the data kind and the number of classes."""

    def __init__(self, kind: str, num_classes: int):
        self.kind, self.num_classes = kind, num_classes


def restore_model(run_path: Path, exp, meta):
    """A fitted baseline as a module (`Fitted`), so `dlx eval`, `predict` and `ensemble` use it as
    they use a network."""
    return Fitted(load_estimator(run_path, exp.model), _Kind(meta.kind, len(meta.classes)), meta.num_outputs)
