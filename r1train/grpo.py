"""The GRPO family's registries: advantage estimators and policy losses, looked up by recipe name.

The maths lives in two modules of pure tensor functions, imported at the bottom of this file so that
importing ``r1train.grpo`` fills both registries:

* :mod:`r1train.advantages` — ``algorithm.advantage``: ``grpo`` (DeepSeekMath/R1), ``rloo`` (Kool et al.
  2019; Ahmadian et al. 2024), ``reinforce_pp`` (REINFORCE++, Hu 2025); ``algorithm.advantage_scale``.
* :mod:`r1train.losses` — ``algorithm.loss``: ``grpo`` (PPO's clipped surrogate on token ratios, DAPO's
  clip-higher, optional dual clip), ``gspo`` (sequence-level ratio, Zheng et al. 2025); loss aggregation
  (``algorithm.loss_agg``), KL estimators ``k1 | k2 | k3``, truncated rollout importance weights.

The trainer looks names up in ``ADVANTAGES`` and ``LOSSES``; it never branches on a name. A new
estimator or loss is one decorated function::

    from r1train.grpo import register_loss

    @register_loss("my_loss")
    def my_loss(logp, old_logp, advantages, mask, cfg): ...   # -> (per-token loss (N, T), stats)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from r1train.errors import UserError
from r1train.registry import registrar

AdvantageFn = Callable[..., Tensor]
LossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]
ADVANTAGES: dict[str, AdvantageFn] = {}
LOSSES: dict[str, LossFn] = {}


register_advantage = registrar(ADVANTAGES)  # fn(rewards (N,), group_size, scale) -> advantages (N,)
register_loss = registrar(LOSSES)  # fn(logp, old_logp, advantages, mask, cfg) -> (per_token (N, T), stats)


def validate(algo: Any) -> None:
    """Checks of ``algorithm.*`` that a recipe can get wrong; each ends in one sentence saying what to change."""
    if algo.advantage not in ADVANTAGES:
        raise UserError(f"algorithm.advantage {algo.advantage!r} is unknown; use one of {', '.join(sorted(ADVANTAGES))}")
    if algo.loss not in LOSSES:
        raise UserError(f"algorithm.loss {algo.loss!r} is unknown; use one of {', '.join(sorted(LOSSES))}")
    if algo.clip_low < 0 or algo.clip_high < 0 or algo.clip_low >= 1:
        raise UserError(
            f"algorithm.clip_low={algo.clip_low} / clip_high={algo.clip_high} must satisfy 0 <= clip_low < 1 and "
            "clip_high >= 0; typical values are 0.2 and 0.28"
        )
    if algo.dual_clip is not None and algo.dual_clip <= 1.0:
        raise UserError(f"algorithm.dual_clip is {algo.dual_clip}; it must be above 1 (e.g. 3.0), or null to turn it off")
    if algo.kl_beta < 0:
        raise UserError(f"algorithm.kl_beta is {algo.kl_beta}; it must be 0 (no reference model) or positive")
    if algo.kl_in_reward and algo.kl_beta == 0:
        raise UserError("algorithm.kl_in_reward is true but kl_beta is 0; set kl_beta > 0 or kl_in_reward: false")
    if algo.rollout_is != "off" and algo.rollout_is_cap < 1.0:
        raise UserError(f"algorithm.rollout_is_cap is {algo.rollout_is_cap}; it must be at least 1 (e.g. 2.0)")
    if algo.max_sampling_tries < 1:
        raise UserError(f"algorithm.max_sampling_tries is {algo.max_sampling_tries}; it must be at least 1")


# Importing the maths modules registers their functions (they import the decorators above). Their public
# names are also reachable here (``grpo.aggregate``, ``grpo.grpo_advantages``…), resolved lazily so that
# importing either module first works too.
from r1train import advantages, losses  # noqa: E402


def __getattr__(name: str) -> Any:
    for module in (advantages, losses):
        if not name.startswith("_") and hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module 'r1train.grpo' has no attribute {name!r}")
