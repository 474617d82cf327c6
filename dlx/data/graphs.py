"""Graphs for node classification: Zachary's karate club, a stochastic block model, a user's CSVs.

A graph dataset returns `GraphData` (node features, an edge list, a label per node). It is
split over NODES (seeded, stratified, k-fold over nodes for CV) into a `GraphBundle` whose
splits hold node ids and their labels: the loop batches node ids as it batches samples, and
the graph task (dlx/engine/graph.py) runs the whole graph and reads the rows it was given.
Features are standardised with statistics of the training nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from dlx.data.bundle import DataBundle, DataConfig, Split
from dlx.data.splits import holdout, split_indices
from dlx.data.dataset_schemas import GRAPH_NODES, GraphCSVConfig, KarateConfig, SBMConfig
from dlx.errors import DataError

KIND = GRAPH_NODES  # the data kind: the graph task (dlx/engine/graph.py) trains on it


@dataclass
class GraphData:
    x: np.ndarray  # (N, F) float32 node features
    edges: np.ndarray  # (2, E) int64 directed edges (both directions for an undirected graph)
    y: np.ndarray  # (N,) int64 labels
    classes: list[str]
    kind: str = "multiclass"  # how the node labels split (stratified)
    test = None  # no separate test set: nodes are held out
    groups = None
    names: Optional[list[str]] = None  # the file's node ids (graph_csv), for predictions; None: row numbers


@dataclass
class GraphBundle(DataBundle):
    graph: Optional[dict] = None  # {"x": (N, F) standardised features, "edges": (2, E)} tensors
    node_names: Optional[list[str]] = None  # the file's node ids, by node number (None: the numbers name them)


def bundle_from_graph(raw: GraphData, cfg: DataConfig) -> GraphBundle:
    if len(raw.y) == 0:
        raise DataError(f"graph '{cfg.name}' has no nodes")
    per_class = getattr(cfg, "labelled_per_class", 0)
    train_i, val_i, test_i = labelled(raw.y, per_class, cfg) if per_class else split_indices(raw, cfg)
    x = torch.as_tensor(raw.x, dtype=torch.float32)
    y = torch.as_tensor(raw.y, dtype=torch.long)
    mean, std = x[train_i].mean(0), x[train_i].std(0, unbiased=False)
    if cfg.preprocess == "standardize":
        x = (x - mean) / torch.where(std > 0, std, torch.ones_like(std))

    def split(idx):
        idx = np.asarray(idx, dtype=np.int64)
        return Split(torch.as_tensor(idx), y[idx], idx)

    graph = {"x": x, "edges": torch.as_tensor(raw.edges, dtype=torch.long)}
    return GraphBundle(split(train_i), split(val_i), split(test_i), (x.shape[1],), KIND, list(raw.classes),
                       preprocess={"mode": cfg.preprocess}, graph=graph, node_names=raw.names)


def labelled(y: np.ndarray, per_class: int, cfg: DataConfig):
    """Semi-supervised split: `per_class` training nodes of each class (seeded); the rest is
    split into val and test by data.val_fraction."""
    rng = np.random.default_rng(cfg.seed)
    train = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])
    rest = np.setdiff1d(np.arange(len(y)), train)
    test, val = holdout(y[rest], "multiclass", cfg.val_fraction, cfg.seed)
    return np.sort(train), rest[val], rest[test]


def undirected(edges: np.ndarray) -> np.ndarray:
    """(2, E) edges in both directions, without duplicates or self-loops."""
    both = np.concatenate([edges, edges[::-1]], axis=1)
    both = both[:, both[0] != both[1]]
    return np.unique(both, axis=1)


# ------------------------------------------------------------------ karate


# The 4 communities of the usual semi-supervised karate setup (Kipf & Welling 2017 label one node in
# each of 4 modularity communities): networkx 3.6 `louvain_communities(karate_club_graph(), seed=0)`
# (weighted modularity 0.44), frozen here so the labels never move with a networkx release.
COMMUNITIES = ([0, 1, 2, 3, 7, 11, 12, 13, 17, 19, 21], [4, 5, 6, 10, 16],
               [8, 9, 14, 15, 18, 20, 22, 23, 26, 27, 29, 30, 32, 33], [24, 25, 28, 31])


def load_karate(cfg: KarateConfig) -> GraphData:
    import networkx as nx

    g = nx.karate_club_graph()
    edges = undirected(np.array(list(g.edges()), dtype=np.int64).T)
    if cfg.communities == 4:
        y = np.zeros(g.number_of_nodes(), dtype=np.int64)
        for c, members in enumerate(COMMUNITIES):
            y[members] = c
        return GraphData(np.eye(len(y), dtype=np.float32), edges, y, [f"community{c}" for c in range(4)])
    clubs = sorted({g.nodes[n]["club"] for n in g.nodes})
    y = np.array([clubs.index(g.nodes[n]["club"]) for n in sorted(g.nodes)], dtype=np.int64)
    return GraphData(np.eye(len(y), dtype=np.float32), edges, y, clubs)


# ------------------------------------------------------------------ stochastic block model


def load_sbm(cfg: SBMConfig) -> GraphData:
    rng = np.random.default_rng(cfg.seed)
    y = np.repeat(np.arange(cfg.blocks), cfg.block_size)
    n = len(y)
    p = np.where(y[:, None] == y[None, :], cfg.p_in, cfg.p_out)
    upper = np.triu(rng.random((n, n)) < p, k=1)
    edges = undirected(np.array(np.nonzero(upper), dtype=np.int64))
    centres = rng.normal(size=(cfg.blocks, cfg.features))
    x = centres[y] + rng.normal(scale=cfg.feature_noise, size=(n, cfg.features))
    return GraphData(x.astype(np.float32), edges, y.astype(np.int64), [f"block{b}" for b in range(cfg.blocks)])


# ------------------------------------------------------------------ user CSVs


def load_graph_csv(cfg: GraphCSVConfig) -> GraphData:
    import pandas as pd

    cfg.check_files()
    nodes, edges = pd.read_csv(Path(cfg.nodes)), pd.read_csv(Path(cfg.edges))
    for col in (cfg.id_col, cfg.target):
        if col not in nodes.columns:
            raise DataError(f"graph_csv: {cfg.nodes} has no column '{col}' (columns: {', '.join(map(str, nodes.columns))});"
                            f" set data.id_col / data.target")
    if edges.shape[1] < 2:
        raise DataError(f"graph_csv: {cfg.edges} needs two columns (source, target), it has {edges.shape[1]}")
    names = nodes[cfg.id_col].astype(str).tolist()
    check_unique(names, cfg.nodes, cfg.id_col)
    ids = {v: i for i, v in enumerate(names)}
    ends = edges.iloc[:, :2].astype(str).to_numpy()
    unknown = sorted({v for v in ends.ravel() if v not in ids})
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise DataError(f"graph_csv: {cfg.edges} names {len(unknown)} node(s) with no row in {cfg.nodes}: {shown}; "
                        "add their features or drop those edges")
    pairs = np.array([[ids[a] for a in ends[:, 0]], [ids[b] for b in ends[:, 1]]], dtype=np.int64).reshape(2, -1)
    features = nodes.drop(columns=[cfg.id_col, cfg.target])
    try:
        x = features.to_numpy(dtype=np.float32)
    except ValueError:
        raise DataError(f"graph_csv: node features in {cfg.nodes} must be numbers") from None
    labels = nodes[cfg.target].astype(str)
    classes = sorted(labels.unique())
    y = np.array(labels.map({c: i for i, c in enumerate(classes)}), dtype=np.int64)
    return GraphData(x, pairs if cfg.directed else undirected(pairs), y, classes, names=names)


def check_unique(names: list[str], path, column: str) -> None:
    """A node id given twice would become a second node: refuse, naming the id and its lines."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(f"graph_csv: {path} gives node id '{name}' twice (lines {seen[name] + 2} and {i + 2} "
                            f"of column '{column}'); give each node one row")
        seen[name] = i
