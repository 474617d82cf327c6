"""The process's torch state: which device, seeds, and every RNG saved and restored with a run."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from dlx.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable device is a user's mistake (ConfigError, exit 2)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.device={name} but CUDA is not available here; use trainer.device=cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"trainer.device={name} but only {torch.cuda.device_count()} GPU(s) exist")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("trainer.device=mps but MPS is not available here; use trainer.device=cpu")
    return torch.device(name)


# below this many parameters a second intra-op thread buys little and costs a partner to wait for:
# MLPs on digits, whole `dlx train` processes on an idle 2-core machine, 2 threads against 1 (medians
# of 5-7 interleaved pairs): 51k parameters (the default) 0.99-1.06x the time, 101k 1.10x, 167k
# 0.96-0.97x, 600k 0.87x. The worker of trainer.loggers=[mlflow] makes a second thread costlier still.
SMALL_MODEL = 100_000
_auto = {"cap": None, "set": None}  # what `auto` last chose, and under which cap (workers lower the cap)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine_load() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return 0.0


def choose_threads(params: int, cores: int, load: float, cap: int) -> tuple[int, str]:
    """`trainer.num_threads=auto`: how many intra-op threads, and why (one line).

    Torch's intra-op threads wait for each other at every operation; when another process
    holds the core a partner needs, the whole step waits for the scheduler (5-15x slower on a
    busy machine). So: one thread for a small model, else the cores the load leaves free,
    never more than `cap` (a sweep worker's or a data-parallel rank's share).
    """
    free = max(1, int(cores - load + 0.5))
    if params < SMALL_MODEL:
        n, why = 1, f"a small model ({params:,} parameters)"
    elif free < cores:
        n, why = free, f"load {load:.1f} on {cores} core(s)"
    else:
        n, why = cores, f"{cores} free core(s)"
    n = max(1, min(n, cap))
    if n < cap and cap < cores:
        why += f", a share of {cap}"
    return n, f"threads: {n} (trainer.num_threads=auto: {why}; set trainer.num_threads=N to choose)"


def apply_threads(setting, params: int | None = None) -> str | None:
    """Set torch's intra-op threads from trainer.num_threads; return the note for log.txt.

    An int > 0 is taken as is; 0 keeps torch's default; `auto` decides once the model's size
    (`params`) is known and does nothing before.
    """
    if setting == "auto":
        if params is None:
            return None
        current = torch.get_num_threads()
        # a worker or rank lowered the count before the run: that is the cap, unless it is
        # what `auto` itself chose for an earlier run in this process
        cap = _auto["cap"] if _auto["set"] == current and _auto["cap"] else current
        n, note = choose_threads(params, usable_cores(), machine_load(), cap)
        torch.set_num_threads(n)
        _auto.update(cap=cap, set=n)
        return note
    if setting:
        torch.set_num_threads(int(setting))
    return None


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict:
    """Every global RNG, in types `torch.load(weights_only=True)` accepts (no ndarrays). The two
    Mersenne Twister keys (624 words each) are int64 tensors: one object each for the checkpoint
    writer to serialise, not 1,250 Python ints (most of what a small model's last.pt cost)."""
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = torch.from_numpy(np_state["state"]["key"].astype(np.int64))
    version, key, gauss = random.getstate()
    state = {"python": {"version": version, "key": torch.tensor(key, dtype=torch.int64), "gauss": gauss},
             "numpy": np_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore `rng_state()`'s RNGs (also from older checkpoints, which kept the keys as lists)."""
    py = state["python"]
    if isinstance(py, dict):
        py = (py["version"], tuple(py["key"].tolist()), py["gauss"])
    random.setstate(py)
    np_state = {**state["numpy"], "state": dict(state["numpy"]["state"])}
    key = np_state["state"]["key"]
    np_state["state"]["key"] = np.asarray(key.numpy() if isinstance(key, torch.Tensor) else key, dtype=np.uint32)
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
