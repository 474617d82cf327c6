"""The `dlx` command line: one small module per command group, each a thin Typer function.

Imports stay inside the commands, so `dlx --help` loads neither torch, Hydra nor pandas.
"""

from __future__ import annotations

import os
import sys

import typer

from dlx.cli import train, catalog, sweep, cv, runs, use, landscape, diagnose, sample  # noqa: F401  (register the commands, in help order)
from dlx.cli import generate  # noqa: F401  (issue 16)
from dlx.cli import baselines  # noqa: F401  (issue 28)
from dlx.cli import play  # noqa: F401  (issue 25)
from dlx.cli.app import OUTPUT_ENV, app, error

TRAINING = {"train", "sweep", "cv", "bag", "lr-find"}  # commands that write runs (DLX_OUTPUT_DIR: where)
GLOBAL_OPTIONS = {"--plugin": 1, "--config-dir": 1}


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
        args = output_dir_args(args)
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


def _parameters(args: list[str], k: int) -> tuple[str, int, set[str]] | None:
    """The command named at args[k] (or a sub-group's, `dlx models show`): its name, the index
    of its last word, and its parameters' names; None for no such command. Read from the
    registered functions' signatures: no click command is built for this."""
    import inspect

    def name_of(info) -> str:
        return info.name or info.callback.__name__.replace("_", "-")

    name = args[k]
    found = next((c for c in app.registered_commands if name_of(c) == name), None)
    if found is None:
        group = next((g for g in app.registered_groups if g.name == args[k]), None)
        if group is None or k + 1 >= len(args):
            return None
        k += 1
        found = next((c for c in group.typer_instance.registered_commands if name_of(c) == args[k]), None)
        if found is None:
            return None
    return name, k, set(inspect.signature(found.callback).parameters)


def output_dir_args(args: list[str]) -> list[str]:
    """One way to name the run store for every command: `output_dir=DIR` and `--output-dir DIR`
    both work (each becomes what the command takes: an override or the option), and
    `DLX_OUTPUT_DIR` is the training commands' output_dir when none is given (the reading
    commands take it through their option's envvar)."""
    env = os.environ.get(OUTPUT_ENV)
    if not env and not any(a.startswith(("output_dir=", "--output-dir")) for a in args):
        return args  # nothing to do (`dlx --help` stays instant)
    k = 0
    while k < len(args) and args[k].split("=")[0] in GLOBAL_OPTIONS:
        k += 1 if "=" in args[k] else 1 + GLOBAL_OPTIONS[args[k]]
    found = _parameters(args, k) if k < len(args) and "--" not in args else None
    if found is None:
        return args
    name, k, params = found
    head, rest, out = args[:k + 1], args[k + 1:], []
    takes_overrides, has_option = "overrides" in params, "output_dir" in params
    i = 0
    while i < len(rest):
        arg = rest[i]
        if takes_overrides and not has_option and arg == "--output-dir" and i + 1 < len(rest):
            out.append(f"output_dir={rest[i + 1]}")
            i += 2
            continue
        if takes_overrides and not has_option and arg.startswith("--output-dir="):
            out.append("output_dir=" + arg.split("=", 1)[1])
        elif has_option and arg.startswith("output_dir="):  # eval's overrides are data overrides
            out += ["--output-dir", arg.split("=", 1)[1]]
        else:
            out.append(arg)
        i += 1
    if env and name in TRAINING and not any(a.startswith(("output_dir=", "+output_dir=")) for a in out) \
            and not {"--help", "-h"} & set(out):
        out.append(f"output_dir={env}")
    return head + out


def _command_path(args: list[str]) -> str:
    """`dlx runs` for an error the parser raised without a context (an option missing its value)."""
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    command = next((a for a in args if not a.startswith("-")), None)
    return f"dlx {command}" if command in names else "dlx"
