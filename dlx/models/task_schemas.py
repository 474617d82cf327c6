"""The schemas of the models trained by tasks of their own (generative, graph, sequence-to-sequence,
language): dataclasses only, importable without torch, checked before torch loads like those in
`dlx.models.schemas` (whose BUILTIN table lists them too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlx.errors import require
from dlx.use.transfer import TransferKeys  # model.init_from, model.freeze (issue 14)

# ---------------------------------------------------------------- generative (dlx.models.generative)

RECON = ("mse", "bce")
FAMILIES = ("mlp", "conv")  # model.family: encoder / decoder (generator / discriminator) kind


def _check_widths(hidden: list[int], latent: int) -> None:
    require(all(h > 0 for h in hidden), "hidden", f"widths must be > 0, got {hidden}")
    require(latent >= 1, "latent", f"must be >= 1, got {latent}")


def _check_family(family: str, channels: list[int]) -> None:
    require(family in FAMILIES, "family", f"unknown '{family}'; choices: {', '.join(FAMILIES)}")
    require(len(channels) > 0 and all(c > 0 for c in channels), "channels",
            f"needs at least one width > 0, got {channels}")


@dataclass
class AutoencoderConfig(TransferKeys):
    name: str = "autoencoder"
    family: str = "mlp"  # mlp | conv (images: strided convolutions down, transposed convolutions up)
    hidden: list[int] = field(default_factory=lambda: [256, 128])  # family=mlp: encoder widths; the decoder mirrors them
    channels: list[int] = field(default_factory=lambda: [32, 64])  # family=conv: channels per stage (each halves H, W)
    latent: int = 2  # code size (2: `dlx plot RUN --latent` scatters it)
    recon: str = "mse"  # reconstruction loss, summed over features: mse | bce (inputs in [0, 1]: data.preprocess=minmax)

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        _check_widths(self.hidden, self.latent)
        _check_family(self.family, self.channels)
        require(self.recon in RECON, "recon", f"unknown '{self.recon}'; choices: {', '.join(RECON)}")


@dataclass
class VAEConfig(AutoencoderConfig):
    name: str = "vae"
    beta: float = 1.0  # weight of the KL term (beta-VAE; 1 = the ELBO)

    def __post_init__(self):
        super().__post_init__()
        require(self.beta >= 0, "beta", f"must be >= 0, got {self.beta}")


@dataclass
class GANConfig(TransferKeys):
    name: str = "gan"
    family: str = "mlp"  # mlp | conv (images: DCGAN — transposed convolutions, batch norm, LeakyReLU)
    noise: int = 8  # size of the generator's input noise z ~ N(0, I)
    hidden: list[int] = field(default_factory=lambda: [128, 128])  # family=mlp: generator widths
    d_hidden: list[int] = field(default_factory=lambda: [128, 128])  # family=mlp: discriminator widths
    channels: list[int] = field(default_factory=lambda: [32, 64])  # family=conv: discriminator channels per stage; the generator mirrors them
    d_lr: float = 0.001  # the discriminator's learning rate (the generator's is optim.lr; same optimizer kind)
    d_steps: int = 1  # discriminator updates per generator update
    sample_every: int = 10  # save a sample picture under the run's samples/ every N epochs (0: never)

    def __post_init__(self):
        super().__post_init__()
        _check_widths(self.hidden, self.noise)
        _check_family(self.family, self.channels)
        require(all(h > 0 for h in self.d_hidden), "d_hidden", f"widths must be > 0, got {self.d_hidden}")
        require(self.d_lr > 0, "d_lr", f"must be > 0, got {self.d_lr}")
        require(self.d_steps >= 1, "d_steps", f"must be >= 1, got {self.d_steps}")
        require(self.sample_every >= 0, "sample_every", f"must be >= 0, got {self.sample_every}")
        require(self.init_from is None and self.freeze is None, "init_from",
                "model=gan does not support model.init_from / model.freeze")


# ---------------------------------------------------------------- gnn (dlx.models.gnn)

CONVS = ("gcn", "sage", "gin", "gat")
AGGREGATES = ("sum", "mean", "max")
READOUTS = ("none", *AGGREGATES)


@dataclass
class GNNConfig(TransferKeys):
    name: str = "gnn"
    conv: str = "gcn"  # gcn | sage | gin | gat
    aggregate: str = "sum"  # sum | mean | max: how sage / gin combine neighbours' messages
    layers: int = 2  # message-passing layers (the last one outputs the classes)
    hidden: int = 16
    heads: int = 1  # gat only: attention heads per hidden layer (concatenated)
    dropout: float = 0.5  # on the input of every layer
    readout: str = "none"  # none: a prediction per node | sum | mean | max: per graph (data=graph_set)

    def __post_init__(self):
        super().__post_init__()  # TransferKeys
        require(self.conv in CONVS, "conv", f"unknown '{self.conv}'; choices: {', '.join(CONVS)}")
        require(self.aggregate in AGGREGATES, "aggregate",
                f"unknown '{self.aggregate}'; choices: {', '.join(AGGREGATES)}")
        require(self.layers >= 1, "layers", f"must be >= 1, got {self.layers}")
        require(self.hidden >= 1, "hidden", f"must be >= 1, got {self.hidden}")
        require(self.heads >= 1, "heads", f"must be >= 1, got {self.heads}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
        require(self.readout in READOUTS, "readout", f"unknown '{self.readout}'; choices: {', '.join(READOUTS)}")


# ---------------------------------------------------------------- sequences (dlx.models.seq2seq, dlx.models.lm)

SEQ2SEQ_CELLS = ("rnn", "gru", "lstm", "transformer")  # seq2seq.CELLS builds them (transformer: seq2seq_transformer)
ATTENTION = ("none", "dot", "general", "additive")
LM_ARCHS = ("transformer", "lstm")


@dataclass
class Seq2SeqConfig:
    name: str = "seq2seq"
    cell: str = "gru"  # rnn | gru | lstm | transformer
    embedding: int = 32  # token embedding size (recurrent cells; a transformer's is hidden_size)
    hidden_size: int = 128  # state size; a transformer's width d_model
    num_layers: int = 1  # stacked layers (a transformer: of the encoder and of the decoder each)
    num_heads: int = 4  # transformer only: attention heads, must divide hidden_size
    bidirectional: bool = False  # the encoder reads both ways (recurrent cells)
    attention: str = "additive"  # none | dot | general (Luong) | additive (Bahdanau); recurrent cells
    teacher_forcing: float = 1.0  # probability of feeding the true previous token in training
    beam: int = 1  # beam width at evaluation (1: greedy)
    dropout: float = 0.0  # on embeddings and before the output layer

    def __post_init__(self):
        require(self.cell in SEQ2SEQ_CELLS, "cell", f"must be one of {', '.join(SEQ2SEQ_CELLS)}, got {self.cell!r}")
        require(self.attention in ATTENTION, "attention",
                f"must be one of {', '.join(ATTENTION)}, got {self.attention!r}")
        require(self.embedding > 0, "embedding", f"must be > 0, got {self.embedding}")
        require(self.hidden_size > 0, "hidden_size", f"must be > 0, got {self.hidden_size}")
        require(self.num_layers > 0, "num_layers", f"must be > 0, got {self.num_layers}")
        require(self.num_heads > 0 and (self.cell != "transformer" or self.hidden_size % self.num_heads == 0),
                "num_heads", f"must divide model.hidden_size ({self.hidden_size}), got {self.num_heads}")
        require(0 <= self.teacher_forcing <= 1, "teacher_forcing", f"must be in [0, 1], got {self.teacher_forcing}")
        require(self.beam >= 1, "beam", f"must be >= 1, got {self.beam}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")


@dataclass
class LMConfig:
    name: str = "lm"
    arch: str = "transformer"  # transformer (decoder-only, causal) | lstm
    d_model: int = 128  # embedding and state size
    num_layers: int = 2
    num_heads: int = 4  # transformer only
    dim_feedforward: int = 256  # transformer only
    positions: str = "learned"  # learned | sinusoidal (transformer only)
    max_length: int = 512  # longest context the learned positions cover
    dropout: float = 0.1

    def __post_init__(self):
        require(self.arch in LM_ARCHS, "arch", f"must be transformer or lstm, got {self.arch!r}")
        require(self.d_model > 0, "d_model", f"must be > 0, got {self.d_model}")
        require(self.num_layers > 0, "num_layers", f"must be > 0, got {self.num_layers}")
        require(self.num_heads > 0 and self.d_model % self.num_heads == 0, "num_heads",
                f"must divide d_model ({self.d_model}), got {self.num_heads}")
        require(self.positions in ("learned", "sinusoidal"), "positions",
                f"must be learned or sinusoidal, got {self.positions!r}")
        require(self.max_length > 0, "max_length", f"must be > 0, got {self.max_length}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")
