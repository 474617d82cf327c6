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


@app.command(epilog=groups_epilog(), short_help="Train a model, test it, write the run under outputs/runs/.")
def train(
    overrides: Overrides = None,
    cfg: Annotated[bool, typer.Option("--cfg", help="Print the composed config and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final table.")] = False,
    resume: Annotated[Optional[str], typer.Option(
        "--resume", metavar="RUN",
        help="Continue a stopped run (id, unique prefix/suffix, path or 'last') from its last checkpoint; "
             "overrides may then change only trainer.epochs, trainer.num_threads, "
             "trainer.checkpoint_every_steps, trainer.tensorboard, output_dir.")] = None,
):
    """Train a model, evaluate it on the test split and write the run under outputs/runs/."""
    from dlx import config

    if resume is not None:
        from dlx.engine import resume as resuming

        exp, target = resuming.prepare(resume, overrides or [], warn=_warn)
    else:
        exp, target = config.load(overrides or []), None
    if cfg:
        from omegaconf import OmegaConf

        typer.echo(OmegaConf.to_yaml(exp.raw), nl=False)
        return
    from dlx import report
    from dlx.engine import experiment

    display = report.ProgressDisplay(exp.trainer.epochs, quiet=quiet)
    try:
        summary = experiment.run(exp, overrides or [], callbacks=[display], resume=target)
    finally:
        display.close()
    report.print_summary(summary)


# ---------------------------------------------------------------- models (issue 3)

models_app = typer.Typer(help="List the models, or show one layer by layer.", no_args_is_help=False,
                         invoke_without_command=True, rich_markup_mode=None)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(ctx: typer.Context):
    """List the registered models (`dlx models show NAME` for one of them)."""
    if ctx.invoked_subcommand is not None:
        return
    from dlx import report
    from dlx.registry import MODELS, load_components

    load_components()
    report.console.print(report.models_table([MODELS.get(n) for n in MODELS.names()]))


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="A model: mlp, cnn, resnet, rnn, lstm, gru, transformer.")],
    overrides: Overrides = None,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=0,
                                                 help="Fold layers below this depth into their parent.")] = None,
):
    """Show model NAME layer by layer: output shape and parameters, for the chosen data and keys."""
    from dlx import config, report
    from dlx.errors import ConfigError
    from dlx.models.summary import describe

    overrides = list(overrides or [])
    if any(o.split("=", 1)[0].lstrip("+~") == "model" for o in overrides):
        raise ConfigError(f"the model is NAME ('{name}'); drop the model=... override")
    exp = config.load([f"model={name}", *overrides])
    _model, summary, _bundle = describe(exp)
    report.print_model_summary(summary, f"{name} on {exp.data.name}", depth)


# ---------------------------------------------------------------- list, optim/scheduler/loss (issue 4)


@app.command("list", short_help="List each config group's choices, one line each.")
def list_choices(
    group: Annotated[Optional[str], typer.Argument(
        help="A config group (model, optim, scheduler, regularizer, loss, data, trainer); all when omitted.",
        show_default=False)] = None,
):
    """List the choices of each config group, with a one-line description; * marks the default."""
    from dlx import report
    from dlx.config import GROUPS, default_choices, describe_choices
    from dlx.errors import unknown

    if group is not None and group not in GROUPS:
        raise unknown("config group", group, GROUPS)
    groups = [group] if group else list(GROUPS)
    report.print_choices({g: describe_choices(g) for g in groups}, default_choices())


# ---------------------------------------------------------------- data (issue 5)


@app.command("data", short_help="List the datasets, or show one's splits.")
def data_command(
    name: Annotated[Optional[str], typer.Argument(help="A dataset to load and describe (default: list them).",
                                                  show_default=False)] = None,
    overrides: Overrides = None,
):
    """List the datasets (task, input shape, size, download), or load one and show its splits."""
    from dlx import report

    if name is None:
        from dlx.data import describe

        report.print_datasets(describe())
        return
    from dlx import config
    from dlx.data import build

    exp = config.load([f"data={name}", *(overrides or [])])
    report.print_bundle(exp.data.name, build(exp.data))


# ---------------------------------------------------------------- sweep (issue 6)


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
    cv: Annotated[Optional[int], typer.Option(
        "--cv", help="Each trial's value is the mean over K folds of cross-validation.")] = None,
    test: Annotated[bool, typer.Option(
        "--test", help="With --cv: refit the best trial on all training data, evaluate the test split once.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the leaderboard.")] = False,
):
    """Search hyper-parameters: every trial is a run under outputs/sweeps/<id>/runs/."""
    from dlx import report
    from dlx.sweep import driver as sweeps
    from dlx.errors import ConfigError

    overrides = overrides or []
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
                                  objective={"kind": "cv", "folds": cv} if cv else None,
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



# ---------------------------------------------------------------- cv (issue 7)


@app.command(epilog=groups_epilog(), short_help="K-fold cross-validation: mean ± std per metric.")
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
    group_col: Annotated[Optional[str], typer.Option(
        "--group-col", metavar="COL", help="CSV data: GroupKFold over this column (data.group_col=COL), so "
        "each group's samples are validated in one fold only.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final tables.")] = False,
):
    """K-fold cross-validation: one run per fold of train+val, then mean ± std of every metric.

    Folds are stratified (scikit-learn), seeded by data.seed; the test split is never used by the
    folds. Everything lands in outputs/cv/<cv-id>/: fold-<k>/ runs, folds.csv, assignment.csv,
    summary.json. Exits 1 if a fold failed (the mean then averages the others).
    """
    from dlx.cv import driver as cvlib
    from dlx import report

    if resume == "":
        from dlx.errors import ConfigError

        raise ConfigError("--resume needs a cross-validation: its id, a unique part of one, its folder or 'last'")
    result = cvlib.cross_validate(overrides or [], folds, repeats=repeats, jobs=jobs, test=test, resume=resume,
                                  progress=report.CVProgress(quiet), group_col=group_col)
    report.print_cv(result)
    if result.failed:
        skipped = "; no fold finished, so no refit and no test evaluation" if test and not result.averaged else ""
        report.error(f"{len(result.failed)} of {len(result.rows)} folds failed ({', '.join(result.failed)}); "
                     f"the mean averages {result.averaged}{skipped}; rerun them with "
                     f"`dlx cv --resume {result.cv_id}`")
        raise typer.Exit(1)


# ---------------------------------------------------------------- runs, show, compare, plot (issue 8)

OutputDir = Annotated[str, typer.Option("--output-dir", help="The run store to read (output_dir of the runs).")]
Where = Annotated[Optional[list[str]], typer.Option(
    "--where", "-w", help="Keep runs where KEY=VALUE (also !=, <, <=, >, >=); any config key "
    "(model=cnn, optim.lr=0.01) or summary field (test_acc>0.9). Repeat to combine.", show_default=False)]
Sort = Annotated[Optional[str], typer.Option(
    "--sort", help="Sort by a key; metrics best first (test_acc high, val_loss low); -KEY reverses.")]
GroupBy = Annotated[Optional[str], typer.Option(
    "--group-by", "-g", help="Fold runs sharing these keys (model,optim) into mean ± std and a count.")]
SweepId = Annotated[Optional[str], typer.Option("--sweep", help="The runs of one sweep (id, prefix, `last`).")]
CvId = Annotated[Optional[str], typer.Option("--cv", help="The folds of one cross-validation (id, prefix, `last`).")]


def _format_option(choices: str):
    return Annotated[str, typer.Option("--format", "-f", help=f"Output: {choices}.")]


@app.command("runs", short_help="List runs, newest first, with status and metrics.")
def list_runs(
    where: Where = None,
    sort: Sort = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Show the first N runs.")] = None,
    sweep: SweepId = None,
    cv: CvId = None,
    all_runs: Annotated[bool, typer.Option("--all", "-a", help="Include sweep and CV member runs.")] = False,
    group_by: GroupBy = None,
    fmt: _format_option("table, csv, json (markdown with --group-by)") = "table",
    output_dir: OutputDir = "outputs",
):
    """List runs, newest first: status, config groups, best monitored value, test metrics, time."""
    from dlx import report

    report.list_runs(output_dir, where=where or (), sort=sort, limit=limit, sweep=sweep, cv=cv,
                     members=all_runs, group_by=group_by, fmt=_check_format(fmt, group_by))


@app.command(short_help="Show one run: config, metrics per epoch, curves.")
def show(
    run: Annotated[str, typer.Argument(help="A run id, a unique prefix or suffix of one, or `last`.")],
    output_dir: OutputDir = "outputs",
):
    """Show one run: its config (overrides highlighted), metrics per epoch, curves and summary."""
    from dlx import report

    report.show_run(output_dir, run)


@app.command(short_help="Compare runs: differing keys, metrics, curves.")
def compare(
    runs: Annotated[Optional[list[str]], typer.Argument(help="Run ids, unique prefixes or suffixes, `last`.",
                                                        show_default=False)] = None,
    sweep: SweepId = None,
    cv: CvId = None,
    where: Where = None,
    group_by: GroupBy = None,
    sort: Sort = None,
    fmt: _format_option("table, csv, json, markdown") = "table",
    output_dir: OutputDir = "outputs",
):
    """Compare runs side by side: config keys that differ, final metrics, validation curves."""
    from dlx import report

    report.compare_runs(output_dir, runs or [], sweep=sweep, cv=cv, where=where or (), group_by=group_by,
                        sort=sort, fmt=_check_format(fmt, "markdown"))


@app.command(short_help="Save learning curves of runs as an image.")
def plot(
    runs: Annotated[list[str], typer.Argument(help="Run ids, unique prefixes or suffixes, `last`.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Image file to write (.png, .pdf, .svg).")]
    = "curves.png",
    metric: Annotated[Optional[list[str]], typer.Option(
        "--metric", "-m", help="Metrics to draw: a name (acc: train and val) or a column (val_acc). "
        "Default: loss and the monitored metric.", show_default=False)] = None,
    output_dir: OutputDir = "outputs",
):
    """Save the learning curves of runs as an image: train dashed, validation solid (matplotlib)."""
    from dlx.report import plot as plotting

    path = plotting.plot_runs(output_dir, runs, output, metric or [])
    typer.echo(f"wrote {path}")


def _check_format(fmt: str, markdown) -> str:
    allowed = ("table", "csv", "json") + (("markdown",) if markdown else ())
    if fmt not in allowed:
        from dlx.errors import ConfigError

        raise ConfigError(f"--format {fmt}: choose one of {', '.join(allowed)}")
    return fmt



# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line and an exit status, not a traceback."""
    from dlx.errors import DlxError

    try:  # typer >= 0.20 vendors click
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import UsageError
        from click.exceptions import NoArgsIsHelpError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        code = app(args=args, prog_name="dlx", standalone_mode=False)
    except DlxError as e:
        if debug:
            raise
        _error(str(e), e.prefix)
        sys.exit(e.exit_code)
    except NoArgsIsHelpError as e:  # a bare `dlx`: its help, as `dlx --help` prints it
        typer.echo(e.ctx.get_help() if e.ctx is not None else e.format_message())
        sys.exit(0)
    except UsageError as e:
        if debug:
            raise
        command = e.ctx.command_path if e.ctx is not None else _command_path(args)
        _error(f"{e.format_message()} (see `{command} --help`)")
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        _error("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _command_path(args: list[str]) -> str:
    """`dlx runs` for an error the parser raised without a context (an option missing its value)."""
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    command = next((a for a in args if not a.startswith("-")), None)
    return f"dlx {command}" if command in names else "dlx"


def _error(message: str, prefix: str = "error") -> None:
    print(f"{prefix}: {message}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
