"""Train / validation / test index splits: a pure function of (labels, seed, fractions, fold)."""

from __future__ import annotations

import numpy as np


def _stratify(y: np.ndarray, task: str):
    return y if task != "regression" else None


def holdout(y: np.ndarray, task: str, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out), stratified for classification, seeded."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    if fraction <= 0:
        return index, index[:0]
    return train_test_split(index, test_size=fraction, random_state=seed, stratify=_stratify(y, task))


def kfold(y: np.ndarray, task: str, folds: int, fold: int, seed: int, repeat: int = 0):
    """Indices (train, val) of fold `fold` of `folds`; `repeat` picks another shuffle.

    Repeat 0 is exactly `(Stratified)KFold(shuffle=True, random_state=seed)`; repeat r is
    the r-th shuffle of `Repeated(Stratified)KFold` with the same seed.
    """
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    cls = RepeatedKFold if task == "regression" else RepeatedStratifiedKFold
    splitter = cls(n_splits=folds, n_repeats=repeat + 1, random_state=seed)
    train, val = list(splitter.split(np.zeros(len(y)), _stratify(y, task)))[repeat * folds + fold]
    # the splitters return sorted positions: shuffle, so that data.limit takes a random subset (as after
    # holdout), not the first rows of a file sorted by class
    return np.random.default_rng([seed, repeat, fold]).permutation(train), val
