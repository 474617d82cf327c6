"""Issue 16: rnn, lstm, gru and transformer over token sequences (an embedding, padding masks),
many-to-one (data=majority) and many-to-many (data=running_max, tagging)."""

from __future__ import annotations

import json

import pytest
import torch

from dlx import data
from dlx.data.sequences import PAD, Seq2SeqDataConfig

SMALL = ["data.n_samples=200", "data.vocab=3", "data.min_length=2", "data.max_length=6", "trainer.epochs=3",
         "trainer.num_threads=1", "trainer.batch_size=16", "optim.lr=0.01"]
NARROW = {"rnn": ["model.hidden_size=16"], "lstm": ["model.hidden_size=16", "model.num_layers=1"],
          "gru": ["model.hidden_size=16", "model.num_layers=1"],
          "transformer": ["model.d_model=16", "model.heads=2", "model.layers=1", "model.ff_dim=16"]}


def strings(name: str):
    from dlx.plugins import load_builtins

    load_builtins()
    return data.build(Seq2SeqDataConfig(name=name, n_samples=60, vocab=4, min_length=2, max_length=7))


def test_majority_labels_the_most_frequent_symbol_and_running_max_tags_each_prefix():
    maj, tags = strings("majority"), strings("running_max")
    assert maj.kind == "multiclass" and maj.classes == ["0", "1", "2", "3"] and len(maj.preprocess["vocab"]) == 7
    for src, label in zip(maj.train.x, maj.train.y):
        real = [int(t) - 3 for t in src if t != PAD]
        counts = [real.count(s) for s in range(4)]
        assert int(label) == counts.index(max(counts))
    assert tags.kind == "tagging"
    for src, tag in zip(tags.train.x, tags.train.y):
        n = int((src != PAD).sum())
        assert [int(t) for t in tag[:n]] == [max(int(s) for s in src[: i + 1]) for i in range(n)]
        assert (tag[n:] == PAD).all()


def build(name: str, per_step: bool, **kw):
    from dlx import models
    from dlx.config import compose
    from dlx.config.validate import validate

    torch.manual_seed(0)
    exp = validate(compose([f"model={name}", *NARROW[name], *[f"model.{k}={v}" for k, v in kw.items()]]))
    return models.build(exp.model, (9,), 5, vocab=13, per_step=per_step).eval()


CASES = [("rnn", {}), ("gru", {"bidirectional": "true"}), ("lstm", {"pool": "mean"}),
         ("lstm", {"num_layers": 2, "bidirectional": "true"}), ("transformer", {}),
         ("transformer", {"pool": "mean", "positional": "sinusoidal"})]


@pytest.mark.parametrize("per_step", [False, True], ids=["many-to-one", "many-to-many"])
@pytest.mark.parametrize("name, kw", CASES, ids=lambda c: str(c))
def test_padding_does_not_change_a_token_sequences_output(name, kw, per_step):
    model = build(name, per_step, **kw)
    short = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0, 0]])
    long = torch.tensor([[3, 4, 5, 6, 7, 8, 9, 10, 11]])
    with torch.no_grad():
        alone = model(short[:, :3])
        batched = model(torch.cat([short, long]))
    if per_step:
        assert batched.shape == (2, 9, 5)
        alone, batched = alone[0], batched[:, :3]  # the real positions
    assert torch.allclose(alone, batched[0], atol=1e-5)
    assert not torch.allclose(batched[0], batched[1], atol=1e-3)  # the tokens themselves do matter


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "transformer"])
def test_token_models_train_through_the_cli_many_to_one_and_many_to_many(dlx, tmp_path, name):
    for dataset in ("majority", "running_max"):
        result = dlx("train", f"model={name}", f"data={dataset}", *NARROW[name], *SMALL, f"name={dataset}")
        assert result.code == 0, result.err
        summary = json.loads(next((tmp_path / "outputs" / "runs").glob(f"*{dataset}/summary.json")).read_text())
        assert {"val_acc", "test_acc"} <= set(summary)
        if dataset == "running_max":
            assert summary["task"] == "tagging" and summary["test_exact"] <= summary["test_acc"]
            assert summary["val_acc"] > 0.4  # chance is 1/3 per position
        else:
            assert summary["task"] == "multiclass"


def predictions(dlx, tmp_path, *extra):
    import pandas as pd

    assert dlx("predict", "last", *extra, "-o", "p.csv").code == 0
    return pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("train", [
    ["model=seq2seq", "data=copy", "model.hidden_size=32", "model.beam=2"],
    ["model=gru", "data=running_max", "model.hidden_size=16"]], ids=["seq2seq", "tagging"])
def test_predict_decodes_sequences_that_agree_with_eval(dlx, tmp_path, train):
    args = ["train", *train, "data.n_samples=300", "data.vocab=4", "data.min_length=2", "data.max_length=3",
            "optim.lr=0.01", "trainer.epochs=3", "trainer.num_threads=1", "trainer.batch_size=32"]
    assert dlx(*args).code == 0
    result = dlx("eval", "last", "--format", "json")
    assert result.code == 0, result.err
    exact = json.loads(result.out)["metrics"]["exact"]
    rows = predictions(dlx, tmp_path, "--split", "test")
    assert list(rows.columns) == ["source", "target", "prediction"] and len(rows) == 60
    assert (rows["prediction"] == rows["target"]).mean() == pytest.approx(exact)
    assert 0 < exact < 1  # both outcomes occur: the comparison is not vacuous
    sources = [s.split() for s in rows["source"]]
    if "data=copy" in train:  # the data's rule: the target is the source
        assert rows["target"].tolist() == rows["source"].tolist()
    else:  # one tag per source symbol
        assert all(len(t.split()) == len(s) for t, s in zip(rows["prediction"], sources))
    (tmp_path / "mine.txt").write_text("\n".join(rows["source"][:5]) + "\n")
    mine = predictions(dlx, tmp_path, "mine.txt")  # a user's file of sources gives the same predictions
    assert mine["prediction"].tolist() == rows["prediction"][:5].tolist()


@pytest.mark.parametrize("args, output", [
    (["seq2seq"], "(B, 21, 13)"),  # data=copy chosen for it: 20 symbols + <eos> out, 10 symbols + 3 specials
    (["seq2seq", "model.cell=transformer", "data=reverse", "data.min_length=3", "data.max_length=6"], "(B, 7, 13)"),
    (["lm", "data=text", "data.path={text}", "data.context=16"], "(B, 16, 12)"),
    (["transformer", "model.causal=true", "data=text", "data.path={text}", "data.context=16"], "(B, 16, 12)"),
    (["gru", "data=running_max"], "(B, 20, 13)"),  # a tag per position
    (["transformer", "data=majority"], "(B, 10)")], ids=lambda a: "-".join(a) if isinstance(a, list) else a)
def test_models_show_prints_token_models_layer_by_layer(dlx, tmp_path, args, output):
    from dlx import config
    from dlx.models.summary import default_data
    from dlx.use.describe import describe

    (tmp_path / "c.txt").write_text("the cat sat on the mat. " * 30)  # 11 symbols and <unk>
    args = [a.replace("{text}", str(tmp_path / "c.txt")) for a in args]
    result = dlx("models", "show", *args)
    assert result.code == 0, result.err
    name, overrides = args[0], args[1:]
    model, summary, _ = describe(config.load([f"model={name}", *default_data(name, overrides), *overrides]))
    assert f"{sum(p.numel() for p in model.parameters()):,} parameters" in result.out
    assert f"-> output {output}" in result.out
    assert sum(r.params for r in summary.rows) == summary.total and summary.total > 0


def test_eval_of_a_language_model_gives_its_test_perplexity(dlx, tmp_path):
    (tmp_path / "c.txt").write_text("the cat sat on the mat. " * 40)
    args = ["train", "model=lm", "data=text", f"data.path={tmp_path / 'c.txt'}", "data.context=8", "model.d_model=16",
            "model.num_heads=2", "trainer.epochs=1", "trainer.num_threads=1"]
    assert dlx(*args).code == 0
    result = dlx("eval", "last", "--format", "json")
    assert result.code == 0, result.err
    summary = json.loads(next((tmp_path / "outputs" / "runs").glob("*/summary.json")).read_text())
    assert json.loads(result.out)["metrics"]["ppl"] == pytest.approx(summary["test_ppl"], rel=1e-4)
