"""Transfer learning: start from a trained network, freeze part of it, give the head its own rate
(used by dlx.engine.parts for every task; the keys' schema mixin `TransferKeys` lives in
dlx.models.transfer_schema).

    dlx train model.init_from=RUN model.freeze=backbone optim.head_lr_mult=10 data=...

`init_from` loads every tensor whose name and shape match (a run's best.pt, a dlx checkpoint,
or a torchvision ResNet state dict saved as `.pth`) and leaves the rest as initialised: with
another number of classes the output layer does not match and stays new. `freeze` stops
gradients to the named parameters; they are left out of the optimizer (no state, no weight
decay) and stay bit-identical. The *head* is the output layer (the model's last Linear:
resnet's `head.2` = torchvision's `fc`); the *backbone* is everything else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from dlx.errors import ConfigError, first_line

def head_names(model) -> set[str]:
    """Parameter names of the output layer: the model's last Linear (registration order), which
    maps the features to the outputs in every dlx model (mlp, cnn, resnet, rnn, transformer)."""
    from torch import nn

    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    return {f"{last}.{n}" for n, _ in model.get_submodule(last).named_parameters()} if last else set()


# torchvision's ResNet names -> dlx's (models/resnet.py builds the same blocks)
TORCHVISION_RESNET = [(r"^conv1\.", "stem.0."), (r"^bn1\.", "stem.1."), (r"^fc\.", "head.2."),
                      (r"^layer(\d)\.", lambda m: f"stages.{int(m.group(1)) - 1}.")]


def rename_torchvision(weights: dict) -> dict:
    """A torchvision ResNet state dict (conv1, bn1, layer1..4, fc) under dlx's names."""
    if not any(k.startswith("layer1.") for k in weights) or "conv1.weight" not in weights:
        return weights
    renamed = {}
    for key, value in weights.items():
        for pattern, new in TORCHVISION_RESNET:
            key = re.sub(pattern, new, key)
        renamed[key] = value
    return renamed


def source_path(ref: str, output_dir: str) -> Path:
    """The checkpoint `model.init_from` names: a file, a run folder, or a run id in output_dir."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        best = path / "checkpoints" / "best.pt"
        if (path / "checkpoints" / "estimator.pt").is_file():  # model=knn, logistic, forest, ...
            raise ConfigError(f"model.init_from={ref}: that run is a fitted scikit-learn estimator; it has no "
                              "network weights to start from (give a run of model=mlp, cnn, resnet, ...)")
        if not best.is_file():
            raise ConfigError(f"model.init_from={ref}: {best} does not exist (did the run finish an epoch?)")
        return best
    from dlx.store.runs import find_run

    try:
        run = find_run(Path(output_dir), ref)
    except ConfigError as e:
        raise ConfigError(f"model.init_from={ref}: no such file or run folder, and {first_line(e, None)} "
                          f"(runs are looked up in output_dir={output_dir}, the new run's; give the "
                          "run's folder path, or its output_dir)") from None
    return source_path(str(run), output_dir)


def load_weights(path: Path) -> tuple[dict, Optional[list]]:
    """The tensors of a dlx checkpoint (its `model`) or of a plain state dict (.pth), and the
    classes the source was trained on (None when unknown)."""
    import torch

    from dlx.store.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    weights = state["model"] if isinstance(state.get("model"), dict) else state
    weights = {k.removeprefix("module."): v for k, v in weights.items() if isinstance(v, torch.Tensor)}
    if not weights:
        raise ConfigError(f"model.init_from: {path} holds no weights")
    meta = state.get("meta") if isinstance(state.get("meta"), dict) else {}
    return rename_torchvision(weights), meta.get("classes")


def init_from(model, ref: str, output_dir: str, classes: Optional[list] = None) -> str:
    """Copy every matching tensor into `model`; returns the line for log.txt.

    When the source was trained on other classes (other names, even as many), its output
    head means something else: the head is left new."""
    import torch

    path = source_path(ref, output_dir)
    weights, source_classes = load_weights(path)
    own = model.state_dict()
    if not any(k in own for k in weights):
        raise ConfigError(f"model.init_from={ref}: no tensor of {path.name} has a name this model uses "
                          f"(e.g. {next(iter(weights))} vs {next(iter(own))}); is it the same architecture?")
    other_classes = bool(classes) and source_classes is not None and list(source_classes) != list(classes)
    head = head_names(model) if other_classes else set()
    loaded = {k: v for k, v in weights.items() if k in own and k not in head and own[k].shape == v.shape}
    reshaped = sorted(k for k in weights if k in own and k not in head and own[k].shape != weights[k].shape)
    with torch.no_grad():
        for key, value in loaded.items():
            own[key].copy_(value)
    why = [f"{', '.join(reshaped[:4])}{', ...' if len(reshaped) > 4 else ''}: shape differs"] if reshaped else []
    why += ["the output layer: other classes"] if head & set(weights) else []
    fresh = len([k for k in own if k not in loaded])
    return (f"init_from {path}: loaded {len(loaded)} tensors, skipped {len(weights) - len(loaded)}"
            f"{' (' + '; '.join(why) + ')' if why else ''}; {fresh} of this model's tensors start fresh")


def freeze(model, spec) -> list[str]:
    """Stop gradients to the parameters `spec` names (backbone | prefixes); returns their names."""
    names = [n for n, _ in model.named_parameters()]
    if spec == "backbone":
        head = head_names(model)
        chosen = [n for n in names if n not in head]
    else:
        for prefix in spec:
            if not any(n == prefix or n.startswith(prefix + ".") for n in names):
                tops = sorted({n.split(".")[0] for n in names})
                raise ConfigError(f"model.freeze: no parameter starts with '{prefix}'; top-level names: "
                                  f"{', '.join(tops)}")
        chosen = [n for n in names if any(n == p or n.startswith(p + ".") for p in spec)]
    params = dict(model.named_parameters())
    for name in chosen:
        params[name].requires_grad_(False)
    keep_frozen_norms_still(model)
    return chosen


def keep_frozen_norms_still(model) -> None:
    """A BatchNorm whose weights are frozen keeps its running statistics too: it always runs
    in eval mode (the trainer's model.train() would otherwise update them every batch)."""
    from torch import nn

    def stay_in_eval(module, _inputs):
        module.train(False)

    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.register_forward_pre_hook(stay_in_eval)


def param_groups(model, lr: float, head_lr_mult: float):
    """The trainable parameters, with the head in its own group at lr × head_lr_mult."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("model.freeze leaves no parameter to train; freeze fewer (model.freeze=backbone "
                          "keeps the head trainable)")
    if head_lr_mult == 1.0:
        return [p for _, p in trainable]
    head = head_names(model)
    body = [p for n, p in trainable if n not in head]
    top = [p for n, p in trainable if n in head]
    groups = [{"params": body}] if body else []
    return groups + ([{"params": top, "lr": lr * head_lr_mult}] if top else [])


def prepare(exp, model, classes: Optional[list] = None):
    """The run path's hook: init_from, freeze, then the optimizer's parameters (a list or
    groups) and a note for log.txt (None when no transfer key is set)."""
    cfg = exp.model
    notes = []
    start, spec = getattr(cfg, "init_from", None), getattr(cfg, "freeze", None)
    mult = getattr(exp.optim, "head_lr_mult", 1.0)
    if start:
        notes.append(init_from(model, start, exp.output_dir, classes))
    if spec:
        frozen = freeze(model, spec)
        notes.append(f"froze {len(frozen)} parameter tensors ({spec if isinstance(spec, str) else ', '.join(spec)})")
    if mult != 1.0 and exp.optim.name == "lbfgs":
        raise ConfigError("optim.head_lr_mult needs one learning rate per parameter group; lbfgs has a single "
                          "group — use another optimizer or optim.head_lr_mult=1")
    params = param_groups(model, exp.optim.lr, mult) if (spec or mult != 1.0) else model.parameters()
    if mult != 1.0:
        notes.append(f"head learning rate: {exp.optim.lr * mult:g} (optim.head_lr_mult={mult:g})")
    return params, ("; ".join(notes) or None)
