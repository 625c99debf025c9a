"""The paper author's simplified "improved distribution matching" (IDM), spec blend_aamu §6.

Not IDM as published (no model queue, no network training, no partition augmentation): a few
random ConvNets are built once and kept fixed, in eval mode, and each class's synthetic images
match the mean real embedding under every one of them while also being classified as their
class by it. The author's code leaves the cross-entropy at full weight (its 0.1 weight is behind
a flag that is off), hence ``ce_weight=1.0``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from unlearn.condense.base import CONDENSERS, Pool
from unlearn.condense.synthetic import (AUGMENT, NET, SyntheticCondenser, SyntheticSet, derive_seed, group_means,
                                        history)
from unlearn.condense.dsa import DEFAULT_STRATEGY
from unlearn.errors import bad_value


@CONDENSERS.register("idm")
class ImprovedDistributionMatching(SyntheticCondenser):
    name = "idm"

    def __init__(self, ipc: int, seed: int = 0, width: int = 128, depth: int = 3, iterations: int = 20000,
                 lr: float = 0.01, momentum: float = 0.5, batch_real: int = 256, dsa: bool = True,
                 dsa_strategy: str = DEFAULT_STRATEGY, nets: int = 3, ce_weight: float = 1.0,
                 max_seconds: float | None = None) -> None:
        super().__init__(ipc, seed, width, depth, iterations, lr, momentum, batch_real, dsa, dsa_strategy, max_seconds)
        if int(nets) < 1:
            raise bad_value("condensation.nets", nets, "a positive number of fixed random ConvNets")
        self.nets = int(nets)
        self.ce_weight = float(ce_weight)

    def extra_meta(self) -> dict[str, Any]:
        return {"nets": self.nets, "ce_weight": self.ce_weight}

    def build_nets(self, pool: Pool) -> list[torch.nn.Module]:
        """Distinct seeds per net: the reference seeded from the clock, so nets built within one
        millisecond could come out identical (spec S10); here they never do."""
        nets = [self.random_net(pool, derive_seed(self.seed, NET, k)) for k in range(self.nets)]
        for net in nets:
            net.eval()
            net.requires_grad_(False)
        return nets

    def optimise(self, syn: SyntheticSet, pool: Pool) -> list[float]:
        nets = self.build_nets(pool)
        opt = self.image_optimizer(syn)
        sizes = syn.sizes
        losses: list[torch.Tensor] = []
        for it in self.steps(syn, opt, losses):
            seeds = [derive_seed(self.seed, AUGMENT, it, c) for c, _, _ in syn.groups]
            # One DSA draw per class and iteration, shared by the real and synthetic side and by every net.
            reals = [self.augment(syn.real_batch(k, self.batch_real), s) for k, s in enumerate(seeds)]
            syn_aug = torch.cat([self.augment(syn.syn(k), s) for k, s in enumerate(seeds)])
            loss = syn_aug.new_zeros(())
            for net in nets:
                with torch.no_grad():
                    real_means = torch.stack([net.features(r).flatten(1).mean(0) for r in reals])
                feats = net.features(syn_aug)
                match = ((real_means - group_means(feats, sizes)) ** 2).sum()
                ce = F.cross_entropy(net.head(feats), syn.labels, reduction="none")
                # Mean within each class, summed over classes: the reference's per-class CE terms.
                ce_per_class = torch.stack([block.mean() for block in ce.split(sizes)]).sum()
                loss = loss + match + self.ce_weight * ce_per_class
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        return history(losses)
