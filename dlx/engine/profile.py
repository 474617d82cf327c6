"""`trainer.profile=true`: where an epoch's time goes, written to `profile.csv` per epoch.

A trainer callback, added only when asked for. Hooks on the model and on each optimizer
cut every training step into phases, measured on the wall clock:

    data        from the end of one optimizer step to the next forward: fetching, slicing,
                moving the batch and updating the epoch's metrics
    forward     the model's forward pass (training mode)
    backward    from the end of the forward pass to the optimizer step: loss, backward, clipping
    optimizer   the optimizer's step
    evaluation  the validation pass (eval-mode forwards, from the first to the last)
    checkpoint  writing checkpoints (last.pt, best.pt)

On a GPU the phases are cut at host timestamps, so queued kernels may land in the phase
that waits for them; epoch totals stay exact. An iteration slower than 500 ms (the
lectures' rule of thumb for a responsive experiment) gets one warning line per run.
"""

from __future__ import annotations

import logging
import time

from dlx.engine.callbacks import Callback

log = logging.getLogger(__name__)

PHASES = ("data", "forward", "backward", "optimizer", "evaluation", "checkpoint")
SLOW_STEP_S = 0.5


def threads() -> int:
    """Torch's intra-op thread count now (the slow-step warning names it)."""
    import torch

    return torch.get_num_threads()


class Profiler(Callback):
    """Per-epoch seconds of each phase in `rows`; written to profile.csv through the run folder."""

    def __init__(self):
        self.rows: list[dict] = []
        self.handles: list = []
        self.warned = False
        self.run_dir = None

    def on_fit_start(self, trainer, ctx) -> None:
        self.run_dir = ctx.run_dir
        model = trainer.model
        self.handles += [model.register_forward_pre_hook(self._forward_start),
                         model.register_forward_hook(self._forward_end)]
        for optimizer in trainer.task.optimizers.values():
            self.handles += [optimizer.register_step_pre_hook(self._step_start),
                             optimizer.register_step_post_hook(self._step_end)]
        if ctx.run_dir is not None:  # time checkpoint writes: wrap this run folder's method
            save = ctx.run_dir.save_checkpoint

            def timed_save(name, state):
                start = time.perf_counter()
                try:
                    return save(name, state)
                finally:
                    self.seconds["checkpoint"] += time.perf_counter() - start

            ctx.run_dir.save_checkpoint = timed_save
        self.on_epoch_start(trainer, 0)

    def on_epoch_start(self, trainer, epoch: int) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.mark = time.perf_counter()  # the end of the previous phase
        self.step_began = self.mark
        self.eval_start = self.eval_end = None
        self.steps = 0
        self.slowest = 0.0

    def _forward_start(self, module, _inputs) -> None:
        now = time.perf_counter()
        if module.training:
            self.seconds["data"] += now - self.mark
            self.mark = now
        elif self.eval_start is None:
            self.eval_start = now

    def _forward_end(self, module, _inputs, _out) -> None:
        now = time.perf_counter()
        if module.training:
            self.seconds["forward"] += now - self.mark
            self.mark = now
        else:
            self.eval_end = now

    def _step_start(self, optimizer, *_args) -> None:
        now = time.perf_counter()
        self.seconds["backward"] += now - self.mark
        self.mark = now

    def _step_end(self, optimizer, *_args) -> None:
        now = time.perf_counter()
        self.seconds["optimizer"] += now - self.mark
        self.mark = now
        self.slowest = max(self.slowest, now - self.step_began)
        self.step_began = now
        self.steps += 1

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.eval_start is not None:
            self.seconds["evaluation"] = self.eval_end - self.eval_start
        self.rows.append({"epoch": row["epoch"], **{k: round(v, 6) for k, v in self.seconds.items()},
                          "steps": self.steps, "slowest_step": round(self.slowest, 6)})
        if self.run_dir is not None:
            self.run_dir.write_profile(self.rows)
        if self.slowest > SLOW_STEP_S and not self.warned:
            self.warned = True
            message = (f"an iteration took {self.slowest * 1000:.0f} ms at epoch {row['epoch']} (> 500 ms): "
                       f"on a busy machine try trainer.num_threads=1 (now {threads()}); else a smaller model "
                       "or batch, trainer.device=auto, or fewer data transforms; "
                       "profile.csv shows where the time goes")
            if self.run_dir is not None:
                self.run_dir.log(f"warning: {message}")
            log.warning(message)

    def on_fit_end(self, trainer, summary) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
