"""Frozen teachers and the temperature KL every teacher-based method here uses (kd, SCRUB, A-SCRUB,
Bad-Teacher), and the constant-lr SGD recipe of those baselines (spec blend_aamu 5.1/5.2)."""

from __future__ import annotations

import copy

import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.models.recipe import Recipe, method_recipe


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
    return method_recipe(max_epochs=int(epochs), lr=float(lr), batch_size=int(batch_size), optimizer="sgd",
                         momentum=float(momentum), weight_decay=float(weight_decay), eta_min=float(lr))
