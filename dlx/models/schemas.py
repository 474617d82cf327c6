"""The model group's schemas: dataclasses only, importable without torch.

`dlx.config.precheck` checks `model.*` (widths, rates, names) with these before any heavy
module loads, so `model.dropout=1.5` is answered in a fraction of a second; each family's
module (`dlx.models.mlp`, ...) registers the same class next to its builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlx.errors import require, unknown
from dlx.models.task_schemas import (  # the models trained by tasks of their own
    AutoencoderConfig, GANConfig, GNNConfig, LMConfig, Seq2SeqConfig, VAEConfig,
)
from dlx.use.transfer import TransferKeys  # model.init_from, model.freeze (issue 14)

# ---------------------------------------------------------------- keys several families share

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "gelu", "identity", "maxout")  # layers builds them
INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "normal", "zeros")
NORMS = ("auto", "batch", "layer", "group", "none")


def check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise unknown("activation", name, ACTIVATIONS)


def check_activation_keys(cfg) -> None:
    """The checks every schema with `activation`, `maxout_pieces`, `init` keys shares."""
    check_activation(cfg.activation)
    pieces = getattr(cfg, "maxout_pieces", 2)  # absent where maxout does not apply (resnet)
    require(pieces >= 2, "maxout_pieces", f"must be >= 2, got {pieces}")
    require(cfg.negative_slope >= 0, "negative_slope", f"must be >= 0, got {cfg.negative_slope}")
    check_init(cfg.init)
    require(cfg.init_std > 0, "init_std", f"must be > 0, got {cfg.init_std}")


def check_init(name: str) -> None:
    if name not in INITS:
        raise unknown("init", name, INITS)


def check_norm(cfg) -> None:
    if cfg.norm not in NORMS:
        raise unknown("norm", cfg.norm, NORMS)


# ---------------------------------------------------------------- mlp (dlx.models.mlp)

@dataclass
class MLPConfig(TransferKeys):
    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    activation: str = "relu"
    negative_slope: float = 0.01  # leaky_relu only
    maxout_pieces: int = 2  # maxout only: linear pieces per unit
    dropout: float = 0.0
    batchnorm: bool = False  # BatchNorm after the linear layer, before the activation (norm=auto)
    norm: str = "auto"  # auto (= batch if batchnorm, else none) | batch | layer | group | none
    init: str = "default"
    init_std: float = 0.01  # init=normal only

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        require(all(h > 0 for h in self.hidden), "hidden", f"widths must be > 0, got {self.hidden}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        check_activation_keys(self)
        check_norm(self)


# ---------------------------------------------------------------- cnn (dlx.models.cnn)

POOL_KINDS = ("max", "avg")  # cnn.POOLS builds them


@dataclass
class CNNConfig(TransferKeys):
    name: str = "cnn"
    channels: list[int] = field(default_factory=lambda: [64, 64, 128, 128])  # one conv block per entry
    kernel_size: int = 3
    stride: int = 1
    padding: str = "same"  # same | an integer
    pool: str = "max"  # max | avg
    pool_every: int = 2  # pool after every block (1) or every second one (2)
    fc: list[int] = field(default_factory=lambda: [256])  # hidden fully-connected widths: [] | [a] | [a, b]
    dropout: float = 0.5  # before each fully-connected layer
    batchnorm: bool = True  # BatchNorm2d after each convolution, before the activation (norm=auto)
    norm: str = "auto"  # auto (= batch if batchnorm, else none) | batch | layer | group | none
    activation: str = "relu"
    negative_slope: float = 0.01  # leaky_relu only
    maxout_pieces: int = 2  # maxout only
    init: str = "default"
    init_std: float = 0.01  # init=normal only

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        require(len(self.channels) > 0 and all(c > 0 for c in self.channels), "channels",
                f"needs at least one width > 0, got {self.channels}")
        require(self.kernel_size > 0, "kernel_size", f"must be > 0, got {self.kernel_size}")
        require(self.stride > 0, "stride", f"must be > 0, got {self.stride}")
        require(self.padding == "same" or (self.padding.isdigit()), "padding",
                f"must be 'same' or an integer >= 0, got {self.padding!r}")
        require(self.pool in POOL_KINDS, "pool", f"must be max or avg, got {self.pool!r}")
        require(self.pool_every in (1, 2), "pool_every", f"must be 1 or 2, got {self.pool_every}")
        require(len(self.fc) <= 2 and all(w > 0 for w in self.fc), "fc",
                f"takes zero, one or two widths > 0, got {self.fc}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        check_activation_keys(self)
        check_norm(self)


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
    block: str = "auto"  # auto (the paper's for this depth) | basic | bottleneck
    width: int = 32  # channels of the first stage; doubled at each later stage
    stem: str = "auto"  # auto | imagenet (7x7/2 conv + max-pool) | small (3x3/1 conv)
    dropout: float = 0.0  # before the output layer
    activation: str = "relu"  # any but maxout (it would change the block's widths)
    negative_slope: float = 0.01  # leaky_relu only
    init: str = "kaiming_normal"
    init_std: float = 0.01  # init=normal only
    zero_init_residual: bool = True  # last BN of each block starts at 0: every block starts as identity
    skip: bool = True  # false: the same blocks without their skip connections (the degradation experiment)
    norm: str = "batch"  # batch | layer | group | none

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        require(self.depth in LAYOUTS, "depth",
                f"no resnet of depth {self.depth}; choose one of {', '.join(map(str, sorted(LAYOUTS)))}")
        require(self.block in ("auto", "basic", "bottleneck"), "block",
                f"must be auto, basic or bottleneck, got {self.block!r}")
        require(self.width > 0, "width", f"must be > 0, got {self.width}")
        require(self.stem in ("auto", "imagenet", "small"), "stem",
                f"must be auto, imagenet or small, got {self.stem!r}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        require(self.activation != "maxout", "activation", "resnet blocks cannot use maxout; choose another")
        check_activation_keys(self)
        require(self.norm in NORMS and self.norm != "auto", "norm",
                f"must be batch, layer, group or none, got {self.norm!r}")


# ---------------------------------------------------------------- recurrent (dlx.models.recurrent)

TABULAR = ("per_feature", "one_step")


@dataclass
class RecurrentConfig(TransferKeys):
    """Keys shared by lstm and gru (rnn adds `activation`)."""

    name: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # between stacked layers and before the output layer
    pool: str = "last"  # last: the final hidden state(s); mean: the mean over time steps
    tabular: str = "per_feature"  # how a tabular row becomes a sequence
    init: str = "default"
    init_std: float = 0.01  # init=normal only

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        require(self.hidden_size > 0, "hidden_size", f"must be > 0, got {self.hidden_size}")
        require(self.num_layers > 0, "num_layers", f"must be > 0, got {self.num_layers}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        require(self.pool in ("last", "mean"), "pool", f"must be last or mean, got {self.pool!r}")
        require(self.tabular in TABULAR, "tabular", f"must be per_feature or one_step, got {self.tabular!r}")
        check_init(self.init)
        require(self.init_std > 0, "init_std", f"must be > 0, got {self.init_std}")


@dataclass
class RNNConfig(RecurrentConfig):
    name: str = "rnn"
    activation: str = "tanh"  # tanh | relu: the only two torch's fused RNN offers

    def __post_init__(self):
        super().__post_init__()
        require(self.activation in ("tanh", "relu"), "activation",
                f"rnn supports tanh or relu, got {self.activation!r} (other activations: model=mlp, cnn)")


# ---------------------------------------------------------------- transformer (dlx.models.transformer)

@dataclass
class TransformerConfig(TransferKeys):
    name: str = "transformer"
    d_model: int = 64
    heads: int = 8
    layers: int = 2
    ff_dim: int = 128  # hidden width of each block's feed-forward network
    dropout: float = 0.1
    positional: str = "learned"  # learned | sinusoidal
    pool: str = "cls"  # cls: a learned [CLS] token | mean: the mean of the tokens
    tokens: str = "rows"  # images: rows | patches
    patch_size: int = 2  # tokens=patches only; must divide the image's height and width
    tabular: str = "per_feature"  # per_feature | one_step
    activation: str = "gelu"  # in the feed-forward network
    negative_slope: float = 0.01  # leaky_relu only
    maxout_pieces: int = 2  # maxout only
    init: str = "default"
    init_std: float = 0.02  # init=normal only
    causal: bool = False  # true: a decoder-only language model over tokens (data=text), causal mask

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        for key in ("d_model", "heads", "layers", "ff_dim", "patch_size"):
            require(getattr(self, key) > 0, key, f"must be > 0, got {getattr(self, key)}")
        require(self.d_model % self.heads == 0, "heads",
                f"must divide d_model: {self.d_model} is not a multiple of {self.heads} heads")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        require(self.positional in ("learned", "sinusoidal"), "positional",
                f"must be learned or sinusoidal, got {self.positional!r}")
        require(self.pool in ("cls", "mean"), "pool", f"must be cls or mean, got {self.pool!r}")
        require(self.tokens in ("patches", "rows"), "tokens", f"must be patches or rows, got {self.tokens!r}")
        require(self.tabular in ("per_feature", "one_step"), "tabular",
                f"must be per_feature or one_step, got {self.tabular!r}")
        check_activation_keys(self)


# ---------------------------------------------------------------- baselines (dlx.models.baselines)

METRICS = {"l1": "manhattan", "l2": "euclidean"}  # model.metric -> scikit-learn's distance
SOLVERS = ("closed_form", "gd")


@dataclass
class KNNConfig:
    name: str = "knn"
    k: int = 5  # neighbours that vote (classification) or are averaged (regression)
    metric: str = "l2"  # l1 (Manhattan) | l2 (Euclidean) distance between feature rows

    @property
    def fits_estimator(self) -> bool:
        return True

    def __post_init__(self):
        require(self.k >= 1, "k", f"must be >= 1, got {self.k}")
        require(self.metric in METRICS, "metric", f"must be l1 or l2, got '{self.metric}'")


@dataclass
class LinearConfig:
    name: str = "linear"
    solver: str = "closed_form"  # closed_form: least squares by scikit-learn | gd: an nn.Linear trained by the loop
    alpha: float = 0.0  # closed_form only: L2 penalty (0: ordinary least squares, > 0: ridge)
    init: str = "default"  # gd only: the starting weights (see model=mlp)
    init_std: float = 0.01  # gd with init=normal only

    @property
    def fits_estimator(self) -> bool:
        return self.solver == "closed_form"

    def __post_init__(self):
        require(self.solver in SOLVERS, "solver", f"must be closed_form or gd, got '{self.solver}'")
        require(self.alpha >= 0, "alpha", f"must be >= 0, got {self.alpha}")
        require(self.solver == "closed_form" or self.alpha == 0, "alpha",
                "applies to solver=closed_form only; with solver=gd use regularizer=l2")
        check_init(self.init)


@dataclass
class LogisticConfig:
    name: str = "logistic"
    C: float = 1.0  # inverse L2 strength: minimise C·Σ log-loss + ½‖w‖² (scikit-learn's default)
    max_iter: int = 1000  # L-BFGS iterations

    @property
    def fits_estimator(self) -> bool:
        return True

    def __post_init__(self):
        require(self.C > 0, "C", f"must be > 0, got {self.C}")
        require(self.max_iter >= 1, "max_iter", f"must be >= 1, got {self.max_iter}")


# the built-in models' schemas by name, for the checks made before the registry (and torch)
# loads; tests/test_models.py checks that they agree with the registry
BUILTIN = {"mlp": MLPConfig, "cnn": CNNConfig, "resnet": ResNetConfig, "rnn": RNNConfig, "lstm": RecurrentConfig,
           "gru": RecurrentConfig, "transformer": TransformerConfig, "autoencoder": AutoencoderConfig,
           "vae": VAEConfig, "gan": GANConfig, "gnn": GNNConfig, "knn": KNNConfig, "linear": LinearConfig,
           "logistic": LogisticConfig, "seq2seq": Seq2SeqConfig, "lm": LMConfig}
