"""NegGrad+: descend on retain batches while ascending on forget batches.

Neither reference repo has gradient ascent (spec blend_aamu 5.1), so this follows the common
"NegGrad+" form (Kurmanji et al., 2023): per step, loss = beta * CE(retain batch) - (1 - beta) *
CE(forget batch), one forget batch drawn alongside every retain batch. Plain ascent on the
forget set alone is ``beta=0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.errors import bad_value
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit, sample_rows
from unlearn.unlearning.method import UnlearnMethod, recipe
from unlearn.unlearning.request import ForgetData


@METHODS.register("neggrad")
class NegGrad(UnlearnMethod):
    name = "neggrad"

    def __init__(self, epochs: int = 5, lr: float = 0.01, beta: float = 0.95, momentum: float = 0.9,
                 weight_decay: float = 5e-4, batch_size: int = 64) -> None:
        if not 0.0 <= beta <= 1.0:
            raise bad_value("method.beta", beta, "a weight in [0, 1]")
        self.beta = float(beta)
        self.recipe = recipe(epochs, lr, batch_size, "sgd", momentum, weight_decay)

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        gen = torch.Generator().manual_seed(ctx.seed + 1)
        rows = torch.arange(len(data.forget), device=data.forget.y.device)

        def loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            f = sample_rows(rows, x.shape[0], gen)
            ascent = F.cross_entropy(model(data.forget.rows(f).to(x.device)), data.forget.y[f])
            return self.beta * F.cross_entropy(model(x), y) - (1.0 - self.beta) * ascent

        return fit(ctx.fits, net, data.train_x, data.train_y, self.recipe, ctx.seed, loss, generators=[gen])
