"""The schemas and declarations of the reinforcement-learning agents (model group): torch-free.

Every agent shares `AgentConfig` (the discount, and the MLP keys of its networks); each
algorithm adds its own. The builder named in a declaration is the agent's class
(`dlx.engine.rl.agent.Agent` documents the contract); the RL task builds it for the environment's
spaces. An agent trains on `environment` data only (data=cartpole, pendulum, frozenlake, gym, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlx.constraints import Checked, at_least, choices, fraction, interval, positive
from dlx.errors import require
from dlx.models.schemas import ACTIVATIONS, INITS, NORMS
from dlx.registry import MODELS

ENVIRONMENT = ("environment",)  # the data kind agents accept (dlx.data.envs)


@dataclass
class AgentConfig(Checked):
    """What every agent has: the discount and its networks' MLP keys."""

    name: str = "ppo"
    gamma: float = interval(0.99, 0, 1, closed="right")  # discount of future rewards, in (0, 1]
    hidden: list[int] = positive([64, 64], each=True)  # the MLP's widths (policy and value networks)
    activation: str = choices("tanh", *ACTIVATIONS)
    init: str = choices("default", *INITS)
    norm: str = choices("none", *NORMS)

    def validate(self) -> None:
        require(self.activation != "maxout", "activation", "agents' networks cannot use maxout; choose another")


@dataclass
class PolicyGradientConfig(AgentConfig):
    """Keys of the on-policy agents (reinforce, a2c, ppo)."""

    entropy_coef: float = at_least(0.0, 0)  # weight of the entropy bonus (exploration)
    value_coef: float = at_least(0.5, 0)  # weight of the value loss (shared trunk) or its share of the loss
    shared: bool = False  # one trunk for policy and value (else two MLPs)
    log_std: float = interval(0.0, -5, 2)  # continuous actions: the Gaussian's initial log standard deviation


@dataclass
class ReinforceConfig(PolicyGradientConfig):
    name: str = "reinforce"
    baseline: bool = True  # a learned value baseline (false: plain REINFORCE, returns as they are)
    n_steps: int = at_least(256, 1)  # steps per env per iteration; the episodes that ended are learned from
    normalize_advantage: bool = True  # standardise the advantages of a batch


@dataclass
class A2CConfig(PolicyGradientConfig):
    name: str = "a2c"
    n_steps: int = at_least(8, 1)  # steps per env per update (the n of n-step returns)
    gae_lambda: float = fraction(1.0, closed="both")  # 1: n-step returns; < 1: GAE(lambda)
    normalize_advantage: bool = False


@dataclass
class PPOConfig(PolicyGradientConfig):
    name: str = "ppo"
    n_steps: int = at_least(128, 1)  # steps per env per rollout
    gae_lambda: float = fraction(0.95, closed="both")
    clip: float = positive(0.2)  # the surrogate's clip range epsilon
    update_epochs: int = at_least(4, 1)  # passes over each rollout
    minibatches: int = at_least(4, 1)  # per pass
    value_clip: bool = False  # clip the value update like the policy's (PPO2)
    normalize_advantage: bool = True
    target_kl: float = at_least(0.0, 0)  # > 0: stop a rollout's passes once the approximate KL exceeds it


_ON = "dlx.engine.rl.onpolicy"
MODELS.declare("reinforce", ReinforceConfig, f"{_ON}:Reinforce", accepts=ENVIRONMENT, task="rl",
               summary="REINFORCE: Monte-Carlo policy gradient, reward-to-go, learned value baseline")
MODELS.declare("a2c", A2CConfig, f"{_ON}:A2C", accepts=ENVIRONMENT, task="rl",
               summary="advantage actor-critic: n-step returns or GAE(lambda), shared or separate trunks")
MODELS.declare("ppo", PPOConfig, f"{_ON}:PPO", accepts=ENVIRONMENT, task="rl",
               summary="proximal policy optimisation: clipped surrogate, GAE; Gaussian policy for continuous actions")
