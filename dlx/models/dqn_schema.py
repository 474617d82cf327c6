"""The schema and declaration of `model=dqn` (deep Q-network): torch-free.

The keys follow Mnih et al. 2015 (replay buffer, target network, epsilon-greedy) with the two
textbook extensions as switches: Double DQN (van Hasselt et al. 2016) and dueling heads (Wang et
al. 2016). The defaults are sized for the classic-control environments (CartPole, Acrobot) at
about 100k environment steps; Atari's 1M-transition buffer would only waste memory there.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlx.constraints import at_least, choices, fraction, interval, positive
from dlx.errors import require
from dlx.models.agent_schemas import ENVIRONMENT, AgentConfig
from dlx.models.schemas import ACTIVATIONS
from dlx.registry import MODELS


@dataclass
class DQNConfig(AgentConfig):
    """Keys of the deep Q-network. An iteration collects `train_freq` steps of every env, then takes
    `gradient_steps` gradient steps on minibatches drawn uniformly from the replay buffer."""

    name: str = "dqn"
    hidden: list[int] = positive([256, 256], each=True)  # the Q-network's MLP widths
    activation: str = choices("relu", *ACTIVATIONS)
    buffer_size: int = at_least(50_000, 1)  # transitions kept (the oldest overwritten first)
    batch_size: int = at_least(128, 1)  # transitions per gradient step
    learning_starts: int = at_least(1000, 0)  # env steps collected (epsilon-greedy) before the first update
    train_freq: int = at_least(4, 1)  # steps of each env per iteration
    gradient_steps: int = at_least(16, 1)  # per iteration: with 8 envs x 4 steps, one per 2 transitions
    target_update: int = at_least(250, 1)  # gradient steps between target updates
    tau: float = interval(1.0, 0, 1, closed="right")  # 1: hard copy; < 1: Polyak theta- <- tau theta + (1-tau) theta-
    epsilon_start: float = fraction(1.0, closed="both")  # exploration rate at the first step
    epsilon_end: float = fraction(0.05, closed="both")  # ... from the end of the schedule on
    epsilon_fraction: float = fraction(0.15, closed="both")  # share of the run's env steps to decay it over (linear)
    double: bool = False  # Double DQN: the online net picks the next action, the target net values it
    dueling: bool = False  # dueling heads: Q = V(s) + A(s, a) - mean_a A(s, a) over a shared trunk
    loss: str = choices("huber", "huber", "mse")  # huber: smooth L1 (Mnih et al.'s clipped error)

    def validate(self) -> None:
        super().validate()
        require(self.buffer_size >= self.batch_size, "buffer_size",
                f"the replay buffer ({self.buffer_size}) is smaller than a batch ({self.batch_size}); "
                "raise model.buffer_size or lower model.batch_size")


MODELS.declare("dqn", DQNConfig, "dlx.engine.rl.dqn:DQN", accepts=ENVIRONMENT, task="rl",
               summary="deep Q-network: replay buffer, target network, epsilon-greedy; Double DQN, dueling heads")
