"""`dlx eval`, `dlx predict`, `dlx export`, `dlx ensemble`, `dlx bag`: using trained runs."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from dlx.cli.app import GroupsHelp, OutputDir, Overrides, app, warn



def choice(option: str, values: tuple[str, ...]):
    """A Typer parser that takes one of `values` (the help shows them) and refuses anything else
    with dlx's one line: `--split dev: choose test, val, train or all`."""
    from dlx.errors import ConfigError

    words = ", ".join(values[:-1]) + " or " + values[-1]

    def parse(value: str) -> str:
        if value not in values:
            raise ConfigError(f"{option} {value}: choose {words}")
        return value

    return parse


@contextmanager
def stopping(command: str, written: str = "nothing was written"):
    """Ctrl-C (130) or SIGTERM (143) stop `command` with one line; the output's temporary file is
    removed on the way out (SIGTERM is raised here, so the writers' cleanup runs as for Ctrl-C)."""
    import signal

    from dlx.errors import Interrupted

    def on_term(signum, _frame):
        raise Interrupted(f"{command} stopped by SIGTERM; {written}", 143)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_term) if main else None
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(f"{command} stopped by Ctrl-C; {written}", 130) from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


SPLITS, CHECKPOINTS, EXPORTS = ("test", "val", "train", "all"), ("best", "last"), ("torchscript", "onnx")
FORMATS = ("table", "csv", "json")
Run = Annotated[str, typer.Argument(metavar="RUN", help="A run: id, unique prefix or suffix, folder, or `last`.")]
Checkpoint = Annotated[str, typer.Option("--checkpoint", metavar="[best|last]",
                                         parser=choice("--checkpoint", CHECKPOINTS), help="Which weights.")]


@app.command("eval", short_help="Score a trained run on a split or on other data.")
def eval_run(
    run: Run,
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="data=... / data.key=... to evaluate on other data with the same features.", show_default=False)] = None,
    split: Annotated[str, typer.Option("--split", metavar="[test|val|train|all]", parser=choice("--split", SPLITS),
                                       help="The split to score.")] = "test",
    checkpoint: Checkpoint = "best",
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="[table|csv|json]", parser=choice("--format", FORMATS),
                                     help="Output: table, csv (the confusion matrix) or json.")] = "table",
    plot: Annotated[Optional[str], typer.Option("--plot", metavar="FILE", help="Also draw the confusion matrix "
                                                "as an image (cm.png).", show_default=False)] = None,
    episodes: Annotated[Optional[int], typer.Option("--episodes", min=1, show_default=False,
                                                    help="An agent: mean ± std return and episode lengths over "
                                                    "N greedy episodes (seeded as the run's test).")] = None,
    output_dir: OutputDir = "outputs",
):
    """Every metric of the task on a split, with the confusion matrix and per-class precision, recall,
    F1 and support (or residuals for regression); an agent's returns over --episodes N; written to
    RUN/eval/<split-or-name>.json."""
    from dlx import api
    from dlx.report.use import print_eval

    if plot is not None:
        from dlx.report.figures import check_output

        check_output(plot)  # a missing folder is refused before any work
    with stopping("dlx eval"):
        result, written = api.evaluate(run, overrides or [], split, checkpoint, output_dir, episodes)
    print_eval(result, fmt, written)
    if plot is not None:
        from dlx.report.figures import plot_confusion

        typer.echo(f"wrote {plot_confusion(result, plot)}", err=fmt != "table")


@app.command(short_help="Predict with a trained run: CSV rows, images, or a split.")
def predict(
    run: Run,
    args: Annotated[Optional[list[str]], typer.Argument(
        metavar="[INPUT] [OVERRIDES]", help="A CSV file, an image file or folder, a text file of sequences "
        "(seq2seq and tagging runs: one per line, symbols separated by spaces); or data overrides with --split.",
        show_default=False)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="The CSV to write, or - for stdout.")] = "-",
    proba: Annotated[bool, typer.Option("--proba", help="Add one probability column per class.")] = False,
    split: Annotated[Optional[str], typer.Option("--split", metavar="[test|val|train|all]",
                                                 parser=choice("--split", SPLITS), show_default=False,
                                                 help="Predict a split of the run's data instead of INPUT.")] = None,
    id_column: Annotated[Optional[str], typer.Option("--id", metavar="COL", show_default=False,
                                                    help="An input CSV's id column, written first (default: "
                                                    "`row`, the row's number from 0).")] = None,
    keep: Annotated[Optional[list[str]], typer.Option("--keep", metavar="COL", show_default=False,
                                                      help="Input CSV columns written beside the predictions "
                                                      "(repeat, or COL,COL).")] = None,
    checkpoint: Checkpoint = "best",
    output_dir: OutputDir = "outputs",
):
    """One row per input: the predicted label in the training data's own values (strings stay strings),
    with --proba one probability column per class; regression values in the target's units."""
    from dlx import api
    from dlx.report.use import print_predicted

    args = list(args or [])
    overrides = [a for a in args if "=" in a]
    inputs = [a for a in args if "=" not in a]
    if len(inputs) > 1:
        from dlx.errors import ConfigError

        raise ConfigError(f"one INPUT at a time, got {len(inputs)}: {', '.join(inputs[:3])}")
    source = inputs[0] if inputs else None
    if source is None and split is None and not overrides:
        from dlx.errors import ConfigError

        raise ConfigError("give an INPUT (a CSV file, an image file or folder) or --split test")
    kept = tuple(c for item in keep or [] for c in item.split(",") if c)
    with stopping("dlx predict"):
        info = api.predict_file(run, source, output, overrides=overrides, split=split, proba=proba,
                                checkpoint=checkpoint, output_dir=output_dir, warn=warn, id_column=id_column, keep=kept)
    print_predicted(info)


@app.command(short_help="Write a run's model as TorchScript or ONNX (preprocessing built in).")
def export(
    run: Run,
    to: Annotated[str, typer.Option("--format", "-f", metavar="[torchscript|onnx]", parser=choice("--format", EXPORTS),
                                    help="The file format.")] = "torchscript",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="The file (default RUN/model.pt|.onnx).",
                                                  show_default=False)] = None,
    checkpoint: Checkpoint = "best",
    output_dir: OutputDir = "outputs",
):
    """A self-contained file: raw features in (the training preprocessing is its first layer),
    probabilities or values out. TorchScript needs only torch; ONNX only onnxruntime."""
    from dlx import api
    from dlx.report.use import print_export

    print_export(api.export(run, to, output, output_dir, checkpoint))


@app.command(short_help="Combine runs, a CV's folds or a sweep's best trials on their test split.")
def ensemble(
    runs: Annotated[Optional[list[str]], typer.Argument(help="Member runs (ids, prefixes, folders).",
                                                        show_default=False)] = None,
    cv: Annotated[Optional[str], typer.Option("--cv", help="The fold models of one CV.", show_default=False)] = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="The best trials of one sweep.",
                                                 show_default=False)] = None,
    top: Annotated[Optional[int], typer.Option("--top", "-k", min=2, help="With --sweep: how many (default 5).",
                                               show_default=False)] = None,
    method: Annotated[str, typer.Option("--method", help="mean (of probabilities) | vote (majority)")] = "mean",
    output_dir: OutputDir = "outputs",
):
    """Average the members' probabilities (or take a majority vote) on their common test split; print each
    member's test metrics, their mean ± std and the ensemble's; write outputs/ensembles/<id>/."""
    from dlx.report.use import print_ensemble
    from dlx.use import ensemble as ens

    if method not in ens.METHODS:
        from dlx.errors import ConfigError

        raise ConfigError(f"--method {method}: choose mean or vote")
    with stopping("dlx ensemble", "no ensemble was written"):
        paths = ens.member_paths(output_dir, runs or [], cv, sweep, top)
        label = f"cv-{cv}" if cv else f"sweep-{sweep}" if sweep else "runs"
        summary = ens.build(paths, method, output_dir, label=label)
    print_ensemble(summary)


@app.command(cls=GroupsHelp, short_help="Bagging: members on bootstrap samples, then their ensemble.")
def bag(
    overrides: Overrides = None,
    members: Annotated[int, typer.Option("--members", "-n", help="How many members.")] = 10,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", show_default=False, help=(
        "Members trained in parallel processes (default 1; --resume: the recorded number)."))] = None,
    method: Annotated[str, typer.Option("--method", help="mean | vote")] = "mean",
    resume: Annotated[Optional[str], typer.Option("--resume", metavar="BAG", help=(
        "Finish a stopped bag (its id, a unique part of one, its folder or `last`): its recorded "
        "experiment, members and method; only output_dir= may be given."))] = None,
):
    """Train N members of one experiment, each on a bootstrap sample of the training rows (seeded by
    its number, recorded in members.json and its log.txt), then ensemble them on the test split.
    Ctrl-C keeps the finished members; `dlx bag --resume BAG` trains the rest."""
    from dlx.report.use import print_ensemble, print_member
    from dlx.use.bag import bag as run_bag

    summary = run_bag(overrides or [], members, jobs, method, on_done=print_member, resume=resume)
    print_ensemble(summary)
