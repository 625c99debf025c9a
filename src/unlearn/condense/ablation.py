"""The training sets of Blend's Section 4.4 ablation (spec blend_aamu 3.6, ``unlearn.ablation=v1..v7``).

Blend's F-sampling splits the retain set in two: *free* images (in clusters with no forget
sample, dissimilar to the forget set) and *residual* images (the retain members of clusters
that hold one, similar to it). The proposed set (v2) keeps the residual raw and blends the free
clusters; the ablation asks what each half contributes, raw or re-condensed:

====  =====================================================================
v1    re-cluster the whole retain set (free + residual), Blend every cluster
v2    residual raw + Blend(free clusters): the proposed set
v3    re-cluster the free images only, Blend them; no residual
v4    the free images, raw
v5    re-cluster the residual images only, Blend them; no free
v6    the residual images, raw
v7    the whole retain set, raw
====  =====================================================================

"Re-cluster" means fresh per-class k-means with the same K on a *new* random ConvNet (a
different seed), as the reference's ``ablative_v*`` scripts do; its time counts as condensing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from unlearn.condense.base import CondensedSet, Pool
from unlearn.condense.blend import Blend
from unlearn.condense.clusters import partition
from unlearn.settings import ABLATIONS

VARIANTS = ABLATIONS  # unlearn.ablation=v1..v7 (settings.py checks the name)
# Seed offset of the re-clustering Blend: its cluster and blend nets differ from the offline ones.
RECLUSTER = 7_919


@dataclass
class RetainHalves:
    """Source indices (rows of the train split) of the free and residual retain images."""

    free: Tensor
    residual: Tensor


def halves(blend: Blend, pool: Pool, forget: Tensor) -> RetainHalves:
    """Free and residual retain images of ``blend``'s clusters for this forget request."""
    if blend.clusters is None:
        blend.prepare(pool)
    assert blend.clusters is not None
    part = partition(blend.clusters, pool.index, forget)
    free_rows = [blend.clusters.groups[i] for i in part.free]
    free = torch.cat(free_rows) if free_rows else torch.zeros(0, dtype=torch.long)
    return RetainHalves(pool.index[free].sort().values, pool.index[part.residual_rows].sort().values)


def _recluster(blend: Blend, pool: Pool, source: Tensor) -> CondensedSet:
    fresh = Blend(blend.ipc, blend.seed + RECLUSTER, blend.width, blend.depth, blend.iterations, blend.lr,
                  blend.momentum, blend.chunk)
    fresh.device = blend.device
    return fresh.condense(pool.subset(pool.rows_of(source)))  # a new pool: clustered afresh, nothing forgotten


def ablation_set(blend: Blend, pool: Pool, forget: Tensor, variant: str) -> CondensedSet:
    """The set variant ``v1``..``v7`` trains the unlearner on (see the module docstring)."""
    from unlearn.errors import bad_value

    if variant not in VARIANTS:
        raise bad_value("unlearn.ablation", variant, f"one of {', '.join(VARIANTS)} (spec blend_aamu 3.6)")
    if variant == "v2":
        return blend.condense(pool, forget)
    h = halves(blend, pool, forget)
    chosen = {"v1": torch.cat([h.free, h.residual]), "v3": h.free, "v4": h.free,
              "v5": h.residual, "v6": h.residual, "v7": torch.cat([h.free, h.residual])}[variant]
    if chosen.numel() == 0:
        half = "free" if variant in ("v3", "v4") else "residual"
        raise ValueError(f"ablation {variant} trains on the {half} images, and this request leaves none "
                         f"({h.free.numel()} free, {h.residual.numel()} residual)")
    meta = {"method": "blend", "ablation": variant, "free_images": int(h.free.numel()),
            "residual_images": int(h.residual.numel())}
    if variant in ("v1", "v3", "v5"):
        out = _recluster(blend, pool, chosen)
        out.meta.update(meta)
        return out
    return CondensedSet.raw_images(pool, pool.rows_of(chosen), meta)
