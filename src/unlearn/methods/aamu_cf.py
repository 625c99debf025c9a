"""A-AMU (spec blend_aamu 4): a steeper retain loss plus loss-distribution matching, in one epoch.

Per retain batch B_r (size b): L = CE_mean(B_r)^2 + lambda * MMD^2(T(losses of B_u), T(losses of B_f)),
with B_f = 4b forget samples drawn afresh every step and B_u = 4b samples of the unseen pool
restricted to the classes present in B_f (class-wise forgetting: unseen images of the forgotten
class only). Adam, no schedule, no weight decay, one epoch, from the original model.

``aamu_sparse`` (its own module) is this class with an L1 weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.models.recipe import method_recipe
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit
from unlearn.unlearning.matching import matching_term
from unlearn.unlearning.method import UnlearnMethod
from unlearn.unlearning.request import ForgetData


@METHODS.register("aamu_cf")
class AAMU(UnlearnMethod):
    name = "aamu_cf"

    def __init__(self, epochs: int = 1, lr: float = 2.4e-4, batch_size: int = 64, weight: float = 34.0,
                 k: float = 2.0, sample_factor: int = 4, sigma: float = 1.0, l1: float = 0.0) -> None:
        self.recipe = method_recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size),
                                    optimizer="adam", weight_decay=0.0)
        self.weight, self.k, self.sigma, self.l1 = float(weight), float(k), float(sigma), float(l1)
        self.sample = int(sample_factor) * int(batch_size)

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        gen = torch.Generator().manual_seed(ctx.seed + 2)
        matching = matching_term(data, self.sample, self.k, self.sigma, gen)

        def loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            total = F.cross_entropy(model(x), y) ** 2 + self.weight * matching(model)
            if self.l1:
                total = total + self.l1 * sum(p.abs().sum() for p in model.parameters())
            return total

        return fit(ctx.fits, net, data.train_x, data.train_y, self.recipe, ctx.seed, loss, generators=[gen])
