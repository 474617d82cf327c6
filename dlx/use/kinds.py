"""`dlx eval` / `dlx predict` for runs whose task is not the supervised one (issue 17).

Graph runs (data kind graph-nodes or graph-set) are scored on their own graph: the dataset is
built again from config.yaml (the same seeded split over nodes or graphs; data overrides choose
another graph, e.g. data.seed=...) and the model runs over the whole graph, or over the split's
graphs as one disjoint union. Input files are refused: a node's prediction needs its graph.

Autoencoder and VAE runs are evaluated by their own losses (recon_loss, and kl, elbo for a
VAE) on a split; they predict no labels, so `dlx predict` refuses them, as both commands refuse
a GAN (its val/test MMD is in summary.json; `dlx sample` draws from it).
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from dlx.errors import ConfigError, DataError

GRAPH_KINDS = ("graph-nodes", "graph-set")
SEQUENCE_KINDS = ("seq2seq", "tagging", "language")


def kind_of(restored) -> str:
    """graph | autoencoder | gan | supervised: which path scores this run."""
    from dlx.registry import MODELS

    if restored.task in GRAPH_KINDS:
        return "graph"
    if restored.task in SEQUENCE_KINDS:  # issue 16: dlx.use.sequences
        return "sequence"
    name = restored.exp.model.name
    task = MODELS.get(name).meta.get("task") if name in MODELS else None
    return task if task in ("autoencoder", "gan") else "supervised"


def refuse_predict(restored) -> None:
    if restored.task == "language":
        raise ConfigError(f"run {restored.path.name} is a language model: it predicts no labels; continue a prompt "
                          "with dlx generate RUN --prompt TEXT, or score it with dlx eval RUN")
    kind = kind_of(restored)
    if kind in ("autoencoder", "gan"):
        then = "dlx eval RUN (recon_loss, kl, elbo), dlx sample RUN" if kind == "autoencoder" else "dlx sample RUN"
        raise ConfigError(f"run {restored.path.name} is model={restored.exp.model.name}, which predicts no labels; "
                          f"use {then}")


def refuse_eval(restored) -> None:
    if kind_of(restored) == "gan":
        raise ConfigError(f"run {restored.path.name} is a GAN: nothing to score on a split (its val/test mmd are in "
                          "summary.json, `dlx show RUN`); draw from it with dlx sample RUN")


# ------------------------------------------------------------------ graphs


def graph_outputs(restored, overrides: list[str], split: str):
    """(logits (n, C), labels (n,), name, ids (n,) of the split's nodes or graphs)."""
    import torch

    from dlx import data, plugins
    from dlx.engine.graphset import union
    from dlx.use.inputs import check_labels, check_shape, data_config

    if split not in ("test", "val", "train", "all"):
        raise ConfigError(f"--split {split}: choose test, val, train or all")
    plugins.load()
    cfg = data_config(restored, overrides)
    bundle = data.build(cfg)  # standardised with the training nodes' statistics, as in training
    if bundle.task not in GRAPH_KINDS:
        raise DataError(f"'{cfg.name}' is {bundle.task} data, but run {restored.path.name} is a {restored.task} model")
    check_shape(restored, bundle.input_shape, cfg.name)
    check_labels(restored, bundle.classes, bundle.task, cfg.name)
    parts = {"train": bundle.train, "val": bundle.val, "test": bundle.test}
    if split == "all":
        ids, y = torch.cat([p.x for p in parts.values()]), torch.cat([p.y for p in parts.values()])
        order = ids.argsort()
        ids, y = ids[order], y[order]
    else:
        ids, y = parts[split].x, parts[split].y
    if len(ids) == 0:
        raise DataError(f"the {split} split is empty: nothing to evaluate (try --split all)")
    g, model = bundle.graph, restored.model
    with torch.inference_mode():
        if bundle.task == "graph-set":
            x, edges, batch = union(g, ids)
            out = model(x, edges, batch, len(ids))
        elif getattr(model, "graph", False):
            out = model(g["x"], g["edges"])[ids]
        else:  # a features-only baseline (model=mlp)
            out = model(g["x"][ids])
    name = split if not overrides else f"{cfg.name}-{split}"
    return out.float(), y, name, ids


def evaluate_graph(restored, overrides: list[str], split: str) -> dict:
    import torch

    from dlx.losses import build_loss
    from dlx.metrics import accumulator
    from dlx.use.evaluate import per_class

    out, y, name, ids = graph_outputs(restored, overrides, split)
    k = restored.meta["num_outputs"]
    loss = build_loss(restored.exp.loss, "multiclass", len(restored.classes), k, 0.0)
    metrics = accumulator("multiclass", k, keep_scores=True)
    metrics.update(out, y, loss(out, y).item())
    result = {"run_id": restored.run_id, "name": name, "checkpoint": restored.checkpoint, "task": restored.task,
              "size": int(len(y)), "metrics": metrics.compute(), "classes": restored.classes}
    result.update(per_class(y.numpy(), torch.argmax(out, 1).numpy(), restored.classes))
    return result


def graph_chunks(restored, overrides: list[str], split: str, proba: bool) -> Iterator:
    """One row per node (graph-nodes) or graph (graph-set) of the split: its id, target, prediction."""
    import torch

    from dlx.use.predict import frame_of

    out, y, _, ids = graph_outputs(restored, overrides, split)
    frame = frame_of(restored, torch.softmax(out, 1), proba)
    frame.insert(0, "target", np.asarray(restored.classes, dtype=object)[y.numpy()])
    frame.insert(0, "graph" if restored.task == "graph-set" else "node", ids.numpy())
    yield frame


# ------------------------------------------------------------------ autoencoder, vae


def evaluate_autoencoder(restored, overrides: list[str], split: str) -> dict:
    """recon_loss (and kl, elbo, loss) of the model's own objective on a split, in batches."""
    import torch

    from dlx.engine.generative import AutoencoderTask, Means
    from dlx.use.inputs import load_split
    from dlx.use.restore import BATCH

    data = load_split(restored, overrides, split)
    if len(data.y) == 0:
        raise DataError(f"the {data.name} split is empty: nothing to evaluate (try --split all)")
    if data.loader is not None:
        raise ConfigError("dlx eval of an autoencoder reads in-memory data only (not data=image_folder)")
    exp = restored.exp
    task = AutoencoderTask(restored.model, None, None, beta=getattr(exp.model, "beta", 0.0), recon=exp.model.recon,
                           batch_size=BATCH)
    metrics, x = Means(), restored.transform(data.x)
    with torch.inference_mode():
        for i in range(0, x.shape[0], BATCH):
            part = x[i:i + BATCH]
            metrics.update(task.losses(part)[1], part.shape[0])
    return {"run_id": restored.run_id, "name": data.name, "checkpoint": restored.checkpoint,
            "task": exp.model.name, "size": int(len(data.y)), "metrics": metrics.compute()}


def evaluate_special(restored, overrides: list[str], split: str) -> Optional[dict]:
    """The report of a graph or autoencoder run; None for a supervised run (dlx.use.evaluate)."""
    refuse_eval(restored)
    kind = kind_of(restored)
    if kind == "graph":
        return evaluate_graph(restored, overrides, split)
    if kind == "autoencoder":
        return evaluate_autoencoder(restored, overrides, split)
    if kind == "sequence":
        from dlx.use.sequences import evaluate_sequences

        return evaluate_sequences(restored, overrides, split)
    return None
