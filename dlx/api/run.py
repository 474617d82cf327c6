"""One run from Python: train it (the path `dlx train` takes), load it, use it (`Run`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from dlx import plugins as plugin_store, signals
from dlx.errors import ConfigError, DataError, Interrupted

log = logging.getLogger(__name__)

SHORTCUTS = {"epochs": "trainer.epochs", "batch_size": "trainer.batch_size", "seed": "trainer.seed",
             "num_threads": "trainer.num_threads", "lr": "optim.lr", "device": "trainer.device"}


def value_text(value: Any) -> str:
    """A Python value as an override writes it: true/false, null, [a,b], numbers and words as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(value_text(v) for v in value) + "]"
    return str(value)


def overrides_of(args: Sequence[str], keys: dict) -> list[str]:
    """Positional overrides as given, then `key=value` for each keyword (shortcuts expanded)."""
    out = []
    for arg in args:
        if not isinstance(arg, str):
            raise ConfigError(f"overrides are strings like 'optim.lr=0.01', got {arg!r}")
        out.append(arg)
    return out + [f"{SHORTCUTS.get(k, k)}={value_text(v)}" for k, v in keys.items()]


def use_plugins(plugins: Sequence[str] = (), config_dirs: Sequence[str] = ()) -> None:
    """`--plugin` / `--config-dir` of the CLI; the CLI's own root callback already requested them."""
    if plugins or config_dirs:
        plugin_store.request(list(plugins), list(config_dirs))


# ---------------------------------------------------------------- train


def prepare(overrides: Sequence[str], resume: Optional[str] = None, check_files: bool = True):
    """(Experiment, Resume or None): the checks of `dlx train`, before any heavy work."""
    from dlx import config
    from dlx.engine import distributed

    if resume is not None:
        from dlx.engine import resume as resuming

        return resuming.prepare(str(resume), list(overrides), warn=log.warning, lock=distributed.is_main_process())
    return config.load(list(overrides), check_files=check_files), None


def fit(exp, overrides: Sequence[str], target=None, callbacks: Sequence = (), say=None) -> "Run":
    """Train a prepared experiment on the one run path and return its Run (what `train` and the CLI
    share). A stop (Ctrl-C, SIGTERM) raises the one-line `dlx.errors.Interrupted` after saving the run."""
    from dlx.engine import experiment

    summary = experiment.run(exp, list(overrides), callbacks=list(callbacks), resume=target, say=say)
    if "mlflow" in exp.trainer.trackers and exp.trainer.mlflow.log_model:  # needs the written run
        from dlx.use.mlflow_model import log_best_model

        log_best_model(summary.path)
    return Run(Path(summary.path), summary)


def train(*overrides: str, output_dir: Optional[str] = None, plugins: Sequence[str] = (), callbacks: Sequence = (),
          progress: bool = False, resume: Optional[str] = None, **keys) -> "Run":
    """Train one run, as `dlx train` does (same checks, same run folder); returns its `Run`.

    `callbacks` (dlx.engine.callbacks.Callback) watch the trainer in this process; `progress=True`
    shows the CLI's progress bar; `resume` continues a stopped run (id, prefix, path, 'last').
    Ctrl-C stops at the next step boundary, leaves the run resumable and raises KeyboardInterrupt.
    """
    from dlx.engine import distributed

    args = overrides_of(overrides, keys) + ([f"output_dir={output_dir}"] if output_dir is not None else [])
    use_plugins(plugins)
    signals.reset()  # many runs in one process: an earlier Ctrl-C is not this run's
    exp, target = prepare(args, resume)
    if distributed.should_launch(exp.trainer):
        if target is not None:
            target.run.unlock()
        raise ConfigError(f"trainer.devices={exp.trainer.devices} starts one process per device: run it with "
                          "`dlx train`, or train on one device from Python")
    shown = list(callbacks)
    say = None
    if progress:
        from dlx.report import ProgressDisplay
        from dlx.report.layers import say

        shown.insert(0, ProgressDisplay(exp.trainer.epochs))
    try:
        return fit(exp, args, target, shown, say=say)
    except Interrupted as e:
        if e.exit_code != 130:  # SIGTERM: the process is asked to end, not the user pressing Ctrl-C
            raise
        raise KeyboardInterrupt(str(e)) from None


# ---------------------------------------------------------------- sweep, cv


def load(ref: str = "last", output_dir: str = "outputs") -> "Run":
    """A run by id, unique prefix or suffix, folder or 'last'."""
    from dlx.use.restore import find

    return Run(find(str(ref), output_dir))



# ---------------------------------------------------------------- using a run (the CLI's eval, predict, export)


def evaluate(ref: str, overrides: Sequence[str] = (), split: str = "test", checkpoint: str = "best",
             output_dir: str = "outputs", episodes: Optional[int] = None) -> tuple[dict, Path]:
    """`dlx eval`: (every metric of the run's task on `split`, or of an agent's `episodes` episodes,
    the RUN/eval/<name>.json written)."""
    from dlx.store.ensembles import write_eval
    from dlx.use.evaluate import evaluate_run
    from dlx.use.restore import find, restore

    restored = restore(find(str(ref), output_dir), checkpoint)
    result = evaluate_run(restored, list(overrides), split, episodes)
    return result, write_eval(restored.path, result["name"], result)


def predict_file(ref: str, source: Optional[str], output: str, *, overrides: Sequence[str] = (),
                 split: Optional[str] = None, proba: bool = False, checkpoint: str = "best",
                 output_dir: str = "outputs", warn=None, id_column: Optional[str] = None,
                 keep: Sequence[str] = ()) -> dict:
    """`dlx predict`: write one row per input (CSV, images, a split) to `output`, an id column first
    (`id_column`, or the row number) and the input columns `keep` passed through; {run_id, rows, output}."""
    from dlx.use.predict import predict

    return predict(str(ref), source, output, overrides=list(overrides), split=split, proba=proba,
                   checkpoint=checkpoint, output_dir=output_dir, warn=warn or log.warning, id_column=id_column,
                   keep=tuple(keep))


def export(ref: str, fmt: str = "torchscript", output: Optional[str] = None, output_dir: str = "outputs",
           checkpoint: str = "best") -> dict:
    """`dlx export`: the run's model with its preprocessing as TorchScript or ONNX; {path, format, ...}."""
    from dlx.use.export import export as run_export

    return run_export(str(ref), fmt, output, output_dir, checkpoint)



# ---------------------------------------------------------------- Run


class Run:
    """One run folder: what it is (`.id`, `.path`, `.config`, `.summary`, `.history`), and what it
    does (`.predict`, `.predict_proba`, `.evaluate`, `.export`, `.model`, `.plot`, `.resume`;
    `.sample` and `.generate` for generative and language runs, through the run's Task)."""

    def __init__(self, path: Path, summary=None):
        self.path = Path(path).absolute()  # the run stays found after a chdir
        self.id = self.path.name
        self._summary = summary
        self._restored: dict = {}

    def __repr__(self) -> str:
        return f"Run({self.id!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.path.resolve() == self.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    @property
    def config(self):
        """The run's typed Experiment (config.yaml, keys added since then at their defaults)."""
        from dlx.engine.saved import read_experiment

        return read_experiment(self.path)

    @property
    def summary(self):
        """The RunSummary of a finished run (summary.json)."""
        if self._summary is None:
            from dlx.store.runs import read_summary
            from dlx.store.summary import RunSummary

            data = read_summary(self.path)
            if data is None:
                raise ConfigError(f"run {self.id} has no summary.json: it has not finished (resume it)")
            self._summary = RunSummary.from_json(data)
        return self._summary

    @property
    def history(self):
        """metrics.csv as a DataFrame: one row per epoch."""
        from dlx.store.runs import read_metrics

        if not (self.path / "metrics.csv").is_file():
            raise ConfigError(f"run {self.id} has no metrics.csv yet (no epoch finished)")
        return read_metrics(self.path, warn=True)

    def restored(self, checkpoint: str = "best"):
        """The run restored to its Task (dlx.use.restore.Restored), kept for the next call."""
        if checkpoint not in self._restored:
            from dlx.use.restore import restore

            self._restored[checkpoint] = restore(self.path, checkpoint)
        return self._restored[checkpoint]

    @property
    def model(self):
        """The trained torch module with its preprocessing in front (raw features in,
        probabilities or values out), in eval mode: what `export` writes."""
        from dlx.use.export import Deployed

        return Deployed(self.restored()).eval()

    # ---------------------------------------------------------------- predictions

    def scores(self, X, checkpoint: str = "best"):
        """Probabilities (N, C) or values (N, k) for numpy arrays or DataFrames of raw features."""
        import numpy as np
        import torch

        restored = self.restored(checkpoint)
        x = self.features(restored, X)
        return restored.predict(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    @staticmethod
    def features(restored, X):
        """Raw features as training saw them: a DataFrame goes through the run's CSV encoding."""
        import numpy as np

        if hasattr(X, "columns") and hasattr(X, "iloc"):  # a DataFrame
            encoding = restored.preprocess.get("encoding")
            if encoding:
                from dlx.use.inputs import encode_frame

                return encode_frame(X, encoding, "DataFrame")
            X = X.to_numpy()
        x = np.asarray(X)
        shape = tuple(restored.meta.input_shape)
        if x.ndim == len(shape):  # one sample
            x = x[None]
        if tuple(x.shape[1:]) != shape:
            raise DataError(f"inputs of shape {tuple(x.shape[1:])} per sample; run {restored.run_id} was "
                            f"trained on {shape}")
        return x

    def predict(self, X, *, proba: bool = False, checkpoint: str = "best", split: Optional[str] = None,
                overrides: Sequence[str] = ()):
        """Predictions in the training data's own terms. `X`: a numpy array or DataFrame of raw
        features (returns an array of labels, or of values for regression); a CSV path, an image file
        or folder, a text file of sequences (returns the DataFrame `dlx predict` writes); or None with
        `split=` (the run's split, with its targets)."""
        import numpy as np

        restored = self.restored(checkpoint)
        if X is None or isinstance(X, (str, Path)):
            return self.rows(None if X is None else str(X), proba, checkpoint, split, overrides)
        scores = self.scores(X, checkpoint)
        if restored.kind == "regression":
            return scores[:, 0] if scores.shape[1] == 1 else scores
        labels = np.asarray(restored.classes, dtype=object)[scores.argmax(axis=1)]
        return labels.astype(str) if all(isinstance(c, str) for c in restored.classes) else labels

    def rows(self, source, proba: bool, checkpoint: str, split, overrides):
        import pandas as pd

        from dlx.use.predict import chunks_for

        if source is None and split is None:
            split = "test"
        frames = list(chunks_for(self.restored(checkpoint), source, list(overrides), split, proba, log.warning))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def predict_proba(self, X, checkpoint: str = "best"):
        """Class probabilities (N, C), columns in the order of `.classes`."""
        if self.restored(checkpoint).kind == "regression":
            raise ConfigError(f"run {self.id} is a regression: it has values, not probabilities; use .predict")
        return self.scores(X, checkpoint)

    @property
    def classes(self) -> list:
        return self.restored().classes

    def evaluate(self, split: str = "test", overrides: Sequence[str] = (), checkpoint: str = "best",
                 episodes: Optional[int] = None) -> dict:
        """Every metric of the run's task on `split`, or an agent's returns over `episodes` episodes
        (as `dlx eval`, which writes RUN/eval/<name>.json too)."""
        return evaluate(str(self.path), overrides, split, checkpoint, episodes=episodes)[0]

    def export(self, fmt: str = "torchscript", path: Optional[str] = None, checkpoint: str = "best") -> Path:
        """Write the model (preprocessing built in) as TorchScript or ONNX; the file written."""
        return Path(export(str(self.path), fmt, None if path is None else str(path), checkpoint=checkpoint)["path"])

    def plot(self, metrics: Sequence[str] = ()):
        """The learning curves as a matplotlib Figure (train dashed, validation solid), as `dlx plot`."""
        from dlx.report.plot import curves_figure, select_columns

        history = self.history
        monitor = self.config.trainer.monitor
        return curves_figure({self.id: history}, select_columns(list(history.columns), list(metrics), monitor))

    def resume(self, *overrides: str, progress: bool = False, callbacks: Sequence = (), **keys) -> "Run":
        """Continue this stopped run from its last checkpoint (`epochs=` may grow it)."""
        self._restored.clear()
        self._summary = None
        return train(*overrides, progress=progress, callbacks=callbacks, resume=str(self.path), **keys)

    # ---------------------------------------------------------------- the task's own verbs

    def sample(self, n: int = 16, seed: int = 0, checkpoint: str = "best"):
        """n samples from a generative run (VAE, GAN), in the data's units: a numpy array."""
        from dlx.use.generate import sample

        x = sample(self.path, n, seed, checkpoint)[0]
        return x.detach().cpu().numpy() if hasattr(x, "detach") else x

    def generate(self, prompt: str = "", tokens: int = 100, temperature: float = 1.0, top_k: Optional[int] = None,
                 seed: int = 0) -> str:
        """A language run's continuation of `prompt` (as `dlx generate`)."""
        from dlx.use.language import generate

        return generate(self.path, prompt, tokens, temperature, top_k, seed, log.warning)
