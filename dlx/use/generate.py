"""Use a trained generative run: draw samples, encode the test split to its latent code.

The run is restored to its Task (dlx.use.restore, the one rebuild path); samples are
returned in the data's own units (the run's preprocessing undone).
"""

from __future__ import annotations

from pathlib import Path

from dlx.errors import ConfigError
from dlx.use.restore import find, restore

GENERATIVE = ("autoencoder", "vae", "gan")


def generative_run(path: Path) -> str:
    """The run's model name, or a ConfigError when it does not generate (read from config.yaml only)."""
    from dlx.engine.saved import read_raw

    name = str(read_raw(Path(path)).model.name)
    if name not in GENERATIVE:
        raise ConfigError(f"run {Path(path).name} trained model={name}, which does not generate samples; "
                          f"dlx sample (and plot --latent) take runs of model={' | '.join(GENERATIVE)}")
    return name


def unprocess(fitted: dict, x):
    """Undo data.preprocess (standardize, minmax, ...) with the statistics fitted on train."""
    mode = fitted.get("mode", "none")
    if mode == "pixels":
        return x * 255.0
    if mode == "center":
        return x + fitted["mean"]
    if mode == "standardize":
        std = fitted["std"]
        return x * std.where(std > 1e-8, 1.0) + fitted["mean"]
    if mode in ("minmax", "minmax_sym"):
        unit = x if mode == "minmax" else (x + 1) / 2
        span = fitted["max"] - fitted["min"]
        return unit * span.where(span > 1e-8, 1.0) + fitted["min"]
    return x


def sample(path: Path, n: int, seed: int = 0, which: str = "best"):
    """(samples (n, *input_shape) in the data's units, the restored run): the run's Task draws them."""
    import torch

    generative_run(path)
    restored = restore(path, which)
    x = restored.problem.sample(n, torch.Generator().manual_seed(seed))
    return unprocess(restored.preprocess, x), restored


def latent_codes(path: Path, which: str = "best"):
    """(codes (N, latent) of the test split — the mean code of a VAE —, labels, class names)."""
    import torch

    from dlx import data

    if generative_run(path) == "gan":
        raise ConfigError("a GAN has no encoder: --latent takes runs of model=autoencoder or vae")
    restored = restore(path, which)
    if restored.model.latent != 2:
        raise ConfigError(f"--latent draws a 2-D code, but this run has model.latent={restored.model.latent}; "
                          "train with model.latent=2")
    bundle = data.build(restored.exp.data)  # the same seeded split and fitted preprocessing
    with torch.inference_mode():
        codes, _ = restored.model.encode(bundle.test.x)
    return codes, bundle.test.y, restored.classes


def plot_latent(refs: list[str], output: str, output_dir: str, save_latent) -> Path:
    """`dlx plot RUN --latent`: the test split's 2-D codes, coloured by label, written to `output` by
    the caller's `save_latent(codes, labels, classes, path, title=)` (the use layer draws nothing)."""
    if len(refs) != 1:
        raise ConfigError(f"--latent draws one run's code; {len(refs)} runs were named")
    path = find(refs[0], output_dir)
    codes, labels, classes = latent_codes(path)
    return save_latent(codes, labels, classes, Path(output), title=f"latent code · {path.name}")


def interpolate(path: Path, a: int, b: int, n: int, which: str = "best"):
    """n decodings along the straight line between the codes of test samples `a` and `b`."""
    import torch

    from dlx import data

    if generative_run(path) == "gan":
        raise ConfigError("a GAN has no encoder: --interpolate takes runs of model=autoencoder or vae")
    restored = restore(path, which)
    test = data.build(restored.exp.data).test.x
    for i in (a, b):
        if not 0 <= i < len(test):
            raise ConfigError(f"--interpolate {i}: the test split has samples 0..{len(test) - 1}")
    with torch.inference_mode():
        codes, _ = restored.model.encode(test[[a, b]])
        t = torch.linspace(0, 1, n)[:, None]
        x = restored.model.decode((1 - t) * codes[0] + t * codes[1])
        if restored.exp.model.recon == "bce":
            x = torch.sigmoid(x)
    return unprocess(restored.preprocess, x), restored
