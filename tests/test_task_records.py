"""Typed records (checkpoint meta, bagging members) and refusals before work. (Every module
importable on its own, issue 24.1: tests/test_layers.py, which imports each one alone.)"""

from __future__ import annotations

import pytest


def test_checkpoint_meta_reads_an_old_dict_and_writes_the_same_plain_dict():
    from dlx.engine.records import CheckpointMeta

    old = {"run_id": "r1", "preprocess": {"mode": "standardize"}, "classes": ["a", "b"], "input_shape": [4],
           "task": "multiclass"}  # written before num_outputs was saved
    meta = CheckpointMeta.from_dict(old)
    assert (meta.kind, meta.num_outputs, meta.input_shape) == ("multiclass", None, [4])
    assert meta.to_dict() == {**old, "num_outputs": None}
    assert CheckpointMeta.from_dict(meta.to_dict()) == meta


def test_a_member_outcome_is_typed_and_reads_like_the_dict_it_replaced():
    from dataclasses import FrozenInstanceError

    from dlx.use.bag import MemberOutcome

    failed = MemberOutcome("failed", error="boom")
    assert failed["status"] == "failed" and failed.get("error") == "boom" and failed.summary is None
    with pytest.raises(FrozenInstanceError):
        failed.status = "finished"
    with pytest.raises(ValueError):
        MemberOutcome("lost")


def test_bagging_a_scikit_learn_baseline_is_refused_before_any_member(dlx, tmp_path):
    result = dlx("bag", "model=knn", "data=iris", "-n", "2")
    assert result.code == 2 and "scikit-learn baseline" in result.err
    assert not (tmp_path / "outputs" / "ensembles").exists()


def test_baseline_runs_are_evaluated_predicted_and_ensembled_and_export_says_why_not(dlx, tmp_path):
    """Issue 24.14: a fitted baseline restores to the supervised task around its estimator."""
    import json

    for model in ("knn", "logistic"):
        assert dlx("train", f"model={model}", "data=iris", "trainer.num_threads=1", "-q").code == 0
    runs = sorted((tmp_path / "outputs" / "runs").iterdir())
    summary = json.loads((runs[-1] / "summary.json").read_text())
    result = dlx("eval", str(runs[-1]), "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["metrics"]["acc"] == pytest.approx(summary["test_acc"])
    assert json.loads(result.out)["metrics"]["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)
    predicted = dlx("predict", str(runs[-1]), "--split", "test", "-o", str(tmp_path / "p.csv"))
    assert predicted.code == 0, predicted.err
    assert len((tmp_path / "p.csv").read_text().splitlines()) == summary["test_size"] + 1
    assert dlx("ensemble", *map(str, runs)).code == 0
    refused = dlx("export", str(runs[-1]))
    assert refused.code == 2 and "scikit-learn estimator" in refused.err


@pytest.mark.slow
def test_generate_and_sample_work_in_a_fresh_process(tmp_path):
    """Issue 24.1: `dlx generate` failed on every call in a fresh process (an import cycle)."""
    from tests.conftest import run_process

    (tmp_path / "c.txt").write_text("the cat sat on the mat. " * 30, encoding="utf-8")
    for args in (["train", "model=lm", "data=text", f"data.path={tmp_path / 'c.txt'}", "data.context=8",
                  "model.d_model=16", "model.num_heads=2", "trainer.epochs=1", "trainer.num_threads=1", "-q"],
                 ["generate", "last", "--prompt", "the c", "--tokens", "5"]):
        result = run_process(args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("the c")
