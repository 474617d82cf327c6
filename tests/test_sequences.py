"""Issue 16: generated sequence data, the encoder–decoder, masks and beam search."""

from __future__ import annotations

import json

import pytest
import torch

from dlx import data
from dlx.data.sequences import EOS, PAD, Seq2SeqDataConfig, SequenceConfig

TINY = ["trainer.epochs=1", "trainer.num_threads=1", "trainer.batch_size=16"]


def pairs(name: str, **kw):
    from dlx.plugins import load_builtins as load_components

    load_components()
    return data.build(Seq2SeqDataConfig(name=name, n_samples=60, min_length=2, max_length=7, **kw))


def unpadded(row: torch.Tensor) -> list[int]:
    return [int(t) for t in row if t not in (PAD, EOS)]


@pytest.mark.parametrize("name, expect", [("copy", lambda s: s), ("reverse", lambda s: s[::-1]),
                                          ("sort", sorted)])
def test_pair_targets_follow_the_rule_and_end_with_eos(name, expect):
    bundle = pairs(name)
    assert bundle.kind == "seq2seq"
    for src, tgt in zip(bundle.train.x, bundle.train.y):
        s = unpadded(src)
        assert 2 <= len(s) <= 7
        assert unpadded(tgt) == expect(s)
        assert int(tgt[len(s)]) == EOS and (tgt[len(s) + 1:] == PAD).all()
        assert (src[len(s):] == PAD).all()


def test_pairs_are_seeded_and_splits_disjoint():
    a, b, c = pairs("reverse"), pairs("reverse"), pairs("reverse", seed=1)
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
    parts = [set(a.train.index), set(a.val.index), set(a.test.index)]
    assert sum(map(len, parts)) == 60 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_adding_target_is_the_sum_of_the_marked_values():
    from dlx.plugins import load_builtins as load_components

    load_components()
    bundle = data.build(SequenceConfig(name="adding", n_samples=50, length=12))
    x, y = bundle.train.x, bundle.train.y
    assert x.shape[1:] == (12, 2) and bundle.kind == "regression"
    assert torch.all(x[:, :, 1].sum(dim=1) == 2)
    assert torch.allclose((x[:, :, 0] * x[:, :, 1]).sum(dim=1), y)


def test_parity_labels_count_ones():
    bundle = data.build(SequenceConfig(name="parity", n_samples=50, length=9))
    assert torch.equal(bundle.train.x[:, :, 0].sum(dim=1).long() % 2, bundle.train.y)


def build(**kw):
    from dlx.models.seq2seq import Seq2SeqConfig, build_seq2seq

    torch.manual_seed(0)
    return build_seq2seq(Seq2SeqConfig(hidden_size=16, embedding=8, **kw), (9,), 13).eval()


CONFIGS = [dict(cell=c, attention=a, bidirectional=bi) for c in ("rnn", "gru", "lstm")
           for a in ("none", "dot", "general", "additive") for bi in (False, True)] + [dict(cell="transformer")]


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_padding_does_not_change_a_sequences_output(kw):
    model = build(**kw, num_layers=2)
    short = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0, 0]])
    long = torch.tensor([[3, 4, 5, 6, 7, 8, 9, 10, 11]])
    tgt = torch.tensor([[7, 6, 5, 2]])
    with torch.no_grad():
        alone = model(short[:, :3], tgt)
        batched = model(torch.cat([short, long]), torch.cat([tgt, tgt]))
    assert torch.allclose(alone[0], batched[0], atol=1e-5)
    assert not torch.allclose(batched[0], batched[1], atol=1e-3)  # the other sequence does matter


@pytest.mark.parametrize("kw", [dict(cell="gru", attention="additive"), dict(cell="lstm", attention="dot",
                                                                           bidirectional=True),
                                dict(cell="transformer", num_layers=2)])
def test_beam_of_one_is_greedy_and_wider_beams_score_no_worse(kw):
    from dlx.models.beam import beam_search

    model = build(**kw)
    src = torch.randint(3, 13, (6, 5))
    src[2:, 3:] = PAD
    greedy, attn = model.greedy(src, 7)
    assert torch.equal(beam_search(model, src, 7, 1), greedy)
    if attn is not None:  # the attention of each step is a distribution over the real source tokens
        assert torch.allclose(attn.sum(dim=2), torch.ones(6, 7)) and (attn[2:, :, 3:] == 0).all()
    wide = beam_search(model, src, 7, 4)
    assert wide.shape == greedy.shape and ((wide >= 0) & (wide < 13)).all()


def test_seq2seq_trains_through_the_cli_and_learns_copy(dlx, tmp_path):
    args = ["train", "model=seq2seq", "data=copy", "data.n_samples=300", "data.vocab=4", "data.min_length=2",
            "data.max_length=3", "model.hidden_size=32", "optim.lr=0.01", "trainer.epochs=6",
            "trainer.num_threads=1", "trainer.batch_size=32", "model.teacher_forcing=0.8", "model.beam=2"]
    result = dlx(*args)
    assert result.code == 0, result.err
    summary = json.loads(next((tmp_path / "outputs" / "runs").glob("*/summary.json")).read_text())
    m = summary
    assert summary["task"] == "seq2seq" and {"val_acc", "val_exact", "test_acc", "test_exact"} <= set(m)
    assert m["val_exact"] <= m["val_acc"]
    assert m["val_acc"] > 0.5  # chance is 1/5 per token
    saved = json.loads((tmp_path / summary["path"] / "attention" / "examples.json").read_text())["examples"]
    assert len(saved) == 4
    for ex in saved:
        assert len(ex["weights"]) == len(ex["output"]) and len(ex["weights"][0]) == len(ex["source"])
        assert all(abs(sum(row) - 1) < 1e-4 for row in ex["weights"])
    drawn = dlx("plot", "last", "--attention", "-o", "a.png")
    assert drawn.code == 0 and (tmp_path / "a.png").stat().st_size > 1000


def test_transformer_decoder_is_causal_and_teacher_forcing_matches_stepwise_decoding():
    model = build(cell="transformer", num_layers=2)
    src = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 3, 4]])
    tgt = torch.tensor([[8, 7, 6, 5, 2, 0], [4, 3, 12, 11, 10, 9]])
    changed = tgt.clone()
    changed[:, 3:] = 7
    with torch.no_grad():
        a, b = model(src, tgt), model(src, changed)
        stepwise = model(src, tgt, teacher_forcing=0.999999)  # one step at a time, (almost) always the truth
    assert a.shape == (2, 6, 13)
    # the logits of step t read target tokens 0..t-1: a change at 3.. shows from step 4 on only
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-5) and not torch.allclose(a[:, 4:], b[:, 4:], atol=1e-4)
    assert torch.allclose(a, stepwise, atol=1e-4)


def test_transformer_seq2seq_trains_through_the_cli_on_reverse(dlx, tmp_path):
    args = ["train", "model=seq2seq", "model.cell=transformer", "data=reverse", "data.n_samples=300",
            "data.vocab=4", "data.min_length=2", "data.max_length=4", "model.hidden_size=32", "model.num_heads=2",
            "model.dropout=0", "optim.lr=0.003", "trainer.epochs=8", "trainer.num_threads=1",
            "trainer.batch_size=16", "model.beam=2"]
    result = dlx(*args)
    assert result.code == 0, result.err
    summary = json.loads(next((tmp_path / "outputs" / "runs").glob("*/summary.json")).read_text())
    assert summary["task"] == "seq2seq" and summary["model"] == "seq2seq"
    assert summary["val_exact"] <= summary["val_acc"] and summary["val_acc"] > 0.6  # chance: 1/5 per token
    assert not (tmp_path / summary["path"] / "attention").exists()  # no alignment kept for a transformer


def test_seq2seq_resume_continues_exactly(dlx, tmp_path):
    base = ["train", "model=seq2seq", "data=reverse", "data.n_samples=80", "data.min_length=2",
            "data.max_length=4", "model.hidden_size=8", "model.teacher_forcing=0.5", *TINY]
    assert dlx(*base, "trainer.epochs=2", "name=full").code == 0
    assert dlx(*base, "name=half").code == 0  # one epoch ...
    runs = tmp_path / "outputs" / "runs"
    half = next(runs.glob("*half"))
    (half / "summary.json").unlink()  # as a run stopped after epoch 1 leaves it
    (half / "status.json").write_text(json.dumps({"status": "interrupted"}))
    assert dlx("train", "--resume", str(half), "trainer.epochs=2").code == 0  # ... then one more
    full = json.loads(next(runs.glob("*full/summary.json")).read_text())
    again = json.loads((half / "summary.json").read_text())
    assert full["val_loss"] == again["val_loss"] and full["test_exact"] == again["test_exact"]


def test_cv_on_sequence_pairs_through_the_cli(dlx, tmp_path):
    import pandas as pd

    result = dlx("cv", "--folds", "2", "model=seq2seq", "data=reverse", "data.n_samples=60", "data.min_length=2",
                 "data.max_length=5",
                 "model.hidden_size=8", "trainer.epochs=1", "trainer.num_threads=1")
    assert result.code == 0, result.err
    folder = next((tmp_path / "outputs" / "cv").iterdir())
    assignment = pd.read_csv(folder / "assignment.csv")
    assert len(assignment) == 48 and sorted(assignment["fold"].value_counts()) == [24, 24]  # 60 less 12 test
    folds = pd.read_csv(folder / "folds.csv")
    assert len(folds) == 2 and {"val_acc", "val_exact"} <= set(folds.columns)
