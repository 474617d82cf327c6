"""Watch a trained agent (`dlx play`): its greedy episodes rendered into an animated GIF, and for
a grid world (FrozenLake) its greedy policy and state values cell by cell.

The run is restored to its RL task (dlx.use.restore), which plays the episodes; episode i is
reset with seed `seed + i`, by default the run's own test seeds, so `dlx play RUN --episodes 3`
shows the first three episodes that `dlx eval RUN --episodes 100` scores. Episodes are rendered
one at a time and handed to the GIF writer as they finish: one episode's RGB frames in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from dlx import testhooks
from dlx.errors import ConfigError, first_line
from dlx.store.animation import MAX_FPS, play_path, write_gif
from dlx.use.restore import restore

SUFFIX = ".gif"
DEFAULT_FPS = 30  # an env that declares no render_fps
# pygame (gymnasium's renderer) draws off-screen here: no window, no sound, no greeting on stdout
QUIET_PYGAME = {"PYGAME_HIDE_SUPPORT_PROMPT": "1", "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}


@dataclass
class Played:
    """What `dlx play` did: the episodes (seed, return, length), the GIF, and a grid world's view."""

    run_id: str
    env_id: str
    checkpoint: str
    path: Path
    frames: int
    fps: int
    episodes: list[tuple[int, float, int]] = field(default_factory=list)
    grid: Optional[tuple] = None  # (map rows, greedy actions (nrow, ncol), state values (nrow, ncol))


def check_options(episodes: int, fps: Optional[int]) -> None:
    if episodes < 1:
        raise ConfigError(f"--episodes {episodes}: play at least 1 episode")
    if fps is not None and not 1 <= fps <= MAX_FPS:
        raise ConfigError(f"--fps {fps}: choose 1 to {MAX_FPS} (GIF delays are whole hundredths of a second)")


def gif_name(episodes: int, seed: Optional[int]) -> str:
    return f"episodes-{episodes}" + (f"-seed-{seed}" if seed is not None else "") + SUFFIX


def check_output(output: Optional[str], name: str) -> Optional[Path]:
    """The GIF to write when -o is given (a folder: `name` in it), refused in one line before any
    work when its suffix is not .gif or its folder is missing or read-only; None: the run's play/."""
    if output is None:
        return None
    path = Path(output).expanduser()
    if path.is_dir():
        path = path / name
    if path.suffix.lower() != SUFFIX:
        raise ConfigError(f"-o {output}: dlx play writes an animated GIF; name a .gif file (or a folder)")
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"cannot write {path}: no permission to write there; choose another -o")
    return path


def agent_run(path: Path) -> None:
    """Refuse, from config.yaml alone (before torch loads), a run that is not an agent."""
    from dlx.engine.saved import read_raw

    raw = read_raw(Path(path))
    if "num_envs" not in raw.data:
        raise ConfigError(f"run {Path(path).name} trained model={raw.model.name} on data={raw.data.name}, not an "
                          "agent; dlx play takes runs of an agent on an environment (model=ppo data=cartpole)")


def play(path: Path, episodes: int, seed: Optional[int] = None, fps: Optional[int] = None,
         output: Optional[Path] = None, checkpoint: str = "best") -> Played:
    """Render `episodes` greedy episodes of the run at `path` into a GIF (`output`, else
    RUN/play/episodes-N[-seed-S].gif) at `fps` (else the env's own speed)."""
    import gymnasium

    from dlx.data.envs import make_env  # these load torch: imported once the cheap checks passed
    from dlx.engine.rl.task import TEST_SEED

    agent_run(path)
    for key, value in QUIET_PYGAME.items():
        os.environ.setdefault(key, value)
    restored = restore(Path(path), checkpoint)
    task = restored.problem
    first = task.env_cfg.seed + TEST_SEED if seed is None else seed
    fps = fps or env_fps(make_env(task.env_cfg))
    target = output or play_path(path, gif_name(episodes, seed))
    played = Played(restored.run_id, task.env_id, checkpoint, target, 0, fps)

    def rendered():
        for i in range(episodes):
            (episode,) = task.run_episodes(1, first + i, render=True)
            played.episodes.append((first + i, episode.total_reward, episode.length))
            testhooks.pause("play-episode")
            yield episode.frames

    try:
        played.frames = write_gif(target, rendered(), fps)
    except gymnasium.error.DependencyNotInstalled as e:
        raise ConfigError(f"cannot render {task.env_id}: {first_line(e)}") from None
    if task.agent.spaces.obs_states:
        played.grid = grid_view(task)
    return played


def env_fps(env) -> int:
    """The env's real-time speed (its render_fps), within what a GIF plays."""
    try:
        return min(MAX_FPS, int(env.metadata.get("render_fps") or DEFAULT_FPS))
    finally:
        env.close()


def grid_view(task) -> Optional[tuple]:
    """The task's tabular view when its env is a grid with a map (FrozenLake), else None."""
    try:
        return task.tabular_view()
    except ConfigError:  # discrete states without a map to draw them on
        return None
