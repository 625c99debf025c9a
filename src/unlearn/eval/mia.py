"""Membership-inference metrics for approximate unlearning (spec 7.2 and S8).

``forget_mia`` is the paper's ``mia`` number: a 1-D logistic-regression attack on the
LiRA-style statistic phi, forget set (members) vs held-out test samples of the forget
classes (non-members), balanced, 5-fold out-of-fold ROC-AUC x 100, folded at 42.
50 means the attacker cannot tell the forget set from unseen data (retrain-like).
``loss_threshold_auc`` is a training-free per-example loss attack, as a second number.

Label convention follows the reference: 0 = member (forget), 1 = non-member (test).
Because the attacker is a fitted logistic regression, the AUC does not depend on which
side scores higher: it learns the sign of the slope. Swapping the roles therefore does
*not* give 100 - AUC; it re-runs the same attack with a different fold assignment and
subset. The folding rule thus mostly guards against the downward bias of out-of-fold AUC
near chance (with no signal and small m, out-of-fold AUC often lands well below 50).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from unlearn.eval.evalset import EvalSet, logits

Scores = torch.Tensor | np.ndarray | Sequence[float]


def lira_score(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """phi(x, y) = log p_y - log sum_{j != y} p_j, per sample, in float64.

    The softmax normaliser cancels, so phi = z_y - logsumexp_{j != y} z_j: no softmax, no
    log of a small number, finite for any finite logits (needs >= 2 classes).

    The reference (``stable_phi``) instead exponentiates per-class CEs clamped to [0, 50]
    and floors both log arguments at 1e-15. That equals this form except in the saturated
    regime (p_y or sum_{j != y} p_j below 1e-15, i.e. |phi| beyond ~log(1e15) = 34.5),
    where the reference pins phi at about +-34.5 while this keeps growing with the logit
    gap. Only ranks matter to the attack up to the logistic fit, and real nets rarely
    reach that regime, so this is the reference's number wherever it is informative.
    """
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"need (n, C >= 2) logits, got shape {tuple(logits.shape)}")
    z = logits.double()
    labels = labels.to(z.device).long()
    z_y = z.gather(1, labels[:, None]).squeeze(1)
    others = z.scatter(1, labels[:, None], float("-inf"))
    return z_y - torch.logsumexp(others, dim=1)


def lira_score_reference(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """phi as the Blend/A-AMU reference computes it (``stable_phi``), for the paper sweeps.

    In float32: every class's cross-entropy ``-log_softmax`` is clamped to [0, 50] and
    exponentiated back to a probability, and both log arguments are floored at 1e-15. So phi
    saturates at +-log(1e15) = +-34.54 where the exact form keeps growing: with confident
    logits many forget and test samples tie at 34.54, which moves the logistic fit and so the
    AUC (``unlearn.mia_phi=reference``; README "Deviations" has the measured difference).
    """
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"need (n, C >= 2) logits, got shape {tuple(logits.shape)}")
    ce = (-torch.log_softmax(logits.float(), dim=1)).clamp(0.0, 50.0)
    p = torch.exp(-ce)
    labels = labels.to(p.device).long()
    p_y = p.gather(1, labels[:, None]).squeeze(1)
    p_rest = p.scatter(1, labels[:, None], 0.0).sum(dim=1)
    return (torch.log(p_y.clamp_min(1e-15)) - torch.log(p_rest.clamp_min(1e-15))).double()


PHI = {"exact": lira_score, "reference": lira_score_reference}
# The swapped-role re-run: against the held-out images of the forget classes (ours), or of every
# class (the reference's code, ``swap_full_heldout``).
FOLDS = ("forget_classes", "test")


def _as_numpy(scores: Scores) -> np.ndarray:
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().cpu().double().numpy()
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def _oof_auc(member: np.ndarray, nonmember: np.ndarray, seed: int, folds: int) -> float:
    """One run of the reference attack: balance, 1-D LR, stratified k-fold OOF ROC-AUC x 100."""
    from sklearn.linear_model import LogisticRegression  # scikit-learn when a score is computed:
    from sklearn.metrics import roc_auc_score  # at import it is a second of every refusal's start-up
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    m = min(len(member), len(nonmember))
    if m < folds:  # StratifiedKFold needs >= folds samples of each class
        return float("nan")
    # The reference kept the *first* m of each list, but its loaders were shuffled, so that
    # was a random subset. Our inputs may be ordered (by class, by index), so draw a seeded
    # random m of each rather than reproduce "first m" literally.
    rng = np.random.default_rng(seed)
    member = member[rng.permutation(len(member))[:m]]
    nonmember = nonmember[rng.permutation(len(nonmember))[:m]]
    x = np.concatenate([member, nonmember]).reshape(-1, 1)
    y = np.concatenate([np.zeros(m, dtype=np.int64), np.ones(m, dtype=np.int64)])
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    proba = cross_val_predict(LogisticRegression(), x, y, cv=cv, method="predict_proba")[:, 1]
    return 100.0 * float(roc_auc_score(y, proba))


def _folded(
    first: tuple[np.ndarray, np.ndarray],
    swapped: tuple[np.ndarray, np.ndarray],
    seed: int,
    folds: int,
    fold_threshold: float,
) -> float:
    """Spec 7.2 step 4: if the AUC is <= the threshold, re-run with roles swapped, keep the max."""
    auc = _oof_auc(*first, seed, folds)
    if not auc <= fold_threshold:  # also returns nan as is
        return auc
    return max(auc, _oof_auc(*swapped, seed, folds))


def folded_auc(
    member_scores: Scores,
    nonmember_scores: Scores,
    seed: int = 0,
    folds: int = 5,
    fold_threshold: float = 42.0,
) -> float:
    """The paper's attack AUC (x 100) on 1-D scores; 50 = indistinguishable.

    Both sides are truncated to m = min(sizes) by a ``seed``-ed random choice, labelled
    0 (member) / 1 (non-member), and attacked by a default sklearn LogisticRegression with
    StratifiedKFold(folds, shuffle=True, random_state=0) out-of-fold ``predict_proba``.
    If the AUC is <= ``fold_threshold`` it is recomputed with the roles swapped and the
    maximum is reported. Fewer than ``folds`` samples on either side (stratified k-fold is
    impossible) gives nan rather than an error, so an empty forget class cannot crash a sweep.
    Scores must be finite.
    """
    member, nonmember = _as_numpy(member_scores), _as_numpy(nonmember_scores)
    return _folded((member, nonmember), (nonmember, member), seed, folds, fold_threshold)


def _in_classes(labels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return torch.isin(labels, classes.to(labels.device))


def forget_mia(
    net: nn.Module,
    forget: EvalSet,
    heldout: EvalSet,
    seed: int = 0,
    *,
    swap_full_heldout: bool = False,
) -> float:
    """The paper's ``mia`` metric: forget set vs held-out test of the forget classes (spec S8).

    Members are all of ``forget``; non-members are the ``heldout`` samples whose class occurs
    in the forget set (class-wise forgetting compares against unseen images of the same class,
    not against easy other-class images). phi uses ``y``, the label training saw.

    The swapped-role re-run (AUC <= 42) follows the reference: the held-out samples play
    "forget", and the forget set is filtered to the classes of those held-out samples. With
    the default (filtered held-out set) the held-out classes are a subset of the forget
    classes, so that filter is a no-op unless a forget class has no held-out sample at all.
    ``swap_full_heldout=True`` reproduces the reference code literally: its swap passed the
    *unfiltered* test loader, so the re-run compares all held-out classes against the forget
    set, which in class-wise forgetting is an easy (high-AUC) comparison.

    Used with the full training set as ``forget`` it is the post-pretraining train-vs-test MIA
    (spec 7.2 step 5).
    """
    return folded_forget_auc(logits(net, forget), forget.y, logits(net, heldout), heldout.y, seed,
                             swap_full_heldout=swap_full_heldout)


def folded_forget_auc(
    forget_logits: torch.Tensor,
    forget_y: torch.Tensor,
    heldout_logits: torch.Tensor,
    heldout_y: torch.Tensor,
    seed: int = 0,
    *,
    swap_full_heldout: bool = False,
    phi: str = "exact",
) -> float:
    """``forget_mia`` on logits already computed (scoring one model reads them for several metrics).

    ``phi``: ``exact`` (float64, never saturates) or ``reference`` (the reference's float32 form).
    """
    if phi not in PHI:
        from unlearn.errors import bad_value

        raise bad_value("unlearn.mia_phi", phi, PHI)
    forget_phi = PHI[phi](forget_logits, forget_y).cpu()
    heldout_phi = PHI[phi](heldout_logits, heldout_y).cpu()
    forget_y, heldout_y = forget_y.cpu(), heldout_y.cpu()

    keep = _in_classes(heldout_y, forget_y.unique())
    swap_phi, swap_y = (heldout_phi, heldout_y) if swap_full_heldout else (heldout_phi[keep], heldout_y[keep])
    first = (_as_numpy(forget_phi), _as_numpy(heldout_phi[keep]))
    swapped = (_as_numpy(swap_phi), _as_numpy(forget_phi[_in_classes(forget_y, swap_y.unique())]))
    return _folded(first, swapped, seed, folds=5, fold_threshold=42.0)


def loss_threshold_auc(member_losses: Scores, nonmember_losses: Scores) -> float:
    """ROC-AUC x 100 of the threshold attack "lower loss => member"; 50 = indistinguishable.

    No balancing, folding or training: every threshold on the loss is scored at once, so
    this is the simplest per-example attack and a sanity check on ``forget_mia``. Unlike it,
    the direction is fixed, so values below 50 mean members have *higher* loss than
    non-members (e.g. over-unlearning). nan if either side is empty.
    """
    from sklearn.metrics import roc_auc_score

    member, nonmember = _as_numpy(member_losses), _as_numpy(nonmember_losses)
    if len(member) == 0 or len(nonmember) == 0:
        return float("nan")
    y = np.concatenate([np.ones(len(member)), np.zeros(len(nonmember))])
    return 100.0 * float(roc_auc_score(y, -np.concatenate([member, nonmember])))

