"""`trainer.watch=grads|weights|activations|all`: what happens inside the network, per layer.

A trainer callback, added only when asked for (nothing is hooked when watch=none). Per
layer and epoch it records, in long format (epoch, layer, stat, value) for `layers.csv`:

    grads        grad_norm        L2 norm of the weight gradient, mean over the epoch's (sampled) steps
                 update_ratio     ||ΔW|| / ||W|| of the epoch's first optimizer step (~1e-3 is healthy)
    weights      weight_norm      L2 norm of the weight at the epoch's end
    activations  act_mean, act_std  of the activation's outputs over the epoch's training batches
                 dead_frac        ReLU-like units never positive over the epoch
                 saturated_frac   sigmoid/tanh outputs within 0.05 of their bounds

A layer is a module that holds a weight (Linear, Conv, recurrent); an activation is a
module of a known activation class. Gradients and activations are sampled on every 4th
training step of the epoch (the first always): the means are over those steps, and a dead
unit is one never positive in those batches. Sums stay on the device during the epoch (no
sync per step); they are read once at its end. All of it keeps watch=all under 15 % of an
epoch of the default MLP (benchmarks/watch_overhead.py). One warning line, once per run, when the first
layer's gradient is under 1e-3 of the last one's (vanishing) or a gradient norm grows
1000-fold over the run or passes 1e3 (exploding).
"""

from __future__ import annotations

import logging
import math
from typing import Optional

import torch
from torch import nn

from dlx.engine.callbacks import Callback

log = logging.getLogger(__name__)

VANISHING, EXPLODING = 1e-3, 1e3
REMEDIES = ("try model.activation=relu, batch norm (model.norm=batch), residual connections (model=resnet), "
            "model.init=kaiming_normal or regularizer.clip_grad_norm=1.0")
RELU_LIKE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU)
BOUNDED = {nn.Sigmoid: (0.0, 1.0), nn.Tanh: (-1.0, 1.0)}
SATURATION = 0.05
STRIDE = 4  # sample every 4th training step


def watched(what: str) -> set[str]:
    """trainer.watch -> the set of parts watched ('grads', 'weights', 'activations')."""
    return {"grads", "weights", "activations"} if what == "all" else ({what} - {"none"})


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) of every layer that holds a trainable weight of 2 or more dimensions."""
    out = []
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, nn.Parameter) and weight.requires_grad and weight.dim() >= 2:
            out.append((name or type(module).__name__, weight))
        elif isinstance(module, nn.RNNBase):
            out.append((name, module.weight_ih_l0))
    return out


class ActivationStats:
    """Running sums of one activation module's training outputs, on the device."""

    def __init__(self, module: nn.Module, watch: "LayerWatch"):
        self.watch = watch
        self.relu = isinstance(module, RELU_LIKE)
        self.bounds = next((b for cls, b in BOUNDED.items() if isinstance(module, cls)), None)
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.total = self.squares = self.saturated = None
        self.alive = None

    def __call__(self, module, _inputs, out) -> None:
        if self.watch.tick % STRIDE or not module.training or not isinstance(out, torch.Tensor):
            return
        with torch.no_grad():
            o = out.detach()
            o = o if o.dtype == torch.float32 else o.float()
            s, q = o.sum(), (o * o).sum()
            self.total = s if self.total is None else self.total + s
            self.squares = q if self.squares is None else self.squares + q
            if self.relu:
                pos = (o > 0).flatten(1).any(0) if o.dim() > 1 else (o > 0)
                self.alive = pos if self.alive is None else self.alive | pos
            elif self.bounds is not None:
                lo, hi = self.bounds
                sat = ((o < lo + SATURATION) | (o > hi - SATURATION)).sum()
                self.saturated = sat if self.saturated is None else self.saturated + sat
            self.n += o.numel()

    def stats(self) -> dict[str, float]:
        if not self.n:
            return {}
        mean = float(self.total) / self.n
        var = max(float(self.squares) / self.n - mean * mean, 0.0)
        out = {"act_mean": mean, "act_std": math.sqrt(var)}
        if self.alive is not None:
            out["dead_frac"] = 1.0 - float(self.alive.float().mean())
        if self.saturated is not None:
            out["saturated_frac"] = float(self.saturated) / self.n
        return out


def histogram_writer(trainer):
    """The open TensorBoard writer of one of the trainer's callbacks (engine.tensorboard's logger), or
    None. Found by what it does, not by its class: the engine does not import report/."""
    for callback in trainer.callbacks.items:
        writer = getattr(callback, "writer", None)
        if writer is not None and hasattr(writer, "add_histogram"):
            return writer
    return None


class LayerWatch(Callback):
    """Per-layer statistics each epoch (see the module docstring), kept in `rows`."""

    def __init__(self, what: str):
        self.parts = watched(what)
        self.rows: list[dict] = []
        self.warned: list[str] = []
        self.first_grads: dict[str, float] = {}
        self.handles: list = []
        self.run_dir = None

    # ------------------------------------------------------------ hooks into the model and optimizers

    def on_fit_start(self, trainer, ctx) -> None:
        self.run_dir = ctx.run_dir
        self.layers = weighted_layers(trainer.model)
        self.acts: dict[str, ActivationStats] = {}
        if "activations" in self.parts:
            for name, module in trainer.model.named_modules():
                if isinstance(module, RELU_LIKE + tuple(BOUNDED)):
                    self.acts[name] = ActivationStats(module, self)
                    self.handles.append(module.register_forward_hook(self.acts[name]))
        for optimizer in trainer.task.optimizers.values():  # the post-hook counts steps for sampling
            if "grads" in self.parts:
                self.handles.append(optimizer.register_step_pre_hook(self._before_step))
            self.handles.append(optimizer.register_step_post_hook(self._after_step))
        self._reset()

    def _reset(self) -> None:
        self.grad_sum = None
        self.steps = 0  # sampled steps
        self.tick = 0  # optimizer steps this epoch
        self.before: Optional[list[torch.Tensor]] = None
        self.ratio: Optional[torch.Tensor] = None
        for stats in getattr(self, "acts", {}).values():
            stats.reset()

    def _before_step(self, optimizer, *_args) -> None:
        if self.tick % STRIDE:
            return
        grads = [w.grad if w.grad is not None else torch.zeros_like(w) for _, w in self.layers]
        with torch.no_grad():
            norms = torch.stack(torch._foreach_norm(grads))
            self.grad_sum = norms if self.grad_sum is None else self.grad_sum + norms
            if self.steps == 0 and self.ratio is None:
                self.before = [w.detach().clone() for _, w in self.layers]
        self.steps += 1

    def _after_step(self, optimizer, *_args) -> None:
        self.tick += 1
        if self.before is None:
            return
        with torch.no_grad():
            weights = [w.detach() for _, w in self.layers]
            change = torch.stack(torch._foreach_norm(torch._foreach_sub(weights, self.before)))
            self.ratio = change / torch.stack(torch._foreach_norm(self.before)).clamp_min(1e-12)
        self.before = None

    # ------------------------------------------------------------ per epoch

    def on_epoch_start(self, trainer, epoch: int) -> None:
        self._reset()

    def on_epoch_end(self, trainer, row: dict) -> None:
        epoch = row["epoch"]
        found = self.epoch_stats()
        self.rows += [{"epoch": epoch, "layer": layer, "stat": stat, "value": value}
                      for layer, stats in found.items() for stat, value in stats.items()]
        if self.run_dir is not None:
            self.run_dir.write_layers(self.rows)
        self._histograms(trainer, epoch)
        self._check_gradients(found, epoch)

    def epoch_stats(self) -> dict[str, dict[str, float]]:
        """{layer: {stat: value}} for the epoch just trained."""
        found: dict[str, dict[str, float]] = {}
        names = [name for name, _ in self.layers]
        if "grads" in self.parts and self.grad_sum is not None:
            for name, value in zip(names, (self.grad_sum / max(self.steps, 1)).tolist()):
                found.setdefault(name, {})["grad_norm"] = value
            if self.ratio is not None:
                for name, value in zip(names, self.ratio.tolist()):
                    found[name]["update_ratio"] = value
        if "weights" in self.parts:
            with torch.no_grad():
                norms = torch.stack(torch._foreach_norm([w.detach() for _, w in self.layers])).tolist()
            for name, value in zip(names, norms):
                found.setdefault(name, {})["weight_norm"] = value
        for name, stats in getattr(self, "acts", {}).items():
            if stats.stats():
                found.setdefault(name, {}).update(stats.stats())
        return found

    def _check_gradients(self, found: dict, epoch: int) -> None:
        grads = [(name, s["grad_norm"]) for name, s in found.items() if "grad_norm" in s]
        if len(grads) < 2:
            return
        for name, value in grads:
            self.first_grads.setdefault(name, value)
        (first, g_first), (last, g_last) = grads[0], grads[-1]
        if g_last > 0 and g_first / g_last < VANISHING and "vanishing" not in self.warned:
            self._say("vanishing", f"vanishing gradients at epoch {epoch}: the first layer's gradient norm "
                                   f"({first}: {g_first:.2e}) is {g_first / g_last:.1e} of the last layer's "
                                   f"({last}: {g_last:.2e}) — {REMEDIES}")
        grown = [(n, v / self.first_grads[n]) for n, v in grads if self.first_grads[n] > 0]
        worst = max(grown, key=lambda t: t[1], default=(None, 0.0))
        big = max(grads, key=lambda t: t[1])
        if (worst[1] > EXPLODING or big[1] > EXPLODING or not math.isfinite(big[1])) \
                and "exploding" not in self.warned:
            self._say("exploding", f"exploding gradients at epoch {epoch}: {big[0]}'s gradient norm is "
                                   f"{big[1]:.2e} ({worst[1]:.0f}x its first epoch's) — {REMEDIES}")

    def _say(self, kind: str, message: str) -> None:
        self.warned.append(kind)
        if self.run_dir is not None:
            self.run_dir.log(f"warning: {message}")
        log.warning(message)

    def _histograms(self, trainer, epoch: int) -> None:
        """Weights (and gradients, when watched) as TensorBoard histograms, when TensorBoard is on."""
        writer = histogram_writer(trainer)
        if writer is None:
            return
        for name, weight in self.layers:
            writer.add_histogram(f"weights/{name}", weight.detach().float().cpu(), epoch)
            if "grads" in self.parts and weight.grad is not None:
                writer.add_histogram(f"grads/{name}", weight.grad.detach().float().cpu(), epoch)

    def on_fit_end(self, trainer, summary) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    # ------------------------------------------------------------ resume

    def state_dict(self) -> dict:
        return {"rows": self.rows, "warned": self.warned, "first_grads": self.first_grads}

    def load_state_dict(self, state: dict) -> None:
        self.rows, self.warned = list(state["rows"]), list(state["warned"])
        self.first_grads = dict(state["first_grads"])
