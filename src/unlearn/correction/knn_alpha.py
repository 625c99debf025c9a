"""Label-free choice of alpha for label noise: KNN self-agreement (spec 5).

Subtracting the proxy vector should make the model's predicted labels agree with the
clustering of its own feature space; the score is that agreement, chance-corrected with
the soft class marginal and penalised when a few classes absorb every prediction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


def self_agreement_score(
    features: torch.Tensor, probs: torch.Tensor, k: int, num_classes: int, coverage: float = 1.0,
    cov_penalty_weight: float = 1.0,
) -> float:
    """Score of one alpha from L2-normalised features ``[N, D]`` and softmax outputs ``[N, K]``."""
    preds = probs.argmax(dim=1)
    counts = torch.bincount(preds, minlength=num_classes)
    hard_min = min(k + 1, max(3, k))
    supported = int((counts >= hard_min).sum())
    required = max(2, min(num_classes, math.ceil(coverage * num_classes)))
    if supported < 2:
        return -1e6 - (2 - supported)
    # Brute force: tree indexes are slower than one matrix product on wide features.
    from sklearn.neighbors import NearestNeighbors  # when used: a second of start-up otherwise

    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(features.numpy())
    neighbours = nn.kneighbors(features.numpy(), return_distance=False)[:, 1:]
    p = preds.numpy()
    agreement = float(np.mean(p[neighbours] == p[:, None]))
    p_match = float((probs.mean(dim=0) ** 2).sum())
    adjusted = (agreement - p_match) / max(1e-8, 1.0 - p_match)
    effective = 1.0 / p_match
    target = max(2, required)
    penalty_eff = max(0.0, target - effective) / target
    penalty_cov = cov_penalty_weight * max(0, required - supported) / required
    return adjusted - penalty_eff - penalty_cov


def default_k(support_size: int, num_classes: int) -> int:
    """k = floor(|support| / K / 2), at least 1."""
    return max(1, support_size // num_classes // 2)


@dataclass
class AlphaSearch:
    alpha: float
    scores: dict[float, float] = field(default_factory=dict)


def search_alpha(
    grid: Sequence[float],
    features_at: Callable[[float], tuple[torch.Tensor, torch.Tensor]],
    k: int,
    num_classes: int,
    coverage: float = 1.0,
    patience: int = 10,
) -> AlphaSearch:
    """Walk ``grid`` in order; ``features_at(alpha)`` gives (normalised features, probs).

    The first maximum wins; the walk stops once ``patience`` consecutive scores have
    strictly decreased.
    """
    best_alpha, best = float(grid[0]), -math.inf
    scores: dict[float, float] = {}
    recent: list[float] = []
    for alpha in grid:
        feats, probs = features_at(float(alpha))
        score = self_agreement_score(feats, probs, k, num_classes, coverage)
        scores[float(alpha)] = score
        if score > best:
            best, best_alpha = score, float(alpha)
        recent = (recent + [score])[-(patience + 1) :]
        if len(recent) == patience + 1 and all(b < a for a, b in zip(recent, recent[1:])):
            break
    return AlphaSearch(best_alpha + 0.0, scores)  # + 0.0 turns -0.0 into 0.0 (spec 12)
