"""`dlx train`: one run, from overrides or --resume."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import GroupsHelp, Overrides, app


@app.command(cls=GroupsHelp, short_help="Train a model, test it, write the run under outputs/runs/.")
def train(
    overrides: Overrides = None,
    cfg: Annotated[bool, typer.Option("--cfg", help="Print the composed config and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final table.")] = False,
    resume: Annotated[Optional[str], typer.Option(
        "--resume", metavar="RUN",
        help="Continue a stopped run (id, unique prefix/suffix, path or 'last') from its last checkpoint; "
             "overrides may then change only trainer.epochs, trainer.num_threads, "
             "trainer.checkpoint_every_steps, trainer.checkpoint_every_s, trainer.tensorboard, output_dir.")] = None,
):
    """Train a model, evaluate it on the test split and write the run under outputs/runs/."""
    from dlx import api
    from dlx.engine import distributed, launch
    from dlx.engine.mlflow_logger import prestart

    if not cfg:
        prestart(overrides or [])  # trainer.loggers=[mlflow]: its worker loads while dlx loads torch
    exp, target = api.prepare(overrides or [], resume, check_files=not cfg)
    if cfg:
        from omegaconf import OmegaConf

        typer.echo(OmegaConf.to_yaml(exp.raw), nl=False)
        return
    if distributed.should_launch(exp.trainer):  # trainer.devices=N: N processes, this one waits
        from dlx.engine.tasks import check_before_launch

        check_before_launch(exp)
        if target is not None:
            target.run.unlock()  # rank 0 takes the run over
        argv = ["train", *(overrides or []), *(["--resume", resume] if resume else []), *(["-q"] if quiet else [])]
        launch.launch(argv, exp.trainer, run=target.run if target else None)
        return
    from dlx import report
    from dlx.report.layers import say

    display = report.ProgressDisplay(exp.trainer.epochs, quiet=quiet)
    try:
        run = api.fit(exp, overrides or [], target, callbacks=[display], say=say)
    finally:
        display.close()
    report.print_summary(run.summary, fitted=display.fitting is not None)
