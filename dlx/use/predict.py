"""`dlx predict`: one output row per input row, file or sample, in the user's own terms.

Classification writes the predicted label as training named it (strings stay strings) and,
with `proba`, one probability column per class; regression writes values in the target's
units. A CSV is read, encoded, predicted and written chunk by chunk: memory stays flat
however many rows it has.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from dlx.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def columns(restored, proba: bool) -> list[str]:
    if restored.kind == "regression":
        k = restored.meta.num_outputs
        return ["prediction"] if k == 1 else [f"prediction_{i}" for i in range(k)]
    return ["prediction"] + ([f"proba_{c}" for c in restored.classes] if proba else [])


def frame_of(restored, scores, proba: bool):
    """Scores (N, C) probabilities or (N, k) values -> the output table of one chunk."""
    import pandas as pd

    scores = scores.numpy()
    names = columns(restored, proba)
    if restored.kind == "regression":
        return pd.DataFrame(scores, columns=names)
    labels = np.asarray(restored.classes, dtype=object)[scores.argmax(axis=1)]
    out = {"prediction": labels}
    if proba:
        out.update({name: scores[:, i] for i, name in enumerate(names[1:])})
    return pd.DataFrame(out)


FLOAT_FORMAT = "%.9g"  # float32 predictions read back exactly (9 significant digits round-trip any float32)
ROW = "row"  # the id column when --id is not given: the input row's number, from 0 (pandas' index)


def passed_through(frame, start: int, id_column: Optional[str], keep: list[str]) -> dict:
    """The columns written before the predictions: the id (the --id column, else the row number)
    and the --keep columns, as the input had them."""
    out = {id_column: frame[id_column].to_numpy()} if id_column else {ROW: np.arange(start, start + len(frame))}
    out.update({name: frame[name].to_numpy() for name in keep if name != id_column})
    return out


def check_passed(path: Path, header: list[str], id_column: Optional[str], keep: list[str]) -> None:
    """--id / --keep name columns of the input: a missing one is refused before any work, and so is
    a name predict writes itself (the row number, a prediction or probability column)."""
    for option, name in [("--id", id_column)] * bool(id_column) + [("--keep", k) for k in keep]:
        if name not in header:
            raise ConfigError(f"{option} {name}: {path.name} has no such column; its columns: "
                              f"{', '.join(header[:10])}{', ...' if len(header) > 10 else ''}")
        if name.startswith(("prediction", "proba_")) or (option == "--keep" and name == ROW and not id_column):
            raise ConfigError(f"{option} {name}: dlx predict writes a column of that name itself; "
                              "rename the input column")


def csv_chunks(restored, path: Path, proba: bool, warn=None, most_workers: int = 4,
               id_column: Optional[str] = None, keep: tuple = ()) -> Iterator:
    """A thread parses and encodes the chunks ahead (pandas' parser releases the GIL) while worker
    threads run the model on earlier ones, each chunk on one torch thread: every core stays busy,
    and no core waits at an intra-op barrier for a core the machine lent to someone else."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from dlx.use.inputs import iter_csv, prefetch

    threads = torch.get_num_threads()
    workers = max(1, min(threads, most_workers))
    torch.set_num_threads(max(1, threads // workers))  # 2 cores: 2 workers of 1 thread, beside the parser

    keep = list(keep)
    if id_column or keep:
        import pandas as pd

        check_passed(path, [str(c) for c in pd.read_csv(path, sep=restored.exp.data.sep, nrows=0).columns],
                     id_column, keep)

    def predict_chunk(item):
        x, passed = item
        frame = frame_of(restored, restored.predict(torch.from_numpy(x)), proba)
        for i, (name, values) in enumerate(passed.items()):
            frame.insert(i, name, values)
        return frame

    def encoded():  # only the passed-through columns of each parsed frame are kept
        start = 0
        for x, frame in iter_csv(path, restored, warn=warn, used=(id_column, *keep)):
            yield x, passed_through(frame, start, id_column, keep)
            start += len(frame)

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dlx-predict") as pool:
            running: deque = deque()
            for x in prefetch(encoded(), depth=workers):
                running.append(pool.submit(predict_chunk, x))
                if len(running) == workers:
                    yield running.popleft().result()  # in the file's order
            while running:
                yield running.popleft().result()
    finally:
        torch.set_num_threads(threads)


def image_chunks(restored, path: Path, proba: bool, batch: int = 256) -> Iterator:
    from dlx.use.inputs import image_files, read_images, transform_images
    from dlx.use.scores import to_scores

    files = image_files(path)
    for i in range(0, len(files), batch):
        part = files[i:i + batch]
        x = transform_images(restored, read_images(part, restored))
        frame = frame_of(restored, to_scores(restored.outputs(x), restored.kind, restored.preprocess), proba)
        frame.insert(0, "file", [str(f) for f in part])
        yield frame


def split_chunks(restored, overrides: list[str], split: str, proba: bool) -> Iterator:
    """A split of the run's data (or of other data): predictions next to the true target."""
    from dlx.use.evaluate import score
    from dlx.use.inputs import load_split

    data = load_split(restored, overrides, split)
    scores, targets = score(restored, data)
    frame = frame_of(restored, scores, proba)
    if restored.kind == "regression":
        frame.insert(0, "target", targets.numpy().reshape(len(frame), -1)[:, 0])
    else:
        frame.insert(0, "target", np.asarray(restored.classes, dtype=object)[targets.numpy()])
    yield frame


def chunks_for(restored, source: Optional[str], overrides: list[str], split: Optional[str], proba: bool,
               warn=None, id_column: Optional[str] = None, keep: tuple = ()) -> Iterator:
    """The output chunks for INPUT (a CSV, an image file or folder) or for a split, by the run's Task
    (a task that predicts no rows refuses in its own words)."""
    restored.warn = warn
    rows = Rows(restored, id_column, keep)
    chunks = restored.problem.predict_rows(rows, source, list(overrides), split, proba)
    if (id_column or keep) and not rows.passes_columns:  # a task that writes its own rows (graphs, sequences)
        raise ConfigError(f"--id and --keep take columns of an INPUT CSV; run {restored.path.name} "
                          f"({restored.kind} data) writes its own rows")
    return chunks


class Rows:
    """The restored run as a Task's `predict_rows` sees it: the run itself (its data, classes,
    transform), plus the row writers of this module."""

    def __init__(self, restored, id_column: Optional[str] = None, keep: tuple = ()):
        self.restored = restored
        self.id_column, self.keep = id_column, tuple(keep)  # `dlx predict --id COL --keep COL ...` (CSV input)
        self.passes_columns = False  # set when the task's rows are the supervised ones, which take them

    def __getattr__(self, name: str):
        return getattr(self.restored, name)

    def frame(self, scores, proba: bool):
        return frame_of(self.restored, scores, proba)

    def supervised_rows(self, source, overrides: list[str], split, proba: bool):
        self.passes_columns = True
        return supervised_chunks(self.restored, source, overrides, split, proba, self.id_column, self.keep)

    def sequence_rows(self, task, source, overrides: list[str], split):
        from dlx.use.sequences import sequence_chunks

        return sequence_chunks(self.restored, task, source, overrides, split)


def supervised_chunks(restored, source: Optional[str], overrides: list[str], split: Optional[str],
                      proba: bool, id_column: Optional[str] = None, keep: tuple = ()) -> Iterator:
    """A supervised run's rows: a split with its targets, or a CSV / images file given as INPUT
    (a CSV's rows start with their id and the --keep columns)."""
    if (id_column or keep) and (source is None or Path(source).suffix.lower() not in (".csv", ".tsv", ".txt")):
        raise ConfigError("--id and --keep take columns of an INPUT CSV file")
    if source is None:
        return split_chunks(restored, overrides, split or "test", proba)
    if overrides or split:
        raise ConfigError("give either an INPUT file or data overrides with --split, not both")
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"input not found: {path}; give a CSV file, an image file or folder, or --split test")
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv", ".txt"):
        return csv_chunks(restored, path, proba, restored.warn, id_column=id_column, keep=keep)
    return image_chunks(restored, path, proba)


def write(chunks: Iterator, output: str, float_format: str = FLOAT_FORMAT) -> int:
    """Stream the chunks to `output` (`-`: stdout); a file appears whole or not at all."""
    rows = 0

    def stream(f):
        nonlocal rows
        for i, frame in enumerate(chunks):
            text = csv_rows(frame, float_format)
            if text is None:  # what csv_rows leaves to pandas
                frame.to_csv(f, header=i == 0, index=False, float_format=float_format, lineterminator="\n")
            else:
                if i == 0:
                    frame.iloc[:0].to_csv(f, index=False, lineterminator="\n")  # the header
                f.write(text)
            rows += len(frame)

    if output == "-":
        stream(sys.stdout)
        sys.stdout.flush()
        return rows
    from dlx.store.files import atomic_write

    target = Path(output).expanduser()
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {target}: folder {target.parent} does not exist")
    atomic_write(target, stream)
    return rows


def csv_rows(frame, float_format: str = FLOAT_FORMAT, most_labels: int = 1000) -> Optional[str]:
    """The rows of `frame` as pandas' `to_csv` writes them (no header), one `%` per row instead of
    pandas' value-by-value formatting (~4x faster for probability columns); None where a column is
    neither floats without NaN nor a few distinct strings (class names): pandas writes those."""
    import csv
    import io

    import pandas as pd

    columns, formats = [], []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column):
            values = column.to_numpy(dtype=np.float64)
            if np.isnan(values).any():  # pandas writes NaN as an empty field
                return None
            columns.append(values.tolist())
            formats.append(float_format)
        elif pd.api.types.is_integer_dtype(column.dtype):  # row numbers, integer ids kept with --keep
            columns.append(column.tolist())
            formats.append("%d")
        elif column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            labels = pd.unique(column.to_numpy())
            if not all(isinstance(v, str) for v in labels):
                return None
            if len(frame.columns) == 1 and "" in labels:  # a row of one empty field is written '""'
                return None
            if len(labels) > most_labels:  # ids: quoted by the csv module's rule without a writer each
                quoted = {v: f'"{v.replace(chr(34), chr(34) * 2)}"' if any(c in v for c in ',"\n\r') else v
                          for v in labels}
            else:
                quoted = {}
                for label in labels:  # quoted as the csv module quotes a field that is not the row's only one
                    buffer = io.StringIO()
                    csv.writer(buffer, lineterminator="\n").writerow([label, ""])
                    quoted[label] = buffer.getvalue()[:-2]  # less the empty field: ",\n"
            columns.append([quoted[v] for v in column.tolist()])
            formats.append("%s")
        else:
            return None
    if not columns:
        return None
    row = ",".join(formats) + "\n"
    return "".join([row % values for values in zip(*columns)])


def predict(run: str, source: Optional[str], output: str, *, overrides: list[str] = (), split: Optional[str] = None,
            proba: bool = False, checkpoint: str = "best", output_dir: str = "outputs",
            warn: Callable[[str], None] | None = None, id_column: Optional[str] = None,
            keep: tuple = ()) -> dict:
    """Predict with `run` and write the rows; returns {run_id, rows, output}. A CSV's rows start
    with an id (`id_column`, else the row number) and the `keep` columns, so they join back."""
    from dlx.use.restore import find, restore

    restored = restore(find(run, output_dir), checkpoint)
    rows = write(chunks_for(restored, source, list(overrides), split, proba, warn or log.warning,
                            id_column, tuple(keep)), output)
    return {"run_id": restored.run_id, "rows": rows, "output": output}
