"""Using trained runs (issue 14): eval, predict, export, ensembles, bagging.

Runs are trained once per module on tiny slices; each test then reads them back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

TINY = ["trainer.epochs=2", "data.limit=200", "trainer.num_threads=1", "model.hidden=[32]"]


def train(args):
    from dlx import config
    from dlx.engine import experiment

    return experiment.run(config.load(args), args)


def string_label_csv(path, n=240, seed=0):
    """Two numbers and a colour; the label is text (yes/no)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    label = np.where(a + b + (colour == "red") > 0.3, "yes", "no")
    pd.DataFrame({"a": a, "colour": colour, "b": b, "label": label}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """outputs/ with a digits run, a CSV run with string labels and a regression run."""
    home = tmp_path_factory.mktemp("use")
    out = str(home / "outputs")
    csv = string_label_csv(home / "people.csv")
    runs = {
        "digits": train([*TINY, f"output_dir={out}", "name=digits"]),
        "csv": train([*TINY, "data=csv", f"data.path={csv}", "data.target=label", f"output_dir={out}", "name=csv"]),
        "diabetes": train([*TINY, "data=diabetes", f"output_dir={out}", "name=diabetes"]),
    }
    return {"home": home, "out": out, "csv_file": csv, **runs}


def read_predictions(dlx, *args):
    result = dlx("predict", *args, "-o", "-")
    assert result.code == 0, result.err
    from io import StringIO

    return pd.read_csv(StringIO(result.out), keep_default_na=False)


# ---------------------------------------------------------------- eval and predict


def test_eval_per_class_scores_equal_scikit_learns_report(dlx, store):
    from sklearn.metrics import classification_report

    result = dlx("eval", "digits", "--output-dir", store["out"], "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    preds = read_predictions(dlx, "digits", "--split", "test", "--output-dir", store["out"])
    expected = classification_report(preds["target"].astype(str), preds["prediction"].astype(str),
                                     output_dict=True, zero_division=0)
    for name, row in {**report["per_class"], **report["averages"]}.items():
        for key, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score"),
                            ("support", "support")):
            assert row[key] == pytest.approx(expected[name][theirs], abs=1e-12), (name, key)
    confusion = np.array(report["confusion"])
    assert confusion.sum() == report["size"] == len(preds)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(report["metrics"]["acc"])


def test_predict_on_the_test_split_matches_eval_and_the_runs_own_test_metric(dlx, store):
    preds = read_predictions(dlx, "digits", "--split", "test", "--output-dir", store["out"])
    assert dlx("eval", "digits", "--output-dir", store["out"]).code == 0
    with open(f"{store['digits']['path']}/eval/test.json") as f:
        written = json.load(f)
    accuracy = float((preds["target"] == preds["prediction"]).mean())
    assert accuracy == pytest.approx(written["metrics"]["acc"])
    assert accuracy == pytest.approx(store["digits"]["test_acc"])
    assert written["metrics"]["loss"] == pytest.approx(store["digits"]["test_loss"], rel=1e-5)


def test_string_labels_come_back_as_strings_with_one_probability_column_each(dlx, store, tmp_path):
    rows = pd.read_csv(store["csv_file"]).drop(columns="label").head(50)
    rows["note"] = "ignored"
    rows.to_csv(tmp_path / "new.csv", index=False)
    result = dlx("predict", "csv", str(tmp_path / "new.csv"), "--proba", "-o", str(tmp_path / "p.csv"),
                 "--output-dir", store["out"])
    assert result.code == 0, result.err
    assert "ignoring 1 column" in result.err and "note" in result.err
    preds = pd.read_csv(tmp_path / "p.csv")
    assert list(preds.columns) == ["row", "prediction", "proba_no", "proba_yes"]  # the row number joins back
    assert preds["row"].tolist() == list(range(50))
    assert set(preds["prediction"]) <= {"yes", "no"} and len(preds) == 50
    assert np.allclose(preds[["proba_no", "proba_yes"]].sum(axis=1), 1, atol=1e-5)
    assert ((preds["proba_yes"] > 0.5) == (preds["prediction"] == "yes")).all()


def test_a_csv_streams_in_chunks_with_the_same_rows_as_one_piece(store, monkeypatch, tmp_path):
    from dlx.use import inputs, predict

    rows = pd.read_csv(store["csv_file"])
    pd.concat([rows] * 5).to_csv(tmp_path / "big.csv", index=False)  # 1,200 rows
    whole = predict.predict("csv", str(tmp_path / "big.csv"), str(tmp_path / "a.csv"), proba=True,
                            output_dir=store["out"])
    monkeypatch.setattr(inputs, "CHUNK", 97)  # 13 chunks, the last one short
    predict.predict("csv", str(tmp_path / "big.csv"), str(tmp_path / "b.csv"), proba=True, output_dir=store["out"])
    assert whole["rows"] == 1200
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    # the same rows in the same order; probabilities are written to float32's last digit (%.9g), where a
    # matrix product of another batch size may differ by one unit
    assert list(a.columns) == list(b.columns) and a[["row", "prediction"]].equals(b[["row", "prediction"]])
    assert np.allclose(a.filter(like="proba_"), b.filter(like="proba_"), rtol=1e-6, atol=1e-7)


def test_prefetch_keeps_order_raises_the_producers_error_in_place_and_stops_with_its_consumer():
    import threading

    from dlx.errors import DataError
    from dlx.use.inputs import prefetch

    def rows(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise DataError(f"bad line {i}")
            yield i

    assert list(prefetch(rows(50), depth=2)) == list(range(50))
    seen = []
    with pytest.raises(DataError, match="bad line 7"):
        for i in prefetch(rows(50, fail_at=7)):
            seen.append(i)
    assert seen == list(range(7))  # every row before the bad one, none after
    stream = prefetch(rows(10_000))
    assert next(stream) == 0
    stream.close()  # the consumer stops (a closed pipe, an error downstream): the thread ends too
    assert not any(t.name == "dlx-prefetch" for t in threading.enumerate())


@pytest.mark.parametrize("labels", [["no", "yes"], ["a,b", 'say "hi"', "", "two\nlines", "100%", " x "]])
def test_the_fast_row_writer_writes_the_bytes_pandas_writes(labels):
    import io

    from dlx.use.predict import FLOAT_FORMAT, csv_rows

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=500).astype(np.float32)
    p[:6, 0] = [np.inf, -np.inf, -0.0, 1e-30, 123456789, 3.4e38]
    frame = pd.DataFrame({"prediction": np.asarray(labels, dtype=object)[rng.integers(len(labels), size=500)],
                          **{f"proba_{i}": p[:, i] for i in range(3)}, "value": p[:, 0].astype(np.float64) * 7})
    for part in (frame, frame[["value"]], frame[["prediction"]]):
        expected = io.StringIO()
        part.to_csv(expected, header=False, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        lone_empty = list(part.columns) == ["prediction"] and "" in labels  # pandas writes '""': left to it
        assert csv_rows(part) == (None if lone_empty else expected.getvalue())
    with_nan = frame.assign(value=np.nan)
    assert csv_rows(with_nan) is None  # pandas writes NaN as an empty field: left to it
    ids = frame.assign(prediction=[f"{i}{labels[i % len(labels)]}" for i in range(500)])  # many: ids (--id, --keep)
    expected = io.StringIO()
    ids.to_csv(expected, header=False, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    assert csv_rows(ids, most_labels=100) == expected.getvalue()


def test_a_bad_value_in_a_later_chunk_names_its_line(store, monkeypatch, tmp_path):
    from dlx.errors import DataError
    from dlx.use import inputs, predict

    rows = pd.read_csv(store["csv_file"])
    big = pd.concat([rows] * 2, ignore_index=True)
    number = next(c for c in big.columns if pd.api.types.is_float_dtype(big[c]))
    big[number] = big[number].astype(object)
    big.loc[300, number] = "oops"
    big.to_csv(tmp_path / "bad.csv", index=False)
    monkeypatch.setattr(inputs, "CHUNK", 97)  # the bad row is in the fourth chunk, parsed ahead by the thread
    with pytest.raises(DataError, match=f"column '{number}' has the text 'oops' \\(line 302\\)"):
        predict.predict("csv", str(tmp_path / "bad.csv"), str(tmp_path / "p.csv"), output_dir=store["out"])
    assert not (tmp_path / "p.csv").exists()  # a file appears whole or not at all


def test_regression_eval_reports_residuals_in_the_targets_units(dlx, store):
    result = dlx("eval", "diabetes", "--output-dir", store["out"], "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    preds = read_predictions(dlx, "diabetes", "--split", "test", "--output-dir", store["out"])
    residual = preds["prediction"] - preds["target"]
    assert report["residuals"]["mean"] == pytest.approx(residual.mean(), rel=1e-4, abs=1e-3)
    assert report["metrics"]["rmse"] == pytest.approx(np.sqrt((residual ** 2).mean()), rel=1e-4)
    assert report["metrics"]["rmse"] == pytest.approx(store["diabetes"]["test_rmse"], rel=1e-4)


def test_eval_on_another_csv_uses_the_runs_encoding_not_a_refit(dlx, store, tmp_path):
    rows = pd.read_csv(store["csv_file"]).head(40)
    rows = rows[rows["colour"] != "red"]  # fewer categories than training: one-hot columns must still line up
    rows.to_csv(tmp_path / "other.csv", index=False)
    result = dlx("eval", "csv", f"data.path={tmp_path / 'other.csv'}", "--split", "all", "--output-dir",
                 store["out"], "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["name"] == "other-all" and report["size"] == len(rows)
    assert os.path.exists(f"{store['csv']['path']}/eval/other-all.json")


# ---------------------------------------------------------------- export


def test_torchscript_runs_with_plain_torch_where_dlx_cannot_be_imported(store, tmp_path):
    import torch

    from dlx.use import export
    from dlx.use.inputs import load_split
    from dlx.use.restore import find, restore

    info = export.export("digits", "torchscript", str(tmp_path / "model.pt"), store["out"])
    restored = restore(find("digits", store["out"]))
    x = load_split(restored, [], "test").x
    torch.save(x, tmp_path / "x.pt")
    # dlx may be installed in this environment: block it before anything else is imported
    script = ("import sys\nsys.modules['dlx'] = None\nimport torch\n"
              "try:\n    import dlx.use\n    sys.exit('dlx importable')\nexcept ImportError:\n    pass\n"
              "m = torch.jit.load('model.pt')\n"
              "torch.save(m(torch.load('x.pt')), 'y.pt')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    y = torch.load(tmp_path / "y.pt")
    assert info["format"] == "torchscript"
    assert torch.allclose(y, restored.predict(x), atol=1e-6)


def test_onnx_agrees_with_pytorch_on_the_test_split(store, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from dlx.use import export
    from dlx.use.inputs import load_split
    from dlx.use.restore import find, restore

    for name in ("digits", "diabetes", "csv"):
        export.export(name, "onnx", str(tmp_path / f"{name}.onnx"), store["out"])
        restored = restore(find(name, store["out"]))
        x = load_split(restored, [], "test").x
        got = ort.InferenceSession(str(tmp_path / f"{name}.onnx")).run(None, {"x": x.numpy()})[0]
        want = restored.predict(x).numpy()
        # 1e-5, relative to the size of the values: regression outputs are in y's units (~150 on
        # diabetes), where one float32 step is already 1.5e-5
        assert (np.abs(got - want) / np.maximum(np.abs(want), 1.0)).max() <= 1e-5, name


# ---------------------------------------------------------------- ensembles


def test_ensemble_arithmetic_on_fixed_member_outputs():
    from dlx.use.ensemble import combine, summarize

    # three members, three samples, two classes; each member is wrong on a different sample
    y = np.array([0, 1, 0])
    scores = np.array([
        [[0.4, 0.6], [0.2, 0.8], [0.9, 0.1]],  # wrong on sample 0
        [[0.8, 0.2], [0.6, 0.4], [0.7, 0.3]],  # wrong on sample 1
        [[0.7, 0.3], [0.3, 0.7], [0.45, 0.55]],  # wrong on sample 2
    ])
    mean = combine(scores, "mean", "multiclass")
    assert np.allclose(mean, scores.mean(axis=0))
    summary, _ = summarize(scores, y, "multiclass", "mean", ["a", "b", "c"])
    assert [summary["members"][m]["acc"] for m in "abc"] == pytest.approx([2 / 3] * 3)
    assert summary["member_stats"]["acc"]["mean"] == pytest.approx(2 / 3)
    assert summary["member_stats"]["acc"]["std"] == pytest.approx(0.0)
    assert summary["ensemble"]["acc"] == 1.0  # the majority is right on every sample
    nll = -np.log(mean[np.arange(3), y]).mean()
    assert summary["ensemble"]["nll"] == pytest.approx(nll)
    votes = combine(scores, "vote", "multiclass")
    assert votes.argmax(axis=1).tolist() == [0, 1, 0]
    assert np.allclose(np.round(votes, 6), [[2 / 3, 1 / 3], [1 / 3, 2 / 3], [2 / 3, 1 / 3]])
    tie = combine(np.array([[[0.9, 0.1]], [[0.45, 0.55]]]), "vote", "multiclass")  # 1 vote each
    assert tie.argmax(axis=1).tolist() == [0]  # the higher mean probability wins a tie


def test_ensemble_of_a_cvs_folds_writes_members_summary_and_predictions(dlx, tmp_path):
    from dlx.cv import driver

    out = str(tmp_path / "outputs")
    driver.cross_validate([*TINY, f"output_dir={out}"], 3)
    result = dlx("ensemble", "--cv", "last", "--output-dir", out)
    assert result.code == 0, result.err
    folder = next((tmp_path / "outputs" / "ensembles").iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    members = json.loads((folder / "members.json").read_text())
    preds = pd.read_csv(folder / "predictions.csv")
    assert len(members) == 3 and all("/fold-" in m["id"] for m in members)
    assert summary["ensemble"]["acc"] == pytest.approx(float((preds["target"] == preds["prediction"]).mean()))
    accs = [m["acc"] for m in summary["members"].values()]
    assert summary["member_stats"]["acc"]["mean"] == pytest.approx(np.mean(accs))
    assert "ensemble" in result.out and "mean ± std" in result.out


def test_bagging_trains_members_on_recorded_bootstrap_samples(dlx, tmp_path):
    out = str(tmp_path / "outputs")
    result = dlx("bag", "--members", "2", *TINY, "trainer.epochs=1", f"output_dir={out}")
    assert result.code == 0, result.err
    folder = next((tmp_path / "outputs" / "ensembles").iterdir())
    members = json.loads((folder / "members.json").read_text())
    assert [m["bootstrap_seed"] for m in members] == [0, 1]
    logs = [(folder / f"member-{k}" / "log.txt").read_text() for k in (0, 1)]
    assert all("bootstrap sample" in log and "seed" in log for log in logs)
    assert logs[0].splitlines()[0] != logs[1].splitlines()[0]  # different samples


def test_a_bootstrap_sample_draws_with_replacement_and_is_seeded():
    from dlx.use.bag import bootstrap_rows

    rows = bootstrap_rows(1000, 3)
    assert len(rows) == 1000 and 550 < len(set(rows.tolist())) < 720  # ~63 % distinct
    assert (rows == bootstrap_rows(1000, 3)).all() and not (rows == bootstrap_rows(1000, 4)).all()


# ---------------------------------------------------------------- bad input (tests/test_bad_input.py's `{use}`)


def bad_input_places(home) -> dict:
    """`{use}`: runs and files for the issue-14 rows of tests/test_bad_input.py."""
    from PIL import Image

    use = home / "use"
    out = str(use / "outputs")
    csv = string_label_csv(use.mkdir() or use / "people.csv")
    tiny = ["trainer.epochs=1", "data.limit=100", "trainer.num_threads=1", "model.hidden=[16]", f"output_dir={out}"]
    train([*tiny, "data=csv", f"data.path={csv}", "data.target=label", "name=csvrun"])
    train([*tiny, "name=digitsrun"])
    train([*tiny, "name=seed1run", "data.seed=1"])
    train([*tiny, "data=diabetes", "name=regrun"])
    train([*tiny, "name=nockpt", "trainer.checkpoint=false"])
    rows = pd.read_csv(csv).head(5)
    rows.drop(columns=["a", "label"]).to_csv(use / "miss.csv", index=False)
    rows.assign(colour=["red", "purple", "red", "red", "red"]).to_csv(use / "unk.csv", index=False)
    rows.assign(b=["1", "2", "n/a?", "4", "5"]).to_csv(use / "text.csv", index=False)
    Image.new("RGB", (8, 8)).save(use / "img.png")
    return {"{use}": str(use)}


def test_images_of_another_channel_count_are_converted_as_in_training(dlx, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) // (2 if label == "cat" else 1)
            Image.fromarray(pixels).save(tmp_path / "pics" / label / f"{i}.png")
    out = str(tmp_path / "outputs")
    train(["model=cnn", "model.channels=[4]", "model.fc=[]", "data=image_folder", f"data.path={tmp_path / 'pics'}",
           "data.image_size=8", "data.workers=0", "trainer.epochs=1", "trainer.num_threads=1", f"output_dir={out}"])
    (tmp_path / "new").mkdir()
    Image.new("L", (16, 16), 128).save(tmp_path / "new" / "grey.png")  # 1 channel, another size
    Image.new("RGBA", (8, 8), (9, 9, 9, 255)).save(tmp_path / "new" / "alpha.png")  # 4 channels
    preds = read_predictions(dlx, "last", str(tmp_path / "new"), "--proba", "--output-dir", out)
    assert list(preds.columns) == ["file", "prediction", "proba_cat", "proba_dog"]
    assert len(preds) == 2 and set(preds["prediction"]) <= {"cat", "dog"}
    one = read_predictions(dlx, "last", str(tmp_path / "new" / "grey.png"), "--proba", "--output-dir", out)
    row = preds[preds["file"].str.endswith("grey.png")]
    assert one["proba_cat"].iloc[0] == pytest.approx(row["proba_cat"].iloc[0])


def test_a_sweeps_top_k_trials_are_its_best_by_the_monitor(tmp_path):
    from dlx.store.runs import read_summary
    from dlx.sweep import driver
    from dlx.use.ensemble import member_paths

    out = str(tmp_path / "outputs")
    driver.start([*TINY, "trainer.epochs=1", "optim.lr=0.1,0.01,0.0001", f"output_dir={out}"])
    top = member_paths(out, [], None, "last", 2)
    values = sorted((read_summary(p)["best_value"] for p in (tmp_path / "outputs" / "sweeps").glob("*/runs/*")),
                    reverse=True)
    assert [read_summary(p)["best_value"] for p in top] == values[:2]  # val_acc: highest first
