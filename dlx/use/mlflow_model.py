"""`trainer.mlflow.log_model=true`: the run's best model in MLflow, loadable with `mlflow.pyfunc`.

The logged module is `dlx export`'s (dlx.use.export.Deployed): raw features in, the fitted
preprocessing first, probabilities (classification) or values in the target's units out, so
`mlflow.pyfunc.load_model(uri).predict(df)` gives the numbers `dlx predict RUN --proba` writes.
It goes to the MLflow run the training logged to (the run folder's mlflow.json), with a
signature and an input example: the first rows of the training split, raw, as the logged module
takes them (it preprocesses them itself). Called by `dlx train` once the run is written (rank 0's
process); the engine's logger (dlx.engine.mlflow_logger) cannot rebuild a run, this layer can.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dlx.errors import ConfigError, first_line

log = logging.getLogger(__name__)


def log_best_model(run_path: Path) -> str | None:
    """Log the run's best weights as an MLflow model; its URI (`runs:/<id>/model`), or None after a warning."""
    record = Path(run_path) / "mlflow.json"
    if not record.exists():
        log.warning(f"run {Path(run_path).name} has no MLflow run (mlflow.json): its model is not logged")
        return None
    saved = json.loads(record.read_text())
    try:
        return _log(Path(run_path), saved["run_id"], saved["tracking_uri"])
    except Exception as e:  # the run is on disk; MLflow only mirrors it
        log.warning(f"MLflow at {saved['tracking_uri']} did not take run {Path(run_path).name}'s model "
                    f"({first_line(e)}); `dlx export` writes it to a file instead")
        return None


def _log(run_path: Path, run_id: str, uri: str) -> str:
    import mlflow
    import torch
    from mlflow.models import infer_signature

    from dlx.use.export import Deployed
    from dlx.use.restore import restore

    restored = restore(run_path, "best")
    module = Deployed(restored).eval()
    example = example_rows(restored)
    with torch.no_grad():
        output = module(example).numpy()
    signature = infer_signature(example.numpy(), output)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(module, name="model", signature=signature, input_example=example.numpy())
    return info.model_uri


def example_rows(restored, n: int = 5):
    """The first `n` rows of the run's training split, raw (the logged module preprocesses them)."""
    split = restored.load_split([], "train")
    if split.x is None:  # image folders come as transformed batches: the logged module wants raw pixels
        raise ConfigError("trainer.mlflow.log_model logs models of tensor data; for image folders use "
                          "`dlx export` (TorchScript or ONNX)")
    return split.x[:n]
