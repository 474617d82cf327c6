"""In-memory batching: dlx's `TensorBatches` against `DataLoader(TensorDataset)`.

Both shuffle the same tensors (MNIST-sized by default) every epoch and hand out (x, y) batches;
the DataLoader indexes one sample at a time in Python and collates the batch with
`default_collate` (its default); dlx gathers each batch with one `index_select`.
Prints samples per second of each and the ratio.

    .venv/bin/python benchmarks/loader.py [--samples 60000] [--batch-size 128] [--shape 1,28,28] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from dlx.data.loaders import TensorBatches


def epoch_seconds(batches, n: int) -> float:
    """One epoch: iterate every batch, touching it as a training step would."""
    start = time.perf_counter()
    seen = 0
    for xb, yb in batches:
        seen += yb.shape[0]
        xb.view(-1)[:1].item()  # the batch must exist, and a device must finish building it
    assert seen == n
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shape", default="1,28,28", help="one sample's shape: 1,28,28 (MNIST) or 64 (tabular)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    shape = tuple(int(d) for d in args.shape.split(","))
    x = torch.rand(args.samples, *shape)  # float32, as after preprocessing
    y = torch.randint(0, 10, (args.samples,))
    ours = TensorBatches(x.to(device), y.to(device), args.batch_size, shuffle=True,
                         generator=torch.Generator().manual_seed(0))
    theirs = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    # epochs alternate, and each side keeps its best: a busy machine slows both alike
    best = {"ours": float("inf"), "theirs": float("inf")}
    for _ in range(args.epochs):
        best["ours"] = min(best["ours"], epoch_seconds(ours, args.samples))
        best["theirs"] = min(best["theirs"], epoch_seconds(theirs, args.samples))
    fast, slow = args.samples / best["ours"], args.samples / best["theirs"]
    print(f"{args.samples:,} samples of {'×'.join(map(str, shape))}, batch {args.batch_size}, {args.device}, "
          f"{args.threads} thread(s), best of {args.epochs} alternating epochs")
    print(f"  dlx TensorBatches          {fast:>14,.0f} samples/s")
    print(f"  DataLoader(TensorDataset)  {slow:>14,.0f} samples/s")
    print(f"  ratio                      {fast / slow:>14.1f}×")


if __name__ == "__main__":
    main()
