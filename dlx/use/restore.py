"""Rebuild a finished run's model: config.yaml + the checkpoint's meta + its weights.

    restored = restore(find("last", "outputs"))
    probs = restored.predict(x_raw)        # raw features in, probabilities / values out

The checkpoint's meta carries what training fitted (preprocessing statistics, the CSV column
encoding, class names, input shape, task), so nothing is refitted and no data is re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlx.errors import ConfigError

# keys added after some runs were written: filled with their defaults when a saved config lacks them
LATER_KEYS = {"model": {"init_from": None, "freeze": None}, "optim": {"head_lr_mult": 1.0}}
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
    from omegaconf import OmegaConf

    from dlx import config

    try:
        raw = OmegaConf.load(path / "config.yaml")
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"cannot read {path / 'config.yaml'} ({first})") from None
    return config.validate(fill_later_keys(raw))


def fill_later_keys(raw):
    """A run's saved config with the keys added since it was written set to their defaults (so
    runs from before transfer learning can still be used and resumed)."""
    from omegaconf import open_dict

    for group, keys in LATER_KEYS.items():
        if raw.get(group) is not None:
            known = _schema_keys(group, raw[group].get("name"))  # a plugin's schema may not have them
            with open_dict(raw[group]):
                for key, value in keys.items():
                    if known is None or key in known:
                        raw[group].setdefault(key, value)
    return raw


def _schema_keys(group: str, name) -> set | None:
    """The keys of the registered component `name` of `group`; None when it is not known (yet)."""
    from dataclasses import fields

    from dlx import plugins
    from dlx.registry import TABLES

    plugins.load()
    table = TABLES.get(group)
    if table is None or name is None or str(name) not in table:
        return None
    schema = table.get(str(name)).schema
    return {f.name for f in fields(schema)} if schema is not None else None


@dataclass
class Restored:
    """A trained model, in eval mode on the CPU, with everything needed to feed it raw inputs."""

    path: Path
    exp: Any  # the run's Experiment
    model: Any  # torch.nn.Module
    meta: dict  # the checkpoint's meta: preprocess, classes, input_shape, task, num_outputs
    checkpoint: str

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes") or [])

    @property
    def preprocess(self) -> dict:
        return self.meta.get("preprocess") or {}

    @property
    def run_id(self) -> str:
        return self.meta.get("run_id") or self.path.name

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

        out = torch.empty(x.shape[0], self.meta["num_outputs"])
        with torch.inference_mode():
            for i in range(0, x.shape[0], BATCH):  # written in place: no list of parts to concatenate
                out[i:i + BATCH] = self.model(x[i:i + BATCH])
        return out

    def predict(self, x_raw):
        """Raw inputs -> class probabilities (N, C) or values in the target's units (N, k)."""
        return to_scores(self.outputs(self.transform(x_raw)), self.task, self.preprocess)


def to_scores(out, task: str, preprocess: dict):
    """Logits -> probabilities (a single binary logit becomes two columns); regression -> values."""
    import torch

    if task == "regression":  # already in y's units: a data.scale_target model ends in out * std + mean
        return out.float()
    if out.shape[1] == 1:  # bce / hinge: one logit for the positive class
        p = torch.sigmoid(out.float())
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(out.float(), dim=1)


def checkpoint_file(path: Path, which: str) -> Path:
    if which not in ("best", "last"):
        raise ConfigError(f"--checkpoint {which}: choose best or last")
    file = path / "checkpoints" / f"{which}.pt"
    if not file.is_file():
        why = ("it was trained with trainer.checkpoint=false, or stopped before an epoch ended"
               if which == "best" else "it was trained with trainer.checkpoint=false")
        raise ConfigError(f"run {path.name} has no checkpoints/{which}.pt ({why}); train it again "
                          "with trainer.checkpoint=true")
    return file


def restore(path: Path, which: str = "best") -> Restored:
    """The run at `path` with its `which` (best | last) weights loaded."""
    from dlx import models
    from dlx.losses import build_loss
    from dlx.store.checkpoint import load_checkpoint

    path = Path(path)
    file = checkpoint_file(path, which)
    exp = read_config(path)
    state = load_checkpoint(file)
    meta = state.get("meta")
    if not isinstance(meta, dict) or "input_shape" not in meta or not isinstance(state.get("model"), dict):
        raise ConfigError(f"{file} has no model or meta: it was not written by this version of dlx; "
                          "train the run again")
    num_outputs = meta.get("num_outputs")
    if num_outputs is None and meta["task"] in ("seq2seq", "tagging", "language"):  # one output per token
        num_outputs = len(meta.get("classes") or [])
    if num_outputs is None:  # runs from before num_outputs was saved
        num_outputs = build_loss(exp.loss, meta["task"], len(meta.get("classes") or []), 1,
                                 exp.regularizer.label_smoothing).num_outputs
    reg = exp.regularizer
    prep = meta.get("preprocess") or {}
    model = models.build(exp.model, tuple(meta["input_shape"]), num_outputs, reg.dropout, reg.batchnorm,
                         vocab=models.vocab_of(prep), per_step=meta["task"] == "tagging")
    target = (meta.get("preprocess") or {}).get("target")
    if target is not None:  # data.scale_target: the trained model ends in out * std + mean (dlx.data.target)
        from dlx.data.target import ScaledOutput

        model = ScaledOutput(model, target["mean"], target["std"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ConfigError(f"{file} does not fit the model config.yaml describes ({str(e).splitlines()[0][:160]}); "
                          "was config.yaml edited?") from None
    model.eval()
    return Restored(path, exp, model, {**meta, "num_outputs": num_outputs}, which)
