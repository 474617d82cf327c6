"""Build a dataset into a `DataBundle`: load, split (seeded, stratified or grouped), fit preprocessing on train."""

from __future__ import annotations

import numpy as np
import torch

from dlx.data import preprocess, target
from dlx.data import sklearn_sets, synthetic, user, vision  # noqa: F401  (register)
from dlx.data import graphs, graphsets  # noqa: F401  (registers karate, sbm, graph_csv, graph_set: issue 17)
from dlx.data import sequences, text, timeseries  # noqa: F401  (register: issue 16)
from dlx.data.bundle import DataBundle, DataConfig, RawData, Split
from dlx.data.disk import DiskData, bundle_from_disk
from dlx.data.splits import split_indices
from dlx.errors import DataError
from dlx.registry import DATASETS


def build(cfg: DataConfig) -> DataBundle:
    """Load `cfg.name`, split it (seeded, stratified), fit preprocessing on train only."""
    raw = DATASETS.build(cfg.name, cfg)
    if isinstance(raw, DataBundle):  # a dataset that splits itself (sequence pairs, text, time series)
        return raw
    if isinstance(raw, DiskData):
        return bundle_from_disk(raw, cfg, split_indices(raw, cfg))
    if isinstance(raw, graphs.GraphData):  # split over nodes; the task runs the whole graph
        return graphs.bundle_from_graph(raw, cfg)
    if isinstance(raw, graphsets.GraphSetData):  # split over graphs; the task batches whole graphs
        return graphsets.bundle_from_graph_set(raw, cfg)
    return bundle_from_raw(raw, cfg)


def bundle_from_raw(raw: RawData, cfg: DataConfig) -> DataBundle:
    if len(raw.y) == 0:
        raise DataError(f"dataset '{cfg.name}' is empty")
    train_i, val_i, test_i = split_indices(raw, cfg)
    x = torch.as_tensor(raw.x)  # uint8 pixels stay uint8 until each split is cut (a quarter the memory)
    y_dtype = torch.float32 if raw.kind == "regression" else torch.long
    y = torch.as_tensor(raw.y, dtype=y_dtype)
    if test_i is None:
        x_test = torch.as_tensor(raw.test[0])
        y_test = torch.as_tensor(raw.test[1], dtype=y_dtype)
        test_index = None
    else:
        x_test, y_test, test_index = x[test_i], y[test_i], test_i

    mode, impute = cfg.preprocess, getattr(cfg, "impute", "none")  # csv only: fill missing features
    x_train = x[train_i].float()
    fill = preprocess.fit_impute(impute, x_train)  # on the training rows only, as every statistic
    x_train = preprocess.apply_impute(fill, x_train)
    stats = preprocess.fit(mode, x_train)

    def make(xs, ys, idx):
        return Split(preprocess.apply(mode, stats, preprocess.apply_impute(fill, xs.float())), ys, idx)

    train = make(x_train, y[train_i], train_i)
    val = make(x[val_i], y[val_i], val_i)
    test = make(x_test, y_test, test_index)
    num_targets = 1 if raw.y.ndim == 1 else raw.y.shape[1]
    augment = getattr(cfg, "augment", None)
    if augment is not None and augment.active and x.ndim != 4:
        raise DataError(f"data.augment needs images, but '{cfg.name}' has shape {tuple(x.shape[1:])}")
    fitted = {"mode": mode, **stats, **({"impute": impute, "fill": fill} if fill is not None else {})}
    if raw.kind == "regression" and getattr(cfg, "scale_target", False):  # regression datasets' schemas only
        fitted["target"] = target.fit(train.y)  # the model is wrapped to predict in y's units (target.wrap)
    if raw.encoding:  # csv columns: how strings and categories became numbers, for dlx predict
        fitted["encoding"] = raw.encoding
    return DataBundle(train, val, test, tuple(x.shape[1:]), raw.kind, list(raw.classes), num_targets,
                      fitted, augment)


def task_of(cfg: DataConfig) -> str:
    """The dataset's task: from its registry entry, or from the data itself when inferred (csv)."""
    task = DATASETS.get(cfg.name).meta.get("task")
    if isinstance(task, str) and task not in ("auto", "inferred", "?", ""):  # a declared kind (graph-nodes too)
        return task
    return DATASETS.build(cfg.name, cfg).kind


def describe() -> list[dict]:
    """One row per registered dataset: name, task, input shape, size, download, summary."""
    rows = []
    for entry in DATASETS.entries():
        name, meta = entry.name, entry.meta
        origin = "" if entry.origin == "built-in" else f"  ({entry.origin})"
        rows.append({"name": name + origin, "task": meta.get("task", "?"), "shape": meta.get("shape", "?"),
                     "size": meta.get("size", "?"), "download": bool(meta.get("download")),
                     "summary": meta.get("summary", "")})
    return rows
