"""`dlx train --resume RUN`: continue a stopped run in place, from its last checkpoint.

The run's own config.yaml is the experiment; overrides given with --resume may change
only the keys in SAFE_KEYS (how long to train and how to log, never what is trained).
A finished run (summary.json present) is not resumed: start a new run to train longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from dlx.engine.saved import fill_later_keys, read_raw
from dlx.errors import ConfigError
from dlx.store.rundir import RunDir
from dlx.store.runs import find_run, flatten

# keys that do not change what is trained, so a resumed run stays the same experiment
SAFE_KEYS = (
    "trainer.epochs",
    "trainer.num_threads",  # thread count: same maths; CPU sums may differ in the last bits
    "trainer.checkpoint_every_steps",
    "trainer.checkpoint_every_s",
    "trainer.tensorboard",
    "trainer.loggers",  # trackers (TensorBoard, MLflow) watch the run, never change it
    "trainer.devices",  # data-parallel processes: the same steps (sums in another order)
    "trainer.backend",
    "output_dir",  # where to find the run
)


@dataclass
class Resume:
    """A run to continue: its folder, the checkpoint state (None: none written yet), its file."""

    run: RunDir
    state: Optional[dict]
    source: Optional[Path]
    overrides: list[str]  # the run's first overrides, then those given with --resume

    @property
    def where(self) -> str:
        if self.state is None:
            return "the start (no checkpoint was written yet)"
        step = self.state["step"]
        epoch = self.state["epoch"]
        partial = self.state.get("epoch_in_progress")
        at = f"epoch {epoch + 1}, batch {partial['batches']}" if partial else f"the end of epoch {epoch}"
        return f"{self.source.parent.name}/{self.source.name}: {at} (step {step})"


def prepare(ref: str, overrides: list[str], warn: Callable[[str], None], lock: bool = True):
    """(Experiment, Resume) for `--resume ref`, or a ConfigError saying why not.

    `lock=False`: read only (a data-parallel rank other than 0, whose rank 0 holds the lock)."""
    from dlx import config
    from dlx.store.checkpoint import load_resume_state

    parsed = config.parse_overrides(overrides)
    for o in parsed:
        if o.is_sweep_override():
            raise ConfigError(f"'{o.input_line}' is a sweep; --resume takes one value per key")
    run = RunDir(locate(ref, parsed))
    check_resumable(run)
    saved = read_raw(run.path / "config.yaml", "this run cannot be resumed")
    load_run_plugins(saved, warn)  # first: their schemas say which later keys a component has
    saved = fill_later_keys(saved)  # runs saved before model.init_from etc.
    wanted = apply_overrides(saved, parsed)
    changed = diff_configs(saved, wanted)
    unsafe = [k for k in changed if k not in SAFE_KEYS]
    if unsafe:
        shown = ", ".join(f"{k} ({changed[k]})" for k in unsafe)
        raise ConfigError(f"cannot resume {run.id} with a different experiment: {shown} changed; only "
                          f"{', '.join(SAFE_KEYS)} may change on resume — start a new run with `dlx train` instead")
    exp = config.validate(wanted)
    if lock:
        run.lock()  # refused while another process still trains it
    try:
        if lock:
            run.remove_temp_files()  # what a kill left half-written
        state, source = load_resume_state([run.checkpoint_path("last"), run.checkpoint_path("last.prev")], warn)
        if state is not None and exp.trainer.epochs < state["epoch"]:
            raise ConfigError(f"trainer.epochs={exp.trainer.epochs} but {run.id} has already trained "
                              f"{state['epoch']} epochs; give trainer.epochs >= {state['epoch']}")
    except BaseException:
        run.unlock()
        raise
    if state is None:
        warn(f"{run.id} has no checkpoint ({_why_no_checkpoint(run, exp)}): training it again from the start")
    first = _read_overrides(run.path / "overrides.yaml")
    given = [o.input_line for o in parsed if _key(o) in changed]
    return exp, Resume(run, state, source, first + given)


def _why_no_checkpoint(run: RunDir, exp) -> str:
    """The true reason: no epoch had ended, or the epochs metrics.csv records lost their checkpoints."""
    if not exp.trainer.checkpoint:
        return "it was run with trainer.checkpoint=false"
    try:
        lines = (run.path / "metrics.csv").read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    epochs = max(0, len(lines) - 1)  # below the header
    if epochs == 0:
        return "it stopped during its first epoch"
    return (f"metrics.csv records {epochs} epoch{'s' * (epochs != 1)}, but checkpoints/last.pt and "
            "last.prev.pt are missing or unreadable")


def load_run_plugins(saved, warn: Callable[[str], None]) -> None:
    """The plugins config.yaml records (missing: one line; changed: a warning, and the checkpoint
    decides whether the architecture still loads)."""
    from omegaconf import OmegaConf

    from dlx import plugins

    recorded = saved.get("plugins") if hasattr(saved, "get") else None
    if recorded:
        plugins.load_recorded(OmegaConf.to_container(recorded), warn)


def locate(ref: str, parsed) -> Path:
    """A run folder given as a path, or found by id / prefix / suffix / `last` in output_dir."""
    if not ref.strip():
        raise ConfigError("--resume needs a run: an id, a unique part of one, a run folder or 'last'")
    path = Path(ref)
    if (path / "config.yaml").is_file():
        return path
    output_dir = next((str(o.value()) for o in parsed if o.key_or_group == "output_dir"), None)
    if output_dir is None:
        from omegaconf import OmegaConf

        from dlx.config import conf_dir

        output_dir = str(OmegaConf.load(conf_dir() / "config.yaml").get("output_dir") or "outputs")
    path = find_run(Path(output_dir), ref)
    if not (path / "config.yaml").is_file():
        raise ConfigError(f"{path} has no config.yaml: not a run dlx can resume")
    return path


def check_resumable(run: RunDir) -> None:
    from dlx.store.runs import read_summary

    summary = read_summary(run.path)
    if summary is not None:
        epochs = summary.get("epochs_run", "?")
        raise ConfigError(f"run {run.id} already finished ({epochs} epochs; summary.json exists): nothing to "
                          "resume — start a new run with `dlx train` to train more")


def apply_overrides(saved, parsed):
    """A copy of the saved config with Hydra overrides applied (`model=cnn` reads as model.name)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(OmegaConf.to_container(saved))
    for o in parsed:
        key = _key(o)
        if o.is_delete():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(cfg, parent) if parent else cfg
            if node is None or leaf not in node:
                raise ConfigError(f"cannot delete '{key}': no such key")
            node.pop(leaf)
        else:
            OmegaConf.update(cfg, key, o.value(), merge=False, force_add=True)
    return cfg


def _key(o) -> str:
    from dlx.config import GROUPS

    if o.key_or_group in GROUPS and "." not in o.key_or_group:  # a group choice: model=cnn
        return f"{o.key_or_group}.name"
    return o.key_or_group


def diff_configs(a, b) -> dict[str, str]:
    """{dotted key: 'old → new'} for every leaf that differs, was added or was removed."""
    from omegaconf import OmegaConf

    left = flatten(OmegaConf.to_container(a), lists_as_text=False)
    right = flatten(OmegaConf.to_container(b), lists_as_text=False)
    missing = object()
    changes = {}
    for key in sorted(set(left) | set(right)):
        old, new = left.get(key, missing), right.get(key, missing)
        if old != new or isinstance(old, bool) != isinstance(new, bool):
            changes[key] = " → ".join("absent" if v is missing else repr(v) for v in (old, new))
    return changes


def _read_overrides(path: Path) -> list[str]:
    from omegaconf import OmegaConf

    try:
        return [str(o) for o in OmegaConf.to_container(OmegaConf.load(path))]
    except Exception:
        return []


def resume_command(run: RunDir, output_dir: str) -> str:
    """The command line that continues `run`, quoted to paste into a shell as is."""
    return resume_hint("train", run.id, output_dir)


DEFAULT_OUTPUT_DIRS = ("outputs", "outputs/", "./outputs")
_HYDRA_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./~+@%: ")


def resume_hint(command: str, ref: str, output_dir) -> str:
    """`dlx <command> --resume <ref> [output_dir=...]` for train, sweep and cv: shell-quoted
    (a path with spaces is one argument), and the value Hydra-quoted where its grammar needs it
    (a comma would read as a sweep)."""
    import shlex

    args = ["dlx", command, "--resume", str(ref)]
    if str(output_dir) not in DEFAULT_OUTPUT_DIRS:
        value = str(output_dir)
        if not set(value) <= _HYDRA_PLAIN:
            value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        args.append(f"output_dir={value}")
    return shlex.join(args)
