"""Sampling text from a language-model run (`dlx generate`, issue 16).

The run's best weights and vocabulary (saved in the checkpoint's meta) are enough: the
text file need not exist any more. Each new token is drawn from softmax(logits / T),
restricted to the `top_k` most probable when given; T=0 takes the most probable token.
`<unk>` is never drawn.
Prompt symbols outside the vocabulary become `<unk>`, with a warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from dlx.errors import ConfigError
from dlx.use.restore import read_config, restore


def load_language_model(run_path: Path):
    """(the run's LanguageTask, vocab, level) of a language-model run, or a ConfigError saying why not."""
    from dlx.engine.language import LANGUAGE_MODELS, is_language_model

    exp = read_config(Path(run_path))
    if not is_language_model(exp.model):
        raise ConfigError(f"run {Path(run_path).name} is not a language model (model={exp.model.name}, "
                          f"data={exp.data.name}); generate from a run of {LANGUAGE_MODELS} on data=text")
    restored = restore(Path(run_path), "best")
    return restored.problem, restored.classes, restored.preprocess.get("level", "char")


def generate(run_path: Path, prompt: str, tokens: int, temperature: float, top_k: Optional[int],
             seed: int, warn: Callable[[str], None]) -> str:
    """The prompt followed by `tokens` sampled tokens."""
    import torch

    from dlx.data.text import encode, tokenize

    if temperature < 0 or tokens < 0 or (top_k is not None and top_k < 1):
        raise ConfigError("--temperature must be >= 0, --tokens >= 0 and --top-k >= 1")
    task, vocab, level = load_language_model(run_path)
    known = set(vocab)
    symbols = tokenize(prompt, level)
    unknown = sorted({s for s in symbols if s not in known})
    if unknown:
        warn(f"prompt symbols not in the run's vocabulary, read as <unk>: {' '.join(map(repr, unknown))}")
    ids = encode(symbols, vocab).tolist() or [0]
    window = getattr(task.model, "max_length", 0) or len(ids) + tokens
    generator = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for _ in range(tokens):
            logits = task.next_logits(torch.tensor([ids[-window:]]))[0].float()
            logits[0] = float("-inf")  # never <unk>: it stands for any symbol the training part lacked
            ids.append(_sample(logits, temperature, top_k, generator))
            out.append(vocab[ids[-1]])
    return prompt + ("".join(out) if level == "char" else "".join(" " + w for w in out))


def _sample(logits, temperature: float, top_k: Optional[int], generator) -> int:
    import torch

    if temperature == 0:
        return int(logits.argmax())
    if top_k is not None and top_k < logits.numel():
        cut = logits.topk(top_k).values[-1]
        logits = logits.masked_fill(logits < cut, float("-inf"))
    return int(torch.multinomial((logits / temperature).softmax(dim=0), 1, generator=generator))
