"""Running CV folds: in this process, or in spawned worker processes (`--jobs`).

A fold is an ordinary run (`experiment.run`) that never evaluates the test split. A fold that
fails becomes data (`{"status": "failed", "error": ...}`), so the other folds still count; a
usage error (bad monitor, bad data) is the same in every fold and stops the CV at once.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from dlx.errors import ConfigError, DlxError
from dlx.store.rundir import RunDir


def run_folds(todo: list, cv_dir: Path, jobs: int, finish) -> None:
    """Run each fold (a `dlx.cv.driver.Fold`), in this process (jobs=1) or in `jobs` spawned processes;
    `finish(fold, outcome)` gets each outcome as it comes."""
    if jobs == 1 or len(todo) <= 1:
        for fold in todo:
            finish(fold, _checked(run_fold(fold.overrides, str(cv_dir / fold.name))))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    workers = min(jobs, len(todo))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers)  # the workers share the cores, not multiply them
    # spawn, not fork: a forked child would inherit torch's thread pools and any CUDA state
    from dlx import plugins

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(threads, plugins.records()))
    futures = {}
    try:
        futures = {pool.submit(run_fold, f.overrides, str(cv_dir / f.name)): f for f in todo}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                outcome = {"status": "failed", "error": "its worker process died (killed, or out of memory)"}
            finish(futures[future], _checked(outcome))
    except BaseException:  # Ctrl-C, or a usage error: stop every worker now, not after its fold
        _stop_workers(pool)
        for future, fold in futures.items():
            if not future.done() and (cv_dir / fold.name).is_dir():
                RunDir(cv_dir / fold.name).write_status("interrupted")
        raise
    pool.shutdown()


def init_worker(threads: int, plugin_records: list | None = None) -> None:
    """A spawned worker: the parent's plugins; share the cores; leave Ctrl-C to the parent."""
    import signal

    import torch

    from dlx import plugins

    plugins.load_recorded(plugin_records)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)  # trainer.num_threads, when set, overrides this in the run


def _stop_workers(pool) -> None:
    """Cancel what has not started and terminate the workers (their folds stay undone)."""
    stop = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if stop is not None:
        stop()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def _checked(outcome: dict) -> dict:
    """A usage error (bad monitor, bad data) is the same in every fold: stop at the first."""
    if outcome["status"] == "usage":
        raise ConfigError(outcome["error"])
    return outcome


def run_fold(overrides: list[str], run_path: str) -> dict:
    """One fold as an ordinary run that never touches the test split; failures become data."""
    from dlx import config
    from dlx.engine import experiment

    try:
        summary = experiment.run(config.load(overrides), overrides, run_path=Path(run_path), evaluate_test=False)
        return {"status": "finished", "summary": summary}
    except DlxError as e:
        status = "usage" if e.exit_code == 2 else "failed"
        error = str(e)
    except Exception as e:  # a bug in one fold should not lose the others; the log keeps the traceback
        error = f"{type(e).__name__}: {e}"
        status = "failed"
        RunDir.at(Path(run_path)).log(traceback.format_exc())
    RunDir.at(Path(run_path)).write_status("failed", reason=error)
    return {"status": status, "error": error}
