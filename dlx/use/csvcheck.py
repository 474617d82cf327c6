"""Checks of a CSV given to `dlx predict`, the same as training applies to its own file: fields
per row, finite numbers within float32, UTF-8 text; and a bound on the header's width, checked on
the raw first line before pandas parses it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dlx.errors import DataError, first_line

MAX_COLUMNS = 100_000  # a predict CSV with more columns is refused before it is parsed (docs/using-a-run.md)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def header_fields(path: Path, sep: str, block: int = 1 << 20) -> int:
    """The fields of the file's first line, counted up to just past MAX_COLUMNS (read a block at a time)."""
    fields = 1
    try:
        with open(path, "rb") as f:
            while fields <= MAX_COLUMNS:
                part = f.read(block)
                end = part.find(b"\n")
                fields += (part if end < 0 else part[:end]).count(sep.encode() if len(sep) == 1 else b",")
                if end >= 0 or len(part) < block:
                    break
    except OSError:  # a folder, no permission
        return 0  # said by the parser below, in its words
    return fields


def check_finite(x: np.ndarray, columns: list[str], name: str, line0: int) -> None:
    """inf, or a number beyond float32's range (inf once cast), would come out as an empty
    prediction: refuse as training does, naming the column and the line."""
    finite = np.isfinite(x)
    if finite.all():
        return
    row, col = (int(i[0]) for i in np.nonzero(~finite))
    raise DataError(f"{name}: column '{columns[col]}' has an infinite value or one beyond float32's range "
                    f"(±{FLOAT32_MAX:.3g}) (line {row + line0}); replace or rescale it, as training requires")


def not_utf8(path: Path, e: UnicodeDecodeError) -> DataError:
    """Training read its CSV as UTF-8 (pandas' default), so predict reads the same way; say how to convert."""
    return DataError(f"{path.name} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}), the "
                     f"encoding training read its CSV with; convert it, e.g. iconv -f latin1 -t utf-8 {path.name}")


def parse_error(path: Path, e: Exception) -> DataError:
    """pandas' 'Expected 3 fields in line 5, saw 4' as dlx's one line (training refuses the same row)."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
    if found:
        want, line, saw = found.groups()
        return DataError(f"{path.name}: line {line} has {saw} fields, but the header has {want}; "
                         "fix the row (a stray separator?) or quote the field")
    return DataError(f"cannot read {path} as CSV: {first_line(e)}")
