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


# ---------------------------------------------------------------- data (issue 5)


# ---------------------------------------------------------------- sweep (issue 6)


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
