"""How a run stops early: a resumed run's checkpoint loaded, and a signal, divergence, out of
memory or failure recorded in the run folder and turned into the one-line error the user sees."""

from __future__ import annotations

from dlx.config import Experiment
from dlx.engine.runfolder import RunWriter
from dlx.errors import Interrupted, RunError, first_line
from dlx.store.rundir import RunDir


def continue_from(trainer, resume, run_dir: RunDir) -> None:
    """Load a resumed run's checkpoint into `trainer` (nothing to load: it starts over)."""
    if resume.state is not None:
        if "callbacks" not in resume.state:
            raise RunError(f"{resume.source} was written by an older dlx whose checkpoints this one cannot "
                           "continue; start a new run with `dlx train`")
        try:
            trainer.load_state_dict(resume.state)
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise RunError(f"{resume.source} does not fit this run's model and optimizer ({first_line(e)}); "
                           "was config.yaml edited? start a new run with `dlx train`") from None
    run_dir.log(f"resumed from {resume.where}")


def stopped(error: BaseException, exp: Experiment, run_dir: RunDir, trainer) -> Exception:
    """Record why training stopped (status.json, log.txt, last.pt) and return the error to raise.

    A signal handled between steps saves last.pt (a whole state) and the run can be resumed;
    a second Ctrl-C abandons the step, so the last whole checkpoint on disk stays the one.
    """
    import signal

    import torch

    from dlx.engine.distributed import as_run_error
    from dlx.engine.resume import resume_command
    from dlx.engine.trainer import Divergence, StopRequested

    error = as_run_error(error)  # a collective that failed: another rank died
    where = trainer.position()
    if isinstance(error, (StopRequested, KeyboardInterrupt)):
        signum = error.signum if isinstance(error, StopRequested) else signal.SIGINT
        name = signal.Signals(signum).name
        saved = ""
        writer = trainer.callbacks.find(RunWriter)
        if isinstance(error, StopRequested) and writer.checkpoint:  # not a fitted estimator's: it saves no state
            writer.save_last(trainer)
            run_dir.flush()
            saved = ", last.pt saved"
        run_dir.write_status("interrupted", signal=name, **where)
        run_dir.log(f"interrupted by {name} at epoch {where['epoch']}, step {where['step']}")
        command = resume_command(run_dir, exp.output_dir)
        return Interrupted(f"{name} at epoch {where['epoch']}, step {where['step']}{saved}; "
                           f"resume with: {command}", 128 + int(signum))
    if isinstance(error, torch.OutOfMemoryError):
        batch_size = trainer.task.batch_size
        error = RunError(f"out of memory on {trainer.device} at epoch {where['epoch']}, step {where['step']} "
                         f"with trainer.batch_size={batch_size}: try trainer.batch_size={max(1, batch_size // 2)}, "
                         "trainer.precision=bf16 or a smaller model")
    if isinstance(error, Divergence):
        where = {"epoch": error.epoch, "step": error.step}
    try:  # best effort: on a full disk this write can fail too
        trainer.callbacks.find(RunWriter).save_best()  # the best weights so far are not lost with the run
        run_dir.flush()
        run_dir.write_status("failed", reason=str(error), **where)
        run_dir.log(f"failed: {error}")
    except RunError:
        pass
    return error
