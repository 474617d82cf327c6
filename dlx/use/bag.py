"""`dlx bag`: bagging — N members, each trained on a bootstrap sample of the training rows
(n rows drawn with replacement, seeded by the member's number), then one mean ensemble.

    outputs/ensembles/<id>/member-<k>/   ordinary runs (config.yaml, best.pt, log.txt names the sample)
                           members.json  run ids and the bootstrap seed of each

Members run in this process or in `jobs` spawned processes sharing the cores. The
preprocessing statistics are those of the whole training split, as in a plain run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlx.errors import ConfigError, DlxError


def bootstrap_rows(n: int, seed: int) -> np.ndarray:
    """n positions drawn with replacement (about 63 % of them distinct)."""
    return np.random.default_rng([seed, n]).integers(0, n, size=n)


def resample_train(bundle, seed: int):
    """The bundle with its training split replaced by a bootstrap sample of it."""
    import torch

    from dlx.data.bundle import DiskSplit, Split
    from dlx.data.disk import FileImages

    train = bundle.train
    rows = bootstrap_rows(len(train), seed)
    index = train.index[rows] if train.index is not None else rows
    if isinstance(train, DiskSplit):
        images = train.dataset
        dataset = FileImages(images.files, images.indices[rows], images.transform)
        new = DiskSplit(dataset, train.y[torch.as_tensor(rows)], index, train.workers)
    else:
        pick = torch.as_tensor(rows)
        new = Split(train.x[pick], train.y[pick], index)
    return replace(bundle, train=new)


def bootstrap_note(bundle, seed: int) -> str:
    """The log.txt line that records a member's sample."""
    rows = bundle.train.index
    return (f"bootstrap sample of the training rows: seed {seed}, {len(rows)} rows drawn with replacement "
            f"({len(set(rows.tolist()))} distinct)")


STATUSES = ("finished", "failed", "usage")


@dataclass(frozen=True)
class MemberOutcome:
    """How one bagging member ended: its summary when finished, else the error (one line)."""

    status: str  # finished | failed | usage (the same mistake in every member)
    summary: Optional[Any] = None  # the member's RunSummary
    error: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"member status '{self.status}' is not one of {', '.join(STATUSES)}")

    def __getitem__(self, key: str):  # read as the dict it replaces (printers index it)
        return getattr(self, key)

    def get(self, key: str, default=None):
        return getattr(self, key, default)


def member_sample(bundle, seed: int):
    """(the bundle on a bootstrap sample of its training rows, the log.txt line that records it)."""
    sample = resample_train(bundle, seed)
    return sample, bootstrap_note(sample, seed)


def run_member(overrides: list[str], run_path: str, seed: int) -> MemberOutcome:
    """One member run; failures become data, as CV folds do."""
    from dlx import config
    from dlx.engine import experiment

    try:
        summary = experiment.run(config.load(overrides), overrides, run_path=Path(run_path),
                                 resample=lambda bundle: member_sample(bundle, seed))
        return MemberOutcome("finished", summary)
    except DlxError as e:
        return MemberOutcome("usage" if e.exit_code == 2 else "failed", error=str(e))


def run_members(jobs_list: list[tuple], jobs: int, on_done) -> list[MemberOutcome]:
    """Run (overrides, path, seed) members here (jobs=1) or in spawned processes."""
    if jobs <= 1 or len(jobs_list) <= 1:
        outcomes = []
        for job in jobs_list:
            outcomes.append(_checked(run_member(*job)))
            on_done(job, outcomes[-1])
        return outcomes
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from dlx import parallel

    workers = min(jobs, len(jobs_list))
    # each worker takes its share of the cores and dies with this process (kill -9 included)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=parallel.start_worker,
                               initargs=(os.getpid(), parallel.threads_per_worker(workers)))
    try:
        futures = [pool.submit(run_member, *job) for job in jobs_list]
        outcomes = []
        for job, future in zip(jobs_list, futures):
            outcomes.append(_checked(future.result()))
            on_done(job, outcomes[-1])
    except BaseException:  # queued members never start; running ones stop with this process
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return outcomes


def _checked(outcome: MemberOutcome) -> MemberOutcome:
    if outcome.status == "usage":  # the same bad config in every member: stop at once
        raise ConfigError(outcome.error)
    return outcome


def bag(overrides: list[str], members: int, jobs: int = 1, method: str = "mean", on_done=lambda job, o: None) -> dict:
    """Train `members` bootstrap members of the experiment `overrides` describes, then ensemble them."""
    from dlx import config
    from dlx.engine import estimator
    from dlx.engine.experiment import label_for
    from dlx.store import ensembles as store
    from dlx.use import ensemble

    if members < 2:
        raise ConfigError(f"--members {members}: bagging needs at least 2 members")
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be >= 1")
    if method not in ensemble.METHODS:
        raise ConfigError(f"--method {method}: choose mean or vote")
    exp = config.load(overrides)  # a bad override fails here, before any folder exists
    if not exp.trainer.checkpoint:
        raise ConfigError("dlx bag needs each member's best weights: drop trainer.checkpoint=false")
    if estimator.applies(exp):  # refused before any member is fitted
        raise ConfigError(f"dlx bag trains networks on bootstrap samples; model={exp.model.name} is a scikit-learn "
                          "baseline fitted once, which bagging does not resample: use a network model")
    folder = store.create_ensemble_dir(exp.output_dir, f"bag-{label_for(exp)}")
    base = exp.trainer.seed
    todo = [([*overrides, f"trainer.seed={base + k}"], str(folder / f"member-{k}"), k) for k in range(members)]
    outcomes = run_members(todo, jobs, on_done)
    done = [(job, o) for job, o in zip(todo, outcomes) if o.status == "finished"]
    failed = [Path(job[1]).name for job, o in zip(todo, outcomes) if o.status != "finished"]
    if len(done) < 2:
        raise ConfigError(f"only {len(done)} of {members} members finished ({', '.join(failed)} failed); "
                          f"see their log.txt in {folder}")
    extra = [{"bootstrap_seed": job[2], "trainer_seed": base + job[2]} for job, _ in done]
    summary = ensemble.build([Path(job[1]) for job, _ in done], method, exp.output_dir, folder=folder, extra=extra)
    return {**summary, "failed": failed}
