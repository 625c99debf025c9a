"""Gradient matching (GM / DC, Zhao et al. 2021, with DSA), spec blend_aamu §6.

Synthetic images are moved so that, class by class, the cross-entropy gradient they induce in a
ConvNet points the same way as the gradient of real images. The network is redrawn every outer
iteration and, between matching steps, trained a little on the synthetic set itself, so the
images match gradients along a short training trajectory rather than only at initialisation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.condense.base import CONDENSERS, Pool
from unlearn.condense.synthetic import AUGMENT, INNER, NET, SyntheticCondenser, SyntheticSet, derive_seed, history
from unlearn.condense.dsa import DEFAULT_STRATEGY
from unlearn.errors import bad_value

# (outer_loop, inner_loop) the reference defines; other ipc values stop there (spec §6).
LOOPS_UP_TO_5 = (1, 1)
LOOPS_AT_10 = (10, 50)


def default_loops(ipc: int) -> tuple[int, int] | None:
    if ipc <= 5:
        return LOOPS_UP_TO_5
    if ipc == 10:
        return LOOPS_AT_10
    return None


def gradient_distance(syn_grads: list[Tensor], real_grads: list[Tensor]) -> Tensor:
    """Sum over layers of sum over output units of (1 - cosine) between the per-unit gradient rows.

    Row-wise cosines compare each output unit's incoming-weight gradient separately, so one layer
    with large gradients cannot drown the rest. 1-D parameters (biases, norm affines) are not
    matched at all; callers leave them out of the list.
    """
    total = syn_grads[0].new_zeros(())
    for gs, gr in zip(syn_grads, real_grads):
        gs, gr = gs.flatten(1), gr.flatten(1)
        cos = (gs * gr).sum(1) / (gs.norm(dim=1) * gr.norm(dim=1) + 1e-6)
        total = total + (1.0 - cos).sum()
    return total


@CONDENSERS.register("gm")
class GradientMatching(SyntheticCondenser):
    name = "gm"

    def __init__(self, ipc: int, seed: int = 0, width: int = 128, depth: int = 3, iterations: int = 1000,
                 lr: float = 0.1, momentum: float = 0.5, batch_real: int = 256, dsa: bool = True,
                 dsa_strategy: str = DEFAULT_STRATEGY, outer_loop: int | None = None,
                 inner_loop: int | None = None, lr_net: float = 0.01, batch_train: int = 256,
                 max_seconds: float | None = None) -> None:
        super().__init__(ipc, seed, width, depth, iterations, lr, momentum, batch_real, dsa, dsa_strategy, max_seconds)
        defaults = default_loops(self.ipc)
        if outer_loop is None and defaults is not None:
            outer_loop = defaults[0]
        if inner_loop is None and defaults is not None:
            inner_loop = defaults[1]
        if outer_loop is None or inner_loop is None:
            key = "condensation.outer_loop" if outer_loop is None else "condensation.inner_loop"
            raise bad_value(key, None, f"an explicit value: the reference defines (outer_loop, inner_loop) only "
                                       f"for ipc <= 5 {LOOPS_UP_TO_5} and ipc = 10 {LOOPS_AT_10}, not ipc={self.ipc}; "
                                       "set condensation.outer_loop and condensation.inner_loop")
        if int(outer_loop) < 1 or int(inner_loop) < 0:
            raise bad_value("condensation.outer_loop", (outer_loop, inner_loop),
                            "outer_loop >= 1 and inner_loop >= 0")
        if int(batch_train) < 1:
            raise bad_value("condensation.batch_train", batch_train, "a positive batch size")
        self.outer_loop = int(outer_loop)
        self.inner_loop = int(inner_loop)
        self.lr_net = float(lr_net)
        self.batch_train = int(batch_train)

    def extra_meta(self) -> dict[str, Any]:
        return {"outer_loop": self.outer_loop, "inner_loop": self.inner_loop, "lr_net": self.lr_net,
                "batch_train": self.batch_train}

    def optimise(self, syn: SyntheticSet, pool: Pool) -> list[float]:
        opt = self.image_optimizer(syn)
        losses: list[torch.Tensor] = []
        for it in self.steps(syn, opt, losses):
            net = self.random_net(pool, derive_seed(self.seed, NET, it))
            net.train()
            net_opt = torch.optim.SGD(net.parameters(), lr=self.lr_net)
            total = syn.images.new_zeros(())
            for ol in range(self.outer_loop):
                loss = self.match_loss(net, syn, derive_seed(self.seed, AUGMENT, it, ol))
                # Only the images need this (second-order) gradient; leave the net's .grad alone.
                (syn.images.grad,) = torch.autograd.grad(loss, [syn.images])
                opt.step()
                total = total + loss.detach()
                if ol < self.outer_loop - 1:
                    self.train_net(net, net_opt, syn, derive_seed(self.seed, INNER, it, ol))
            # Per class and matching step, as the reference reports it.
            losses.append(total / (self.outer_loop * len(syn.groups)))
        return history(losses)

    def match_loss(self, net: nn.Module, syn: SyntheticSet, seed: int) -> Tensor:
        params = [p for p in net.parameters() if p.dim() > 1]
        loss = syn.images.new_zeros(())
        for k, (c, _, _) in enumerate(syn.groups):
            s = derive_seed(seed, c)
            real = self.augment(syn.real_batch(k, self.batch_real), s)
            real_y = torch.full((real.shape[0],), c, dtype=torch.long, device=real.device)
            real_grads = [g.detach() for g in torch.autograd.grad(F.cross_entropy(net(real), real_y), params)]
            fake = self.augment(syn.syn(k), s)
            fake_y = torch.full((fake.shape[0],), c, dtype=torch.long, device=fake.device)
            fake_grads = torch.autograd.grad(F.cross_entropy(net(fake), fake_y), params, create_graph=True)
            loss = loss + gradient_distance(list(fake_grads), real_grads)
        return loss

    def train_net(self, net: nn.Module, net_opt: torch.optim.Optimizer, syn: SyntheticSet, seed: int) -> None:
        """``inner_loop`` epochs on the (detached) synthetic set, per-image DSA draws as in training."""
        images, labels = syn.images.detach(), syn.labels
        order_gen = torch.Generator().manual_seed(seed)
        for epoch in range(self.inner_loop):
            order = torch.randperm(images.shape[0], generator=order_gen).to(images.device)
            for b, start in enumerate(range(0, images.shape[0], self.batch_train)):
                rows = order[start:start + self.batch_train]
                x = self.augment(images[rows], derive_seed(seed, epoch, b), siamese=False)
                loss = F.cross_entropy(net(x), labels[rows])
                net_opt.zero_grad(set_to_none=True)
                loss.backward()
                net_opt.step()
