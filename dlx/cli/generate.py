"""`dlx generate RUN`: text sampled from a language-model run (issue 16)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import OutputDir, app, warn


@app.command(short_help="Sample text from a language-model run (model=lm data=text).",
             epilog="\b\nExample:\n  dlx generate last --prompt \"the cat\" --tokens 200 --temperature 0.8 --top-k 10")
def generate(
    run: Annotated[str, typer.Argument(help="The run: id, unique prefix or suffix, `last`, or a folder.")],
    prompt: Annotated[str, typer.Option("--prompt", help="Text to continue; symbols outside the run's "
                                        "vocabulary are read as <unk> (with a warning).")] = "",
    tokens: Annotated[int, typer.Option("--tokens", min=0, help="How many tokens to sample.")] = 200,
    temperature: Annotated[float, typer.Option("--temperature", help="Softmax temperature (0: always the "
                                               "most probable token).")] = 1.0,
    top_k: Annotated[Optional[int], typer.Option("--top-k", min=1, help="Sample among the K most probable "
                                                 "tokens only.", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampling.")] = 0,
    output_dir: OutputDir = "outputs",
):
    """Continue --prompt with --tokens tokens sampled from RUN's best weights."""
    from dlx.use.language import generate as sample
    from dlx.use.restore import find

    typer.echo(sample(find(run, output_dir), prompt, tokens, temperature, top_k, seed, warn))
