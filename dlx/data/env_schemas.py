"""The environments' schemas and declarations (data kind `environment`): importable without torch.

An environment is data that answers: `data=cartpole` trains an agent (model=ppo, a2c, reinforce,
dqn) on gymnasium's CartPole-v1 (the optional extra `rl`). The loop's units live here with the
environment, since a good epoch differs per environment: an epoch is `steps_per_epoch`
environment steps (over all `num_envs`), validation `eval_episodes` greedy episodes on seeded
evaluation envs, the test `test_episodes` episodes of the best weights.

`check_files` (run before torch loads) checks the env id (did you mean ...?) and whether the
env's extra is installed, by gymnasium's registry: one line, no traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlx.constraints import at_least, choices
from dlx.data.schemas import DataConfig, preprocess_key
from dlx.errors import ConfigError, unknown
from dlx.registry import DATASETS

ENVIRONMENT = "environment"  # the data kind (what the RL task trains on)
NO_FOLDS = ("an environment has no samples to fold; compare seeds instead: dlx sweep ... trainer.seed=0,1,2,3,4, "
            "then dlx runs --group-by trainer.seed")
EXTRAS = {"box2d": "box2d", "mujoco": "mujoco", "atari": "atari", "ale_py": "atari", "pygame": "classic-control"}


@dataclass
class EnvConfig(DataConfig):
    """Keys of every environment. `limit` (N > 0) caps an epoch at N env steps, as it caps other
    datasets' training samples; the split keys of other datasets (val_fraction, ...) are unused."""

    name: str = "cartpole"
    preprocess: str = preprocess_key("none")  # unused: see normalize_obs
    env: str = "CartPole-v1"  # the gymnasium id (data=gym data.env=<id>)
    num_envs: int = at_least(8, 1)  # environments stepped together (gymnasium's vector env)
    max_episode_steps: int = at_least(0, 0)  # 0: the environment's own time limit
    normalize_obs: bool = False  # standardise observations with running statistics (saved with the weights)
    steps_per_epoch: int = at_least(10000, 1)  # environment steps per epoch, over all envs
    eval_episodes: int = at_least(10, 1)  # greedy episodes per validation (val_return)
    test_episodes: int = at_least(100, 1)  # episodes of the best weights at the end (test_return_mean)

    def make_kwargs(self) -> dict:
        """Keyword arguments of `gymnasium.make` besides the id (FrozenLake: its map and slipperiness)."""
        return {}

    def check_files(self) -> None:
        check_env_id(self.env)


@dataclass
class FrozenLakeConfig(EnvConfig):
    name: str = "frozenlake"
    env: str = "FrozenLake-v1"
    slippery: bool = True  # gymnasium's default: a move goes sideways 2 times in 3
    map_name: str = choices("4x4", "4x4", "8x8")
    steps_per_epoch: int = at_least(2000, 1)

    def make_kwargs(self) -> dict:
        return {"is_slippery": self.slippery, "map_name": self.map_name}


def check_env_id(env_id: str) -> None:
    """The id is registered in gymnasium (did you mean ...?) and the module of its env imports
    (box2d, mujoco: gymnasium's DependencyNotInstalled, answered with the pip command)."""
    import importlib

    try:
        import gymnasium
    except ImportError:
        raise ConfigError("environments need gymnasium: pip install 'dlx[rl]'") from None
    registry = gymnasium.envs.registry
    if env_id not in registry:
        raise unknown("environment", env_id, [k for k in registry if "/" not in k])
    entry = registry[env_id].entry_point
    if not isinstance(entry, str):  # a class or function registered in this process
        return
    try:
        importlib.import_module(entry.split(":")[0])
    except (ImportError, gymnasium.error.DependencyNotInstalled) as e:
        text = f"{e} {getattr(e, 'name', '') or ''}".lower()
        extra = next((v for k, v in EXTRAS.items() if k in text), None)
        hint = f"pip install 'gymnasium[{extra}]'" if extra else str(e).splitlines()[0][:160]
        raise ConfigError(f"environment {env_id} needs a package that is not installed: {hint}") from None


def _declare(name: str, schema: type, shape, summary: str) -> None:
    DATASETS.declare(name, schema, "dlx.data.envs:load_env", download=False, task=ENVIRONMENT, shape=shape,
                     size="steps_per_epoch", summary=summary, no_folds=NO_FOLDS)


# one schema for the classic-control envs: each one's id (and pendulum's normalize_obs) is a preset in conf/data/
_declare("cartpole", EnvConfig, (4,), "CartPole-v1: balance a pole on a cart (2 actions)")
_declare("acrobot", EnvConfig, (6,), "Acrobot-v1: swing a two-link arm up (3 actions)")
_declare("mountaincar", EnvConfig, (2,), "MountainCar-v0: drive an underpowered car up a hill (3 actions, sparse reward)")
_declare("pendulum", EnvConfig, (3,), "Pendulum-v1: swing a pendulum up (continuous torque)")
_declare("frozenlake", FrozenLakeConfig, (16,),
         "FrozenLake-v1: walk a frozen grid to the goal (16 states, 4 actions; data.slippery)")
_declare("gym", EnvConfig, "env", "any registered gymnasium environment: data.env=<id>")
