"""The Typer app, the options several commands share, and the help texts."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

app = typer.Typer(
    help="dlx: compose, train, search and compare deep-learning experiments in PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

OVERRIDES_HELP = ("Hydra overrides: group=choice (model=mlp), key=value (optim.lr=0.01), +key=value, ~key. "
                  "The run store: output_dir=DIR, --output-dir DIR or DLX_OUTPUT_DIR.")
OUTPUT_ENV = "DLX_OUTPUT_DIR"  # the run store for a shell: every command reads and writes there


def groups_epilog() -> str:
    """`model: mlp, cnn, ...` per config group, read from conf/ (cheap: no imports)."""
    from dlx.config import GROUPS, group_choices

    try:
        lines = [f"  {g + ':':<13}{', '.join(group_choices(g))}" for g in GROUPS]
    except Exception:  # a broken install still gets its --help
        return ""
    return "\b\nConfig groups (choose with group=name):\n" + "\n".join(lines)


class GroupsHelp(TyperCommand):
    """A command whose help ends with the config groups' choices, read only when the help is shown:
    listing them composes the schemas, which `dlx --help` and every other command need not pay for."""

    @property
    def epilog(self) -> str:
        return groups_epilog()

    @epilog.setter
    def epilog(self, value) -> None:  # click sets it in __init__; the property answers instead
        pass


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks (for bug reports).")] = False,
    plugin: Annotated[Optional[list[str]], typer.Option(
        "--plugin", metavar="FILE_OR_MODULE", show_default=False,
        help="Load components from a Python file or module (repeatable; also DLX_PLUGINS and installed "
             "packages' `dlx.plugins` entry points).")] = None,
    config_dir: Annotated[Optional[list[str]], typer.Option(
        "--config-dir", metavar="DIR", show_default=False,
        help="Your own presets, DIR/<group>/<name>.yaml, beside dlx's (repeatable; yours win).")] = None,
):
    """dlx: compose, train, search and compare deep-learning experiments in PyTorch."""
    from dlx import plugins

    plugins.request(plugin, config_dir)  # loaded when a command needs its components, never for --help


Overrides = Annotated[Optional[list[str]], typer.Argument(help=OVERRIDES_HELP, show_default=False)]


OutputDir = Annotated[str, typer.Option(
    "--output-dir", envvar=OUTPUT_ENV, help="The run store to read (output_dir of the runs; also output_dir=DIR).")]
Where = Annotated[Optional[list[str]], typer.Option(
    "--where", "-w", help="Keep runs where KEY=VALUE (also !=, <, <=, >, >=); any config key "
    "(model=cnn, optim.lr=0.01) or summary field (test_acc>0.9). Repeat to combine.", show_default=False)]
Sort = Annotated[Optional[str], typer.Option(
    "--sort", help="Sort by a key; metrics best first (test_acc high, val_loss low); -KEY reverses.")]
GroupBy = Annotated[Optional[str], typer.Option(
    "--group-by", "-g", help="Fold runs sharing these keys (model,optim) into mean ± std and a count.")]
SweepId = Annotated[Optional[str], typer.Option("--sweep", help="The runs of one sweep (id, prefix, `last`).")]
CvId = Annotated[Optional[str], typer.Option("--cv", help="The folds of one cross-validation (id, prefix, `last`).")]


def format_option(choices: str):
    return Annotated[str, typer.Option("--format", "-f", help=f"Output: {choices}.")]


def check_format(fmt: str, markdown) -> str:
    allowed = ("table", "csv", "json") + (("markdown",) if markdown else ())
    if fmt not in allowed:
        from dlx.errors import ConfigError

        raise ConfigError(f"--format {fmt}: choose one of {', '.join(allowed)}")
    return fmt


def error(message: str, prefix: str = "error") -> None:
    print(f"{prefix}: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """A warning on stderr (`warning: ...`), through the `dlx` logger that `dlx.log` installs."""
    logging.getLogger("dlx.cli").warning(message)
