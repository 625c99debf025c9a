"""Warm-up / hold / cosine learning-rate shape (spec 3, ``cosann_warmup``).

One closed-form multiplier covers the reference's schedules: warm-up W and hold H of 0
give plain cosine annealing. lr is 0 at t = 0 during warm-up, as in the CUTS reference;
``offset`` 1 starts the warm-up at lr / W instead ((t + 1) / W, the Blend/A-AMU reference's).
The reference's ``step`` schedule (MultiStepLR: lr x gamma at each milestone) is the other
shape its recipes use (FC1 and ResNet proxy/CF stages).
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, MultiStepLR


def warmup_hold_cosine(t: int, warmup: int, hold: int, total: int, floor: float, offset: int = 0) -> float:
    """Multiplier of the base lr at step/epoch ``t``; ``floor`` is eta_min / base lr."""
    if t < warmup:
        return (t + offset) / warmup
    if t <= warmup + hold or total <= warmup + hold:
        return 1.0
    progress = min(1.0, (t - warmup - hold) / (total - warmup - hold))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: Optimizer, warmup: int, hold: int, total: int, eta_min: float,
    milestones: list[int] | tuple[int, ...] = (), gamma: float = 0.1, warmup_offset: int = 0,
) -> LRScheduler:
    if milestones:
        return MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)
    base = optimizer.param_groups[0]["lr"]
    floor = eta_min / base if base > 0 else 0.0
    return LambdaLR(optimizer, lambda t: warmup_hold_cosine(t, warmup, hold, total, floor, warmup_offset))
