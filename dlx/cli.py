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


# ---------------------------------------------------------------- cv (issue 7)


@app.command(epilog=groups_epilog())
def cv(
    overrides: Overrides = None,
    folds: Annotated[Optional[int], typer.Option("--folds", "-k", help="Number of folds K (default 5).",
                                                 show_default=False)] = None,
    repeats: Annotated[Optional[int], typer.Option("--repeats", help="Repeated k-fold: K folds per shuffle, "
                                                   "this many shuffles (default 1).", show_default=False)] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Folds run in parallel processes.")] = 1,
    test: Annotated[bool, typer.Option("--test", help="After CV, refit on train+val and evaluate once on "
                                       "the test split.")] = False,
    resume: Annotated[Optional[str], typer.Option("--resume", help="A CV id (or folder): run only its "
                                                  "missing folds.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final tables.")] = False,
):
    """K-fold cross-validation: one run per fold of train+val, then mean ± std of every metric.

    Folds are stratified (scikit-learn), seeded by data.seed; the test split is never used by the
    folds. Everything lands in outputs/cv/<cv-id>/: fold-<k>/ runs, folds.csv, assignment.csv,
    summary.json. Exits 1 if a fold failed (the mean then averages the others).
    """
    from dlx import cv as cvlib
    from dlx import report

    result = cvlib.cross_validate(overrides or [], folds, repeats=repeats, jobs=jobs, test=test, resume=resume,
                                  progress=report.CVProgress(quiet))
    report.print_cv(result)
    if result.failed:
        skipped = "; no fold finished, so no refit and no test evaluation" if test and not result.averaged else ""
        report.error(f"{len(result.failed)} of {len(result.rows)} folds failed ({', '.join(result.failed)}); "
                     f"the mean averages {result.averaged}{skipped}; rerun them with "
                     f"`dlx cv --resume {result.cv_id}`")
        raise typer.Exit(1)


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
