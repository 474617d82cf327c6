"""Transfer learning (issue 14): model.init_from, model.freeze, optim.head_lr_mult."""

from __future__ import annotations

import pytest
import torch

TINY = ["trainer.epochs=2", "data.limit=200", "trainer.num_threads=1", "model.hidden=[32,16]"]


def train(args):
    from dlx import config
    from dlx.engine import experiment

    return experiment.run(config.load(args), args)


def weights(summary, name="best"):
    from dlx.store.checkpoint import load_checkpoint

    return load_checkpoint(f"{summary['path']}/checkpoints/{name}.pt")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer") / "outputs"
    return train([*TINY, f"output_dir={out}", "name=pretrained"]), str(out)


def test_frozen_backbone_stays_bit_identical_and_gets_no_optimizer_state(pretrained):
    source, out = pretrained
    tuned = train([*TINY, f"output_dir={out}", f"model.init_from={source['run_id']}", "model.freeze=backbone",
                   "optim.lr=0.01"])
    before, after = weights(source)["model"], weights(tuned, "last")
    head = {"net.7.weight", "net.7.bias"}  # net: Flatten, (Linear, ReLU, Dropout) x 2, Linear: the output layer
    for name, tensor in before.items():
        if name in head:
            assert not torch.equal(after["model"][name], tensor), name  # the head learned
        else:
            assert torch.equal(after["model"][name], tensor), name  # bit-identical
    state = after["optimizer"]["state"]
    assert len(state) == len(head)  # Adam keeps moments for the head's two tensors only
    log = open(f"{tuned['path']}/log.txt").read()
    assert f"loaded {len(before)} tensors, skipped 0" in log and "froze 4 parameter tensors" in log


def test_another_number_of_classes_gets_a_new_head_and_a_faster_head_rate(pretrained):
    from dlx import config, models
    from dlx.engine import transfer

    source, out = pretrained
    exp = config.load([*TINY, "data=iris", f"output_dir={out}", f"model.init_from={source['path']}",
                       "optim.head_lr_mult=10", "optim.lr=0.002"])
    model = models.build(exp.model, (4,), 3, exp.regularizer.dropout, exp.regularizer.batchnorm)  # as training builds it
    params, note = transfer.prepare(exp, model, ["a", "b", "c"])
    # digits (64 inputs, 10 classes) -> iris (4 inputs, 3 classes): first and last layers differ
    assert "loaded 3 tensors, skipped 3 (net.1.weight: shape differs; the output layer: other classes)" in note
    assert [g.get("lr") for g in params] == [None, pytest.approx(0.02)]
    assert sum(p.numel() for g in params for p in g["params"]) == sum(p.numel() for p in model.parameters())


def test_torchvision_resnet_weights_load_by_their_own_names(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    from dlx import config, models
    from dlx.engine import transfer

    source = torchvision.models.resnet18(num_classes=1000)  # random weights: no download
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    exp = config.load(["model=resnet", "model.depth=18", "model.width=64", "model.stem=imagenet",
                       f"model.init_from={tmp_path / 'resnet18.pth'}"])
    model = models.build(exp.model, (3, 32, 32), 10)
    note = transfer.init_from(model, exp.model.init_from, "outputs")
    assert "loaded 120 tensors, skipped 2 (head.2.bias, head.2.weight: shape differs)" in note
    assert torch.equal(model.stem[0].weight, source.conv1.weight)
    assert torch.equal(model.stages[3][1].bn2.running_var, source.layer4[1].bn2.running_var)


def test_freeze_names_must_exist():
    from dlx import config, models
    from dlx.errors import ConfigError
    from dlx.engine import transfer

    exp = config.load(["model.freeze=[nett]"])
    with pytest.raises(ConfigError, match="no parameter starts with 'nett'; top-level names: net"):
        transfer.prepare(exp, models.build(exp.model, (1, 8, 8), 10))


def digit_folders(root, halves=((0, 5), (5, 10))):
    """scikit-learn's digits as 8×8 PNG image folders, one per half of the classes."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    folders = []
    for start, stop in halves:
        folder = root / f"digits-{start}-{stop - 1}"
        for i, (image, label) in enumerate(zip(d.images, d.target)):
            if start <= label < stop:
                (folder / str(label)).mkdir(parents=True, exist_ok=True)
                Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / str(label) / f"{i}.png")
        folders.append(folder)
    return folders


def test_features_pretrained_on_digits_0_to_4_transfer_to_5_to_9(tmp_path):
    """The looser, stable form of the fine-tuning benchmark (benchmarks/finetune.py): on 15 images
    of 5-9, a CNN whose backbone was trained on 0-4 beats the same CNN with a random backbone,
    frozen or fine-tuned. (Against training everything from scratch it does not win on digits:
    see the README's table.)"""
    first, second = digit_folders(tmp_path)
    common = ["model=cnn", "model.channels=[16,32]", "model.fc=[64]", "model.dropout=0.2", "data=image_folder",
              "data.image_size=8", "data.workers=0", "data.preprocess=pixels", "trainer.num_threads=1",
              f"output_dir={tmp_path / 'outputs'}"]
    source = train([*common, f"data.path={first}", "trainer.epochs=8"])
    few = [*common, f"data.path={second}", "data.limit=15", "trainer.epochs=15", "optim.head_lr_mult=10"]
    random_frozen = train([*few, "model.freeze=backbone"])["test_acc"]
    frozen = train([*few, f"model.init_from={source['path']}", "model.freeze=backbone"])["test_acc"]
    tuned = train([*few, f"model.init_from={source['path']}"])["test_acc"]
    assert frozen > random_frozen + 0.15 and tuned > random_frozen + 0.15, (random_frozen, frozen, tuned)


def test_a_run_saved_before_the_transfer_keys_still_resumes_and_restores(tmp_path):
    import json

    from omegaconf import OmegaConf

    from dlx.engine import resume
    from dlx.use.restore import find, restore

    out = tmp_path / "outputs"
    run = train([*TINY, "trainer.epochs=1", f"output_dir={out}"])["path"]
    config = OmegaConf.load(f"{run}/config.yaml")
    for group, key in (("model", "init_from"), ("model", "freeze"), ("optim", "head_lr_mult")):
        del config[group][key]
    OmegaConf.save(config, f"{run}/config.yaml")
    assert restore(find(run)).exp.model.freeze is None
    (tmp_path / "outputs" / "runs").joinpath(run.rsplit("/", 1)[1], "summary.json").unlink()
    with open(f"{run}/status.json", "w") as f:
        json.dump({"status": "running"}, f)
    exp, target = resume.prepare(run, ["trainer.epochs=2"], warn=lambda m: None)
    target.run.unlock()
    assert exp.optim.head_lr_mult == 1.0 and exp.trainer.epochs == 2
