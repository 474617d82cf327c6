"""More classical baselines (issue 28): SVM, perceptron, naive Bayes, CART, forests, boosting.

Each is declared in `dlx.models.schemas` with three functions the fit path uses, as the k-NN
baseline (`dlx.models.baselines`):

    <name>_estimator(cfg, task, rows)    -> an unfitted scikit-learn estimator
    <name>_arrays(est)                   -> {name: ndarray | number | str}: what the checkpoint keeps
    <name>_from_arrays(cfg, task, saved) -> the fitted estimator again, nothing unpickled

Nothing here pickles: a linear model or SVM keeps its documented fitted attributes; a tree keeps
its `tree_` node table (a structured array, kept as its raw bytes, read back with scikit-learn's
own node dtype) and its leaf values; a forest or AdaBoost keeps its trees; histogram gradient
boosting keeps each predictor's node table, the baseline prediction and its bitsets. The
rebuilt estimator predicts exactly what the fitted one did (tests/test_baselines_more.py).
"""

from __future__ import annotations

import numpy as np

from dlx.errors import ConfigError
from dlx.models.baselines import not_a_network

REGRESSION = "regression"


def classifies_only(name: str, task: str) -> None:
    if task == REGRESSION:
        raise ConfigError(f"model={name} classifies, but this data is a regression target; "
                          "use model=svm, tree, forest, boosting, knn or linear")


def depth(value: int):
    return value or None  # 0: no limit (scikit-learn's None)


def criterion(value: str, task: str) -> str:
    regression = task == REGRESSION
    if value == "auto":
        return "squared_error" if regression else "gini"
    if regression != (value in ("squared_error", "absolute_error")):
        raise ConfigError(f"model.criterion={value} does not fit {task} data; use "
                          + ("squared_error or absolute_error" if regression else "gini or entropy"))
    return value


def keep(est, names) -> dict:
    """The named fitted attributes, as arrays or plain numbers."""
    out = {}
    for name in names:
        if not hasattr(est, name):  # SVR has no class weights
            continue
        value = getattr(est, name)
        out[name] = np.asarray(value) if isinstance(value, (np.ndarray, list, tuple)) else value
    return out


def put(est, saved: dict, names, tuples=()):
    for name in names:
        if name not in saved:
            continue
        value = saved[name]
        if name in tuples:
            value = tuple(int(v) for v in np.asarray(value))
        elif isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        setattr(est, name, value)
    return est


def as_bytes(records: np.ndarray) -> np.ndarray:
    """A structured array (a node table) as its raw bytes: a plain uint8 array."""
    return np.ascontiguousarray(records).view(np.uint8).reshape(-1)


def from_bytes(raw, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(raw, dtype=np.uint8)).view(dtype).copy()


# ---------------------------------------------------------------- svm


SVM_KEEP = ("support_", "support_vectors_", "_n_support", "_dual_coef_", "_intercept_", "dual_coef_",
            "intercept_", "_probA", "_probB", "fit_status_", "_gamma", "shape_fit_", "class_weight_",
            "n_features_in_")


def svm_estimator(cfg, task: str, rows: int = 0):
    from sklearn.svm import SVC, SVR

    common = dict(kernel=cfg.kernel, C=cfg.C, gamma=cfg.gamma or "scale", degree=cfg.degree)
    if task == REGRESSION:
        return SVR(**common)
    # scikit-learn 1.9 warns at any explicit `probability`: pass it only when Platt scaling is asked
    return SVC(**common, random_state=cfg.seed, **({"probability": True} if cfg.probability else {}))


def svm_arrays(est) -> dict:
    saved = keep(est, SVM_KEEP + ("classes_",))
    saved["_sparse"] = int(est._sparse)
    if saved["_sparse"]:
        raise ConfigError("a sparse SVM fit cannot be saved as arrays; dlx's data is dense")
    return saved


def svm_from_arrays(cfg, task: str, saved: dict):
    est = svm_estimator(cfg, task)
    put(est, saved, SVM_KEEP + ("classes_",), tuples=("shape_fit_",))
    est._sparse = False
    return est


def build_svm(cfg, input_shape, num_outputs):
    raise not_a_network("svm")


# ---------------------------------------------------------------- perceptron

LINEAR_KEEP = ("coef_", "intercept_", "classes_", "n_features_in_")


def perceptron_estimator(cfg, task: str, rows: int = 0):
    from sklearn.linear_model import Perceptron

    classifies_only("perceptron", task)
    return Perceptron(eta0=cfg.eta0, max_iter=cfg.max_iter, random_state=cfg.seed)


def perceptron_arrays(est) -> dict:
    return keep(est, LINEAR_KEEP)


def perceptron_from_arrays(cfg, task: str, saved: dict):
    return put(perceptron_estimator(cfg, task), saved, LINEAR_KEEP)


def build_perceptron(cfg, input_shape, num_outputs):
    raise not_a_network("perceptron")


# ---------------------------------------------------------------- naive Bayes

NB_KEEP = ("theta_", "var_", "class_prior_", "class_count_", "classes_", "epsilon_", "n_features_in_")


def naive_bayes_estimator(cfg, task: str, rows: int = 0):
    from sklearn.naive_bayes import GaussianNB

    classifies_only("naive_bayes", task)
    return GaussianNB(var_smoothing=cfg.var_smoothing)


def naive_bayes_arrays(est) -> dict:
    return keep(est, NB_KEEP)


def naive_bayes_from_arrays(cfg, task: str, saved: dict):
    return put(naive_bayes_estimator(cfg, task), saved, NB_KEEP)


def build_naive_bayes(cfg, input_shape, num_outputs):
    raise not_a_network("naive_bayes")


# ---------------------------------------------------------------- trees (CART), as node tables


def node_table(tree, prefix: str = "") -> dict:
    """A fitted `tree_` (sklearn.tree._tree.Tree): its node table and leaf values."""
    state = tree.__getstate__()
    return {f"{prefix}nodes": as_bytes(state["nodes"]), f"{prefix}values": np.asarray(state["values"]),
            f"{prefix}max_depth": int(state["max_depth"]), f"{prefix}n_features": int(tree.n_features),
            f"{prefix}n_classes": np.asarray(tree.n_classes, dtype=np.int64), f"{prefix}n_outputs": int(tree.n_outputs)}


def tree_of(saved: dict, prefix: str = ""):
    from sklearn.tree._tree import NODE_DTYPE, Tree

    nodes = from_bytes(saved[f"{prefix}nodes"], NODE_DTYPE)
    values = np.ascontiguousarray(saved[f"{prefix}values"], dtype=np.float64)
    tree = Tree(int(saved[f"{prefix}n_features"]), np.asarray(saved[f"{prefix}n_classes"], dtype=np.intp),
                int(saved[f"{prefix}n_outputs"]))
    tree.__setstate__({"max_depth": int(saved[f"{prefix}max_depth"]), "node_count": len(nodes),
                       "nodes": nodes, "values": values})
    return tree


def fitted_tree(blank, tree, features: int, classes):
    """`blank` (an unfitted DecisionTree*) holding `tree` as a fitted estimator would."""
    blank.tree_, blank.n_features_in_, blank.n_outputs_ = tree, features, 1
    blank.max_features_ = features
    if classes is not None:
        blank.classes_, blank.n_classes_ = np.asarray(classes), len(classes)
    return blank


def tree_estimator(cfg, task: str, rows: int = 0):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeRegressor if task == REGRESSION else DecisionTreeClassifier
    return cls(max_depth=depth(cfg.max_depth), criterion=criterion(cfg.criterion, task),
               min_samples_leaf=cfg.min_samples_leaf, random_state=cfg.seed)


def tree_arrays(est) -> dict:
    saved = node_table(est.tree_)
    saved["features"] = int(est.n_features_in_)
    if hasattr(est, "classes_"):
        saved["classes"] = np.asarray(est.classes_)
    return saved


def tree_from_arrays(cfg, task: str, saved: dict):
    return fitted_tree(tree_estimator(cfg, task), tree_of(saved), int(saved["features"]),
                       saved.get("classes"))


def build_tree(cfg, input_shape, num_outputs):
    raise not_a_network("tree")


def ensemble_arrays(est, trees) -> dict:
    saved = {"features": int(est.n_features_in_), "n_trees": len(trees)}
    if hasattr(est, "classes_"):
        saved["classes"] = np.asarray(est.classes_)
    for i, t in enumerate(trees):
        saved.update(node_table(t.tree_, f"t{i}."))
    return saved


def ensemble_trees(saved: dict, blank, task: str) -> list:
    from sklearn.base import clone

    classes = saved.get("classes")
    return [fitted_tree(clone(blank), tree_of(saved, f"t{i}."), int(saved["features"]),
                        None if task == REGRESSION else classes) for i in range(int(saved["n_trees"]))]


# ---------------------------------------------------------------- forests


def forest_estimator(cfg, task: str, rows: int = 0):
    from sklearn import ensemble

    kind = ("Extra" if cfg.variant == "extra" else "RandomForest") + \
        ("TreesRegressor" if cfg.variant == "extra" and task == REGRESSION else
         "TreesClassifier" if cfg.variant == "extra" else "Regressor" if task == REGRESSION else "Classifier")
    return getattr(ensemble, kind)(n_estimators=cfg.n_estimators, max_depth=depth(cfg.max_depth),
                                   criterion=criterion(cfg.criterion, task), min_samples_leaf=cfg.min_samples_leaf,
                                   random_state=cfg.seed, n_jobs=1)


def forest_arrays(est) -> dict:
    return ensemble_arrays(est, est.estimators_)


def forest_from_arrays(cfg, task: str, saved: dict):
    est = forest_estimator(cfg, task)
    est.estimators_ = ensemble_trees(saved, est.estimator, task)
    est.n_features_in_, est.n_outputs_ = int(saved["features"]), 1
    est.estimator_ = est.estimator
    if task != REGRESSION:
        est.classes_ = np.asarray(saved["classes"])
        est.n_classes_ = len(est.classes_)
    return est


def build_forest(cfg, input_shape, num_outputs):
    raise not_a_network("forest")


# ---------------------------------------------------------------- boosting


def boosting_estimator(cfg, task: str, rows: int = 0):
    from sklearn import ensemble
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    regression = task == REGRESSION
    if cfg.variant == "adaboost":
        base = (DecisionTreeRegressor(max_depth=cfg.max_depth or 3) if regression
                else DecisionTreeClassifier(max_depth=cfg.max_depth or 1))
        cls = ensemble.AdaBoostRegressor if regression else ensemble.AdaBoostClassifier
        return cls(base, n_estimators=cfg.n_estimators, learning_rate=cfg.learning_rate, random_state=cfg.seed)
    cls = ensemble.HistGradientBoostingRegressor if regression else ensemble.HistGradientBoostingClassifier
    # no early stopping: it would hold out rows of the training split the network trains on
    return cls(max_iter=cfg.n_estimators, learning_rate=cfg.learning_rate, max_depth=depth(cfg.max_depth),
               early_stopping=False, random_state=cfg.seed)


def boosting_arrays(est) -> dict:
    if hasattr(est, "estimators_"):  # AdaBoost
        saved = ensemble_arrays(est, est.estimators_)
        saved.update(weights=np.asarray(est.estimator_weights_), errors=np.asarray(est.estimator_errors_))
        return saved
    if est.is_categorical_ is not None:
        raise ConfigError("a histogram boosting fit with categorical features cannot be saved as arrays")
    saved = {"features": int(est.n_features_in_), "rounds": len(est._predictors),
             "per_round": int(est.n_trees_per_iteration_), "baseline": np.asarray(est._baseline_prediction)}
    if hasattr(est, "classes_"):
        saved["classes"] = np.asarray(est.classes_)
    for i, round_ in enumerate(est._predictors):
        for k, p in enumerate(round_):
            saved[f"p{i}.{k}.nodes"] = as_bytes(p.nodes)
            saved[f"p{i}.{k}.binned"] = np.asarray(p.binned_left_cat_bitsets)
            saved[f"p{i}.{k}.raw"] = np.asarray(p.raw_left_cat_bitsets)
    return saved


def boosting_from_arrays(cfg, task: str, saved: dict):
    est = boosting_estimator(cfg, task)
    features = int(saved["features"])
    if cfg.variant == "adaboost":
        est.estimators_ = ensemble_trees(saved, est.estimator, task)
        est.estimator_ = est.estimator
        est.estimator_weights_, est.estimator_errors_ = np.asarray(saved["weights"]), np.asarray(saved["errors"])
        est.n_features_in_ = features
        if task != REGRESSION:
            est.classes_ = np.asarray(saved["classes"])
            est.n_classes_ = len(est.classes_)
        return est
    return hist_from_arrays(est, task, saved, features)


def hist_from_arrays(est, task: str, saved: dict, features: int):
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    per_round = int(saved["per_round"])
    est._predictors = [[TreePredictor(from_bytes(saved[f"p{i}.{k}.nodes"], PREDICTOR_RECORD_DTYPE),
                                      np.asarray(saved[f"p{i}.{k}.binned"], dtype=np.uint32),
                                      np.asarray(saved[f"p{i}.{k}.raw"], dtype=np.uint32))
                        for k in range(per_round)] for i in range(int(saved["rounds"]))]
    mapper = _BinMapper()  # numeric features only: no known categories to look up
    mapper.is_categorical_ = np.zeros(features, dtype=np.uint8)
    mapper.bin_thresholds_ = [np.zeros(0)] * features
    mapper.missing_values_bin_idx_ = mapper.n_bins - 1
    est._bin_mapper, est._preprocessor, est.is_categorical_ = mapper, None, None
    est.n_features_in_, est.n_trees_per_iteration_ = features, per_round
    est._baseline_prediction = np.asarray(saved["baseline"])
    if task != REGRESSION:
        est.classes_ = np.asarray(saved["classes"])
    est._loss = est._get_loss(sample_weight=None)
    return est


def build_boosting(cfg, input_shape, num_outputs):
    raise not_a_network("boosting")
