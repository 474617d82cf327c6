"""scikit-learn estimators around dlx runs: `DLXClassifier`, `DLXRegressor`.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from dlx.sklearn import DLXClassifier

    clf = make_pipeline(StandardScaler(), DLXClassifier(model="mlp", epochs=30, lr=1e-3))
    clf.fit(X_train, y_train).score(X_test, y_test)

The constructor's parameters are dlx overrides (`model`, `optim`, `lr`, `epochs`, `batch_size`,
`val_fraction`, and any others in `overrides=[...]`). `fit(X, y)` trains with dlx's own loop on
the given arrays: they are handed to dlx in-process as the registered dataset `arrays` (below), so
they take the same path as every dataset (seeded stratified validation split, preprocessing fitted
on the training rows, best weights on the validation metric) and the run is an ordinary dlx run.
`record=False` (the default) trains in a temporary run folder that is deleted after the fit;
`record=True` keeps it under `output_dir` (the fitted estimator's `run_` is then a `dlx.Run`).
A fitted estimator keeps its weights as bytes, so it pickles, and `clone` gives an unfitted copy.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from dlx.data.schemas import RegressionDataConfig
from dlx.errors import DataError
from dlx.registry import register_dataset

HANDED: dict[str, tuple] = {}  # data.key -> (x, y, kind, classes): arrays handed to dlx in this process
LOCK = threading.Lock()
# what restore needs: the config and the kept weights (a network's best.pt, a fitted baseline's estimator.pt)
KEPT = ("config.yaml", "checkpoints/best.pt", "checkpoints/estimator.pt")


class FitDataError(DataError, ValueError):
    """dlx's one-line DataError about the arrays given to fit, also the ValueError scikit-learn
    expects of an estimator given data it cannot use (too few samples for the validation split)."""


@dataclass
class ArraysConfig(RegressionDataConfig):
    """Arrays handed to dlx in this process by `dlx.sklearn` (not a dataset a command line can name)."""

    key: str = ""  # which arrays, in dlx.sklearn.HANDED


@register_dataset("arrays", schema=ArraysConfig, task="auto", shape="given", size="given",
                  summary="numpy arrays handed in-process (dlx.sklearn estimators)")
def load_arrays(cfg: ArraysConfig):
    """The arrays fit(X, y) handed over; the dataset's own test split is one row of them (the
    estimator never evaluates it: scikit-learn scores on its own held-out data)."""
    from dlx.data.bundle import RawData

    if cfg.key not in HANDED:
        raise DataError("data=arrays holds arrays handed over in-process by dlx.sklearn's estimators; "
                        "from the command line use data=csv")
    x, y, kind, classes = HANDED[cfg.key]
    return RawData(x, y, kind, list(classes), test=(x[:1], y[:1]))


class DLXEstimator(BaseEstimator):
    """What the classifier and the regressor share: overrides from parameters, a fit that is a dlx
    run on the arrays, a restored model for predictions, pickling through the run's files."""

    def __init__(self, model: str = "mlp", optim: str = "adam", lr: float = 1e-3, epochs: int = 30,
                 batch_size: int = 32, val_fraction: float = 0.2, overrides: Optional[list] = None,
                 record: bool = False, output_dir: str = "outputs", num_threads: Optional[int] = None):
        self.model = model
        self.optim = optim
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.overrides = overrides
        self.record = record
        self.output_dir = output_dir
        self.num_threads = num_threads

    # ---------------------------------------------------------------- fitting

    def dlx_overrides(self, key: str, output_dir: str) -> list[str]:
        """The dlx command line this estimator's parameters stand for."""
        threads = [f"trainer.num_threads={self.num_threads}"] if self.num_threads else []
        return [f"model={self.model}", f"optim={self.optim}", "data=arrays", f"data.key={key}",
                f"optim.lr={self.lr}", f"trainer.epochs={self.epochs}", f"trainer.batch_size={self.batch_size}",
                f"data.val_fraction={self.val_fraction}", *threads, *(self.overrides or []),
                f"output_dir={output_dir}"]

    def train(self, x: np.ndarray, y: np.ndarray, kind: str, classes: list) -> None:
        from dlx import config
        from dlx.engine import experiment

        key = uuid.uuid4().hex
        root = Path(self.output_dir) if self.record else Path(tempfile.mkdtemp(prefix="dlx-fit-"))
        with LOCK:
            HANDED[key] = (x, y, kind, classes)
        try:
            args = self.dlx_overrides(key, str(root))
            try:
                summary = experiment.run(config.load(args), args, evaluate_test=False)
            except DataError as e:
                raise FitDataError(str(e)) from None
            path = Path(summary.path)
            self.files_ = {name: (path / name).read_bytes() for name in KEPT if (path / name).is_file()}
            self.run_id_ = summary.run_id
            self.history_ = [dict(r) for r in read_history(path)]
            self._restored = self.restore_files()
        finally:
            with LOCK:
                HANDED.pop(key, None)
            if not self.record:
                shutil.rmtree(root, ignore_errors=True)

    @property
    def run_(self):
        """The dlx.Run of a fit with record=True."""
        check_is_fitted(self, "files_")
        if not self.record:
            raise AttributeError("run_: this estimator was fitted with record=False (no run folder)")
        from dlx.api import load

        return load(self.run_id_, self.output_dir)

    # ---------------------------------------------------------------- predicting

    def restored(self):
        """The fitted run restored to its Task (built at fit and on unpickling, never in predict:
        scikit-learn holds an estimator's __dict__ unchanged by predict)."""
        check_is_fitted(self, "files_")
        return self._restored

    def restore_files(self):
        """The run restored from the kept files (config.yaml, best.pt), through a temporary folder."""
        from dlx.use.restore import restore

        folder = Path(tempfile.mkdtemp(prefix="dlx-restore-"))
        try:
            for name, blob in self.files_.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(blob)
            return restore(folder, "best")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def scores(self, X) -> np.ndarray:
        import torch

        restored = self.restored()
        x = validate_data(self, X, reset=False, dtype=np.float32)
        return restored.predict(torch.from_numpy(np.ascontiguousarray(x))).numpy().astype(np.float64)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_restored", None)  # torch objects: rebuilt from files_ when unpickled
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "files_" in state:
            self._restored = self.restore_files()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def read_history(path: Path):
    import pandas as pd

    return pd.read_csv(path / "metrics.csv").to_dict("records")


class DLXClassifier(ClassifierMixin, DLXEstimator):
    """A dlx network as a scikit-learn classifier (`predict`, `predict_proba`, `score`, `classes_`)."""

    def fit(self, X, y):
        """Train a dlx run on (X, y): a validation split of `val_fraction` chooses the kept weights."""
        x, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"DLXClassifier needs at least 2 classes in y, got 1 class: {self.classes_[0]!r}")
        kind = "binary" if len(self.classes_) == 2 else "multiclass"
        self.train(x, codes.astype(np.int64), kind, [str(c) for c in self.classes_])
        return self

    def predict_proba(self, X) -> np.ndarray:
        """(N, n_classes) probabilities, columns in the order of `classes_`."""
        return self.scores(X)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # first: unfitted, it raises NotFittedError
        return self.classes_[proba.argmax(axis=1)]


class DLXRegressor(RegressorMixin, DLXEstimator):
    """A dlx network as a scikit-learn regressor (`predict`, `score` = R²); y of shape (N,) or (N, k)."""

    def fit(self, X, y):
        """Train a dlx run on (X, y); the target is standardised for training (data.scale_target)."""
        x, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True, multi_output=True)
        self.multi_output_ = y.ndim == 2
        self.train(x, y.astype(np.float32), "regression", [])
        return self

    def predict(self, X) -> np.ndarray:
        out = self.scores(X)
        return out[:, 0] if out.shape[1] == 1 and not self.multi_output_ else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
