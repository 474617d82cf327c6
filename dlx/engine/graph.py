"""Node classification on one graph (data kind `graph-nodes`: data=karate, sbm, graph_csv).

The splits hold node ids; a batch is `(node ids, labels)` — by default every training node
at once (full-batch, as GCN is usually trained). A step runs the model over the whole graph
(its features and edges live on the device with the task) and takes the loss on the batch's
nodes only: the other nodes' features still flow in as neighbours (transductive learning).
A model without message passing (model=mlp) sees each node's own features: a baseline.
Graph-set data (one label per graph) trains here too: see dlx/engine/graphset.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from dlx.data.graphs import KIND
from dlx.data.graphsets import SET_KIND
from dlx.engine.graphset import GraphSetTask
from dlx.engine.parts import build_parts
from dlx.engine.tasks import OneModelTask
from dlx.errors import ConfigError, DataError
from dlx.metrics import accumulator, metric_names
from dlx.registry import TASKS


@TASKS.register("graph", kinds=(KIND, SET_KIND))
class GraphTask(GraphSetTask, OneModelTask):
    """One model over the whole graph; loss and metrics on the nodes of the batch."""

    def __init__(self, model, loss, optimizer, schedule, graph: dict, *, num_outputs: int, batch_size: int):
        super().__init__(model, optimizer, schedule, loss=loss, batch_size=batch_size)
        self.graph, self.num_outputs = graph, num_outputs
        self.message_passing = bool(getattr(model, "graph", False))
        self.per_graph = False  # graph-set data: a batch holds graph ids (GraphSetTask.build_set)

    @classmethod
    def build(cls, exp, bundle, device) -> "GraphTask":
        if bundle.kind == SET_KIND:
            return cls.build_set(exp, bundle, device)
        if getattr(exp.model, "readout", "none") != "none":
            raise ConfigError(f"model.readout={exp.model.readout} pools whole graphs, but data={exp.data.name} "
                              "classifies nodes; drop model.readout (or use data=graph_set)")
        nodes = replace(bundle, kind="multiclass")  # the loss and metrics of node labels
        exp = replace(exp, trainer=replace(exp.trainer, batch_size=max(len(bundle.train), 1)))  # full batch
        model, loss, optimizer, schedule, _, batch_size, _ = build_parts(exp, nodes, device)
        graph = {k: v.to(device) for k, v in bundle.graph.items()}
        return cls(model, loss, optimizer, schedule, graph, num_outputs=loss.num_outputs, batch_size=batch_size)

    @classmethod
    def outputs_of(cls, exp, meta) -> int:
        return meta.num_outputs if meta.num_outputs is not None else len(meta.classes)

    @classmethod
    def for_inference(cls, exp, meta, model) -> "GraphTask":
        from dlx.losses import build_loss

        k = cls.outputs_of(exp, meta)
        task = cls(model, build_loss(exp.loss, "multiclass", len(meta.classes), k, 0.0), None, None, {},
                   num_outputs=k, batch_size=0)
        task.per_graph = meta.kind == SET_KIND
        return task

    def metric_names(self) -> list[str]:
        return metric_names("multiclass", self.num_outputs)

    def train_metrics(self):
        return accumulator("multiclass", self.num_outputs, top5=False)

    def eval_metrics(self, keep_scores: bool = True):
        return accumulator("multiclass", self.num_outputs)

    def outputs_for(self, ids):
        """Logits of the nodes (or graphs) `ids`."""
        if self.per_graph:
            return self.forward_graphs(ids)
        x = self.graph["x"]
        if self.message_passing:
            return self.model(x, self.graph["edges"])[ids]
        return self.model(x[ids])

    def forward(self, batch):
        ids, y = batch
        return self.outputs_for(ids), y

    # ------------------------------------------------------------ after training: its own graph

    def split_outputs(self, run, overrides: list[str], split: str):
        """(logits (n, C), labels (n,), name, ids (n,)) of the split's nodes or graphs, on the graph the
        run's data config (with `overrides`) builds: the same seeded split as in training."""
        if split not in ("test", "val", "train", "all"):
            raise ConfigError(f"--split {split}: choose test, val, train or all")
        bundle, name = run.load_bundle(overrides, (KIND, SET_KIND))
        parts = {"train": bundle.train, "val": bundle.val, "test": bundle.test}
        if split == "all":
            ids, y = torch.cat([p.x for p in parts.values()]), torch.cat([p.y for p in parts.values()])
            order = ids.argsort()
            ids, y = ids[order], y[order]
        else:
            ids, y = parts[split].x, parts[split].y
        if len(ids) == 0:
            raise DataError(f"the {split} split is empty: nothing to evaluate (try --split all)")
        self.graph, self.per_graph = bundle.graph, bundle.kind == SET_KIND
        self.node_names = getattr(bundle, "node_names", None)  # a graph CSV's own ids name its rows
        with torch.inference_mode():
            out = self.outputs_for(ids)
        return out.float(), y, split if not overrides else f"{name}-{split}", ids

    def evaluate_run(self, run, overrides: list[str], split: str) -> dict:
        out, y, name, _ = self.split_outputs(run, overrides, split)
        metrics = self.eval_metrics()
        metrics.update(out, y, self.loss(out, y).item())
        return run.class_report(name, metrics.compute(), out, y)

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        """One row per node (graph-nodes) or graph (graph-set) of the split: its id, target, prediction."""
        if source is not None:
            raise ConfigError(f"run {run.path.name} is a graph model ({run.kind}): it predicts on its graph "
                              "data, not on an INPUT file; use --split test (data overrides choose other graphs)")
        out, y, _, ids = self.split_outputs(run, list(overrides), split or "test")
        return iter([self.frame(run, out, y, ids, proba)])

    def frame(self, run, out, y, ids, proba: bool):
        frame = run.frame(torch.softmax(out, 1), proba)
        frame.insert(0, "target", np.asarray(run.classes, dtype=object)[y.numpy()])
        names = getattr(self, "node_names", None)
        frame.insert(0, "graph" if self.per_graph else "node",
                     np.asarray(names, dtype=object)[ids.numpy()] if names else ids.numpy())
        return frame
