"""Graph neural networks by message passing in plain torch (`index_add_` / `scatter_reduce`).

`forward(x, edges)`: x (N, F) node features, edges (2, E) source -> target node ids. A layer
gathers messages along the edges and aggregates them at each target node:
  gcn   D^-1/2 (A+I) D^-1/2 X W (Kipf & Welling; model.aggregate does not apply)
  sage  X W_self + AGG_{j in N(i)} x_j W_neigh
  gin   MLP((1 + eps) x_i + AGG_{j in N(i)} x_j), eps learned
  gat   sum_j softmax_j(LeakyReLU(a^T [W x_i || W x_j])) W x_j over N(i) and i (hidden heads concatenated)
with AGG = model.aggregate: sum | mean | max.

Graph classification (data=graph_set) needs `model.readout=sum|mean|max`: every layer is then
hidden, each graph's node rows are pooled into one (`batch` says which graph a node is in)
and a linear head classifies the pooled row. `readout=none` (the default): node classification.
"""

from __future__ import annotations

import torch
from torch import nn

from dlx.models.layers import flat_features
from dlx.models.task_schemas import GNNConfig  # torch-free: checked before torch loads


def aggregate(messages: torch.Tensor, target: torch.Tensor, n: int, how: str) -> torch.Tensor:
    """Combine per-edge `messages` (E, D) at their `target` nodes: (n, D); a node with no
    incoming edge gets zeros."""
    out = messages.new_zeros(n, messages.shape[1])
    index = target[:, None].expand_as(messages)
    if how == "sum":
        return out.index_add_(0, target, messages)
    if how == "mean":
        return out.scatter_reduce_(0, index, messages, "mean", include_self=False)
    return out.scatter_reduce_(0, index, messages, "amax", include_self=False)


class GCNConv(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=False)
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, x, edges):
        n = x.shape[0]
        loops = torch.arange(n, device=x.device)
        src, dst = torch.cat([edges[0], loops]), torch.cat([edges[1], loops])
        degree = torch.zeros(n, device=x.device).index_add_(0, dst, torch.ones_like(dst, dtype=x.dtype))
        norm = degree.rsqrt()
        h = self.linear(x)
        weights = (norm[src] * norm[dst])[:, None]
        return aggregate(h[src] * weights, dst, n, "sum") + self.bias


class SAGEConv(nn.Module):
    def __init__(self, d_in: int, d_out: int, how: str):
        super().__init__()
        self.self_linear, self.neigh_linear, self.how = nn.Linear(d_in, d_out), nn.Linear(d_in, d_out, bias=False), how

    def forward(self, x, edges):
        return self.self_linear(x) + self.neigh_linear(aggregate(x[edges[0]], edges[1], x.shape[0], self.how))


class GINConv(nn.Module):
    def __init__(self, d_in: int, d_out: int, how: str):
        super().__init__()
        self.eps, self.how = nn.Parameter(torch.zeros(())), how
        self.mlp = nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU(), nn.Linear(d_out, d_out))

    def forward(self, x, edges):
        return self.mlp((1 + self.eps) * x + aggregate(x[edges[0]], edges[1], x.shape[0], self.how))


class GATConv(nn.Module):
    def __init__(self, d_in: int, d_out: int, heads: int):
        super().__init__()
        self.heads, self.d_out = heads, d_out
        self.linear = nn.Linear(d_in, heads * d_out, bias=False)
        self.att_src = nn.Parameter(torch.randn(heads, d_out) * 0.1)
        self.att_dst = nn.Parameter(torch.randn(heads, d_out) * 0.1)
        self.bias = nn.Parameter(torch.zeros(heads * d_out))

    def forward(self, x, edges):
        n = x.shape[0]
        loops = torch.arange(n, device=x.device)
        src, dst = torch.cat([edges[0], loops]), torch.cat([edges[1], loops])
        h = self.linear(x).view(n, self.heads, self.d_out)
        score = nn.functional.leaky_relu((h * self.att_src).sum(-1)[src] + (h * self.att_dst).sum(-1)[dst], 0.2)
        top = torch.full((n, self.heads), -torch.inf, device=x.device)
        top = top.scatter_reduce(0, dst[:, None].expand_as(score), score, "amax", include_self=True)
        weight = (score - top[dst]).exp()  # softmax over each node's incoming edges, stably
        total = torch.zeros(n, self.heads, device=x.device).index_add_(0, dst, weight)
        alpha = weight / total[dst]
        out = torch.zeros(n, self.heads, self.d_out, device=x.device).index_add_(0, dst, h[src] * alpha[..., None])
        return out.reshape(n, -1) + self.bias


class GNN(nn.Module):
    """`layers` convolutions with ReLU and dropout between them; the last one outputs logits
    (with a readout: the last one is hidden too, and a linear head maps the pooled graph to logits)."""

    graph = True  # the graph task calls forward(x, edges)

    def __init__(self, cfg: GNNConfig, in_features: int, num_outputs: int):
        super().__init__()
        self.dropout, self.readout = nn.Dropout(cfg.dropout), cfg.readout
        pooled = cfg.readout != "none"
        convs, width = [], in_features
        for i in range(cfg.layers):
            last = i == cfg.layers - 1 and not pooled
            out = num_outputs if last else cfg.hidden
            if cfg.conv == "gcn":
                convs.append(GCNConv(width, out))
            elif cfg.conv == "sage":
                convs.append(SAGEConv(width, out, cfg.aggregate))
            elif cfg.conv == "gin":
                convs.append(GINConv(width, out, cfg.aggregate))
            else:
                heads = 1 if last else cfg.heads
                convs.append(GATConv(width, out, heads))
                out *= heads
            width = out
        self.convs = nn.ModuleList(convs)
        self.head = nn.Linear(width, num_outputs) if pooled else None

    def forward(self, x, edges=None, batch=None, size: int | None = None):
        """`edges` None: a graph without edges (each node sees itself only; `dlx models show`).
        With a readout, `batch` (N,) the graph of each node among `size` graphs (None: one graph)."""
        x = x.flatten(1)
        if edges is None:
            edges = torch.zeros(2, 0, dtype=torch.long, device=x.device)
        for i, conv in enumerate(self.convs):
            x = conv(self.dropout(x), edges)
            if i < len(self.convs) - 1 or self.head is not None:
                x = torch.relu(x)
        if self.head is None:
            return x
        if batch is None:
            batch, size = torch.zeros(x.shape[0], dtype=torch.long, device=x.device), 1
        return self.head(self.dropout(aggregate(x, batch, size, self.readout)))  # (size, classes)


def build_gnn(cfg: GNNConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    return GNN(cfg, flat_features(input_shape), num_outputs)
