"""Model zoo, below the CLI: shapes, parameter counts, activations, inits, bad configs."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from dlx.config import conf_dir, group_choices, to_schema
from dlx.errors import ConfigError
from dlx.models import build, count_parameters
from dlx.models.layers import ACTIVATIONS, INITS, Maxout, to_sequence
from dlx.models.summary import summarize, visible_rows
from dlx.registry import MODELS
from dlx.plugins import load_builtins as load_components

load_components()
torch.set_num_threads(1)

MODEL_YAMLS = sorted((conf_dir() / "model").glob("*.yaml"))
NETWORKS = [n for n in MODELS.names() if MODELS.get(n).meta.get("network", True)]  # not knn, logistic
# models that choose their own task (gnn, autoencoder, vae, gan: issue 17) map inputs to other shapes; they are
# tested in tests/test_graphs.py and tests/test_generative.py;
# seq2seq and lm (issue 16) in tests/test_sequences.py and tests/test_language.py
NETWORKS = [n for n in NETWORKS if not MODELS.get(n).meta.get("task")]
# one input of each kind the issue names: digits, CIFAR-sized images, a sequence, a tabular row
INPUTS = {"image": [(1, 8, 8), (3, 32, 32)], "sequence": [(5, 7)], "tabular": [(12,)]}


def model_cfg(name: str, **overrides):
    """The default config of `name` (its schema, conf/model/<name>.yaml on top), with `overrides`, validated."""
    from dlx.config.presets import choices, node as option_node

    node = OmegaConf.create(option_node("model", next(c for c in choices("model") if c.name == name)))
    node.merge_with(overrides)
    return to_schema("model", MODELS.get(name).schema, node)


def forward_backward(model: nn.Module, input_shape, batch: int = 4) -> torch.Tensor:
    out = model(torch.randn(batch, *input_shape))
    out.square().mean().backward()
    return out


# ---------------------------------------------------------------- inventories


@pytest.mark.parametrize("path", MODEL_YAMLS, ids=lambda p: p.stem)
def test_every_yaml_is_a_preset_of_its_schema_with_comments(path: Path):
    """The schema holds every key and its default; a yaml file only what differs, each with a comment."""
    node = OmegaConf.load(path) or OmegaConf.create({})
    assert node.get("name", path.stem) == path.stem and path.stem in MODELS
    schema = MODELS.get(path.stem).schema
    assert set(node.keys()) <= {f.name for f in fields(schema)}
    for line in path.read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in node and key != "name":
            assert "#" in line, f"{path.name}: '{key}' has no comment"


def test_every_model_choice_is_a_registered_model():
    """A preset exists only where it differs from its schema; every model is a choice without one."""
    assert {p.stem for p in MODEL_YAMLS} <= set(MODELS.names()) == set(group_choices("model"))


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("kind", INPUTS)
def test_output_shape_on_every_input_kind(name, kind):
    accepts = MODELS.get(name).meta["accepts"]
    for shape in INPUTS[kind]:
        if kind not in accepts:
            with pytest.raises(ConfigError, match=name):
                build(model_cfg(name), shape, 3)
            continue
        model = build(model_cfg(name), shape, 3)
        assert forward_backward(model, shape).shape == (4, 3)
        assert build(model_cfg(name), shape, 1)(torch.randn(2, *shape)).shape == (2, 1)  # regression


@pytest.mark.parametrize("name", NETWORKS)
def test_summary_column_sums_to_the_exact_total(name):
    model = build(model_cfg(name), (1, 8, 8), 10)
    summary = summarize(model, (1, 8, 8))
    assert summary.total == count_parameters(model)
    for depth in (None, 1, 2):
        assert sum(params for _, params in visible_rows(summary, depth)) == summary.total
    assert summary.rows[0].output_shape == ("B", 10)


# ---------------------------------------------------------------- parameter counts by hand


def test_mlp_3_4_2_has_26_parameters():
    model = build(model_cfg("mlp", hidden=[4], dropout=0.0), (3,), 2)
    summary = summarize(model, (3,))
    assert summary.total == 26  # (3*4 + 4) + (4*2 + 2), the textbook example
    assert [params for _, params in visible_rows(summary) if params] == [16, 10]


def test_mlp_batchnorm_replaces_the_bias():
    model = build(model_cfg("mlp", hidden=[4], batchnorm=True), (3,), 2)
    assert count_parameters(model) == 3 * 4 + 2 * 4 + (4 * 2 + 2)  # no bias, BN's gamma and beta


@pytest.mark.parametrize("f,c_in,c_out", [(3, 1, 32), (5, 3, 8)])
def test_conv_layer_has_f_f_cin_cout_plus_cout_parameters(f, c_in, c_out):
    cfg = model_cfg("cnn", channels=[c_out], kernel_size=f, batchnorm=False, fc=[], pool_every=1)
    model = build(cfg, (c_in, 8, 8), 10)
    conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)][0]
    assert count_parameters(conv) == f * f * c_in * c_out + c_out
    flat = c_out * 4 * 4  # 'same' padding keeps 8x8, one 2x2 pool halves it
    assert count_parameters(model) == f * f * c_in * c_out + c_out + flat * 10 + 10


@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("gru", 3), ("lstm", 4)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_parameters_and_bidirectional_doubles_features(cell, gates, bidirectional):
    h, f, dirs = 16, 8, 2 if bidirectional else 1
    model = build(model_cfg(cell, hidden_size=h, bidirectional=bidirectional), (1, 8, f), 10)
    assert model.head.in_features == dirs * h
    per_direction = gates * (h * f + h * h + 2 * h)  # W_ih, W_hh and two biases per gate
    assert count_parameters(model) == dirs * per_direction + dirs * h * 10 + 10


@pytest.mark.parametrize("depth", [18, 50])
def test_imagenet_resnet_matches_torchvision(depth):
    import torchvision

    cfg = model_cfg("resnet", depth=depth, width=64, stem="imagenet")
    reference = getattr(torchvision.models, f"resnet{depth}")(num_classes=1000)
    assert count_parameters(build(cfg, (3, 224, 224), 1000)) == count_parameters(reference)


def test_sinusoidal_positions_are_not_parameters():
    learned = build(model_cfg("transformer", positional="learned"), (1, 8, 8), 10)
    fixed = build(model_cfg("transformer", positional="sinusoidal"), (1, 8, 8), 10)
    tokens = learned.tokens.steps + 1  # + [CLS]
    assert count_parameters(learned) - count_parameters(fixed) == tokens * learned.pos.shape[-1]


# ---------------------------------------------------------------- activations and inits

FAMILIES_WITH_ACTIVATION = ["mlp", "cnn", "transformer", "resnet"]


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("name", FAMILIES_WITH_ACTIVATION)
def test_every_activation_builds_and_trains(name, act):
    if name == "resnet" and act == "maxout":
        with pytest.raises(ConfigError, match="maxout"):
            model_cfg(name, activation=act)
        return
    extra = {"depth": 20, "width": 4} if name == "resnet" else {}
    model = build(model_cfg(name, activation=act, **extra), (1, 8, 8), 10)
    forward_backward(model, (1, 8, 8))
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if act == "prelu":  # the slope is learned
        assert any(isinstance(m, nn.PReLU) for m in model.modules())


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_rnn_activation(act):
    model = build(model_cfg("rnn", activation=act), (1, 8, 8), 10)
    assert model.rnn.nonlinearity == act
    forward_backward(model, (1, 8, 8))


def test_maxout_takes_the_max_of_k_pieces():
    x = torch.tensor([[1.0, 5.0, -2.0, 0.0, 3.0, -1.0]])
    assert Maxout(3)(x).tolist() == [[5.0, 3.0]]
    channels = torch.arange(24.0).reshape(1, 6, 2, 2)  # (B, k*C, H, W): groups of 2 channels
    assert torch.equal(Maxout(2, dim=1)(channels), channels[:, 1::2])
    model = build(model_cfg("mlp", hidden=[4], activation="maxout", maxout_pieces=3, dropout=0.0), (3,), 2)
    assert count_parameters(model) == (3 * 12 + 12) + (4 * 2 + 2)  # 3 pieces per unit, 4 units out


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("name", NETWORKS)
def test_every_init_builds_and_runs(name, init):
    extra = {"depth": 20, "width": 4} if name == "resnet" else {}
    model = build(model_cfg(name, init=init, **extra), (1, 8, 8), 10)
    forward_backward(model, (1, 8, 8))


def test_init_schemes_set_the_expected_scale():
    model = build(model_cfg("mlp", hidden=[400], init="xavier_uniform"), (64,), 100)
    w = model.net[1].weight
    assert w.abs().max() <= math.sqrt(6 / (64 + 400))
    assert w.abs().max() > 0.9 * math.sqrt(6 / (64 + 400))
    model = build(model_cfg("mlp", hidden=[400], init="normal", init_std=0.05), (64,), 100)
    assert model.net[1].weight.std().item() == pytest.approx(0.05, rel=0.05)
    assert (model.net[1].bias == 0).all()


def test_zero_init_cannot_break_symmetry():
    torch.manual_seed(0)
    model = build(model_cfg("mlp", hidden=[8, 8], init="zeros", dropout=0.0), (4,), 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    for _ in range(20):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    hidden = [m.weight for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    assert all((w == w[0]).all() for w in hidden)  # every unit still computes the same thing


def test_recurrent_init_reaches_the_recurrent_matrices():
    model = build(model_cfg("lstm", init="zeros"), (1, 8, 8), 10)
    assert all((p == 0).all() for p in model.rnn.parameters())


# ---------------------------------------------------------------- families


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_residual_blocks_keep_shape_and_start_as_identity(block):
    model = build(model_cfg("resnet", depth=20, width=8, block=block), (3, 32, 32), 10).eval()
    first = model.stages[0][1]  # a block inside a stage: stride 1, same channels
    x = torch.randn(2, first.conv1.in_channels, 32, 32)
    assert first(x).shape == x.shape
    # zero_init_residual: the branch's last BN is 0, so the block is relu(x + 0)
    assert torch.allclose(first(x), torch.relu(x))
    later = model.stages[1][0]  # stride 2 and twice the width: the skip is a 1x1 projection
    assert isinstance(later.downsample[0], nn.Conv2d) and later.downsample[0].kernel_size == (1, 1)


@pytest.mark.parametrize("shape,stem_out", [((1, 8, 8), 8), ((3, 32, 32), 32), ((3, 224, 224), 56)])
def test_resnet_stem_keeps_small_images_whole(shape, stem_out):
    model = build(model_cfg("resnet", depth=18, width=8), shape, 10).eval()
    assert model.stem(torch.zeros(1, *shape)).shape[-1] == stem_out


def test_cnn_pools_every_second_block_and_stops_at_one_pixel():
    every = build(model_cfg("cnn", channels=[4, 4, 4, 4], pool_every=1), (1, 8, 8), 10).eval()
    second = build(model_cfg("cnn", channels=[4, 4, 4, 4], pool_every=2), (1, 8, 8), 10).eval()
    assert every.features(torch.zeros(1, 1, 8, 8)).shape[-2:] == (1, 1)  # 8 -> 4 -> 2 -> 1, then no pool
    assert second.features(torch.zeros(1, 1, 8, 8)).shape[-2:] == (2, 2)


def test_image_rows_become_time_steps():
    x = torch.randn(2, 3, 4, 5)  # (B, C, H, W)
    seq = to_sequence(x, 4, 15)
    assert torch.equal(seq[:, 1], x[:, :, 1, :].reshape(2, 15))


def test_bidirectional_last_pool_joins_both_directions_ends():
    model = build(model_cfg("gru", hidden_size=6, bidirectional=True), (1, 8, 8), 10).eval()
    x = torch.randn(3, 1, 8, 8)
    out, _ = model.rnn(to_sequence(x, 8, 8))  # (B, T, 2H)
    model.head = nn.Identity()
    expected = torch.cat([out[:, -1, :6], out[:, 0, 6:]], dim=1)  # forward's end, backward's end
    assert torch.allclose(model(x), expected, atol=1e-6)


@pytest.mark.parametrize("tabular,steps", [("per_feature", 12), ("one_step", 1)])
def test_tabular_rows_as_sequences(tabular, steps):
    assert build(model_cfg("lstm", tabular=tabular), (12,), 2).steps == steps
    assert build(model_cfg("transformer", tabular=tabular), (12,), 2).tokens.steps == steps


@pytest.mark.parametrize("tokens,steps", [("patches", 16), ("rows", 8)])
def test_transformer_tokens(tokens, steps):
    model = build(model_cfg("transformer", tokens=tokens, patch_size=2), (1, 8, 8), 10)
    assert model.tokens(torch.zeros(1, 1, 8, 8)).shape == (1, steps, 64)


# ---------------------------------------------------------------- bad configs


@pytest.mark.parametrize("name,overrides,match", [
    ("mlp", {"activation": "relu6"}, "unknown activation 'relu6'"),
    ("cnn", {"init": "he"}, "unknown init 'he'"),
    ("resnet", {"depth": 19}, "no resnet of depth 19"),
    ("transformer", {"heads": 3}, "must divide d_model"),
    ("rnn", {"activation": "gelu"}, "choices: relu, tanh"),
    ("cnn", {"padding": "valid"}, "padding"),
])
def test_bad_configs_fail_in_the_schema(name, overrides, match):
    with pytest.raises(ConfigError, match=match):
        model_cfg(name, **overrides)


def test_patch_size_must_divide_the_image():
    with pytest.raises(ConfigError, match="patch_size 3"):
        build(model_cfg("transformer", tokens="patches", patch_size=3), (1, 8, 8), 10)


def test_cnn_that_shrinks_the_image_to_nothing_says_so():
    with pytest.raises(ConfigError, match="cnn"):
        build(model_cfg("cnn", padding="0", kernel_size=5, channels=[4, 4]), (1, 8, 8), 10)
