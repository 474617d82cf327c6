"""Classical baselines: k-nearest neighbours, linear least squares, logistic regression.

Each is a registered model like `mlp`, backed by a scikit-learn estimator (no hand-written
k-NN). Registry metadata carries three functions the run path uses (`dlx.engine.estimator`),
and `network=False` where no `nn.Module` exists (knn, logistic):

    estimator(cfg, task, rows)    -> an unfitted scikit-learn estimator for `rows` training rows
    to_arrays(est)                -> {name: ndarray | number | str}: what the checkpoint keeps
    from_arrays(cfg, task, saved) -> the fitted estimator again, without unpickling anything

`model=linear model.solver=gd` is the same linear map as an `nn.Linear`, trained by dlx's own
loop with any `optim`, so least squares in closed form and by gradient descent can be compared
run against run.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from dlx.errors import ConfigError
from dlx.models.layers import flat_features, init_weights
from dlx.models.schemas import KNNConfig, LinearConfig, LogisticConfig, METRICS  # torch-free: checked before torch loads
from dlx.registry import MODELS

ACCEPTS = ("image", "sequence", "tabular")  # every input is flattened to one row of features


def not_a_network(name: str) -> ConfigError:
    return ConfigError(f"model '{name}' is a scikit-learn estimator fitted by `dlx train model={name}`, "
                       "not a network: it has no layers to build or show")


# ---------------------------------------------------------------- k-nearest neighbours


def knn_estimator(cfg: KNNConfig, task: str, rows: int):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    if cfg.k > rows:
        raise ConfigError(f"model.k={cfg.k} but the training split has only {rows} rows; "
                          f"choose model.k <= {rows} (or train on more rows: data.limit)")

    cls = KNeighborsRegressor if task == "regression" else KNeighborsClassifier
    return cls(n_neighbors=cfg.k, metric=METRICS[cfg.metric], algorithm="auto")


def knn_arrays(est) -> dict:
    # k-NN's "parameters" are the training rows themselves
    return {"x": est._fit_X, "y": est._y if est._y.ndim == 1 or est._y.shape[1] > 1 else est._y[:, 0],
            "classes": getattr(est, "classes_", np.zeros(0))}


def knn_from_arrays(cfg: KNNConfig, task: str, saved: dict):
    est = knn_estimator(cfg, task, len(saved["x"]))
    classes = np.asarray(saved["classes"])
    y = np.asarray(saved["y"])
    # `_y` holds class positions; fitting on the class values themselves gives the same estimator
    return est.fit(np.asarray(saved["x"]), classes[y] if task != "regression" else y)


@MODELS.register("knn", schema=KNNConfig, accepts=ACCEPTS, network=False, estimator=knn_estimator, to_arrays=knn_arrays,
                 from_arrays=knn_from_arrays, summary="k-nearest neighbours, L1 or L2 distance (scikit-learn)")
def build_knn(cfg: KNNConfig, input_shape: tuple[int, ...], num_outputs: int):
    raise not_a_network("knn")


# ---------------------------------------------------------------- linear least squares


def linear_estimator(cfg: LinearConfig, task: str, rows: int = 0):
    from sklearn.linear_model import LinearRegression, Ridge

    if task != "regression":
        raise ConfigError(f"model=linear model.solver=closed_form fits least squares to a regression target, "
                          f"but this data is {task}; use model=logistic, or model.solver=gd "
                          "(softmax regression trained by the loop)")
    return Ridge(alpha=cfg.alpha) if cfg.alpha > 0 else LinearRegression()


def linear_arrays(est) -> dict:
    return {"coef": est.coef_, "intercept": np.asarray(est.intercept_), "features": est.n_features_in_}


def linear_from_arrays(cfg: LinearConfig, task: str, saved: dict):
    est = linear_estimator(cfg, task)
    est.coef_, est.intercept_ = np.asarray(saved["coef"]), np.asarray(saved["intercept"])
    if est.intercept_.ndim == 0:
        est.intercept_ = float(est.intercept_)
    est.n_features_in_ = int(saved["features"])
    return est


class Linear(nn.Module):
    """y = W·x + b on the flattened input: least squares (mse), or softmax regression (cross-entropy)."""

    def __init__(self, in_features: int, num_outputs: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_outputs))  # (B, *shape) -> (B, out)

    def forward(self, x):
        return self.net(x)


@MODELS.register("linear", schema=LinearConfig, accepts=ACCEPTS, estimator=linear_estimator,
                 to_arrays=linear_arrays, from_arrays=linear_from_arrays,
                 summary="linear map: least squares in closed form (scikit-learn) or by the loop (solver=gd)")
def build_linear(cfg: LinearConfig, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    model = Linear(flat_features(input_shape), num_outputs)
    init_weights(model, cfg.init, cfg.init_std, "identity")
    return model


# ---------------------------------------------------------------- logistic regression


def logistic_estimator(cfg: LogisticConfig, task: str, rows: int = 0):
    from sklearn.linear_model import LogisticRegression

    if task == "regression":
        raise ConfigError("model=logistic classifies, but this data is a regression target; "
                          "use model=linear or model=knn")
    return LogisticRegression(C=cfg.C, max_iter=cfg.max_iter)


def logistic_arrays(est) -> dict:
    return {"coef": est.coef_, "intercept": est.intercept_, "classes": est.classes_,
            "features": est.n_features_in_}


def logistic_from_arrays(cfg: LogisticConfig, task: str, saved: dict):
    est = logistic_estimator(cfg, task)
    est.coef_, est.intercept_ = np.asarray(saved["coef"]), np.asarray(saved["intercept"])
    est.classes_, est.n_features_in_ = np.asarray(saved["classes"]), int(saved["features"])
    return est


@MODELS.register("logistic", schema=LogisticConfig, accepts=ACCEPTS, network=False, estimator=logistic_estimator,
                 to_arrays=logistic_arrays, from_arrays=logistic_from_arrays,
                 summary="logistic regression, L2-penalised, L-BFGS (scikit-learn)")
def build_logistic(cfg: LogisticConfig, input_shape: tuple[int, ...], num_outputs: int):
    raise not_a_network("logistic")
