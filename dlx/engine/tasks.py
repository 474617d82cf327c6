"""Tasks: what differs between kinds of learning problem; the trainer does the rest.

A `Task` owns what is trained (its modules, optimizers and schedules) and knows how a
batch reaches the device, what one training step is, which losses and metrics there are
and which is monitored by default, and how evaluation runs. The trainer's loop,
checkpoints, resume, signals, early stopping, best weights and the run store are shared
by every task. A task registers next to its code, for the data kinds it trains on:

    @TASKS.register("supervised", kinds=("multiclass", "binary", "regression"))
    class SupervisedTask(Task): ...

and `build_task(exp, bundle, device)` picks the one registered for `bundle.kind`.

A task also owns its problem after training, and its batches: `batches` gives the trainer its
batch sources (the default: the bundle's tensor splits); `build_model` / `for_inference` restore
a run to its task (dlx.use.restore, no optimizers); `evaluate_run`, `predict_rows`, `sample`,
`split_scores` answer `dlx eval`, `predict`, `sample` and `ensemble`, or refuse in the task's own
words. `OneModelTask` holds the step every one-model task shares.

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

from contextlib import nullcontext
from typing import Any

import torch

from dlx.errors import ConfigError, DataError
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
    loop_checkpoints = True  # the run writer keeps best.pt / last.pt (a fitted estimator saves its own file)

    @classmethod
    def build(cls, exp, bundle, device) -> "Task":
        """Everything this task trains for experiment `exp` on data `bundle`, on `device`."""
        raise NotImplementedError

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        """The validation metric to monitor when the user asked for `requested` (the config's)."""
        return requested

    @classmethod
    def check_trainer(cls, exp) -> None:
        """Refuse, in this task's words, trainer settings it cannot honour (called before data-parallel
        ranks are launched, so the refusal is one line from the command, and again by `build`)."""

    # ------------------------------------------------------------ metrics

    @classmethod
    def metric_names_for(cls, bundle) -> list[str]:
        """What `metric_names()` gives on `bundle`, before the task is built (a sweep's check)."""
        from dlx.metrics import metric_names

        return metric_names(bundle.kind, bundle.num_targets if bundle.kind == "regression" else bundle.num_classes)

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


    # ------------------------------------------------------------ batches

    def batches(self, bundle, device, generator, *, eval_batch_size: int, min_batch: int = 1, shard=(0, 1)):
        """(train, val, test) batch sources for the trainer; the default cuts the bundle's tensor
        splits (dlx.data.loaders). A task whose unit is not a tensor split returns its own: see
        docs/architecture.md for what a source must give for exact mid-epoch resume."""
        from dlx.data.loaders import bundle_batches

        return bundle_batches(bundle, device, self.batch_size, eval_batch_size, generator, min_batch=min_batch,
                              shard=shard)

    # ------------------------------------------------------------ after training

    @classmethod
    def build_model(cls, exp, meta, device=None):
        """The model this task trains, for run config `exp` and checkpoint `meta` (a CheckpointMeta):
        what training built, so a restored run's weights fit it."""
        from dlx import models
        from dlx.engine.parts import model_for

        model = model_for(exp, meta.input_shape, cls.outputs_of(exp, meta), device,
                          vocab=models.vocab_of(meta.preprocess))
        target = meta.preprocess.get("target")
        if target is not None:  # data.scale_target: the trained model ends in out * std + mean
            from dlx.data.target import ScaledOutput

            model = ScaledOutput(model, target["mean"], target["std"])
        return model

    @classmethod
    def outputs_of(cls, exp, meta) -> int:
        """The model's outputs: the saved count, else what the run's loss gives (older runs)."""
        if meta.num_outputs is not None:
            return meta.num_outputs
        from dlx.losses import build_loss

        return build_loss(exp.loss, meta.kind, len(meta.classes), 1, exp.regularizer.label_smoothing).num_outputs

    @classmethod
    def for_inference(cls, exp, meta, model) -> "Task":
        """This task around a restored `model` (eval mode): its loss, metrics and decoding, no optimizers."""
        raise ConfigError(f"a {cls.__name__} run cannot be restored for inference")

    def evaluate_run(self, run, overrides: list[str], split: str) -> dict:
        """`dlx eval`: the report of this task on a split. `run` (dlx.use.restore.Restored) reads
        the split (`run.load_split(overrides, split)`); the default runs `eval_step` over it."""
        data = run.load_split(overrides, split)
        if len(data.y) == 0:
            raise DataError(f"the {data.name} split is empty: nothing to evaluate (try --split all)")
        metrics = self.evaluate_tensors(run, data)
        return {"run_id": run.run_id, "name": data.name, "checkpoint": run.checkpoint, "task": run.kind,
                "size": int(len(data.y)), "metrics": metrics}

    def evaluate_tensors(self, run, data, batch: int = 1024) -> dict:
        """The training loop's metrics of `data` (a split with raw x, y), in batches, without gradients."""
        metrics = self.eval_metrics()
        x = data.x if self.reads_tokens else run.transform(data.x)  # token ids are used as they are
        with torch.inference_mode():
            for i in range(0, len(data.y), batch):
                self.eval_step(NO_AUTOCAST, (x[i:i + batch], data.y[i:i + batch]), metrics)
        return metrics.compute()

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        """`dlx predict`: the output rows (pandas frames) for INPUT `source` or a split."""
        raise ConfigError(f"run {run.path.name} is model={run.exp.model.name}, which predicts no labels")

    def split_scores(self, run, split: str = "test"):
        """`dlx ensemble`: (scores (N, C) probabilities or (N, k) values, targets (N,), the split's
        positions) of a split, for combining with other runs' scores."""
        raise ConfigError(f"run {run.path.name} ({run.kind} data) gives no class probabilities or values to "
                          "combine; dlx ensemble takes classification and regression runs")

    def sample(self, n: int, generator):
        """`dlx sample`: n draws from a generative model, in the model's units."""
        raise ConfigError(f"model={self.exp.model.name} does not generate samples; `dlx sample` needs a generative "
                          "run: model=vae, autoencoder or gan")

    reads_tokens = False  # inputs are token ids (seq2seq, tagging, language)
    describable = False  # `dlx models show` can summarise this task's model (see `describe`)

    @classmethod
    def describe(cls, exp, bundle):
        """`dlx models show`: (the model this task builds for `bundle`, example inputs or None for zeros)."""
        raise ConfigError(f"`dlx models show` cannot summarise model={exp.model.name} yet ({bundle.kind} data); "
                          "`dlx train` prints its parameter count")

    def export_module(self):
        """The module `dlx export` writes, when this task has its own (an agent's policy network);
        None: the model between the run's preprocessing and its probabilities (dlx.use.export)."""
        return None

    def evaluate_episodes(self, run, episodes: int) -> dict:
        """`dlx eval RUN --episodes N`: an agent's N episodes; other tasks score splits."""
        raise ConfigError(f"--episodes runs an agent in its environment; run {run.run_id} is model="
                          f"{run.exp.model.name} on {run.kind} data: use --split")

    def exportable(self, run) -> None:
        """Raise, in this task's words, when `dlx export` cannot write this run."""
        if getattr(self.model, "fits_estimator", False):
            raise ConfigError(f"run {run.run_id} is model={run.exp.model.name}, a fitted scikit-learn estimator: "
                              "TorchScript and ONNX hold tensor graphs only; use dlx predict RUN on it")
        if self.reads_tokens or "vocab" in run.preprocess:
            raise ConfigError(f"run {run.run_id} reads token sequences ({run.kind} data); dlx export writes "
                              "models of real-valued inputs only; use dlx predict RUN on it")


class _NoAutocast:
    """What a task's eval_step asks of the trainer outside training: no mixed precision."""

    autocast = staticmethod(nullcontext)


NO_AUTOCAST = _NoAutocast()


class OneModelTask(Task):
    """One model, one loss, one optimizer: the shared step. Subclasses give `forward(batch) ->
    (outputs, target)`, and `record` where their metrics take something else than the outputs."""

    penalty = None  # a regulariser's extra loss term (supervised)

    def __init__(self, model, optimizer, schedule, *, loss=None, batch_size: int = 0):
        self.model, self.loss, self.batch_size = model, loss, batch_size
        self.optimizer = optimizer  # the hot loop reads it once per step
        self.optimizers = {"model": optimizer} if optimizer is not None else {}
        self.schedules = {"model": schedule} if schedule is not None else {}

    def forward(self, batch) -> tuple[torch.Tensor, Any]:
        """(outputs, target) of a batch; the default: (model(x), y)."""
        x, y = batch
        return self.model(x), y

    def loss_of(self, out, target) -> torch.Tensor:
        return self.loss(out, target)

    def record(self, metrics, out, target, value: float, training: bool) -> None:
        """Add a batch to `metrics` (`out` without its graph when training)."""
        metrics.update(out.detach() if training else out.float(), target, value)

    def train_step(self, trainer, batch, metrics) -> float:
        with trainer.autocast():
            out, target = self.forward(batch)
            loss = self.loss_of(out, target)
            pen = self.penalty() if self.penalty is not None else None
            total = loss + pen if pen is not None else loss
        self.optimizer.zero_grad(set_to_none=True)
        trainer.backward_and_step(total)
        value = loss.item()  # one sync per step, as any hand-written loop's `loss.item()`
        self.record(metrics, out, target, value, True)
        if pen is not None:
            metrics.add_term("penalty", float(pen.detach()))  # the penalty keeps its graph for backward
        return value

    def eval_step(self, trainer, batch, metrics) -> None:
        with trainer.autocast():
            out, target = self.forward(batch)
            loss = self.loss_of(out, target)
        self.record(metrics, out, target, loss.item(), False)


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

    load_builtin()
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


def check_before_launch(exp) -> None:
    """`trainer.devices=N`: the task of `exp`'s data (when its dataset declares its kind) checks the
    trainer settings before N processes start, each of which would refuse them alone."""
    from dlx.registry import DATASETS

    load_builtin()
    kind = DATASETS.get(exp.data.name).meta.get("task") if exp.data.name in DATASETS else None
    if kind in {k for name in TASKS.names() for k in TASKS.get(name).meta.get("kinds", ())}:  # not "inferred"
        task_class(kind, exp.model.name).check_trainer(exp)


def build_task(exp, bundle, device) -> Task:
    """The task for `bundle`'s kind of data (or `exp.model`'s own), with its model, loss,
    optimizers and schedules built."""
    task = task_class(bundle.kind, exp.model.name).build(exp, bundle, device)
    task.kind = bundle.kind
    return task


BUILTIN = ("supervised", "generative", "graph", "language", "seq2seq", "tagging", "estimator", "rl.task")  # dlx.engine.<name> register


def load_builtin() -> None:
    """Register the built-in tasks (their modules import this one, so it cannot import them at its top)."""
    import importlib

    for name in BUILTIN:
        importlib.import_module(f"dlx.engine.{name}")
