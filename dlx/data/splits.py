"""Train / validation / test index splits: a pure function of (labels, seed, fractions, fold)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dlx.errors import DataError

if TYPE_CHECKING:
    from dlx.data.bundle import DataConfig, RawData
    from dlx.data.disk import DiskData


def _stratify(y: np.ndarray, task: str):
    return y if task != "regression" else None


def _can_stratify(y: np.ndarray, fraction: float) -> bool:
    """Stratifying needs two samples of every class and a held-out part with room for each class."""
    _, counts = np.unique(y, return_counts=True)
    held_out = int(np.ceil(fraction * len(y)))
    return counts.min() >= 2 and len(counts) <= held_out <= len(y) - len(counts)


def holdout(y: np.ndarray, task: str, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out), seeded; stratified for classification whenever the class
    counts allow it (a class with one sample, or 100 classes in 12 held-out samples, do not)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    if fraction <= 0:
        return index, index[:0]
    if len(y) - int(np.ceil(fraction * len(y))) < 1:
        raise DataError(f"{len(y)} sample(s) are too few to hold out {fraction:g} of them and keep some to "
                        "train on; use more rows (or lower data.test_fraction / data.val_fraction)")
    stratify = _stratify(y, task)
    if stratify is not None and not _can_stratify(y, fraction):
        stratify = None
    return train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)


def group_holdout(groups: np.ndarray, fraction: float, seed: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with every group wholly on one side: scikit-learn's
    GroupShuffleSplit(test_size=fraction, random_state=seed), so `fraction` is of the groups."""
    from sklearn.model_selection import GroupShuffleSplit

    index = np.arange(len(groups))
    if fraction <= 0:
        return index, index[:0]
    count = len(np.unique(groups))
    if count - int(np.ceil(fraction * count)) < 1:
        raise DataError(f"{count} group(s) in data.group_col are too few to hold out {fraction:g} of them "
                        f"(data.{key}) and keep a group to train on; lower data.{key} or use more groups")
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, held = next(splitter.split(index, groups=groups))
    return keep, held


def kfold(y: np.ndarray, task: str, folds: int, fold: int, seed: int, repeat: int = 0,
          groups: np.ndarray | None = None):
    """Indices (train, val) of fold `fold` of `folds`; `repeat` picks another shuffle.

    Repeat 0 is exactly `(Stratified)KFold(shuffle=True, random_state=seed)`; repeat r is
    the r-th shuffle of `Repeated(Stratified)KFold` with the same seed. With `groups`, the
    folds are `GroupKFold(shuffle=True)`'s (each group whole in one fold; not stratified),
    repeat r drawing the r-th shuffle of groups from one `RandomState(seed)`, as the repeated
    splitters do.
    """
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    if len(y) < folds:
        raise DataError(f"data.folds={folds} but train+val has only {len(y)} samples; lower data.folds")
    if groups is not None:
        train, val = _group_kfold(len(y), groups, folds, fold, seed, repeat)
    else:
        smallest = int(np.unique(y, return_counts=True)[1].min()) if task != "regression" else folds
        if smallest < folds:
            raise DataError(f"data.folds={folds} but the smallest class has only {smallest} train+val samples; "
                            "stratified folds need at least data.folds per class — lower data.folds")
        cls = RepeatedKFold if task == "regression" else RepeatedStratifiedKFold
        splitter = cls(n_splits=folds, n_repeats=repeat + 1, random_state=seed)
        train, val = list(splitter.split(np.zeros(len(y)), _stratify(y, task)))[repeat * folds + fold]
    # the splitters return sorted positions: shuffle, so that data.limit takes a random subset (as after
    # holdout), not the first rows of a file sorted by class
    return np.random.default_rng([seed, repeat, fold]).permutation(train), val


def _group_kfold(n: int, groups: np.ndarray, folds: int, fold: int, seed: int, repeat: int):
    from sklearn.model_selection import GroupKFold

    count = len(np.unique(groups))
    if count < folds:
        raise DataError(f"{folds} folds need at least {folds} groups, but train+val has {count}; "
                        "lower data.folds (GroupKFold puts each group in one fold)")
    rng = np.random.RandomState(seed)  # one stream: each repeat's split draws the next shuffle
    for _ in range(repeat + 1):
        split = list(GroupKFold(n_splits=folds, shuffle=True, random_state=rng).split(np.zeros(n), groups=groups))
    return split[fold]


def ordered_parts(n: int, cfg) -> tuple[int, int, int]:
    """(train_end, val_end, test_start) of `n` items kept in order (a series, a text): train on
    [0, train_end), validate on [train_end, val_end), test on [test_start, n). With `cfg.folds`,
    fold `cfg.fold` of scikit-learn's TimeSeriesSplit over the items before the test part
    (forward chaining: each fold trains on everything before its validation block)."""
    test_start = n - int(n * cfg.test_fraction)
    if not cfg.folds:
        return test_start - int(n * cfg.val_fraction), test_start, test_start
    from sklearn.model_selection import TimeSeriesSplit

    if test_start < cfg.folds + 1:
        raise DataError(f"data.folds={cfg.folds} forward-chaining folds need {cfg.folds + 1} items before the "
                        f"test part, which has {test_start}; lower data.folds")
    train, val = list(TimeSeriesSplit(n_splits=cfg.folds).split(np.zeros((test_start, 1))))[cfg.fold]
    return int(train[-1]) + 1, int(val[-1]) + 1, test_start


def split_indices(raw: RawData | DiskData, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(train, val, test) positions in `raw`; test is None when the dataset has its own."""
    index = np.arange(len(raw.y))
    groups = getattr(raw, "groups", None)  # csv data.group_col: each group whole in one split / fold
    if raw.test is not None:
        dev, test = index, None
    elif groups is not None:
        dev, test = group_holdout(groups, cfg.test_fraction, cfg.seed, "test_fraction")
    else:
        dev, test = holdout(raw.y, raw.kind, cfg.test_fraction, cfg.seed)
    if cfg.folds:
        train, val = kfold(raw.y[dev], raw.kind, cfg.folds, cfg.fold, cfg.seed, cfg.repeat,
                           None if groups is None else groups[dev])
    elif groups is not None:
        train, val = group_holdout(groups[dev], cfg.val_fraction, cfg.seed, "val_fraction")
    else:
        train, val = holdout(raw.y[dev], raw.kind, cfg.val_fraction, cfg.seed)
    train, val = dev[train], dev[val]
    if cfg.limit:
        train = train[: cfg.limit]
    return train, val, test
