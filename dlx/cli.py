"""The `dlx` command line: one small function per command.

Imports stay inside the commands, so `dlx --help` loads neither torch, Hydra nor pandas.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="dlx: compose, train, search and compare deep-learning experiments in PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

OVERRIDES_HELP = "Hydra overrides: group=choice (model=mlp), key=value (optim.lr=0.01), +key=value, ~key."


def groups_epilog() -> str:
    """`model: mlp, cnn, ...` per config group, read from conf/ (cheap: no imports)."""
    from dlx.config import GROUPS, group_choices

    try:
        lines = [f"  {g + ':':<13}{', '.join(group_choices(g))}" for g in GROUPS]
    except Exception:  # a broken install still gets its --help
        return ""
    return "\b\nConfig groups (choose with group=name):\n" + "\n".join(lines)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks (for bug reports).")] = False,
):
    """dlx: compose, train, search and compare deep-learning experiments in PyTorch."""


Overrides = Annotated[Optional[list[str]], typer.Argument(help=OVERRIDES_HELP, show_default=False)]


@app.command(epilog=groups_epilog())
def train(
    overrides: Overrides = None,
    cfg: Annotated[bool, typer.Option("--cfg", help="Print the composed config and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final table.")] = False,
):
    """Train a model, evaluate it on the test split and write the run under outputs/runs/."""
    from dlx import config

    exp = config.load(overrides or [])
    if cfg:
        from omegaconf import OmegaConf

        typer.echo(OmegaConf.to_yaml(exp.raw), nl=False)
        return
    from dlx import experiment, report

    display = report.ProgressDisplay(exp.trainer.epochs, quiet=quiet)
    try:
        summary = experiment.run(exp, overrides or [], callbacks=[display])
    finally:
        display.close()
    report.print_summary(summary)


# ---------------------------------------------------------------- models (issue 3)


# ---------------------------------------------------------------- list, optim/scheduler/loss (issue 4)


# ---------------------------------------------------------------- data (issue 5)


# ---------------------------------------------------------------- sweep (issue 6)


SWEEP_EPILOG = (
    "\b\nSearch space (Hydra's sweep grammar):\n"
    "  optim.lr=0.1,0.01  or  choice(a,b)       categorical\n"
    "  trainer.batch_size=range(16,129,16)      integer steps\n"
    "  regularizer.dropout=interval(0,0.5)      continuous\n"
    "  optim.lr='tag(log,interval(1e-4,1e-1))'  log scale\n"
    "  trainer.epochs=5                         fixed for every trial"
)


@app.command(epilog=SWEEP_EPILOG)
def sweep(
    overrides: Overrides = None,
    sampler: Annotated[Optional[str], typer.Option(
        help="grid | random | tpe (default: grid when every key is a list or range, else tpe).")] = None,
    trials: Annotated[Optional[int], typer.Option(help="Trials for random/TPE (default 20); caps a grid.")] = None,
    jobs: Annotated[int, typer.Option(
        help="Trials at once, each in its own process; 0 creates the sweep for --join workers.")] = 1,
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the leaderboard.")] = False,
):
    """Search hyper-parameters: every trial is a run under outputs/sweeps/<id>/runs/."""
    from dlx import report, sweep as sweeps

    overrides = overrides or []
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
                result = sweeps.join(join, output_dir=output_dir, jobs=jobs, storage=storage,
                                     on_update=display.update)
        else:
            result = sweeps.start(overrides, sampler=sampler, trials=trials, jobs=jobs, metric=metric,
                                  direction=direction, prune=prune, seed=seed, storage=storage,
                                  command=["dlx", *sys.argv[sys.argv.index("sweep"):]] if "sweep" in sys.argv else [],
                                  on_update=display.update)
    except KeyboardInterrupt:
        display.close()
        if display.spec is not None:
            report.error(f"interrupted; finish it with: dlx sweep --resume {display.spec['id']}")
        raise
    finally:
        display.close()
    if jobs == 0:
        report.print_sweep_created(result)
        return
    report.print_sweep_result(result)
    if result["best"] is None:
        failed = [r for r in result["rows"] if r.get("reason")]
        first = f"; trial {failed[0]['number']}: {failed[0]['reason']}" if failed else ""
        report.error(f"no trial completed{first}")
        raise typer.Exit(1)


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



# ---------------------------------------------------------------- cv (issue 7)


# ---------------------------------------------------------------- runs, show, compare, plot (issue 8)


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line and an exit status, not a traceback."""
    from dlx.errors import DlxError

    try:  # typer >= 0.20 vendors click
        from typer._click.exceptions import UsageError
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import UsageError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        code = app(args=args, prog_name="dlx", standalone_mode=False)
    except DlxError as e:
        if debug:
            raise
        _error(str(e))
        sys.exit(e.exit_code)
    except UsageError as e:
        if debug:
            raise
        command = e.ctx.command_path if e.ctx is not None else "dlx"
        _error(f"{e.format_message()} (see `{command} --help`)")
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        _error("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
