"""Inputs that used to end in a traceback or a wrong number (issue 13, items 6-10, 13, 15-17).

The one-line errors themselves are rows of tests/test_bad_input.py; here are the behaviours
behind them: missing metrics stay missing, the target is scaled and reported in its own
units, imputation and group splits use the training rows and groups, cheap checks come
before torch, damaged run files are read as far as they can be.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import ROOT

TINY = ["trainer.epochs=1", "data.limit=100", "trainer.num_threads=1"]


def train(tmp_path, *overrides):
    from dlx import config
    from dlx.engine import experiment

    return experiment.run(config.load([*overrides, f"output_dir={tmp_path / 'out'}"]))


# ---------------------------------------------------------------- 6: missing metrics are missing


def test_an_empty_test_split_has_missing_test_metrics_not_zeros(tmp_path, dlx):
    empty = train(tmp_path, *TINY, "data.test_fraction=0", "name=notest")
    tested = train(tmp_path, *TINY, "name=tested")
    on_disk = json.loads((Path(empty["path"]) / "summary.json").read_text())
    assert empty["test_size"] == 0
    for key in ("test_loss", "test_acc", "test_top5"):
        assert key in on_disk and on_disk[key] is None and empty[key] is None
    assert tested["test_acc"] > 0
    out = str(tmp_path / "out")
    ranked = dlx("runs", "--sort", "test_acc", "--format", "csv", "--output-dir", out)
    rows = pd.read_csv(pd.io.common.StringIO(ranked.out))
    assert list(rows["id"]) == [tested["run_id"], empty["run_id"]]  # the unmeasured run ranks last
    assert math.isnan(rows["test_acc"].iloc[1])  # a blank cell, read back as missing
    import csv

    cells = next(r for r in csv.DictReader(ranked.out.splitlines()) if r["id"] == empty["run_id"])
    assert cells["test_acc"] == cells["test_loss"] == ""  # blank, not 0.0


@pytest.mark.parametrize("data", ["breast_cancer", "diabetes"])
def test_an_empty_test_split_is_missing_for_binary_and_regression_too(tmp_path, data):
    summary = train(tmp_path, *TINY, f"data={data}", "data.test_fraction=0")  # binary AUC: no scores at all
    tests = {k: v for k, v in summary.items() if k.startswith("test_") and k != "test_size"}
    assert len(tests) >= 3 and all(v is None for v in tests.values())


def test_cv_aggregation_and_sweep_records_skip_missing_metrics():
    from dlx.cv.driver import aggregate
    from dlx.sweep.objectives import outcome_of

    rows = [{"fold": 0, "status": "finished", "val_loss": 1.0, "val_auc": None, "best_val_loss": 1.0, "best_epoch": 1},
            {"fold": 1, "status": "finished", "val_loss": 3.0, "val_auc": 0.5, "best_val_loss": 3.0, "best_epoch": 2},
            {"fold": 2, "status": "finished", "val_loss": 2.0, "val_auc": math.nan, "best_val_loss": 2.0,
             "best_epoch": 1}]
    metrics = aggregate(rows, "val_loss")
    assert metrics["val_auc"]["values"] == {1: 0.5} and metrics["val_auc"]["mean"] == 0.5
    assert metrics["val_loss"]["mean"] == 2.0
    _, record = outcome_of({"monitor": "val_loss", "best_value": 1.0, "val_loss": 1.0, "test_acc": math.nan,
                            "test_loss": None, "val_acc": 0.5}, "val_loss")
    assert "test_acc" not in record and "test_loss" not in record and record["val_acc"] == 0.5


# ---------------------------------------------------------------- 7: tracebacks turned into decisions


def test_a_last_training_batch_of_one_sample_is_dropped_only_with_batch_norm():
    from dlx import config, data
    from dlx.data.loaders import bundle_batches

    bundle = data.build(config.load(["data.limit=97"]).data)  # 97 = 3 × 32 + 1
    sizes = {}
    for min_batch in (1, 2):
        batches, _, _ = bundle_batches(bundle, "cpu", 32, 1024, torch.Generator().manual_seed(0), min_batch)
        sizes[min_batch] = [len(y) for _, y in batches]
    assert sizes[1] == [32, 32, 32, 1]
    assert sizes[2] == [32, 32, 32]


def test_batch_norm_trains_when_the_last_batch_would_hold_one_sample(tmp_path):
    summary = train(tmp_path, *TINY, "data.limit=97", "regularizer=batchnorm")
    assert summary["status"] == "finished" and summary["train_size"] == 97


def make_images(root: Path, bad: str | None = None) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    if bad:
        whole = (root / bad).read_bytes()
        (root / bad).write_bytes(whole[: len(whole) // 2])  # truncated
    return root


def test_a_truncated_image_is_skipped_with_a_warning_when_asked(tmp_path, dlx):
    images = make_images(tmp_path / "images", bad="cat/3.png")
    args = ["train", "data=image_folder", f"data.path={images}", "data.image_size=8", "data.workers=0",
            "trainer.epochs=1", "trainer.num_threads=1", "data.preprocess=standardize", "-q"]
    skipped = dlx(*args, "data.skip_bad_files=true")
    assert skipped.code == 0, skipped.err
    warnings = [line for line in skipped.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "3.png" in warnings[0] and "skipping" in warnings[0]  # once, not per epoch
    stopped = dlx(*args)
    assert stopped.code == 2 and "3.png" in stopped.err and "data.skip_bad_files=true" in stopped.err


def test_dlx_show_reads_what_it_can_of_a_damaged_run(tmp_path, dlx):
    summary = train(tmp_path, *TINY, "trainer.epochs=2")
    path = Path(summary["path"])
    (path / "summary.json").write_text("")
    metrics = pd.read_csv(path / "metrics.csv")
    metrics["val_acc"] = metrics["val_acc"].astype(object)
    metrics.loc[0, "val_acc"] = "oops"
    metrics.to_csv(path / "metrics.csv", index=False)
    result = dlx("show", summary["run_id"], "--output-dir", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    warned = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert any("summary.json" in w for w in warned) and any("not numbers" in w for w in warned)
    assert "per epoch" in result.out and "config" in result.out  # what is readable is shown


def resumable_state(**changes) -> dict:
    from dlx.engine.trainer import rng_state

    state = {"model": {}, "optimizer": {}, "schedule": {}, "epoch": 2, "step": 20, "history": [{"epoch": 1}],
             "rng": rng_state()}
    return {**state, **changes}


@pytest.mark.parametrize("old_format", [False, True])
def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path, old_format):
    """The RNG keys are saved as tensors (cheap to serialise); checkpoints that kept them as lists still resume."""
    import random

    import numpy as np

    from dlx.engine.runtime import rng_state, set_rng_state

    random.seed(3), np.random.seed(4), torch.manual_seed(5)
    random.gauss(0, 1)  # leaves Python's cached second Gaussian in the state
    state = rng_state()
    if old_format:  # what dlx wrote before: Python's state tuple and numpy's key as lists
        state["python"] = (state["python"]["version"], tuple(state["python"]["key"].tolist()),
                           state["python"]["gauss"])
        state["numpy"]["state"]["key"] = state["numpy"]["state"]["key"].tolist()
    else:
        assert isinstance(state["python"]["key"], torch.Tensor) and isinstance(state["numpy"]["state"]["key"], torch.Tensor)
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), random.gauss(0, 1), np.random.rand(), torch.rand(1).item())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), random.gauss(0, 1), np.random.rand(), torch.rand(1).item()) == expected


@pytest.mark.parametrize("damage", [{"epoch": "2"}, {"step": None}, {"history": "lots"}, {"model": [1, 2]},
                                    {"rng": {"python": 1}}, {"epoch": True}, {"history": [1, 2]}])
def test_a_checkpoint_with_wrong_field_types_falls_back_to_the_previous(tmp_path, damage):
    from dlx.store.checkpoint import load_resume_state

    last, prev = tmp_path / "last.pt", tmp_path / "last.prev.pt"
    torch.save(resumable_state(**damage), last)
    torch.save(resumable_state(epoch=1), prev)
    warnings = []
    state, used = load_resume_state([last, prev], warnings.append)
    assert used == prev and state["epoch"] == 1
    assert len(warnings) == 1 and "last.pt" in warnings[0] and "resuming from last.prev.pt" in warnings[0]


# ---------------------------------------------------------------- 9: import paths and pickles


class _Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("payload", ["code", "plain"])
def test_a_raw_pickle_in_a_checkpoint_slot_is_refused_as_unsafe(tmp_path, protocol, payload):
    from dlx.store.checkpoint import UnsafeCheckpoint, load_checkpoint, load_resume_state

    marker = tmp_path / "ran"
    obj = _Touch(marker) if payload == "code" else {"model": {}, "epoch": 1}
    path = tmp_path / "last.pt"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    with pytest.raises(UnsafeCheckpoint, match="refusing to load"):
        load_checkpoint(path)
    with pytest.raises(UnsafeCheckpoint):  # unsafe stops a resume; it is not skipped like a corrupt file
        load_resume_state([path], lambda message: None)
    assert not marker.exists()


def test_the_target_ban_holds_after_interpolation():
    from dlx import config
    from dlx.errors import ConfigError

    # quoted, as a shell passes them: Hydra resolves the interpolation only after the first check
    for override in ("model.hidden='${oc.create:{_target_:os.system}}'", "name='${oc.create:{_target_:os.getcwd}}'",
                     "output_dir='${oc.create:{a:{_target_:os.system}}}'"):
        with pytest.raises(ConfigError, match="_target_' is not allowed"):
            config.load([override])


# ---------------------------------------------------------------- 10: cheap checks before heavy imports

PROBE = """
import sys
from dlx.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    heavy = sorted(m for m in ("torch", "sklearn", "pandas", "torchvision") if m in sys.modules)
    print("HEAVY=" + ",".join(heavy) + " CODE=" + str(e.code))
"""


@pytest.mark.parametrize("args, fragment", [
    (["data=csv", "data.path=nope.csv", "data.target=y"], "CSV file not found"),
    (["data=image_folder", "data.root=nope"], "needs data.path"),
    (["data=image_folder", "data.path=nope"], "image folder not found"),
    (["data.seed=-1"], "data.seed"),
    (["data.test_fraction=2"], "data.test_fraction"),
    (["data=csv", "data.impute=zero"], "data.impute"),
    (["name=" + "n" * 300], "shorten name"),
])
def test_cheap_mistakes_are_answered_before_torch_or_sklearn_load(tmp_path, args, fragment):
    result = subprocess.run([sys.executable, "-c", PROBE, "train", *args], cwd=tmp_path, capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert "HEAVY= CODE=2" in result.stdout, result.stdout + result.stderr
    assert fragment in result.stderr and result.stderr.count("\n") == 1


# the trainer, model, optim, scheduler, regularizer and loss groups: checked with their torch-free schemas
# (dlx.config.trainer, dlx.models.schemas, dlx.optim.schemas, dlx.regularize, dlx.losses) before torch loads
GROUP_MISTAKES = [
    (["optim.lr=-1"], "invalid optim.lr: must be > 0"),
    (["optim=sgd", "optim.momentum=2"], "invalid optim.momentum"),
    (["optim=adamm"], "unknown optim 'adamm' — did you mean 'adam'?"),
    (["optim.lrr=1"], "unknown key 'optim.lrr' — did you mean 'optim.lr'?"),
    (["trainer.epochs=0"], "invalid trainer.epochs"),
    (["trainer.batch_size=-1"], "invalid trainer.batch_size"),
    (["trainer.epochs=abc"], "trainer.epochs: expected an integer"),
    (["model.hidden=[0]"], "invalid model.hidden"),
    (["model.dropout=1.5"], "invalid model.dropout"),
    (["model=cnn", "model.pool=sum"], "invalid model.pool"),
    (["model=resnet", "model.depth=19"], "invalid model.depth"),
    (["scheduler=cosinee"], "unknown scheduler 'cosinee' — did you mean 'cosine'?"),
    (["scheduler=step", "scheduler.gamma=-1"], "invalid scheduler.gamma"),
    (["scheduler=onecycle", "scheduler.pct_start=1.5"], "invalid scheduler.pct_start"),
    (["regularizer.l2=-1"], "invalid regularizer.l2"),
    (["loss.label_smoothing=2"], "invalid loss.label_smoothing"),
    (["loss=msee"], "unknown loss 'msee' — did you mean 'mse'?"),
]

GROUP_PROBE = """
import json, sys
from dlx.cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(["train", *args])
    except SystemExit as e:
        heavy = sorted(m for m in ("torch", "sklearn", "pandas", "torchvision") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy) + " CODE=" + str(e.code), flush=True)
        print("--", file=sys.stderr, flush=True)
"""


def test_out_of_range_values_in_every_group_are_answered_before_torch_loads(tmp_path):
    """One process runs every case in turn: after each refusal, torch (and scikit-learn, pandas)
    must still be unloaded, the status 2 and the message one line."""
    cases = [args for args, _ in GROUP_MISTAKES]
    result = subprocess.run([sys.executable, "-c", GROUP_PROBE, json.dumps(cases)], cwd=tmp_path,
                            capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                            timeout=120)
    outcomes = result.stdout.splitlines()
    errors = result.stderr.split("--\n")[:-1]
    assert len(outcomes) == len(errors) == len(cases), result.stdout + result.stderr
    for (args, fragment), outcome, err in zip(GROUP_MISTAKES, outcomes, errors):
        assert outcome == "HEAVY= CODE=2", (args, outcome, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, (args, err)


def test_the_schemas_activations_are_the_ones_the_layers_build():
    from dlx.models import layers, schemas as model_schemas

    assert set(layers.ACTIVATIONS) == set(model_schemas.ACTIVATIONS)


# ---------------------------------------------------------------- 13: data.scale_target


def test_scale_target_is_on_for_regression_and_shown_in_the_data_group(dlx):
    shown = dlx("train", "data=diabetes", "--cfg")
    data_group = shown.out.split("data:")[1].split("trainer:")[0]
    assert "scale_target: true" in data_group
    assert "scale_target" not in dlx("train", "data=digits", "--cfg").out  # classes are not scaled


def test_the_target_is_standardised_on_the_training_rows_only():
    from dlx import config, data

    bundle = data.build(config.load(["data=diabetes"]).data)
    stats = bundle.preprocess["target"]
    y = bundle.train.y.double()
    assert torch.allclose(stats["mean"].double(), y.mean(), rtol=1e-6)
    assert torch.allclose(stats["std"].double(), y.std(unbiased=False), rtol=1e-6)
    assert abs(bundle.test.y.mean() - stats["mean"]) > 1e-3  # other splits keep their own values, in y's units
    off = data.build(config.load(["data=diabetes", "data.scale_target=false"]).data)
    assert "target" not in off.preprocess


def test_the_optimiser_sees_the_standardised_loss_and_reports_y_units():
    from torch.nn import functional as F

    from dlx.data.target import ScaledOutput, scaled_loss
    from dlx.losses import LossConfig, build_loss

    mean, std = torch.tensor(150.0), torch.tensor(75.0)
    inner = torch.nn.Linear(3, 1)
    model = ScaledOutput(inner, mean, std)
    loss = scaled_loss(build_loss(LossConfig(), "regression", 0), mean, std)
    x, y = torch.randn(16, 3), 150 + 75 * torch.randn(16)
    value = loss(model(x), y)
    assert value.item() == pytest.approx(F.mse_loss(model(x).reshape(-1), y).item(), rel=1e-5)  # y's units
    value.backward()
    reference = torch.nn.Linear(3, 1)
    reference.load_state_dict(inner.state_dict())
    F.mse_loss(reference(x).reshape(-1), (y - mean) / std).backward()  # the standardised problem
    assert torch.allclose(inner.weight.grad, reference.weight.grad, rtol=1e-4, atol=1e-6)


def test_every_regression_metric_is_in_the_targets_units(tmp_path):
    from dlx import config, data
    from dlx.engine.experiment import build_parts
    from dlx.store.checkpoint import load_checkpoint

    summary = train(tmp_path, "data=diabetes", "trainer.epochs=3", "trainer.num_threads=1")
    exp = config.load(["data=diabetes"])
    bundle = data.build(exp.data)
    model = build_parts(exp, bundle, torch.device("cpu"))[0]
    best = load_checkpoint(Path(summary["path"]) / "checkpoints" / "best.pt")
    model.load_state_dict(best["model"])
    assert torch.equal(best["meta"]["preprocess"]["target"]["mean"], bundle.preprocess["target"]["mean"])
    model.eval()
    with torch.no_grad():
        pred = model(bundle.test.x).reshape(-1).double()  # the checkpoint predicts in y's units
    y = bundle.test.y.double()
    sse = float(((pred - y) ** 2).sum())
    assert summary["test_loss"] == pytest.approx(sse / len(y), rel=1e-4)
    assert summary["test_rmse"] == pytest.approx(math.sqrt(sse / len(y)), rel=1e-4)
    assert summary["test_mae"] == pytest.approx(float((pred - y).abs().mean()), rel=1e-4)
    assert summary["test_r2"] == pytest.approx(1 - sse / float(((y - y.mean()) ** 2).sum()), rel=1e-4, abs=1e-4)
    assert pred.mean() > 50  # diabetes scores are ~25-350: not standardised numbers


# ---------------------------------------------------------------- 15: the test split keeps groups whole


def grouped_csv(folder: Path, groups: int = 30) -> Path:
    rng = np.random.default_rng(1)
    sizes = rng.integers(2, 9, size=groups)
    patient = rng.permutation(np.repeat([f"p{g:02d}" for g in range(groups)], sizes))
    n = len(patient)
    frame = pd.DataFrame({"age": rng.normal(50, 10, n), "patient": patient,
                          "outcome": rng.choice(["sick", "well"], n)})
    path = folder / "patients.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("folds", [0, 3])
def test_no_group_is_in_both_the_test_split_and_train_val(tmp_path, folds):
    from dlx import config
    from dlx.data import split_indices
    from dlx.registry import DATASETS

    path = grouped_csv(tmp_path)
    cfg = config.load(["data=csv", f"data.path={path}", "data.target=outcome", "data.group_col=patient",
                       "data.seed=5", f"data.folds={folds}"]).data
    raw = DATASETS.build(cfg.name, cfg)
    train, val, test = split_indices(raw, cfg)
    assert len(test) and len(val)
    assert sorted(np.concatenate([train, val, test])) == list(range(len(raw.y)))
    assert not set(raw.groups[test]) & set(raw.groups[np.concatenate([train, val])])
    assert not set(raw.groups[train]) & set(raw.groups[val])
    again = split_indices(raw, cfg)[2]
    other = split_indices(raw, replace(cfg, seed=6))[2]
    assert sorted(again) == sorted(test) and sorted(other) != sorted(test)  # seeded


# ---------------------------------------------------------------- 16: listing


def test_runs_all_lists_the_fold_runs_of_a_sweep_with_cv(tmp_path, dlx):
    import shutil

    summary = train(tmp_path, *TINY)
    out = tmp_path / "out"
    sweep = out / "sweeps" / "2026-01-01_00-00-00_mlp-adam-digits"
    (sweep / "runs").mkdir(parents=True)
    for k in range(2):
        shutil.copytree(summary["path"], sweep / "cv" / "trial-0000" / f"fold-{k}")
    listed = dlx("runs", "--all", "--format", "csv", "--output-dir", str(out))
    ids = list(pd.read_csv(pd.io.common.StringIO(listed.out))["id"])
    expected = [f"{sweep.name}/cv/trial-0000/fold-{k}" for k in range(2)]
    assert set(expected) <= set(ids) and summary["run_id"] in ids
    of_sweep = dlx("runs", "--sweep", "last", "--format", "csv", "--output-dir", str(out))
    assert set(pd.read_csv(pd.io.common.StringIO(of_sweep.out))["id"]) == set(expected)
    shown = dlx("show", expected[1], "--output-dir", str(out))
    assert shown.code == 0 and "fold-1" in shown.out


def test_runs_csv_without_runs_prints_the_header(tmp_path, dlx):
    summary = train(tmp_path, *TINY)
    out = tmp_path / "members"
    (out / "sweeps" / "2026-01-01_00-00-00_x" / "runs").mkdir(parents=True)
    Path(summary["path"]).rename(out / "sweeps" / "2026-01-01_00-00-00_x" / "runs" / "r")
    result = dlx("runs", "--format", "csv", "--output-dir", str(out))  # only member runs: none listed
    assert result.code == 0
    assert result.out.splitlines() == ["id,kind,group,status,started,path,model,optim,scheduler,regularizer,data"]


# ---------------------------------------------------------------- 17: imputation


def csv_with_gaps(folder: Path) -> Path:
    rng = np.random.default_rng(2)
    n = 120
    frame = pd.DataFrame({"a": rng.normal(size=n).round(1), "b": rng.integers(0, 4, n).astype(float),
                          "c": rng.exponential(size=n).round(2), "y": rng.normal(size=n)})
    for column, share in (("a", 0.2), ("b", 0.3), ("c", 0.1)):
        frame.loc[rng.random(n) < share, column] = np.nan
    path = folder / "gaps.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_impute_matches_scikit_learn_fitted_on_the_training_rows(tmp_path, strategy):
    from sklearn.impute import SimpleImputer

    from dlx import config, data
    from dlx.registry import DATASETS

    path = csv_with_gaps(tmp_path)
    cfg = config.load(["data=csv", f"data.path={path}", "data.target=y", "data.preprocess=none",
                       f"data.impute={strategy}"]).data
    raw = DATASETS.build(cfg.name, cfg)
    assert np.isnan(raw.x).any()  # the gaps reach the split, to be filled from train alone
    bundle = data.build(cfg)
    imputer = SimpleImputer(strategy=strategy).fit(raw.x[bundle.train.index])
    for split in (bundle.train, bundle.val, bundle.test):
        assert np.allclose(split.x.numpy(), imputer.transform(raw.x[split.index]), atol=1e-6)
    everything = SimpleImputer(strategy=strategy).fit(raw.x)
    assert not np.allclose(everything.statistics_, imputer.statistics_)  # the fixture can tell the difference
