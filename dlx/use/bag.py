"""`dlx bag`: bagging — N members, each trained on a bootstrap sample of the training rows
(n rows drawn with replacement, seeded by the member's number), then one mean ensemble.

    outputs/ensembles/<id>/member-<k>/   ordinary runs (config.yaml, best.pt, log.txt names the sample)
                           members.json  run ids and the bootstrap seed of each
                           bag.json      the command (overrides, members, method, jobs), for --resume

Members run in this process or in `jobs` spawned processes sharing the cores. The
preprocessing statistics are those of the whole training split, as in a plain run.

Ctrl-C or SIGTERM stops the members in training at their next step (last.pt saved), starts no
other, and exits 130 / 143; finished members stay. `dlx bag --resume ID` continues the
interrupted members from their checkpoints, trains the missing ones, then ensembles them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlx import signals
from dlx.errors import ConfigError, DlxError, Interrupted
from dlx.store.files import atomic_write_text
from dlx.store.runs import read_status


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


STATUSES = ("finished", "failed", "usage", "interrupted")
BAG_JSON = "bag.json"


@dataclass(frozen=True)
class MemberOutcome:
    """How one bagging member ended: its summary when finished, else the error (one line)."""

    status: str  # finished | failed | usage (the same mistake in every member) | interrupted
    summary: Optional[Any] = None  # the member's RunSummary
    error: str = ""
    exit_code: int = 0  # interrupted: 130 (SIGINT) or 143 (SIGTERM)

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
    """One member run; failures become data, as CV folds do. An interrupted member (a stopped
    bag being resumed) continues from its last checkpoint on the same bootstrap sample."""
    from dlx.engine import experiment

    try:
        exp, resume = continuation(Path(run_path), overrides)
        summary = experiment.run(exp, overrides, run_path=Path(run_path), resume=resume,
                                 resample=lambda bundle: member_sample(bundle, seed))
        return MemberOutcome("finished", summary)
    except Interrupted as e:  # the message's resume hint names the member; the bag's own is printed
        return MemberOutcome("interrupted", error=str(e).split(";")[0], exit_code=e.exit_code)
    except DlxError as e:
        return MemberOutcome("usage" if e.exit_code == 2 else "failed", error=str(e))


def continuation(path: Path, overrides: list[str]):
    """(exp, Resume) continuing an interrupted member from its checkpoint, else (exp, None)."""
    from dlx import config
    from dlx.engine import resume

    if read_status(path).get("status") in ("interrupted", "running") and (path / "config.yaml").is_file():
        try:
            return resume.prepare(str(path), [], warn=lambda _message: None)
        except ConfigError:
            pass  # unreadable or not resumable: train it again from the start
    return config.load(overrides), None


def start_member_process(parent: int, threads: int) -> None:
    """A member process: its own session (a terminal's Ctrl-C reaches the bag alone, which passes
    each signal on once: twice would abandon the step), follows its parent, and records stop
    signals, so a member in training stops at its next step and one not yet started stops at its first."""
    import os
    import signal

    from dlx import parallel

    os.setsid()
    parallel.start_worker(parent, threads)
    for s in signals.SIGNAL_EXIT:
        signal.signal(s, lambda signum, _frame: signals.record(signum))


def run_members(jobs_list: list[tuple], jobs: int, on_done) -> list[tuple[tuple, MemberOutcome]]:
    """Run (overrides, path, seed) members here (jobs=1) or in spawned processes: [(job, outcome)].
    A stop signal ends the loop: members not started are left out."""
    with signals.record_stop_signals():  # between members: noted, checked before the next one
        if jobs <= 1 or len(jobs_list) <= 1:
            outcomes = []
            for job in jobs_list:
                if signals.requested:
                    break
                outcomes.append((job, _checked(run_member(*job))))
                if outcomes[-1][1].status == "interrupted":
                    break
                on_done(*outcomes[-1])
            return outcomes
        return _in_processes(jobs_list, jobs, on_done)


def _in_processes(jobs_list: list[tuple], jobs: int, on_done) -> list[tuple[tuple, MemberOutcome]]:
    import multiprocessing
    import os
    import signal
    from concurrent.futures import ProcessPoolExecutor

    from dlx import parallel

    workers = min(jobs, len(jobs_list))
    # each worker takes its share of the cores and dies with this process (kill -9 included)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=start_member_process,
                               initargs=(os.getpid(), parallel.threads_per_worker(workers)))

    def forward(signum, _frame):  # each signal on to every member process, once
        signals.record(signum)
        for child in multiprocessing.active_children():
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, forward) for s in signals.SIGNAL_EXIT}
    outcomes = []
    try:
        futures = [pool.submit(run_member, *job) for job in jobs_list]
        for job, future in zip(jobs_list, futures):
            if signals.requested:  # queued members never start; running ones save and stop
                pool.shutdown(wait=True, cancel_futures=True)
            if future.cancelled():
                continue
            outcome = _checked(future.result())
            outcomes.append((job, outcome))
            if outcome.status != "interrupted":
                on_done(job, outcome)
    except BaseException:  # running members stop with this process
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    pool.shutdown()
    return outcomes


def _checked(outcome: MemberOutcome) -> MemberOutcome:
    if outcome.status == "usage":  # the same bad config in every member: stop at once
        raise ConfigError(outcome.error)
    return outcome


def bag(overrides: list[str], members: int, jobs: Optional[int] = None, method: str = "mean",
        on_done=lambda job, o: None, resume: Optional[str] = None) -> dict:
    """Train `members` bootstrap members of the experiment `overrides` describes, then ensemble them.

    `resume` (an ensemble id, a unique part of one, its folder or `last`) finishes a stopped bag:
    its recorded overrides, members and method; its recorded jobs unless `jobs` is given."""
    from dlx.engine.resume import resume_hint
    from dlx.use import ensemble

    if resume is not None:
        folder, spec = resumed(resume, overrides)
        overrides, members, method, jobs = spec["overrides"], spec["members"], spec["method"], jobs or spec["jobs"]
        exp = _checked_experiment(overrides, members, jobs, method)
    else:
        jobs = jobs or 1
        exp = _checked_experiment(overrides, members, jobs, method)
        folder = _new_folder(exp)
        atomic_write_text(folder / BAG_JSON, json.dumps({"overrides": list(overrides), "members": members,
                                                         "method": method, "jobs": jobs}, indent=2) + "\n")
    base = exp.trainer.seed
    plan = [([*overrides, f"trainer.seed={base + k}"], str(folder / f"member-{k}"), k) for k in range(members)]
    outcomes = dict(finished_members(plan))
    todo = [job for job in plan if job[1] not in outcomes]
    signals.reset()  # a command starts with no stop request (in tests, many run in one process)
    for job, outcome in run_members(todo, jobs, on_done):
        outcomes[job[1]] = outcome
    stopped = [o for o in outcomes.values() if o.status == "interrupted"]
    if stopped or signals.requested:
        code = stopped[0].exit_code if stopped else signals.exit_code(signals.requested)
        finished = sum(o.status == "finished" for o in outcomes.values())
        raise Interrupted(f"bag {folder.name} stopped: {finished} of {members} members finished; finish it "
                          f"with: {resume_hint('bag', folder.name, exp.output_dir)}", code)
    done = [(job, outcomes[job[1]]) for job in plan if outcomes[job[1]].status == "finished"]
    failed = [Path(job[1]).name for job in plan if outcomes[job[1]].status != "finished"]
    if len(done) < 2:
        raise ConfigError(f"only {len(done)} of {members} members finished ({', '.join(failed)} failed); "
                          f"see their log.txt in {folder}")
    extra = [{"bootstrap_seed": job[2], "trainer_seed": base + job[2]} for job, _ in done]
    summary = ensemble.build([Path(job[1]) for job, _ in done], method, exp.output_dir, folder=folder, extra=extra)
    return {**summary, "failed": failed}


def _checked_experiment(overrides: list[str], members: int, jobs: int, method: str):
    from dlx import config
    from dlx.engine import estimator
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
    return exp


def _new_folder(exp) -> Path:
    from dlx.engine.experiment import label_for
    from dlx.store import ensembles as store

    return store.create_ensemble_dir(exp.output_dir, f"bag-{label_for(exp)}")


def finished_members(plan: list[tuple]):
    """(path, outcome) of each member of `plan` that finished before (its summary.json is there)."""
    from dlx.store.runs import read_summary
    from dlx.store.summary import RunSummary

    for job in plan:
        summary = read_summary(Path(job[1])) if Path(job[1]).is_dir() else None
        if summary is not None:
            yield job[1], MemberOutcome("finished", RunSummary.from_json(summary))


def resumed(ref: str, overrides: list[str]) -> tuple[Path, dict]:
    """(the stopped bag's folder, its bag.json) for `dlx bag --resume REF [output_dir=...]`."""
    from dlx import config
    from dlx.store.ensembles import ENSEMBLES

    extra = [o for o in overrides if not o.startswith("output_dir=")]
    if extra:
        raise ConfigError(f"dlx bag --resume continues the recorded experiment: drop {' '.join(extra)} "
                          "(only output_dir= may be given)")
    folder = Path(ref)
    if not (folder / BAG_JSON).is_file():
        root = Path(str(config.compose(overrides).output_dir)) / ENSEMBLES
        bags = sorted(p for p in root.glob("*") if (p / BAG_JSON).is_file()) if root.is_dir() else []
        found = bags[-1:] if ref == "last" else [p for p in bags if p.name == ref] or \
            [p for p in bags if ref in p.name]
        if len(found) != 1:
            what = "no bag" if not found else f"{len(found)} bags ({', '.join(p.name for p in found)})"
            raise ConfigError(f"--resume {ref}: {what} in {root}/ matches; give its id or folder")
        folder = found[0]
    try:
        return folder, json.loads((folder / BAG_JSON).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{folder / BAG_JSON} is unreadable ({e}): this bag cannot be resumed") from None
