"""A scikit-learn estimator fitted as a dlx run (issue 19): `run(exp) -> summary`, as `experiment.run`.

The same data bundle (split seeds, CV folds, preprocessing fitted on the training rows), the
same loss and metric accumulators applied to the estimator's predictions, and the same run
folder: config.yaml, overrides.yaml, a one-row metrics.csv, summary.json with a network run's
keys, status.json, log.txt. The fitted estimator is saved as arrays (`checkpoints/estimator.pt`,
tensors and plain values only), so loading it back never unpickles code.

Classification outputs are log-probabilities (a binary `bce` run: the log-odds), the form a
network's logits take after softmax, so the loss is the cross-entropy of the predicted
probabilities; a probability of 0 is clamped to 1e-12 (as log-loss implementations clip).
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np

from dlx.config import Experiment
from dlx.engine import monitor
from dlx.engine.records import CheckpointMeta
from dlx.engine.runfolder import open_run, setup_torch
from dlx.errors import ConfigError, DataError, Interrupted
from dlx.store.rundir import RunDir
from dlx.store.summary import RunSummary

CHECKPOINT = "estimator"  # checkpoints/estimator.pt: not a network's best.pt
EPS = 1e-12


def applies(exp: Experiment) -> bool:
    """True when `exp.model` is fitted by a scikit-learn estimator, not trained by the loop."""
    return bool(getattr(exp.model, "fits_estimator", False))


def run(exp: Experiment, overrides=(), callbacks=(), runs_root: Path | None = None,
        run_path: Path | None = None, evaluate_test: bool = True, resume=None) -> RunSummary:
    """Fit `exp.model` on the training split, measure every split, write the run; the summary."""
    from dlx import data
    from dlx.losses import build_loss
    from dlx.registry import MODELS

    started = time.time()
    setup_torch(exp)
    bundle = data.build(exp.data)
    exp = monitor.for_task(exp, bundle.kind)
    x_train, y_train = rows_of(bundle.train, exp.data.name)
    entry = MODELS.get(exp.model.name)
    estimator = entry.meta["estimator"](exp.model, bundle.kind, len(x_train))
    loss = build_loss(exp.loss, bundle.kind, bundle.num_classes, bundle.num_targets, 0.0)
    monitor.check(exp, Measured(bundle.kind, loss.num_outputs))
    # the run path's own folder (a resumed fit is done again in place: a fit is one step)
    run_dir, overrides = open_run(exp, overrides, runs_root, run_path, resume)
    try:
        return _fit_and_record(exp, overrides, callbacks, run_dir, bundle, estimator, entry, loss,
                               (x_train, y_train), evaluate_test, started)
    finally:
        run_dir.unlock()


class Measured:
    """What trainer.monitor is checked against: the metrics a network on this data reports."""

    def __init__(self, kind: str, num_outputs: int):
        self.kind, self.num_outputs = kind, num_outputs

    def metric_names(self) -> list[str]:
        from dlx.metrics import metric_names

        return metric_names(self.kind, self.num_outputs)


def _fit_and_record(exp, overrides, callbacks, run_dir: RunDir, bundle, estimator, entry, loss, train,
                    evaluate_test: bool, started: float) -> RunSummary:
    run_dir.log(f"fitting {type(estimator).__name__} on {len(train[0])} rows of {train[0].shape[1]} features")
    fit_start = time.perf_counter()
    fit(estimator, train, run_dir)
    arrays = entry.meta["to_arrays"](estimator)
    params = int(sum(np.asarray(v).size for v in arrays.values() if isinstance(v, np.ndarray)))
    from dlx.engine.callbacks import FitContext

    context = FitContext(run_dir, exp, params)
    for cb in callbacks:  # no trainer: a fit has no epochs, so only the start is announced
        cb.on_fit_start(None, context)

    train_metrics = measure(estimator, *train, bundle, loss, training=True)
    # no validation split in a CV refit; no test split in a CV fold
    val_metrics = measure(estimator, *rows_of(bundle.val, exp.data.name), bundle, loss) if len(bundle.val) else {}
    test_metrics = measure(estimator, *rows_of(bundle.test, exp.data.name), bundle, loss) if evaluate_test else {}
    row = {"epoch": 1, **{f"train_{k}": v for k, v in train_metrics.items()},
           **{f"val_{k}": v for k, v in val_metrics.items()}, "epoch_time_s": time.perf_counter() - fit_start}
    run_dir.write_metrics([row])
    run_dir.log("  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if exp.trainer.checkpoint:
        meta = CheckpointMeta.of(run_dir.id, bundle, loss.num_outputs).to_dict()
        run_dir.save_checkpoint(CHECKPOINT, {"model": exp.model.name, "task": bundle.kind,
                                             "arrays": to_tensors(arrays), "meta": meta})
    summary = summary_for(exp, run_dir, bundle, row, test_metrics, params, started)
    run_dir.write_status("finished")
    run_dir.write_summary(summary.to_json())  # last: its presence means "finished"
    return summary


def fit(estimator, train: tuple, run_dir: RunDir) -> None:
    """Fit on the training rows; scikit-learn's warnings (no convergence, ...) go to log.txt."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimator.fit(*train)
    except KeyboardInterrupt:
        run_dir.write_status("interrupted", signal="SIGINT", epoch=1, step=0)
        run_dir.log("interrupted by SIGINT during the fit")
        raise Interrupted(f"SIGINT during the fit; run it again with: dlx train --resume {run_dir.id}") from None
    for w in caught:
        run_dir.log(f"warning: {str(w.message).splitlines()[0]}")


def summary_for(exp, run_dir: RunDir, bundle, row: dict, test_metrics: dict, params: int,
                started: float) -> RunSummary:
    """summary.json: a network run's summary, for a one-step fit."""
    return RunSummary(
        run_id=run_dir.id, status="finished", model=exp.model.name, optim=exp.optim.name,
        scheduler=exp.scheduler.name, regularizer=exp.regularizer.name, data=exp.data.name, kind=bundle.kind,
        epochs_run=1, best_epoch=1, stopped_early=False, monitor=exp.trainer.monitor,
        best_value=row.get(exp.trainer.monitor, math.nan),
        metrics={**{k: v for k, v in row.items() if k.startswith(("train_", "val_"))},
                 **{f"test_{k}": v for k, v in test_metrics.items()}},
        params=params, train_size=len(bundle.train), val_size=len(bundle.val), test_size=len(bundle.test),
        duration_s=round(time.time() - started, 3), device="cpu", path=str(run_dir.path))


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
        return torch.as_tensor(np.asarray(estimator.predict(x)), dtype=torch.float32).reshape(len(x), -1)
    log_p = torch.full((len(x), bundle.num_classes), math.log(EPS), dtype=torch.float64)
    # a class absent from the training rows (a small data.limit) gets probability 0
    log_p[:, torch.as_tensor(np.asarray(estimator.classes_, dtype=np.int64))] = class_log_scores(estimator, x)
    log_p = log_p.float()  # (N, classes)
    return (log_p[:, 1] - log_p[:, 0])[:, None] if num_outputs == 1 else log_p


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


def measure(estimator, x: np.ndarray, y: np.ndarray, bundle, loss, training: bool = False) -> dict[str, float]:
    """The loss and metrics of `estimator` on (x, y), by the accumulators the trainer uses."""
    import torch

    from dlx.metrics import accumulator

    y = torch.as_tensor(y)
    out = outputs_of(estimator, x, bundle, loss.num_outputs)
    with torch.no_grad():
        value = float(loss(out, y))
    # as the trainer: no top-5 nor AUC on the training split, both on validation and test
    metrics = accumulator(bundle.kind, loss.num_outputs, keep_scores=not training, top5=not training)
    metrics.update(out, y, value)
    return metrics.compute()


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
    """A fitted baseline as a module: raw rows in, what a network of its kind outputs (log-probabilities,
    log-odds or values), so `dlx eval`, `predict` and `ensemble` use it as they use a network."""
    import torch

    fitted = load_estimator(run_path, exp.model)
    kind = _Kind(meta.kind, len(meta.classes))

    class FittedEstimator(torch.nn.Module):
        fits_estimator = True  # nothing to export: no tensor graph

        def forward(self, x):
            return outputs_of(fitted, x.reshape(len(x), -1).double().numpy(), kind, meta.num_outputs)

    return FittedEstimator()
