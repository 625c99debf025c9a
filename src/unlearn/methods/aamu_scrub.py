"""A-SCRUB (spec blend_aamu 4.2): SCRUB's two passes (``methods/scrub.py``), one epoch, Adam lr 1e-4 with no schedule or weight
decay; the min-pass loss is 0.99 * CE_mean^2 + 0.001 * KL_T + 34 * MMD^2, A-AMU's steepened
retain loss and loss-distribution matching (``unlearning.matching.matching_term``: fresh forget / unseen draws
of 4 x batch size at every retain step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.methods.scrub import SCRUB
from unlearn.models.recipe import Recipe, method_recipe
from unlearn.registry import METHODS
from unlearn.unlearning.fit_spec import StepLoss
from unlearn.unlearning.matching import matching_term
from unlearn.unlearning.request import ForgetData
from unlearn.unlearning.teachers import kd_loss


@METHODS.register("aamu_scrub")
class ASCRUB(SCRUB):
    name = "aamu_scrub"

    def __init__(self, epochs: int = 1, lr: float = 1e-4, msteps: int | None = None, alpha: float = 0.2,
                 gamma: float = 0.99, beta: float = 1e-3, temperature: float = 2.0, weight: float = 34.0,
                 k: float = 2.0, sample_factor: int = 4, sigma: float = 1.0, batch_size: int = 64,
                 forget_batch_size: int = 64) -> None:
        super().__init__(epochs, lr, msteps, 0, alpha, gamma, beta, temperature, 0.0, 0.0, batch_size,
                         forget_batch_size)
        self.weight, self.k, self.sigma = float(weight), float(k), float(sigma)
        self.sample = int(sample_factor) * int(batch_size)

    def recipe(self) -> Recipe:
        """A-AMU's optimiser: Adam, no weight decay, no schedule (a cosine whose floor is the lr is flat)."""
        return method_recipe(max_epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, optimizer="adam",
                             weight_decay=0.0, eta_min=self.lr)

    def min_loss(self, teacher: nn.Module, data: ForgetData,
                 ctx: RunContext) -> tuple[StepLoss, list[torch.Generator]]:
        gen = torch.Generator().manual_seed(ctx.seed + 2)
        matching = matching_term(data, self.sample, self.k, self.sigma, gen)

        def loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            logits = model(x)
            with torch.no_grad():
                target = teacher(x)
            return (self.gamma * F.cross_entropy(logits, y) ** 2 + self.beta * kd_loss(logits, target, self.T)
                    + self.weight * matching(model))

        return loss, [gen]
