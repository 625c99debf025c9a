"""``forget=random0_1 | random1 | random10 | random50``: a uniform random fraction of the train split.

One module for four options because they are one class with a flag (``fraction``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from unlearn.data.forget.base import ForgetRequest
from unlearn.errors import bad_value
from unlearn.registry import FORGETS

OPTIONS = ("random0_1", "random1", "random10", "random50")


@FORGETS.register(*OPTIONS)
class RandomForget(ForgetRequest):
    """A uniform random ``fraction`` of the training set (spec 1: 10% main; 0.1%, 1%, 50% too)."""

    def __init__(self, fraction: float, seed: int = 0) -> None:
        if not 0.0 < float(fraction) < 1.0:
            raise bad_value("forget.fraction", fraction, "a fraction strictly between 0 and 1")
        self.fraction = float(fraction)
        self.seed = int(seed)
        self.name = f"random{self.fraction * 100:g}"

    def select(self, labels: Tensor, num_classes: int) -> Tensor:
        n = labels.numel()
        count = max(1, round(self.fraction * n))
        gen = torch.Generator().manual_seed(self.seed)
        return torch.randperm(n, generator=gen)[:count].sort().values
