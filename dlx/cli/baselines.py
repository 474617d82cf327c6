"""`dlx baselines`: every scikit-learn baseline that fits the data, on the same split (issue 28)."""

from __future__ import annotations

from typing import Annotated

import typer

from dlx.cli.app import Overrides, app


@app.command(short_help="Fit every baseline that fits the data; a leaderboard beside the networks.")
def baselines(
    overrides: Overrides = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the leaderboard.")] = False,
):
    """Fit every scikit-learn baseline that fits the data (knn, logistic or linear, svm, perceptron,
    naive_bayes, tree, forest, boosting) with its defaults on the split a network gets, each an
    ordinary run under outputs/runs/; then rank them beside the network runs of that data by the
    validation accuracy (classes) or R² (values). Overrides: data / trainer keys, no model keys.
    """
    from dlx.report.baselines import BaselineProgress, print_board
    from dlx.use.baselines import run_baselines

    print_board(run_baselines(overrides or [], BaselineProgress(quiet)))
