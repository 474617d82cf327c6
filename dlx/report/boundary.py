"""`dlx plot RUN --boundary -o b.png`: the decision regions of a classifier on 2-D data.

The run is restored to its Task with its best weights (checkpoints/best.pt, loaded with
weights only: dlx.use.restore); the data is rebuilt from the same config (same seed, same split,
same preprocessing), so the training points are the ones it saw. Regions are coloured by
the predicted class over a grid in the model's input space (preprocessed features);
training points are dots, test points crosses. Underfitting (a straight line through
moons) and overfitting (islands around single points) become visible.
"""

from __future__ import annotations

from pathlib import Path

from dlx.errors import ConfigError

GRID = 300  # points per axis


def check_2d(exp, run_id: str) -> None:
    """Refuse data that is not 2-D classification before anything heavy is built (csv: after loading)."""
    from dlx import plugins
    from dlx.registry import DATASETS

    plugins.load()
    meta = DATASETS.get(exp.data.name).meta
    shape = meta.get("shape")
    if isinstance(shape, tuple) and shape != (2,):
        features = "x".join(map(str, shape))
        raise ConfigError(f"--boundary draws 2-D data only: run {run_id} was trained on {exp.data.name} "
                          f"({features} features); try data=moons, xor, circles, spirals, linear or a 2-column CSV")
    if meta.get("task") == "regression":
        raise ConfigError(f"--boundary draws classifiers: run {run_id} is a regression on {exp.data.name}")


def rebuild(record):
    """(exp, bundle, model with the best weights, in eval mode) of a finished run: restored to its
    Task by dlx.use.restore, the one rebuild path."""
    from dlx import data
    from dlx.use.restore import checkpoint_file, read_config, restore

    exp = read_config(Path(record.path))
    check_2d(exp, record.id)
    checkpoint_file(Path(record.path), "best")  # before the data is built: a run without one says why
    bundle = data.build(exp.data)
    if tuple(bundle.input_shape) != (2,):
        raise ConfigError(f"--boundary draws 2-D data only: run {record.id}'s data has "
                          f"{'x'.join(map(str, bundle.input_shape))} features; choose 2 columns with data.features")
    if bundle.kind == "regression":
        raise ConfigError(f"--boundary draws classifiers: run {record.id} is a regression")
    return exp, bundle, restore(Path(record.path), "best").model


def predict(model, points):
    """Class indices for (N, 2) points: one output is a logit (> 0: class 1), several an argmax."""
    import torch

    with torch.inference_mode():
        out = torch.cat([model(chunk) for chunk in points.split(8192)])
    return (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(1)


def boundary_figure(run_id: str, bundle, model):
    import numpy as np
    import torch
    from matplotlib.colors import ListedColormap

    from dlx.report.figures import new_figure

    train_x, train_y = bundle.train.x.numpy(), bundle.train.y.numpy()
    test_x, test_y = bundle.test.x.numpy(), bundle.test.y.numpy()
    both = np.concatenate([train_x, test_x])
    (x0, y0), (x1, y1) = both.min(0), both.max(0)
    pad_x, pad_y = 0.1 * (x1 - x0 or 1), 0.1 * (y1 - y0 or 1)
    gx, gy = np.meshgrid(np.linspace(x0 - pad_x, x1 + pad_x, GRID), np.linspace(y0 - pad_y, y1 + pad_y, GRID))
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
    regions = predict(model, grid).numpy().reshape(gx.shape)
    k = max(bundle.num_classes, 2)
    colors = [f"C{i % 10}" for i in range(k)]
    fig = new_figure((5.5, 5))
    ax = fig.subplots()
    ax.contourf(gx, gy, regions, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.25)
    ax.contour(gx, gy, regions, levels=np.arange(k) + 0.5, colors="k", linewidths=0.8)
    cmap = ListedColormap(colors)
    ax.scatter(train_x[:, 0], train_x[:, 1], c=train_y, cmap=cmap, vmin=0, vmax=k - 1, s=12,
               edgecolors="k", linewidths=0.3, label="train")
    ax.scatter(test_x[:, 0], test_x[:, 1], c=test_y, cmap=cmap, vmin=0, vmax=k - 1, s=22, marker="x",
               label="test")
    train_acc = float((predict(model, bundle.train.x).numpy() == train_y).mean())
    test_acc = float((predict(model, bundle.test.x).numpy() == test_y).mean()) if len(test_y) else float("nan")
    ax.set_title(f"{run_id}\ntrain acc {train_acc:.3f} · test acc {test_acc:.3f}", fontsize="small")
    ax.set_xlabel("feature 1 (preprocessed)")
    ax.set_ylabel("feature 2 (preprocessed)")
    ax.legend(fontsize="small", loc="best")
    return fig


def plot_boundary(root, ref: str, output) -> Path:
    from dlx.report.figures import check_output, save_figure
    from dlx.store import runs

    check_output(output)
    record = runs.find_record(root, ref)
    _, bundle, model = rebuild(record)
    return save_figure(boundary_figure(record.id, bundle, model), output)
