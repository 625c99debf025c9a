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


def stratified_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Exactly ``size`` indices, every class in proportion to its share (largest remainders first).

    Classes are visited in ascending order, each drawing ``randperm(n_c)`` from one generator
    seeded with ``seed``; the result is in ascending original order. A CPU-scale run trains on
    such a subset of a large train split and says so (``dataset.train_size``).
    """
    n = len(labels)
    if not 0 < int(size) <= n:
        raise bad_value("dataset.train_size", size, f"null (the whole train split) or 1..{n}")
    classes, counts = torch.unique(labels, return_counts=True)
    exact = counts.double() * int(size) / n
    quota = exact.floor().long()
    short = int(size) - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    gen = torch.Generator().manual_seed(int(seed))
    picked = []
    for c, q in zip(classes.tolist(), quota.tolist()):
        members = torch.nonzero(labels == c, as_tuple=True)[0]
        picked.append(members[torch.randperm(len(members), generator=gen)[:q]])
    return torch.sort(torch.cat(picked)).values


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
