"""Membership-inference metrics on hand-built cases whose AUC is known (spec 7.2, S8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from unlearn.eval import mia
from unlearn.eval.evalset import EvalSet
from unlearn.eval.mia import folded_auc, forget_mia, lira_score, loss_threshold_auc

C = 3


def normal(seed: int, n: int, mean: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, n)


def logits_with_phi(phi: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """C=3 logits whose lira_score is exactly ``phi``: z_y = phi + log 2, the other two 0."""
    z = torch.zeros(len(phi), C, dtype=torch.float64)
    z[torch.arange(len(phi)), labels] = phi.double() + math.log(2.0)
    return z


def evalset(phi: np.ndarray, label: int) -> EvalSet:
    """An EvalSet whose x *are* the logits (for an identity net) of samples of one class."""
    y = torch.full((len(phi),), label, dtype=torch.long)
    return EvalSet(logits_with_phi(torch.as_tensor(phi), y).float(), y, y.clone(), torch.zeros_like(y))


def cat(*sets: EvalSet) -> EvalSet:
    return EvalSet(*(torch.cat([getattr(s, k) for s in sets]) for k in ("x", "y", "y_true", "flag")))


@pytest.fixture
def identity_net() -> nn.Module:
    net = nn.Linear(C, C)
    with torch.no_grad():
        net.weight.copy_(torch.eye(C))
        net.bias.zero_()
    return net


# ---- (e) the statistic ------------------------------------------------------------------


def test_lira_score_is_the_logit_of_p_y_for_moderate_logits():
    z = torch.randn(64, 10, generator=torch.Generator().manual_seed(0)) * 3
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(1))
    p_y = torch.softmax(z.double(), 1)[torch.arange(64), y]
    torch.testing.assert_close(lira_score(z, y), torch.log(p_y / (1 - p_y)))


def reference_phi(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The reference's clamped form, per the spec: CE clamped to [0, 50], log args floored at 1e-15."""
    ce = -torch.log_softmax(z.double(), 1).clamp(-50.0, 0.0)  # per-class CE in [0, 50]
    e = torch.exp(-ce)
    pos = e[torch.arange(len(y)), y]
    neg = e.sum(1) - pos
    return torch.log(pos.clamp_min(1e-15)) - torch.log(neg.clamp_min(1e-15))


def test_lira_score_matches_the_clamped_reference_outside_saturation_and_stays_finite():
    z = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [10.0, 1.0, 3.0]])
    y = torch.tensor([0, 2, 1])
    torch.testing.assert_close(lira_score(z, y), reference_phi(z, y))

    extreme = torch.tensor([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [-1e4, 1e4, 1e4], [3e38, -3e38, 0.0]])
    labels = torch.tensor([0, 2, 1, 1])
    phi = lira_score(extreme, labels)
    assert torch.isfinite(phi).all()
    assert phi[0] == pytest.approx(1e4) and phi[1] == pytest.approx(-2e4) and phi[2] == 0  # p_y = 1/2
    # the reference saturates near +-log(1e15) there; ours keeps the order
    assert reference_phi(extreme[:2], labels[:2]).abs().max() <= -math.log(1e-15) + 1e-9


# ---- folded_auc -------------------------------------------------------------------------


def test_members_far_above_nonmembers_is_near_100():  # (a)
    assert folded_auc(normal(0, 500, mean=10.0), normal(1, 500)) > 99


def test_identical_distributions_are_near_50():  # (b)
    same = normal(0, 4000)
    assert folded_auc(same, same.copy()) == pytest.approx(50, abs=5)


def test_members_far_below_nonmembers_is_near_100_too():  # (c)
    """A direct ranking by phi would give ~0 here, but the attacker is a fitted LR that learns
    the slope's sign, so the AUC is ~100 without needing the fold (the fold never makes it worse)."""
    members, nonmembers = normal(0, 500, mean=-10.0), normal(1, 500)
    labels = np.r_[np.zeros(500), np.ones(500)]
    raw = np.r_[members, nonmembers]
    assert 100 * roc_auc_score(labels, -raw) < 1  # scoring "higher phi => non-member" naively fails
    assert folded_auc(members, nonmembers) > 99


def test_fold_rule_swaps_roles_only_at_or_below_threshold(monkeypatch):
    calls: list[tuple[float, float]] = []

    def fake(values):
        it = iter(values)

        def oof(member, nonmember, seed, folds):
            calls.append((float(member[0]), float(nonmember[0])))
            return next(it)

        return oof

    a, b = np.full(10, 1.0), np.full(10, 2.0)
    monkeypatch.setattr(mia, "_oof_auc", fake([30.0, 60.0]))
    assert folded_auc(a, b) == 60.0 and calls == [(1.0, 2.0), (2.0, 1.0)]
    calls.clear()
    monkeypatch.setattr(mia, "_oof_auc", fake([42.0, 20.0]))
    assert folded_auc(a, b) == 42.0 and len(calls) == 2  # <= 42 triggers, the max is kept
    calls.clear()
    monkeypatch.setattr(mia, "_oof_auc", fake([42.5]))
    assert folded_auc(a, b) == 42.5 and len(calls) == 1


def test_fold_on_a_real_near_chance_case():
    """Out-of-fold AUC is biased below 50 without signal; the fold re-runs with roles swapped.
    Swapping is not 100 - AUC (the LR is sign-free), it is a second draw of folds and subsets."""
    for s in range(50):
        a, b = normal(2 * s, 20), normal(2 * s + 1, 20)
        raw = mia._oof_auc(a, b, 0, 5)
        if raw <= 42:
            swapped = mia._oof_auc(b, a, 0, 5)
            assert folded_auc(a, b) == max(raw, swapped)
            assert folded_auc(a, b) >= raw
            return
    pytest.fail("expected some near-chance draw with out-of-fold AUC <= 42")


def test_too_few_samples_is_nan():  # (g)
    assert math.isnan(folded_auc(normal(0, 4), normal(1, 100)))
    assert math.isnan(folded_auc([], []))
    assert not math.isnan(folded_auc(normal(0, 5), normal(1, 100)))
    assert math.isnan(folded_auc(normal(0, 100), normal(1, 9), folds=10))


def test_deterministic_for_a_seed_and_the_subset_depends_on_it():  # (h)
    members, nonmembers = normal(0, 300, mean=0.3), normal(1, 120)
    assert folded_auc(members, nonmembers, seed=3) == folded_auc(members, nonmembers, seed=3)
    assert folded_auc(torch.as_tensor(members), list(nonmembers), seed=3) == folded_auc(members, nonmembers, seed=3)
    assert len({folded_auc(members, nonmembers, seed=s) for s in range(4)}) > 1


def test_truncation_is_a_random_subset_not_the_first_m():
    """Members sorted ascending: the first 100 would all sit far below the non-members."""
    members = np.sort(normal(0, 2000))
    nonmembers = normal(1, 100)
    assert folded_auc(members, nonmembers) < 65


# ---- loss_threshold_auc -----------------------------------------------------------------


def test_loss_threshold_auc_hand_computed():  # (d)
    # member/non-member pairs where the member's loss is lower: (0.1, 0.3), (0.2, 0.3) of 4
    assert loss_threshold_auc([0.1, 0.2], [0.3, 0.05]) == 50.0
    # ties count one half: 0.1 beats both, 0.3 ties 0.3 and beats 0.5 -> 3.5 / 4
    assert loss_threshold_auc(torch.tensor([0.1, 0.3], dtype=torch.float64), np.array([0.3, 0.5])) == 87.5
    # 0.1 and 0.2 beat 0.3 and 0.5; 0.4 beats 0.5 -> 5 / 9
    assert loss_threshold_auc([0.1, 0.2, 0.4], [0.3, 0.05, 0.5]) == pytest.approx(500 / 9, rel=1e-12)
    assert loss_threshold_auc([0.1], [0.2]) == 100.0 and loss_threshold_auc([0.2], [0.1]) == 0.0
    assert math.isnan(loss_threshold_auc([], [0.1]))


# ---- forget_mia ---------------------------------------------------------------------------


def test_forget_mia_uses_only_heldout_samples_of_the_forget_classes(identity_net):  # (f)
    forget = evalset(normal(0, 800, mean=2.0), label=0)
    same_class = evalset(normal(1, 800, mean=2.0), label=0)  # indistinguishable from the forget set
    other_class = evalset(normal(2, 5000, mean=-8.0), label=1)  # would be trivially separable
    heldout = cat(other_class, same_class)

    assert forget_mia(identity_net, forget, heldout) == pytest.approx(50, abs=6)
    assert forget_mia(identity_net, forget, heldout) == forget_mia(identity_net, forget, same_class)
    # without the class filter ~86 % of the non-members would be other-class: AUC ~ 0.86 * 100 + 0.14 * 50
    all_heldout = lira_score(heldout.x, heldout.y)
    assert folded_auc(lira_score(forget.x, forget.y), all_heldout) > 90


def test_forget_mia_scores_with_lira_and_detects_memorised_forget_set(identity_net):
    forget = evalset(normal(0, 400, mean=6.0), label=2)
    heldout = cat(evalset(normal(1, 400, mean=0.0), label=2), evalset(normal(2, 400, mean=6.0), label=0))
    assert forget_mia(identity_net, forget, heldout) > 99
    assert math.isnan(forget_mia(identity_net, forget, evalset(normal(3, 50), label=1)))  # no same-class non-member


def test_forget_mia_swap_follows_the_reference(identity_net, monkeypatch):
    """Swap: held-out plays "forget", the forget set filtered to the held-out classes (spec 7.2.4)."""
    forget = cat(evalset(np.full(10, 1.0), 0), evalset(np.full(10, 2.0), 1))
    heldout = cat(evalset(np.full(10, 3.0), 0), evalset(np.full(10, 4.0), 2))  # class 1 has no held-out sample
    calls: list[tuple[np.ndarray, np.ndarray]] = []

    def oof(member, nonmember, seed, folds):
        calls.append((np.round(member, 4), np.round(nonmember, 4)))
        return 10.0 * len(calls)

    monkeypatch.setattr(mia, "_oof_auc", oof)
    assert forget_mia(identity_net, forget, heldout) == 20.0
    (m1, n1), (m2, n2) = calls
    assert sorted(set(m1)) == [1.0, 2.0] and set(n1) == {3.0}  # held-out filtered to forget classes
    assert set(m2) == {3.0} and set(n2) == {1.0} and len(n2) == 10  # forget filtered to held-out classes

    calls.clear()
    forget_mia(identity_net, forget, heldout, swap_full_heldout=True)
    (_, _), (m2, n2) = calls
    assert set(m2) == {3.0, 4.0} and set(n2) == {1.0} and len(n2) == 10  # the reference's unfiltered test set
