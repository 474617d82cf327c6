"""The schemas and declarations of the generated datasets and of the text and time-series
files: importable without torch or numpy, like `dlx.data.schemas` (whose `DataConfig` they extend).

Each `DATASETS.declare(name, schema, builder="module:attr", ...)` names the dataset's schema,
where its loader lives (imported when the dataset is first loaded) and what `dlx data` shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from dlx.constraints import at_least, choices, interval
from dlx.data.schemas import DataConfig, preprocess_key
from dlx.errors import require
from dlx.registry import DATASETS

# ---------------------------------------------------------------- 2-D sets (dlx.data.synthetic)


@dataclass
class SyntheticConfig(DataConfig):
    n_samples: int = at_least(1000, 10)
    noise: float = at_least(0.1, 0)  # standard deviation of Gaussian noise on the inputs (sine: on the target)


@dataclass
class SpiralsConfig(SyntheticConfig):
    arms: int = interval(3, 2, 20)  # one class per arm
    turns: float = interval(1.0, 0, None, closed="neither")  # how far each arm winds around the centre


@dataclass
class SineConfig(SyntheticConfig):
    scale_target: bool = True  # fit mean/std of y on train; metrics stay in the target's units


# ---------------------------------------------------------------- sequences (dlx.data.sequences)


@dataclass
class SequenceConfig(DataConfig):
    """A generated sequence task: `n_samples` sequences, fixed length (adding, parity)."""

    preprocess: str = preprocess_key("none")
    n_samples: int = at_least(2000, 10)
    length: int = at_least(20, 2)  # time steps (adding, parity)


@dataclass
class Seq2SeqDataConfig(DataConfig):
    """copy / reverse / sort: variable-length symbol strings."""

    preprocess: str = preprocess_key("none")
    n_samples: int = at_least(5000, 10)
    vocab: int = interval(10, 2, 1000)  # distinct symbols
    min_length: int = at_least(10, 1)
    max_length: int = 20

    def validate(self) -> None:
        super().validate()
        require(self.max_length >= self.min_length, "max_length",
                f"must be >= data.min_length ({self.min_length}), got {self.max_length}")


# ---------------------------------------------------------------- files in order (dlx.data.text, dlx.data.timeseries)

FORWARD_CHAINING = "forward-chaining folds are the same every time; use 0"


@dataclass
class TextConfig(DataConfig):
    preprocess: str = preprocess_key("none")
    path: Optional[str] = None  # a UTF-8 text file
    level: str = choices("char", "char", "word")  # char | word (split on whitespace)
    context: int = at_least(64, 1)  # tokens per window
    stride: int = at_least(0, 0)  # tokens between window starts (0: context, no overlap)

    def validate(self) -> None:
        super().validate()
        require(self.repeat == 0, "repeat", FORWARD_CHAINING)


@dataclass
class TimeSeriesConfig(DataConfig):
    path: Optional[str] = None  # a CSV file, one row per time step, oldest first
    target: Optional[str] = None  # the column to forecast
    features: list[str] = field(default_factory=list)  # input columns (empty: the target alone)
    window: int = at_least(24, 1)  # rows per input window
    horizon: int = at_least(1, 1)  # forecast this many rows after the window's last row

    def validate(self) -> None:
        super().validate()
        require(self.repeat == 0, "repeat", FORWARD_CHAINING)


# ---------------------------------------------------------------- the built-in datasets

_SYN = "dlx.data.synthetic"
_SIZE = "n_samples=1,000"  # what `dlx data` shows: the default, and the key that changes it
_TWO_D = {"download": False, "shape": (2,), "size": _SIZE}
DATASETS.declare("moons", SyntheticConfig, f"{_SYN}:load_moons", task="binary", **_TWO_D,
                 summary="two interleaving half circles (non-linear boundary)")
DATASETS.declare("circles", SyntheticConfig, f"{_SYN}:load_circles", task="binary", **_TWO_D,
                 summary="a circle inside a circle (needs a non-linear boundary)")
DATASETS.declare("spirals", SpiralsConfig, f"{_SYN}:load_spirals", task="multiclass", **_TWO_D,
                 summary="k interleaved spiral arms, one class per arm (binary when k=2)")
DATASETS.declare("xor", SyntheticConfig, f"{_SYN}:load_xor", task="binary", **_TWO_D,
                 summary="XOR of the signs of two coordinates: no line separates it")
DATASETS.declare("linear", SyntheticConfig, f"{_SYN}:load_linear", task="binary", **_TWO_D,
                 summary="two classes on either side of a random line (separable at noise=0)")
DATASETS.declare("sine", SineConfig, f"{_SYN}:load_sine", task="regression", download=False, shape=(1,),
                 size=_SIZE, summary="y = sin(x) + noise on [-π, π] (regression)")

_SEQ = "dlx.data.sequences"
DATASETS.declare("adding", SequenceConfig, f"{_SEQ}:load_adding", download=False, task="regression",
                 shape=("length", 2), size="n_samples=2,000",
                 summary="the adding problem: sum of two marked values (long memory)")
DATASETS.declare("parity", SequenceConfig, f"{_SEQ}:load_parity", download=False, task="binary",
                 shape=("length", 1), size="n_samples=2,000", summary="is the count of ones in a bit string odd")
for _name in ("copy", "reverse", "sort"):
    DATASETS.declare(_name, Seq2SeqDataConfig, f"{_SEQ}:load_{_name}", download=False, task="seq2seq",
                     shape=("max_length",), size="n_samples=5,000",
                     summary=f"{_name} a symbol string (sequence to sequence)")
DATASETS.declare("majority", Seq2SeqDataConfig, f"{_SEQ}:load_majority", download=False, task="multiclass",
                 shape=("max_length",), size="n_samples=5,000",
                 summary="the most frequent symbol of a string (tokens, many-to-one)")
DATASETS.declare("running_max", Seq2SeqDataConfig, f"{_SEQ}:load_running_max", download=False, task="tagging",
                 shape=("max_length",), size="n_samples=5,000",
                 summary="tag each symbol with the largest so far (tokens, many-to-many)")

DATASETS.declare("text", TextConfig, "dlx.data.text:load_text", download=False, task="language", ordered=True,
                 shape=("context",), size="a file", summary="a text file as next-token windows (char or word level)")
DATASETS.declare("timeseries", TimeSeriesConfig, "dlx.data.timeseries:load_timeseries", download=False,
                 task="regression", ordered=True, shape=("window", "features"), size="a file",
                 summary="a CSV time series as sliding windows, split in time order (forecast a column)")


# ---------------------------------------------------------------- graphs (dlx.data.graphs, dlx.data.graphsets)

GRAPH_NODES, GRAPH_SET = "graph-nodes", "graph-set"  # the data kinds: a label per node / per graph
GRAPH_SHAPES = ("cycle", "tree", "er", "sbm")  # graph_set's generators


@dataclass
class KarateConfig(DataConfig):
    preprocess: str = preprocess_key("none")  # features are one-hot node ids
    labelled_per_class: int = at_least(0, 0)  # >0: train on this many nodes per class (Kipf & Welling: 1), the rest val/test
    communities: int = 2  # classes: 2 = the two clubs after the split (Zachary's labels) | 4 = modularity communities

    def validate(self) -> None:
        super().validate()
        require(self.communities in (2, 4), "communities", f"must be 2 (the clubs) or 4, got {self.communities}")


@dataclass
class SBMConfig(DataConfig):
    blocks: int = at_least(3, 2)
    block_size: int = at_least(100, 2)  # nodes per block
    p_in: float = interval(0.1, 0, 1)  # edge probability inside a block
    p_out: float = interval(0.01, 0, 1)  # edge probability between blocks
    features: int = at_least(16, 1)  # node feature dimension
    feature_noise: float = at_least(2.0, 0)  # std of Gaussian noise around the block's feature centre (centres ~ N(0, 1))


@dataclass
class GraphCSVConfig(DataConfig):
    edges: Optional[str] = None  # CSV of edges: two columns (source, target) of node ids
    nodes: Optional[str] = None  # CSV of nodes: an id column, feature columns, a label column
    id_col: str = "id"
    target: str = "label"
    directed: bool = False  # false: every edge is used in both directions

    def check_files(self) -> None:
        from pathlib import Path

        from dlx.errors import DataError

        for key, what in (("edges", "edge-list CSV (source,target)"), ("nodes", "node CSV (id, features, label)")):
            path = getattr(self, key)
            if not path:
                raise DataError(f"graph_csv needs data.{key}: the {what}, e.g. data.{key}=/path/to/{key}.csv")
            if not Path(path).expanduser().exists():
                raise DataError(f"graph_csv: {what} not found: {path}; check data.{key}")


@dataclass
class GraphSetConfig(DataConfig):
    shapes: list[str] = field(default_factory=lambda: ["cycle", "tree"])  # one class per generator: cycle | tree | er | sbm
    graphs_per_class: int = at_least(200, 2)
    min_nodes: int = at_least(12, 3)  # each graph's size is uniform in [min_nodes, max_nodes]
    max_nodes: int = 24
    p: float = interval(0.3, 0, 1)  # er: edge probability; sbm: the mean of p_in and p_out, so both classes have the same density
    p_in: float = interval(0.5, 0, 1)  # sbm: two equal blocks, edge probability inside a block
    p_out: float = interval(0.1, 0, 1)  # sbm: between the blocks
    max_degree: int = at_least(10, 1)  # features: one-hot degree 0..max_degree (higher degrees share the last column)

    def validate(self) -> None:
        super().validate()
        require(len(self.shapes) >= 2 and len(set(self.shapes)) == len(self.shapes), "shapes",
                f"needs two or more different generators, got {self.shapes}")
        bad = [s for s in self.shapes if s not in GRAPH_SHAPES]
        require(not bad, "shapes", f"unknown {', '.join(bad)}; choices: {', '.join(GRAPH_SHAPES)}")
        require(self.min_nodes <= self.max_nodes, "min_nodes",
                f"needs 3 <= data.min_nodes <= data.max_nodes, got {self.min_nodes} and {self.max_nodes}")


DATASETS.declare("karate", KarateConfig, "dlx.data.graphs:load_karate", download=False, task=GRAPH_NODES,
                 shape=(34,), size=34, summary="Zachary's karate club (networkx): 34 members, 78 ties, 2 clubs "
                 "(or data.communities=4); one-hot features")
DATASETS.declare("sbm", SBMConfig, "dlx.data.graphs:load_sbm", download=False, task=GRAPH_NODES, shape=(16,),
                 size=300, summary="stochastic block model from data.seed: a class per block, noisy node features")
DATASETS.declare("graph_csv", GraphCSVConfig, "dlx.data.graphs:load_graph_csv", download=False, task=GRAPH_NODES,
                 shape="?", size="?",
                 summary="your graph: data.edges (source,target CSV) + data.nodes (id, features, label CSV)")
DATASETS.declare("graph_set", GraphSetConfig, "dlx.data.graphsets:load_graph_set", download=False, task=GRAPH_SET,
                 shape=(11,), size=400, summary="many small generated graphs from data.seed, one class per generator "
                 "(cycles vs trees, sbm vs er)")
