"""The model group's schemas and the built-in model families' declarations: importable without torch.

This module (with `task_schemas`, which it imports) is the one table of built-in models: each
`MODELS.declare(name, schema, builder="module:attr", ...)` names the family's schema, where its
builder lives (imported when first built) and what `dlx models` shows. Ranges and choices are
declared on the fields (`dlx.constraints`); `validate()` holds the checks across fields.
`dlx.config.precheck` checks `model.*` with these before torch loads, so `model.dropout=1.5`
is answered in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlx.constraints import Checked, at_least, choices, fraction, positive
from dlx.errors import require, unknown
from dlx.models import task_schemas  # noqa: F401  (declares the models trained by tasks of their own)
from dlx.models.transfer_schema import TransferKeys  # model.init_from, model.freeze (issue 14)
from dlx.registry import MODELS, Ref

# ---------------------------------------------------------------- keys several families share

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "gelu", "identity", "maxout")  # layers builds them
INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal", "zeros")
NORMS = ("auto", "batch", "layer", "group", "none")


def check_activation(name: str) -> None:
    """At build time (dlx.models.layers): a name from code, not only from a checked config."""
    if name not in ACTIVATIONS:
        raise unknown("activation", name, ACTIVATIONS)


def check_init(name: str) -> None:
    if name not in INITS:
        raise unknown("init", name, INITS)


def activation(default: str = "relu"):
    return choices(default, *ACTIVATIONS)


def init(default: str = "default"):
    return choices(default, *INITS)


# ---------------------------------------------------------------- mlp (dlx.models.mlp)

@dataclass
class MLPConfig(TransferKeys):
    name: str = "mlp"
    hidden: list[int] = positive([256, 128], each=True)
    activation: str = activation()
    negative_slope: float = at_least(0.01, 0)  # leaky_relu only
    maxout_pieces: int = at_least(2, 2)  # maxout only: linear pieces per unit
    dropout: float = fraction(0.0)
    batchnorm: bool = False  # BatchNorm after the linear layer, before the activation (norm=auto)
    norm: str = choices("auto", *NORMS)  # auto (= batch if batchnorm, else none) | batch | layer | group | none
    init: str = init()
    init_std: float = positive(0.01)  # init=normal only


# ---------------------------------------------------------------- cnn (dlx.models.cnn)

POOL_KINDS = ("max", "avg")  # cnn.POOLS builds them


@dataclass
class CNNConfig(TransferKeys):
    name: str = "cnn"
    channels: list[int] = positive([64, 64, 128, 128], each=True)  # one conv block per entry
    kernel_size: int = positive(3)
    stride: int = positive(1)
    padding: str = "same"  # same | an integer
    pool: str = choices("max", *POOL_KINDS)
    pool_every: int = choices(2, 1, 2)  # pool after every block (1) or every second one (2)
    fc: list[int] = positive([256], each=True)  # hidden fully-connected widths: [] | [a] | [a, b]
    dropout: float = fraction(0.5)  # before each fully-connected layer
    batchnorm: bool = True  # BatchNorm2d after each convolution, before the activation (norm=auto)
    norm: str = choices("auto", *NORMS)  # auto (= batch if batchnorm, else none) | batch | layer | group | none
    activation: str = activation()
    negative_slope: float = at_least(0.01, 0)  # leaky_relu only
    maxout_pieces: int = at_least(2, 2)  # maxout only
    init: str = init()
    init_std: float = positive(0.01)  # init=normal only

    def validate(self) -> None:
        super().validate()
        require(len(self.channels) > 0, "channels", f"needs at least one width > 0, got {self.channels}")
        require(self.padding == "same" or (self.padding.isdigit()), "padding",
                f"must be 'same' or an integer >= 0, got {self.padding!r}")
        require(len(self.fc) <= 2, "fc", f"takes zero, one or two widths > 0, got {self.fc}")


# ---------------------------------------------------------------- resnet (dlx.models.resnet)

# depth -> (paper's block, blocks per stage)
LAYOUTS = {
    18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]), 50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]), 152: ("bottleneck", [3, 8, 36, 3]),
    **{d: ("basic", [(d - 2) // 6] * 3) for d in (20, 32, 44, 56, 110)},
}


@dataclass
class ResNetConfig(TransferKeys):
    name: str = "resnet"
    depth: int = 20  # 18 | 34 | 50 | 101 | 152 (ImageNet) or 20 | 32 | 44 | 56 | 110 (CIFAR)
    block: str = choices("auto", "auto", "basic", "bottleneck")  # auto: the paper's for this depth
    width: int = positive(32)  # channels of the first stage; doubled at each later stage
    stem: str = choices("auto", "auto", "imagenet", "small")  # imagenet: 7x7/2 conv + max-pool; small: 3x3/1 conv
    dropout: float = fraction(0.0)  # before the output layer
    activation: str = activation()  # any but maxout (it would change the block's widths)
    negative_slope: float = at_least(0.01, 0)  # leaky_relu only
    init: str = init("kaiming_normal")
    init_std: float = positive(0.01)  # init=normal only
    zero_init_residual: bool = True  # last BN of each block starts at 0: every block starts as identity
    skip: bool = True  # false: the same blocks without their skip connections (the degradation experiment)
    norm: str = choices("batch", "batch", "layer", "group", "none")

    def validate(self) -> None:
        super().validate()
        require(self.depth in LAYOUTS, "depth",
                f"no resnet of depth {self.depth}; choose one of {', '.join(map(str, sorted(LAYOUTS)))}")
        require(self.activation != "maxout", "activation", "resnet blocks cannot use maxout; choose another")


# ---------------------------------------------------------------- recurrent (dlx.models.recurrent)

TABULAR = ("per_feature", "one_step")


@dataclass
class RecurrentConfig(TransferKeys):
    """Keys shared by lstm and gru (rnn adds `activation`)."""

    name: str = "lstm"
    hidden_size: int = positive(128)
    num_layers: int = positive(1)
    bidirectional: bool = False
    dropout: float = fraction(0.0)  # between stacked layers and before the output layer
    pool: str = choices("last", "last", "mean")  # last: the final hidden state(s); mean: the mean over time steps
    tabular: str = choices("per_feature", *TABULAR)  # how a tabular row becomes a sequence
    init: str = init()
    init_std: float = positive(0.01)  # init=normal only


@dataclass
class RNNConfig(RecurrentConfig):
    name: str = "rnn"
    activation: str = choices("tanh", "tanh", "relu")  # the only two torch's fused RNN offers


# ---------------------------------------------------------------- transformer (dlx.models.transformer)

@dataclass
class TransformerConfig(TransferKeys):
    name: str = "transformer"
    d_model: int = positive(64)
    heads: int = positive(8)
    layers: int = positive(2)
    ff_dim: int = positive(128)  # hidden width of each block's feed-forward network
    dropout: float = fraction(0.1)
    positional: str = choices("learned", "learned", "sinusoidal")
    pool: str = choices("cls", "cls", "mean")  # cls: a learned [CLS] token | mean: the mean of the tokens
    tokens: str = choices("rows", "rows", "patches")  # images: rows | patches
    patch_size: int = positive(2)  # tokens=patches only; must divide the image's height and width
    tabular: str = choices("per_feature", *TABULAR)
    activation: str = activation("gelu")  # in the feed-forward network
    negative_slope: float = at_least(0.01, 0)  # leaky_relu only
    maxout_pieces: int = at_least(2, 2)  # maxout only
    init: str = init()
    init_std: float = positive(0.02)  # init=normal only
    causal: bool = False  # true: a decoder-only language model over tokens (data=text), causal mask

    def validate(self) -> None:
        super().validate()
        require(self.d_model % self.heads == 0, "heads",
                f"must divide d_model: {self.d_model} is not a multiple of {self.heads} heads")


# ---------------------------------------------------------------- baselines (dlx.models.baselines)

METRICS = {"l1": "manhattan", "l2": "euclidean"}  # model.metric -> scikit-learn's distance
SOLVERS = ("closed_form", "gd")


@dataclass
class KNNConfig(Checked):
    name: str = "knn"
    k: int = at_least(5, 1)  # neighbours that vote (classification) or are averaged (regression)
    metric: str = choices("l2", *METRICS)  # l1 (Manhattan) | l2 (Euclidean) distance between feature rows

    @property
    def fits_estimator(self) -> bool:
        return True


@dataclass
class LinearConfig(Checked):
    name: str = "linear"
    solver: str = choices("closed_form", *SOLVERS)  # closed_form: scikit-learn's least squares | gd: the loop
    alpha: float = at_least(0.0, 0)  # closed_form only: L2 penalty (0: ordinary least squares, > 0: ridge)
    init: str = init()  # gd only: the starting weights (see model=mlp)
    init_std: float = 0.01  # gd with init=normal only

    @property
    def fits_estimator(self) -> bool:
        return self.solver == "closed_form"

    def validate(self) -> None:
        require(self.solver == "closed_form" or self.alpha == 0, "alpha",
                "applies to solver=closed_form only; with solver=gd use regularizer=l2")


@dataclass
class LogisticConfig(Checked):
    name: str = "logistic"
    C: float = positive(1.0)  # inverse L2 strength: minimise C·Σ log-loss + ½‖w‖² (scikit-learn's default)
    max_iter: int = at_least(1000, 1)  # L-BFGS iterations

    @property
    def fits_estimator(self) -> bool:
        return True


# ---------------------------------------------------------------- more baselines (dlx.models.classical, issue 28)
# 0 for max_depth means "no limit" (scikit-learn's None); `seed` is the estimator's random_state.
SVM_KERNELS = ("linear", "rbf", "poly")
TREE_CRITERIA = ("auto", "gini", "entropy", "squared_error", "absolute_error")  # auto: gini | squared_error


class EstimatorSchema(Checked):
    """A schema fitted by scikit-learn: `dlx train` fits it once instead of running the loop."""

    @property
    def fits_estimator(self) -> bool:
        return True


@dataclass
class SVMConfig(EstimatorSchema):
    name: str = "svm"
    kernel: str = choices("rbf", *SVM_KERNELS)
    C: float = positive(1.0)  # inverse regularisation strength
    gamma: float = at_least(0.0, 0)  # rbf / poly width; 0: scikit-learn's "scale" (1 / (features · variance))
    degree: int = at_least(3, 1)  # poly only
    probability: bool = False  # Platt scaling: calibrated probabilities (a 5-fold internal fit, slower)
    seed: int = at_least(0, 0)  # Platt scaling's folds


@dataclass
class PerceptronConfig(EstimatorSchema):
    name: str = "perceptron"
    eta0: float = positive(1.0)  # learning rate of the perceptron rule
    max_iter: int = at_least(1000, 1)  # epochs over the training rows
    seed: int = at_least(0, 0)  # shuffling order


@dataclass
class NaiveBayesConfig(EstimatorSchema):
    name: str = "naive_bayes"
    var_smoothing: float = at_least(1e-9, 0)  # added to each variance, a fraction of the largest one


@dataclass
class TreeConfig(EstimatorSchema):
    name: str = "tree"
    max_depth: int = at_least(0, 0)  # 0: grow until the leaves are pure
    criterion: str = choices("auto", *TREE_CRITERIA)  # gini | entropy (classes), squared/absolute_error (values)
    min_samples_leaf: int = at_least(1, 1)
    seed: int = at_least(0, 0)  # tie-breaking between equally good splits


@dataclass
class ForestConfig(EstimatorSchema):
    name: str = "forest"
    variant: str = choices("random", "random", "extra")  # random forest | extremely randomised trees
    n_estimators: int = at_least(100, 1)
    max_depth: int = at_least(0, 0)  # 0: unlimited
    criterion: str = choices("auto", *TREE_CRITERIA)
    min_samples_leaf: int = at_least(1, 1)
    seed: int = at_least(0, 0)


@dataclass
class BoostingConfig(EstimatorSchema):
    name: str = "boosting"
    variant: str = choices("hist", "hist", "adaboost")  # histogram gradient boosting | AdaBoost over trees
    n_estimators: int = at_least(100, 1)  # boosting rounds (hist: max_iter, no early stopping)
    learning_rate: float = positive(0.1)
    max_depth: int = at_least(0, 0)  # 0: the estimator's default (hist: 31 leaves, adaboost: stumps / depth 3)
    seed: int = at_least(0, 0)


# ---------------------------------------------------------------- the built-in families

def _estimator_refs(name: str, module: str = "baselines") -> dict:
    """A baseline's fit / save / load functions (scikit-learn), imported when first read, and its task."""
    refs = {key: Ref(f"dlx.models.{module}:{name}_{suffix}")
            for key, suffix in (("estimator", "estimator"), ("to_arrays", "arrays"), ("from_arrays", "from_arrays"))}
    return {**refs, "task": "estimator"}  # dlx.engine.estimator.EstimatorTask: one fitting step


_ANY = ("image", "sequence", "tabular")
_RECURRENT = ("image", "sequence", "tabular", "tokens")
_BASELINE = ("image", "sequence", "tabular")
MODELS.declare("mlp", MLPConfig, "dlx.models.mlp:build_mlp", accepts=_ANY,
               summary="fully-connected layers (+ batch norm, dropout)")
MODELS.declare("cnn", CNNConfig, "dlx.models.cnn:build_cnn", accepts=("image",),
               summary="conv blocks (+batch norm) + activation + pooling, then 1-2 FC layers")
MODELS.declare("resnet", ResNetConfig, "dlx.models.resnet:build_resnet", accepts=("image",),
               summary="residual network: ImageNet depths 18-152, CIFAR depths 20-110")
MODELS.declare("rnn", RNNConfig, "dlx.models.recurrent:build_recurrent", accepts=_RECURRENT, tokens=True,
               summary="Elman RNN (tanh or relu) over rows / steps / features / tokens")
MODELS.declare("lstm", RecurrentConfig, "dlx.models.recurrent:build_recurrent", accepts=_RECURRENT, tokens=True,
               summary="LSTM over rows / steps / features / tokens")
MODELS.declare("gru", RecurrentConfig, "dlx.models.recurrent:build_recurrent", accepts=_RECURRENT, tokens=True,
               summary="GRU over rows / steps / features / tokens")
MODELS.declare("transformer", TransformerConfig, "dlx.models.transformer:build_transformer",
               accepts=("image", "sequence", "tabular", "tokens", "language"), tokens=True,
               summary="self-attention blocks, [CLS] or mean pooling; causal=true: a language model")
MODELS.declare("knn", KNNConfig, "dlx.models.baselines:build_knn", accepts=_BASELINE, network=False,
               summary="k-nearest neighbours, L1 or L2 distance (scikit-learn)",
               **_estimator_refs("knn"))
MODELS.declare("linear", LinearConfig, "dlx.models.baselines:build_linear", accepts=_BASELINE,
               summary="linear map: least squares in closed form (scikit-learn) or by the loop (solver=gd)",
               **_estimator_refs("linear"))
MODELS.declare("logistic", LogisticConfig, "dlx.models.baselines:build_logistic", accepts=_BASELINE, network=False,
               summary="logistic regression, L2-penalised, L-BFGS (scikit-learn)",
               **_estimator_refs("logistic"))
for _name, _schema, _summary in (
        ("svm", SVMConfig, "support vector machine: linear / rbf / poly kernel, Platt probabilities (scikit-learn)"),
        ("perceptron", PerceptronConfig, "Rosenblatt's perceptron, linear classifier (scikit-learn)"),
        ("naive_bayes", NaiveBayesConfig, "Gaussian naive Bayes (scikit-learn)"),
        ("tree", TreeConfig, "CART decision tree (scikit-learn)"),
        ("forest", ForestConfig, "random forest / extra trees (scikit-learn)"),
        ("boosting", BoostingConfig, "histogram gradient boosting / AdaBoost (scikit-learn)")):
    MODELS.declare(_name, _schema, f"dlx.models.classical:build_{_name}", accepts=_BASELINE, network=False,
                   summary=_summary, **_estimator_refs(_name, "classical"))
