"""A-AMU's regulariser (spec blend_aamu 4.1): match the shape of the forget-loss distribution to
that of unseen in-distribution data.

Each set's per-sample losses go through T, a soft within-set empirical CDF of log(1 + loss)
followed by the probit, and the two transformed samples are compared by a biased Gaussian-kernel
MMD^2. Every sigmoid term is relu-clipped (so >= 1/2) and includes the self term: T is blind to a
common shift of the log-losses and sees their spread, so the regulariser moves the dispersion of
the forget losses towards the unseen ones, not their level. A joint CDF over both sets would be a
different method.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gaussianise(losses: Tensor, k: float = 2.0, clamp: float = 60.0) -> Tensor:
    s = torch.log1p(losses + 1e-8)
    cdf = torch.sigmoid(k * torch.relu(s[:, None] - s[None, :])).mean(dim=1)
    return torch.special.ndtri(cdf).clamp(-clamp, clamp)


def mmd2(u: Tensor, v: Tensor, sigma: float = 1.0) -> Tensor:
    """Biased (V-statistic) MMD^2 of two 1-D samples, Gaussian kernel, diagonals included."""
    def kernel(a: Tensor, b: Tensor) -> Tensor:
        return torch.exp(-((a[:, None] - b[None, :]) ** 2) / (2 * sigma**2)).mean()

    return kernel(u, u) + kernel(v, v) - 2 * kernel(u, v)


def loss_matching(forget_losses: Tensor, unseen_losses: Tensor, k: float = 2.0, sigma: float = 1.0) -> Tensor:
    """MMD^2(T(unseen), T(forget)); the unseen branch carries no gradient."""
    return mmd2(gaussianise(unseen_losses.detach(), k), gaussianise(forget_losses, k), sigma)
