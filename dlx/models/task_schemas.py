"""The schemas and declarations of the models trained by tasks of their own (generative, graph,
sequence-to-sequence, language): dataclasses only, importable without torch, checked before
torch loads like those in `dlx.models.schemas` (which imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlx.constraints import Checked, at_least, choices, fraction, interval, positive
from dlx.errors import require
from dlx.models.transfer_schema import TransferKeys  # model.init_from, model.freeze (issue 14)
from dlx.registry import MODELS

# ---------------------------------------------------------------- generative (dlx.models.generative)

RECON = ("mse", "bce")
FAMILIES = ("mlp", "conv")  # model.family: encoder / decoder (generator / discriminator) kind


def _check_channels(channels: list[int]) -> None:
    require(len(channels) > 0, "channels", f"needs at least one width > 0, got {channels}")


@dataclass
class AutoencoderConfig(TransferKeys):
    name: str = "autoencoder"
    family: str = choices("mlp", *FAMILIES)  # mlp | conv (images: strided convolutions down, transposed up)
    hidden: list[int] = positive([256, 128], each=True)  # family=mlp: encoder widths; the decoder mirrors them
    channels: list[int] = positive([32, 64], each=True)  # family=conv: channels per stage (each halves H, W)
    latent: int = at_least(2, 1)  # code size (2: `dlx plot RUN --latent` scatters it)
    recon: str = choices("mse", *RECON)  # reconstruction loss, summed: mse | bce (inputs in [0, 1]: data.preprocess=minmax)

    def validate(self) -> None:
        super().validate()
        _check_channels(self.channels)


@dataclass
class VAEConfig(AutoencoderConfig):
    name: str = "vae"
    beta: float = at_least(1.0, 0)  # weight of the KL term (beta-VAE; 1 = the ELBO)


@dataclass
class GANConfig(TransferKeys):
    name: str = "gan"
    family: str = choices("mlp", *FAMILIES)  # mlp | conv (images: DCGAN — transposed convolutions, batch norm)
    noise: int = at_least(8, 1)  # size of the generator's input noise z ~ N(0, I)
    hidden: list[int] = positive([128, 128], each=True)  # family=mlp: generator widths
    d_hidden: list[int] = positive([128, 128], each=True)  # family=mlp: discriminator widths
    channels: list[int] = positive([32, 64], each=True)  # family=conv: discriminator channels; the generator mirrors them
    d_lr: float = positive(0.001)  # the discriminator's learning rate (the generator's is optim.lr)
    d_steps: int = at_least(1, 1)  # discriminator updates per generator update
    sample_every: int = at_least(10, 0)  # save a sample picture under the run's samples/ every N epochs (0: never)

    def validate(self) -> None:
        super().validate()
        _check_channels(self.channels)
        require(self.init_from is None and self.freeze is None, "init_from",
                "model=gan does not support model.init_from / model.freeze")


# ---------------------------------------------------------------- gnn (dlx.models.gnn)

CONVS = ("gcn", "sage", "gin", "gat")
AGGREGATES = ("sum", "mean", "max")
READOUTS = ("none", *AGGREGATES)


@dataclass
class GNNConfig(TransferKeys):
    name: str = "gnn"
    conv: str = choices("gcn", *CONVS)
    aggregate: str = choices("sum", *AGGREGATES)  # how sage / gin combine neighbours' messages
    layers: int = at_least(2, 1)  # message-passing layers (the last one outputs the classes)
    hidden: int = at_least(16, 1)
    heads: int = at_least(1, 1)  # gat only: attention heads per hidden layer (concatenated)
    dropout: float = fraction(0.5)  # on the input of every layer
    readout: str = choices("none", *READOUTS)  # none: a prediction per node | sum | mean | max: per graph


# ---------------------------------------------------------------- sequences (dlx.models.seq2seq, dlx.models.lm)

SEQ2SEQ_CELLS = ("rnn", "gru", "lstm", "transformer")  # seq2seq.CELLS builds them (transformer: seq2seq_transformer)
ATTENTION = ("none", "dot", "general", "additive")
LM_ARCHS = ("transformer", "lstm")


@dataclass
class Seq2SeqConfig(Checked):
    name: str = "seq2seq"
    cell: str = choices("gru", *SEQ2SEQ_CELLS)
    embedding: int = positive(32)  # token embedding size (recurrent cells; a transformer's is hidden_size)
    hidden_size: int = positive(128)  # state size; a transformer's width d_model
    num_layers: int = positive(1)  # stacked layers (a transformer: of the encoder and of the decoder each)
    num_heads: int = positive(4)  # transformer only: attention heads, must divide hidden_size
    bidirectional: bool = False  # the encoder reads both ways (recurrent cells)
    attention: str = choices("additive", *ATTENTION)  # dot | general (Luong) | additive (Bahdanau); recurrent cells
    teacher_forcing: float = fraction(1.0, closed="both")  # probability of feeding the true previous token in training
    beam: int = at_least(1, 1)  # beam width at evaluation (1: greedy)
    dropout: float = fraction(0.0)  # on embeddings and before the output layer

    def validate(self) -> None:
        require(self.cell != "transformer" or self.hidden_size % self.num_heads == 0,
                "num_heads", f"must divide model.hidden_size ({self.hidden_size}), got {self.num_heads}")


@dataclass
class LMConfig(Checked):
    name: str = "lm"
    arch: str = choices("transformer", *LM_ARCHS)  # transformer (decoder-only, causal) | lstm
    d_model: int = positive(128)  # embedding and state size
    num_layers: int = positive(2)
    num_heads: int = positive(4)  # transformer only
    dim_feedforward: int = positive(256)  # transformer only
    positions: str = choices("learned", "learned", "sinusoidal")  # transformer only
    max_length: int = positive(512)  # longest context the learned positions cover
    dropout: float = interval(0.1, 0, 1, closed="left")

    def validate(self) -> None:
        require(self.d_model % self.num_heads == 0, "num_heads",
                f"must divide d_model ({self.d_model}), got {self.num_heads}")


# ---------------------------------------------------------------- the built-in families

_GENERATIVE = ("image", "tabular")
MODELS.declare("autoencoder", AutoencoderConfig, "dlx.models.generative:build_autoencoder", accepts=_GENERATIVE,
               task="autoencoder",
               summary="autoencoder: MLP or conv (model.family) encoder to model.latent, decoder back (labels ignored)")
MODELS.declare("vae", VAEConfig, "dlx.models.generative:build_vae", accepts=_GENERATIVE, task="autoencoder",
               summary="variational autoencoder (beta-VAE): Gaussian code, reparameterised (labels ignored)")
MODELS.declare("gan", GANConfig, "dlx.models.generative:build_gan", accepts=_GENERATIVE, task="gan",
               summary="generative adversarial network: MLPs (2-D toy data) or DCGAN (model.family=conv, images); "
                       "labels ignored")
MODELS.declare("gnn", GNNConfig, "dlx.models.gnn:build_gnn", accepts=("graph",), task="graph",
               summary="graph neural network: gcn | sage | gin | gat message passing (nodes; graphs with model.readout)")
MODELS.declare("seq2seq", Seq2SeqConfig, "dlx.models.seq2seq:build_seq2seq", accepts=("seq2seq",), task="seq2seq",
               summary="encoder–decoder (rnn/gru/lstm with optional attention, or transformer), greedy or beam decoding")
MODELS.declare("lm", LMConfig, "dlx.models.lm:build_lm", accepts=("language",), task="language",
               summary="language model: decoder-only causal Transformer or LSTM over tokens")
