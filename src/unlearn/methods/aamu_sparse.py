"""A-AMU on L1-sparse fine-tuning (spec blend_aamu 4.2): A-AMU's loss plus alpha * ||theta||_1 over
every parameter, Adam lr 1e-4. The same objective as ``aamu_cf`` with its L1 weight switched on."""

from __future__ import annotations

from unlearn.methods.aamu_cf import AAMU
from unlearn.registry import METHODS


@METHODS.register("aamu_sparse")
class AAMUSparse(AAMU):
    name = "aamu_sparse"

    def __init__(self, epochs: int = 1, lr: float = 1e-4, batch_size: int = 64, weight: float = 34.0,
                 k: float = 2.0, sample_factor: int = 4, sigma: float = 1.0, l1: float = 1e-4) -> None:
        super().__init__(epochs, lr, batch_size, weight, k, sample_factor, sigma, l1)
