"""`dlx models`, `dlx models show`, `dlx list` and `dlx data`: what can be chosen."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import Overrides, app


models_app = typer.Typer(help="List the models, or show one layer by layer.", no_args_is_help=False,
                         invoke_without_command=True, rich_markup_mode=None)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(ctx: typer.Context):
    """List the registered models (`dlx models show NAME` for one of them)."""
    if ctx.invoked_subcommand is not None:
        return
    from dlx import plugins, report
    from dlx.registry import MODELS

    plugins.load()
    report.console.print(report.models_table(MODELS.entries()))


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
    from dlx import plugins
    from dlx.models.summary import default_data
    from dlx.use.describe import describe

    overrides = list(overrides or [])
    if any(o.split("=", 1)[0].lstrip("+~") == "model" for o in overrides):
        raise ConfigError(f"the model is NAME ('{name}'); drop the model=... override")
    plugins.load()
    exp = config.load([f"model={name}", *default_data(name, overrides), *overrides])
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
    from dlx import plugins, report
    from dlx.config import GROUPS, default_choices, describe_choices
    from dlx.errors import unknown

    plugins.load(builtins=False)  # dlx's own options are its conf/ files: no torch for a listing
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
        from dlx import plugins
        from dlx.data import describe

        plugins.load()
        report.print_datasets(describe())
        return
    from dlx import config
    from dlx.data import build

    exp = config.load([f"data={name}", *(overrides or [])])
    report.print_bundle(exp.data.name, build(exp.data))
