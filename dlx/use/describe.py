"""`dlx models show`: a model as its Task builds it for the chosen data, summarised layer by layer."""

from __future__ import annotations

from dlx.errors import ConfigError


def describe(exp):
    """(model, its ModelSummary, the data bundle) of `exp`: the run's Task builds the model (a task
    that cannot be summarised refuses, in one line, before the data is built when its model says so)."""
    from dlx import data
    from dlx.engine.tasks import load_builtin, task_class
    from dlx.models.summary import summarize
    from dlx.registry import MODELS, TASKS

    load_builtin()
    own = MODELS.get(exp.model.name).meta.get("task")
    if own and own in TASKS and not TASKS.get(own).builder.describable:
        raise ConfigError(f"`dlx models show` cannot summarise model={exp.model.name} yet (it trains with dlx's "
                          f"{own} task); `dlx train` prints its parameter count")
    bundle = data.build(exp.data)
    cls = task_class(bundle.kind, exp.model.name)
    model, example = cls.describe(exp, bundle)
    return model, summarize(model, bundle.input_shape, example=example), bundle
