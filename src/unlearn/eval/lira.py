"""A per-example membership attack calibrated by shadow models (offline LiRA, Carlini et al. 2022).

The paper's ``mia`` fits one threshold on phi for every example, so an image that is easy for
any model (high phi member or not) looks like a member. LiRA compares each example with
itself: ``S`` shadow models each train (like the original) on a seeded half of the train split,
so every train image is *out* of exactly ``S/2`` of them and every test image of all ``S``.
The score of example ``x`` under the attacked model is ``(phi(x) - mu_out(x)) / sigma_out``: how
far above what models that never saw ``x`` give it. ``mu_out`` is per example, ``sigma_out`` one
pooled spread (the fixed-variance variant, reliable with few shadows). ``mia_lira`` is the ROC-AUC
x 100 of "higher score => member", forget images vs evaluation images of the forget classes:
50 = they look alike (retrain-like), above 50 = the forget set is still recognisably trained on.

Cost: ``S`` extra trainings of the original recipe on half the data (about ``S/2`` original
runs), done once per (dataset, arch, recipe, seed, S) and cached like every stage, so all
methods and requests on that model share them. Not U-LiRA: that variant would also *unlearn*
each shadow with the method under test (``S`` more unlearning runs per method).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from unlearn.eval.evalset import EvalSet, logits
from unlearn.eval.mia import lira_score


def phi(net: nn.Module, data: EvalSet) -> Tensor:
    return lira_score(logits(net, data), data.y).cpu()


def out_statistics(shadow_phi: Tensor, shadow_in: Tensor) -> tuple[Tensor, float]:
    """Per-example mean of phi over the shadows that did not train on it, and the pooled std.

    ``shadow_phi`` and ``shadow_in`` are ``[S, n]``; an example no shadow left out gets nan.
    """
    out = (~shadow_in).double()
    count = out.sum(0)
    mean = (shadow_phi.double() * out).sum(0) / count
    resid = (shadow_phi.double() - mean) * out
    spread = float((resid[:, count > 0] ** 2).sum() / (count[count > 0] - 1).clamp(min=1).sum()) ** 0.5
    return mean, max(spread, 1e-12)


def membership_auc(member_scores: Tensor, nonmember_scores: Tensor) -> float:
    """ROC-AUC x 100 of "higher score => member"; nan if a side is empty."""
    from sklearn.metrics import roc_auc_score  # when used: a second of start-up otherwise

    m, n = member_scores.double().numpy(), nonmember_scores.double().numpy()
    if len(m) == 0 or len(n) == 0:
        return float("nan")
    return 100.0 * float(roc_auc_score(np.r_[np.ones(len(m)), np.zeros(len(n))], np.r_[m, n]))


@dataclass
class ShadowAttack:
    """Shadow statistics of one request's forget images and of the non-member evaluation images."""

    forget_mean: Tensor
    forget_std: float
    eval_mean: Tensor
    eval_std: float
    eval_keep: Tensor  # evaluation images of the forget classes (the non-members attacked against)

    @classmethod
    def build(cls, shadows: list[nn.Module], forget: EvalSet, forget_in: Tensor, evaluation: EvalSet) -> ShadowAttack:
        """``forget_in[s, i]``: whether shadow ``s`` trained on forget image ``i``."""
        f_phi = torch.stack([phi(s, forget) for s in shadows])
        e_phi = torch.stack([phi(s, evaluation) for s in shadows])
        keep = torch.isin(evaluation.y.cpu(), forget.y.cpu().unique())
        f_mean, f_std = out_statistics(f_phi, forget_in.cpu())
        e_mean, e_std = out_statistics(e_phi[:, keep], torch.zeros_like(e_phi[:, keep], dtype=torch.bool))
        return cls(f_mean, f_std, e_mean, e_std, keep)

    def auc(self, net: nn.Module, forget: EvalSet, evaluation: EvalSet) -> float:
        return self.auc_of(logits(net, forget), forget.y, logits(net, evaluation), evaluation.y)

    def auc_of(self, forget_logits: Tensor, forget_y: Tensor, eval_logits: Tensor, eval_y: Tensor) -> float:
        """``auc`` on logits already computed (scoring one model reads them for several metrics)."""
        # One pooled spread for both sides, so a side's spread cannot by itself separate them.
        std = (self.forget_std + self.eval_std) / 2
        member = (lira_score(forget_logits, forget_y).cpu() - self.forget_mean) / std
        nonmember = (lira_score(eval_logits, eval_y).cpu()[self.eval_keep] - self.eval_mean) / std
        return membership_auc(member, nonmember)
