"""`dlx sweep`: hyper-parameter search on optuna."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from dlx.cli.app import Overrides, app, warn


SWEEP_EPILOG = (
    "\b\nSearch space (Hydra's sweep grammar):\n"
    "  optim.lr=0.1,0.01  or  choice(a,b)       categorical\n"
    "  trainer.batch_size=range(16,129,16)      integer steps\n"
    "  regularizer.dropout=interval(0,0.5)      continuous\n"
    "  optim.lr='tag(log,interval(1e-4,1e-1))'  log scale\n"
    "  trainer.epochs=5                         fixed for every trial"
)


@app.command(epilog=SWEEP_EPILOG, short_help="Search hyper-parameters: grid, random or TPE.")
def sweep(
    overrides: Overrides = None,
    sampler: Annotated[Optional[str], typer.Option(
        help="grid | random | tpe (default: grid when every key is a list or range, else tpe).")] = None,
    trials: Annotated[Optional[int], typer.Option(help="Trials for random/TPE (default 20); caps a grid.")] = None,
    jobs: Annotated[Optional[int], typer.Option(
        help="Trials at once, each in its own process; 0 creates the sweep for --join workers "
             "(default 1; --resume: as recorded).", show_default=False)] = None,
    metric: Annotated[Optional[str], typer.Option(
        help="Validation metric to optimise (default: trainer.monitor).")] = None,
    direction: Annotated[Optional[str], typer.Option(help="min | max (default: from the metric's name).")] = None,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Stop hopeless trials early (optuna's median pruner).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random and TPE samplers.")] = 0,
    resume: Annotated[Optional[str], typer.Option(help="Finish an interrupted sweep (its id or 'last').")] = None,
    join: Annotated[Optional[str], typer.Option(help="Add workers to a running sweep (its id).")] = None,
    storage: Annotated[Optional[str], typer.Option(
        help="Database URL for the optuna study (default: SQLite in the sweep folder).")] = None,
    storage_retry: Annotated[Optional[float], typer.Option(
        "--storage-retry", metavar="SECONDS",
        help="How long to retry a lost database connection before stopping (default 120).")] = None,
    cv: Annotated[Optional[int], typer.Option(
        "--cv", help="Each trial's value is the mean over K folds of cross-validation.")] = None,
    test: Annotated[bool, typer.Option(
        "--test", help="With --cv: refit the best trial on all training data, evaluate the test split once.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the leaderboard.")] = False,
    refine: Annotated[Optional[str], typer.Option(
        "--refine", metavar="SWEEP", help="A new sweep on a narrower space around the best trials of SWEEP.")] = None,
    top: Annotated[int, typer.Option("--top", help="With --refine: how many best trials to refine around.")] = 5,
):
    """Search hyper-parameters: every trial is a run under outputs/sweeps/<id>/runs/."""
    from dlx import report
    from dlx.engine import signals
    from dlx.sweep import driver as sweeps
    from dlx.errors import ConfigError
    from dlx.sweep.retry import set_retry_window

    signals.reset()  # in-process callers (tests) run many commands in one process
    overrides = overrides or []
    if refine is not None:  # coarse to fine: the refined space, then an ordinary new sweep
        from dlx.cli.diagnose import refine_sweep

        overrides, trials = refine_sweep(refine, top, overrides, trials, resume or join)
    for option, value in (("--resume", resume), ("--join", join)):
        if value == "":
            raise ConfigError(f"{option} needs a sweep: its id, a unique part of one, its folder or 'last'")
    if cv is not None and (resume or join):
        raise ConfigError("--cv is fixed when a sweep is created; drop it with --resume/--join")
    if cv is not None and cv < 2:
        raise ConfigError(f"--cv needs at least 2 folds, got {cv}")
    if cv is not None and prune:
        raise ConfigError("--prune needs one run per trial; it does not combine with --cv")
    if test and cv is None:
        raise ConfigError("--test refits the best trial of a --cv sweep; without --cv every trial "
                          "already reports its test metrics (trials.csv)")
    restore = set_retry_window(storage_retry)  # DLX_STORAGE_RETRY_S, inherited by --jobs workers
    display = report.SweepDisplay(quiet=quiet)
    try:
        if resume or join:
            settled = {"--sampler": sampler, "--metric": metric, "--direction": direction,
                       "--prune": prune or None, "--seed": seed or None, "--join": resume and join}
            output_dir = _sweep_output_dir(overrides, "--resume" if resume else "--join", settled)
            if resume:
                result = sweeps.resume(resume, output_dir=output_dir, jobs=jobs, trials=trials, storage=storage,
                                       on_update=display.update)
            else:
                result = sweeps.join(join, output_dir=output_dir, jobs=1 if jobs is None else jobs, storage=storage,
                                     on_update=display.update)
        else:
            from dlx import api

            result = api.sweep(*overrides, sampler=sampler, trials=trials, jobs=1 if jobs is None else jobs, metric=metric,
                               direction=direction, prune=prune, seed=seed, storage=storage, cv=cv,
                               command=["dlx", *sys.argv[sys.argv.index("sweep"):]] if "sweep" in sys.argv else [],
                               on_update=display.update).result
    finally:
        display.close()  # before any error line: a stopped sweep ends with one (exit 130 / 143)
        restore()
    if jobs == 0:
        report.print_sweep_created(result)
        return
    report.print_sweep_result(result)
    if result.get("indistinct"):
        warn(f"trials {', '.join(map(str, result['indistinct']))} are within one validation sample "
             f"(1/{result['spec'].val_size}) of the best {result['spec'].metric}: the validation "
             "split cannot tell them apart (ties go to the lower val_loss, then the earlier trial); "
             + ("every sample is validated once across the folds already: use more data, or --metric val_loss"
                if result["spec"].objective_kind == "cv" else "use more data.val_fraction or --cv K"))
    if result["best"] is None:
        failed = [r for r in result["rows"] if r.get("reason")]
        first = f"; trial {failed[0]['number']}: {failed[0]['reason']}" if failed else ""
        report.error(f"no trial completed{first}")
        raise typer.Exit(1)
    if test:
        best = result["best"]
        report.console.print(f"\n[bold]best trial {best['number']}[/] — its {cv}-fold CV, then the test split, once:",
                             highlight=False)
        report.print_cv(sweeps.refit_best(result))


def _sweep_output_dir(overrides: list[str], option: str, settled: dict) -> str:
    """Where --resume/--join look for the sweep: only output_dir=... may come with them."""
    from dlx.config import compose, parse_overrides
    from dlx.errors import ConfigError

    given = [name for name, value in settled.items() if value]
    if given:
        raise ConfigError(f"{option} continues a sweep as it was created; drop {given[0]} "
                          "(--jobs, --trials, --storage and output_dir=... may change)")
    extra = [o.input_line for o in parse_overrides(overrides) if o.key_or_group != "output_dir"]
    if extra:
        raise ConfigError(f"{option} takes the sweep's own search space; drop '{extra[0]}' "
                          "(only output_dir=... may be given)")
    return str(compose(overrides).output_dir)
