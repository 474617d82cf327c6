"""The kept libraries behind small dlx helpers: plotext charts, atomic CSV, first_line, tenacity."""

from __future__ import annotations

import csv
import io

import pytest


def plot_rows(text: str) -> list[str]:
    """The plotting area of a chart: what lies right of the y axis."""
    return [line.split("┤" if "┤" in line else "│", 1)[1] for line in text.splitlines()
            if ("┤" in line or "│" in line) and "─" not in line]


def test_chart_shows_each_series_its_marker_and_legend():
    from dlx.report.termplot import Series, line_chart

    series = [Series("train", range(1, 21), [1 / k for k in range(1, 21)], "cyan", dashed=True),
              Series("val", range(1, 21), [1.2 / k + 0.05 for k in range(1, 21)], "magenta")]
    text = line_chart(series, width=60, height=8, title="loss").plain
    rows = plot_rows(text)
    assert text.startswith("loss\n") and len(rows) == 8
    assert "o ╍╍ train" in text and "x ── val" in text
    drawn = "".join(rows)
    assert "o" in drawn and "x" in drawn  # each line's marker on the chart
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in drawn)  # the curves, in Braille dots
    assert "1" in text.splitlines()[-4] and "20" in text.splitlines()[-4]  # the x range under the axis


def test_a_dashed_line_has_gaps_a_solid_one_has_none():
    from dlx.report.termplot import Series, line_chart

    def columns_drawn(dashed: bool) -> int:
        text = line_chart([Series("v", [0, 10], [0.0, 0.0], dashed=dashed)], width=50, height=3).plain
        return sum(1 for ch in plot_rows(text)[1] if ch != " ")

    assert columns_drawn(True) < columns_drawn(False)


def test_chart_without_points_says_so():
    from dlx.report.termplot import Series, line_chart

    assert "(no data yet)" in line_chart([Series("v", [1, 2], [float("nan"), None])]).plain


@pytest.mark.parametrize("rows", [[], [{"a": 1, "b": 0.1}, {"a": 2}], [{"a": "x,y", "b": 'q"uote'}]])
def test_atomic_write_csv_writes_what_dictwriter_writes(tmp_path, rows):
    from dlx.store.files import atomic_write_csv

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["a", "b"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_csv(tmp_path / "t.csv", rows, ["a", "b"])
    assert (tmp_path / "t.csv").read_bytes() == buf.getvalue().encode()
    assert not list(tmp_path.glob(".*.tmp"))


def test_atomic_write_csv_refuses_an_unknown_column_and_leaves_nothing(tmp_path):
    from dlx.store.files import atomic_write_csv

    with pytest.raises(ValueError):
        atomic_write_csv(tmp_path / "t.csv", [{"a": 1, "zzz": 2}], ["a"])
    assert list(tmp_path.iterdir()) == []


def test_first_line_of_an_empty_message_is_the_type_name():
    from dlx.errors import first_line

    assert first_line(ValueError("")) == "ValueError"
    assert first_line(ValueError("  \n ")) == "ValueError"
    assert first_line(OSError("one\ntwo")) == "one"


def test_a_trial_failing_without_a_message_is_named_by_its_type():
    from dlx.errors import ConfigError
    from dlx.sweep.worker import _reason

    assert _reason(RuntimeError("")) == "RuntimeError"
    assert _reason(RuntimeError("boom\nmore")) == "RuntimeError: boom"
    assert _reason(ConfigError("bad key")) == "bad key"


def test_storage_retry_backs_off_exponentially_up_to_the_cap():
    from sqlalchemy.exc import OperationalError

    from dlx.sweep import retry

    slept = []

    def down():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with pytest.raises(retry.StorageLost, match=r"lost the connection to the study storage db for 30 s \(connection refused\)"):
        retry.call(down, shown_url="db", window=30, sleep=slept.append)
    assert slept[:7] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0] and set(slept[6:]) == {5.0}


def test_a_worker_warning_reaches_stderr_as_one_line(capsys):
    import logging

    from dlx import log

    log.install()
    logging.getLogger("dlx.report.layers").warning("vanishing gradients in net.0")
    assert capsys.readouterr().err == "warning: vanishing gradients in net.0\n"
