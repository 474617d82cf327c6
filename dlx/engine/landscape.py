"""Optimizer paths on 2-D test functions (issue 19): the pictures optimisation lectures draw.

Each function is closed-form torch arithmetic of (x, y) and registers with its default start,
its global minimum value and the box a picture shows. `optimizer_paths` runs every optimizer,
built by `dlx.optim.optimizers.build_optimizer` exactly as training builds it, from the same
start, and records every step. `run_slice` computes a trained run's loss slice (`engine/slices.py`).
Both return data: `dlx.cli.landscape` draws them (report/landscape.py) and writes the files.

Nothing here imports torch at module level: `FUNCTIONS` can be listed and checked cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path as FilePath  # `Path` below is an optimizer's path

from dlx import config
from dlx.engine.slices import SliceResult, best_checkpoint, loss_slice
from dlx.errors import ConfigError
from dlx.registry import Registry
from dlx.store.runs import find_run

FUNCTIONS = Registry("function")


@FUNCTIONS.register("rosenbrock", start=(-1.2, 1.0), minimum=0.0, box=(-2.0, 2.0, -1.0, 3.0),
                    formula="(1 − x)² + 100 (y − x²)²: a curved valley, minimum 0 at (1, 1)")
def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


@FUNCTIONS.register("beale", start=(1.0, 1.5), minimum=0.0, box=(-1.0, 4.0, -1.5, 2.0),
                    formula="(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²: plateaus and "
                            "sharp ridges, minimum 0 at (3, 0.5)")
def beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


@FUNCTIONS.register("saddle", start=(1.5, 1e-3), minimum=-0.25, box=(-2.0, 2.0, -1.6, 1.6),
                    formula="x² + y⁴/4 − y²/2: a saddle at the origin, minima −1/4 at (0, ±1); the start "
                            "lies just off the saddle's attracting line")
def saddle(x, y):
    return x**2 + y**4 / 4 - y**2 / 2


@FUNCTIONS.register("ravine", start=(-8.0, 1.0), minimum=0.0, box=(-9.0, 9.0, -2.5, 2.5),
                    formula="0.05 x² + 2 y²: a quadratic 40 times steeper across than along, minimum 0 at (0, 0)")
def ravine(x, y):
    return 0.05 * x**2 + 2 * y**2


@FUNCTIONS.register("himmelblau", start=(0.0, 0.0), minimum=0.0, box=(-5.0, 5.0, -5.0, 5.0),
                    formula="(x² + y − 11)² + (x + y² − 7)²: four minima of value 0, e.g. (3, 2)")
def himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


@dataclass
class Path:
    """One optimizer's path: points[i] = (x, y, f) after i steps (row 0 is the start)."""

    optimizer: str
    lr: float
    points: list[tuple[float, float, float]] = field(default_factory=list)
    diverged: bool = False

    def steps_to(self, target: float) -> int | None:
        """The first step whose value is within the tolerance of the minimum (None: never)."""
        return next((i for i, (_, _, f) in enumerate(self.points) if f <= target), None)


@dataclass
class PathsResult:
    function: str
    start: tuple[float, float]
    steps: int
    tol: float
    minimum: float
    paths: list[Path]

    def rows(self) -> list[dict]:
        """A table row per optimizer: final point and value, gap to the minimum, steps to the tolerance."""
        out = []
        for p in self.paths:
            x, y, f = p.points[-1]
            out.append({"optimizer": p.optimizer, "lr": p.lr, "final_x": x, "final_y": y, "final_value": f,
                        "gap": f - self.minimum, "steps_to_tol": p.steps_to(self.minimum + self.tol),
                        "diverged": p.diverged})
        return out


def parse_start(text: str) -> tuple[float, float]:
    """`--start x,y` -> (x, y); anything but two finite numbers is a ConfigError."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"--start takes a 2-D point as two numbers x,y (e.g. --start=-1.5,2), got '{text}'")
    return values


def check_function(name: str):
    """The registry entry of test function `name` (did-you-mean error otherwise)."""
    return FUNCTIONS.get(name)


def optimizer_paths(function: str, optimizers: list, start: tuple[float, float] | None, steps: int,
                    tol: float) -> PathsResult:
    """Run each optimizer config in `optimizers` for `steps` steps on `function` from `start`."""
    entry = check_function(function)
    start = tuple(start) if start is not None else entry.meta["start"]
    paths = [follow(entry.builder, cfg, start, steps) for cfg in optimizers]
    return PathsResult(function, start, steps, tol, entry.meta["minimum"], paths)


def follow(fn, cfg, start: tuple[float, float], steps: int) -> Path:
    """The path of one optimizer: `steps` steps of `build_optimizer(cfg)` on a 2-vector."""
    import torch

    from dlx.optim.optimizers import build_optimizer  # imports torch: kept off `FUNCTIONS`'s cheap listing

    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)  # double: paths stay exact to 1e-12
    optimizer = build_optimizer(cfg, [point])

    def closure():  # every torch optimizer accepts one; L-BFGS needs it
        optimizer.zero_grad(set_to_none=True)
        value = fn(point[0], point[1])
        value.backward()
        return value

    path = Path(cfg.name, cfg.lr)
    with torch.no_grad():
        path.points.append((*point.tolist(), float(fn(point[0], point[1]))))
    for _ in range(steps):
        optimizer.step(closure)
        with torch.no_grad():
            x, y = point.tolist()
            value = float(fn(point[0], point[1]))
        if not all(math.isfinite(v) for v in (x, y, value)) or max(abs(x), abs(y)) > 1e6:
            path.diverged = True  # nothing past here is worth drawing
            break
        path.points.append((x, y, value))
    return path


def paths_csv(result: PathsResult) -> str:
    """Every step of every optimizer: optimizer,lr,step,x,y,value."""
    lines = ["optimizer,lr,step,x,y,value"]
    for p in result.paths:
        lines += [f"{p.optimizer},{p.lr!r},{i},{x!r},{y!r},{f!r}" for i, (x, y, f) in enumerate(p.points)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the command's arguments

DEFAULT_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam")


def plan_paths(arguments: list[str]) -> tuple[str, list]:
    """`fn=NAME optim=a,b optim.lr=0.01` -> (function name, one validated optim config per optimizer).

    Each optimizer's config is its preset (conf/optim/NAME.yaml) with the `optim.*` overrides,
    validated by its schema as `dlx train` does: the same builders, the same checks.
    """
    function, names, keys = "rosenbrock", list(DEFAULT_OPTIMIZERS), []
    for arg in arguments:
        key, eq, value = arg.partition("=")
        if key == "fn" and eq:
            function = value
        elif key == "optim" and eq:
            names = [n.strip() for n in value.split(",") if n.strip()]
        elif key.startswith("optim.") and eq:
            keys.append(arg)
        else:
            raise ConfigError(f"unknown argument '{arg}': dlx landscape takes fn=NAME, optim=a,b,... and "
                              "optim.KEY=VALUE (e.g. optim.lr=0.01); a run's slice needs --slice 1d|2d")
    check_function(function)
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"optim={','.join(names)}: name each optimizer once, e.g. optim=sgd,momentum,adam")
    return function, [config.load([f"optim={name}", *keys]).optim for name in names]


def run_slice(root, ref: str, dims: int, points: int, span: float, seed: int) -> SliceResult:
    """The loss slice of run `ref` (an id under `root`, or a run folder): the caller draws and saves it."""
    path = FilePath(ref) if (FilePath(ref) / "checkpoints").is_dir() else find_run(FilePath(root), ref)
    best_checkpoint(path)  # before any work: a clear error for a run without one
    return loss_slice(path, dims, points, span, seed)
