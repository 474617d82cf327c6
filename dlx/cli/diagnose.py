"""`dlx lr-find`: the learning-rate range test; the per-run diagnostics of `dlx show` / `dlx plot`
(--layers, --boundary, --importance, --sweep) dispatch here too."""

from __future__ import annotations

from typing import Annotated

import typer

from dlx.cli.app import Overrides, app, groups_epilog


@app.command("lr-find", epilog=groups_epilog(),
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
    from dlx import config
    from dlx.engine import lr_find as finder

    finder.check_range(start, end, steps)  # before any heavy import
    exp = config.load(overrides or [])
    result = finder.run_range_test(exp, start, end, steps)
    folder = finder.save(exp, result, overrides or [])
    from dlx.report.lr_find import print_lr_find

    print_lr_find(result, folder)
