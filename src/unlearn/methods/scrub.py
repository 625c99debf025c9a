"""SCRUB (Kurmanji et al., 2023) and A-SCRUB (the Blend/A-AMU paper's accelerated SCRUB).

SCRUB (spec blend_aamu 5.1/5.2): the student (the original) and a frozen teacher (a copy of the
original). Each epoch e = 0, 1, ...: while e <= ``msteps`` (so msteps + 1 max-epochs; -1: none),
one max-pass over the forget set minimising -0.2 * KL_T(teacher || student), i.e. pushing the
student away from the teacher on the forget images; then one min-pass over the retain set
minimising 0.99 * CE + 0.001 * KL_T. One SGD optimiser serves both passes (momentum 0.9, weight
decay 5e-4), lr 0.01 for 15 epochs with msteps 5 (CIFAR-10 ResNet-18, full retain set), and a
per-epoch multiplier (e + 1) / 5 for e < 5, then 1/2 (1 + cos(pi (e - 5) / (15 - 5))): the
reference's warm-up (``warmup_offset`` 1 in ``models.schedule``, as every baseline's), which starts at lr / 5, not 0.

``aamu_scrub`` (its own module) is A-SCRUB, these passes with A-AMU's objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.models.recipe import Recipe, method_recipe
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit_passes
from unlearn.unlearning.fit_spec import Pass, StepLoss
from unlearn.unlearning.method import UnlearnMethod
from unlearn.unlearning.request import ForgetData
from unlearn.unlearning.teachers import frozen_copy, kd_loss


@METHODS.register("scrub")
class SCRUB(UnlearnMethod):
    name = "scrub"

    def __init__(self, epochs: int = 15, lr: float = 0.01, msteps: int | None = 5, warmup: int = 5,
                 alpha: float = 0.2, gamma: float = 0.99, beta: float = 1e-3, temperature: float = 2.0,
                 momentum: float = 0.9, weight_decay: float = 5e-4, batch_size: int = 64,
                 forget_batch_size: int = 64) -> None:
        self.epochs, self.lr, self.warmup = int(epochs), float(lr), int(warmup)
        # None: a max-pass in every epoch (A-SCRUB).
        self.msteps = self.epochs - 1 if msteps is None else int(msteps)
        self.alpha, self.gamma, self.beta, self.T = float(alpha), float(gamma), float(beta), float(temperature)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.batch_size, self.forget_batch_size = int(batch_size), int(forget_batch_size)
        self.recipe()  # built again when the fit runs; built now so a bad key is refused before any training

    def recipe(self) -> Recipe:
        """One SGD optimiser for both passes, the per-epoch warm-up (from lr / W) + cosine."""
        return method_recipe(max_epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, optimizer="sgd",
                             momentum=self.momentum, weight_decay=self.weight_decay, warmup=self.warmup,
                             warmup_offset=1)

    def min_loss(self, teacher: nn.Module, data: ForgetData,
                 ctx: RunContext) -> tuple[StepLoss, list[torch.Generator]]:
        """The min-pass objective on one retain batch, and the generators it draws from."""
        def loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            logits = model(x)
            with torch.no_grad():
                target = teacher(x)
            return self.gamma * F.cross_entropy(logits, y) + self.beta * kd_loss(logits, target, self.T)

        return loss, []

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        teacher = frozen_copy(net)

        def max_loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            with torch.no_grad():
                target = teacher(x)
            return -self.alpha * kd_loss(model(x), target, self.T)

        min_loss, generators = self.min_loss(teacher, data, ctx)
        passes = [Pass(data.forget.x, data.forget.y, self.forget_batch_size, max_loss, lambda e: e <= self.msteps),
                  Pass(data.train_x, data.train_y, self.batch_size, min_loss)]
        return fit_passes(ctx.fits, net, passes, self.recipe(), ctx.seed, generators=generators)
