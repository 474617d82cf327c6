"""model.init_from / model.freeze / optim.head_lr_mult for every task that builds through
dlx.engine.parts: a tagging run and a causal-transformer language model (they were accepted and
silently ignored before)."""

from __future__ import annotations

import pytest
import torch

COMMON = ["trainer.epochs=2", "trainer.num_threads=1", "trainer.batch_size=32"]


def train(args):
    from dlx import config
    from dlx.engine import experiment

    return experiment.run(config.load(args), args)


def checkpoint(summary, name):
    from dlx.store.checkpoint import load_checkpoint

    return load_checkpoint(f"{summary.path}/checkpoints/{name}.pt")


def head_of(summary) -> set[str]:
    """The output layer's tensors (the model's last Linear), as dlx.engine.transfer names them."""
    from dlx.use.restore import restore
    from dlx.engine.transfer import head_names

    return head_names(restore(summary.path).model)


def text_args(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat. a dog ran in the fog. " * 30, encoding="utf-8")
    return ["model=transformer", "model.causal=true", "data=text", f"data.path={path}", "data.context=8",
            "model.d_model=16", "model.heads=2"]


@pytest.mark.parametrize("kind", ["tagging", "language"])
def test_a_frozen_backbone_starts_from_the_source_and_stays_unchanged(tmp_path, kind):
    data = ["model=gru", "data=running_max", "model.hidden_size=16", "data.n_samples=300"] if kind == "tagging" \
        else text_args(tmp_path)
    out = f"output_dir={tmp_path / 'outputs'}"
    source = train([*data, *COMMON, out, "name=source"])
    tuned = train([*data, *COMMON, out, f"model.init_from={source.path}", "model.freeze=backbone",
                   "optim.head_lr_mult=10", "optim.lr=0.01"])
    before, after = checkpoint(source, "best")["model"], checkpoint(tuned, "last")
    head = head_of(tuned)
    assert head, "the model has an output layer"
    for name, tensor in before.items():
        if name in head:
            assert not torch.equal(after["model"][name], tensor), name  # the head learned
        else:
            assert torch.equal(after["model"][name], tensor), name  # loaded from the source, then frozen
    log = open(f"{tuned.path}/log.txt").read()
    assert f"loaded {len(before)} tensors, skipped 0" in log  # every initial tensor was the source's
    assert "froze" in log and "head learning rate: 0.1" in log
    assert len(after["optimizer"]["state"]) == len(head)  # only the head is optimised
    assert [g["lr"] for g in after["optimizer"]["param_groups"]] == [pytest.approx(0.1)]


def test_without_a_validation_split_the_final_weights_are_the_best(tmp_path):
    """Issue 24.15: data.val_fraction=0 writes best.pt (the final weights), so eval and predict work."""
    from dlx.use.evaluate import evaluate_run
    from dlx.use.restore import restore

    run = train(["data=iris", "data.val_fraction=0", "trainer.epochs=2", "trainer.num_threads=1",
                 f"output_dir={tmp_path / 'outputs'}"])
    best, last = checkpoint(run, "best"), checkpoint(run, "last")
    assert best["epoch"] == 2 and all(torch.equal(best["model"][k], v) for k, v in last["model"].items())
    assert "the final weights are kept as the best" in open(f"{run.path}/log.txt").read()
    report = evaluate_run(restore(run.path), [], "test")
    assert report["metrics"]["loss"] == pytest.approx(run.metrics["test_loss"], rel=1e-5)
