"""Rebuild a finished run's model: config.yaml + the checkpoint's meta + its weights.

    restored = restore(find("last", "outputs"))
    probs = restored.predict(x_raw)        # raw features in, probabilities / values out

The checkpoint's meta carries what training fitted (preprocessing statistics, the CSV column
encoding, class names, input shape, task), so nothing is refitted and no data is re-read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dlx.engine.records import CheckpointMeta
from dlx.engine.saved import LATER_KEYS, fill_later_keys, read_experiment  # noqa: F401  (re-exported)
from dlx.errors import ConfigError, first_line
from dlx.use.scores import to_scores

log = logging.getLogger(__name__)

BATCH = 8192  # rows per forward pass: activations of a wide MLP stay a few MB


def find(ref: str, output_dir: str = "outputs") -> Path:
    """A run folder: a path holding config.yaml, else an id / prefix / `last` in output_dir."""
    path = Path(ref).expanduser()
    if (path / "config.yaml").is_file():
        return path
    if path.is_dir():
        raise ConfigError(f"{path} is not a run folder (no config.yaml)")
    from dlx.store.runs import find_run

    return find_run(Path(output_dir), ref)


def read_config(path: Path):
    """The run's config.yaml as a validated Experiment (keys added since then get defaults)."""
    return read_experiment(path)


@dataclass
class Restored:
    """A trained run restored to its Task (eval mode, on the CPU, no optimizers), with everything
    needed to feed it raw inputs. `kind` is the data kind; `problem` the Task,
    which `dlx eval`, `predict`, `sample`, `generate` and `ensemble` call."""

    path: Path
    exp: Any  # the run's Experiment
    model: Any  # torch.nn.Module (the Task's)
    meta: CheckpointMeta  # preprocess, classes, input_shape, kind, num_outputs
    checkpoint: str
    problem: Any = None  # the run's dlx.engine.tasks.Task
    warn: Any = None  # where `dlx predict` says it ignores a CSV's extra columns

    @property
    def kind(self) -> str:
        return self.meta.kind

    @property
    def classes(self) -> list[str]:
        return list(self.meta.classes)

    @property
    def preprocess(self) -> dict:
        return self.meta.preprocess

    @property
    def run_id(self) -> str:
        return self.meta.run_id or self.path.name

    def transform(self, x):
        """Raw inputs (B, *input_shape) -> what the model saw in training (the saved statistics)."""
        from dlx.data import preprocess

        prep = self.preprocess
        if "vocab" in prep:  # token ids: used as they are
            return x.long()
        stats = {k: v for k, v in prep.items() if k in ("mean", "std", "min", "max")}
        return preprocess.apply(prep.get("mode", "none"), stats, x.float())

    def outputs(self, x):
        """Model outputs for already-transformed inputs, in batches, without gradients."""
        import torch

        # a fitted scikit-learn estimator's outputs are float64, as scikit-learn computes them
        dtype = torch.float64 if getattr(self.model, "fits_estimator", False) else torch.float32
        out = torch.empty(x.shape[0], self.meta.num_outputs, dtype=dtype)
        with torch.inference_mode():
            for i in range(0, x.shape[0], BATCH):  # written in place: no list of parts to concatenate
                out[i:i + BATCH] = self.model(x[i:i + BATCH])
        return out

    def predict(self, x_raw):
        """Raw inputs -> class probabilities (N, C) or values in the target's units (N, k)."""
        return to_scores(self.outputs(self.transform(x_raw)), self.kind, self.preprocess)

    # ---------------------------------------------------------------- what a Task asks of its run

    def load_split(self, overrides: list[str], split: str):
        """A split of the run's data (or of the data `overrides` choose), raw: dlx.use.inputs.Labelled."""
        from dlx.use.inputs import load_split

        return load_split(self, overrides, split)

    def load_bundle(self, overrides: list[str], kinds: tuple):
        """(the data bundle config.yaml + `overrides` build, its name), checked against the run."""
        from dlx.use.inputs import load_bundle

        return load_bundle(self, overrides, kinds)


def checkpoint_file(path: Path, which: str) -> Path:
    """The file `restore(path, which)` reads: checkpoints/<which>.pt, or a fitted baseline's
    estimator.pt (its one fit is both best and last); a ConfigError that says why there is none."""
    if which not in ("best", "last"):
        raise ConfigError(f"--checkpoint {which}: choose best or last")
    fitted = path / "checkpoints" / f"{ESTIMATOR}.pt"
    if fitted.is_file():
        return fitted
    file = path / "checkpoints" / f"{which}.pt"
    if not file.is_file():
        why = ("it was trained with trainer.checkpoint=false, or stopped before an epoch ended"
               if which == "best" else "it was trained with trainer.checkpoint=false")
        raise ConfigError(f"run {path.name} has no checkpoints/{which}.pt ({why}); train it again "
                          "with trainer.checkpoint=true")
    return file


def restore(path: Path, which: str = "best") -> Restored:
    """The run at `path` restored to its Task with its `which` (best | last) weights: the one
    rebuild path of every command that uses a trained run."""
    from dlx import plugins
    from dlx.engine.tasks import task_class
    from dlx.store.checkpoint import load_checkpoint

    path = Path(path)
    still_training(path, which)
    file = checkpoint_file(path, which)
    if file.stem == ESTIMATOR:
        return restore_fitted(path, which)  # a scikit-learn baseline: one fit, one checkpoint
    exp = read_config(path)  # keys added since the run was written get their defaults
    state = load_checkpoint(file)
    raw = state.get("meta")
    if not isinstance(raw, dict) or "input_shape" not in raw or not isinstance(state.get("model"), dict):
        raise ConfigError(f"{file} has no model or meta: it was not written by this version of dlx; "
                          "train the run again")
    meta = CheckpointMeta.from_dict(raw, str(file))
    plugins.load()
    cls = task_class(meta.kind, exp.model.name)
    meta = replace(meta, num_outputs=cls.outputs_of(exp, meta))
    model = cls.build_model(exp, meta)  # data.scale_target: ends in ScaledOutput, as trained
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ConfigError(f"{file} does not fit the model config.yaml describes ({first_line(e)[:160]}); "
                          "was config.yaml edited?") from None
    model.eval()
    problem = cls.for_inference(exp, meta, model)
    problem.kind, problem.exp = meta.kind, exp
    return Restored(path, exp, model, meta, which, problem)


def still_training(path: Path, which: str) -> None:
    """A run another process is still training is used as it stands now: say so (its best.pt may
    change after this command has read it)."""
    from dlx.store.runs import BadRun, run_status

    try:
        running = run_status(path) == "running"
    except BadRun:
        return
    if running:
        log.warning(f"run {path.name} is still training: using the {which}.pt it has written so far; "
                    "use it again when training ends for its final weights")


ESTIMATOR = "estimator"  # checkpoints/estimator.pt: a fitted scikit-learn baseline (dlx.engine.estimator)


def restore_fitted(path: Path, which: str) -> Restored:
    """A fitted baseline restored to the supervised Task around its estimator (its one fit is both
    best and last)."""
    from dlx.engine import estimator
    from dlx.engine.tasks import task_class
    from dlx.store.checkpoint import load_checkpoint

    exp = read_config(path)
    raw = load_checkpoint(path / "checkpoints" / f"{ESTIMATOR}.pt").get("meta")
    if not isinstance(raw, dict) or "input_shape" not in raw:
        raise ConfigError(f"{path / 'checkpoints' / ESTIMATOR}.pt has no meta: train the run again")
    meta = CheckpointMeta.from_dict(raw, f"{path / 'checkpoints' / ESTIMATOR}.pt")
    cls = task_class(meta.kind)
    meta = replace(meta, num_outputs=cls.outputs_of(exp, meta))
    model = estimator.restore_model(path, exp, meta)
    problem = cls.for_inference(exp, meta, model)
    problem.kind, problem.exp = meta.kind, exp
    return Restored(path, exp, model, meta, which, problem)
