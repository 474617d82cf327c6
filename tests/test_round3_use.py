"""Third round, using runs (issues 24 and 29): predict refuses the rows training refuses, writes floats
that read back exactly and rows that join back (an id, --keep); damaged configs and checkpoints, graph
CSV ids, `dlx sample -o`, export of generative runs, init_from mistakes, stops and limits are one line;
a plugin's run is used without repeating --plugin."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import ROOT
from tests.test_use import string_label_csv, train

TINY = ["trainer.epochs=1", "trainer.num_threads=1", "model.hidden=[16]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A CSV classifier (string labels) and a CSV regressor, in one outputs/."""
    home = tmp_path_factory.mktemp("round3use")
    out = str(home / "outputs")
    csv = string_label_csv(home / "people.csv")
    rng = np.random.default_rng(1)
    reg = home / "prices.csv"
    a = rng.normal(size=200)
    pd.DataFrame({"a": a, "b": rng.normal(size=200), "price": 100 + 3 * a}).to_csv(reg, index=False)
    return {
        "home": home, "out": out, "csv_file": csv,
        "csv": train([*TINY, "data=csv", f"data.path={csv}", "data.target=label", f"output_dir={out}", "name=csv"]),
        "reg": train([*TINY, "data=csv", f"data.path={reg}", "data.target=price", f"output_dir={out}", "name=reg"]),
    }


def rows_file(runs, tmp_path, text: str) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(text)
    return path


def predicted(dlx, runs, *args):
    return dlx("predict", *args, "--output-dir", runs["out"])


# ---------------------------------------------------------------- 24.3, 24.20, 24.34: predict's input


def test_a_row_with_more_fields_than_the_header_is_refused_with_its_line(dlx, runs, tmp_path):
    path = rows_file(runs, tmp_path, "a,colour,b\n0.1,red,0.2\n0.3,blue,0.4,9\n")
    r = predicted(dlx, runs, "csv", str(path))
    assert r.code == 2 and "line 3 has 4 fields, but the header has 3" in r.err
    assert len(r.err.strip().splitlines()) == 1 and r.out == ""


@pytest.mark.parametrize("value", ["inf", "-inf", "1e39"])
def test_an_infinite_or_beyond_float32_value_is_refused_with_its_line(dlx, runs, tmp_path, value):
    path = rows_file(runs, tmp_path, f"a,colour,b\n0.1,red,0.2\n0.3,blue,{value}\n")
    r = predicted(dlx, runs, "csv", str(path))
    assert r.code == 2 and "column 'b'" in r.err and "(line 3)" in r.err and "float32" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_a_header_only_csv_gives_a_header_and_no_rows(dlx, runs, tmp_path):
    path = rows_file(runs, tmp_path, "a,colour,b\n")
    r = predicted(dlx, runs, "csv", str(path), "-o", str(tmp_path / "p.csv"))
    assert r.code == 0, r.err
    assert (tmp_path / "p.csv").read_text() == "row,prediction\n"


def test_non_utf8_bytes_say_which_encoding_to_give(dlx, runs, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,colour,b\n0.1,r\u00e9d,0.2\n".encode("latin-1"))
    r = predicted(dlx, runs, "csv", str(path))
    assert r.code == 2 and "not UTF-8" in r.err and "iconv" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_a_million_column_header_is_refused_before_it_is_parsed(dlx, runs, tmp_path):
    import time

    from dlx.use.inputs import MAX_COLUMNS

    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n")
    start = time.process_time()
    r = predicted(dlx, runs, "csv", str(path))
    assert r.code == 2 and f"more than {MAX_COLUMNS:,} columns" in r.err
    assert time.process_time() - start < 30  # counted on the raw line, not parsed by pandas


# ---------------------------------------------------------------- 24.5: floats that read back


def test_regression_values_read_back_as_the_float32_the_model_gave(runs, tmp_path):
    from dlx.use.predict import write

    values = np.array([100.00048, 99.99951, 1e-7, 3.4e38, 123456.789], dtype=np.float32)
    write(iter([pd.DataFrame({"prediction": values})]), str(tmp_path / "p.csv"))
    back = pd.read_csv(tmp_path / "p.csv")["prediction"].to_numpy().astype(np.float32)
    assert (back == values).all()


# ---------------------------------------------------------------- 29.6: rows that join back


def test_predictions_keep_an_id_column_and_pass_columns_through(dlx, runs, tmp_path):
    rows = pd.read_csv(runs["csv_file"]).drop(columns="label").head(40)
    rows.insert(0, "customer", [f"c{i:03d}" for i in range(40)])
    rows.to_csv(tmp_path / "new.csv", index=False)
    r = predicted(dlx, runs, "csv", str(tmp_path / "new.csv"), "--id", "customer", "--keep", "colour,a",
                  "-o", str(tmp_path / "p.csv"))
    assert r.code == 0, r.err
    assert "ignoring" not in r.err  # the id is used, not ignored
    preds = pd.read_csv(tmp_path / "p.csv")
    assert list(preds.columns) == ["customer", "colour", "a", "prediction"]
    assert preds["customer"].tolist() == rows["customer"].tolist()
    assert preds["colour"].tolist() == rows["colour"].tolist()
    assert np.allclose(preds["a"], rows["a"])
    plain = predicted(dlx, runs, "csv", str(tmp_path / "new.csv"), "-o", str(tmp_path / "q.csv"))
    assert plain.code == 0, plain.err
    q = pd.read_csv(tmp_path / "q.csv")
    assert q["row"].tolist() == list(range(40)) and q["prediction"].tolist() == preds["prediction"].tolist()
    missing = predicted(dlx, runs, "csv", str(tmp_path / "new.csv"), "--keep", "nope")
    assert missing.code == 2 and "--keep nope" in missing.err and "no such column" in missing.err


# ---------------------------------------------------------------- 24.21, 24.29: damaged run files


def damaged_copy(runs, tmp_path, name="damaged") -> Path:
    copy = tmp_path / name
    (source,) = [p for p in Path(runs["out"], "runs").iterdir() if p.name.endswith("csv")]
    shutil.copytree(source, copy)
    return copy


def test_a_checkpoint_whose_preprocess_is_not_a_mapping_is_one_line(dlx, runs, tmp_path):
    run = damaged_copy(runs, tmp_path)
    best = run / "checkpoints" / "best.pt"
    state = torch.load(best, weights_only=True)
    state["meta"]["preprocess"] = [1, 2, 3]
    torch.save(state, best)
    r = dlx("predict", str(run), "--split", "test")
    assert r.code == 1 and "meta.preprocess is a list, not a mapping" in r.err
    assert len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, said", [("", "is empty"), ("[1, 2]\n", "is damaged"), ("seed: 1\n", "no 'model'")])
def test_an_empty_or_damaged_config_yaml_says_so(dlx, runs, tmp_path, text, said):
    run = damaged_copy(runs, tmp_path)
    (run / "config.yaml").write_text(text)
    r = dlx("eval", str(run))
    assert r.code == 2 and said in r.err and "config.yaml" in r.err and "missing (deleted" not in r.err
    assert len(r.err.strip().splitlines()) == 1


# ---------------------------------------------------------------- 24.28, 24.30: init_from mistakes


@pytest.mark.parametrize("seed", range(6))
def test_a_garbage_init_from_file_never_passes_on_weights_only_advice(tmp_path, seed):
    from dlx.errors import DlxError
    from dlx.engine.transfer import load_weights

    path = tmp_path / "garbage.pt"
    path.write_bytes(np.random.default_rng(seed).bytes(300))
    with pytest.raises(DlxError) as e:
        load_weights(path)
    assert "weights_only" not in str(e.value) and str(path) in str(e.value)


def test_a_torch_advice_line_is_never_passed_on():
    import pickle

    from dlx.store.checkpoint import why

    advice = pickle.UnpicklingError("Weights only load failed. Re-running `torch.load` with `weights_only` set "
                                    "to `False` will likely succeed")
    assert "weights_only" not in why(advice) and "torch.save" in why(advice)


def test_init_from_an_unknown_run_names_where_it_looked(tmp_path):
    from dlx.errors import ConfigError
    from dlx.engine.transfer import source_path

    with pytest.raises(ConfigError) as e:
        source_path("no-such-run", str(tmp_path / "elsewhere"))
    assert "model.init_from=no-such-run" in str(e.value) and f"output_dir={tmp_path / 'elsewhere'}" in str(e.value)


# ---------------------------------------------------------------- 24.4, 24.17: graph CSVs


def graph_files(folder: Path, duplicate: bool = False) -> tuple[Path, Path]:
    nodes = folder / "nodes.csv"
    rows = [f"n{i},{i % 2 + 0.1 * i},{(i * 7) % 5},{'ab'[i % 2]}" for i in range(20)]
    if duplicate:
        rows.append("n7,0.5,1,a")
    nodes.write_text("id,f1,f2,label\n" + "\n".join(rows) + "\n")
    edges = folder / "edges.csv"
    edges.write_text("source,target\n" + "\n".join(f"n{i},n{(i + 2) % 20}" for i in range(20)) + "\n")
    return nodes, edges


def test_a_duplicate_node_id_is_refused_with_the_id_and_its_lines(tmp_path):
    from dlx.data.graphs import GraphCSVConfig, load_graph_csv
    from dlx.errors import DataError

    nodes, edges = graph_files(tmp_path, duplicate=True)
    with pytest.raises(DataError) as e:
        load_graph_csv(GraphCSVConfig(name="graph_csv", nodes=str(nodes), edges=str(edges)))
    assert "'n7' twice (lines 9 and 22" in str(e.value)


def test_graph_csv_predictions_name_the_files_ids(dlx, tmp_path):
    nodes, edges = graph_files(tmp_path)
    r = dlx("train", "model=gnn", "data=graph_csv", f"data.nodes={nodes}", f"data.edges={edges}",
            "trainer.epochs=2", "trainer.num_threads=1", "-q")
    assert r.code == 0, r.err
    p = dlx("predict", "last", "--split", "all", "-o", str(tmp_path / "p.csv"))
    assert p.code == 0, p.err
    preds = pd.read_csv(tmp_path / "p.csv")
    assert sorted(preds["node"]) == sorted(f"n{i}" for i in range(20))
    ids = dlx("predict", "last", "--split", "all", "--id", "node")
    assert ids.code == 2 and "--id and --keep take columns of an INPUT CSV" in ids.err


# ---------------------------------------------------------------- 24.22, 24.23, 24.34: generative runs


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    home = tmp_path_factory.mktemp("vae")
    out = str(home / "outputs")
    train(["model=vae", "trainer.epochs=1", "trainer.num_threads=1", "data.limit=200", f"output_dir={out}"])
    return out


def test_export_of_a_vae_is_refused_in_one_line(dlx, vae):
    r = dlx("export", "last", "--output-dir", vae)
    assert r.code == 2 and "generative model" in r.err and "dlx sample" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_sample_refuses_an_unknown_suffix_and_too_many_before_any_work(dlx):
    r = dlx("sample", "no-such-run", "-o", "f.xyz")
    assert r.code == 2 and "-o f.xyz" in r.err and ".png" in r.err
    r = dlx("sample", "no-such-run", "-n", "1000000")
    assert r.code == 2 and "at most 10,000" in r.err
    r = dlx("sample", "no-such-run", "-n", "2000000", "-o", "s.csv")
    assert r.code == 2 and "at most 1,000,000" in r.err


def test_sample_into_a_folder_writes_and_names_the_real_file(dlx, vae, tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    r = dlx("sample", "last", "-n", "4", "-o", str(folder), "--output-dir", vae)
    assert r.code == 0, r.err
    assert (folder / "samples.png").is_file() and f"wrote {folder / 'samples.png'}" in r.out


# ---------------------------------------------------------------- 24.33: stops, --top, a run still training


def test_sigterm_and_ctrl_c_during_predict_leave_no_temporary_and_say_so(tmp_path):
    from dlx.cli.use import stopping
    from dlx.errors import Interrupted
    from dlx.use.predict import write

    frame = pd.DataFrame({"prediction": np.arange(3, dtype=np.float32)})

    def chunks(stop):
        yield frame
        stop()
        yield frame

    for stop, code, said in [(lambda: os.kill(os.getpid(), signal.SIGTERM), 143, "SIGTERM"),
                             (lambda: (_ for _ in ()).throw(KeyboardInterrupt()), 130, "Ctrl-C")]:
        with pytest.raises(Interrupted) as e:
            with stopping("dlx predict"):
                write(chunks(stop), str(tmp_path / "p.csv"))
        assert e.value.exit_code == code and said in str(e.value) and "dlx predict" in str(e.value)
        assert list(tmp_path.iterdir()) == []  # neither the output nor its .p.csv.<pid>.tmp
    assert signal.getsignal(signal.SIGTERM) is not None


def test_ensemble_top_beyond_the_sweeps_trials_says_how_many_it_uses(tmp_path, monkeypatch, caplog):
    from dlx.store import runs as store_runs
    from dlx.store.runs import RunRecord
    from dlx.use.ensemble import member_paths

    records = [RunRecord(tmp_path / f"t{i}", "sweep", "s1") for i in range(3)]
    monkeypatch.setattr(store_runs, "select_runs", lambda root, **kw: records)
    monkeypatch.setattr(store_runs, "read_summary",
                        lambda path: {"best_value": float(path.name[1]), "monitor": "val_loss"})
    paths = member_paths(str(tmp_path), [], None, "s1", 10)
    assert len(paths) == 3
    assert "--top 10" in caplog.text and "uses those 3" in caplog.text


def test_using_a_run_still_training_warns_that_it_takes_the_current_best(runs, tmp_path, caplog):
    from dlx.use.restore import restore

    run = damaged_copy(runs, tmp_path, "training")
    (run / "summary.json").unlink()
    (run / ".lock").unlink(missing_ok=True)
    (run / "status.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))
    restore(run)
    assert "still training" in caplog.text and "best.pt" in caplog.text


# ---------------------------------------------------------------- 29.3: a plugin's run, without --plugin

PLUGINS = ROOT / "examples" / "plugins"


@pytest.mark.slow
def test_eval_predict_and_export_of_a_plugin_run_need_no_plugin_flag(dlx, tmp_path):
    for name in ("mixer.py", "stripes.py"):
        shutil.copy(PLUGINS / name, tmp_path / name)
    r = dlx("--plugin", str(tmp_path / "mixer.py"), "--plugin", str(tmp_path / "stripes.py"), "train",
            "model=mixer", "data=stripes", "trainer.epochs=1", "trainer.num_threads=1", "data.n_samples=200",
            "model.dim=8", "model.depth=1", "-q")
    assert r.code == 0, r.err
    e = dlx("eval", "last")
    assert e.code == 0, e.err
    p = dlx("predict", "last", "--split", "test", "-o", str(tmp_path / "p.csv"))
    assert p.code == 0, p.err
    x = dlx("export", "last", "-o", str(tmp_path / "m.pt"))
    assert x.code == 0, x.err
    assert (tmp_path / "m.pt").is_file()
    shown = dlx("show", "last")
    assert shown.code == 0 and "mixer" in shown.out, shown.err
    (tmp_path / "mixer.py").write_text((tmp_path / "mixer.py").read_text() + "\n# changed\n")
    changed = dlx("eval", "last")
    assert changed.code == 2 and "mixer.py" in changed.err and "--plugin" in changed.err
    assert len(changed.err.strip().splitlines()) == 1
