"""`dlx plot RUN --embed pca|tsne`: a 2-D view of what a run sees, coloured by class (issue 28).

What is embedded, per run: a VAE / autoencoder's latent code (`model.encode`); a network's last
hidden layer (the input of its last linear layer, caught by a forward hook); for a scikit-learn
baseline, or a network without a linear head, the preprocessed inputs themselves. The rows are
the test split of the run's own data config (same seed, split and preprocessing).

Beside the picture, the cluster purity of k-means and of a Gaussian mixture (k = the number of
classes) fitted on the same features (full width, not the 2-D view) against the labels: the
share of rows whose cluster's majority class is their own (1: the classes are the clusters).
It is printed by the command, written in the figure's title and kept in the run's
eval/embed.json (through the store), where `dlx show RUN` finds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlx.errors import ConfigError
from dlx.store.ensembles import write_eval

METHODS = ("pca", "tsne")
EMBED = "embed"  # RUN/eval/embed.json


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose cluster's most frequent label is their own."""
    total = 0
    for c in np.unique(clusters):
        total += np.bincount(labels[clusters == c]).max()
    return total / len(labels)


def cluster_purity(features: np.ndarray, labels: np.ndarray, k: int, seed: int = 0) -> dict[str, float]:
    """k-means and Gaussian-mixture purity of `features` against integer `labels`."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(features)
    gmm = GaussianMixture(n_components=k, covariance_type="diag", random_state=seed).fit(features).predict(features)
    return {"kmeans_purity": purity(kmeans, labels), "gmm_purity": purity(gmm, labels)}


def project(features: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(N, 2) by PCA or t-SNE (perplexity capped for small splits)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(features)
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def features_of(path: Path):
    """(features (N, F), labels, class names, what they are) of the run's test split."""
    import torch

    from dlx import data
    from dlx.use.restore import read_config, restore

    exp = read_config(path)
    bundle = data.build(exp.data)
    if bundle.kind == "regression" or getattr(bundle.test, "x", None) is None:
        raise ConfigError(f"--embed colours rows by class: run {path.name}'s data is {bundle.kind}, "
                          "or is read from files batch by batch")
    x, y = bundle.test.x, bundle.test.y.long()
    has_weights = (path / "checkpoints" / "best.pt").is_file()
    model = restore(path, "best").model if has_weights else None
    if model is None or getattr(model, "fits_estimator", False):
        return x.reshape(len(x), -1).double().numpy(), y.numpy(), bundle.classes, "inputs"
    with torch.inference_mode():
        if hasattr(model, "encode"):  # an autoencoder / VAE: its code
            codes, _ = model.encode(x)
            return codes.reshape(len(x), -1).double().numpy(), y.numpy(), bundle.classes, "latent code"
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            return x.reshape(len(x), -1).double().numpy(), y.numpy(), bundle.classes, "inputs"
        caught = []
        hook = linears[-1].register_forward_hook(lambda m, inputs, out: caught.append(inputs[0].detach()))
        try:
            model(x)
        finally:
            hook.remove()
    return caught[0].reshape(len(x), -1).double().numpy(), y.numpy(), bundle.classes, "last hidden layer"


def purity_line(stored: dict) -> str:
    """What `dlx show` says of a stored eval/embed.json."""
    return (f"cluster purity of the {stored.get('features', '?')} ({stored.get('split', 'test')} split, "
            f"k={stored.get('clusters', '?')}): k-means {stored['kmeans_purity']:.3f} · GMM {stored['gmm_purity']:.3f}")


def plot_embed(root, ref: str, output, method: str) -> tuple[Path, dict[str, float]]:
    """Draw the 2-D embedding of run `ref`'s test split; (the image, the cluster purities)."""
    from dlx.report.figures import check_output, new_figure, save_figure
    from dlx.store import runs

    if method not in METHODS:
        raise ConfigError(f"--embed {method}: choose pca or tsne")
    check_output(output)
    record = runs.find_record(root, ref)
    features, labels, classes, what = features_of(Path(record.path))
    k = max(2, len(np.unique(labels)))
    scores = cluster_purity(features, labels, k)
    write_eval(record.path, EMBED, {"split": "test", "features": what, "rows": len(labels), "clusters": k, **scores})
    points = project(features, method)
    fig = new_figure((6, 5))
    ax = fig.add_subplot()
    drawn = ax.scatter(points[:, 0], points[:, 1], c=labels, s=8, cmap="tab10")
    if classes and len(classes) <= 20:
        ax.legend(drawn.legend_elements()[0], [str(classes[i]) for i in sorted(set(labels.tolist()))],
                  fontsize=7, loc="best")
    ax.set_title(f"{method.upper()} of the {what} · {record.id}\n"
                 f"k-means purity {scores['kmeans_purity']:.3f} · GMM purity {scores['gmm_purity']:.3f}", fontsize=8)
    return save_figure(fig, output), scores
