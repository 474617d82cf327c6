"""`dlx sample`: draw from a trained generative run (model=autoencoder | vae | gan)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import OutputDir, app


@app.command(short_help="Draw samples from a generative run (vae, autoencoder, gan) into an image.")
def sample(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run: id, unique prefix or suffix, folder, or `last`.")],
    n: Annotated[int, typer.Option("-n", help="How many samples (at most 10,000 in a picture, 1,000,000 "
                                   "in a .csv).")] = 64,
    output: Annotated[str, typer.Option("--output", "-o", help="Image to write (.png, .pdf, .svg, .jpg), .csv "
                                        "for the numbers, or a folder (samples.png in it).")] = "samples.png",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the latent draws.")] = 0,
    between: Annotated[Optional[tuple[int, int]], typer.Option(
        "--interpolate", metavar="A B", help="Instead: decode n codes on the line between test samples A and B "
        "(autoencoder, vae).", show_default=False)] = None,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="best | last weights.")] = "best",
    output_dir: OutputDir = "outputs",
):
    """Decode n codes drawn from N(0, I) (a GAN: n generator draws), in the data's own units:
    a grid for images, a scatter for 2-D points."""
    from dlx.errors import ConfigError

    if n < 1:
        raise ConfigError(f"-n {n}: draw at least 1 sample")
    from dlx.report.samples import sample_target, save_samples
    from dlx.use.generate import generative_run, sample as draw
    from dlx.use.restore import find

    output = sample_target(output, n)  # before torch loads: a wrong suffix or -n is said at once
    path = find(run, output_dir)
    generative_run(path)  # a clear line before torch loads
    if between is not None:
        from dlx.use.generate import interpolate

        samples, restored = interpolate(path, between[0], between[1], n, checkpoint)
    else:
        samples, restored = draw(path, n, seed, checkpoint)
    written = save_samples(samples, output, title=f"{restored.exp.model.name} · {path.name}")
    typer.echo(f"wrote {written}")
