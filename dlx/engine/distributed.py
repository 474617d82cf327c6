"""Data-parallel training on torch.distributed: one process per device, rank 0 owns the run store.

    dlx train trainer.devices=2 ...                 dlx starts the processes (torch's elastic launcher)
    torchrun --nproc-per-node 4 -m dlx train ...    or a launcher does; dlx reads RANK, WORLD_SIZE, LOCAL_RANK

Every rank builds the same model from the same seed and draws the same permutation of the
training split each epoch; it trains on its share of each global batch (`trainer.batch_size`
stays the global batch) and DistributedDataParallel averages the gradients, each rank's
weighted by its share of the batch (a batch of 17 is 9 + 8), so N processes take the steps
one process takes with the whole batch. Training metrics are summed over the
ranks before they are computed; validation and test run whole on every rank (the same weights
and data give every rank the same figures). Only rank 0 writes `outputs/`; checkpoints hold the
unwrapped model, so a run trained on N processes resumes on M.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dlx import parallel
from dlx.engine.shares import Share, batch_samples, weighted_mean
from dlx.errors import ConfigError, RunError

BACKENDS = ("auto", "gloo", "nccl")
RUN_FILE_ENV = "DLX_LAUNCH_RUN_FILE"  # dlx's launcher: where rank 0 writes its run folder
PARENT_ENV = "DLX_LAUNCH_PARENT"  # dlx's launcher: its pid, which every rank follows


@dataclass(frozen=True)
class Rank:
    """This process's place in a data-parallel run."""

    rank: int
    world: int
    local: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Optional[Rank]:
    """The rank a launcher (torchrun, dlx's own, a cluster's) gave this process; None alone."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1 or "RANK" not in os.environ:
        return None
    return Rank(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0") or 0))


def is_main_process() -> bool:
    rank = from_env()
    return rank is None or rank.is_main


def should_launch(trainer) -> bool:
    """`trainer.devices=N` outside any launcher: dlx starts the N processes itself."""
    return trainer.devices > 1 and "RANK" not in os.environ


def check(trainer) -> None:
    """Mistakes in trainer.devices/backend/device, told before any process starts."""
    import torch

    device = trainer.device
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if trainer.backend == "nccl" and not (cuda and torch.cuda.is_available()):
        raise ConfigError("trainer.backend=nccl needs CUDA GPUs and trainer.device=cuda; on CPUs use "
                          "trainer.backend=gloo (or auto)")
    if trainer.devices > 1 and device.startswith("cuda:"):
        raise ConfigError(f"trainer.device={device} names one GPU but trainer.devices={trainer.devices}; "
                          "give trainer.device=cuda (rank r uses cuda:r)")
    if trainer.sync_bn and not cuda:
        raise ConfigError("trainer.sync_bn=true needs CUDA GPUs (PyTorch's SyncBatchNorm runs on GPUs only); "
                          "on CPUs leave trainer.sync_bn=false")
    if trainer.devices > 1 and device == "mps":
        raise ConfigError("trainer.devices > 1 is not supported on mps; use trainer.devices=1")
    if cuda and torch.cuda.is_available() and trainer.devices > torch.cuda.device_count():
        raise ConfigError(f"trainer.devices={trainer.devices} but only {torch.cuda.device_count()} GPU(s) "
                          f"are present; use trainer.devices={torch.cuda.device_count()} or fewer")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={device} but CUDA is not available here; use trainer.device=cpu")
    if not cuda:
        check_cores(trainer.devices)


OVERSUBSCRIBE_ENV = "DLX_ALLOW_OVERSUBSCRIBE"  # =1: more CPU ranks than cores, when that is meant


def check_cores(devices: int) -> None:
    """CPU ranks (gloo) beyond the usable cores only share them, each a whole process and its
    memory: refused before any starts, unless DLX_ALLOW_OVERSUBSCRIBE=1 says it is meant."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if devices > cores and os.environ.get(OVERSUBSCRIBE_ENV) != "1":
        raise ConfigError(f"trainer.devices={devices} but only {cores} CPU core(s) are usable here: that many "
                          f"processes would share them; use trainer.devices={cores} or fewer (or set "
                          f"{OVERSUBSCRIBE_ENV}=1 to start them anyway)")


# ---------------------------------------------------------------- inside each rank


def start(trainer, device):
    """(Rank, device) for this process: joins the process group when launched as one of several.

    Alone: (None, device) untouched. A rank on CUDA takes cuda:LOCAL_RANK; on CPU, ranks
    share the cores (each takes cores / local ranks threads unless trainer.num_threads says).
    """
    import torch
    import torch.distributed as dist

    rank = from_env()
    if rank is None:
        return None, device
    if os.environ.get(PARENT_ENV, "").isdigit():  # started by dlx's launcher: end with it (kill -9 too)
        parallel.die_with_parent(int(os.environ[PARENT_ENV]))
    check(trainer)
    if device.type == "cuda":
        device = torch.device("cuda", rank.local)
        torch.cuda.set_device(device)
    elif trainer.num_threads in (0, "auto"):
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", rank.world) or rank.world)
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // local_world))
    backend = trainer.backend if trainer.backend != "auto" else ("nccl" if device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
        import atexit

        atexit.register(stop)
    return rank, device


def stop() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model, trainer, rank: Optional[Rank], device):
    """The model the trainer steps: channels_last, SyncBatchNorm, compiled, DDP — as asked.

    Every change keeps the parameter objects the optimizer already holds, and the state dict
    keys of the plain model (no `module.` or `_orig_mod.` prefixes in checkpoints).
    """
    import torch

    if trainer.precision == "16" and device.type != "cuda":
        raise ConfigError(f"trainer.precision=16 needs a CUDA GPU (fp16 training needs its gradient scaler); "
                          f"on {device.type} use trainer.precision=bf16")
    if trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
        model.register_forward_pre_hook(_channels_last_input)
    if rank is not None and trainer.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if trainer.compile:
        model.compile()  # in place: the state dict keeps its keys
    if rank is None:
        return model
    return DataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _channels_last_input(module, args):
    x = args[0]
    if getattr(x, "dim", lambda: 0)() == 4:
        import torch

        return (x.contiguous(memory_format=torch.channels_last), *args[1:])
    return None


def _data_parallel_class():
    from torch.nn.parallel import DistributedDataParallel

    class _DataParallel(DistributedDataParallel):
        """DDP whose state dict is the wrapped model's (checkpoints load with or without DDP), and
        whose gradients are weighted by each rank's share of the global batch (`weighted_mean`)."""

        def __init__(self, module, **kwargs):
            super().__init__(module, **kwargs)
            self.share = Share()
            self.register_comm_hook(self.share, weighted_mean)

        def forward(self, *inputs, **kwargs):
            self.share.samples = batch_samples(inputs, kwargs)
            return super().forward(*inputs, **kwargs)

        def state_dict(self, *args, **kwargs):
            return self.module.state_dict(*args, **kwargs)

        def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
            return self.module.load_state_dict(state_dict, strict=strict, assign=assign)

    return _DataParallel


def DataParallel(model, **kwargs):  # noqa: N802  (a class, built on first use: torch stays lazy)
    return _data_parallel_class()(model, **kwargs)


def shard(rank: Optional[Rank]) -> tuple[int, int]:
    """(rank, world) for the data loaders; (0, 1) alone."""
    return (rank.rank, rank.world) if rank is not None else (0, 1)


SUMMED = ("n", "loss_sum", "correct", "correct5")  # the counters of dlx.metrics' accumulators


def sum_metrics(acc) -> None:
    """Sum a rank's metric accumulator over all ranks, in place, with one all-reduce.

    Afterwards every rank's `compute()` gives what one process gets from the whole epoch.
    """
    import torch
    import torch.distributed as dist

    names = [n for n in SUMMED if isinstance(getattr(acc, n, None), (int, float))]
    sums = getattr(acc, "sums", None)
    values = [float(getattr(acc, n)) for n in names] + (sums.double().tolist() if sums is not None else [])
    terms = sorted(getattr(acc, "terms", {}))  # extra loss terms (the penalty): sums and batch counts
    values += [acc.terms[k] for k in terms] + [float(acc.term_batches[k]) for k in terms]
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    packed = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(packed)
    total = packed.tolist()
    for i, n in enumerate(names):
        setattr(acc, n, type(getattr(acc, n))(round(total[i]) if isinstance(getattr(acc, n), int) else total[i]))
    width = len(sums) if sums is not None else 0
    if sums is not None:
        acc.sums = torch.tensor(total[len(names):len(names) + width], dtype=sums.dtype, device=sums.device)
    rest = total[len(names) + width:]
    for i, k in enumerate(terms):
        acc.terms[k], acc.term_batches[k] = rest[i], round(rest[len(terms) + i])
    for kept in ("scores", "targets"):  # training keeps no scores; refuse a silent half-AUC
        if getattr(acc, kept, None):
            raise RunError("per-sample scores (AUC) are not gathered across ranks")


class SilentRunDir:
    """What ranks other than 0 write to: nothing. Rank 0 alone owns the run folder."""

    id = ""
    path = Path(os.devnull)

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def run_dir_for(rank: Optional[Rank]) -> Optional[SilentRunDir]:
    """A SilentRunDir for ranks > 0; None (make or reuse the real one) otherwise."""
    return SilentRunDir() if rank is not None and not rank.is_main else None


def announce(run_dir) -> None:
    """Rank 0 tells dlx's launcher which run it writes (for the resume hint if a rank dies)."""
    target = os.environ.get(RUN_FILE_ENV)
    if target and is_main_process():
        Path(target).write_text(str(Path(run_dir.path).resolve()))


def peer_errors() -> tuple:
    """Errors a rank sees when another rank died or hung (a collective failed)."""
    import torch.distributed as dist

    return (dist.DistError,) if dist.is_available() else ()


def as_run_error(error: BaseException) -> BaseException:
    if isinstance(error, peer_errors()):
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        return RunError(f"another process of this data-parallel run stopped ({first})")
    return error
