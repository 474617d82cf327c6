"""Every dataset end to end: torchvision's loaders read small files written here in the
exact on-disk format torchvision reads (no network), and `dlx train data=X` runs for
every file in conf/data/."""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from dlx.config import group_choices
from dlx.registry import DATASETS

ROOT = Path(__file__).resolve().parents[1]
CONF_DATASETS = group_choices("data")  # every registered dataset, and each preset
TINY = ["trainer.epochs=2", "trainer.num_threads=1", "trainer.batch_size=32"]
N_TRAIN, N_TEST = 60, 20


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _images(rng, n, shape) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    """MNIST's IDX format: magic (0, 0, type 0x08 = ubyte, ndim), big-endian sizes, raw bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_mnist_like(root: Path, cls_name: str, rng) -> None:
    raw = root / cls_name / "raw"  # torchvision: <root>/<ClassName>/raw/<file without .gz>
    raw.mkdir(parents=True)
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", _images(rng, n, (28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def make_cifar(root: Path, cls, rng, monkeypatch) -> None:
    """Pickled batches of (N, 3072) uint8 rows; torchvision checks each file's md5, so the
    class's table of checksums is pointed at the files written here."""
    folder = root / cls.base_folder
    folder.mkdir(parents=True)
    hundred = cls.__name__ == "CIFAR100"
    k, label_key = (100, "fine_labels") if hundred else (10, "labels")
    files = [name for name, _ in cls.train_list + cls.test_list]
    for name in files:
        n = N_TEST if name in ("test", "test_batch") else N_TRAIN // len(cls.train_list)
        entry = {"data": _images(rng, n, (3072,)), label_key: [int(v) for v in np.arange(n) % k]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {cls.meta["key"]: [f"class{c}" for c in range(k)]}
    (folder / cls.meta["filename"]).write_bytes(pickle.dumps(meta, protocol=2))
    monkeypatch.setattr(cls, "train_list", [[n, _md5(folder / n)] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, _md5(folder / n)] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})


def make_svhn(root: Path, rng, monkeypatch) -> None:
    """MATLAB files: X (32, 32, 3, N) uint8, y (N, 1) with labels 1..10 (10 is the digit 0)."""
    from scipy.io import savemat
    from torchvision.datasets import SVHN

    root.mkdir(parents=True, exist_ok=True)
    table = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        url, filename, _ = SVHN.split_list[split]
        savemat(root / filename, {"X": _images(rng, n, (32, 32, 3)).transpose(1, 2, 3, 0),
                                  "y": (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)})
        table[split] = [url, filename, _md5(root / filename)]
    monkeypatch.setattr(SVHN, "split_list", {**SVHN.split_list, **table})


def make_image_folder(root: Path, rng, classes=("cat", "dog", "fox"), per_class=10) -> Path:
    from PIL import Image

    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            size = (10 + i % 3, 12)  # sizes differ: the pipeline resizes
            Image.fromarray(_images(rng, 1, (size[1], size[0], 3))[0]).save(root / c / f"{i}.png")
    return root


def make_csv(path: Path, rng, n=80) -> Path:
    import pandas as pd

    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x1 + (colour == "red") > 0.3, "yes", "no")
    pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "label": label}).to_csv(path, index=False)
    return path


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """Overrides per dataset name that point it at files generated under tmp_path."""
    import torchvision.datasets as tvd

    rng = np.random.default_rng(0)
    root = tmp_path / "tv"
    for name in ("MNIST", "FashionMNIST", "KMNIST"):
        make_mnist_like(root, name, rng)
    make_cifar(root, tvd.CIFAR10, rng, monkeypatch)
    make_cifar(root, tvd.CIFAR100, rng, monkeypatch)
    make_svhn(root, rng, monkeypatch)
    folder = make_image_folder(tmp_path / "images", rng)
    table = make_csv(tmp_path / "table.csv", rng)
    vision = [f"data.root={root}", "data.download=false"]
    extra = {name: vision for name in ("mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100", "svhn")}
    extra["image_folder"] = [f"data.path={folder}", "data.image_size=8", "data.workers=0"]
    extra["csv"] = [f"data.path={table}", "data.target=label"]
    # issue 16: sequence pairs train model=seq2seq, text model=lm; a generated text and series
    pairs = ["model=seq2seq", "model.hidden_size=16", "data.n_samples=100", "data.max_length=12"]
    extra.update({name: pairs for name in ("copy", "reverse", "sort")})
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat. " * 60)
    extra["text"] = ["model=lm", f"data.path={tmp_path / 'corpus.txt'}", "data.context=16", "model.d_model=16"]
    extra["timeseries"] = [f"data.path={table}", "data.target=x1", "data.window=5"]
    extra["adding"] = extra["parity"] = ["data.n_samples=200", "data.length=10"]
    tokens = ["model=gru", "model.hidden_size=16", "data.n_samples=100", "data.max_length=12"]  # issue 16: tokens
    extra["majority"] = extra["running_max"] = tokens
    from tests.test_graphs import write_graph  # issue 17

    nodes, edges = write_graph(tmp_path)
    extra["graph_csv"] = [f"data.nodes={nodes}", f"data.edges={edges}"]
    extra["graph_set"] = ["model=gnn", "model.readout=sum", "data.graphs_per_class=10"]  # graphs need a readout
    return extra


def _build(name, overrides):
    from dlx import config, data

    return data.build(config.load([f"data={name}", *overrides]).data)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100", "svhn"])
def test_torchvision_loader_reads_generated_files(sources, name):
    bundle = _build(name, sources[name])
    shape = (1, 28, 28) if "mnist" in name else (3, 32, 32)
    assert bundle.input_shape == shape
    assert bundle.test.index is None  # the official test split, not a slice of train
    assert len(bundle.test) == N_TEST
    assert len(bundle.train) + len(bundle.val) == N_TRAIN
    assert bundle.num_classes == (100 if name == "cifar100" else 10)
    assert 0.0 <= float(bundle.train.x.min()) and float(bundle.train.x.max()) <= 1.0  # pixels: ÷255
    assert float(bundle.train.x.max()) > 0.9  # random bytes reach near 255


def test_svhn_label_ten_is_digit_zero(sources):
    bundle = _build("svhn", sources["svhn"])
    labels = set(bundle.test.y.tolist())
    assert labels == set(range(10))


@pytest.mark.parametrize("name", ["mnist", "cifar10", "svhn"])
def test_missing_torchvision_files_without_download(dlx, tmp_path, name):
    r = dlx("train", f"data={name}", f"data.root={tmp_path / 'empty'}", "data.download=false", *TINY)
    assert r.code == 2
    assert "data.download=true" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_image_folder_reads_files_through_a_dataloader(sources):
    from torch.utils.data import DataLoader

    from dlx.data import DiskSplit
    from dlx.data.loaders import bundle_batches

    bundle = _build("image_folder", [*sources["image_folder"], "data.augment.flip=true"])
    assert bundle.input_shape == (3, 8, 8) and bundle.classes == ["cat", "dog", "fox"]
    assert isinstance(bundle.train, DiskSplit)
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 30
    import torch

    train, val, _ = bundle_batches(bundle, "cpu", 8, 64, torch.Generator().manual_seed(0))
    assert isinstance(train, DataLoader) and isinstance(val, DataLoader)
    xb, yb = next(iter(val))
    assert xb.shape == (len(bundle.val), 3, 8, 8) and xb.dtype == torch.float32
    assert 0 <= float(xb.min()) and float(xb.max()) <= 1
    names = lambda tf: [type(t).__name__ for t in tf.transforms]  # noqa: E731
    assert "RandomHorizontalFlip" in names(bundle.train.dataset.transform)
    assert "RandomHorizontalFlip" not in names(bundle.val.dataset.transform)  # off at evaluation


def test_image_folder_standardize_uses_train_channels(sources):
    bundle = _build("image_folder", [*sources["image_folder"], "data.preprocess=standardize"])
    import torch

    xs = torch.stack([bundle.train.dataset[i][0] for i in range(len(bundle.train))])
    assert torch.allclose(xs.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(xs.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    assert bundle.preprocess["mean"].shape == (3,)


def test_image_folder_without_class_folders(dlx, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.png").write_bytes(b"")
    r = dlx("train", "data=image_folder", f"data.path={flat}", *TINY)
    assert r.code == 2 and "no class sub-folders" in r.err and "Traceback" not in r.err


def test_every_dataset_has_a_config_and_a_builder():
    from dlx.registry import DATASETS
    from dlx.plugins import load_builtins as load_components

    load_components()
    assert DATASETS.names() == group_choices("data")  # a builder for every choice, and back


@pytest.mark.parametrize("name", CONF_DATASETS)
def test_every_data_config_validates_as_shipped(name):
    """No file is read at validation: csv without a path (with check_files=False, as `dlx train --cfg`
    does), mnist without files still compose."""
    from dataclasses import asdict

    from dlx import config
    from dlx.registry import DATASETS

    cfg = config.load([f"data={name}"], check_files=False).data
    assert type(cfg) is DATASETS.get(name).schema
    assert set(asdict(cfg)) == set(config.compose([f"data={name}"]).data.keys())


@pytest.mark.parametrize("name", CONF_DATASETS)
def test_train_every_dataset(dlx, sources, name):
    extra = ["data.n_samples=200"] if name in ("moons", "circles", "spirals", "xor", "linear", "sine") else []
    if DATASETS.get(name).meta.get("task") == "environment":  # an agent on a few steps (tests/test_rl_*.py)
        extra = ["model=ppo", "data.steps_per_epoch=64", "data.num_envs=2", "model.n_steps=16", "data.eval_episodes=1",
                 "data.test_episodes=1"]
    r = dlx("train", f"data={name}", *TINY, *sources.get(name, []), *extra, "-q")
    assert r.code == 0, r.err
    runs = list(Path("outputs/runs").iterdir())
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["data"] == name
    metrics = {"regression": ["test_mae", "test_rmse", "test_r2"], "binary": ["test_acc", "test_auc"],
               "multiclass": ["test_acc"], "graph-nodes": ["test_acc"], "graph-set": ["test_acc"],
               "seq2seq": ["test_acc", "test_exact"], "tagging": ["test_acc", "test_exact"],
               "language": ["test_ppl"], "environment": ["test_return_mean"]}[summary["task"]]
    for key in metrics:
        assert np.isfinite(summary[key]), (key, summary[key])
    assert summary["epochs_run"] == 2


@pytest.mark.parametrize("name, task", [("breast_cancer", "binary"), ("diabetes", "regression"),
                                        ("sine", "regression"), ("moons", "binary"), ("iris", "multiclass")])
def test_task_of_builtin_datasets(name, task):
    bundle = _build(name, [])
    assert bundle.kind == task
    if task == "regression":
        assert bundle.train.y.dtype.is_floating_point
    else:
        assert not bundle.train.y.dtype.is_floating_point


def test_dlx_data_lists_every_dataset(dlx):
    r = dlx("data")
    assert r.code == 0
    for name in CONF_DATASETS:
        assert name in r.out
    row = next(line for line in r.out.splitlines() if " cifar10 " in line)
    assert "yes" in row and "3×32×32" in row  # download needed, input shape
    row = next(line for line in r.out.splitlines() if " diabetes " in line)
    assert "regression" in row and "442" in row and "no" in row


def test_dlx_data_name_shows_splits(dlx):
    r = dlx("data", "iris", "data.limit=40")
    assert r.code == 0, r.err
    assert "multiclass" in r.out and "setosa" in r.out
    train_row = next(line for line in r.out.splitlines() if "train" in line)
    assert "40" in train_row


@pytest.mark.slow
def test_digits_run_does_not_import_torchvision(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from dlx import config, data; "
            "data.build(config.load(['data=digits']).data); print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
