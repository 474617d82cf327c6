"""`run(exp) -> RunSummary`: the one path that `train`, `sweep` and `cv` all take.

Build data and the task (model, loss, optimizer, schedule, regulariser) from a validated
`Experiment`; fit with the trainer and its callbacks; evaluate the best weights on the
test split; write the run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from dlx import heap, testhooks
from dlx.config import Experiment
from dlx.engine import monitor
from dlx.engine.callbacks import BestWeights, EarlyStopping, FitContext
from dlx.engine.parts import build_parts  # noqa: F401  (re-exported: tests)
from dlx.engine.records import CheckpointMeta
from dlx.engine.runfolder import Clock, RunWriter, label_for, open_run, setup_torch  # noqa: F401  (re-exported)
from dlx.engine.stops import continue_from, stopped  # noqa: F401  (re-exported)
from dlx.errors import ConfigError, DataError, RunError
from dlx.store.files import missing_as_null
from dlx.store.rundir import RunDir
from dlx.store.summary import RunSummary


log = logging.getLogger(__name__)


def watchers(exp: Experiment) -> tuple[BestWeights, EarlyStopping | None]:
    """The callbacks that choose the kept weights and when to stop, from trainer and regularizer."""
    stopping = exp.regularizer.early_stopping
    best = BestWeights(exp.trainer.monitor, exp.trainer.mode, stopping.min_delta)
    early = EarlyStopping(exp.trainer.monitor, exp.trainer.mode, stopping.patience, stopping.min_delta) \
        if stopping.patience else None
    return best, early

def min_batch_for(model, batch_size: int) -> int:
    """2 for a model with BatchNorm1d (one sample has no batch statistics in training), else 1."""
    import torch

    if not any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()):
        return 1
    if batch_size < 2:
        raise ConfigError(f"batch norm cannot train on batches of {batch_size} sample: set trainer.batch_size "
                          ">= 2, or turn batch norm off (regularizer.batchnorm=false / model.batchnorm=false)")
    return 2


def run(exp: Experiment, overrides=(), callbacks=(), runs_root: Path | None = None,
        run_path: Path | None = None, evaluate_test: bool = True, resume=None,
        resample: Callable | None = None, say: Callable[[str], None] | None = None) -> RunSummary:
    """Train and evaluate `exp`; write `outputs/runs/<id>/`; return its summary.

    `runs_root` puts the run folder elsewhere (a sweep's `runs/`); `run_path` names the
    folder exactly (a CV fold's `fold-<k>/`). `evaluate_test=False` leaves the test split
    untouched (CV folds: the test split is evaluated once, by the refit, or never).
    `resume` (a `dlx.engine.resume.Resume`) continues that run in place from its checkpoint.
    `callbacks` (dlx.engine.callbacks.Callback) watch the trainer, after dlx's own.
    `resample(bundle) -> (bundle, note)` replaces the data before training (`dlx bag`'s bootstrap
    sample; the note goes to log.txt). `say` prints the diagnostics' verdicts (the overfit check);
    their warnings go to the `logging` module.
    """
    started = time.time()
    try:
        with heap.setting_up():  # imports, data, model: no garbage collection (dlx/heap.py)
            exp, bundle, trainer, batches, run_dir, params, device = set_up(
                exp, overrides, callbacks, runs_root, run_path, resume, resample, say)
        test_metrics = fit_and_test(exp, trainer, batches, run_dir, evaluate_test)
        params = getattr(trainer.task, "fitted_params", params)  # a fitted estimator: known after its fit
        summary = summarize(exp, bundle, trainer, test_metrics, params=params, device=device,
                            path=run_dir.path, duration=time.time() - started + trainer.callbacks.find(Clock).before)
        testhooks.pause("summary")
        run_dir.write_status("finished")
        run_dir.write_summary(summary.to_json())  # last: its presence means "finished"
        run_dir.unlock()
        trainer.callbacks.emit("on_fit_end", trainer, summary)
        return summary
    finally:
        heap.run_ended()  # later set-ups in this process are not frozen (dlx/heap.py)


def set_up(exp: Experiment, overrides, callbacks, runs_root, run_path, resume, resample=None, say=None):
    """Everything before the first step: data, task (model, loss, optimizer), batches, the run
    folder and the trainer with its callbacks (a resumed run's state loaded)."""
    import torch

    from dlx import data
    from dlx.engine import distributed
    from dlx.engine.runtime import apply_threads
    from dlx.engine.tasks import build_task
    from dlx.models import count_parameters
    from dlx.engine.mlflow_logger import attach_mlflow
    from dlx.engine.tensorboard import attach_tensorboard

    tensorboard = attach_tensorboard(exp)  # None unless trainer.loggers lists it; checks the extra first
    trackers = list(filter(None, [attach_mlflow(exp)]))  # rank 0: its worker process starts loading now
    rank, device = distributed.start(exp.trainer, setup_torch(exp))  # rank: None unless data-parallel
    bundle, origin = data.build(exp.data), None
    if resample is not None:  # bagging (dlx/use/bag.py): a bootstrap sample of the training rows
        bundle, origin = resample(bundle)
    exp = monitor.for_task(exp, bundle.kind)
    task = build_task(exp, bundle, device)
    monitor.check(exp, task)
    if exp.trainer.overfit_batches:
        from dlx.engine.sanity import overfit_bundle

        bundle = overfit_bundle(bundle, exp.trainer.overfit_batches, task.batch_size)
    params, note = count_parameters(task.model), getattr(task.model, "transfer_note", None)
    task.model = distributed.wrap_model(task.model, exp.trainer, rank, device)  # channels_last, sync_bn, compile, DDP
    shuffle = torch.Generator().manual_seed(exp.trainer.seed)
    # the task's batch sources: by default tensors on the device (augmented per batch when
    # data.augment asks), or a DataLoader for files
    batches = task.batches(bundle, device, shuffle, eval_batch_size=exp.trainer.eval_batch_size,
                           min_batch=min_batch_for(task.model, task.batch_size), shard=distributed.shard(rank))
    run_dir, overrides = open_run(exp, overrides, runs_root, run_path, resume, rank)
    threads = apply_threads(exp.trainer.num_threads, params)  # auto: chosen now the model's size is known
    for line in (threads, note, origin):  # what model.init_from loaded and froze; a bagging member's sample
        if line:
            run_dir.log(line)
    callbacks = list(callbacks)
    if tensorboard and distributed.is_main_process():
        callbacks.append(tensorboard.open(run_dir.path))
    callbacks += trackers
    trainer = make_trainer(exp, task, bundle, run_dir, device, shuffle, callbacks, say)
    trainer.metric_sync = distributed.sum_metrics if rank is not None else None
    if resume is not None:
        continue_from(trainer, resume, run_dir)
    trainer.callbacks.emit("on_fit_start", trainer, FitContext(run_dir, exp, params, resume.where if resume else None))
    return exp, bundle, trainer, batches, run_dir, params, device


def make_trainer(exp: Experiment, task, bundle, run_dir: RunDir, device, shuffle, callbacks, say=None):
    """The trainer, with dlx's callbacks first (the clock over sessions, best weights, early stopping,
    the run writer), then the caller's."""
    from dlx.engine.trainer import Trainer

    best, early = watchers(exp)
    # what dlx/use/restore.py rebuilds the run's Task from
    meta = CheckpointMeta.of(run_dir.id, bundle, getattr(task, "num_outputs", None)).to_dict()
    writer = RunWriter(run_dir, exp.trainer.checkpoint and task.loop_checkpoints, meta, exp.trainer.checkpoint_every_s)
    checks = []  # trainer.watch / profile / overfit_batches: after the writer, whose checkpoints are timed
    if exp.trainer.watch != "none" or exp.trainer.profile or exp.trainer.overfit_batches:
        from dlx.engine.sanity import diagnostics

        checks = diagnostics(exp, log.warning, say)
    trainer = Trainer(exp.trainer, task, device=device, clip_grad_norm=exp.regularizer.clip_grad_norm,
                      shuffle_generator=shuffle, callbacks=[Clock(), best, *filter(None, [early]), writer, *checks,
                                                          *task.callbacks(run_dir), *callbacks])
    return trainer


def fit_and_test(exp: Experiment, trainer, batches, run_dir: RunDir, evaluate_test: bool) -> dict:
    """Fit, put the best weights back, evaluate the test split; a stop or failure is recorded
    in the run folder and raised as the one-line error the user sees."""
    import torch

    from dlx.engine import distributed
    from dlx.engine.signals import stop_on_signals
    from dlx.engine.trainer import StopRequested

    train, val, test = batches
    try:
        with stop_on_signals(trainer):
            trainer.fit(train, val)
            trainer.callbacks.find(BestWeights).restore(trainer.model)
            test_metrics = trainer.evaluate(test) if evaluate_test else {}
            run_dir.flush()  # the last checkpoint on disk (a write error fails the run here)
            return test_metrics
    except (StopRequested, KeyboardInterrupt, RunError, DataError, torch.OutOfMemoryError,
            *distributed.peer_errors()) as e:
        failure = stopped(e, exp, run_dir, trainer)
        run_dir.unlock()
        trainer.callbacks.emit("on_fit_end", trainer, None)
        raise failure from None
    except BaseException:  # a bug: keep its traceback, release the run
        run_dir.unlock()
        raise


def summarize(exp: Experiment, bundle, trainer, test_metrics: dict, *, params: int, device, path: Path,
              duration: float) -> RunSummary:
    last = trainer.history[-1]
    best, early = trainer.callbacks.find(BestWeights), trainer.callbacks.find(EarlyStopping)
    return RunSummary(
        run_id=Path(path).name, status="finished", model=exp.model.name, optim=exp.optim.name,
        scheduler=exp.scheduler.name, regularizer=exp.regularizer.name, data=exp.data.name, kind=bundle.kind,
        epochs_run=trainer.epoch, best_epoch=best.epoch, stopped_early=bool(early and early.stopped),
        monitor=exp.trainer.monitor, best_value=best.value,
        # a metric that could not be measured (an empty test split) is missing: None, null in JSON
        metrics={**missing_as_null({k: v for k, v in last.items() if k.startswith(("train_", "val_"))}),
                 **missing_as_null({f"test_{k}": v for k, v in test_metrics.items()})},
        params=params, train_size=len(bundle.train), val_size=len(bundle.val), test_size=len(bundle.test),
        duration_s=round(duration, 3), device=str(device), path=str(path),
    )


