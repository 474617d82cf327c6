"""Typed records the run path writes and the use layer reads back.

`CheckpointMeta` is what every checkpoint (a network's best.pt / last.pt, a fitted baseline's
estimator.pt) carries beside its weights: enough to rebuild the model and feed it raw inputs
without re-reading the data. On disk it stays a plain dict (`to_dict`), so checkpoints load
with `torch.load(weights_only=True)` and runs written before this type existed still read
(`from_dict`: the data kind was saved as `task`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from dlx.errors import RunError


@dataclass
class CheckpointMeta:
    """What training fitted and the model's shape: built once per run (trained or fitted)."""

    run_id: str
    kind: str  # the data kind: multiclass, regression, tagging, language, graph-nodes, ...
    input_shape: list[int]
    classes: list[str] = field(default_factory=list)
    preprocess: dict[str, Any] = field(default_factory=dict)  # statistics, CSV encoding, vocabulary, target scale
    num_outputs: Optional[int] = None  # None in runs written before it was saved

    @classmethod
    def of(cls, run_id: str, bundle, num_outputs: Optional[int] = None) -> "CheckpointMeta":
        """The meta of a run trained or fitted on `bundle`."""
        return cls(run_id=run_id, kind=bundle.kind, input_shape=list(bundle.input_shape),
                   classes=list(bundle.classes or []), preprocess=bundle.preprocess or {}, num_outputs=num_outputs)

    def to_dict(self) -> dict:
        """The on-disk form: a plain dict, the data kind under its historical key `task`."""
        return {"run_id": self.run_id, "preprocess": self.preprocess, "classes": list(self.classes),
                "input_shape": list(self.input_shape), "task": self.kind, "num_outputs": self.num_outputs}

    @classmethod
    def from_dict(cls, meta: dict, source: str = "the checkpoint") -> "CheckpointMeta":
        """A checkpoint's meta (any dlx version that wrote `input_shape`); unknown keys are ignored.
        A field of the wrong type (a damaged or foreign file) is one RunError naming `source`."""
        for key, kind, what in (("preprocess", dict, "a mapping"), ("classes", (list, tuple), "a list"),
                                ("input_shape", (list, tuple), "a list")):
            value = meta.get(key)
            if value is not None and not isinstance(value, kind):
                raise RunError(f"{source} is damaged: meta.{key} is a {type(value).__name__}, not {what}; "
                               "use a checkpoint written by dlx, or train the run again")
        return cls(run_id=meta.get("run_id") or "", kind=meta.get("kind") or meta.get("task") or "",
                   input_shape=list(meta["input_shape"]), classes=list(meta.get("classes") or []),
                   preprocess=meta.get("preprocess") or {}, num_outputs=meta.get("num_outputs"))
