"""What a trained run is fed: CSV rows, image files, or a split of a dataset.

Everything here returns *raw* inputs (the features before scaling); `Restored.transform`
applies the statistics saved with the run. A CSV is encoded with the run's own column
encoding (which features, which categories), chunk by chunk, so memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from dlx.errors import ConfigError, DataError, first_line
from dlx.use.csvcheck import MAX_COLUMNS, check_finite, header_fields, not_utf8, parse_error

CHUNK = 32_768  # CSV rows per chunk: ~5 MB of parsed numbers for 20 columns
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
PIXEL_DATASETS = ("mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100", "svhn")  # raw 0..255


# ---------------------------------------------------------------- csv


def encoding_of(restored) -> dict:
    encoding = restored.preprocess.get("encoding")
    if not encoding:
        raise DataError(f"run {restored.path.name} was trained on '{restored.exp.data.name}', not on a CSV file, "
                        "so it cannot read CSV rows; give it data=... --split test, or images it was trained on")
    return encoding


def check_header(path: Path, sep: str, encoding: dict, target: Optional[str]) -> tuple[list[str], list[str]]:
    """(columns to read, extra columns ignored); a missing feature is an error that names it."""
    import pandas as pd

    wide = header_fields(path, sep)
    if wide > MAX_COLUMNS:  # counted on the raw first line: pandas would take minutes to parse it
        raise DataError(f"{path.name} has more than {MAX_COLUMNS:,} columns, more than dlx predict reads; "
                        "keep the columns the model was trained on")
    try:
        header = [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, IsADirectoryError) as e:
        raise DataError(f"cannot read {path} as CSV: {first_line(e)}") from None
    missing = [c for c in encoding["features"] if c not in header]
    if missing:
        raise DataError(f"{path.name} has no column '{missing[0]}'{' (and ' + str(len(missing) - 1) + ' more)' if len(missing) > 1 else ''}, "
                        f"a feature the model was trained on; the file needs columns: {', '.join(encoding['features'])}")
    extra = [c for c in header if c not in encoding["features"] and c != target]
    return [c for c in header if c in encoding["features"] or c == target], extra


def encode_frame(frame, encoding: dict, name: str, first_line: int = 2) -> np.ndarray:
    """Rows -> the training columns (numbers as they are, categories one-hot in training's order)."""
    import pandas as pd

    features = encoding["features"]
    frame = frame[features]
    if len(frame) == 0:  # a header-only file: no rows to check (pandas reads its columns as text)
        return np.empty((0, len(encoding["columns"])), dtype=np.float32)
    if frame.isna().to_numpy().any():
        bad = frame.columns[frame.isna().any()][0]
        line = int(np.flatnonzero(frame[bad].isna().to_numpy())[0]) + first_line
        raise DataError(f"{name}: column '{bad}' has a missing value (line {line}); fill it in or drop the row")
    categories = encoding["categories"]
    for column in features:
        if column not in categories and not pd.api.types.is_numeric_dtype(frame[column]):
            values = pd.to_numeric(frame[column], errors="coerce")
            i = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(f"{name}: column '{column}' has the text '{frame[column].iloc[i]}' (line {i + first_line}), "
                            "but it held numbers in training")
    if categories:
        frame = frame.copy()
        for column, known in categories.items():
            values = frame[column].astype(str)
            unknown = ~values.isin(known)
            if unknown.any():
                i = int(np.flatnonzero(unknown.to_numpy())[0])
                raise DataError(f"{name}: column '{column}' has the value '{values.iloc[i]}' (line {i + first_line}), "
                                f"a category the model never saw in training; known: {', '.join(known[:10])}"
                                f"{', ...' if len(known) > 10 else ''}")
            frame[column] = pd.Categorical(values, categories=known)
        frame = pd.get_dummies(frame, columns=list(categories), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 becomes inf: found just below
        x = frame[encoding["columns"]].to_numpy(dtype=np.float32)
    check_finite(x, encoding["columns"], name, first_line)
    return x


def iter_csv(path: Path, restored, chunksize: Optional[int] = None, warn=None,
             used: tuple = ()) -> Iterator[tuple[np.ndarray, Any]]:
    """(raw features, the chunk's frame) per chunk of the CSV at `path`; columns that are neither
    features nor target nor `used` (predict's --id / --keep) are ignored with one warning."""
    import pandas as pd

    encoding = encoding_of(restored)
    data = restored.exp.data
    target = getattr(data, "target", None)
    columns, extra = check_header(path, data.sep, encoding, target)
    extra = [c for c in extra if c not in used]
    if extra and warn is not None:
        warn(f"{path.name}: ignoring {len(extra)} column(s) the model was not trained on "
             f"({', '.join(extra[:5])}{', ...' if len(extra) > 5 else ''})")
    line = 2
    # every column is parsed (not usecols=): pandas then refuses a row with more fields than the header
    reader = pd.read_csv(path, sep=data.sep, chunksize=chunksize or CHUNK)
    while True:
        try:
            chunk = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as e:
            raise not_utf8(path, e) from None
        except pd.errors.ParserError as e:
            raise parse_error(path, e) from None
        yield encode_frame(chunk, encoding, path.name, line), chunk
        line += len(chunk)


def prefetch(items: Iterator, depth: int = 2) -> Iterator:
    """`items`, produced by one background worker up to `depth` ahead; its errors are raised here,
    in order, and production stops when the consumer does (an error downstream, a closed pipe).
    One worker: a generator is not thread-safe, so its `next` calls stay one at a time."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    source, end = iter(items), object()

    def produce():
        return next(source, end)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlx-prefetch") as pool:
        pending = deque(pool.submit(produce) for _ in range(depth))
        try:
            while True:
                item = pending.popleft().result()  # the producer's DataError of a bad line, raised here
                if item is end:
                    return
                pending.append(pool.submit(produce))
                yield item
        finally:
            for future in pending:
                future.cancel()


# ---------------------------------------------------------------- images


def image_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
    return files


def image_reader(restored):
    """PIL image -> raw (C, H, W) float tensor as the run saw in training (converted to its channels)."""
    import torch
    from torchvision.transforms import v2

    name, shape = restored.exp.data.name, restored.meta.input_shape
    if name != "image_folder" and name not in PIXEL_DATASETS:
        raise DataError(f"run {restored.path.name} was trained on '{name}', not on image files; predict takes "
                        "images only for runs trained on image_folder or "
                        f"{', '.join(PIXEL_DATASETS)} (give it data=... --split test instead)")
    channels, height, width = shape
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise DataError(f"run {restored.path.name} takes {channels}-channel images; only 1 or 3 channels load from files")
    resize = v2.Compose([v2.ToImage(), v2.Resize((height, width), antialias=True), v2.ToDtype(torch.float32)])

    def read(file: Path):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(file) as image:
                # like training: ImageFolder converts every image to RGB; MNIST-like sets are grey
                return resize(image.convert(mode))
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"cannot read {file} as an image ({str(e).splitlines()[0]})") from None

    return read


def read_images(files: list[Path], restored):
    """(N, C, H, W) raw pixel values 0..255 (image_folder runs scale them in `transform_images`)."""
    import torch

    read = image_reader(restored)
    return torch.stack([read(f) for f in files]) if files else torch.empty(0, *restored.meta.input_shape)


def transform_images(restored, x):
    """Raw 0..255 pixels -> the model's inputs: image_folder runs used torchvision's pipeline
    (÷255, then per-channel normalisation); in-memory image sets use the saved statistics."""
    if restored.exp.data.name != "image_folder":
        return restored.transform(x)
    prep = restored.preprocess
    if prep.get("mode") == "none":
        return x
    x = x / 255.0
    if prep.get("mode") == "standardize":
        x = (x - prep["mean"][:, None, None]) / prep["std"][:, None, None]
    return x


# ---------------------------------------------------------------- a split of a dataset


@dataclass
class Labelled:
    """Raw inputs (or a DataLoader of model-ready images) and their targets, with a name."""

    x: Any  # torch tensor of raw inputs, or None when `loader` is set
    y: Any  # (N,) class indices / (N,) or (N, k) values, as a tensor
    name: str  # the eval file's name: the split, or `<data>-<split>` on other data
    loader: Any = None  # image_folder: batches of already transformed images
    index: Optional[np.ndarray] = None  # positions in the dataset (to compare ensembles' test splits)


def data_config(restored, overrides: list[str]):
    """The run's data config, with `data=...` / `data.key=...` overrides applied."""
    from dlx.config import compose, parse_overrides
    from dlx.config.validate import schema_for, to_schema
    from dlx.engine.resume import apply_overrides

    parsed = parse_overrides(overrides)
    for o in parsed:
        if o.key_or_group != "data" and not o.key_or_group.startswith("data."):
            raise ConfigError(f"'{o.input_line}': only data overrides (data=..., data.key=...) choose what to "
                              "evaluate; the model is the run's own")
    if any(o.key_or_group == "data" for o in parsed):  # another dataset: its own preset
        node = compose(list(overrides)).data
    else:
        node = apply_overrides(restored.exp.raw, parsed).data
    return to_schema("data", schema_for("data", node), node)


def load_split(restored, overrides: list[str], split: str) -> Labelled:
    """The run's own split, or a split (or `all`) of the data the overrides choose."""
    import torch

    from dlx import data
    from dlx.data.disk import DiskData
    from dlx import plugins
    from dlx.registry import DATASETS

    if split not in ("test", "val", "train", "all"):
        raise ConfigError(f"--split {split}: choose test, val, train or all")
    plugins.load()
    cfg = data_config(restored, overrides)
    name = split if not overrides else f"{Path(getattr(cfg, 'path', None) or cfg.name).stem}-{split}"
    raw = read_csv_labelled(restored, cfg) if cfg.name == "csv" else DATASETS.build(cfg.name, cfg)
    if isinstance(raw, DiskData):
        return _disk_split(restored, raw, cfg, split, name)
    if isinstance(raw, data.DataBundle):  # a dataset that splits itself (sequences: issue 16)
        return bundle_split(restored, raw, cfg.name, split, name)
    check_shape(restored, tuple(raw.x.shape[1:]), cfg.name)
    index = pick(data.split_indices(raw, cfg), split, len(raw.y))
    y_dtype = torch.float32 if raw.kind == "regression" else torch.long
    if split == "test" and raw.test is not None:
        x, y = torch.as_tensor(raw.test[0]), torch.as_tensor(raw.test[1], dtype=y_dtype)
    else:
        x, y = torch.as_tensor(raw.x)[index], torch.as_tensor(raw.y, dtype=y_dtype)[index]
    check_labels(restored, list(raw.classes), raw.kind, cfg.name)
    return Labelled(x.float(), y, name, index=index)


def bundle_split(restored, bundle, data_name: str, split: str, name: str) -> Labelled:
    """A split of a bundle as the dataset split it; `all`: the three together. Token ids stay ids."""
    import torch

    check_shape(restored, bundle.input_shape, data_name)
    check_labels(restored, list(bundle.classes), bundle.kind, data_name)
    parts = [bundle.train, bundle.val, bundle.test] if split == "all" else \
        [{"train": bundle.train, "val": bundle.val, "test": bundle.test}[split]]
    x, y = torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts])
    index = np.concatenate([p.index for p in parts]) if all(p.index is not None for p in parts) else None
    return Labelled(x, y, name, index=index)


def pick(indices, split: str, n: int) -> np.ndarray:
    train, val, test = indices
    if split == "all":
        return np.arange(n)
    return {"train": train, "val": val, "test": test if test is not None else np.arange(0)}[split]


def check_shape(restored, shape: tuple, name: str) -> None:
    if tuple(shape) != tuple(restored.meta.input_shape):
        raise DataError(f"'{name}' inputs have shape {tuple(shape)}, but run {restored.path.name} was trained on "
                        f"{tuple(restored.meta.input_shape)}; evaluate it on data with the same features")


def check_labels(restored, classes: list[str], task: str, name: str) -> None:
    if task != restored.kind and not {task, restored.kind} <= {"binary", "multiclass"}:
        raise DataError(f"'{name}' is {task} data, but run {restored.path.name} is a {restored.kind} model")
    if restored.kind != "regression" and classes != restored.classes:
        raise DataError(f"'{name}' has classes {', '.join(classes[:8])}, but run {restored.path.name} predicts "
                        f"{', '.join(restored.classes[:8])}; evaluate it on data with the same labels")


def read_csv_labelled(restored, cfg):
    """A CSV read with the run's column encoding and class names (not refitted on this file)."""
    import pandas as pd

    from dlx.data.bundle import RawData
    from dlx.data.schemas import existing
    from dlx.data.user import check_missing

    path = existing(cfg.path, "csv", "CSV file")
    encoding = encoding_of(restored)
    target = cfg.target or getattr(restored.exp.data, "target", None)
    columns, _ = check_header(path, cfg.sep, encoding, target)
    if target not in columns:
        raise DataError(f"{path.name} has no target column '{target}' to score against; "
                        "use `dlx predict` for rows without a target")
    frame = check_missing(pd.read_csv(path, sep=cfg.sep, usecols=columns), path, cfg.dropna)
    x = encode_frame(frame, encoding, path.name)
    if restored.kind == "regression":
        return RawData(x, frame[target].to_numpy(dtype=np.float32), "regression")
    labels = _label_strings(frame[target])
    lookup = {c: i for i, c in enumerate(restored.classes)}
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        raise DataError(f"{path.name}: target '{target}' has the label '{unknown[0]}', which run "
                        f"{restored.path.name} never learned; its classes: {', '.join(restored.classes[:10])}")
    return RawData(x, np.array([lookup[v] for v in labels], dtype=np.int64), restored.kind, restored.classes)


def _label_strings(target) -> list[str]:
    """Labels as training named them: integral numbers as '1', '2', text as it is."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target) \
            and np.all(np.mod(target.to_numpy(dtype=float), 1) == 0):
        return [str(v) for v in target.to_numpy().astype(np.int64)]
    return [str(v) for v in target.astype(str)]


def _disk_split(restored, raw, cfg, split: str, name: str) -> Labelled:
    import torch
    from torch.utils.data import DataLoader

    from dlx import data
    from dlx.data.disk import FileImages, pipeline

    check_labels(restored, list(raw.classes), raw.kind, cfg.name)
    prep = restored.preprocess
    size = prep.get("image_size", cfg.image_size)
    index = pick(data.split_indices(raw, cfg), split, len(raw.y))
    images = FileImages(raw.files, index, pipeline(size, prep.get("mode", "pixels"), prep))
    loader = DataLoader(images, batch_size=256, num_workers=raw.workers)
    return Labelled(None, torch.as_tensor(raw.y[index], dtype=torch.long), name, loader, index)


def load_bundle(restored, overrides: list[str], kinds: tuple):
    """(the bundle the run's data config with `overrides` builds, the data's name): the same seeded
    split and fitted preprocessing as in training, checked against the run (graphs score on it)."""
    from dlx import data, plugins

    plugins.load()
    cfg = data_config(restored, overrides)
    bundle = data.build(cfg)
    if bundle.kind not in kinds:
        raise DataError(f"'{cfg.name}' is {bundle.kind} data, but run {restored.path.name} is a {restored.kind} model")
    check_shape(restored, bundle.input_shape, cfg.name)
    check_labels(restored, bundle.classes, bundle.kind, cfg.name)
    return bundle, cfg.name
