"""`dlx cv`: k-fold cross-validation."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import GroupsHelp, Overrides, app


@app.command(cls=GroupsHelp, short_help="K-fold cross-validation: mean ± std per metric.")
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
    from dlx import api, report

    result = api.cv(*(overrides or []), folds=folds, repeats=repeats, jobs=jobs, test=test, resume=resume,
                    progress=report.CVProgress(quiet), group_col=group_col).result
    report.print_cv(result)
    if result.failed:
        skipped = "; no fold finished, so no refit and no test evaluation" if test and not result.averaged else ""
        report.error(f"{len(result.failed)} of {len(result.rows)} folds failed ({', '.join(result.failed)}); "
                     f"the mean averages {result.averaged}{skipped}; rerun them with "
                     f"`dlx cv --resume {result.cv_id}`")
        raise typer.Exit(1)
