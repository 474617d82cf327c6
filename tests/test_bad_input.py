"""Every user mistake the CLI can receive gets one readable line on stderr, a non-zero
exit status and no traceback. One table: a case is (id, argv, exit status, fragments the
line must contain — what is wrong and what to do).

`{runs}` in an argument is replaced by an output folder holding three runs: `done`
(finished), `open` (stopped before its summary, so resumable) and `open2`.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_process

TINY = ["trainer.epochs=1", "data.limit=100", "trainer.num_threads=1"]

CASES = [
    # ---- unknown group choice
    ("model-choice", ["train", "model=resnett"], 2, ["unknown model 'resnett';", "choices: mlp"]),
    ("optim-choice", ["train", "optim=adamm"], 2, ["unknown optim 'adamm'", "did you mean 'adam'"]),
    ("scheduler-choice", ["train", "scheduler=nonee"], 2, ["unknown scheduler 'nonee'", "choices:"]),
    ("regularizer-choice", ["train", "regularizer=l9"], 2, ["unknown regularizer 'l9'", "choices:"]),
    ("loss-choice", ["train", "loss=autoo"], 2, ["unknown loss 'autoo'", "did you mean 'auto'"]),
    ("data-choice", ["train", "data=digitz"], 2, ["unknown data 'digitz'", "did you mean 'digits'"]),
    ("trainer-choice", ["train", "trainer=defualt"], 2, ["unknown trainer 'defualt'", "choices: default"]),
    # ---- unknown key
    ("model-key", ["train", "model.hiden=[64]"], 2, ["model.hiden", "did you mean 'model.hidden'"]),
    ("optim-key", ["train", "optim.lrr=0.1"], 2, ["optim.lrr", "did you mean 'optim.lr'"]),
    ("trainer-key", ["train", "trainer.epoch=3"], 2, ["trainer.epoch", "did you mean 'trainer.epochs'"]),
    ("top-level-key", ["train", "epochs=3"], 2, ["unknown key 'epochs'", "dlx train --cfg"]),
    ("added-top-level-key", ["train", "+seed=3"], 2, ["unknown top-level key 'seed'", "valid: model"]),
    ("added-group-key", ["train", "+model.depth=3"], 2, ["unknown key 'model.depth'", "dlx train --cfg"]),
    # ---- wrong type
    ("lr-not-number", ["train", "optim.lr=abc"], 2, ["'abc'", "optim.lr", "expected a number"]),
    ("epochs-not-int", ["train", "trainer.epochs=two"], 2, ["'two'", "trainer.epochs", "an integer"]),
    ("bool-not-bool", ["train", "trainer.deterministic=maybe"], 2, ["'maybe'", "true or false"]),
    ("list-not-list", ["train", "model.hidden=wide"], 2, ["model.hidden", "a list of integers"]),
    # ---- out-of-range value
    ("lr-negative", ["train", "optim.lr=-1"], 2, ["optim.lr", "must be > 0"]),
    ("epochs-zero", ["train", "trainer.epochs=0"], 2, ["trainer.epochs", "must be >= 1"]),
    ("batch-zero", ["train", "trainer.batch_size=0"], 2, ["trainer.batch_size", "must be >= 1"]),
    ("dropout-one", ["train", "model.dropout=1.0"], 2, ["model.dropout", "[0, 1)"]),
    ("device-unknown", ["train", "trainer.device=tpu"], 2, ["trainer.device", "cpu, cuda"]),
    ("precision-unknown", ["train", "trainer.precision=8"], 2, ["trainer.precision", "32, bf16, 16"]),
    ("monitor-not-val", ["train", "trainer.monitor=train_loss"], 2, ["trainer.monitor", "val_acc or val_loss"]),
    ("monitor-not-measured", ["train", *TINY, "trainer.monitor=val_auc"], 2, ["val_auc", "val_acc"]),
    ("betas-one", ["train", "optim.betas=[0.9]"], 2, ["optim.betas", "two numbers"]),
    ("preprocess-unknown", ["train", "data.preprocess=whiten"], 2, ["'whiten'", "standardize"]),
    ("bad-name", ["train", "name=a/b"], 2, ["invalid name", "letters, digits"]),
    # ---- conflicting values
    ("fold-outside-folds", ["train", "data.folds=2", "data.fold=3"], 2, ["data.fold", "[0, folds)"]),
    ("fractions-sum", ["train", "data.val_fraction=0.5", "data.test_fraction=0.6"], 2,
     ["val_fraction", "must be < 1"]),
    # ---- malformed override syntax, sweeps, deletions
    ("unbalanced-bracket", ["train", "model.hidden=[64"], 2, ["malformed override", "key=value"]),
    ("no-key", ["train", "=3"], 2, ["malformed override", "key=value"]),
    ("group-choice-number", ["train", "trainer=3"], 2, ["unknown trainer '3'", "choices: default"]),
    ("group-choice-list", ["train", "model=[mlp]"], 2, ["unknown model", "choices: mlp"]),
    ("sweep-in-train", ["train", "optim.lr=0.1,0.01"], 2, ["is a sweep", "dlx sweep"]),
    ("delete-needed-key", ["train", "~model.hidden"], 2, ["missing key 'model.hidden'", "deleted with ~"]),
    ("delete-unknown-key", ["train", "~model.nothing"], 2, ["cannot delete 'model.nothing'", "no such key"]),
    ("add-existing-key", ["train", "+optim.lr=0.1"], 2, ["'optim.lr' already exists", "without the +"]),
    ("delete-group", ["train", "~model"], 2, ["config group 'model' is missing", "model=mlp"]),
    ("bad-interpolation", ["train", "trainer.epochs=${oops}"], 2, ["cannot resolve trainer.epochs", "existing key"]),
    # ---- import paths are never instantiated
    ("target-in-group", ["train", "+model._target_=os.system"], 2, ["'model._target_' is not allowed", "by name"]),
    ("target-top-level", ["train", "+_target_=os.system"], 2, ["'_target_' is not allowed", "by name"]),
    # ---- options and commands
    ("unknown-option", ["train", "--epochs", "3"], 2, ["No such option", "--help"]),
    ("option-needs-value", ["train", "--resume"], 2, ["--resume", "requires an argument"]),
    ("unknown-command", ["trian"], 2, ["No such command", "--help"]),
    # ---- output folder
    ("output-dir-is-file", ["train", *TINY, "output_dir={runs}/summary-file.txt"], 1,
     ["cannot create", "choose another output_dir"]),
    # ---- resume
    ("resume-no-match", ["train", "--resume", "nosuchrun", "output_dir={runs}"], 2,
     ["no run matches 'nosuchrun'", "dlx runs"]),
    ("resume-ambiguous", ["train", "--resume", "20", "output_dir={runs}"], 2, ["matches 3 runs", "more of the id"]),
    ("resume-no-runs", ["train", "--resume", "last", "output_dir={runs}/empty"], 2, ["no runs in", "dlx train"]),
    ("resume-finished", ["train", "--resume", "_done", "output_dir={runs}"], 2,
     ["already finished", "start a new run"]),
    ("resume-changed-model", ["train", "--resume", "_open", "output_dir={runs}", "model.hidden=[8]"], 2,
     ["model.hidden ([64] → [8])", "start a new run"]),
    ("resume-changed-data", ["train", "--resume", "_open", "output_dir={runs}", "data.limit=50"], 2,
     ["data.limit (100 → 50)", "may change on resume"]),
    ("resume-group-choice", ["train", "--resume", "_open", "output_dir={runs}", "optim=sgd"], 2,
     ["optim.name ('adam' → 'sgd')", "start a new run"]),
    ("resume-target", ["train", "--resume", "_open", "output_dir={runs}", "+model._target_=os.system"], 2,
     ["model._target_", "start a new run"]),
    ("resume-fewer-epochs", ["train", "--resume", "_open", "output_dir={runs}", "trainer.epochs=0"], 2,
     ["trainer.epochs", "must be >= 1"]),
    ("resume-empty-id", ["train", "--resume", "", "output_dir={runs}"], 2, ["--resume needs a run", "'last'"]),
    ("resume-sweep", ["train", "--resume", "_open", "output_dir={runs}", "trainer.epochs=2,3"], 2,
     ["is a sweep", "one value per key"]),
]


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory):
    """An output folder with a finished run and two resumable ones (tiny, trained in-process)."""
    from dlx import config, experiment

    home = tmp_path_factory.mktemp("home")
    out = home / "outputs"
    for name in ("done", "open", "open2"):
        exp = config.load([*TINY, "model.hidden=[64]", f"name={name}", f"output_dir={out}"])
        summary = experiment.run(exp)
        if name != "done":  # what a run killed just before writing summary.json leaves
            path = out / "runs" / summary["run_id"]
            (path / "summary.json").unlink()
            (path / "status.json").write_text(json.dumps({"status": "running"}))
    (out / "empty").mkdir()
    (out / "summary-file.txt").write_text("not a folder\n")
    yield out
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("argv, code, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(dlx, runs_home, argv, code, fragments):
    result = dlx(*(a.replace("{runs}", str(runs_home)) for a in argv))
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == code, result.err
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.out + result.err


def test_table_is_big_enough():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.slow
def test_one_line_in_a_real_process_and_traceback_with_debug(tmp_path):
    plain = run_process(["train", "optim.lr=abc"], cwd=tmp_path)
    assert plain.returncode == 2
    assert plain.stderr.strip().count("\n") == 0 and "Traceback" not in plain.stderr
    debug = run_process(["--debug", "train", "optim.lr=abc"], cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
