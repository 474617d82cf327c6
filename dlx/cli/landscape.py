"""`dlx landscape`: optimizer paths on 2-D test functions, or loss slices of a trained network."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import OutputDir, app
from dlx.errors import ConfigError

# the engine and report modules load inside the command: `dlx --help` imports none of them

LANDSCAPE_EPILOG = (
    "\b\nFunctions (fn=NAME; default start in brackets, --start to change it):\n"
    "  rosenbrock [-1.2,1]   beale [1,1.5]   saddle [1.5,0.001]   ravine [-8,1]   himmelblau [0,0]\n"
    "\b\nExamples:\n"
    "  dlx landscape fn=ravine optim=sgd,momentum,adam optim.lr=0.05 --steps 200 -o paths.png\n"
    "  dlx landscape last --slice 2d -o slice.png"
)


@app.command(epilog=LANDSCAPE_EPILOG, short_help="Optimizer paths on 2-D test functions; loss slices of a run.")
def landscape(
    arguments: Annotated[Optional[list[str]], typer.Argument(
        help="fn=NAME optim=a,b,... optim.KEY=VALUE for paths (default fn=rosenbrock, "
        "optim=sgd,momentum,nesterov,rmsprop,adam, each at its preset lr), or RUN with --slice.",
        show_default=False)] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimizer steps per path.")] = 200,
    start: Annotated[Optional[str], typer.Option("--start", help="Start point x,y (default: the function's).",
                                                 show_default=False)] = None,
    tol: Annotated[float, typer.Option("--tol", help="Count the steps until f − f* <= tol (> 0).")] = 1e-3,
    output: Annotated[str, typer.Option("--output", "-o", help="Image to write (.png, .pdf, .svg); the data "
                                        "goes beside it as .csv.")] = "landscape.png",
    slice_dims: Annotated[Optional[str], typer.Option(
        "--slice", metavar="1d|2d", help="1d | 2d: the loss of RUN's network along random filter-normalised directions "
        "around its best weights, on the training split.", show_default=False)] = None,
    points: Annotated[int, typer.Option("--points", min=3, help="Grid points per direction (--slice).")] = 21,
    span: Annotated[float, typer.Option("--span", help="The grid covers [-span, span] (--slice; > 0).")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random directions (--slice).")] = 0,
    output_dir: OutputDir = "outputs",
):
    """Draw optimizer paths on a 2-D test function (PNG, CSV of every step, a table of final
    values and steps to --tol), or with --slice the loss landscape around a run's best weights."""
    from dlx.engine import landscape as paths
    from dlx.report import landscape as draw

    if not (tol > 0 and span > 0):  # NaN fails too
        raise ConfigError(f"--tol and --span must be > 0, got --tol {tol:g} --span {span:g}")
    draw.check_output(output)
    arguments = list(arguments or [])
    if slice_dims is not None or (arguments and "=" not in arguments[0]):
        run, dims = _slice_arguments(arguments, slice_dims)
        result = paths.run_slice(output_dir, run, dims, points, span, seed)
        files = _save(draw.slice_figure(result), result.csv(), output)
        typer.echo(f"{result.run_id}: {len(result.alphas) * len(result.betas)} points, training loss "
                   f"{min(min(r) for r in result.losses):.4g} .. {max(max(r) for r in result.losses):.4g}")
    else:
        point = paths.parse_start(start) if start is not None else None
        function, optimizers = paths.plan_paths(arguments)
        result = paths.optimizer_paths(function, optimizers, point, steps, tol)
        entry = paths.check_function(function)
        files = _save(draw.paths_figure(result, entry.builder, entry.meta["box"]), paths.paths_csv(result), output)
        draw.print_paths_table(result)
    typer.echo("wrote " + ", ".join(str(f) for f in files))


def _save(figure, table: str, output) -> list:
    """The picture at `output` and its data beside it (same name, .csv): the two paths written."""
    from pathlib import Path

    from dlx.report.landscape import save_figure
    from dlx.store.files import atomic_write_text

    image = save_figure(figure, output)
    csv = Path(image).with_suffix(".csv")
    atomic_write_text(csv, table)
    return [image, csv]


def _slice_arguments(arguments: list[str], slice_dims: Optional[str]) -> tuple[str, int]:

    if slice_dims is None:
        raise ConfigError(f"'{arguments[0]}' looks like a run: give --slice 1d or --slice 2d for its loss "
                          "landscape, or fn=NAME for optimizer paths")
    if slice_dims.startswith("-") or not slice_dims.strip():  # `--slice --points 5`: the next option taken as its value
        raise ConfigError("--slice needs a value, 1d or 2d, before any other option: dlx landscape RUN --slice 1d")
    if slice_dims not in ("1d", "2d"):
        raise ConfigError(f"--slice {slice_dims}: choose 1d or 2d")
    if len(arguments) != 1 or "=" in arguments[0]:
        raise ConfigError("--slice takes one run (an id, a unique part of one, or 'last') and no overrides, "
                          "e.g. dlx landscape last --slice 1d")
    return arguments[0], int(slice_dims[0])
