"""`dlx runs`, `dlx show`, `dlx compare`, `dlx plot`: reading the run store."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import CvId, GroupBy, OutputDir, Sort, SweepId, Where, app, check_format, format_option


@app.command("runs", short_help="List runs, newest first, with status and metrics.")
def list_runs(
    where: Where = None,
    sort: Sort = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Show the first N runs.")] = None,
    sweep: SweepId = None,
    cv: CvId = None,
    all_runs: Annotated[bool, typer.Option("--all", "-a", help="Include sweep and CV member runs.")] = False,
    group_by: GroupBy = None,
    fmt: format_option("table, csv, json (markdown with --group-by)") = "table",
    output_dir: OutputDir = "outputs",
    to_mlflow: Annotated[bool, typer.Option("--to-mlflow", help="Instead: import RUNS (default: all) into MLflow, "
                                            "history included; again sends only what it lacks.")] = False,
    refs: Annotated[Optional[list[str]], typer.Argument(help="With --to-mlflow: the runs to import.",
                                                        show_default=False, metavar="[RUN]...")] = None,
):
    """List runs, newest first: status, config groups, best monitored value, test metrics, time."""
    from dlx import report

    if to_mlflow:  # dlx.engine.mlflow_logger: the same sender a live run uses
        from dlx.engine.mlflow_logger import import_runs

        for run_id, mlflow_id in import_runs(output_dir, refs or ()):
            typer.echo(f"{run_id} -> MLflow run {mlflow_id}")
        return

    report.list_runs(output_dir, where=where or (), sort=sort, limit=limit, sweep=sweep, cv=cv,
                     members=all_runs, group_by=group_by, fmt=check_format(fmt, group_by))


@app.command(short_help="Show one run: config, metrics per epoch, curves.")
def show(
    run: Annotated[str, typer.Argument(help="A run id, a unique prefix or suffix of one, or `last` "
                                            "(with --importance: a sweep id).")],
    layers: Annotated[bool, typer.Option("--layers", help="Per-layer statistics (runs trained with "
                                         "trainer.watch=...).")] = False,
    importance: Annotated[bool, typer.Option("--importance", help="RUN is a sweep: hyper-parameter "
                                             "importances (optuna, fANOVA).")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Seconds per phase and epoch (runs trained "
                                          "with trainer.profile=true).")] = False,
    output_dir: OutputDir = "outputs",
):
    """Show one run: its config (overrides highlighted), metrics per epoch, curves and summary."""
    if profile:
        from dlx.report.profile import show_profile

        return show_profile(output_dir, run)
    if layers or importance:
        from dlx.cli.diagnose import show_diagnostic

        return show_diagnostic(output_dir, run, layers=layers, importance=importance)
    from dlx import report

    report.show_run(output_dir, run)


@app.command(short_help="Compare runs: differing keys, metrics, curves.")
def compare(
    runs: Annotated[Optional[list[str]], typer.Argument(help="Run ids, unique prefixes or suffixes, `last`.",
                                                        show_default=False)] = None,
    sweep: SweepId = None,
    cv: CvId = None,
    where: Where = None,
    group_by: GroupBy = None,
    sort: Sort = None,
    fmt: format_option("table, csv, json, markdown") = "table",
    output_dir: OutputDir = "outputs",
):
    """Compare runs side by side: config keys that differ, final metrics, validation curves."""
    from dlx import report

    report.compare_runs(output_dir, runs or [], sweep=sweep, cv=cv, where=where or (), group_by=group_by,
                        sort=sort, fmt=check_format(fmt, "markdown"))


@app.command(short_help="Save learning curves of runs as an image.")
def plot(
    runs: Annotated[Optional[list[str]], typer.Argument(help="Run ids, unique prefixes or suffixes, `last`.",
                                                        show_default=False)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Image file to write (.png, .pdf, .svg).")]
    = "curves.png",
    metric: Annotated[Optional[list[str]], typer.Option(
        "--metric", "-m", help="Metrics to draw: a name (acc: train and val) or a column (val_acc). "
        "Default: loss and the monitored metric.", show_default=False)] = None,
    layers: Annotated[Optional[str], typer.Option(
        "--layers", metavar="STAT", help="One line per layer of a per-layer statistic (grad_norm, weight_norm, "
        "update_ratio, act_mean, act_std, dead_frac, saturated_frac; trainer.watch=...).")] = None,
    boundary: Annotated[bool, typer.Option(
        "--boundary", help="Decision regions of a classifier on 2-D data, with its train and test points.")] = False,
    sweep: Annotated[Optional[str], typer.Option(
        "--sweep", help="A sweep (id, prefix, `last`): parallel coordinates and one slice per key.")] = None,
    attention: Annotated[bool, typer.Option("--attention", help="Instead: the attention heat maps a seq2seq "
                                            "run saved (one run).")] = False,
    latent: Annotated[bool, typer.Option("--latent", help="Instead: scatter the 2-D code of the test split "
                                         "of one autoencoder / VAE run, coloured by label.")] = False,
    embed: Annotated[Optional[str], typer.Option("--embed", metavar="pca|tsne", help="Instead: PCA or t-SNE of "
                     "one run's test split (inputs, last hidden layer or latent), coloured by class, with "
                     "k-means / GMM cluster purity.", show_default=False)] = None,
    profile: Annotated[bool, typer.Option("--profile", help="Instead: a bar chart of where one run's time "
                                          "went (trainer.profile=true).")] = False,
    output_dir: OutputDir = "outputs",
):
    """Save the learning curves of runs as an image: train dashed, validation solid (matplotlib)."""
    if attention:
        from dlx.errors import ConfigError
        from dlx.report.attention import plot_attention

        if len(runs or []) != 1:
            raise ConfigError(f"--attention draws one run, got {len(runs or [])}")
        typer.echo(f"wrote {plot_attention(output_dir, runs[0], output)}")
        return
    if embed is not None:
        from dlx.report.embed import plot_embed

        if len(runs or []) != 1:
            from dlx.errors import ConfigError

            raise ConfigError(f"--embed draws one run, got {len(runs or [])}")
        path, scores = plot_embed(output_dir, runs[0], output, embed)
        typer.echo(f"wrote {path}  " + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        return
    if profile:
        from dlx.errors import ConfigError
        from dlx.report.profile import plot_profile

        if len(runs or []) != 1:
            raise ConfigError(f"--profile draws one run, got {len(runs or [])}")
        typer.echo(f"wrote {plot_profile(output_dir, runs[0], output)}")
        return
    if latent:
        from dlx.report.samples import save_latent
        from dlx.use.generate import plot_latent

        typer.echo(f"wrote {plot_latent(runs or [], output, output_dir, save_latent)}")
        return
    if layers is not None or boundary or sweep is not None:
        from dlx.cli.diagnose import plot_diagnostic

        path = plot_diagnostic(output_dir, runs or [], output, layers=layers, boundary=boundary, sweep=sweep)
        typer.echo(f"wrote {path}")
        return
    if not runs:
        from dlx.errors import ConfigError

        raise ConfigError("name the runs to plot (an id, a prefix or `last`), or give --sweep SWEEP")
    from dlx.report import plot as plotting

    path = plotting.plot_runs(output_dir, runs, output, metric or [])
    typer.echo(f"wrote {path}")
