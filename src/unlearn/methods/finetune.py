"""Fine-tune (the paper's "CF", catastrophic forgetting): keep training the original on retain only.

Spec blend_aamu 5.1: SGD, momentum 0.502, weight decay 1.4e-3, 50 epochs, 5 warm-up epochs then
cosine (multiplier (e + 1) / 5, then 1/2 (1 + cos(pi (e - 5) / 45))); lr 0.04 (CIFAR-10 / CINIC-10
ResNet-18).
"""

from __future__ import annotations

from torch import nn

from unlearn.context import RunContext
from unlearn.registry import METHODS
from unlearn.unlearning.fit import fit
from unlearn.unlearning.method import UnlearnMethod, recipe
from unlearn.unlearning.request import ForgetData


@METHODS.register("finetune")
class Finetune(UnlearnMethod):
    name = "finetune"

    def __init__(self, epochs: int = 50, lr: float = 0.04, momentum: float = 0.502, weight_decay: float = 1.4e-3,
                 warmup: int = 5, batch_size: int = 64) -> None:
        self.recipe = recipe(epochs, lr, batch_size, "sgd", momentum, weight_decay, warmup)

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        return fit(ctx.fits, net, data.train_x, data.train_y, self.recipe, ctx.seed)
