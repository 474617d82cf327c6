"""Watching an agent (issue 25): the GIF writer read back, FrozenLake's policy grid drawn from a
known table, `dlx play` end to end on a tiny trained CartPole agent, Ctrl-C, and its bad inputs."""

from __future__ import annotations

import io
import signal
import sys

import numpy as np
import pytest

from dlx.store.animation import HOLD_MS, write_gif
from tests.conftest import run_process
from tests.test_resume import start, wait_for

TINY = ["model=ppo", "data=cartpole", "data.steps_per_epoch=256", "trainer.epochs=1", "data.num_envs=2",
        "model.n_steps=64", "data.eval_episodes=2", "data.test_episodes=3", "model.hidden=[16]",
        "trainer.num_threads=1"]


def read_gif(path):
    """(frames as RGB arrays, each frame's duration in ms)."""
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        frames = [(np.asarray(f.convert("RGB")), f.info["duration"]) for f in ImageSequence.Iterator(gif)]
    return [f for f, _ in frames], [d for _, d in frames]


def clip(n: int, base: int) -> list[np.ndarray]:
    return [np.full((6, 8, 3), base + 20 * i, np.uint8) for i in range(n)]


def test_gif_holds_every_frame_in_order_and_each_episode_end(tmp_path):
    written = write_gif(tmp_path / "a.gif", iter([clip(3, 0), clip(2, 120)]), fps=20)
    frames, durations = read_gif(tmp_path / "a.gif")
    assert written == len(frames) == 5
    assert durations == [50, 50, HOLD_MS, 50, HOLD_MS]  # 20 fps; the last frame of each episode held
    assert [int(f[0, 0, 0]) for f in frames] == [0, 20, 40, 120, 140]


def test_gif_joins_identical_frames_and_keeps_the_time(tmp_path):
    still = clip(1, 7) * 3 + clip(1, 90)  # the agent bumps into a wall twice, then moves
    assert write_gif(tmp_path / "b.gif", [still], fps=10) == 4
    frames, durations = read_gif(tmp_path / "b.gif")
    assert len(frames) == 2 and durations == [300, HOLD_MS]


def test_policy_grid_draws_the_map_with_arrows_and_values():
    from rich.console import Console

    from dlx.report.grid import policy_grid

    rows = ["SFF", "FHG"]
    actions = np.array([[2, 1, 1], [3, 0, 0]])  # right, down, down / up, (hole), (goal)
    values = np.array([[0.59, 0.66, 0.73], [0.53, 0.0, 0.0]])
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(policy_grid(rows, actions, values))
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.getvalue().splitlines() if "│" in line]
    assert cells == [["S →", "↓", "↓"], ["0.59", "0.66", "0.73"],  # each cell: the greedy move over V(s)
                     ["↑", "hole", "goal"], ["0.53", "", ""]]  # an episode ends in a hole or the goal


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory):
    """A ppo agent trained for 256 CartPole steps, in its own run store."""
    import dlx

    return dlx.train(*TINY, output_dir=str(tmp_path_factory.mktemp("play") / "outputs"))


@pytest.fixture
def not_an_agent(tmp_path):
    """A run folder of a classifier (config.yaml is all the refusal reads)."""
    run = tmp_path / "outputs" / "runs" / "2026-01-01_00-00-00_mlp-adam-iris"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model:\n  name: mlp\ndata:\n  name: iris\n")
    return run


BAD = [
    ("not-an-agent", ["{other}"], ["trained model=mlp on data=iris, not an agent", "model=ppo data=cartpole"]),
    ("no-episodes", ["{run}", "--episodes", "0"], ["--episodes 0", "at least 1"]),
    ("fps-high", ["{run}", "--fps", "100"], ["--fps 100", "1 to 50"]),
    ("mp4", ["{run}", "-o", "play.mp4"], ["-o play.mp4", ".gif"]),
    ("no-folder", ["{run}", "-o", "missing/play.gif"], ["cannot write", "missing", "does not exist"]),
    ("unknown-run", ["nosuchrun"], ["nosuchrun"]),
]


@pytest.mark.parametrize("argv, fragments", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line(dlx, not_an_agent, argv, fragments):
    # the option checks come before the run is looked up: a run that does not exist serves them
    args = [a.format(run="nosuchrun", other=not_an_agent) for a in argv]
    result = dlx("play", *args, "--output-dir", str(not_an_agent.parent.parent))
    assert result.code == 2, result.err
    assert all(f in result.err for f in fragments), result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_without_a_renderer_the_pip_command_is_said(dlx, agent_run, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pygame", None)  # `import pygame` fails as when it is not installed
    result = dlx("play", str(agent_run.path), "-n", "1", "-o", str(tmp_path / "p.gif"))
    assert result.code == 2, result.err
    assert "cannot render CartPole-v1" in result.err and "pip install" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*p.gif*"))  # neither the GIF nor its temporary file


@pytest.mark.slow
def test_play_writes_every_frame_and_prints_each_episode(agent_run, tmp_path):
    pytest.importorskip("pygame", reason="rendering needs pygame (the rl extra)")
    from dlx.engine.rl.task import TEST_SEED
    from dlx.use.restore import restore

    played = run_process(["play", str(agent_run.path), "--episodes", "2", "-o", "play.gif", "--fps", "25"],
                         cwd=tmp_path)
    assert played.returncode == 0, played.stderr
    assert played.stderr.strip().splitlines()[-1].startswith("wrote play.gif")
    rows = [line.split() for line in played.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])]
    seeds, returns, lengths = ([int(r[1]) for r in rows], [float(r[2]) for r in rows], [int(r[3]) for r in rows])
    # the run's test seeds, greedy: the episodes dlx eval --episodes plays, one reward per CartPole step
    expected = restore(agent_run.path).problem.run_episodes(2, TEST_SEED)
    assert seeds == [TEST_SEED, TEST_SEED + 1]
    assert returns == [e.total_reward for e in expected] and lengths == [e.length for e in expected]
    frames, durations = read_gif(tmp_path / "play.gif")
    # each episode: the reset frame and one per step; 40 ms each, the last one held
    assert sum(durations) == sum(n * 40 + HOLD_MS for n in lengths)
    assert len(frames) <= sum(n + 1 for n in lengths) and frames[0].shape == (400, 600, 3)
    assert f"{sum(n + 1 for n in lengths)} frames at 25 fps" in played.stderr
    assert "greedy policy" not in played.stdout  # CartPole has no grid


@pytest.mark.slow
def test_ctrl_c_stops_with_130_and_leaves_no_file(agent_run, tmp_path):
    pytest.importorskip("pygame", reason="rendering needs pygame (the rl extra)")
    proc, marker = start(tmp_path, ["play", str(agent_run.path), "-n", "2", "-o", "p.gif"], pause="play-episode@1")
    wait_for(marker, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["interrupted: dlx play stopped by Ctrl-C; nothing was written"], err
    assert not [p.name for p in tmp_path.iterdir() if "p.gif" in p.name]


MOVES = {"←": (0, -1), "↓": (1, 0), "→": (0, 1), "↑": (-1, 0)}


def walk(cells: list[list[str]], steps: int) -> tuple[str, int]:
    """Follow the printed arrows from S on a non-slippery map: (the cell where the walk ends, moves)."""
    grid = cells[0::2]  # each map row prints as two lines: the arrows, then the values
    r, c = next((i, j) for i, row in enumerate(grid) for j, cell in enumerate(row) if cell.startswith("S"))
    for moved in range(steps):
        if grid[r][c] in ("hole", "goal"):
            return grid[r][c], moved
        dr, dc = MOVES[grid[r][c][-1]]
        r, c = min(max(r + dr, 0), len(grid) - 1), min(max(c + dc, 0), len(grid[0]) - 1)  # a wall: stay
    return grid[r][c], steps


def test_frozenlake_grid_is_the_policy_the_episodes_follow(dlx, tmp_path):
    pytest.importorskip("pygame", reason="rendering needs pygame (the rl extra)")
    trained = dlx("train", "model=ppo", "data=frozenlake", "data.slippery=false", "trainer.epochs=3",
                  "data.test_episodes=2", "trainer.num_threads=1", "-q")
    assert trained.code == 0, trained.err
    result = dlx("play", "last", "-n", "1")
    assert result.code == 0, result.err
    (episode,) = [line.split() for line in result.out.splitlines() if line.split()[:1] == ["1"]]
    total, length = float(episode[2]), int(episode[3])
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.out.splitlines() if "│" in line]
    assert len(cells) == 8 and all(len(row) == 4 for row in cells)  # 4x4 cells, two lines each
    # greedy on a deterministic map: the episode is the walk along the arrows, its reward the goal's
    end, moves = walk(cells, length)
    assert moves == length and (end == "goal") == (total == 1.0), (end, moves, total, length)
    assert len(list((tmp_path / "outputs" / "runs").glob("*/play/episodes-1.gif"))) == 1
