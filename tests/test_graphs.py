"""Graph neural networks (issue 17): the message-passing layers, the graph datasets, node
classification through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dlx.models.gnn import GNN, GCNConv, GNNConfig, aggregate

TINY = ["trainer.num_threads=1"]


def test_gcn_layer_is_the_dense_formula():
    torch.manual_seed(0)
    n, edges = 6, torch.tensor([[0, 1, 1, 2, 3, 4, 2, 5], [1, 0, 2, 1, 4, 3, 5, 2]])
    x = torch.randn(n, 4)
    conv = GCNConv(4, 3)
    a = torch.zeros(n, n)
    a[edges[1], edges[0]] = 1
    a_hat = a + torch.eye(n)
    d = a_hat.sum(1).rsqrt()
    dense = d[:, None] * a_hat * d[None, :] @ x @ conv.linear.weight.T + conv.bias
    torch.testing.assert_close(conv(x, edges), dense)


@pytest.mark.parametrize("how", ["sum", "mean", "max"])
def test_aggregate_matches_a_loop(how):
    torch.manual_seed(1)
    messages, target = torch.randn(7, 3), torch.tensor([0, 2, 2, 0, 2, 3, 0])
    out = aggregate(messages, target, 5, how)
    for node in range(5):
        rows = messages[target == node]
        expect = torch.zeros(3) if len(rows) == 0 else \
            {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0).values}[how]
        torch.testing.assert_close(out[node], expect)


@pytest.mark.parametrize("conv", ["gcn", "sage", "gin", "gat"])
def test_every_conv_depends_on_neighbours(conv):
    torch.manual_seed(0)
    model = GNN(GNNConfig(conv=conv, layers=2, hidden=8, heads=2, dropout=0.0), 4, 3).eval()
    x = torch.randn(5, 4)
    edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    out = model(x, edges)
    assert out.shape == (5, 3)
    x2 = x.clone()
    x2[2] += 1.0  # node 2 is a neighbour of node 1 (and 2 hops from node 0), not of node 4
    out2 = model(x2, edges)
    assert not torch.allclose(out[1], out2[1]) and torch.allclose(out[4], out2[4])


def _summary(result_dir: Path) -> dict:
    return json.loads(next((result_dir / "outputs" / "runs").glob("*/summary.json")).read_text())


@pytest.mark.parametrize("conv,aggregate", [("gcn", "sum"), ("sage", "mean"), ("gin", "max"), ("gat", "sum")])
def test_gnn_trains_on_karate(dlx, tmp_path, conv, aggregate):
    r = dlx("train", "model=gnn", "data=karate", f"model.conv={conv}", f"model.aggregate={aggregate}",
            "trainer.epochs=3", *TINY)
    assert r.code == 0, r.err
    s = _summary(tmp_path)
    assert s["task"] == "graph-nodes" and s["train_size"] + s["val_size"] + s["test_size"] == 34
    assert 0 <= s["test_acc"] <= 1


def test_karate_with_one_labelled_node_per_club(dlx, tmp_path):
    r = dlx("train", "model=gnn", "data=karate", "data.labelled_per_class=1", "trainer.epochs=2", *TINY)
    assert r.code == 0, r.err
    s = _summary(tmp_path)
    assert s["train_size"] == 2 and s["val_size"] + s["test_size"] == 32


def test_sbm_is_seeded_and_split_stratified():
    from dlx.data import build
    from dlx.data.graphs import SBMConfig

    a, b = build(SBMConfig(name="sbm", seed=3)), build(SBMConfig(name="sbm", seed=3))
    assert torch.equal(a.graph["edges"], b.graph["edges"]) and torch.equal(a.train.x, b.train.x)
    counts = np.bincount(a.test.y.numpy())
    assert counts.max() - counts.min() <= 1  # 60 test nodes, 20 per block
    nodes = np.concatenate([a.train.index, a.val.index, a.test.index])
    assert sorted(nodes) == list(range(300))
    assert not torch.equal(a.graph["edges"], build(SBMConfig(name="sbm", seed=4)).graph["edges"])


def test_gcn_on_a_separated_sbm_reaches_095(dlx, tmp_path):
    r = dlx("train", "model=gnn", "data=sbm", "trainer.epochs=60", "optim.lr=0.01", *TINY)
    assert r.code == 0, r.err
    assert _summary(tmp_path)["test_acc"] >= 0.95


def test_mlp_on_graph_data_is_a_feature_only_baseline(dlx, tmp_path):
    r = dlx("train", "model=mlp", "data=sbm", "trainer.epochs=2", *TINY)
    assert r.code == 0, r.err
    assert _summary(tmp_path)["model"] == "mlp"


def write_graph(folder: Path, extra_edge: str = "") -> tuple[Path, Path]:
    nodes = folder / "nodes.csv"
    rows = [f"n{i},{i % 2 + 0.1 * i},{(i * 7) % 5},{'ab'[i % 2]}" for i in range(20)]
    nodes.write_text("id,f1,f2,label\n" + "\n".join(rows) + "\n")
    edges = folder / "edges.csv"
    pairs = [f"n{i},n{(i + 2) % 20}" for i in range(20)]
    edges.write_text("source,target\n" + "\n".join(pairs) + "\n" + extra_edge)
    return nodes, edges


def test_graph_csv_trains(dlx, tmp_path):
    nodes, edges = write_graph(tmp_path)
    r = dlx("train", "model=gnn", "data=graph_csv", f"data.nodes={nodes}", f"data.edges={edges}",
            "model.conv=sage", "trainer.epochs=2", *TINY)
    assert r.code == 0, r.err
    s = _summary(tmp_path)
    assert s["train_size"] + s["val_size"] + s["test_size"] == 20


def test_cv_folds_are_over_nodes(dlx, tmp_path):
    r = dlx("cv", "model=gnn", "data=karate", "trainer.epochs=2", "--folds", "2", *TINY)
    assert r.code == 0, r.err
    folds = sorted((tmp_path / "outputs" / "cv").glob("*/fold-*/summary.json"))
    sizes = [json.loads(f.read_text())["val_size"] for f in folds]
    assert len(sizes) == 2 and sum(sizes) == json.loads(folds[0].read_text())["train_size"] + sizes[0]


# ---------------------------------------------------------------- graph classification (data=graph_set)

SET = ["data=graph_set", "data.graphs_per_class=12", "data.min_nodes=5", "data.max_nodes=9", *TINY]


def test_union_cuts_graphs_out_with_their_own_edges():
    from dlx.data.graphsets import GraphSetConfig, load_graph_set
    from dlx.engine.graphset import union

    raw = load_graph_set(GraphSetConfig(name="graph_set", shapes=["cycle", "tree"], graphs_per_class=3,
                                        min_nodes=4, max_nodes=7))
    graph = {"x": torch.arange(len(raw.x))[:, None].float(), "edges": torch.as_tensor(raw.edges),
             "node_ptr": torch.as_tensor(raw.node_ptr), "edge_ptr": torch.as_tensor(raw.edge_ptr)}
    ids = torch.tensor([4, 0, 5])
    x, edges, batch = union(graph, ids)
    offset = 0
    for position, g in enumerate(ids.tolist()):  # the loop the union avoids, as the reference
        lo, hi = raw.node_ptr[g], raw.node_ptr[g + 1]
        assert x[offset:offset + hi - lo, 0].tolist() == list(range(lo, hi))
        assert (batch[offset:offset + hi - lo] == position).all()
        own = raw.edges[:, raw.edge_ptr[g]:raw.edge_ptr[g + 1]] - lo + offset
        mine = edges[:, (batch[edges[0]] == position)]
        assert sorted(map(tuple, own.T.tolist())) == sorted(map(tuple, mine.T.tolist()))
        offset += hi - lo
    assert (batch[edges[0]] == batch[edges[1]]).all()  # no edge crosses graphs
    cycle_edges = raw.edge_ptr[1] - raw.edge_ptr[0]
    assert cycle_edges == 2 * (raw.node_ptr[1] - raw.node_ptr[0])  # a cycle of n nodes: n undirected edges


@pytest.mark.parametrize("readout", ["sum", "mean", "max"])
def test_readout_gives_one_row_per_graph(readout):
    torch.manual_seed(0)
    model = GNN(GNNConfig(readout=readout, hidden=8, dropout=0.0), 3, 2).eval()
    x, edges = torch.randn(5, 3), torch.tensor([[0, 1, 3], [1, 0, 4]])
    batch = torch.tensor([0, 0, 1, 1, 1])
    out = model(x, edges, batch, 2)
    assert out.shape == (2, 2)
    alone = model(x[:2], edges[:, :2], torch.zeros(2, dtype=torch.long), 1)
    torch.testing.assert_close(out[0], alone[0])  # a graph's row does not depend on the other graphs


def test_graph_classification_through_the_cli(dlx, tmp_path):
    r = dlx("train", "model=gnn", "model.readout=mean", "model.conv=gin", *SET, "data.shapes=[cycle,tree]",
            "trainer.epochs=2", "trainer.batch_size=8")
    assert r.code == 0, r.err
    s = _summary(tmp_path)
    assert s["task"] == "graph-set" and s["train_size"] + s["val_size"] + s["test_size"] == 24  # graphs, not nodes
    assert 0 <= s["test_acc"] <= 1


def test_graph_set_is_seeded_and_split_stratified_over_graphs():
    from dlx.data import build
    from dlx.data.graphsets import GraphSetConfig

    cfg = GraphSetConfig(name="graph_set", graphs_per_class=30, shapes=["sbm", "er", "tree"], seed=2)
    a, b = build(cfg), build(cfg)
    assert torch.equal(a.graph["edges"], b.graph["edges"]) and torch.equal(a.test.x, b.test.x)
    assert np.bincount(a.test.y.numpy()).tolist() == [6, 6, 6]  # 20% of 30 graphs per class
    assert sorted(np.concatenate([a.train.index, a.val.index, a.test.index])) == list(range(90))
    assert a.graph["node_ptr"].shape == (91,) and a.graph["node_ptr"][-1] == a.graph["x"].shape[0]


def test_cv_folds_are_over_graphs(dlx, tmp_path):
    r = dlx("cv", "model=gnn", "model.readout=sum", *SET, "trainer.epochs=1", "--folds", "2")
    assert r.code == 0, r.err
    folds = sorted((tmp_path / "outputs" / "cv").glob("*/fold-*/summary.json"))
    sizes = [json.loads(f.read_text())["val_size"] for f in folds]
    first = json.loads(folds[0].read_text())
    assert len(sizes) == 2 and abs(sizes[0] - sizes[1]) <= 1 and sum(sizes) == first["train_size"] + sizes[0]
    assert sum(sizes) + first["test_size"] == 24  # folds over the graphs outside the test split


# ---------------------------------------------------------------- karate: the 4-labelled-node setup


def test_karate_communities_partition_the_club_by_modularity():
    import networkx as nx

    from dlx.data.graphs import COMMUNITIES

    g = nx.karate_club_graph()
    members = sorted(n for c in COMMUNITIES for n in c)
    assert members == list(range(34))
    assert all(nx.is_connected(g.subgraph(c)) for c in COMMUNITIES)
    assert nx.community.modularity(g, [set(c) for c in COMMUNITIES]) > 0.4


def test_karate_four_labelled_nodes_one_per_community_the_rest_tested(dlx, tmp_path):
    r = dlx("train", "model=gnn", "data=karate", "data.communities=4", "data.labelled_per_class=1",
            "data.val_fraction=0", "trainer.epochs=2", *TINY)
    assert r.code == 0, r.err
    s = _summary(tmp_path)
    assert s["train_size"] == 4 and s["val_size"] == 0 and s["test_size"] == 30
    from dlx.data import build
    from dlx.data.graphs import KarateConfig

    bundle = build(KarateConfig(name="karate", communities=4, labelled_per_class=1, val_fraction=0))
    assert sorted(bundle.train.y.tolist()) == [0, 1, 2, 3] and bundle.classes == [f"community{c}" for c in range(4)]


# ---------------------------------------------------------------- dlx eval / predict of graph runs


def test_eval_and_predict_a_node_classifier_agree_with_training(dlx, tmp_path):
    assert dlx("train", "model=gnn", "data=karate", "trainer.epochs=5", "optim.lr=0.05", *TINY).code == 0
    r = dlx("eval", "last", "--format", "json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["metrics"]["acc"] == pytest.approx(_summary(tmp_path)["test_acc"])
    assert report["size"] == _summary(tmp_path)["test_size"] and np.sum(report["confusion"]) == report["size"]
    r = dlx("predict", "last", "--split", "all", "--proba", "-o", "p.csv")
    assert r.code == 0, r.err
    import pandas as pd

    rows = pd.read_csv(tmp_path / "p.csv")
    assert rows["node"].tolist() == list(range(34)) and list(rows.columns[-2:]) == ["proba_Mr. Hi", "proba_Officer"]


def test_eval_and_predict_a_graph_classifier(dlx, tmp_path):
    assert dlx("train", "model=gnn", "model.readout=sum", *SET, "trainer.epochs=2").code == 0
    r = dlx("eval", "last", "--format", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["metrics"]["acc"] == pytest.approx(_summary(tmp_path)["test_acc"])
    r = dlx("predict", "last", "--split", "test", "-o", "p.csv")
    assert r.code == 0, r.err
    import pandas as pd

    rows = pd.read_csv(tmp_path / "p.csv")
    assert len(rows) == _summary(tmp_path)["test_size"] and set(rows["prediction"]) <= {"cycle", "tree"}
    assert set(rows["graph"]) < set(range(24))


@pytest.mark.slow
def test_graph_classification_resumes_after_kill_like_the_uninterrupted_run(tmp_path):
    from tests.test_resume import assert_same, finish, outcome, stop_at, the_run

    run = ["train", "model=gnn", "model.conv=gin", "model.readout=mean", *SET, "trainer.epochs=3",
           "trainer.batch_size=4", "trainer.deterministic=true", "-q"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    finish(tmp_path / "a", run)
    killed = stop_at(tmp_path / "b", run, "step@6")  # epoch 2, mid-way: the shuffled graph order matters
    assert killed.returncode != 0
    finish(tmp_path / "b", ["train", "--resume", "last", "-q"])
    assert_same(outcome(the_run(tmp_path / "b")), outcome(the_run(tmp_path / "a")))
