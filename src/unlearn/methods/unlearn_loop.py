"""The small training loop the unlearning methods share.

Unlearning methods train for a handful of epochs on tensors already on the device and several
of them draw extra batches per step (forget, unseen); the wall time of the unlearning call is
the metric the Blend/A-AMU paper compares, so a plain loop keeps framework start-up out of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.models.module import Recipe, make_optimizer
from unlearn.models.schedule import make_scheduler


def shuffled_batches(n: int, batch_size: int, gen: torch.Generator, device: torch.device) -> Iterator[Tensor]:
    order = torch.randperm(n, generator=gen).to(device)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def sample_rows(rows: Tensor, count: int, gen: torch.Generator) -> Tensor:
    """``count`` of ``rows`` without replacement (all of them if there are fewer)."""
    if rows.numel() <= count:
        return rows
    return rows[torch.randperm(rows.numel(), generator=gen)[:count].to(rows.device)]


StepLoss = Callable[[nn.Module, Tensor, Tensor, int], Tensor]


def ce_step(net: nn.Module, x: Tensor, y: Tensor, step: int) -> Tensor:
    return F.cross_entropy(net(x), y)


def fit(net: nn.Module, x: Tensor, y: Tensor, recipe: Recipe, seed: int, loss: StepLoss = ce_step,
        params: list[nn.Parameter] | None = None,
        after_epoch: Callable[[int], None] | None = None) -> nn.Module:
    """Train ``net`` in place on ``(x, y)`` for ``recipe.max_epochs`` epochs, the scheduler stepping per epoch.

    ``loss(net, xb, yb, step)`` gives one batch's loss (default: cross-entropy), so a method only
    writes its objective; ``after_epoch(e)`` runs after each epoch (pruning events, SCRUB phases).
    """
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(params if params is not None else [p for p in net.parameters() if p.requires_grad], recipe)
    sched = make_scheduler(opt, recipe.warmup, recipe.hold, recipe.max_epochs, recipe.eta_min,
                           recipe.milestones, recipe.gamma, recipe.warmup_offset)
    net.train()
    step = 0
    for epoch in range(recipe.max_epochs):
        for rows in shuffled_batches(y.numel(), recipe.batch_size, gen, x.device):
            opt.zero_grad(set_to_none=True)
            loss(net, x[rows], y[rows], step).backward()
            opt.step()
            step += 1
        sched.step()
        if after_epoch is not None:
            after_epoch(epoch)
    net.eval()
    return net
