"""The metrics of one model on one forget request (Blend/A-AMU spec section 7).

Accuracy on the forget set, the real retain set (even when the method trained on a condensed
one) and the evaluation part of the test set; ``mia`` is the paper's folded logistic-regression
AUC of the LiRA statistic, forget vs evaluation images of the forget classes (50 =
indistinguishable); ``mia_loss`` a loss-threshold AUC on the same pair; with shadow models,
``mia_lira`` is the per-example shadow-model attack (eval/lira.py). With Blend,
``free_retain_acc`` / ``residual_retain_acc`` split retain accuracy by whether an image's cluster
held a forget sample (the Section 4.4 ablation's metrics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unlearn.context import RunContext
from unlearn.eval.evalset import logits, top1
from unlearn.eval.lira import ShadowAttack
from unlearn.eval.mia import folded_forget_auc, loss_threshold_auc
from unlearn.unlearning.request import ForgetData

METRICS = ("forget_acc", "retain_acc", "test_acc", "mia", "mia_loss")


def shadow_attack(ctx: RunContext, data: ForgetData) -> ShadowAttack:
    """LiRA's shadow statistics for this request (the shadows train once, cached like any stage)."""
    nets = [ctx.net_with(ctx.runner.get("shadow", i).state) for i in range(ctx.dm.shadow_count)]
    return ShadowAttack.build(nets, data.forget, ctx.dm.shadow_members()[:, data.rows], data.evaluation)


def scores(net: nn.Module, data: ForgetData, seed: int, attack: ShadowAttack | None = None,
           mia_phi: str = "exact", mia_fold: str = "forget_classes") -> dict[str, float]:
    """Every metric of one model on one request; ``mia_phi`` / ``mia_fold`` pick the paper MIA's
    variant (``unlearn.mia_phi`` / ``unlearn.mia_fold``: ours, or the reference code's)."""
    # One forward pass per split; every metric below reads these.
    forget, evaluation = data.forget, data.evaluation
    on_forget, on_eval = logits(net, forget), logits(net, evaluation)
    right = (logits(net, data.retain).argmax(dim=1) == data.retain.y).float()
    in_classes = torch.isin(evaluation.y, forget.y.unique())
    member = F.cross_entropy(on_forget, forget.y.long(), reduction="none")
    nonmember = F.cross_entropy(on_eval, evaluation.y.long(), reduction="none")[in_classes]
    out = {
        "forget_acc": top1(on_forget, forget.y),
        "retain_acc": float(right.mean()),
        "test_acc": top1(on_eval, evaluation.y),
        "mia": folded_forget_auc(on_forget, forget.y, on_eval, evaluation.y, seed, phi=mia_phi,
                                 swap_full_heldout=mia_fold == "test"),
        "mia_loss": loss_threshold_auc(member, nonmember),
    }
    if attack is not None:
        out["mia_lira"] = attack.auc_of(on_forget, forget.y, on_eval, evaluation.y)
    for name, mask in (("free_retain_acc", data.free_mask), ("residual_retain_acc", data.residual_mask)):
        if mask is not None:
            out[name] = float(right[mask].mean()) if bool(mask.any()) else float("nan")
    return out


