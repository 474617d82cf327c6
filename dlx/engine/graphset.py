"""Graph classification on a set of small graphs (data kind `graph-set`: data=graph_set).

The splits hold graph ids; a batch is `(graph ids, labels)`. `union` cuts the batch's graphs
out of the whole set (which lives on the device with the task) as one disjoint-union graph —
node features, edges renumbered into the batch, and each node's graph — with tensor ops
only, no Python loop over graphs. The model (model=gnn with model.readout=sum|mean|max)
pools each graph's nodes into one row and classifies it.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from dlx.errors import ConfigError


def ranges(starts: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated aranges starts[i] .. starts[i]+counts[i]-1, and the i of each element."""
    owner = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    first = torch.cumsum(counts, 0) - counts  # position of each range's first element in the result
    within = torch.arange(owner.shape[0], device=counts.device) - first[owner]
    return starts[owner] + within, owner


def union(graph: dict, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x (n, F), edges (2, e) in batch node ids, batch (n,) the position in `ids` of each node's graph)."""
    node_ptr, edge_ptr = graph["node_ptr"], graph["edge_ptr"]
    nodes, batch = ranges(node_ptr[ids], node_ptr[ids + 1] - node_ptr[ids])
    edge_index, _ = ranges(edge_ptr[ids], edge_ptr[ids + 1] - edge_ptr[ids])
    local = torch.empty(graph["x"].shape[0], dtype=torch.long, device=nodes.device)
    local[nodes] = torch.arange(nodes.shape[0], device=nodes.device)  # global node id -> position in the batch
    return graph["x"][nodes], local[graph["edges"][:, edge_index]], batch


class GraphSetTask:
    """Mixed into the graph task (dlx/engine/graph.py) for graph-set data: one row per graph."""

    @classmethod
    def build_set(cls, exp, bundle, device):
        from dlx.engine.parts import build_parts

        if getattr(exp.model, "readout", None) in (None, "none"):
            what = "model=gnn with model.readout=sum|mean|max" if exp.model.name == "gnn" else "model=gnn"
            raise ConfigError(f"data={exp.data.name} classifies whole graphs: use {what} "
                              f"(model={exp.model.name} gives no row per graph)")
        graphs = replace(bundle, kind="multiclass")  # the loss and metrics of graph labels
        model, loss, optimizer, schedule, _, batch_size, _ = build_parts(exp, graphs, device)
        graph = {k: v.to(device) for k, v in bundle.graph.items()}
        task = cls(model, loss, optimizer, schedule, graph, num_outputs=loss.num_outputs, batch_size=batch_size)
        task.per_graph = True
        return task

    def forward_graphs(self, ids):
        x, edges, batch = union(self.graph, ids)
        return self.model(x, edges, batch, ids.shape[0])

