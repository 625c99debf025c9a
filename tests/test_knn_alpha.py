"""KNN self-agreement alpha estimator (spec 5) on hand-built features with hand-computed scores."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.correction import knn_alpha
from unlearn.correction.knn_alpha import default_k, search_alpha, self_agreement_score

# Six unit vectors at these angles: two clusters, and the nearest neighbour (k=1) of each point
# is unambiguous: 0->1, 1->0, 2->1, 3->4, 4->3, 5->4.
ANGLES_DEG = [0.0, 10.0, 25.0, 90.0, 100.0, 115.0]


def circle(angles_deg: list[float]) -> torch.Tensor:
    t = torch.tensor(angles_deg, dtype=torch.float64) * math.pi / 180.0
    return torch.stack([torch.cos(t), torch.sin(t)], dim=1)


# Argmax: 0, 0, 1, 1, 1, 0 -> two of the six nearest-neighbour pairs disagree (2->1 and 5->4).
PROBS3 = torch.tensor(
    [
        [0.7, 0.2, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.5, 0.3],
        [0.3, 0.6, 0.1],
        [0.1, 0.8, 0.1],
        [0.5, 0.2, 0.3],
    ],
    dtype=torch.float64,
)


def test_hand_computed_score_with_both_penalties() -> None:
    # K=3, class 2 is never predicted. k=1: hard_min = min(2, max(3, 1)) = 2, both predicted
    # classes have 3 >= 2 members, so S = 2; coverage 1 -> R = max(2, min(3, 3)) = 3.
    sa = 4 / 6
    # Column sums 2.4, 2.6, 1.0 over 6 rows -> P_match = (2.4^2 + 2.6^2 + 1^2) / 36 = 13.52 / 36.
    p_match = (2.4**2 + 2.6**2 + 1.0**2) / 36
    sa_adj = (sa - p_match) / (1 - p_match)  # = 10.48 / 22.48
    penalty_eff = (3 - 1 / p_match) / 3  # T = max(2, R) = 3, E = 36 / 13.52
    penalty_cov = (3 - 2) / 3
    expected = sa_adj - penalty_eff - penalty_cov
    assert expected == pytest.approx(10.48 / 22.48 - (3 - 36 / 13.52) / 3 - 1 / 3, abs=1e-12)
    assert expected == pytest.approx(0.0204327, abs=1e-6)
    score = self_agreement_score(circle(ANGLES_DEG), PROBS3, k=1, num_classes=3, coverage=1.0)
    assert score == pytest.approx(expected, abs=1e-9)


def test_hand_computed_score_coverage_relaxes_penalties() -> None:
    # coverage 0.5: R = max(2, min(3, ceil(1.5))) = 2 = S, T = 2 < E = 2.66 -> no penalties.
    p_match = 13.52 / 36
    expected = (4 / 6 - p_match) / (1 - p_match)
    score = self_agreement_score(circle(ANGLES_DEG), PROBS3, k=1, num_classes=3, coverage=0.5)
    assert score == pytest.approx(expected, abs=1e-9)
    # The coverage penalty weight scales only the coverage term.
    p_eff = (3 - 1 / p_match) / 3
    heavy = self_agreement_score(circle(ANGLES_DEG), PROBS3, 1, 3, 1.0, cov_penalty_weight=3.0)
    assert heavy == pytest.approx(expected - p_eff - 3.0 * (1 / 3), abs=1e-9)


def test_hand_computed_two_class_score() -> None:
    # K=2: R = 2 = S, so only the (tiny) effective-class penalty applies.
    probs = PROBS3[:, :2] / PROBS3[:, :2].sum(dim=1, keepdim=True)
    p_bar = probs.mean(dim=0)
    p_match = float((p_bar**2).sum())
    expected = (4 / 6 - p_match) / (1 - p_match) - max(0.0, 2 - 1 / p_match) / 2
    assert 1 / p_match < 2  # so the penalty is really exercised
    score = self_agreement_score(circle(ANGLES_DEG), probs, k=1, num_classes=2)
    assert score == pytest.approx(expected, abs=1e-9)


def one_hot_probs(preds: list[int], k: int, confidence: float = 0.9) -> torch.Tensor:
    probs = torch.full((len(preds), k), (1 - confidence) / (k - 1), dtype=torch.float64)
    probs[torch.arange(len(preds)), torch.tensor(preds)] = confidence
    return probs


def two_clusters(n_per: int = 30, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    x = centres.repeat_interleave(n_per, dim=0) + 0.05 * torch.randn(2 * n_per, 3, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def test_cluster_consistent_predictions_score_higher() -> None:
    feats = two_clusters()
    matching = [0] * 30 + [1] * 30
    gen = torch.Generator().manual_seed(1)
    scrambled = [int(v) for v in torch.randint(0, 2, (60,), generator=gen)]
    alternating = [i % 2 for i in range(60)]
    s_match = self_agreement_score(feats, one_hot_probs(matching, 2), k=5, num_classes=2)
    s_scr = self_agreement_score(feats, one_hot_probs(scrambled, 2), k=5, num_classes=2)
    s_alt = self_agreement_score(feats, one_hot_probs(alternating, 2), k=5, num_classes=2)
    # Perfect agreement with balanced marginals: SA = 1 -> SA_adj = 1, E = 2 -> no penalty.
    assert s_match == pytest.approx(1.0, abs=1e-9)
    assert s_scr < 0.5 and s_alt < 0.5
    assert s_match > s_scr and s_match > s_alt


def test_degenerate_predictions_return_sentinel() -> None:
    feats = two_clusters()
    # All one class: S = 1 -> -1e6 - (2 - 1).
    assert self_agreement_score(feats, one_hot_probs([1] * 60, 2), k=5, num_classes=2) == -1e6 - 1
    # k=5 -> hard_min = 5; 4 + 2 + ... classes each below 5 members -> S = 0 -> -1e6 - 2.
    few = circle([0.0, 10.0, 20.0, 30.0, 90.0, 100.0])
    assert self_agreement_score(few, one_hot_probs([0, 0, 0, 0, 1, 1], 2), k=5, num_classes=2) == -1e6 - 2
    # hard_min = min(k+1, max(3, k)): with k=1 a class needs 2 predictions, a lone one is unsupported.
    assert self_agreement_score(few, one_hot_probs([0, 0, 0, 0, 0, 1], 2), k=1, num_classes=2) == -1e6 - 1
    assert self_agreement_score(few, one_hot_probs([0, 0, 0, 0, 1, 1], 2), k=1, num_classes=2) > -1e5


def test_hard_min_with_k_two_needs_three_members() -> None:
    # k=2 -> hard_min = min(3, max(3, 2)) = 3: a class with 2 predictions does not count.
    few = circle([0.0, 10.0, 20.0, 30.0, 90.0, 100.0])
    assert self_agreement_score(few, one_hot_probs([0, 0, 0, 0, 1, 1], 2), k=2, num_classes=2) == -1e6 - 1
    assert self_agreement_score(few, one_hot_probs([0, 0, 0, 1, 1, 1], 2), k=2, num_classes=2) > -1e5


@pytest.mark.parametrize(
    ("n", "classes", "k"),
    [(1195, 10, 59), (1000, 10, 50), (1000, 100, 5), (130, 10, 6), (39, 10, 1), (19, 10, 1), (0, 10, 1), (21, 10, 1)],
)
def test_default_k(n: int, classes: int, k: int) -> None:
    assert default_k(n, classes) == k == max(1, math.floor(n / classes / 2))


class ScoredByFeature:
    """A fake ``features_at`` whose score is carried in the features (see ``patched_score``)."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores
        self.calls: list[float] = []

    def __call__(self, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        i = len(self.calls)
        self.calls.append(alpha)
        return torch.tensor([[self.scores[i]]], dtype=torch.float64), torch.ones(1, 2) / 2


@pytest.fixture
def patched_score(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, float]]:
    seen: list[tuple[int, int, float]] = []

    def fake(features, probs, k, num_classes, coverage=1.0, cov_penalty_weight=1.0):  # noqa: ANN001, ANN202
        seen.append((k, num_classes, coverage))
        return float(features[0, 0])

    monkeypatch.setattr(knn_alpha, "self_agreement_score", fake)
    return seen


def test_search_first_maximum_and_early_stop(patched_score) -> None:  # noqa: ANN001
    grid = [0.0, -0.05, -0.1, -0.15, -0.2, -0.25, -0.3, -0.35]
    # Max 0.5 first at -0.05 (tie at -0.1 loses); then 0.5 > 0.4 > 0.3 > 0.2 is 3 strict decreases.
    fake = ScoredByFeature([0.1, 0.5, 0.5, 0.4, 0.3, 0.2, 0.9, 1.0])
    result = search_alpha(grid, fake, k=7, num_classes=4, coverage=0.95, patience=3)
    assert fake.calls == grid[:6]
    assert result.alpha == -0.05
    assert result.scores == dict(zip(grid[:6], [0.1, 0.5, 0.5, 0.4, 0.3, 0.2]))
    assert patched_score == [(7, 4, 0.95)] * 6


def test_search_plateau_resets_the_decrease_run(patched_score) -> None:  # noqa: ANN001
    grid = [0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0]
    fake = ScoredByFeature([1.0, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5])
    result = search_alpha(grid, fake, k=1, num_classes=2, patience=3)
    # Windows [1,.9,.9,.8] and [.9,.9,.8,.7] contain a tie; [.9,.8,.7,.6] stops after the 6th call.
    assert fake.calls == grid[:6]
    assert result.alpha == 0.0


def test_search_runs_whole_grid_without_patience_decreases(patched_score) -> None:  # noqa: ANN001
    grid = [-0.05 * i for i in range(12)]
    fake = ScoredByFeature([0.0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -8, -20])
    result = search_alpha(grid, fake, k=1, num_classes=2)  # default patience 10: needs 11 in a row
    assert fake.calls == grid
    assert result.alpha == 0.0
    fake = ScoredByFeature([0.0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, 5])
    result = search_alpha(grid, fake, k=1, num_classes=2)
    assert fake.calls == grid[:11]  # 10 strict decreases -> stop before the 5.0 at the end
    assert result.alpha == 0.0


def test_search_returns_positive_zero(patched_score) -> None:  # noqa: ANN001
    fake = ScoredByFeature([2.0, 1.0])
    result = search_alpha([-0.0, -0.05], fake, k=1, num_classes=2)
    assert result.alpha == 0.0 and math.copysign(1.0, result.alpha) == 1.0
    assert isinstance(result.alpha, float)


def test_search_with_real_scores_picks_the_clustered_alpha() -> None:
    feats = two_clusters()
    matching = [0] * 30 + [1] * 30
    scrambled = [i % 2 for i in range(60)]
    half = [0] * 15 + [1] * 15 + [0] * 30
    preds = {0.0: scrambled, -0.5: half, -1.0: matching, -1.5: half, -2.0: [1] * 60}
    calls: list[float] = []

    def features_at(alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(alpha)
        return feats, one_hot_probs(preds[alpha], 2)

    result = search_alpha(list(preds), features_at, k=5, num_classes=2)
    assert calls == list(preds)
    assert result.alpha == -1.0
    for alpha, p in preds.items():
        assert result.scores[alpha] == self_agreement_score(feats, one_hot_probs(p, 2), 5, 2)
    assert result.scores[-2.0] == -1e6 - 1
    assert result.scores[-1.0] == pytest.approx(1.0, abs=1e-9)
