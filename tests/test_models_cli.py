"""`dlx models`, `dlx models show` and a short `dlx train model=X` per family."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from conftest import FAST, ROOT

from dlx.config import group_choices
from dlx.registry import MODELS
from dlx.plugins import load_builtins as load_components

load_components()
MODEL_NAMES = group_choices("model")
NETWORKS = [n for n in MODEL_NAMES if MODELS.get(n).meta.get("network", True)]  # knn, logistic: tests/test_baselines.py
# models that choose their own task (gnn, autoencoder, vae, gan: issue 17) are tested in tests/test_graphs.py
# and tests/test_generative.py; seq2seq and lm (issue 16) in tests/test_sequences.py and tests/test_language.py
NETWORKS = [n for n in NETWORKS if not MODELS.get(n).meta.get("task")]


def test_models_lists_every_registered_model(dlx):
    result = dlx("models")
    assert result.code == 0, result.err
    for name in MODELS.names():
        assert name in result.out


@pytest.mark.parametrize("name", NETWORKS)
def test_models_show_prints_layers_and_the_total(dlx, name):
    from dlx import config
    from dlx.use.describe import describe

    result = dlx("models", "show", name, "trainer.num_threads=1")
    assert result.code == 0, result.err
    model, _summary, _bundle = describe(config.load([f"model={name}"]))
    total = sum(p.numel() for p in model.parameters())
    assert f"{total:,} parameters" in result.out
    assert "(B, 10)" in result.out  # digits: ten logits


def test_models_show_counts_by_hand(dlx):
    result = dlx("models", "show", "mlp", "model.hidden=[4]", "model.dropout=0.0")
    assert result.code == 0, result.err
    assert "310 parameters" in result.out  # digits: (64*4 + 4) + (4*10 + 10)
    assert "260" in result.out and "50" in result.out


def test_models_show_folds_deep_layers(dlx):
    full = dlx("models", "show", "resnet")
    folded = dlx("models", "show", "resnet", "--depth", "1")
    assert full.code == folded.code == 0
    assert len(folded.out.splitlines()) < len(full.out.splitlines())
    assert full.out.splitlines()[-1] == folded.out.splitlines()[-1]  # same total


@pytest.mark.parametrize("args,match", [
    (["models", "show", "resnett"], "unknown model 'resnett' — did you mean 'resnet'?"),
    (["models", "show", "mlp", "model=cnn"], "drop the model=... override"),
    (["train", "model=mlp", "model.activation=swishy"], "unknown activation 'swishy'"),
    (["train", "model=cnn", "model.init=he"], "unknown init 'he'"),
    (["train", "model=resnet", "model.depth=19"], "no resnet of depth 19"),
    (["train", "model=transformer", "model.heads=5"], "must divide d_model"),
    (["models", "show", "transformer", "model.tokens=patches", "model.patch_size=3"], "patch_size 3 does not divide"),
])
def test_bad_model_configs_are_one_line_and_exit_2(dlx, args, match):
    result = dlx(*args)
    assert result.code == 2
    assert match in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", NETWORKS)
def test_train_every_model_end_to_end(dlx, tmp_path, name):
    extra = ["model.width=8"] if name == "resnet" else []  # the same code path, a quarter of the work
    extra += ["model.solver=gd"] if name == "linear" else []  # trained by the loop, not in closed form
    result = dlx("train", f"model={name}", *FAST, "trainer.checkpoint=false", "-q", *extra)
    assert result.code == 0, result.err
    (run,) = (tmp_path / "outputs" / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == name and summary["status"] == "finished"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])  # it learns


@pytest.mark.slow
def test_training_on_digits_never_imports_torchvision(tmp_path):
    """torchvision is for resnet only: a cnn on digits must not pay for importing it."""
    code = ("import sys\nfrom dlx.cli import main\n"
            f"try:\n    main(['train', 'model=cnn', {', '.join(map(repr, FAST))}, 'trainer.checkpoint=false', '-q'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torchvision' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
