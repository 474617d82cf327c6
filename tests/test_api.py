"""dlx from Python: each API function against its CLI twin (same files, same numbers), the run
object's verbs, errors raised (never printed), Ctrl-C and user callbacks in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import FAST, ROOT

import dlx as lib
from dlx.engine.callbacks import Callback

IRIS = ["data=iris", *FAST]


def run_dirs(root: Path) -> list[Path]:
    return sorted((root / "runs").iterdir())


def weights(path: Path, which: str = "best") -> dict:
    import torch

    return torch.load(path / "checkpoints" / f"{which}.pt", weights_only=True)["model"]


def metrics_without_times(path: Path) -> str:
    """metrics.csv less its wall-clock column (epoch_time_s differs between any two runs)."""
    frame = pd.read_csv(path / "metrics.csv")
    return frame.drop(columns=[c for c in frame if c.endswith("time_s")]).to_csv(index=False)


def test_import_dlx_loads_no_torch_until_a_function_is_used():
    code = ("import sys, dlx; assert 'torch' not in sys.modules; assert callable(dlx.train); "
            "assert 'torch' not in sys.modules, 'dlx.train alone imported torch'; "
            "assert issubclass(dlx.ConfigError, dlx.DlxError) and dlx.DataError")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_train_equals_the_cli_run_bit_for_bit(dlx, tmp_path, capsys):
    assert dlx("train", *IRIS, "output_dir=cli").code == 0
    capsys.readouterr()
    run = lib.train(*IRIS, output_dir="api")
    assert capsys.readouterr() == ("", "")  # nothing printed
    (cli,) = run_dirs(tmp_path / "cli")
    assert run.path.resolve() == run_dirs(tmp_path / "api")[0].resolve()
    assert metrics_without_times(cli) == metrics_without_times(run.path)
    for which in ("best", "last"):
        a, b = weights(cli, which), weights(run.path, which)
        assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    summary = json.loads((cli / "summary.json").read_text())
    assert summary["test_acc"] == run.summary["test_acc"] and run.summary.epochs_run == 2
    assert list(run.history["epoch"]) == [1, 2] and run.config.data.name == "iris"


def test_keyword_shortcuts_read_as_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = lib.train("data=iris", "data.limit=300", epochs=1, num_threads=1, lr=0.01,
                          **{"regularizer.dropout": 0.1})
    assert run.config.trainer.epochs == 1 and run.config.optim.lr == 0.01
    assert run.config.regularizer.dropout == 0.1


@pytest.fixture
def trained(tmp_path_factory):
    """One finished iris run shared by the read-only tests (in its own store)."""
    root = tmp_path_factory.mktemp("store")
    old = os.getcwd()
    os.chdir(root)
    try:
        run = lib.train(*IRIS)
    finally:
        os.chdir(old)
    return root, run


def test_load_runs_and_compare_give_what_their_commands_show(dlx, trained, tmp_path):
    root, run = trained
    store = str(root / "outputs")
    assert lib.load("last", store) == run == lib.load(run.id[:10], store)
    shown = dlx("runs", "--output-dir", store, "--format", "csv")
    assert shown.code == 0
    frame = lib.runs(store)
    assert list(frame["id"]) == list(pd.read_csv(pd.io.common.StringIO(shown.out))["id"]) == [run.id]
    assert lib.runs(store, model="cnn").empty
    with pytest.raises(lib.ConfigError, match="at least two"):
        lib.compare(run.id, output_dir=store)


def test_compare_two_runs_against_dlx_compare(dlx, tmp_path):
    assert dlx("train", *IRIS).code == 0
    assert dlx("train", *IRIS, "optim.lr=0.01").code == 0
    a, b = (p.name for p in run_dirs(tmp_path / "outputs"))
    diff, metrics = lib.compare(a, b)
    assert list(diff.index) == ["optim.lr"]
    shown = dlx("compare", a, b, "--format", "csv")
    table = pd.read_csv(pd.io.common.StringIO(shown.out)).set_index("key")
    for run_id in (a, b):
        assert float(table.loc["test_acc", run_id]) == pytest.approx(metrics.loc["test_acc", run_id])


def test_eval_predict_export_equal_their_commands(dlx, trained, tmp_path):
    root, run = trained
    store = str(root / "outputs")
    result = run.evaluate("test")
    written = run.path / "eval" / "test.json"
    from_api = json.loads(written.read_text())
    assert dlx("eval", run.id, "--output-dir", store, "--format", "json").code == 0
    assert json.loads(written.read_text()) == from_api and result["name"] == "test"

    assert dlx("predict", run.id, "--split", "test", "-o", str(tmp_path / "p.csv"), "--output-dir", store).code == 0
    rows = run.predict(None, split="test")
    assert rows.astype(str).equals(pd.read_csv(tmp_path / "p.csv").astype(str))
    assert (rows["prediction"] == rows["target"]).mean() == pytest.approx(run.summary["test_acc"])

    from sklearn.datasets import load_iris

    x = load_iris().data.astype(np.float32)
    labels, proba = run.predict(x), run.predict_proba(x)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert list(labels) == list(np.asarray(run.classes)[proba.argmax(1)])
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(4)])
    assert list(run.predict(frame)) == list(labels)

    import torch

    path = run.export("torchscript", tmp_path / "api.pt")
    assert dlx("export", run.id, "-o", str(tmp_path / "cli.pt"), "--output-dir", store).code == 0
    with torch.no_grad():  # the archives differ only in their inner file names
        for file in (path, tmp_path / "cli.pt"):
            assert np.allclose(torch.jit.load(str(file))(torch.from_numpy(x)).numpy(), proba, atol=1e-5)
        assert np.allclose(run.model(torch.from_numpy(x)).numpy(), proba, atol=1e-5)


def test_bad_input_raises_the_line_the_cli_prints_and_prints_nothing(dlx, tmp_path, capsys):
    for args in (["model=mlpp"], ["optim.lr=-1"], ["data=csv", "data.path=missing.csv"]):
        shown = dlx("train", *args)
        with pytest.raises(lib.DlxError) as caught:
            lib.train(*args)
        assert capsys.readouterr() == ("", "")
        assert shown.code == caught.value.exit_code == 2
        assert shown.err.strip() == f"error: {caught.value}"
    shown = dlx("cv", "data=iris", "--folds", "1")
    with pytest.raises(lib.ConfigError) as caught:
        lib.cv("data=iris", folds=1)
    assert capsys.readouterr() == ("", "") and shown.err.strip() == f"error: {caught.value}"
    with pytest.raises(lib.ConfigError):
        lib.load("nothing-like-this", str(tmp_path / "outputs"))
    with pytest.raises(lib.ConfigError):
        lib.train(3)


def test_progress_true_shows_the_clis_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = lib.train("data=iris", "data.limit=300", "trainer.num_threads=1", epochs=1, progress=True)
    assert run.id in capsys.readouterr().out


def test_plot_is_a_matplotlib_figure(trained):
    from matplotlib.figure import Figure

    fig = trained[1].plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2


class Seen(Callback):
    def __init__(self, stop_at: int | None = None):
        self.epochs = []
        self.stop_at = stop_at

    def on_epoch_end(self, trainer, row):
        self.epochs.append(row["epoch"])
        if row["epoch"] == self.stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as the terminal sends it


def test_callbacks_run_in_process_and_ctrl_c_leaves_the_run_resumable(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    seen = Seen(stop_at=1)
    with pytest.raises(KeyboardInterrupt, match="resume with"):
        lib.train("data=iris", "data.limit=300", "trainer.num_threads=1", epochs=3, callbacks=[seen])
    assert capsys.readouterr() == ("", "")
    (path,) = run_dirs(tmp_path / "outputs")
    assert json.loads((path / "status.json").read_text())["status"] == "interrupted"
    again = Seen()
    run = lib.load("last").resume(callbacks=[again])
    assert run.path == path and run.summary.epochs_run == 3 and again.epochs[-1] == 3
    assert seen.epochs[0] == 1


def test_cv_equals_dlx_cv(dlx, tmp_path):
    assert dlx("cv", *IRIS, "--folds", "2", "output_dir=cli").code == 0
    result = lib.cv(*IRIS, folds=2, output_dir="api")
    (cli,) = (tmp_path / "cli" / "cv").iterdir()
    folds = pd.read_csv(cli / "folds.csv")
    assert list(result.folds["val_acc"]) == list(folds["val_acc"])
    assert result.mean("val_acc") == pytest.approx(folds["val_acc"].mean())
    assert set(result.metrics.columns) == {"mean", "std"}


def test_sweep_equals_dlx_sweep(dlx, tmp_path):
    grid = ["data=iris", "trainer.epochs=1", "trainer.num_threads=1", "optim.lr=0.1,0.01"]
    assert dlx("sweep", *grid, "output_dir=cli").code == 0
    sweep = lib.sweep(*grid, output_dir="api")
    (cli,) = (tmp_path / "cli" / "sweeps").iterdir()
    trials = pd.read_csv(cli / "trials.csv").sort_values("number")
    board = sweep.leaderboard.sort_values("number")
    assert list(board["value"]) == list(trials["value"])
    assert sweep.best.summary["val_acc"] == board["value"].max()
    assert len(sweep.study.trials) == 2


@pytest.mark.slow
def test_the_example_script_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "api.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test accuracy" in done.stdout


def test_a_csv_runs_predictions_from_a_dataframe_a_csv_path_and_dlx_predict_agree(dlx, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 200
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    frame = pd.DataFrame({"a": a, "colour": colour, "b": b,
                          "label": np.where(a + (colour == "red") > 0.3, "yes", "no")})
    frame.to_csv(tmp_path / "people.csv", index=False)
    monkeypatch.chdir(tmp_path)
    run = lib.train("data=csv", f"data.path={tmp_path / 'people.csv'}", "data.target=label", epochs=2,
                    num_threads=1)
    from_frame = run.predict(frame.drop(columns="label"))
    from_path = run.predict(tmp_path / "people.csv", proba=True)
    assert list(from_path["prediction"]) == list(from_frame)
    assert set(from_frame) <= {"yes", "no"}
    assert dlx("predict", run.id, str(tmp_path / "people.csv"), "-o", "p.csv").code == 0
    assert list(pd.read_csv(tmp_path / "p.csv")["prediction"]) == list(from_frame)
