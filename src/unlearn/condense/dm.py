"""Distribution matching (DM, Zhao & Bilen 2023), spec blend_aamu 6.

Each iteration draws a new random ConvNet and matches every class's mean embedding of real and
synthetic images under one shared DSA draw.
"""

from __future__ import annotations

import torch

from unlearn.condense.base import CONDENSERS, Pool
from unlearn.condense.dsa import DEFAULT_STRATEGY
from unlearn.condense.synthetic import (AUGMENT, NET, SyntheticCondenser, SyntheticSet, derive_seed, group_means,
                                        history)


@CONDENSERS.register("dm")
class DistributionMatching(SyntheticCondenser):
    """Each iteration draws a new random ConvNet and pulls every class's mean synthetic embedding
    towards its mean real embedding (both under the same DSA draw)."""

    name = "dm"

    def __init__(self, ipc: int, seed: int = 0, width: int = 128, depth: int = 3, iterations: int = 20000,
                 lr: float = 0.01, momentum: float = 0.5, batch_real: int = 256, dsa: bool = True,
                 dsa_strategy: str = DEFAULT_STRATEGY, max_seconds: float | None = None) -> None:
        super().__init__(ipc, seed, width, depth, iterations, lr, momentum, batch_real, dsa, dsa_strategy, max_seconds)

    def optimise(self, syn: SyntheticSet, pool: Pool) -> list[float]:
        opt = self.image_optimizer(syn)
        losses: list[torch.Tensor] = []
        for it in self.steps(syn, opt, losses):
            net = self.random_net(pool, derive_seed(self.seed, NET, it))
            net.train()  # instance norm: the mode changes nothing, kept as the spec states it
            net.requires_grad_(False)
            seeds = [derive_seed(self.seed, AUGMENT, it, c) for c, _, _ in syn.groups]
            with torch.no_grad():
                real_means = torch.stack([
                    net.features(self.augment(syn.real_batch(k, self.batch_real), s)).flatten(1).mean(0)
                    for k, s in enumerate(seeds)])
            # Instance norm embeds each image alone, so all classes can share one forward pass.
            syn_aug = torch.cat([self.augment(syn.syn(k), s) for k, s in enumerate(seeds)])
            syn_means = group_means(net.features(syn_aug), syn.sizes)
            loss = ((real_means - syn_means) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        return history(losses)
