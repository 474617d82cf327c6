"""Reinforcement learning: environments as data, agents as models, one task (dlx.engine.rl.task)."""
