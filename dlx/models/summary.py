"""A layer-by-layer account of a model (as torchinfo gives): output shapes and parameters.

Each row counts only the parameters a module holds itself (not its children's), so the
column sums to the exact total, and a module used twice (a shared activation) counts once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


@dataclass
class LayerRow:
    name: str  # dotted path, "" for the model itself
    kind: str  # class name
    depth: int
    output_shape: tuple | None  # with the batch dimension as "B"; None if never called
    params: int  # held by this module itself
    trainable: int
    recursive: int  # held by this module and everything inside it
    receptive_field: int | None = None  # input pixels (per side) one output unit sees; conv and pool layers


@dataclass
class ModelSummary:
    rows: list[LayerRow]
    total: int
    trainable: int
    input_shape: tuple


def shape_of(output) -> tuple | None:
    """The shape of a module's output; for a tuple (an RNN's (out, h)), its first tensor."""
    if isinstance(output, PackedSequence):  # an RNN over packed token sequences: (all real steps, features)
        return ("packed", *output.data.shape[1:])
    if isinstance(output, torch.Tensor):
        return ("B", *output.shape[1:])
    if isinstance(output, (tuple, list)) and output:
        return shape_of(output[0])
    return None


@torch.no_grad()
def summarize(model: nn.Module, input_shape: tuple[int, ...], batch: int = 2, example: tuple | None = None
              ) -> ModelSummary:
    """Run one zero batch (or the `example` arguments: token ids, a seq2seq model's source and
    target) through `model` (eval mode) and record every module's output shape."""
    shapes: dict[nn.Module, tuple | None] = {}  # in the order the modules ran

    def record(module, _inputs, output) -> None:  # a hook that returned a value would replace the output
        shapes.setdefault(module, shape_of(output))  # first call wins: a shared ReLU runs twice per block

    hooks = [m.register_forward_hook(record) for m in model.modules()]
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else "cpu"
        args = example if example is not None else (torch.zeros(batch, *input_shape),)
        model(*(a.to(device) for a in args))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    rows = []
    fields = receptive_fields(model, list(shapes))
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        rows.append(LayerRow(name, type(module).__name__, name.count(".") + 1 if name else 0, shapes.get(module),
                             sum(p.numel() for p in own), sum(p.numel() for p in own if p.requires_grad),
                             sum(p.numel() for p in module.parameters()), fields.get(module)))
    params = list(model.parameters())
    return ModelSummary(rows, sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
                        tuple(input_shape))


def receptive_fields(model: nn.Module, ran: list[nn.Module]) -> dict[nn.Module, int]:
    """{conv or pool module: its receptive field}, along the main path in the order the modules ran.

    r grows by (k_eff - 1) * j at each layer and the jump j (the distance in input pixels
    between neighbouring outputs) multiplies by the stride. A residual network's skip
    projections (`downsample`) are off the main path and are not counted.
    """
    skipped = {m for name, mod in model.named_modules() if name.endswith("downsample") for m in mod.modules()}
    field, jump, found = 1, 1, {}
    for module in ran:
        if module in skipped or not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            continue
        k, s, d = (_first(getattr(module, a, 1)) for a in ("kernel_size", "stride", "dilation"))
        field += (d * (k - 1) + 1 - 1) * jump
        jump *= s
        found[module] = field
    return found


def _first(value) -> int:
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def visible_rows(summary: ModelSummary, depth: int | None = None) -> list[tuple[LayerRow, int]]:
    """(row, parameters to show) down to `depth`; a row at the limit shows its whole subtree,
    so the column still sums to the total."""
    shown = []
    for row in summary.rows:
        if depth is not None and row.depth > depth:
            continue
        folded = depth is not None and row.depth == depth
        shown.append((row, row.recursive if folded else row.params))
    return shown


TOKEN_TASKS = ("seq2seq", "language", "tagging")  # models and data over token ids (issue 16)


def default_data(name: str, overrides: list[str]) -> list[str]:
    """`data=NAME` for a model that trains on one kind of data only (seq2seq: data=copy), when the
    overrides choose no data: the first generated dataset of that kind. Else nothing."""
    from dlx.registry import DATASETS, MODELS

    kind = MODELS.get(name).meta.get("task") if name in MODELS else None
    if kind not in TOKEN_TASKS or any(o.split("=", 1)[0].lstrip("+~") == "data" for o in overrides):
        return []
    for entry in DATASETS.entries():
        if entry.meta.get("task") == kind and entry.meta.get("size") != "a file":
            return [f"data={entry.name}"]
    return []
