"""The folds of a cross-validation, planned before any fold runs: which train/val sample each
fold validates on (`assignment.csv`), and the checks that refuse impossible fold counts."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from dlx.errors import ConfigError, first_line


def plan_folds(data_cfg, folds: int, repeats: int) -> list[dict]:
    """Rows (index, repeat, fold): each train/val sample's validation fold in each repeat.

    The folds come from `dlx.data.split_indices`, the very code each fold's run uses.
    Too few samples, a class smaller than `folds` or (with groups) fewer groups than `folds`
    is a ConfigError here. With groups each row also carries its sample's group.
    """
    from dlx.data import split_indices
    from dlx.registry import DATASETS

    no_folds = DATASETS.get(data_cfg.name).meta.get("no_folds")  # e.g. an environment: its reason
    if no_folds:
        raise ConfigError(f"dlx cv cannot split data={data_cfg.name}: {no_folds}")
    if repeats > 1 and DATASETS.get(data_cfg.name).meta.get("ordered"):
        raise ConfigError(f"--repeats {repeats}: the forward-chaining folds of data={data_cfg.name} (kept in "
                          "order) are the same every time; use --repeats 1")
    raw = DATASETS.build(data_cfg.name, data_cfg)
    if not hasattr(raw, "y"):  # a dataset that splits itself (issue 16: pairs, text, time series)
        return plan_own_folds(data_cfg, folds, repeats)
    # train ∪ val: what is left after the test split (val_fraction=0 keeps it whole)
    dev, _, _ = split_indices(raw, replace(data_cfg, folds=0, fold=0, repeat=0, limit=0, val_fraction=0))
    groups = getattr(raw, "groups", None)
    if groups is None:
        check_fold_sizes(raw.y[dev], raw.kind, folds, raw.classes)
    else:
        check_group_count(groups[dev], folds, data_cfg.group_col)
    rows = []
    try:
        for r in range(repeats):
            for k in range(folds):
                _, held_out, _ = split_indices(raw, replace(data_cfg, folds=folds, fold=k, repeat=r))
                rows += [{"index": int(i), "repeat": r, "fold": k,
                          **({} if groups is None else {"group": groups[i]})} for i in held_out]
    except ValueError as e:  # scikit-learn's own objection, should the checks above miss one
        raise ConfigError(f"cannot split {data_cfg.name} into {folds} folds: {first_line(e, limit=None)}") from None
    return sorted(rows, key=lambda row: (row["repeat"], row["index"]))


def plan_own_folds(data_cfg, folds: int, repeats: int) -> list[dict]:
    """As `plan_folds`, for a dataset that splits itself (sequence pairs: k-fold; a series or a text:
    forward chaining): each fold's own build says which samples it validates on."""
    from dlx.data import build

    rows = []
    for r in range(repeats):
        for k in range(folds):
            held_out = build(replace(data_cfg, folds=folds, fold=k, repeat=r)).val.index
            rows += [{"index": int(i), "repeat": r, "fold": k} for i in held_out]
    return sorted(rows, key=lambda row: (row["repeat"], row["index"]))


def check_fold_sizes(y_dev, task: str, folds: int, classes: Sequence[str] = ()) -> None:
    import numpy as np

    if len(y_dev) < folds:
        raise ConfigError(f"--folds {folds} but train+val has only {len(y_dev)} samples; "
                          "lower --folds or use more data")
    if task == "regression":
        return
    labels, counts = np.unique(y_dev, return_counts=True)
    small = int(np.argmin(counts))
    if counts[small] < folds:
        label = int(labels[small])
        name = classes[label] if label < len(classes) else str(label)
        raise ConfigError(f"--folds {folds} is more than the {counts[small]} train+val samples of class "
                          f"'{name}'; stratified folds need at least {folds} per class — lower --folds")


def check_group_count(groups_dev, folds: int, column: str) -> None:
    import numpy as np

    count = len(np.unique(groups_dev))
    if count < folds:
        raise ConfigError(f"--folds {folds} but column '{column}' has only {count} groups in train+val; "
                          "GroupKFold keeps each group in one fold, so it needs at least one per fold — "
                          "lower --folds")
