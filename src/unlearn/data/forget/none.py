"""``forget=none``: nothing to forget (condensation of the whole set, the CUTS stages)."""

from __future__ import annotations

import torch
from torch import Tensor

from unlearn.data.forget.base import ForgetRequest
from unlearn.registry import FORGETS


@FORGETS.register("none")
class NoForget(ForgetRequest):
    """Nothing to forget: condensation of the whole set."""

    name = "none"

    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        return torch.zeros(0, dtype=torch.long)
