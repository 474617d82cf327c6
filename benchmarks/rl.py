"""Issue 25's reinforcement-learning targets, and dlx's ppo against Stable-Baselines3's PPO.

Targets (each agent with its defaults; a seed passes when the best weights' mean test return over
`data.test_episodes=100` greedy episodes reaches the threshold; a target passes on >= 4 of 5 seeds):

    cartpole-{dqn,a2c,ppo}  CartPole-v1 >= 475 within 100k env steps
    cartpole-reinforce      CartPole-v1 >= 475 within 300k env steps
    acrobot-{ppo,dqn}       Acrobot-v1 >= -100 (200k env steps)
    pendulum-ppo            Pendulum-v1 >= -250 within 200k env steps
    frozenlake-{ppo,dqn}    FrozenLake 4x4, not slippery: the greedy policy reaches the goal in 100 % of episodes
    speed                   wall time to solve CartPole-v1 (mean eval return >= 475 over 10 greedy episodes,
                            checked every 4096 env steps) with dlx's ppo and with SB3's PPO (its defaults),
                            both with num_envs=8, one torch thread, on the CPU; env steps/s beside

Stable-Baselines3 is a benchmark-only peer, never a dependency of dlx. Runs go to a temporary
folder; a model that is not registered on this checkout (e.g. dqn before it lands) is reported,
not fatal. The figures and the load average print as a markdown table.

    .venv/bin/python benchmarks/rl.py                              # everything, 5 seeds (hours)
    .venv/bin/python benchmarks/rl.py --seeds 1 --only cartpole-ppo,frozenlake-ppo --steps-scale 0.5
    .venv/bin/python benchmarks/rl.py --only pendulum-ppo model.gamma=0.9 model.n_steps=256   # overrides: every run
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field

SOLVED = 475.0  # CartPole-v1's "solved" return (its maximum is 500)
CHECK_EVERY = 4096  # env steps between the speed race's evaluations (both sides)
THREADS = ["trainer.num_threads=1"]


@dataclass(frozen=True)
class Target:
    name: str
    overrides: list[str]
    steps: int  # env steps of training (before --steps-scale)
    threshold: float  # on test_return_mean
    steps_per_epoch: int = 10_000


TARGETS = [
    Target("cartpole-dqn", ["model=dqn", "data=cartpole"], 100_000, SOLVED),
    Target("cartpole-a2c", ["model=a2c", "data=cartpole"], 100_000, SOLVED),
    Target("cartpole-ppo", ["model=ppo", "data=cartpole"], 100_000, SOLVED),
    Target("cartpole-reinforce", ["model=reinforce", "data=cartpole"], 300_000, SOLVED),
    Target("acrobot-ppo", ["model=ppo", "data=acrobot"], 200_000, -100.0),
    Target("acrobot-dqn", ["model=dqn", "data=acrobot"], 200_000, -100.0),
    Target("pendulum-ppo", ["model=ppo", "data=pendulum"], 200_000, -250.0),
    Target("frozenlake-ppo", ["model=ppo", "data=frozenlake", "data.slippery=false"], 20_000, 1.0, 2000),
    Target("frozenlake-dqn", ["model=dqn", "data=frozenlake", "data.slippery=false"], 20_000, 1.0, 2000),
]
SPEED = "speed"


@dataclass
class Outcome:
    target: Target
    returns: list[float] = field(default_factory=list)  # test_return_mean per seed
    seconds: list[float] = field(default_factory=list)
    error: str = ""

    def passed(self, seeds: int) -> int:
        return sum(r >= self.target.threshold for r in self.returns)


def load() -> str:
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def run_target(target: Target, seeds: int, scale: float, root: str, extra: list[str]) -> Outcome:
    """`seeds` runs of the target's agent (its defaults, then `extra`), each for its env-step budget."""
    import dlx
    from dlx.errors import DlxError

    epochs = max(1, math.ceil(target.steps * scale / target.steps_per_epoch))
    outcome = Outcome(target)
    for seed in range(seeds):
        start = time.perf_counter()
        try:
            run = dlx.train(*target.overrides, *THREADS, f"data.steps_per_epoch={target.steps_per_epoch}",
                            f"trainer.epochs={epochs}", f"trainer.seed={seed}", *extra, output_dir=root)
        except DlxError as e:
            outcome.error = str(e).splitlines()[0]
            return outcome
        outcome.seconds.append(time.perf_counter() - start)
        outcome.returns.append(float(run.summary.metrics["test_return_mean"]))
        print(f"  {target.name} seed {seed}: test return {outcome.returns[-1]:.1f} in {outcome.seconds[-1]:.0f} s "
              f"(load {load()})", flush=True)
    return outcome


class StopWhenSolved:
    """A dlx callback: stop at the first epoch whose val_return reaches SOLVED; note when."""

    def __init__(self, start: float):
        self.start, self.seconds, self.steps = start, math.nan, 0

    def on_epoch_end(self, trainer, row: dict) -> None:
        if not math.isnan(self.seconds):
            return
        self.steps = int(row["train_env_steps"])  # so far (when never solved: the whole budget)
        if row.get("val_return", -math.inf) >= SOLVED:
            self.seconds = time.perf_counter() - self.start
            trainer.stop_training = True


def race_dlx(seed: int, budget: int, root: str) -> tuple[float, int, float]:
    """(seconds to solve, env steps then, dlx's own training steps/s) of `model=ppo`, num_envs=8."""
    import pandas as pd

    import dlx

    start = time.perf_counter()
    stop = StopWhenSolved(start)
    run = dlx.train("model=ppo", "data=cartpole", "data.num_envs=8", f"data.steps_per_epoch={CHECK_EVERY}",
                    "data.eval_episodes=10", "data.test_episodes=10", f"trainer.epochs={budget // CHECK_EVERY}",
                    f"trainer.seed={seed}", *THREADS, output_dir=root, callbacks=[stop])
    rate = float(pd.read_csv(run.path / "metrics.csv")["train_steps_per_s"].mean())
    return stop.seconds, stop.steps, rate


def race_sb3(seed: int, budget: int) -> tuple[float, int, float]:
    """(seconds to solve, env steps then, env steps/s) of SB3's PPO with its defaults, 8 envs."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    start = time.perf_counter()
    model = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=seed), seed=seed, device="cpu")
    stop = StopTrainingOnRewardThreshold(reward_threshold=SOLVED, verbose=0)
    evaluate = EvalCallback(make_vec_env("CartPole-v1", n_envs=10, seed=seed + 1_000_000), n_eval_episodes=10,
                            eval_freq=CHECK_EVERY // 8, deterministic=True, callback_on_new_best=stop, verbose=0)
    model.learn(total_timesteps=budget, callback=evaluate)
    seconds = time.perf_counter() - start
    solved = evaluate.best_mean_reward >= SOLVED
    return (seconds if solved else math.nan), model.num_timesteps, model.num_timesteps / seconds


def speed(seeds: int, scale: float, root: str) -> list[str]:
    budget = max(CHECK_EVERY, int(300_000 * scale))
    rows = []
    for seed in range(seeds):
        d_s, d_steps, d_rate = race_dlx(seed, budget, root)
        s_s, s_steps, s_rate = race_sb3(seed, budget)
        ratio = d_s / s_s if not (math.isnan(d_s) or math.isnan(s_s)) else math.nan
        rows.append(f"| {seed} | {d_s:.1f} s ({d_steps} steps) | {s_s:.1f} s ({s_steps} steps) | {ratio:.2f} "
                    f"| {d_rate:.0f} | {s_rate:.0f} | {load()} |")
        unsolved = f" (nan: not solved in {budget} steps)" if math.isnan(ratio) else ""
        print(f"  speed seed {seed}: dlx {d_s:.1f} s, SB3 {s_s:.1f} s{unsolved}", flush=True)
    return rows


def report(outcomes: list[Outcome], seeds: int, race: list[str], scale: float, started: str,
           extra: list[str]) -> None:
    need = math.ceil(0.8 * seeds)
    given = f"; with {' '.join(extra)}" if extra else ""
    print(f"\n## RL ({seeds} seed(s), env steps x {scale}{given}; load average {started} at the start, "
          f"{load()} at the end)\n")
    if outcomes:
        print("| target | threshold | test return per seed | mean | seeds passed | s per run | verdict |")
        print("|---|---|---|---|---|---|---|")
    for o in outcomes:
        if o.error:
            print(f"| {o.target.name} | {o.target.threshold:g} | — | — | — | — | not run: {o.error} |")
            continue
        per_seed = ", ".join(f"{r:.1f}" for r in o.returns)
        verdict = "pass" if o.passed(seeds) >= need else "MISS"
        print(f"| {o.target.name} | {o.target.threshold:g} | {per_seed} | {statistics.mean(o.returns):.1f} "
              f"| {o.passed(seeds)}/{seeds} | {statistics.mean(o.seconds):.0f} | {verdict} |")
    if race:
        print("\n## Time to solve CartPole-v1 (eval return >= 475), num_envs=8, one thread\n")
        print("| seed | dlx ppo | SB3 PPO | dlx / SB3 | dlx steps/s (training) | SB3 steps/s (overall) | load |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(race))


def main() -> None:
    names = [t.name for t in TARGETS] + [SPEED]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per target (the issue: 5)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every env-step budget")
    parser.add_argument("overrides", nargs="*", help="dlx overrides added to every target's runs (not the race)")
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown or args.seeds < 1 or args.steps_scale <= 0:
        parser.error(f"unknown --only {', '.join(unknown)}; choose from {', '.join(names)}" if unknown
                     else "--seeds must be >= 1 and --steps-scale > 0")
    started = load()
    with tempfile.TemporaryDirectory(prefix="dlx-rl-bench-") as root:
        outcomes = [run_target(t, args.seeds, args.steps_scale, root, args.overrides) for t in TARGETS
                    if t.name in chosen]
        race = speed(args.seeds, args.steps_scale, root) if SPEED in chosen else []
    report(outcomes, args.seeds, race, args.steps_scale, started, args.overrides)


if __name__ == "__main__":
    main()
