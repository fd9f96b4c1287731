"""The RL core: policies, rollouts on gymnasium environments, advantages, optimisers, and the
train kind (REINFORCE, natural gradient, PPO, TRPO). Imports pgcli.base only (the lab is a sibling).
"""
