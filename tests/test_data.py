"""Splits, preprocessing, augmentation, CSV reading and the bad inputs a user can give."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlx.data import build, split_indices
from dlx.data.bundle import PREPROCESS, AugmentConfig

TINY = ["trainer.epochs=2", "trainer.num_threads=1"]


def load(name="digits", *overrides):
    from dlx import config

    return config.load([f"data={name}", *overrides]).data


def raw_of(cfg):
    from dlx.registry import DATASETS

    return DATASETS.build(cfg.name, cfg)


# ---------------------------------------------------------------- splits


def test_split_sizes_partition_and_stratification():
    cfg = load("iris")
    raw = raw_of(cfg)
    train, val, test = split_indices(raw, cfg)
    assert (len(train), len(val), len(test)) == (96, 24, 30)  # 150: 20 % test, then 20 % of the rest
    everything = np.concatenate([train, val, test])
    assert len(np.unique(everything)) == 150  # no overlap, nothing lost
    for part in (train, val, test):  # iris has 50 of each class: every split keeps 1/3 each
        counts = np.bincount(raw.y[part], minlength=3)
        assert counts.max() - counts.min() <= 1, counts


def test_split_is_repeatable_and_depends_on_seed():
    cfg = load("wine")
    raw = raw_of(cfg)
    a, b = split_indices(raw, cfg), split_indices(raw, cfg)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    other = split_indices(raw, load("wine", "data.seed=1"))
    assert not np.array_equal(np.sort(a[2]), np.sort(other[2]))


def test_regression_split_sizes():
    cfg = load("diabetes", "data.val_fraction=0.25", "data.test_fraction=0.1")
    train, val, test = split_indices(raw_of(cfg), cfg)
    assert len(test) == 45 and len(val) == 100 and len(train) == 442 - 145


def test_folds_partition_the_development_set():
    raws = []
    for fold in range(4):
        cfg = load("breast_cancer", "data.folds=4", f"data.fold={fold}")
        train, val, test = split_indices(raw_of(cfg), cfg)
        assert not set(train) & set(val) and not set(val) & set(test)
        raws.append((val, test))
    vals = np.concatenate([v for v, _ in raws])
    assert len(vals) == len(np.unique(vals)) == 569 - len(raws[0][1])  # each sample validated once


def test_limit_keeps_the_first_training_samples():
    full = build(load("digits"))
    limited = build(load("digits", "data.limit=50"))
    assert len(limited.train) == 50
    np.testing.assert_array_equal(limited.train.index, full.train.index[:50])
    assert len(limited.val) == len(full.val) and len(limited.test) == len(full.test)


def test_tiny_classes_fall_back_to_a_plain_split():
    from dlx.data.splits import holdout

    y = np.array([0, 0, 0, 0, 1, 1, 1, 2])  # class 2 has one sample: cannot be stratified
    keep, out = holdout(y, "multiclass", 0.25, seed=0)
    assert len(keep) + len(out) == 8 and not set(keep) & set(out)


# ---------------------------------------------------------------- preprocessing


def _raw_train(cfg, bundle):
    return torch.as_tensor(raw_of(cfg).x[bundle.train.index], dtype=torch.float32)


@pytest.mark.parametrize("mode", PREPROCESS)
def test_preprocess_statistics_come_from_train_only(mode):
    cfg = load("wine", f"data.preprocess={mode}")
    bundle = build(cfg)
    raw = _raw_train(cfg, bundle)
    whole = torch.as_tensor(raw_of(cfg).x, dtype=torch.float32)
    x = bundle.train.x
    if mode == "none":
        torch.testing.assert_close(x, raw)
    elif mode == "pixels":
        torch.testing.assert_close(x, raw / 255)
    elif mode == "center":
        torch.testing.assert_close(bundle.preprocess["mean"], raw.mean(0))
        assert not torch.allclose(bundle.preprocess["mean"], whole.mean(0))  # not the whole data set
        torch.testing.assert_close(x.mean(0), torch.zeros(x.shape[1]), atol=1e-3, rtol=0)
    elif mode == "standardize":
        torch.testing.assert_close(bundle.preprocess["mean"], raw.mean(0))
        torch.testing.assert_close(x.mean(0), torch.zeros(x.shape[1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(x.shape[1]), atol=1e-4, rtol=0)
        assert not torch.allclose(bundle.val.x.mean(0), torch.zeros(x.shape[1]), atol=1e-3)
    else:
        low = 0.0 if mode == "minmax" else -1.0
        torch.testing.assert_close(bundle.preprocess["min"], raw.amin(0))
        torch.testing.assert_close(x.amin(0), torch.full((x.shape[1],), low))
        torch.testing.assert_close(x.amax(0), torch.ones(x.shape[1]))
    # evaluation uses the same statistics: val is transformed, not re-fitted
    if mode not in ("none", "pixels"):
        val_raw = torch.as_tensor(raw_of(cfg).x[bundle.val.index], dtype=torch.float32)
        from dlx.data import preprocess

        torch.testing.assert_close(bundle.val.x, preprocess.apply(mode, bundle.preprocess, val_raw))


def test_preprocess_statistics_are_saved_with_the_run(dlx):
    r = dlx("train", "data=iris", *TINY, "-q")
    assert r.code == 0, r.err
    from pathlib import Path

    best = next(Path("outputs/runs").iterdir()) / "checkpoints" / "best.pt"
    meta = torch.load(best, weights_only=True)["meta"]
    assert meta["preprocess"]["mode"] == "standardize"
    assert meta["preprocess"]["mean"].shape == (4,)


# ---------------------------------------------------------------- augmentation


def test_augmentation_keeps_shapes_and_changes_images():
    from dlx.data.augment import BatchAugment

    torch.manual_seed(0)
    x = torch.rand(64, 3, 16, 16)
    cfg = AugmentConfig(crop_padding=2, flip=True, rotation=15, brightness=0.2, contrast=0.2)
    out = BatchAugment(cfg)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    assert changed.float().mean() > 0.9  # with five random changes, nearly every image differs


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    import torch.nn.functional as F

    from dlx.data.augment import random_crop

    torch.manual_seed(1)
    x = torch.rand(32, 2, 6, 6)
    out = random_crop(x, 1)
    padded = F.pad(x, (1, 1, 1, 1))
    offsets = set()
    for i in range(len(x)):
        matches = [(dy, dx) for dy in range(3) for dx in range(3)
                   if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 6])]
        assert len(matches) >= 1
        offsets.add(matches[0])
    assert len(offsets) > 3  # offsets vary per image


def test_random_flip_mirrors_about_half():
    from dlx.data.augment import random_flip

    torch.manual_seed(2)
    x = torch.rand(200, 1, 4, 5)
    out = random_flip(x)
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert bool((flipped | kept).all()) and 60 < int(flipped.sum()) < 140


def test_brightness_scales_each_image_by_one_factor():
    torch.manual_seed(3)
    from dlx.data.augment import BatchAugment

    x = torch.rand(50, 1, 4, 4) + 0.5
    out = BatchAugment(AugmentConfig(brightness=0.3))(x)
    ratio = (out / x).flatten(1)
    torch.testing.assert_close(ratio.amin(1), ratio.amax(1))  # one factor per image
    assert float(ratio.min()) >= 0.7 - 1e-6 and float(ratio.max()) <= 1.3 + 1e-6
    assert float(ratio.std()) > 0.05


def test_rotation_keeps_a_uniform_centre():
    from dlx.data.augment import random_rotation

    torch.manual_seed(4)
    x = torch.ones(8, 1, 9, 9)
    out = random_rotation(x, 30)
    torch.testing.assert_close(out[:, :, 3:6, 3:6], x[:, :, 3:6, 3:6])
    assert float(out[:, :, 0, 0].min()) < 1  # a corner rotated out is filled with 0


def test_augmentation_only_on_the_training_batches():
    from dlx.data.augment import BatchAugment
    from dlx.data.loaders import bundle_batches

    bundle = build(load("digits", "data.augment.flip=true", "data.augment.crop_padding=1"))
    train, val, test = bundle_batches(bundle, "cpu", 32, 1024, torch.Generator().manual_seed(0))
    assert isinstance(train.transform, BatchAugment)
    assert val.transform is None and test.transform is None
    xb, _ = next(iter(val))
    torch.testing.assert_close(xb, bundle.val.x[: len(xb)])  # evaluation sees the data as it is
    xb, _ = next(iter(train))
    assert xb.shape[1:] == bundle.train.x.shape[1:]


def test_augmented_digits_train(dlx):
    r = dlx("train", "data=digits", "data.limit=200", "data.augment.flip=true", "data.augment.rotation=10",
            *TINY, "-q")
    assert r.code == 0, r.err


@pytest.mark.parametrize("override, message", [
    ("data.augment.rotation=-5", "data.augment.rotation"),
    ("data.augment.brightness=1.5", "data.augment.brightness"),
    ("data.augment.crop_padding=-1", "data.augment.crop_padding"),
])
def test_bad_augment_values(dlx, override, message):
    r = dlx("train", override, *TINY)
    assert r.code == 2 and message in r.err


def test_tabular_data_has_no_augment_key(dlx):
    r = dlx("train", "data=iris", "data.augment.flip=true", *TINY)
    assert r.code == 2 and "data.augment" in r.err


# ---------------------------------------------------------------- csv


@pytest.mark.parametrize("values, task", [
    (["a", "b", "c", "a"], "multiclass"),
    (["yes", "no", "yes", "no"], "binary"),
    ([1, 2, 3, 1, 2, 3], "multiclass"),
    ([0, 1, 1, 0], "binary"),
    ([True, False, True], "binary"),
    ([0.5, 1.25, 3.0, 2.2], "regression"),
    ([1.0, 2.0, 1.0, 2.0, 3.0], "multiclass"),  # integer values stored as floats
    (list(range(100)), "regression"),  # many integers: a quantity, not a label
])
def test_csv_task_inference(values, task):
    import pandas as pd

    from dlx.data.user import infer_task

    assert infer_task(pd.Series(values, name="t")) == task


def _write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = ["size,colour,price,kind"]
    for i in range(n):
        rows.append(f"{rng.normal():.3f},{['red', 'green', 'blue'][i % 3]},{rng.uniform(1, 9):.2f},{'ab'[i % 2]}")
    return "\n".join(rows) + "\n"


def test_csv_one_hot_features_and_task(tmp_path):
    path = _write(tmp_path, _table())
    bundle = build(load("csv", f"data.path={path}", "data.target=kind"))
    assert bundle.kind == "binary" and bundle.classes == ["a", "b"]
    assert bundle.input_shape == (1 + 3 + 1,)  # size, colour one-hot (3), price
    reg = build(load("csv", f"data.path={path}", "data.target=price", "data.features=[size,colour]"))
    assert reg.kind == "regression" and reg.input_shape == (4,)
    assert reg.train.y.dtype == torch.float32


def test_csv_integer_valued_float_target_names_classes_as_integers(tmp_path):
    path = _write(tmp_path, "x,y\n" + "".join(f"{i},{float(i % 3)}\n" for i in range(30)))
    bundle = build(load("csv", f"data.path={path}", "data.target=y"))
    assert bundle.kind == "multiclass" and bundle.classes == ["0", "1", "2"]


def test_csv_text_feature_with_too_many_values(dlx, tmp_path):
    path = _write(tmp_path, "id,x,y\n" + "".join(f"row{i},{i},{i % 2}\n" for i in range(150)))
    _one_line_error(dlx("train", "data=csv", f"data.path={path}", "data.target=y", *TINY),
                    "column 'id'", "150 distinct", "data.features")
    bundle = build(load("csv", f"data.path={path}", "data.target=y", "data.features=[x]"))
    assert bundle.input_shape == (1,)


def test_csv_task_override(tmp_path):
    path = _write(tmp_path, "x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    assert build(load("csv", f"data.path={path}", "data.target=y")).kind == "multiclass"
    assert build(load("csv", f"data.path={path}", "data.target=y", "data.task=regression")).kind == "regression"


def test_csv_trains_regression_with_regression_metrics(dlx, tmp_path):
    import json
    from pathlib import Path

    path = _write(tmp_path, _table(60))
    r = dlx("train", "data=csv", f"data.path={path}", "data.target=price", *TINY, "-q")
    assert r.code == 0, r.err
    summary = json.loads((next(Path("outputs/runs").iterdir()) / "summary.json").read_text())
    assert summary["task"] == "regression" and summary["monitor"] == "val_loss"
    assert {"test_mae", "test_rmse", "test_r2"} <= set(summary)


# ---------------------------------------------------------------- bad input


def _one_line_error(r, *words):
    assert r.code == 2, (r.code, r.out, r.err)
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    for w in words:
        assert w in r.err, (w, r.err)


def test_missing_csv(dlx):
    _one_line_error(dlx("train", "data=csv", "data.path=nope.csv", "data.target=y", *TINY), "not found", "nope.csv")


def test_csv_without_path(dlx):
    _one_line_error(dlx("train", "data=csv", *TINY), "data.path")


def test_missing_target_column(dlx, tmp_path):
    path = _write(tmp_path, _table())
    _one_line_error(dlx("train", "data=csv", f"data.path={path}", "data.target=knd", *TINY),
                    "no column 'knd'", "did you mean 'kind'")


def test_missing_feature_column(dlx, tmp_path):
    path = _write(tmp_path, _table())
    _one_line_error(dlx("train", "data=csv", f"data.path={path}", "data.target=kind", "data.features=[size,weight]",
                        *TINY), "no column 'weight'")


def test_single_class_target(dlx, tmp_path):
    path = _write(tmp_path, "a,b\n" + "".join(f"{i},same\n" for i in range(20)))
    _one_line_error(dlx("train", "data=csv", f"data.path={path}", "data.target=b", *TINY), "single class ('same')")


def test_nan_features_named_and_dropna_offered(dlx, tmp_path):
    text = _table(40).splitlines()
    text[3] = ",".join(["", *text[3].split(",")[1:]])  # a missing 'size' in two rows
    text[7] = ",".join(["", *text[7].split(",")[1:]])
    path = _write(tmp_path, "\n".join(text) + "\n")
    _one_line_error(dlx("train", "data=csv", f"data.path={path}", "data.target=kind", *TINY),
                    "'size'", "2 missing", "data.dropna=true")
    cfg = load("csv", f"data.path={path}", "data.target=kind", "data.dropna=true")
    bundle = build(cfg)
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 38


def test_unreadable_csv(dlx, tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"")
    _one_line_error(dlx("train", "data=csv", f"data.path={path}", "data.target=y", *TINY), "cannot read")


def test_image_folder_rejects_whole_split_preprocessing(dlx, tmp_path):
    _one_line_error(dlx("train", "data=image_folder", f"data.path={tmp_path}", "data.preprocess=minmax", *TINY),
                    "data.preprocess")


def test_image_folder_missing_path(dlx, tmp_path):
    _one_line_error(dlx("train", "data=image_folder", f"data.path={tmp_path / 'nope'}", *TINY), "not found")


def test_bad_schema_values(dlx):
    _one_line_error(dlx("train", "data=spirals", "data.arms=1", *TINY), "data.arms")
    _one_line_error(dlx("train", "data=moons", "data.noise=-0.1", *TINY), "data.noise")
    _one_line_error(dlx("train", "data=csv", "data.task=ranking", *TINY), "data.task")


def test_too_few_rows_to_split(dlx, tmp_path):
    path = _write(tmp_path, "a,b\n1,x\n2,y\n")
    _one_line_error(dlx("train", "data=csv", f"data.path={path}", "data.target=b", *TINY), "too few")


# ---------------------------------------------------------------- batching


def test_shuffled_batches_keep_pairs_and_cover_every_sample_once():
    from dlx.data.loaders import TensorBatches

    x = torch.arange(50, dtype=torch.float32)[:, None] * 10
    y = torch.arange(50)
    batches = TensorBatches(x, y, 8, shuffle=True, generator=torch.Generator().manual_seed(0))
    xs, ys = zip(*batches)
    assert [len(b) for b in ys] == [8] * 6 + [2]
    xs, ys = torch.cat(xs), torch.cat(ys)
    torch.testing.assert_close(xs[:, 0], ys.float() * 10)  # inputs stay with their targets
    assert sorted(ys.tolist()) == list(range(50)) and ys.tolist() != list(range(50))


@pytest.mark.parametrize("dataset, monitor", [("diabetes", "val_loss"), ("iris", "val_acc")])
def test_monitor_auto_is_resolved_and_config_yaml_agrees_with_the_summary(dlx, dataset, monitor):
    import json
    from pathlib import Path

    import yaml

    r = dlx("train", f"data={dataset}", "trainer.epochs=1", "trainer.num_threads=1", "-q")
    assert r.code == 0, r.err
    run = next(Path("outputs/runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert summary["monitor"] == config["trainer"]["monitor"] == monitor
