"""The shadow-model (offline LiRA) attack on hand-built cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_mia import evalset, identity_net  # noqa: F401  (fixture)
from unlearn.data.splits import balanced_halves
from unlearn.errors import ConfigError
from unlearn.eval.lira import ShadowAttack, membership_auc, out_statistics
from unlearn.eval.mia import folded_auc


def test_every_example_is_in_exactly_half_of_the_shadows():
    m = balanced_halves(1000, 8, seed=3)
    assert m.shape == (8, 1000) and (m.sum(0) == 4).all()
    assert 400 < int(m[0].sum()) < 600  # each shadow sees about half the data, a different half
    assert not torch.equal(m[0], m[1]) and torch.equal(m, balanced_halves(1000, 8, seed=3))
    with pytest.raises(ConfigError, match="unlearn.shadows=1"):
        balanced_halves(10, 1, seed=0)


def test_out_statistics_use_only_the_shadows_that_did_not_train_on_an_example():
    phi = torch.tensor([[1.0, 10.0], [3.0, 20.0], [100.0, 30.0]])
    seen = torch.tensor([[False, True], [False, False], [True, False]])
    mean, std = out_statistics(phi, seen)
    assert mean.tolist() == [2.0, 25.0]  # (1 + 3) / 2 and (20 + 30) / 2: the 100 and the 10 were "in"
    # pooled over both examples: residuals -1, 1, -5, 5 with 2 x (2 - 1) degrees of freedom
    assert std == pytest.approx(((1 + 1 + 25 + 25) / 2) ** 0.5)


def test_membership_auc_hand_computed():
    assert membership_auc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 100.0
    assert membership_auc(torch.tensor([1.0, 4.0]), torch.tensor([2.0, 3.0])) == 50.0
    assert np.isnan(membership_auc(torch.tensor([]), torch.tensor([1.0])))


def _difficulty_case(bump: float, n: int = 500):
    """Examples of very different difficulty (phi spread over [-10, 10]); members sit ``bump``
    above what models that never saw them give them (shadows know each example's level to +-0.1)."""
    rng = np.random.default_rng(0)
    level_f, level_e = rng.uniform(-10, 10, n), rng.uniform(-10, 10, n)
    attack = ShadowAttack(torch.as_tensor(level_f), 0.1, torch.as_tensor(level_e), 0.1, torch.ones(n, dtype=torch.bool))
    forget = evalset(level_f + bump + rng.normal(0, 0.1, n), label=0)
    evaluation = evalset(level_e + rng.normal(0, 0.1, n), label=0)
    return attack, forget, evaluation


def test_per_example_calibration_finds_members_a_global_threshold_misses(identity_net):  # noqa: F811
    attack, forget, evaluation = _difficulty_case(bump=1.0)
    # A bump of 1 is small against a spread of 20: one threshold for everyone barely sees it ...
    assert folded_auc(forget.x[:, 0].numpy(), evaluation.x[:, 0].numpy()) < 62
    # ... while comparing each example with its own out-level separates members almost perfectly.
    assert attack.auc(identity_net, forget, evaluation) > 99


def test_no_membership_signal_is_near_50(identity_net):  # noqa: F811
    attack, forget, evaluation = _difficulty_case(bump=0.0)
    assert attack.auc(identity_net, forget, evaluation) == pytest.approx(50, abs=5)


def test_scores_reads_each_split_once_and_matches_the_one_metric_functions(identity_net):  # noqa: F811
    from test_mia import cat

    from unlearn.eval.evalset import accuracy
    from unlearn.eval.mia import forget_mia, loss_threshold_auc
    from unlearn.unlearning.request import ForgetData
    from unlearn.unlearning.scores import scores

    attack, forget, evaluation = _difficulty_case(bump=1.0, n=200)
    half_wrong = np.r_[np.full(20, -2.0), np.full(20, 2.0)]  # phi = -2: the other classes' logits win
    retain = cat(evalset(half_wrong, label=1), evalset(half_wrong, label=2))
    data = ForgetData(forget, retain, evaluation, evaluation, retain.x, retain.y, torch.arange(len(forget)))
    seen: list[int] = []
    identity_net.register_forward_hook(lambda mod, inp, out: seen.append(len(inp[0])))
    got = scores(identity_net, data, seed=0, attack=attack)
    assert sorted(seen) == sorted([len(forget), len(evaluation), len(retain)])  # batch 1024 > every split

    def ce(s):  # noqa: ANN001, ANN202
        return torch.nn.functional.cross_entropy(s.x, s.y, reduction="none")

    expected = {
        "forget_acc": accuracy(identity_net, forget), "retain_acc": accuracy(identity_net, retain),
        "test_acc": accuracy(identity_net, evaluation), "mia": forget_mia(identity_net, forget, evaluation, 0),
        "mia_loss": loss_threshold_auc(ce(forget), ce(evaluation)),
        "mia_lira": attack.auc(identity_net, forget, evaluation),
    }
    assert got == pytest.approx(expected, rel=1e-12)
    assert got["mia_lira"] > 99 and got["retain_acc"] == 0.5
