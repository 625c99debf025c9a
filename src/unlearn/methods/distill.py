"""Distillation ("kd"): keep training the original on retain, pulled towards its own frozen copy.

Spec blend_aamu 5.1/5.2: student = the original, teacher = a frozen copy of the original; per
retain batch, loss = 1.0 * CE + 0.001 * KL_T (T = 2); SGD momentum 0.86, weight decay 1e-3,
50 epochs, lr 0.04 (CIFAR-10 / CINIC-10 ResNet-18 on the full retain set; 5e-3 on a condensed one).
The reference attaches MultiStepLR at epochs 50 and 75, which never fires within 50 epochs,
so the lr here is constant (no warm-up, no decay) whatever ``epochs`` is.

``kd_loss`` is the temperature KL every teacher-based method here uses (SCRUB, A-SCRUB, Bad-Teacher).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.methods.unlearn_loop import fit
from unlearn.methods.unlearning import ForgetData, UnlearnMethod
from unlearn.models.module import Recipe
from unlearn.registry import METHODS


def kl_to_target(student_logits: Tensor, target_log_probs: Tensor, T: float) -> Tensor:
    """KL(target || softmax(student / T)), summed over classes, batch mean, x T^2.

    ``target_log_probs`` are the teacher's log-probabilities at temperature T (no gradient needed).
    The T^2 keeps the gradient's size independent of T (Hinton et al., 2015).
    """
    log_p_student = F.log_softmax(student_logits / T, dim=1)
    return F.kl_div(log_p_student, target_log_probs, reduction="batchmean", log_target=True) * T**2


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, T: float) -> Tensor:
    """KL(p_teacher || p_student) of the temperature-T softmaxes, batch mean, x T^2 (SCRUB's DistillKL)."""
    return kl_to_target(student_logits, F.log_softmax(teacher_logits.detach() / T, dim=1), T)


def freeze(net: nn.Module) -> nn.Module:
    """``net`` as a teacher: in eval mode, no parameter requiring a gradient."""
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def frozen_copy(net: nn.Module) -> nn.Module:
    return freeze(copy.deepcopy(net))


def constant_lr(epochs: int, lr: float, batch_size: int, momentum: float, weight_decay: float) -> Recipe:
    """SGD at a constant lr: a cosine whose floor (eta_min) is the lr itself is flat."""
    return Recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer="sgd",
                  momentum=float(momentum), weight_decay=float(weight_decay), eta_min=float(lr))


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

        return fit(net, data.train_x, data.train_y, self.recipe, ctx.seed, loss)
