"""`run(exp) -> summary`: the one path that `train`, `sweep` and `cv` all take.

Build data, model, loss, optimizer, schedule and regulariser from a validated
`Experiment`; fit; evaluate the best weights on the test split; write the run.
"""

from __future__ import annotations

import time
from pathlib import Path

from dlx import testhooks
from dlx.config import Experiment
from dlx.errors import ConfigError, Interrupted, RunError
from dlx.store.rundir import RunDir
from dlx.store.runs import RUNS


def label_for(exp: Experiment) -> str:
    return exp.name or f"{exp.model.name}-{exp.optim.name}-{exp.data.name}"


class RunWriter:
    """Trainer callback that keeps the run folder current after every epoch."""

    def __init__(self, run: RunDir, checkpoint: bool, meta: dict):
        self.run, self.checkpoint, self.meta = run, checkpoint, meta

    def on_epoch_end(self, trainer, row: dict) -> None:
        self.run.write_metrics(trainer.history)
        self.run.log("  ".join(f"{k}={_fmt(v)}" for k, v in row.items()))
        testhooks.pause("epoch-end")
        if self.checkpoint:
            self.run.save_checkpoint("last", {**trainer.state_dict(), "meta": self.meta})

    def on_step_checkpoint(self, trainer, _row) -> None:
        if self.checkpoint:
            self.run.save_checkpoint("last", {**trainer.state_dict(), "meta": self.meta})

    def on_improved(self, trainer, row: dict) -> None:
        if self.checkpoint:
            self.run.save_checkpoint("best", {"model": trainer.best_state, "epoch": trainer.epoch,
                                              "value": trainer.best_value, "meta": self.meta})


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def setup_torch(exp: Experiment):
    """Threads, seeds and determinism; returns the device."""
    import torch

    from dlx.engine.trainer import resolve_device, seed_everything

    if exp.trainer.num_threads:
        torch.set_num_threads(exp.trainer.num_threads)
    seed_everything(exp.trainer.seed, exp.trainer.deterministic)
    return resolve_device(exp.trainer.device)


def build_parts(exp: Experiment, bundle, device):
    """Model, loss, optimizer, schedule, penalty for this data: nothing trained yet."""
    from dlx import models
    from dlx.losses import build_loss
    from dlx.optim.optimizers import build_optimizer, build_schedule
    from dlx.registry import OPTIMIZERS
    from dlx.regularize import build_penalty

    reg = exp.regularizer
    loss = build_loss(exp.loss, bundle.task, bundle.num_classes, bundle.num_targets, reg.label_smoothing)
    model = models.build(exp.model, bundle.input_shape, loss.num_outputs, reg.dropout, reg.batchnorm).to(device)
    optimizer = build_optimizer(exp.optim, model.parameters(), reg.decoupled_weight_decay)
    meta = OPTIMIZERS.get(exp.optim.name).meta
    batch_size = len(bundle.train) if meta.get("full_batch") else exp.trainer.batch_size
    steps = max(1, -(-len(bundle.train) // batch_size))
    schedule = build_schedule(exp.scheduler, optimizer, epochs=exp.trainer.epochs, steps_per_epoch=steps,
                              mode=exp.trainer.mode)
    return model, loss, optimizer, schedule, build_penalty(reg, model), batch_size, meta


def run(exp: Experiment, overrides=(), callbacks=(), runs_root: Path | None = None,
        run_path: Path | None = None, evaluate_test: bool = True, resume=None) -> dict:
    """Train and evaluate `exp`; write `outputs/runs/<id>/`; return the summary dict.

    `runs_root` puts the run folder elsewhere (a sweep's `runs/`); `run_path` names the
    folder exactly (a CV fold's `fold-<k>/`). `evaluate_test=False` leaves the test split
    untouched (CV folds: the test split is evaluated once, by the refit, or never).
    `resume` (a `dlx.engine.resume.Resume`) continues that run in place from its checkpoint.
    """
    import torch

    from dlx import data
    from dlx.engine.signals import stop_on_signals
    from dlx.data.loaders import bundle_batches
    from dlx.models import count_parameters
    from dlx.report.tensorboard import attach_tensorboard
    from dlx.engine.trainer import StopRequested, Trainer

    started = time.time()
    tensorboard = attach_tensorboard(exp)  # None unless trainer.tensorboard=true; checks the extra first
    device = setup_torch(exp)
    bundle = data.build(exp.data)
    exp = _monitor_for_task(exp, bundle.task)
    model, loss, optimizer, schedule, penalty, batch_size, meta = build_parts(exp, bundle, device)
    _check_monitor(exp, bundle, loss.num_outputs)

    shuffle = torch.Generator().manual_seed(exp.trainer.seed)
    # tensors on the device (augmented per batch when data.augment asks), or a DataLoader for files
    train_batches, val_batches, test_batches = bundle_batches(bundle, device, batch_size,
                                                              exp.trainer.eval_batch_size, shuffle)

    root = Path(runs_root) if runs_root is not None else Path(exp.output_dir) / RUNS
    if resume is not None:
        run_dir, overrides = resume.run, resume.overrides
    else:
        run_dir = RunDir.at(Path(run_path)) if run_path is not None else RunDir.create(root, label_for(exp))
    run_dir.lock()
    run_dir.write_yaml("config.yaml", exp.raw)
    run_dir.write_yaml("overrides.yaml", list(overrides))
    run_dir.write_status("running")
    callbacks = [*callbacks, tensorboard.open(run_dir.path)] if tensorboard else callbacks
    params = count_parameters(model)
    ckpt_meta = {"run_id": run_dir.id, "preprocess": bundle.preprocess, "classes": bundle.classes,
                 "input_shape": list(bundle.input_shape), "task": bundle.task}
    trainer = Trainer(
        exp.trainer, model, loss, optimizer, schedule, task=bundle.task, num_outputs=loss.num_outputs,
        device=device, penalty=penalty, clip_grad_norm=exp.regularizer.clip_grad_norm,
        early_stopping=exp.regularizer.early_stopping, shuffle_generator=shuffle,
        callbacks=[RunWriter(run_dir, exp.trainer.checkpoint, ckpt_meta), *callbacks],
        closure=bool(meta.get("closure")),
    )
    if resume is not None:
        continue_from(trainer, resume, run_dir)
    for cb in callbacks:
        if hasattr(cb, "on_fit_start"):
            cb.on_fit_start(run_dir, exp, params)
    try:
        with stop_on_signals(trainer):
            trainer.fit(train_batches, val_batches)
            trainer.restore_best()
            test_metrics = trainer.evaluate(test_batches) if evaluate_test else {}
    except (StopRequested, KeyboardInterrupt, RunError, torch.OutOfMemoryError) as e:
        failure = stopped(e, exp, run_dir, trainer, ckpt_meta, batch_size)
        run_dir.unlock()
        raise failure from None
    except BaseException:  # a bug: keep its traceback, release the run
        run_dir.unlock()
        raise
    last = trainer.history[-1]
    summary = {
        "run_id": run_dir.id,
        "status": "finished",
        "model": exp.model.name,
        "optim": exp.optim.name,
        "scheduler": exp.scheduler.name,
        "regularizer": exp.regularizer.name,
        "data": exp.data.name,
        "task": bundle.task,
        "epochs_run": trainer.epoch,
        "best_epoch": trainer.best_epoch,
        "stopped_early": trainer.stopped_early,
        "monitor": exp.trainer.monitor,
        "best_value": trainer.best_value,
        **{k: v for k, v in last.items() if k.startswith(("train_", "val_"))},
        **{f"test_{k}": v for k, v in test_metrics.items()},
        "params": params,
        "train_size": len(bundle.train),
        "val_size": len(bundle.val),
        "test_size": len(bundle.test),
        "duration_s": round(time.time() - started, 3),
        "device": str(device),
        "path": str(run_dir.path),
    }
    testhooks.pause("summary")
    run_dir.write_status("finished")
    run_dir.write_summary(summary)  # last: its presence means "finished"
    run_dir.unlock()
    if tensorboard:
        tensorboard.close(summary)
    return summary


def monitor_for(exp: Experiment, task: str) -> str:
    """trainer.monitor as the run reads it: `auto` is val_acc for classes, val_loss for regression."""
    return resolve_monitor(exp.trainer.monitor, task)


def resolve_monitor(monitor: str, task: str) -> str:
    if monitor == "auto":
        return "val_loss" if task == "regression" else "val_acc"
    return monitor


def _monitor_for_task(exp: Experiment, task: str) -> Experiment:
    """Resolve trainer.monitor=auto; config.yaml records the resolved value, as summary.json does."""
    from dataclasses import replace

    monitor = monitor_for(exp, task)
    if monitor == exp.trainer.monitor:
        return exp
    exp.raw.trainer.monitor = monitor
    return replace(exp, trainer=replace(exp.trainer, monitor=monitor))


def continue_from(trainer, resume, run_dir: RunDir) -> None:
    """Load a resumed run's checkpoint into `trainer` (nothing to load: it starts over)."""
    if resume.state is not None:
        try:
            trainer.load_state_dict(resume.state)
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise RunError(f"{resume.source} does not fit this run's model and optimizer ({first}); "
                           "was config.yaml edited? start a new run with `dlx train`") from None
    run_dir.log(f"resumed from {resume.where}")


def stopped(error: BaseException, exp: Experiment, run_dir: RunDir, trainer, meta: dict,
            batch_size: int) -> Exception:
    """Record why training stopped (status.json, log.txt, last.pt) and return the error to raise.

    A signal handled between steps saves last.pt (a whole state) and the run can be resumed;
    a second Ctrl-C abandons the step, so the last whole checkpoint on disk stays the one.
    """
    import signal

    import torch

    from dlx.engine.resume import resume_command
    from dlx.engine.trainer import Divergence, StopRequested

    where = trainer.position()
    if isinstance(error, (StopRequested, KeyboardInterrupt)):
        signum = error.signum if isinstance(error, StopRequested) else signal.SIGINT
        name = signal.Signals(signum).name
        saved = ""
        if isinstance(error, StopRequested) and exp.trainer.checkpoint:
            run_dir.save_checkpoint("last", {**trainer.state_dict(), "meta": meta})
            saved = ", last.pt saved"
        run_dir.write_status("interrupted", signal=name, **where)
        run_dir.log(f"interrupted by {name} at epoch {where['epoch']}, step {where['step']}")
        command = resume_command(run_dir, exp.output_dir)
        return Interrupted(f"{name} at epoch {where['epoch']}, step {where['step']}{saved}; "
                           f"resume with: {command}", 128 + int(signum))
    if isinstance(error, torch.OutOfMemoryError):
        error = RunError(f"out of memory on {trainer.device} at epoch {where['epoch']}, step {where['step']} "
                         f"with trainer.batch_size={batch_size}: try trainer.batch_size={max(1, batch_size // 2)}, "
                         "trainer.precision=bf16 or a smaller model")
    if isinstance(error, Divergence):
        where = {"epoch": error.epoch, "step": error.step}
    try:  # best effort: on a full disk this write can fail too
        run_dir.write_status("failed", reason=str(error), **where)
        run_dir.log(f"failed: {error}")
    except RunError:
        pass
    return error


def _check_monitor(exp: Experiment, bundle, num_outputs: int) -> None:
    from dlx.metrics import metric_names

    valid = [f"val_{m}" for m in metric_names(bundle.task, num_outputs)]
    if exp.trainer.monitor not in valid:
        raise ConfigError(f"trainer.monitor={exp.trainer.monitor} is not measured on {bundle.task} data; "
                          f"choose one of: {', '.join(valid)}")
