"""Seeded, stratified held-out (proxy) split, exactly as the CUTS reference draws it (spec 1.2)."""

from __future__ import annotations

import torch

from unlearn.errors import bad_value


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold out floor(fraction * n_c) samples of every class c.

    Classes are visited in ascending order and each draws ``randperm(n_c)`` from one
    generator seeded with ``seed``, so the split is a pure function of (labels, fraction,
    seed). Returns ``(kept, held_out)`` index tensors, each in ascending original order.
    """
    if not 0.0 <= float(fraction) < 1.0:
        raise bad_value("heldout_fraction", fraction, "a fraction in [0, 1)")
    gen = torch.Generator().manual_seed(int(seed))
    held: list[torch.Tensor] = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c, as_tuple=True)[0]
        n_hold = int(fraction * len(members))
        perm = torch.randperm(len(members), generator=gen)
        held.append(members[perm[:n_hold]])
    held_idx = torch.sort(torch.cat(held)).values if held else torch.empty(0, dtype=torch.long)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[held_idx] = False
    return torch.nonzero(mask, as_tuple=True)[0], held_idx


def balanced_halves(n: int, count: int, seed: int) -> torch.Tensor:
    """Membership of ``n`` examples in ``count`` shadow training sets, ``[count, n]`` bool.

    Every example is in exactly ``count // 2`` of them (LiRA's balanced scheme), so each has
    as many shadow models that saw it as models that did not; which ones is seeded per example.
    """
    if int(count) < 2:
        raise bad_value("unlearn.shadows", count, "0 (no shadow attack) or at least 2 shadow models")
    gen = torch.Generator().manual_seed(int(seed))
    ranks = torch.rand(int(count), int(n), generator=gen).argsort(dim=0).argsort(dim=0)
    return ranks < int(count) // 2
