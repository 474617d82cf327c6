"""Every `dlx` command, once, in a fresh process (`python -m dlx ...`).

In-process tests import dlx's modules in the suite's own order; a user's command imports them in
its own. An import cycle that breaks only one order (`dlx generate` failed on every call with a
partially initialised module while every test passed) shows only here. The commands are read from
the Typer app, so a command added tomorrow fails here until it gets its cheap real call in CALLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_process

TINY = ["trainer.epochs=1", "data.limit=100", "trainer.num_threads=1"]
LM = ["model=lm", "data=text", "data.context=16", "model.d_model=16", "model.num_heads=2",
      "model.dim_feedforward=32", "model.num_layers=1", "trainer.epochs=1", "trainer.num_threads=1",
      "trainer.batch_size=16"]
AGENT = ["model=ppo", "data=cartpole", "data.steps_per_epoch=256", "data.num_envs=2", "model.n_steps=64",
         "data.eval_episodes=2", "data.test_episodes=2", "trainer.epochs=1", "trainer.num_threads=1"]


def commands() -> list[str]:
    """`train`, `list`, ..., and each sub-app with its subcommands (`models`, `models show`)."""
    from dlx.cli import app

    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands if not c.hidden]
    for group in app.registered_groups:
        sub = group.typer_instance
        names.append(group.name)
        names += [f"{group.name} {c.name or c.callback.__name__.replace('_', '-')}"
                  for c in sub.registered_commands if not c.hidden]
    return names


@dataclass
class Call:
    """A cheap call that does real work: `needs` names the trained run it reads (see `Store`);
    `{a}`, `{b}` in args are the ids of the two classifier runs, `{dir}` the run store's folder."""

    args: list[str]
    needs: str | None = None
    wrote: str | None = None  # a file the call must leave in the working folder


CALLS = {
    "train": Call([], needs="a"),  # the shared run itself (the fixture's own `dlx train`)
    "list": Call(["list"]),
    "data": Call(["data", "moons", "data.limit=100"]),
    "sweep": Call(["sweep", *TINY, "optim.lr=0.01,0.02", "output_dir=sweep-out"]),
    "cv": Call(["cv", "-k", "2", "-q", *TINY, "output_dir=cv-out"]),
    "runs": Call(["runs", "--output-dir", "{dir}"], needs="a"),
    "show": Call(["show", "{a}", "--output-dir", "{dir}"], needs="a"),
    "compare": Call(["compare", "{a}", "{b}", "--output-dir", "{dir}"], needs="b"),
    "plot": Call(["plot", "{a}", "-o", "curves.png", "--output-dir", "{dir}"], needs="a", wrote="curves.png"),
    "eval": Call(["eval", "{a}", "--output-dir", "{dir}"], needs="a"),
    "predict": Call(["predict", "{a}", "--split", "test", "-o", "pred.csv", "--output-dir", "{dir}"], needs="a",
                    wrote="pred.csv"),
    "export": Call(["export", "{a}", "-o", "model.pt", "--output-dir", "{dir}"], needs="a", wrote="model.pt"),
    "ensemble": Call(["ensemble", "{a}", "{b}", "--output-dir", "{dir}"], needs="b"),
    "bag": Call(["bag", "-n", "2", *TINY, "output_dir=bag-out"]),
    "baselines": Call(["baselines", "data=iris", "data.limit=60", "trainer.num_threads=1", "-q",
                       "output_dir=baselines-out"]),
    "landscape": Call(["landscape", "fn=ravine", "optim=sgd,adam", "--steps", "5", "-o", "paths.png"],
                      wrote="paths.png"),
    "lr-find": Call(["lr-find", "--steps", "10", *TINY]),
    "sample": Call(["sample", "last", "-n", "4", "-o", "samples.png", "--output-dir", "{dir}"], needs="vae",
                   wrote="samples.png"),
    "generate": Call(["generate", "last", "--prompt", "the ", "--tokens", "5", "--output-dir", "{dir}"],
                     needs="lm"),
    "play": Call(["play", "last", "-n", "1", "-o", "play.gif", "--output-dir", "{dir}"], needs="agent",
                 wrote="play.gif"),
    "models": Call(["models"]),
    "models show": Call(["models", "show", "mlp"]),
}


class Store:
    """The trained runs the calls read, each trained once per module, when first needed:
    `a` and `b` two tiny classifiers on the same split (b: another seed), `lm` a tiny language
    model, `vae` a tiny VAE, `agent` a tiny ppo agent on CartPole. Each kind lives in its own run
    store under `root`."""

    TRAIN = {"a": TINY, "b": [*TINY, "trainer.seed=1"], "vae": ["model=vae", *TINY], "lm": LM, "agent": AGENT}
    FOLDER = {"a": "clf", "b": "clf", "vae": "vae", "lm": "lm", "agent": "agent"}

    def __init__(self, root: Path):
        self.root = root
        self.ids: dict[str, str] = {}
        self.results: dict = {}

    def folder(self, kind: str) -> Path:
        return self.root / self.FOLDER[kind]

    def need(self, kind: str) -> str:
        """The id of the run of `kind`, trained now if it is not yet."""
        if kind == "b":
            self.need("a")
        if kind not in self.ids:
            extra = []
            if kind == "lm":
                corpus = self.root / "corpus.txt"
                corpus.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
                extra = [f"data.path={corpus}"]
            runs = self.folder(kind) / "runs"
            before = set(runs.iterdir()) if runs.is_dir() else set()
            result = run_process(["train", *self.TRAIN[kind], *extra, f"output_dir={self.folder(kind)}"],
                                 cwd=self.root)
            self.results[kind] = result
            assert result.returncode == 0, f"dlx train ({kind}) failed:\n{result.stderr[-3000:]}"
            (new,) = set(runs.iterdir()) - before
            self.ids[kind] = new.name
        return self.ids[kind]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("fresh"))


def test_every_command_has_a_call():
    missing = sorted(set(commands()) - set(CALLS))
    assert not missing, f"give each new command a cheap real call in CALLS: {', '.join(missing)}"


@pytest.mark.slow
@pytest.mark.parametrize("command", commands())
def test_command_runs_in_a_fresh_process(command, store, tmp_path):
    call = CALLS.get(command)
    if call is None:
        pytest.fail(f"`dlx {command}` has no call in CALLS: add a cheap real one")
    if call.needs:
        store.need(call.needs)
    if command == "train":  # the shared run was this command's call
        result = store.results["a"]
        assert (store.folder("a") / "runs" / store.ids["a"] / "summary.json").is_file()
    else:
        folder = store.folder(call.needs) if call.needs else tmp_path
        values = {"a": store.ids.get("a", ""), "b": store.ids.get("b", ""), "dir": str(folder)}
        result = run_process([arg.format(**values) for arg in call.args], cwd=tmp_path)
    shown = f"dlx {command}: exit {result.returncode}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, shown
    assert "Traceback" not in result.stderr, shown
    if call.wrote:
        assert (tmp_path / call.wrote).stat().st_size > 0, f"dlx {command} did not write {call.wrote}"
