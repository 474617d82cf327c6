"""`~` in path values on the command line (issue 13, item 19): Hydra's grammar rejects it, and
a shell expands it only after `NAME=` (not after `data.root=`), so dlx expands it itself."""

from __future__ import annotations

import pytest

from dlx.config import compose, expand_home


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


def test_a_value_starting_with_tilde_is_the_home_folder(home):
    cfg = compose(["data=mnist", "data.root=~/datasets", "output_dir=~"])
    assert cfg.data.root == str(home / "datasets") and cfg.output_dir == str(home)


def test_only_a_leading_tilde_is_expanded(home):
    assert expand_home(["~trainer.seed", "name=a~b", "data.path=~/x.csv", "+data.root=~"]) == \
        ["~trainer.seed", "name=a~b", f"data.path={home}/x.csv", f"+data.root={home}"]


def test_train_reads_a_csv_under_home(home, dlx):
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60)]
    (home / "points.csv").write_text("\n".join(rows) + "\n")
    result = dlx("train", "data=csv", "data.path=~/points.csv", "data.target=label", "trainer.epochs=1",
                 "trainer.num_threads=1", "-q")
    assert result.code == 0, result.err
