"""Plain overrides composed without Hydra (dlx.config.direct) give what Hydra gives."""

import importlib
import random
import subprocess
import sys

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from dlx import plugins
from dlx.config import direct
from dlx.config.compose import GROUPS, group_choices
from dlx.config.presets import build_nodes

composing = importlib.import_module("dlx.config.compose")  # the module (dlx.config.compose is also the function)

PARSER = OverridesParser.create()

# values dlx reads itself: each must come out as Hydra's
PLAIN_VALUES = ["0", "-3", "+7", "42", "1.5", "5.", ".5", "-.5e-3", "1e5", "1E+05", "3e-4", "true", "True",
                "FALSE", "null", "NULL", "Infinity", "nan-x", "truex", "abc", "a-b", "a.b", "a.5", "e5", "_x",
                "x_", "mlp", "warmup_cosine", "/tmp/dlx-1/run_2", "/data/train.csv", "[1,2]", "[ 64 , 32 ]",
                "[]", "[a,b]", "[1.5,true,null]", "[relu]"]
# values left to Hydra: anything its grammar reads in ways not written out in dlx.config.direct
HYDRA_VALUES = ["inf", "-inf", "NaN", "007", "1_000", "1.5.2", "1e5x", "-x", "./data", "a b", "", "${x}",
                "${oc.env:HOME}", "'q'", '"q"', "a,b", "[1,[2]]", "[1,,2]", "{a:1}", "choice(1,2)", "a:b",
                "range(3)", "x\\,y", "a=b"]


def hydra_value(text: str):
    return PARSER.parse_override(f"k={text}").value()


def same(a, b) -> bool:
    """Equal, and of the same types (1 is not 1.0, True is not 1), lists element by element."""
    if isinstance(a, list) or isinstance(b, list):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("text", PLAIN_VALUES)
def test_plain_values_read_as_hydra_reads_them(text):
    parsed = direct.parse([f"k={text}"])
    assert parsed is not None, f"{text!r} should be read without Hydra"
    assert same(parsed[0].value(), hydra_value(text)), (parsed[0].value(), hydra_value(text))


@pytest.mark.parametrize("text", HYDRA_VALUES)
def test_other_values_are_left_to_hydra(text):
    assert direct.parse([f"k={text}"]) is None


def test_random_values_either_match_hydra_or_are_left_to_it():
    rng = random.Random(0)
    alphabet = "0123456789.eE+-_/abtrunlfsxINa[], "
    accepted = 0
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))
        parsed = direct.parse([f"k={text}"])
        if parsed is None:
            continue
        accepted += 1
        assert same(parsed[0].value(), hydra_value(text)), (text, parsed[0].value(), hydra_value(text))
    assert accepted > 300  # the check saw many accepted values


@pytest.mark.parametrize("line", ["+trainer.foo=1", "++name=x", "~name", "optim.lr=0.1,0.2", "model/x=1",
                                  "hydra.run.dir=x", "optim.lr", "0.x=1", "name=a name=b"])
def test_other_override_forms_are_left_to_hydra(line):
    assert direct.parse(line.split(" ")) is None


def nodes():
    plugins.load()
    return build_nodes(GROUPS)


def via_hydra(overrides):
    parsed = composing.parse_overrides(overrides)
    return composing._compose_with_hydra(overrides, parsed, composing.reachable_choices(parsed))


def assert_same_config(overrides):
    plain = direct.parse(overrides)
    assert plain is not None
    mine = direct.compose_direct(composing.primary(), nodes(), plain, GROUPS)
    assert mine is not None, overrides
    theirs = via_hydra(overrides)
    assert OmegaConf.to_yaml(mine) == OmegaConf.to_yaml(theirs)
    assert OmegaConf.is_struct(mine) and OmegaConf.is_struct(theirs)
    flat_mine = OmegaConf.to_container(mine)
    flat_theirs = OmegaConf.to_container(theirs)

    def walk(a, b):
        assert same(a, b) if not isinstance(a, dict) else list(a) == list(b)
        if isinstance(a, dict):
            for key in a:
                walk(a[key], b[key])
    walk(flat_mine, flat_theirs)


@pytest.mark.parametrize("overrides", [
    [],
    ["optim=sgd", "optim.lr=0.05", "optim.momentum=0.9", "trainer.epochs=3"],
    ["model=cnn", "model.channels=[8,16]", "data=mnist", "data.root=/tmp/datasets"],
    ["model.hidden=[16,8]", "regularizer=none", "name=my-run", "output_dir=/tmp/x/y"],
    ["regularizer.early_stopping.patience=3", "scheduler=cosine", "loss=cross_entropy",
     "loss.label_smoothing=0.1", "trainer.seed=7", "data.seed=1"],
    ["data=csv", "data.path=/tmp/a.csv", "data.target=label", "model.dropout=null"],
    ["model=seq2seq", "data=reverse", "model.attention=additive"],
])
def test_plain_overrides_compose_as_with_hydra(overrides):
    assert_same_config(overrides)


def test_every_choice_composes_as_with_hydra():
    options = {group: group_choices(group) for group in GROUPS}
    for i in range(max(map(len, options.values()))):  # every option of every group, in ~30 compositions
        assert_same_config([f"{group}={names[i % len(names)]}" for group, names in options.items()])


def test_a_key_the_config_lacks_is_left_to_hydra_and_its_error():
    plain = direct.parse(["optim.lrr=0.1"])
    assert direct.compose_direct(composing.primary(), nodes(), plain, GROUPS) is None


def test_a_plain_command_line_never_imports_hydra():
    code = ("import sys; from dlx import config; "
            "config.load(['optim=sgd', 'optim.lr=0.05', 'model.hidden=[16,8]', 'name=x']); "
            "print('hydra' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
