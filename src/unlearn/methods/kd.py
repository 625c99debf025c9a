"""Distillation ("kd"): keep training the original on retain, pulled towards its own frozen copy.

Spec blend_aamu 5.1/5.2: student = the original, teacher = a frozen copy of the original; per
retain batch, loss = 1.0 * CE + 0.001 * KL_T (T = 2); SGD momentum 0.86, weight decay 1e-3,
50 epochs, lr 0.04 (CIFAR-10 / CINIC-10 ResNet-18 on the full retain set; 5e-3 on a condensed one).
The reference attaches MultiStepLR at epochs 50 and 75, which never fires within 50 epochs,
so the lr here is constant (no warm-up, no decay) whatever ``epochs`` is.

"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit
from unlearn.unlearning.method import UnlearnMethod
from unlearn.unlearning.request import ForgetData
from unlearn.unlearning.teachers import constant_lr, frozen_copy, kd_loss


@METHODS.register("kd")
class Distill(UnlearnMethod):
    name = "kd"

    def __init__(self, epochs: int = 50, lr: float = 0.04, hard_weight: float = 1.0, soft_weight: float = 1e-3,
                 temperature: float = 2.0, momentum: float = 0.86, weight_decay: float = 1e-3,
                 batch_size: int = 64) -> None:
        self.recipe = constant_lr(epochs, lr, batch_size, momentum, weight_decay)
        self.hard, self.soft, self.T = float(hard_weight), float(soft_weight), float(temperature)

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        teacher = frozen_copy(net)

        def loss(model: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
            logits = model(x)
            with torch.no_grad():
                target = teacher(x)
            return self.hard * F.cross_entropy(logits, y) + self.soft * kd_loss(logits, target, self.T)

        return fit(ctx.fits, net, data.train_x, data.train_y, self.recipe, ctx.seed, loss)
