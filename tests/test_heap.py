"""Set-up without garbage collection, frozen up to a process's first run (dlx/heap.py)."""

import gc
import subprocess
import sys

import pytest

from dlx import heap


@pytest.fixture
def fresh(monkeypatch):
    """heap's state as in a new process; the collector as it was afterwards."""
    monkeypatch.setattr(heap, "_run_ended", False)
    monkeypatch.setattr(heap, "_depth", 0)
    enabled = gc.isenabled()
    gc.enable()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_no_collection_inside_and_frozen_after(fresh):
    gc.unfreeze()
    with heap.setting_up():
        assert not gc.isenabled()
        with heap.setting_up():  # nested: still off, nothing frozen yet
            kept = [[i] for i in range(1000)]
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)


def test_after_the_first_run_set_up_is_not_frozen(fresh):
    gc.unfreeze()
    heap.run_ended()
    with heap.setting_up():
        assert not gc.isenabled()
        kept = [[i] for i in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0 and kept


def test_a_disabled_collector_stays_disabled(fresh):
    gc.disable()
    with heap.setting_up():
        pass
    assert not gc.isenabled()


def test_a_run_freezes_its_set_up_once_and_leaves_the_collector_on(tmp_path):
    code = f"""
import gc
from dlx import config
from dlx.engine import experiment
counts = []
for seed in (0, 1):
    exp = config.load(["trainer.epochs=1", "data.limit=200", "trainer.seed=%d" % seed, "output_dir={tmp_path}"])
    experiment.run(exp, [])
    counts.append(gc.get_freeze_count())
print(gc.isenabled(), counts[0] > 100000, counts[1] <= counts[0])  # run 2 froze nothing more
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "True"]
