"""The Agent: what every reinforcement-learning algorithm of dlx subclasses.

An agent is one `torch.nn.Module` holding every network it trains (policy, value head, Q-network,
target network, the observation normaliser), so its `state_dict()` is the run's weights: the
checkpoint's `model`, the best weights, what `dlx eval` / `play` / `export` restore. The RL task
(dlx.engine.rl.task) owns the environments (a `Runner`), the loop's units and the metrics; the
agent owns how it acts and how it learns.

**Registering an algorithm** (`model=<name>`). Its schema is declared, torch-free, in the model
group (a `Checked` dataclass subclassing `dlx.models.agent_schemas.AgentConfig`, which holds
`gamma`, `hidden`, `activation`, `init`, `norm`), with the agent class as the builder:

    MODELS.declare("dqn", DQNConfig, "dlx.engine.rl.dqn:DQN", accepts=ENVIRONMENT, task="rl",
                   summary="deep Q-network: replay buffer, target network, epsilon-greedy")

(`dlx/models/agent_schemas.py` declares reinforce, a2c and ppo, `dqn_schema.py` declares dqn; each
schema module is imported by dlx.config.presets and dlx.models.families, so the registry knows
them without torch.) The RL task looks the class up with
`MODELS.get(exp.model.name).builder` and calls, in order:

1. `cls.check_spaces(name, spaces)`: refuse an unsuitable environment in one line
   (`discrete_only = True`: continuous actions are a ConfigError naming ppo/a2c/reinforce);
2. `agent = cls(exp.model, spaces, normalize=exp.data.normalize_obs)` then `.to(device)`: build the networks; `spaces` (a
   `Spaces`) gives the observation shape (after one-hot of a discrete observation), the number of
   actions or the action dimension and bounds; `self.obs_norm` is already there;
3. `agent.build_optimizers(exp, iterations_per_epoch)`: `(optimizers, schedules)` as dicts by name,
   from dlx's optim / scheduler groups (`dlx.engine.parts.optimization`); the default builds one
   optimizer over all parameters that require gradients (a target network should hold
   `requires_grad_(False)` parameters, or override this);
4. per trainer step (one *iteration*): `agent.train_iteration(trainer, runner, metrics)`, which
   collects `steps_per_iteration(runner.num_envs)` environment steps from the runner and updates.
   It steps each optimizer through `trainer.backward_and_step(loss, optimizer, module)` (gradient
   clipping by regularizer.clip_grad_norm, mixed precision and the GradScaler apply), reports its
   loss terms with `metrics.add_term(name, float)` (each appears as `train_<name>` in
   metrics.csv: `policy_loss`, `value_loss`, `entropy`, `q_loss`, `epsilon`, ...) and returns the
   main loss as a float (the trainer stops the run when it is NaN or infinite). Episode returns,
   lengths and env-step counts are recorded by the task from the runner, not by the agent.

**Acting.** `act(obs, greedy)` maps a batch of observations (N, *obs_shape) — already encoded
and normalised by the runner (or by the task in evaluation) — to actions: (N,) long for discrete,
(N, action_dim) float inside the bounds for continuous. `greedy=True` is the evaluation policy
(argmax / the Gaussian's mean / no epsilon). It runs under `torch.inference_mode()` when called by
the task; during collection call it (or the networks) as needed, under `torch.no_grad()`.

**Exact resume.** Random draws come from torch's global RNG (saved and restored by the trainer)
and the runner (which saves its envs). Parameters and buffers are in `state_dict()`; any other
state (a replay buffer, the epsilon schedule's position, counters) goes in `extra_state()`:
plain values and tensors only (the checkpoint loads with `weights_only=True`: no numpy arrays, no
objects), given back by `load_extra_state` before training continues. A target network is a
submodule (so it is in the weights and copied with them).

**Using a trained agent.** `policy()` is the network `dlx export` writes: raw observation in
(the normaliser included), action logits (discrete) or the action mean (continuous) out.
`state_values(obs)` gives V(s) (actor-critics) or max_a Q(s, a) (DQN) for `dlx play`'s grid.
"""

from __future__ import annotations

import torch
from torch import nn

from dlx.data.envs import Spaces  # noqa: F401  (re-exported: an agent's constructor takes one)
from dlx.errors import ConfigError
from dlx.models.policies import RunningNorm

class Agent(nn.Module):
    """Base of every algorithm; see the module docstring for the contract the RL task relies on."""

    discrete_only = False  # True: refuses continuous actions (DQN)
    name = "agent"

    def __init__(self, cfg, spaces: Spaces, normalize: bool = False):
        super().__init__()
        self.cfg, self.spaces = cfg, spaces
        self.obs_norm = RunningNorm(spaces.obs_shape, enabled=normalize)  # updated by the runner

    @classmethod
    def check_spaces(cls, name: str, spaces: Spaces) -> None:
        """One line when this agent cannot act in these spaces."""
        if cls.discrete_only and not spaces.discrete:
            raise ConfigError(f"model={name} needs discrete actions, and this environment's are continuous "
                              f"({spaces.action_dim} floats); use model=ppo, a2c or reinforce (a Gaussian policy)")

    # ------------------------------------------------------------ training

    def steps_per_iteration(self, num_envs: int) -> int:
        """Environment steps (over all envs) one `train_iteration` collects."""
        raise NotImplementedError

    def build_optimizers(self, exp, iterations_per_epoch: int) -> tuple[dict, dict]:
        """(optimizers, schedules) by name; a schedule steps once per iteration (a trainer step)."""
        from dlx.engine.parts import optimization

        optimizer, schedule = optimization(exp, self, iterations_per_epoch, 1)
        return {"model": optimizer}, {"model": schedule}

    def train_iteration(self, trainer, runner, metrics) -> float:
        """Collect from `runner` and update; report terms with `metrics.add_term`; return the main loss."""
        raise NotImplementedError

    # ------------------------------------------------------------ acting

    def act(self, obs: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        """Actions for a batch of (encoded, normalised) observations."""
        raise NotImplementedError

    def policy(self) -> nn.Module:
        """The exported network: raw observation -> logits (discrete) / action mean (continuous)."""
        raise NotImplementedError

    def state_values(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) or max_a Q(s, a) of (normalised) observations, shape (N,)."""
        raise NotImplementedError

    # ------------------------------------------------------------ state beyond the weights

    def extra_state(self) -> dict:
        """What exact resume needs besides parameters and buffers (plain values and tensors)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Take back what `extra_state` gave."""


def agent_class(name: str) -> type[Agent]:
    """The Agent subclass registered for `model=<name>` (its declaration's builder)."""
    from dlx.registry import MODELS

    cls = MODELS.get(name).builder
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise ConfigError(f"model={name} is not an agent for an environment; choose one of: {', '.join(agent_names())}")
    return cls


def agent_names() -> list[str]:
    from dlx.registry import MODELS

    return [n for n in MODELS.names() if MODELS.get(n).meta.get("task") == "rl"]
