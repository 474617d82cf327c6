"""Issue 16: text windows, the language model, `dlx generate`."""

from __future__ import annotations

import json

import pytest
import torch

from dlx import data
from dlx.data.text import TextConfig

TINY = ["trainer.epochs=1", "trainer.num_threads=1", "trainer.batch_size=16"]


def corpus(tmp_path, text: str):
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_windows_are_shifted_by_one_and_parts_keep_their_order(tmp_path):
    text = "abcdefghij" * 30  # 300 chars
    bundle = data.build(TextConfig(name="text", path=str(corpus(tmp_path, text)), context=8))
    assert bundle.kind == "language" and bundle.input_shape == (8,)
    x, y = bundle.train.x, bundle.train.y
    assert torch.equal(x[:, 1:], y[:, :-1])
    decoded = "".join(bundle.classes[i] for i in x[0])
    assert decoded == text[:8]
    # in order: training windows lie in the first 80 %, test windows in the last 10 %
    assert bundle.train.index.max() + 9 <= 240 and len(bundle.val) and len(bundle.test)


def test_vocabulary_comes_from_the_training_part_and_unknowns_are_unk(tmp_path):
    text = "ab" * 80 + "Z" * 40  # Z appears in the validation / test parts only
    bundle = data.build(TextConfig(name="text", path=str(corpus(tmp_path, text)), context=4, val_fraction=0.1))
    assert bundle.classes == ["<unk>", "a", "b"]
    assert (bundle.test.x == 0).all()


def test_word_level_tokens(tmp_path):
    text = " ".join(["red green blue"] * 40)
    bundle = data.build(TextConfig(name="text", path=str(corpus(tmp_path, text)), context=3, level="word"))
    assert bundle.classes == ["<unk>", "blue", "green", "red"]
    assert [bundle.classes[i] for i in bundle.train.x[0]] == ["red", "green", "blue"]


@pytest.mark.parametrize("kw", [dict(arch="transformer"), dict(arch="transformer", positions="sinusoidal"),
                                dict(arch="lstm")])
def test_language_models_are_causal(kw):
    from dlx.models.lm import LMConfig, build_lm

    torch.manual_seed(0)
    model = build_lm(LMConfig(d_model=16, num_heads=2, dim_feedforward=32, **kw), (10,), 7).eval()
    x = torch.randint(0, 7, (2, 10))
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 7
    with torch.no_grad():
        a, b = model(x), model(changed)
    assert a.shape == (2, 10, 7)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-5)  # the past does not see the future
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)


def test_train_a_char_lm_then_generate(dlx, tmp_path):
    path = corpus(tmp_path, "the cat sat on the mat. " * 40)
    args = ["train", "model=lm", "data=text", f"data.path={path}", "data.context=16", "model.d_model=16",
            "model.num_heads=2", "model.dim_feedforward=32", "model.num_layers=1", "optim.lr=0.01", *TINY]
    assert dlx(*args).code == 0
    summary = json.loads(next((tmp_path / "outputs" / "runs").glob("*/summary.json")).read_text())
    assert summary["task"] == "language"
    assert summary["val_ppl"] == pytest.approx(2 ** summary["val_bpc"], rel=1e-6)
    one = dlx("generate", "last", "--prompt", "the ", "--tokens", "30", "--seed", "3")
    two = dlx("generate", "last", "--prompt", "the ", "--tokens", "30", "--seed", "3")
    assert one.code == 0 and one.out == two.out and one.out.startswith("the ")
    assert len(one.out.rstrip("\n")) == 4 + 30 and set(one.out.rstrip("\n")) <= set("the casonm.")
    greedy = dlx("generate", "last", "--prompt", "the ", "--tokens", "30", "--temperature", "0")
    top1 = dlx("generate", "last", "--prompt", "the ", "--tokens", "30", "--top-k", "1", "--seed", "9")
    assert greedy.out == top1.out
    odd = dlx("generate", "last", "--prompt", "THE ", "--tokens", "5")
    assert odd.code == 0 and "<unk>" in odd.err and "'T'" in odd.err


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_causal_transformer_is_a_language_model_that_never_sees_later_tokens(positional):
    from dlx.models.transformer import TransformerConfig, build_transformer

    torch.manual_seed(0)
    cfg = TransformerConfig(d_model=16, heads=2, ff_dim=32, causal=True, positional=positional, dropout=0.0)
    model = build_transformer(cfg, (10,), 7).eval()
    x = torch.randint(0, 7, (2, 10))
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 7
    with torch.no_grad():
        a, b = model(x), model(changed)
    assert a.shape == (2, 10, 7)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-5)  # changing token 6.. leaves outputs 0..5 alone
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)


def test_transformer_causal_trains_on_text_and_generates(dlx, tmp_path):
    path = corpus(tmp_path, "the cat sat on the mat. " * 40)
    args = ["train", "model=transformer", "model.causal=true", "model.positional=sinusoidal", "data=text",
            f"data.path={path}", "data.context=16", "model.d_model=16", "model.heads=2", "model.ff_dim=32",
            "model.layers=1", "optim.lr=0.01", *TINY]
    result = dlx(*args)
    assert result.code == 0, result.err
    summary = json.loads(next((tmp_path / "outputs" / "runs").glob("*/summary.json")).read_text())
    assert summary["task"] == "language" and summary["model"] == "transformer"
    assert summary["val_ppl"] < 11  # the corpus has 11 symbols besides <unk>: better than uniform
    text = dlx("generate", "last", "--prompt", "the cat ", "--tokens", "40", "--seed", "1")
    assert text.code == 0 and text.out.startswith("the cat ") and len(text.out.rstrip("\n")) == 8 + 40


def test_text_folds_chain_forward_with_each_folds_own_vocabulary(tmp_path):
    text = "ab" * 100 + "cd" * 100 + "ef" * 100  # 600 chars; test: the last 120
    path = str(corpus(tmp_path, text))
    first, last = (data.build(TextConfig(name="text", path=path, context=4, folds=2, fold=k)) for k in (0, 1))
    assert first.train.index.max() + 4 < first.val.index.min() and first.val.index.max() < last.val.index.min()
    assert "c" not in first.classes and "c" in last.classes  # the vocabulary of the fold's training part only
    assert last.val.index.max() + 4 < 480 and torch.equal(first.test.y.unique(), last.test.y.unique())
