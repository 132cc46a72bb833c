"""The GRPO family's registries: advantage estimators and policy losses, looked up by recipe name.

The maths lives in two modules of pure tensor functions; each holds its own registry, filled by the
decorators beside the functions (this package only imports them and re-exports their public names):

* :mod:`r1train.grpo.advantages` — ``algorithm.advantage``: ``grpo`` (DeepSeekMath/R1), ``rloo`` (Kool et al.
  2019; Ahmadian et al. 2024), ``reinforce_pp`` (REINFORCE++, Hu 2025); ``algorithm.advantage_scale``.
* :mod:`r1train.grpo.losses` — ``algorithm.loss``: ``grpo`` (PPO's clipped surrogate on token ratios, DAPO's
  clip-higher, optional dual clip), ``gspo`` (sequence-level ratio, Zheng et al. 2025); loss aggregation
  (``algorithm.loss_agg``), KL estimators ``k1 | k2 | k3``, truncated rollout importance weights.

The trainer looks names up in ``ADVANTAGES`` and ``LOSSES``; it never branches on a name. Recipes are
checked against both registries (and the entries' properties) by :func:`r1train.recipe.check_algorithm`. A new
estimator or loss is one decorated function::

    from r1train.grpo import register_loss

    @register_loss("my_loss")
    def my_loss(logp, old_logp, advantages, mask, cfg): ...   # -> (per-token loss (N, T), stats)
"""

from __future__ import annotations

from r1train.grpo.advantages import (
    ADVANTAGES,
    SCALES,
    AdvantageFn,
    compute_advantages,
    grpo_advantages,
    register_advantage,
    reinforce_pp_advantages,
    rloo_advantages,
)
from r1train.grpo.losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    LOSSES,
    ROLLOUT_IS,
    LossFn,
    aggregate,
    clipped_surrogate,
    gspo_surrogate,
    kl_penalty,
    register_loss,
    rollout_is_weights,
)

__all__ = [
    "ADVANTAGES", "AGGREGATIONS", "KL_ESTIMATORS", "LOSSES", "ROLLOUT_IS", "SCALES", "AdvantageFn", "LossFn",
    "aggregate", "clipped_surrogate", "compute_advantages", "grpo_advantages", "gspo_surrogate", "kl_penalty",
    "register_advantage", "register_loss", "reinforce_pp_advantages", "rloo_advantages", "rollout_is_weights",
]
