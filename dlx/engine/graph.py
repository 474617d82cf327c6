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

from dlx.data.graphs import KIND
from dlx.data.graphsets import SET_KIND
from dlx.engine.graphset import GraphSetTask
from dlx.engine.tasks import Task
from dlx.errors import ConfigError
from dlx.metrics import accumulator, metric_names
from dlx.registry import TASKS


@TASKS.register("graph", kinds=(KIND, SET_KIND))
class GraphTask(GraphSetTask, Task):
    """One model over the whole graph; loss and metrics on the nodes of the batch."""

    def __init__(self, model, loss, optimizer, schedule, graph: dict, *, num_outputs: int, batch_size: int):
        self.model, self.loss, self.graph = model, loss, graph
        self.optimizers, self.schedules = {"model": optimizer}, {"model": schedule}
        self.optimizer = optimizer
        self.num_outputs, self.batch_size = num_outputs, batch_size
        self.message_passing = bool(getattr(model, "graph", False))
        self.per_graph = False  # graph-set data: a batch holds graph ids (GraphSetTask.build_set)

    @classmethod
    def build(cls, exp, bundle, device) -> "GraphTask":
        from dlx.engine.experiment import build_parts

        if bundle.task == SET_KIND:
            return cls.build_set(exp, bundle, device)
        if getattr(exp.model, "readout", "none") != "none":
            raise ConfigError(f"model.readout={exp.model.readout} pools whole graphs, but data={exp.data.name} "
                              "classifies nodes; drop model.readout (or use data=graph_set)")
        nodes = replace(bundle, task="multiclass")  # the loss and metrics of node labels
        exp = replace(exp, trainer=replace(exp.trainer, batch_size=max(len(bundle.train), 1)))  # full batch
        model, loss, optimizer, schedule, _, batch_size, _ = build_parts(exp, nodes, device)
        graph = {k: v.to(device) for k, v in bundle.graph.items()}
        return cls(model, loss, optimizer, schedule, graph, num_outputs=loss.num_outputs, batch_size=batch_size)

    def metric_names(self) -> list[str]:
        return metric_names("multiclass", self.num_outputs)

    def train_metrics(self):
        return accumulator("multiclass", self.num_outputs, top5=False)

    def eval_metrics(self, keep_scores: bool = True):
        return accumulator("multiclass", self.num_outputs)

    def forward(self, nodes):
        if self.per_graph:
            return self.forward_graphs(nodes)
        x = self.graph["x"]
        if self.message_passing:
            return self.model(x, self.graph["edges"])[nodes]
        return self.model(x[nodes])

    def train_step(self, trainer, batch, metrics) -> float:
        nodes, y = batch
        with trainer.autocast():
            out = self.forward(nodes)
            loss = self.loss(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        trainer.backward_and_step(loss)
        value = loss.item()
        metrics.update(out.detach(), y, value)
        return value

    def eval_step(self, trainer, batch, metrics) -> None:
        nodes, y = batch
        with trainer.autocast():
            out = self.forward(nodes)
            loss = self.loss(out, y)
        metrics.update(out.float(), y, loss.item())
