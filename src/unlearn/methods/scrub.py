"""SCRUB (Kurmanji et al., 2023) and A-SCRUB (the Blend/A-AMU paper's accelerated SCRUB).

SCRUB (spec blend_aamu 5.1/5.2): the student (the original) and a frozen teacher (a copy of the
original). Each epoch e = 0, 1, ...: while e <= ``msteps`` (so msteps + 1 max-epochs; -1: none),
one max-pass over the forget set minimising -0.2 * KL_T(teacher || student), i.e. pushing the
student away from the teacher on the forget images; then one min-pass over the retain set
minimising 0.99 * CE + 0.001 * KL_T. One SGD optimiser serves both passes (momentum 0.9, weight
decay 5e-4), lr 0.01 for 15 epochs with msteps 5 (CIFAR-10 ResNet-18, full retain set), and a
per-epoch multiplier (e + 1) / 5 for e < 5, then 1/2 (1 + cos(pi (e - 5) / (15 - 5))): the
reference's warm-up (``warmup_offset`` 1 in ``models.schedule``, as every baseline's), which starts at lr / 5, not 0.

A-SCRUB (spec 4.2): the same two passes, one epoch, Adam lr 1e-4 with no schedule or weight
decay; the min-pass loss is 0.99 * CE_mean^2 + 0.001 * KL_T + 34 * MMD^2, A-AMU's steepened
retain loss and loss-distribution matching (``aamu.matching_term``: fresh forget / unseen draws
of 4 x batch size at every retain step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.context import RunContext
from unlearn.methods.aamu import matching_term
from unlearn.methods.distill import frozen_copy, kd_loss
from unlearn.methods.unlearn_loop import shuffled_batches
from unlearn.methods.unlearning import ForgetData, UnlearnMethod
from unlearn.models.schedule import warmup_hold_cosine
from unlearn.registry import METHODS

BatchLoss = Callable[[Tensor, Tensor], Tensor]


@METHODS.register("scrub")
class SCRUB(UnlearnMethod):
    name = "scrub"

    def __init__(self, epochs: int = 15, lr: float = 0.01, msteps: int | None = 5, warmup: int = 5,
                 alpha: float = 0.2, gamma: float = 0.99, beta: float = 1e-3, temperature: float = 2.0,
                 momentum: float = 0.9, weight_decay: float = 5e-4, batch_size: int = 64,
                 forget_batch_size: int = 64) -> None:
        self.epochs, self.lr, self.warmup = int(epochs), float(lr), int(warmup)
        # None: a max-pass in every epoch (A-SCRUB).
        self.msteps = self.epochs - 1 if msteps is None else int(msteps)
        self.alpha, self.gamma, self.beta, self.T = float(alpha), float(gamma), float(beta), float(temperature)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.batch_size, self.forget_batch_size = int(batch_size), int(forget_batch_size)

    def optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def lr_factor(self, epoch: int) -> float:
        return warmup_hold_cosine(epoch, self.warmup, 0, self.epochs, 0.0, offset=1)

    def min_loss(self, net: nn.Module, teacher: nn.Module, data: ForgetData, ctx: RunContext) -> BatchLoss:
        """The min-pass objective on one retain batch."""
        def loss(x: Tensor, y: Tensor) -> Tensor:
            logits = net(x)
            with torch.no_grad():
                target = teacher(x)
            return self.gamma * F.cross_entropy(logits, y) + self.beta * kd_loss(logits, target, self.T)

        return loss

    def unlearn(self, net: nn.Module, data: ForgetData, ctx: RunContext) -> nn.Module:
        teacher = frozen_copy(net)
        opt = self.optimizer([p for p in net.parameters() if p.requires_grad])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self.lr_factor)
        gen = torch.Generator().manual_seed(ctx.seed)

        def max_loss(x: Tensor, y: Tensor) -> Tensor:
            with torch.no_grad():
                target = teacher(x)
            return -self.alpha * kd_loss(net(x), target, self.T)

        def one_pass(x: Tensor, y: Tensor, batch_size: int, loss: BatchLoss) -> None:
            for rows in shuffled_batches(y.numel(), batch_size, gen, x.device):
                opt.zero_grad(set_to_none=True)
                loss(x[rows].to(ctx.device, non_blocking=True), y[rows].to(ctx.device)).backward()
                opt.step()

        min_loss = self.min_loss(net, teacher, data, ctx)
        net.train()
        for epoch in range(self.epochs):
            if epoch <= self.msteps:
                one_pass(data.forget.x, data.forget.y, self.forget_batch_size, max_loss)
            one_pass(data.train_x, data.train_y, self.batch_size, min_loss)
            sched.step()
        net.eval()
        return net


@METHODS.register("aamu_scrub")
class ASCRUB(SCRUB):
    name = "aamu_scrub"

    def __init__(self, epochs: int = 1, lr: float = 1e-4, msteps: int | None = None, alpha: float = 0.2,
                 gamma: float = 0.99, beta: float = 1e-3, temperature: float = 2.0, weight: float = 34.0,
                 k: float = 2.0, sample_factor: int = 4, sigma: float = 1.0, batch_size: int = 64,
                 forget_batch_size: int = 64) -> None:
        super().__init__(epochs, lr, msteps, 0, alpha, gamma, beta, temperature, 0.0, 0.0, batch_size,
                         forget_batch_size)
        self.weight, self.k, self.sigma = float(weight), float(k), float(sigma)
        self.sample = int(sample_factor) * int(batch_size)

    def optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr)

    def lr_factor(self, epoch: int) -> float:
        return 1.0  # A-AMU's optimiser: no schedule

    def min_loss(self, net: nn.Module, teacher: nn.Module, data: ForgetData, ctx: RunContext) -> BatchLoss:
        matching = matching_term(data, self.sample, self.k, self.sigma, torch.Generator().manual_seed(ctx.seed + 2))

        def loss(x: Tensor, y: Tensor) -> Tensor:
            logits = net(x)
            with torch.no_grad():
                target = teacher(x)
            return (self.gamma * F.cross_entropy(logits, y) ** 2 + self.beta * kd_loss(logits, target, self.T)
                    + self.weight * matching(net))

        return loss
