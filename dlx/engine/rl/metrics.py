"""The RL task's accumulators: episodes (returns, lengths), env steps and the agent's loss terms."""

from __future__ import annotations

import math
import time

from dlx.metrics import Accumulator

EVAL_NAMES = ["return", "return_std", "episode_length"]  # val_return: the default monitor (maximised)


class EpisodeMetrics(Accumulator):
    """Finished episodes and, in training, the iterations' main loss, env steps and time.

    Training rows: episodes, return_mean/std/max, episode_length, env_steps (since the run
    started), steps_per_s and the agent's terms (policy_loss, value_loss, entropy, q_loss, ...).
    Evaluation: return, return_std, episode_length (the test's `return` is named return_mean).
    """

    STATE = ("returns", "lengths", "loss_sum", "iterations", "env_steps", "steps", "seconds")

    def __init__(self, training: bool):
        self.training, self.test = training, False
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.loss_sum, self.iterations = 0.0, 0
        self.env_steps, self.steps, self.seconds = 0, 0, 0.0
        self.started = time.perf_counter()

    def add_episodes(self, episodes) -> None:
        for total, length in episodes:
            self.returns.append(float(total))
            self.lengths.append(int(length))

    def add_iteration(self, loss: float, env_steps: int, steps: int, seconds: float) -> None:
        self.loss_sum += loss
        self.iterations += 1
        self.env_steps, self.steps, self.seconds = env_steps, self.steps + steps, self.seconds + seconds

    def compute(self) -> dict[str, float]:
        mean, std = mean_std(self.returns)
        length = sum(self.lengths) / len(self.lengths) if self.lengths else math.nan
        if not self.training:
            return {"return_mean" if self.test else "return": mean, "return_std": std, "episode_length": length}
        return {"loss": self.loss_sum / max(self.iterations, 1), "episodes": float(len(self.returns)),
                "return_mean": mean, "return_std": std, "return_max": max(self.returns, default=math.nan),
                "episode_length": length, **self.term_means(), "env_steps": float(self.env_steps),
                "steps_per_s": self.steps / self.seconds if self.seconds else math.nan}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation; NaN when no episode finished."""
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
