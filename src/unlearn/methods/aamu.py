"""A-AMU (spec blend_aamu 4): a steeper retain loss plus loss-distribution matching, in one epoch.

Per retain batch B_r (size b): L = CE_mean(B_r)^2 + lambda * MMD^2(T(losses of B_u), T(losses of B_f)),
with B_f = 4b forget samples drawn afresh every step and B_u = 4b samples of the unseen pool
restricted to the classes present in B_f (class-wise forgetting: unseen images of the forgotten
class only). Adam, no schedule, no weight decay, one epoch, from the original model.

``aamu_sparse`` adds alpha * ||theta||_1 over every parameter (spec 4.2).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.errors import ConfigError
from unlearn.methods.loss_matching import loss_matching
from unlearn.methods.unlearn_loop import fit, sample_rows
from unlearn.methods.unlearning import ForgetData, UnlearnMethod
from unlearn.models.module import Recipe
from unlearn.registry import METHODS


def matching_term(data: ForgetData, sample: int, k: float, sigma: float,
                  gen: torch.Generator) -> Callable[[nn.Module], Tensor]:
    """The regulariser as ``term(model)``: each call draws ``sample`` forget images and ``sample``
    unseen images of the classes in that draw afresh (with ``gen``) and returns MMD^2 of their
    transformed losses, the unseen branch without gradient. Shared by A-AMU and A-SCRUB."""
    device = data.forget.y.device
    forget_rows = torch.arange(len(data.forget), device=device)
    unseen_by_class = {int(c): (data.unseen.y == c).nonzero().squeeze(1) for c in data.unseen.y.unique()}
    missing = sorted(set(data.forget.y.unique().tolist()) - set(unseen_by_class))
    if missing:
        raise ConfigError(f"the unseen pool has no image of forget classes {missing}; raise unlearn.unseen_fraction")

    def term(model: nn.Module) -> Tensor:
        f = sample_rows(forget_rows, sample, gen)
        classes = data.forget.y[f].unique().tolist()
        u = sample_rows(torch.cat([unseen_by_class[c] for c in classes]), sample, gen)
        forget_losses = F.cross_entropy(model(data.forget.x[f]), data.forget.y[f], reduction="none")
        with torch.no_grad():
            unseen_losses = F.cross_entropy(model(data.unseen.x[u]), data.unseen.y[u], reduction="none")
        return loss_matching(forget_losses, unseen_losses, k, sigma)

    return term


@METHODS.register("aamu_cf")
class AAMU(UnlearnMethod):
    name = "aamu_cf"

    def __init__(self, epochs: int = 1, lr: float = 2.4e-4, batch_size: int = 64, weight: float = 34.0,
                 k: float = 2.0, sample_factor: int = 4, sigma: float = 1.0, l1: float = 0.0) -> None:
        self.recipe = Recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer="adam",
                             weight_decay=0.0)
        self.weight, self.k, self.sigma, self.l1 = float(weight), float(k), float(sigma), float(l1)
        self.sample = int(sample_factor) * int(batch_size)

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        matching = matching_term(data, self.sample, self.k, self.sigma, torch.Generator().manual_seed(ctx.seed + 2))

        def loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            total = F.cross_entropy(model(x), y) ** 2 + self.weight * matching(model)
            if self.l1:
                total = total + self.l1 * sum(p.abs().sum() for p in model.parameters())
            return total

        return fit(net, data.train_x, data.train_y, self.recipe, ctx.seed, loss)


@METHODS.register("aamu_sparse")
class AAMUSparse(AAMU):
    name = "aamu_sparse"

    def __init__(self, epochs: int = 1, lr: float = 1e-4, batch_size: int = 64, weight: float = 34.0,
                 k: float = 2.0, sample_factor: int = 4, sigma: float = 1.0, l1: float = 1e-4) -> None:
        super().__init__(epochs, lr, batch_size, weight, k, sample_factor, sigma, l1)
