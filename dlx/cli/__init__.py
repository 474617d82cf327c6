"""The `dlx` command line: one small module per command group, each a thin Typer function.

Imports stay inside the commands, so `dlx --help` loads neither torch, Hydra nor pandas.
"""

from __future__ import annotations

import sys

import typer

from dlx.cli import train, catalog, sweep, cv, runs, use, landscape, diagnose, sample  # noqa: F401  (register the commands, in help order)
from dlx.cli import generate  # noqa: F401  (issue 16)
from dlx.cli import baselines  # noqa: F401  (issue 28)
from dlx.cli.app import app, error


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line and an exit status, not a traceback."""
    from dlx import log, plugins
    from dlx.errors import DlxError

    try:  # typer >= 0.20 vendors click
        from typer._click.exceptions import NoArgsIsHelpError, UsageError
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import UsageError
        from click.exceptions import NoArgsIsHelpError

    log.install()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        code = app(args=args, prog_name="dlx", standalone_mode=False)
    except DlxError as e:
        if debug:
            raise
        error(str(e), e.prefix)
        sys.exit(e.exit_code)
    except NoArgsIsHelpError as e:  # a bare `dlx`: its help, as `dlx --help` prints it
        typer.echo(e.ctx.get_help() if e.ctx is not None else e.format_message())
        sys.exit(0)
    except UsageError as e:
        if debug:
            raise
        command = e.ctx.command_path if e.ctx is not None else _command_path(args)
        error(f"{e.format_message()} (see `{command} --help`)")
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        error("interrupted")
        sys.exit(130)
    finally:
        plugins.request([], [])  # --plugin / --config-dir belong to this command only (in-process callers)
    sys.exit(code if isinstance(code, int) else 0)


def _command_path(args: list[str]) -> str:
    """`dlx runs` for an error the parser raised without a context (an option missing its value)."""
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    command = next((a for a in args if not a.startswith("-")), None)
    return f"dlx {command}" if command in names else "dlx"
