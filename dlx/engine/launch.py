"""`trainer.devices=N`: dlx's own launcher of the data-parallel ranks (torch's elastic launcher),
and the one line a failed or interrupted launch becomes. The ranks themselves: engine/distributed.py.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from dlx import plugins
from dlx.engine.distributed import PARENT_ENV, RUN_FILE_ENV, check
from dlx.errors import RunError

def launch(argv: list[str], trainer, run=None) -> None:
    """`python -m dlx ARGV` in `trainer.devices` processes, through torch's elastic launcher.

    Rank 0 keeps the terminal's stdout (its progress and final table); every rank's stderr
    and the other ranks' stdout go to files, so a failure is one line: the first rank that
    died and how, and the command that resumes the run. `run`: the RunDir of a --resume.
    """
    import tempfile
    import uuid

    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    check(trainer)
    n = trainer.devices
    with tempfile.TemporaryDirectory(prefix="dlx-launch-") as tmp:
        run_file = Path(tmp) / "run"
        if run is not None:
            run_file.write_text(str(Path(run.path).resolve()))
        logs = DefaultLogsSpecs(log_dir=str(Path(tmp) / "logs"),
                                redirects={r: Std.ERR if r == 0 else Std.ALL for r in range(n)})
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=uuid.uuid4().hex,
                              rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                              monitor_interval=0.1, logs_specs=logs)
        saved = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # the ranks import this same dlx
        given = ",".join(filter(None, [os.environ.get(plugins.ENV), *plugins.requested()]))
        if given:  # the ranks are `python -m dlx train ...`: --plugin reaches them this way
            os.environ[plugins.ENV] = given
        os.environ.update({RUN_FILE_ENV: str(run_file), PARENT_ENV: str(os.getpid()),
                           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))})
        try:
            with quiet_elastic_logs():  # their own account of a failure is pages long
                elastic_launch(config, sys.executable)("-m", "dlx", *argv)
        except ChildFailedError as e:
            raise failure(e.failures, Path(tmp), run_file) from None
        except SignalException as e:
            from dlx.errors import Interrupted

            raise Interrupted(f"{e.sigval.name}: the data-parallel run stopped{_resume_hint(run_file)}",
                              128 + int(e.sigval)) from None
        finally:
            os.environ.clear()
            os.environ.update(saved)


ELASTIC_LOGS = ("torch.distributed.elastic", "torch.distributed.launcher")


class _ElasticRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(ELASTIC_LOGS)


@contextmanager
def quiet_elastic_logs():
    """Silence torch's launcher (`Received 2 death signal, shutting down workers` on a Ctrl-C, a
    failure's pages). Each of its modules' loggers has a level of its own, and some are made
    while it runs, so the records are dropped at the handlers they would reach."""
    quiet = _ElasticRecords()
    handlers = set(filter(None, [logging.lastResort]))
    for name in ELASTIC_LOGS:  # torch puts its handlers on `torch` and `torch.distributed`
        log = logging.getLogger(name)
        while log is not None:
            handlers.update(log.handlers)
            log = log.parent
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


class RankFailed(RunError):
    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def failure(failures: dict, logs: Path, run_file: Path) -> RankFailed:
    """One line for a failed launch: the rank that died first (killed, or its own error line)."""
    import signal

    def error_line(local_rank: int) -> str:
        """The rank's own one-line error; else the last line of its traceback."""
        for path in logs.glob(f"logs/**/{local_rank}/stderr.log"):
            lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
            told = [ln for ln in lines if ln.startswith(("error: ", "interrupted: "))]
            if told:
                return told[-1].split(": ", 1)[1]
            if lines:
                return f"rank {local_rank} failed: {lines[-1][:200]}"
        return ""

    killed = {r: f for r, f in failures.items() if f.exitcode < 0 and f.exitcode != -signal.SIGTERM}
    if killed:
        rank, f = min(killed.items())
        return RankFailed(f"rank {rank} (pid {f.pid}) was killed by {f.signal_name()}; the other ranks "
                          f"were stopped{_resume_hint(run_file)}")
    told = {r: error_line(f.local_rank) for r, f in failures.items()}
    # a rank's own error (a diverged loss, a bad file) rather than its peers' "another process stopped"
    own = [r for r, line in sorted(told.items()) if line and not line.startswith("another process")]
    rank = own[0] if own else min(failures)
    f = failures[rank]
    code = f.exitcode if f.exitcode in (1, 2, 130, 143) else 1
    line = told[rank] or f"rank {rank} exited with status {f.exitcode}"
    hint = _resume_hint(run_file) if code != 2 and "resume with" not in line else ""
    return RankFailed(f"{line}{hint}", code)


def _resume_hint(run_file: Path) -> str:
    if not run_file.is_file():
        return ""
    run = Path(run_file.read_text().strip())
    output_dir = run.parent.parent
    extra = "" if output_dir == Path("outputs").resolve() else f" output_dir={output_dir}"
    return f"; resume with: dlx train --resume {run.name}{extra}"
