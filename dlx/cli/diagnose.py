"""`dlx lr-find`: the learning-rate range test; the per-run diagnostics of `dlx show` / `dlx plot`
(--layers, --boundary, --importance, --sweep) dispatch here too."""

from __future__ import annotations

from typing import Annotated

import typer

from dlx.cli.app import GroupsHelp, Overrides, app
from dlx.cli.use import stopping
from dlx.errors import ConfigError

# the engine, report and sweep modules load inside the commands: `dlx --help` imports none of them


@app.command("lr-find", cls=GroupsHelp,
             short_help="LR range test: suggest a learning rate for a model, data and optimizer.")
def lr_find(
    overrides: Overrides = None,
    start: Annotated[float, typer.Option("--start", help="First learning rate.")] = 1e-7,
    end: Annotated[float, typer.Option("--end", help="Last learning rate.")] = 10.0,
    steps: Annotated[int, typer.Option("--steps", help="Mini-batches, the rate growing exponentially.")] = 100,
):
    """Grow the learning rate exponentially over mini-batches, record the smoothed loss, stop when it
    diverges; suggest a tenth of the rate at the loss's minimum and save the curve under
    outputs/lr-find/<id>/. No run is written."""
    from dlx.engine import lr_find as finder

    finder.check_range(start, end, steps)  # before any heavy import
    from dlx import config  # composes every schema: only when the command runs, not for --help

    exp = config.load(overrides or [])
    with stopping("dlx lr-find"):
        result = finder.run_range_test(exp, start, end, steps)
    folder = finder.save(exp, result, overrides or [])
    from dlx.report.figures import save_figure
    from dlx.report.lr_find import curve_figure, print_lr_find

    save_figure(curve_figure(result), folder / "curve.png")
    print_lr_find(result, folder)


def show_diagnostic(output_dir: str, ref: str, *, layers: bool, importance: bool) -> None:
    """`dlx show RUN --layers` | `dlx show SWEEP --importance`."""
    if layers and importance:
        raise ConfigError("--layers shows a run, --importance a sweep: give one of them")
    if layers:
        from dlx.report.layers import show_layers

        return show_layers(output_dir, ref)
    from dlx.report.sweep_analysis import print_importances
    from dlx.sweep.refine import importances

    print_importances(*importances(output_dir, ref))


def plot_diagnostic(output_dir: str, refs: list[str], output: str, *, layers, boundary: bool, sweep):
    """`dlx plot RUN --layers STAT` | `dlx plot RUN --boundary` | `dlx plot --sweep SWEEP`; returns the path."""
    asked = [name for name, on in (("--layers", layers is not None), ("--boundary", boundary),
                                   ("--sweep", sweep is not None)) if on]
    if len(asked) > 1:
        raise ConfigError(f"{asked[0]} and {asked[1]} draw different figures: give one of them")
    if sweep is not None:
        if refs:
            raise ConfigError("--sweep draws one sweep: drop the run ids")
        from dlx.report.sweep_analysis import plot_sweep

        return plot_sweep(output_dir, sweep, output)
    if len(refs) != 1:
        raise ConfigError(f"{asked[0]} draws one run: give exactly one run id (or `last`)")
    if boundary:
        from dlx.report.boundary import plot_boundary

        return plot_boundary(output_dir, refs[0], output)
    from dlx.report.layers import plot_layers

    return plot_layers(output_dir, refs[0], layers, output)


def refine_sweep(ref: str, top: int, overrides: list[str], trials, continuing) -> tuple[list[str], int]:
    """`dlx sweep --refine SWEEP [--top K] [fixed overrides]`: (the refined sweep's overrides, trials)."""
    from dlx.sweep.refine import refined_overrides

    if continuing:
        raise ConfigError("--refine starts a new sweep; it does not combine with --resume or --join")
    if not ref:
        raise ConfigError("--refine needs a sweep: its id, a unique part of one, or 'last'")
    from dlx import config

    output_dir = str(config.compose([o for o in overrides if o.startswith("output_dir=")]).output_dir)
    refined, spec = refined_overrides(output_dir, ref, top, overrides)
    from dlx.report import console

    console.print(f"refining {spec.id} around its best {top} trial(s): "
                  + " ".join(o for o in refined if o not in overrides), highlight=False, soft_wrap=True)
    return refined, trials or spec.get("trials")
