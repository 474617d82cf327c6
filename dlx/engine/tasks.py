"""Tasks: what differs between kinds of learning problem; the trainer does the rest.

A `Task` owns what is trained (its modules, optimizers and schedules) and knows how a
batch reaches the device, what one training step is, which losses and metrics there are
and which is monitored by default, and how evaluation runs. The trainer's loop,
checkpoints, resume, signals, early stopping, best weights and the run store are shared
by every task. A task registers next to its code, for the data kinds it trains on:

    @TASKS.register("supervised", kinds=("multiclass", "binary", "regression"))
    class SupervisedTask(Task): ...

and `build_task(exp, bundle, device)` picks the one registered for `bundle.task`.

How a GAN would plug in (two models, two optimizers, one step that updates both):

    @TASKS.register("gan", kinds=("images-unlabelled",))
    class GanTask(Task):
        @classmethod
        def build(cls, exp, bundle, device):
            task = cls()
            task.generator, task.critic = build_generator(...), build_critic(...)
            task.model = torch.nn.ModuleDict({"generator": task.generator, "critic": task.critic})
            task.optimizers = {"generator": Adam(task.generator.parameters()),
                               "critic": Adam(task.critic.parameters())}
            task.schedules = {"generator": Schedule(), "critic": Schedule()}
            return task

        def metric_names(self):
            return ["loss", "critic_loss", "generator_loss"]

        def train_step(self, trainer, batch, metrics):
            real = batch[0]
            fake = self.generator(noise_like(real))
            d_loss = critic_loss(self.critic(real), self.critic(fake.detach()))
            self.optimizers["critic"].zero_grad(set_to_none=True)
            trainer.backward_and_step(d_loss, self.optimizers["critic"], self.critic)
            g_loss = generator_loss(self.critic(fake))
            self.optimizers["generator"].zero_grad(set_to_none=True)
            trainer.backward_and_step(g_loss, self.optimizers["generator"], self.generator)
            metrics.add_term("critic_loss", d_loss.item())
            ...
            return g_loss.item()  # checked for NaN by the trainer

With several optimizers, `Task.state_dict()` saves `{"optimizer": {"generator": ...,
"critic": ...}, "schedule": {...}}` and `load_state_dict` gives each its own back, so a
resumed GAN continues exactly like a classifier does. A VAE keeps one optimizer and
reports its two loss terms with `metrics.add_term("kl", ...)` / `add_term("recon", ...)`.
"""

from __future__ import annotations

from typing import Any

import torch

from dlx.errors import ConfigError
from dlx.registry import TASKS


class Task:
    """The interface the trainer calls; subclasses register with `@TASKS.register(name, kinds=...)`.

    Attributes set by `build`: `model` (one nn.Module holding every trained module: its
    state is the checkpoint's `model`, the best weights and what eval mode switches),
    `optimizers` and `schedules` (dicts by name), `batch_size` (training batches).
    """

    model: torch.nn.Module
    optimizers: dict[str, Any]
    schedules: dict[str, Any]
    batch_size: int
    optimizer: Any = None  # a one-optimizer task's optimizer: `trainer.backward_and_step(loss)` steps it
    kind: str = ""  # the data kind, e.g. multiclass

    @classmethod
    def build(cls, exp, bundle, device) -> "Task":
        """Everything this task trains for experiment `exp` on data `bundle`, on `device`."""
        raise NotImplementedError

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        """The validation metric to monitor when the user asked for `requested` (the config's)."""
        return requested

    # ------------------------------------------------------------ metrics

    def metric_names(self) -> list[str]:
        """Names of what `evaluate` reports (`val_<name>` can be trainer.monitor)."""
        raise NotImplementedError

    def train_metrics(self):
        """A fresh accumulator (dlx.metrics) for an epoch of training steps."""
        raise NotImplementedError

    def eval_metrics(self, keep_scores: bool = True):
        """A fresh accumulator for an evaluation; `keep_scores` for metrics that rank (AUC)."""
        raise NotImplementedError

    # ------------------------------------------------------------ steps

    def to_device(self, batch, device: torch.device):
        """A batch from a loader, on `device` (in-memory batches already live there)."""
        return tuple(t.to(device, non_blocking=True) for t in batch)

    def train_step(self, trainer, batch, metrics) -> float:
        """One training step on `batch`: forward, loss, `trainer.backward_and_step` per optimizer,
        `metrics.update` / `add_term`; return the main loss as a float (the trainer checks it)."""
        raise NotImplementedError

    def eval_step(self, trainer, batch, metrics) -> None:
        """Evaluate one batch (under torch.inference_mode) into `metrics`; decode or sample here."""
        raise NotImplementedError

    def callbacks(self, run) -> list:
        """Callbacks of this task's own (a GAN's sample pictures), given the run folder (a RunDir)."""
        return []

    # ------------------------------------------------------------ state

    def lr(self) -> float:
        """The learning rate shown in metrics rows: the first optimizer's first group."""
        return next(iter(self.optimizers.values())).param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": _states(self.optimizers),
                "schedule": _states(self.schedules)}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        _load_states(self.optimizers, state["optimizer"])
        _load_states(self.schedules, state["schedule"])


def _states(parts: dict) -> dict:
    """One part: its own state (the checkpoint format of a one-optimizer run); several: by name."""
    if len(parts) == 1:
        return next(iter(parts.values())).state_dict()
    return {name: part.state_dict() for name, part in parts.items()}


def _load_states(parts: dict, state: dict) -> None:
    if len(parts) == 1:
        next(iter(parts.values())).load_state_dict(state)
        return
    for name, part in parts.items():
        part.load_state_dict(state[name])


def task_class(kind: str, model: str | None = None) -> type[Task]:
    """The task registered for data of `kind` (a dataset's `task`: multiclass, regression, ...);
    a model registered with `task=NAME` (gnn, vae, gan) chooses its task, which must train on `kind`."""
    from dlx.registry import MODELS

    wanted = MODELS.get(model).meta.get("task") if model is not None and model in MODELS else None
    if wanted is not None:
        kinds = TASKS.get(wanted).meta.get("kinds", ())
        if kind not in kinds:
            why = TASKS.get(wanted).meta.get("why", "")
            raise ConfigError(f"model={model} does not train on {kind} data; it needs {' or '.join(kinds)} data"
                              f" ({_datasets_of(kinds)}){why}")
        return TASKS.get(wanted).builder
    for name in TASKS.names():
        entry = TASKS.get(name)
        if kind in entry.meta.get("kinds", ()) and not entry.meta.get("by_model"):
            return entry.builder
    known = sorted({k for n in TASKS.names() for k in TASKS.get(n).meta.get("kinds", ())})
    raise ConfigError(f"no task trains on '{kind}' data; tasks exist for: {', '.join(known)}")


def _datasets_of(kinds) -> str:
    from dlx.registry import DATASETS

    names = [n for n in DATASETS.names() if DATASETS.get(n).meta.get("task") in kinds]
    return "e.g. " + ", ".join(f"data={n}" for n in names[:4]) if names else "no built-in dataset"


def build_task(exp, bundle, device) -> Task:
    """The task for `bundle`'s kind of data (or `exp.model`'s own), with its model, loss,
    optimizers and schedules built."""
    task = task_class(bundle.task, exp.model.name).build(exp, bundle, device)
    task.kind = bundle.task
    return task


# the built-in tasks register on import
from dlx.engine import supervised  # noqa: E402,F401  (registers itself)
from dlx.engine import generative, graph  # noqa: E402,F401  (issue 17: gnn, autoencoder, vae, gan)
from dlx.engine import language, seq2seq, tagging  # noqa: E402,F401  (register: issue 16)
