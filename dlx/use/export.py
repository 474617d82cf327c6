"""`dlx export`: one self-contained file that takes raw features and returns probabilities
(classification) or values in the target's units (regression).

The preprocessing fitted on the training rows is the first layer, the probabilities (softmax,
or a sigmoid for one binary logit) or the target's unscaling the last, so the file needs plain
torch (TorchScript) or onnxruntime (ONNX) and nothing of dlx. CSV runs take the encoded
columns (the checkpoint's `encoding.columns`, one-hot categories included); image_folder runs
take (B, C, H, W) pixel values 0..255 at the training size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from dlx.errors import ConfigError

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}


def scaling(restored) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(shift, scale, symmetric): the model's input is (x - shift) / scale (then ×2 - 1)."""
    from dlx.data.preprocess import safe_scale

    prep, shape = restored.preprocess, tuple(restored.meta.input_shape)
    mode = prep.get("mode", "none")
    zero, one = torch.zeros(shape), torch.ones(shape)
    if restored.exp.data.name == "image_folder" and mode != "none":  # ÷255, then per-channel standardise
        c = shape[0]
        mean = prep["mean"].view(c, 1, 1) if mode == "standardize" else torch.zeros(c, 1, 1)
        std = prep["std"].view(c, 1, 1) if mode == "standardize" else torch.ones(c, 1, 1)
        return (mean * 255.0).expand(shape).clone(), (std * 255.0).expand(shape).clone(), False
    if mode == "none":
        return zero, one, False
    if mode == "pixels":
        return zero, one * 255.0, False
    if mode == "center":
        return prep["mean"], one, False
    if mode == "standardize":
        return prep["mean"], safe_scale(prep["std"]), False
    return prep["min"], safe_scale(prep["max"] - prep["min"]), mode == "minmax_sym"


class Deployed(nn.Module):
    """raw inputs -> (x - shift) / scale -> model -> probabilities | values."""

    def __init__(self, restored):
        super().__init__()
        shift, scale, symmetric = scaling(restored)
        self.register_buffer("shift", shift.float().clone())
        self.register_buffer("scale", scale.float().clone())
        self.symmetric = symmetric
        self.model = restored.model
        self.kind = restored.kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.shift) / self.scale
        if self.symmetric:
            x = x * 2 - 1
        out = self.model(x)
        if self.kind == "regression":  # in y's units already (data.scale_target is inside the model)
            return out
        if out.shape[1] == 1:
            p = torch.sigmoid(out)
            return torch.cat([1 - p, p], dim=1)
        return torch.softmax(out, dim=1)


def example_input(restored, n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, *restored.meta.input_shape, generator=g) * 4


def to_torchscript(module: nn.Module, example: torch.Tensor) -> bytes:
    import io
    import warnings

    with warnings.catch_warnings():  # tracer warnings about Python ints: checked right below
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)  # deprecated in favour of torch.export, which plain torch cannot load alone
    other = torch.cat([example, example[:1]])  # another batch size must work too
    if not torch.allclose(traced(other), module(other), atol=1e-6, rtol=1e-5):
        raise ConfigError("this model cannot be exported to TorchScript: its traced graph depends on the batch "
                          "size; use --format onnx")
    return buffer.getvalue()


def to_onnx(module: nn.Module, example: torch.Tensor) -> bytes:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ConfigError("--format onnx needs the onnx extra: pip install 'dlx[onnx]'") from None
    import contextlib
    import io
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False, opset_version=17)
    return buffer.getvalue()


def export(run: str, fmt: str, output: Optional[str] = None, output_dir: str = "outputs",
           checkpoint: str = "best") -> dict:
    """Write the run's model as `fmt` (torchscript | onnx); returns {path, format, input_shape}."""
    from dlx.use.restore import find, restore

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose torchscript or onnx")
    path = find(run, output_dir)
    restored = restore(path, checkpoint)
    restored.problem.exportable(restored)  # the Task refuses in its own words (token sequences)
    target = Path(output) if output else path / f"model{FORMATS[fmt]}"
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {target}: folder {target.parent} does not exist")
    own = restored.problem.export_module()  # an agent's policy: observation in, logits / action mean out
    module = (own if own is not None else Deployed(restored)).eval()
    try:
        with torch.no_grad():
            blob = (to_torchscript if fmt == "torchscript" else to_onnx)(module, example_input(restored))
    except (RuntimeError, TypeError, ValueError) as e:
        raise ConfigError(f"model '{restored.exp.model.name}' cannot be exported to {fmt}: "
                          f"{(str(e).strip().splitlines() or [type(e).__name__])[0][:160]}") from None
    from dlx.store.files import atomic_write

    atomic_write(target, lambda f: f.write(blob), binary=True, sync=True)
    return {"path": str(target), "format": fmt, "run_id": restored.run_id, "task": restored.kind,
            "input_shape": restored.meta.input_shape, "classes": restored.classes,
            "columns": (restored.preprocess.get("encoding") or {}).get("columns")}
