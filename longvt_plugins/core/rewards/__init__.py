"""LongVT's RL reward: accuracy (judge or rule) + format + temporal IoU of the last crop [+ tool use], as one dict.

- ``config``: ``RewardConfig``, the weight of each term (its fields are also verl's ``reward_kwargs``);
- ``term``: what a term is and the registry; ``terms/``: one file per term (accuracy, format, iou, tool_use);
- ``compose``: ``compute_reward``, which computes the configured terms and sums them; ``REWARD_KEYS``;
- ``segment``: ``parse_segment``, a ground-truth time window from a data row.
"""

from longvt_plugins.core.rewards.compose import REWARD_KEYS, compute_reward, empty_reward
from longvt_plugins.core.rewards.config import JUDGE_MODES, RewardConfig
from longvt_plugins.core.rewards.segment import parse_segment
from longvt_plugins.core.rewards.term import TERMS, Sample, Term, reward_term

__all__ = [
    "JUDGE_MODES",
    "REWARD_KEYS",
    "TERMS",
    "RewardConfig",
    "Sample",
    "Term",
    "compute_reward",
    "empty_reward",
    "parse_segment",
    "reward_term",
]
