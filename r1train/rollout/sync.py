"""Weights to send from the trainer to a rollout engine after an optimizer step.

``policy_weights(model)`` yields ``(hf_name, tensor)`` pairs with the names a freshly loaded checkpoint
would have, one tensor at a time (never a second full copy of the model in memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def policy_weights(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` for every parameter and persistent buffer of the causal LM, detached."""
    for name, tensor in model.state_dict().items():
        yield name, tensor.detach()
