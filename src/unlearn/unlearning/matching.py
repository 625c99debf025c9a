"""A-AMU's regulariser (spec blend_aamu 4.1): match the shape of the forget-loss distribution to
that of unseen in-distribution data.

Each set's per-sample losses go through T, a soft within-set empirical CDF of log(1 + loss)
followed by the probit, and the two transformed samples are compared by a biased Gaussian-kernel
MMD^2. Every sigmoid term is relu-clipped (so >= 1/2) and includes the self term: T is blind to a
common shift of the log-losses and sees their spread, so the regulariser moves the dispersion of
the forget losses towards the unseen ones, not their level. A joint CDF over both sets would be a
different method.

``matching_term`` draws the two samples per step, as A-AMU and A-SCRUB do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.errors import ConfigError
from unlearn.unlearning.fit import sample_rows
from unlearn.unlearning.request import ForgetData


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


def matching_term(data: ForgetData, sample: int, k: float, sigma: float,
                  gen: torch.Generator) -> Callable[[nn.Module], Tensor]:
    """The regulariser as ``term(model)``: each call draws ``sample`` forget images and ``sample``
    unseen images of the classes in that draw afresh (with ``gen``) and returns MMD^2 of their
    transformed losses, the unseen branch without gradient. Shared by A-AMU and A-SCRUB."""
    device = data.forget.y.device
    forget_rows = torch.arange(len(data.forget), device=device)
    unseen_by_class = {int(c): (data.unseen.y == c).nonzero().squeeze(1) for c in data.unseen.y.unique()}
    missing = sorted(set(data.forget.y.unique().tolist()) - set(unseen_by_class))
    if missing:
        raise ConfigError(f"the unseen pool has no image of forget classes {missing}; raise unlearn.unseen_fraction")

    def term(model: nn.Module) -> Tensor:
        f = sample_rows(forget_rows, sample, gen)
        classes = data.forget.y[f].unique().tolist()
        u = sample_rows(torch.cat([unseen_by_class[c] for c in classes]), sample, gen)
        forget_losses = F.cross_entropy(model(data.forget.rows(f)), data.forget.y[f], reduction="none")
        with torch.no_grad():
            unseen_losses = F.cross_entropy(model(data.unseen.rows(u)), data.unseen.y[u], reduction="none")
        return loss_matching(forget_losses, unseen_losses, k, sigma)

    return term
