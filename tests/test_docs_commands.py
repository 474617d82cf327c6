"""Every `dlx ...` command shown in README.md and docs/*.md runs.

Each runs in this process, through `dlx.cli.main` (as the `dlx` fixture does, with the plugins
it registers forgotten after it): 160-odd fresh interpreters took six minutes on two cores, and
tests/test_fresh_process.py already runs every command in a fresh one. A line with shell syntax
(`$(...)`, `;`, `&&`, a pipe, `NAME=value dlx`) runs in bash, the few that need a process.

What counts as a command: a line of a fenced block (not ```python/yaml/json/text) that starts
with `dlx `, `$ dlx ` or `NAME=value dlx `; a line ending in `\\` continues on the next one.
The commands of one block run in order, in one folder, so `last` is what the block made before.

Markers a page can use:
- `# exits N` at the end of a command line: the command must exit with status N (default 0).
  After a `$ dlx ...` line, an `error: ...` line shown as its output must be what it prints.
- `<!-- docs-test: skip (reason) -->` on the line before a fence: the block is not run (only
  for what cannot run here: a GPU, a database server, a download).

Placeholders: `RUN_A` and `RUN_B` are the two newest finished runs of the store; `<sweep-id>`,
`<cv-id>` and `<run-id>` the newest sweep, CV and run.

Each block starts from its own copy of a store made once for the module (a sweep, a CV, two
finished runs and, newest, an interrupted one) holding the small files the pages name
(`houses.csv`, `corpus.txt`, `mymodels.py`, ...). Commands that train get tiny overrides
(`trainer.epochs=1 data.limit=200 trainer.num_threads=1`), and their own caps: sweeps
`--trials 2`, cv `--folds 2`, bag `--members 2`, lr-find `--steps 20`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import pytest

from tests.conftest import ROOT, isolated_plugins

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_SHELL = {"python", "py", "yaml", "yml", "json", "text", "toml", "csv"}
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((.+?)\)\s*-->")
EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")
DIAGRAM = re.compile(r"^dlx\s+[\w-]+\s*\|\s*[\w-]+\s*\|")  # `dlx eval | predict | ...`: a list of commands in prose
TINY = ["trainer.epochs=1", "data.limit=200", "trainer.num_threads=1"]
GLOBAL_OPTS = {"--plugin": 1, "--config-dir": 1, "--debug": 0}
TRAINS = {"train", "sweep", "cv", "bag", "lr-find"}
CAPS = {"sweep": ["--trials", "2"], "cv": ["--folds", "2"], "bag": ["--members", "2"], "lr-find": ["--steps", "20"]}


@dataclass
class Command:
    line: str  # as written, without a leading `$ `
    exits: int = 0
    error: str | None = None  # the `error:` line the page shows under it


@dataclass
class Block:
    page: str
    lineno: int
    skip: str | None = None
    commands: list[Command] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.lineno}"


def extract(path: Path) -> list[Block]:
    """The fenced blocks of one page that hold dlx commands."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = lines[i].strip()
        if not fence.startswith("```"):
            i += 1
            continue
        lang, start = fence[3:].strip().lower(), i
        skip = SKIP.search(lines[i - 1]) if i else None
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if lang in NOT_SHELL:
            continue
        block = Block(str(path.relative_to(ROOT)), start + 1, skip.group(1) if skip else None)
        block.commands = commands_in(body)
        if block.commands:
            blocks.append(block)
    return blocks


def commands_in(body: list[str]) -> list[Command]:
    found, j = [], 0
    while j < len(body):
        text = body[j].strip()
        shown = text.startswith("$ ")
        text = text[2:] if shown else text
        while text.endswith("\\") and j + 1 < len(body):
            j += 1
            text = text[:-1].rstrip() + " " + body[j].strip()
        j += 1
        if not re.match(r"^([A-Z_]+=\S+\s+)*dlx\s", text) or DIAGRAM.match(text):
            continue
        m = EXITS.search(text)
        command = Command(text, int(m.group(1)) if m else 0)
        if shown and j < len(body) and body[j].startswith("error:"):
            command.error = body[j].strip()
        found.append(command)
    return found


BLOCKS = [b for page in PAGES for b in extract(page)]


def words(line: str) -> list[str]:
    return shlex.split(line, comments=True)


def subcommand(args: list[str]) -> tuple[str, int]:
    """The command's name and its index in the words after `dlx`."""
    k = 0
    while k < len(args) and args[k] in GLOBAL_OPTS:
        k += 1 + GLOBAL_OPTS[args[k]]
    return (args[k], k) if k < len(args) else ("", k)


def tiny(args: list[str]) -> list[str]:
    """The command with the overrides and caps that keep it to seconds."""
    name, k = subcommand(args)
    rest = args[k + 1:]
    if name not in TRAINS or "--help" in rest or "--cfg" in rest:
        return args
    if name == "train" and "--resume" in rest:
        return [*args, "trainer.epochs=2", "trainer.num_threads=1"]
    if "--resume" in rest or "--join" in rest:
        return args
    return [*args, *TINY, *CAPS.get(name, [])]


def newest(folder: Path) -> str:
    ids = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    assert ids, f"nothing in {folder} for a placeholder"
    return ids[-1]


def finished_runs(store: Path) -> list[str]:
    runs = store / "outputs" / "runs"
    return sorted(p.name for p in runs.iterdir() if (p / "summary.json").exists())


def substitute(line: str, cwd: Path) -> str:
    out = cwd / "outputs"
    if "RUN_A" in line or "RUN_B" in line:
        runs = finished_runs(cwd)
        line = line.replace("RUN_A", runs[-2]).replace("RUN_B", runs[-1])
    for holder, sub in (("<sweep-id>", "sweeps"), ("<cv-id>", "cv"), ("<run-id>", "runs")):
        if holder in line:
            line = line.replace(holder, newest(out / sub))
    return line


def shell_script(line: str) -> str:
    """A line with shell syntax, each `dlx ...` in it given the tiny overrides."""
    parts = re.split(r"(;|&&)", line.split(" #")[0])
    for i, part in enumerate(parts):
        m = re.match(r"^\s*(?:[A-Z_]+=\S+\s+)*dlx\s+(.*)$", part)
        if m:
            args = m.group(1).split() if "$(" in m.group(1) else words(m.group(1))
            parts[i] = " ".join([part.rstrip(), *map(shlex.quote, tiny(args)[len(args):])])
    return "".join(parts)


@dataclass
class Done:
    """What a command did: the fields of a CompletedProcess the checks read."""

    returncode: int
    stdout: str
    stderr: str


def in_process(args: list[str], cwd: Path) -> Done:
    """`dlx ARGS` through dlx.cli.main in this process, inside `cwd`, its output captured."""
    from dlx.cli import main

    out, err, here = StringIO(), StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with isolated_plugins(), redirect_stdout(out), redirect_stderr(err):
            try:
                main(args)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except Exception:  # `dlx --debug ...`: the traceback ends the process with status 1
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(here)
    return Done(code, out.getvalue(), err.getvalue())


def run_line(line: str, cwd: Path):
    """One command: in this process, or in bash (with a `dlx` on PATH) for shell syntax."""
    line = substitute(line, cwd)
    if re.search(r"\$\(|;|&&|\||^[A-Z_]+=", line.split(" #")[0]):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{cwd / '.bin'}:{os.environ['PATH']}"}
        return subprocess.run(["bash", "-c", shell_script(line)], cwd=cwd, env=env, capture_output=True, text=True)
    return in_process(tiny(words(line)[1:]), cwd)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store every block starts from: a sweep, a CV, two runs, an interrupted run, input files."""
    root = tmp_path_factory.mktemp("docs-store")
    write_files(root)
    for args in (["sweep", "optim.lr=0.01,0.001", "--trials", "2"],
                 ["cv", "--folds", "2"],
                 ["train", "optim=adam"],
                 ["train", "optim=sgd", "optim.lr=0.05"]):
        done = in_process([*args, *TINY], root)
        assert done.returncode == 0, f"dlx {' '.join(args)}: {done.stderr[-2000:]}"
    interrupted_run(root)
    return root


def interrupted_run(root: Path) -> None:
    """A run stopped by Ctrl-C after its first epoch, as `dlx train --resume` finds it."""
    marker = root / ".paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DLX_TEST_PAUSE": "epoch-end@1", "DLX_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "dlx", "train", "trainer.epochs=3", *TINY[1:]], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not marker.exists() and proc.poll() is None:  # no deadline: a loaded machine is slow, not wrong
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    marker.unlink(missing_ok=True)
    assert proc.returncode == 130, err[-2000:]


def write_files(root: Path) -> None:
    """The small inputs the pages' examples name."""
    import numpy as np

    rng = np.random.default_rng(0)
    bin_dir = root / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "dlx"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m dlx "$@"\n')
    shim.chmod(0o755)
    area, rooms = rng.uniform(40, 200, 120).round(1), rng.integers(1, 6, 120)
    district = rng.choice(["north", "south", "east"], 120)
    price = (area * 3 + rooms * 20 + (district == "north") * 50 + rng.normal(0, 10, 120)).round(2)
    rows = [f"{a},{r},{d},{p}" for a, r, d, p in zip(area, rooms, district, price)]
    (root / "houses.csv").write_text("area,rooms,district,price\n" + "\n".join(rows) + "\n")
    patients = rng.integers(0, 30, 200)
    age, bp = rng.uniform(20, 80, 200).round(1), rng.uniform(90, 160, 200).round(1)
    outcome = np.where(bp + rng.normal(0, 15, 200) > 125, "ill", "well")
    rows = [f"p{p},{a},{b},{o}" for p, a, b, o in zip(patients, age, bp, outcome)]
    (root / "visits.csv").write_text("patient,age,bp,outcome\n" + "\n".join(rows) + "\n")
    t = np.arange(400)
    load = (10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, 400)).round(3)
    temp = (15 + 5 * np.sin(2 * np.pi * t / 24 + 1)).round(2)
    (root / "load.csv").write_text("load,temp\n" + "\n".join(f"{a},{b}" for a, b in zip(load, temp)) + "\n")
    words_ = "the cat sat on the mat and the dog ran to the cat while the sun shone on the hill".split()
    (root / "corpus.txt").write_text(" ".join(rng.choice(words_, 3000)) + "\n")
    write_graph(root, rng)
    write_images(root / "photos", rng)
    (root / "mymodels.py").write_text(PLUGIN)
    (root / "conf" / "model").mkdir(parents=True)
    (root / "conf" / "model" / "tiny-wide.yaml").write_text("name: tiny\nwidth: 128\n")


def write_graph(root: Path, rng) -> None:
    import numpy as np

    n = 40
    labels = np.repeat([0, 1], n // 2)
    feats = rng.normal(labels[:, None] * 2.0, 1.0, (n, 2)).round(3)
    nodes = [f"n{i},{f[0]},{f[1]},{'ab'[y]}" for i, (f, y) in enumerate(zip(feats, labels))]
    (root / "nodes.csv").write_text("id,f1,f2,label\n" + "\n".join(nodes) + "\n")
    edges = set()
    while len(edges) < 100:
        a, b = (int(v) for v in rng.integers(0, n, 2))
        if a != b and (labels[a] == labels[b] or rng.random() < 0.1):
            edges.add((min(a, b), max(a, b)))
    (root / "edges.csv").write_text("source,target\n" + "\n".join(f"n{a},n{b}" for a, b in sorted(edges)) + "\n")


def write_images(folder: Path, rng) -> None:
    from PIL import Image

    for k, label in enumerate(("cat", "dog")):
        (folder / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 128, (16, 16, 3), dtype="uint8") + 100 * k
            Image.fromarray(pixels.astype("uint8")).save(folder / label / f"{i}.png")


PLUGIN = '''"""The plugin of docs/plugins.md: a small MLP registered as `tiny`."""
from dataclasses import dataclass
from math import prod

from torch import nn

from dlx import register_model


@dataclass
class TinyConfig:
    width: int = 32
    depth: int = 2


@register_model("tiny", schema=TinyConfig, accepts=("image", "tabular"))
def build_tiny(cfg: TinyConfig, input_shape, num_outputs):
    layers, width = [nn.Flatten()], prod(input_shape)
    for _ in range(cfg.depth):
        layers += [nn.Linear(width, cfg.width), nn.ReLU()]
        width = cfg.width
    return nn.Sequential(*layers, nn.Linear(width, num_outputs))
'''


def test_pages_have_commands():
    """The extraction finds the README's examples (an empty list would pass every case below)."""
    readme = [c.line for b in BLOCKS if b.page == "README.md" for c in b.commands]
    assert any(line.startswith("dlx train") for line in readme) and len(readme) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_documented_commands_run(block: Block, store: Path, tmp_path: Path):
    if block.skip:
        pytest.skip(block.skip)
    cwd = tmp_path / "w"
    shutil.copytree(store, cwd, symlinks=True)
    for command in block.commands:
        done = run_line(command.line, cwd)
        where = f"{block.id}: `{command.line}` exited {done.returncode}\n{done.stdout[-1500:]}\n{done.stderr[-2500:]}"
        assert done.returncode == command.exits, where
        if command.error:
            assert command.error in done.stderr, f"{where}\nexpected: {command.error}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_links_resolve(page: Path):
    """Every relative link of the README and the guide names a file that exists, and a heading in it."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+://", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        assert dest.exists(), f"{page.name}: link to missing {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.name}: no heading #{anchor} in {dest.name}"
