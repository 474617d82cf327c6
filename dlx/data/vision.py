"""torchvision's image datasets, read with torchvision's own classes and held in memory
(uint8 here; float32 once split and preprocessed).

Files live under `data.root` (default `./data`) in torchvision's layout and are
downloaded there on first use when `data.download=true`. torchvision is imported
inside the builders only, so tabular runs never pay for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlx.data.bundle import RawData
from dlx.data.schemas import VisionConfig
from dlx.errors import DataError


def data_root(cfg) -> Path:
    return Path(cfg.root or "data").expanduser()


def _open(cls_name: str, cfg: VisionConfig, **kwargs):
    """torchvision's dataset, or one clear line when its files are missing or the download fails."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    root = data_root(cfg)
    try:
        return cls(str(root), download=cfg.download, **kwargs)
    except RuntimeError as e:
        if not cfg.download and "download=True" in str(e):
            raise DataError(f"{cfg.name}: files not found under {root} (torchvision's {cls_name} layout); "
                            f"set data.download=true to fetch them, or data.root=<folder> where they are") from None
        raise _download_failed(cfg.name, root, e) from None
    except OSError as e:  # no network, a proxy, a full disk
        raise _download_failed(cfg.name, root, e) from None


def _download_failed(name: str, root: Path, error: Exception) -> DataError:
    # torchvision's message lists every mirror it tried; its last line is the cause
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    cause = lines[-1] if lines else type(error).__name__
    return DataError(f"{name}: could not download into {root} ({cause}); check the connection, "
                     "or copy torchvision's files there and set data.download=false")


def _mnist_like(cls_name: str, cfg: VisionConfig) -> RawData:
    train, test = _open(cls_name, cfg, train=True), _open(cls_name, cfg, train=False)

    def arrays(ds):  # data: (N, 28, 28) uint8 tensor -> (N, 1, 28, 28), still uint8 (a quarter the memory)
        return ds.data.numpy()[:, None], ds.targets.numpy().astype(np.int64)

    x, y = arrays(train)
    return RawData(x, y, "multiclass", [str(c) for c in train.classes], test=arrays(test), is_image=True)


def _cifar(cls_name: str, cfg: VisionConfig) -> RawData:
    train, test = _open(cls_name, cfg, train=True), _open(cls_name, cfg, train=False)

    def arrays(ds):  # data: (N, 32, 32, 3) uint8 -> (N, 3, 32, 32) uint8
        return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)), np.asarray(ds.targets, dtype=np.int64)

    x, y = arrays(train)
    return RawData(x, y, "multiclass", list(train.classes), test=arrays(test), is_image=True)




def load_mnist(cfg: VisionConfig) -> RawData:
    return _mnist_like("MNIST", cfg)


def load_fashion_mnist(cfg: VisionConfig) -> RawData:
    return _mnist_like("FashionMNIST", cfg)


def load_kmnist(cfg: VisionConfig) -> RawData:
    return _mnist_like("KMNIST", cfg)


def load_cifar10(cfg: VisionConfig) -> RawData:
    return _cifar("CIFAR10", cfg)


def load_cifar100(cfg: VisionConfig) -> RawData:
    return _cifar("CIFAR100", cfg)


def load_svhn(cfg: VisionConfig) -> RawData:
    train, test = _open("SVHN", cfg, split="train"), _open("SVHN", cfg, split="test")

    def arrays(ds):  # data: (N, 3, 32, 32) uint8; labels already 0..9 (torchvision maps '10' to 0)
        return ds.data, np.asarray(ds.labels, dtype=np.int64)

    x, y = arrays(train)
    return RawData(x, y, "multiclass", [str(c) for c in range(10)], test=arrays(test), is_image=True)
