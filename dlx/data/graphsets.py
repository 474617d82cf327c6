"""Sets of many small graphs for graph classification (data kind `graph-set`: data=graph_set).

All graphs of a set are stored as ONE disjoint union: node features (N, F), edges (2, E) in
global node ids and sorted by graph, and `node_ptr` / `edge_ptr` (G+1) offsets of each graph's
nodes and edges. The splits hold GRAPH ids (seeded, stratified by class; k-fold over graphs
for CV); the loop batches graph ids as it batches samples and the task (dlx/engine/graphset.py)
cuts the batch's graphs out of the union with tensor ops only. Node features are one-hot
degrees (capped at data.max_degree, the usual choice for graphs without features), then
standardised with the training graphs' statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlx.data.bundle import DataConfig, Split
from dlx.data.graphs import GraphBundle, undirected
from dlx.data.splits import split_indices
from dlx.data.dataset_schemas import GRAPH_SET, GraphSetConfig
from dlx.errors import DataError

SET_KIND = GRAPH_SET  # the data kind: one label per graph


@dataclass
class GraphSetData:
    x: np.ndarray  # (N, F) float32 node features of every graph
    edges: np.ndarray  # (2, E) int64 global node ids, grouped by graph
    node_ptr: np.ndarray  # (G+1,) graph g owns nodes node_ptr[g]:node_ptr[g+1]
    edge_ptr: np.ndarray  # (G+1,) and edges edge_ptr[g]:edge_ptr[g+1]
    y: np.ndarray  # (G,) int64 graph labels
    classes: list[str]
    kind: str = "multiclass"  # how the graph labels split (stratified)
    test = None  # no separate test set: graphs are held out
    groups = None



def random_edges(shape: str, n: int, cfg: GraphSetConfig, rng: np.random.Generator) -> np.ndarray:
    """(2, E) undirected edges of one graph of `n` nodes drawn by generator `shape`."""
    if shape == "cycle":
        a = np.arange(n)
        return undirected(np.stack([a, (a + 1) % n]))
    if shape == "tree":  # a uniform random recursive tree: node i hangs under one of 0..i-1
        a = np.arange(1, n)
        return undirected(np.stack([a, (rng.random(n - 1) * a).astype(np.int64)]))
    if shape == "er":
        p = np.full((n, n), cfg.p)
    else:
        block = np.arange(n) < n // 2
        p = np.where(block[:, None] == block[None, :], cfg.p_in, cfg.p_out)
    upper = np.triu(rng.random((n, n)) < p, k=1)
    return undirected(np.array(np.nonzero(upper), dtype=np.int64).reshape(2, -1))


def load_graph_set(cfg: GraphSetConfig) -> GraphSetData:
    rng = np.random.default_rng(cfg.seed)
    y = np.repeat(np.arange(len(cfg.shapes)), cfg.graphs_per_class)
    sizes = rng.integers(cfg.min_nodes, cfg.max_nodes + 1, size=len(y))
    parts, degrees, offset = [], [], 0
    for label, n in zip(y, sizes):  # built once when the data loads: never in the training loop
        e = random_edges(cfg.shapes[label], int(n), cfg, rng)
        degrees.append(np.bincount(e[0], minlength=n))
        parts.append(e + offset)
        offset += int(n)
    edges = np.concatenate(parts, axis=1)
    node_ptr = np.concatenate([[0], np.cumsum(sizes)])
    edge_ptr = np.concatenate([[0], np.cumsum([p.shape[1] for p in parts])])
    degree = np.minimum(np.concatenate(degrees), cfg.max_degree)
    x = np.eye(cfg.max_degree + 1, dtype=np.float32)[degree]
    return GraphSetData(x, edges, node_ptr.astype(np.int64), edge_ptr.astype(np.int64), y.astype(np.int64),
                        list(cfg.shapes))


def bundle_from_graph_set(raw: GraphSetData, cfg: DataConfig) -> GraphBundle:
    if len(raw.y) == 0:
        raise DataError(f"graph set '{cfg.name}' has no graphs")
    train_i, val_i, test_i = split_indices(raw, cfg)
    x = torch.as_tensor(raw.x, dtype=torch.float32)
    node_ptr = torch.as_tensor(raw.node_ptr)
    if cfg.preprocess == "standardize":  # statistics of the training graphs' nodes only
        graph_of_node = torch.repeat_interleave(torch.arange(len(raw.y)), node_ptr.diff())
        own = torch.isin(graph_of_node, torch.as_tensor(np.asarray(train_i, dtype=np.int64)))
        mean, std = x[own].mean(0), x[own].std(0, unbiased=False)
        x = (x - mean) / torch.where(std > 0, std, torch.ones_like(std))
    y = torch.as_tensor(raw.y, dtype=torch.long)

    def split(idx):
        idx = np.asarray(idx, dtype=np.int64)
        return Split(torch.as_tensor(idx), y[idx], idx)

    graph = {"x": x, "edges": torch.as_tensor(raw.edges, dtype=torch.long), "node_ptr": node_ptr,
             "edge_ptr": torch.as_tensor(raw.edge_ptr)}
    return GraphBundle(split(train_i), split(val_i), split(test_i), (x.shape[1],), SET_KIND, list(raw.classes),
                       preprocess={"mode": cfg.preprocess}, graph=graph)
