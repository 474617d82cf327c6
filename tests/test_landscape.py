"""`dlx landscape` (issue 19): optimizer paths on 2-D test functions, loss slices of a run."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest
import torch

from dlx.engine.landscape import DEFAULT_OPTIMIZERS, FUNCTIONS

PNG = b"\x89PNG\r\n\x1a\n"


def read_paths(path) -> dict[str, list[dict]]:
    """optimizer -> its rows, in step order."""
    paths = defaultdict(list)
    for row in csv.DictReader(path.open()):
        paths[row["optimizer"]].append({k: float(v) for k, v in row.items() if k != "optimizer"})
    return dict(paths)


def first_step_within(rows: list[dict], target: float) -> float:
    return next((r["step"] for r in rows if r["value"] <= target), float("inf"))


def test_momentum_beats_sgd_in_the_ravine_at_the_same_lr(dlx, tmp_path):
    result = dlx("landscape", "fn=ravine", "optim=sgd,momentum", "optim.lr=0.1", "--steps", "500",
                 "--tol", "1e-3", "-o", "paths.png")
    assert result.code == 0, result.err
    paths = read_paths(tmp_path / "paths.csv")
    sgd, momentum = (first_step_within(paths[name], 1e-3) for name in ("sgd", "momentum"))
    assert momentum < sgd < float("inf")  # both get there; momentum in fewer steps
    for name, steps in (("sgd", sgd), ("momentum", momentum)):  # the table says the same
        assert any(line.split()[:1] == ["│"] and name in line and f"{int(steps)} │" in line
                   for line in result.out.splitlines())


def test_every_optimizer_path_is_in_the_csv_from_the_same_start(dlx, tmp_path):
    result = dlx("landscape", "fn=rosenbrock", "optim.lr=0.001", "--steps", "30", "-o", "paths.png")
    assert result.code == 0, result.err
    assert (tmp_path / "paths.png").read_bytes()[:8] == PNG
    paths = read_paths(tmp_path / "paths.csv")
    assert list(paths) == list(DEFAULT_OPTIMIZERS)
    start = FUNCTIONS.get("rosenbrock").meta["start"]
    for name, rows in paths.items():
        assert [r["step"] for r in rows] == list(range(31)), name
        assert (rows[0]["x"], rows[0]["y"]) == start
        assert rows[0]["value"] == pytest.approx((1 - start[0]) ** 2 + 100 * (start[1] - start[0] ** 2) ** 2)
        assert all(r["lr"] == 0.001 for r in rows)
        assert rows[-1]["value"] < rows[0]["value"], f"{name} did not descend"


def test_a_path_is_torch_s_own_optimizer_step(dlx, tmp_path):
    result = dlx("landscape", "fn=beale", "optim=momentum", "optim.lr=0.002", "optim.momentum=0.5",
                 "--start=-0.5,1", "--steps", "5", "-o", "p.png")
    assert result.code == 0, result.err
    (rows,) = read_paths(tmp_path / "p.csv").values()
    point = torch.tensor([-0.5, 1.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([point], lr=0.002, momentum=0.5)
    for row in rows[1:]:
        optimizer.zero_grad()
        FUNCTIONS.get("beale").builder(point[0], point[1]).backward()
        optimizer.step()
        assert (row["x"], row["y"]) == pytest.approx(point.tolist(), abs=1e-12)


@pytest.mark.parametrize("name", FUNCTIONS.names())
def test_every_function_is_at_its_minimum_value_at_a_minimum_and_above_it_elsewhere(name):
    entry = FUNCTIONS.get(name)
    minima = {"rosenbrock": (1, 1), "beale": (3, 0.5), "saddle": (0, 1), "ravine": (0, 0), "himmelblau": (3, 2)}
    x, y = (torch.tensor(float(v), dtype=torch.float64) for v in minima[name])
    assert float(entry.builder(x, y)) == pytest.approx(entry.meta["minimum"], abs=1e-12)
    x0, x1, y0, y1 = entry.meta["box"]
    gx, gy = torch.meshgrid(torch.linspace(x0, x1, 101, dtype=torch.float64),
                            torch.linspace(y0, y1, 101, dtype=torch.float64), indexing="xy")
    assert float(entry.builder(gx, gy).min()) >= entry.meta["minimum"] - 1e-12


def test_a_diverging_optimizer_is_marked_and_its_path_stops(dlx, tmp_path):
    result = dlx("landscape", "fn=rosenbrock", "optim=sgd", "optim.lr=0.1", "--steps", "50", "-o", "p.png")
    assert result.code == 0, result.err
    assert "diverged" in result.out
    (rows,) = read_paths(tmp_path / "p.csv").values()
    assert len(rows) < 51 and all(abs(r["x"]) < 1e6 for r in rows)


@pytest.fixture
def trained_run(dlx, tmp_path):
    result = dlx("train", "trainer.epochs=2", "data.limit=100", "model.hidden=[16]", "trainer.num_threads=1", "-q")
    assert result.code == 0, result.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    return run


def centre_loss(run) -> float:
    """The training loss of the run's best weights, computed here from scratch."""
    from omegaconf import OmegaConf

    from dlx import config, data, models
    from dlx.losses import build_loss
    from dlx.store.checkpoint import load_checkpoint

    exp = config.validate(OmegaConf.load(run / "config.yaml"))
    bundle = data.build(exp.data)
    loss = build_loss(exp.loss, bundle.kind, bundle.num_classes)
    reg = exp.regularizer  # its dropout / batch norm shape the network, as in training
    model = models.build(exp.model, bundle.input_shape, loss.num_outputs, reg.dropout, reg.batchnorm).eval()
    model.load_state_dict(load_checkpoint(run / "checkpoints" / "best.pt")["model"])
    with torch.no_grad():
        return float(loss(model(bundle.train.x), bundle.train.y))


@pytest.mark.parametrize("dims, rows", [("1d", 5), ("2d", 25)])
def test_a_slice_is_the_training_loss_around_the_best_weights(dlx, tmp_path, trained_run, dims, rows):
    result = dlx("landscape", "last", "--slice", dims, "--points", "5", "-o", "slice.png")
    assert result.code == 0, result.err
    assert (tmp_path / "slice.png").read_bytes()[:8] == PNG
    grid = list(csv.DictReader((tmp_path / "slice.csv").open()))
    assert len(grid) == rows
    centre = next(float(r["loss"]) for r in grid if float(r["alpha"]) == 0 and float(r["beta"]) == 0)
    assert centre == pytest.approx(centre_loss(trained_run), rel=1e-5)
    assert len({round(float(r["loss"]), 6) for r in grid}) > 1  # the directions move the weights


def test_directions_are_filter_normalised_and_leave_biases_alone():
    from dlx.engine.slices import filter_normalised

    params = {"w": torch.randn(6, 3, 2, 2) * 5, "b": torch.randn(6)}
    d = filter_normalised(params, torch.Generator().manual_seed(0))
    torch.testing.assert_close(d["w"].flatten(1).norm(dim=1), params["w"].flatten(1).norm(dim=1))
    assert (d["b"] == 0).all()


def test_a_fitted_baselines_slice_says_the_true_reason_in_one_line(dlx, tmp_path):
    assert dlx("train", "model=logistic", "data.limit=200", "trainer.num_threads=1", "-q").code == 0
    refused = dlx("landscape", "last", "--slice", "1d")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert "fitted scikit-learn estimator" in refused.err and "no weights for --slice to perturb" in refused.err
    assert "model=mlp" in refused.err and "closed form" not in refused.err  # logistic regression is fitted by L-BFGS
