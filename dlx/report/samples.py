"""Pictures of generative runs (matplotlib, written to a file): sample grids, 2-D sample
scatters over the data, latent scatters coloured by label."""

from __future__ import annotations

from pathlib import Path

from dlx.store.pictures import as_array, drawable, figure, write_picture


PICTURES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")  # what `dlx sample -o` draws (matplotlib writes them)
MAX_PICTURE, MAX_CSV = 10_000, 1_000_000  # `dlx sample -n` at most (a grid of more is unreadable)


def sample_target(output: str, n: int) -> Path:
    """The file `dlx sample -o OUTPUT -n N` writes, checked before any work: a folder gets
    samples.png inside it, a name without a suffix gets .png; another suffix or too many
    samples is one line."""
    from dlx.errors import ConfigError

    path = Path(output).expanduser()
    if path.is_dir():
        path = path / "samples.png"
    elif not path.suffix:
        path = path.with_suffix(".png")
    suffix = path.suffix.lower()
    if suffix != ".csv" and suffix not in PICTURES:
        raise ConfigError(f"-o {output}: write a picture ({', '.join(PICTURES)}), .csv for the numbers, "
                          "or give a folder")
    limit = MAX_CSV if suffix == ".csv" else MAX_PICTURE
    if n > limit:
        raise ConfigError(f"-n {n:,}: at most {limit:,} samples into a {suffix} file"
                          + ("" if suffix == ".csv" else f" (a .csv takes up to {MAX_CSV:,})"))
    if not path.parent.is_dir():
        raise ConfigError(f"-o {output}: folder {path.parent} does not exist")
    return path


def save_samples(samples, output: Path, data=None, title: str = "") -> Path:
    """Images (n, C, H, W) as a grid; 2-D points as a scatter (over `data` when given);
    `.csv`: the samples' numbers, one row each."""
    import numpy as np

    output = Path(output)
    x = as_array(samples)
    if output.suffix == ".csv":
        np.savetxt(output, x.reshape(len(x), -1), delimiter=",", fmt="%.6g")
        return output
    if not drawable(x.shape):
        from dlx.errors import ConfigError

        raise ConfigError(f"samples of shape {tuple(x.shape[1:])} have no picture (images or 2-D points do); "
                          "write them with -o samples.csv")
    write_picture(output, x, data, title)
    return output


def save_latent(codes, labels, classes, output: Path, title: str = "") -> Path:
    """A 2-D code per test sample, coloured by its label."""
    plt = figure()
    z, y = codes.cpu().numpy(), labels.cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(z[:, 0], z[:, 1], c=y, s=8, cmap="tab10")
    if classes and len(classes) <= 20:
        handles = points.legend_elements()[0]
        ax.legend(handles, [classes[i] for i in sorted(set(y.tolist()))], fontsize=7, loc="best")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    if title:
        ax.set_title(title)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return Path(output)
