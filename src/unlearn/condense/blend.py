"""Blend (spec blend_aamu 3): one learned blend of each forget-free k-means cluster.

A free cluster S = {x_1..x_n} becomes x~ = sum_i (w_i / sum_j w_j) x_i with one scalar weight per
member (shared over pixels and channels, not softmaxed, starting at the cluster mean), fitted so
that a fixed random ConvNet embeds x~ like the cluster's mean embedding. Clusters holding a
forget sample keep their retain members raw (the "residual"), so the retain images most like
the forget set are never summarised.

All free clusters are optimised together, a chunk of clusters at a time: the loss is a sum of
independent per-cluster terms, so summing chunk gradients is the reference's per-cluster
accumulation, and one optimiser step per pass over all clusters is its iteration.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from unlearn.condense.base import CONDENSERS, CondensedSet, Condenser, Pool
from unlearn.condense.clusters import Clusters, kmeans_per_class, partition
from unlearn.condense.embed import embed

# Seeds of the two random nets, offset from the run seed: the k-means extractor and the
# blending embedder are different random instances (spec 3.3).
CLUSTER_NET = 1_000
BLEND_NET = 2_000


def blend_lr(k: int) -> float:
    """The reference's empirical learning rate for K clusters per class (spec 3.3).

    It is tied to the loss being a mean over feature dimensions and over clusters; change
    either reduction and it must be re-derived.
    """
    return -2.397e-6 * k**3 + 0.01265 * k**2 - 0.2558 * k + 1.461


def _segment_sum(values: Tensor, owner: Tensor, count: int) -> Tensor:
    out = torch.zeros((count, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add(0, owner, values)


def blend_clusters(images: Tensor, owner: Tensor, count: int, net: nn.Module, device: torch.device,
                   iterations: int, lr: float, momentum: float = 0.5, chunk: int = 1024,
                   ) -> tuple[Tensor, Tensor, list[float]]:
    """Blend ``count`` clusters; ``owner[i]`` is the cluster of image ``i`` (rows sorted by owner).

    Returns the blended images, the member weights (sum-normalised per cluster) and the loss of
    every iteration.
    """
    images = images.to(device)
    owner = owner.to(device)
    sizes = torch.bincount(owner, minlength=count)
    if bool((sizes == 0).any()):
        raise ValueError("every cluster needs at least one member")
    bounds = torch.cat([torch.zeros(1, dtype=torch.long, device=device), sizes.cumsum(0)]).tolist()
    for p in net.parameters():
        p.requires_grad_(False)
    net.eval()
    target = _segment_sum(embed(net, images, device).to(device), owner, count) / sizes[:, None].float()
    weights = nn.Parameter(1.0 / sizes[owner].float())
    opt = torch.optim.SGD([weights], lr=lr, momentum=momentum)

    def blended(lo: int, hi: int) -> Tensor:
        a, b = bounds[lo], bounds[hi]
        w, own = weights[a:b], owner[a:b] - lo
        wn = w / _segment_sum(w, own, hi - lo)[own]
        return _segment_sum(wn.view(-1, *[1] * (images.dim() - 1)) * images[a:b], own, hi - lo)

    history = []
    for _ in range(iterations):
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for lo in range(0, count, chunk):
            hi = min(lo + chunk, count)
            emb = net.features(blended(lo, hi)).flatten(1)
            loss = ((emb - target[lo:hi]) ** 2).mean(dim=1).sum() / count
            loss.backward()
            total += float(loss.detach())
        opt.step()
        history.append(total)
    with torch.no_grad():
        out = torch.cat([blended(lo, min(lo + chunk, count)) for lo in range(0, count, chunk)])
        norm = weights / _segment_sum(weights, owner, count)[owner]
    return out.cpu(), norm.detach().cpu(), history


@CONDENSERS.register("blend")
class Blend(Condenser):
    """K = ``ipc`` k-means clusters per class; every forget-free cluster becomes one image."""

    name = "blend"

    def __init__(self, ipc: int, seed: int = 0, width: int = 128, depth: int = 3, iterations: int = 12,
                 lr: float | None = None, momentum: float = 0.5, chunk: int = 1024) -> None:
        super().__init__(ipc, seed, width, depth)
        self.iterations = int(iterations)
        self.lr = blend_lr(self.ipc) if lr is None else float(lr)
        self.momentum = float(momentum)
        self.chunk = int(chunk)
        self.clusters: Clusters | None = None
        self._pool_index: Tensor | None = None

    def prepare(self, pool: Pool) -> None:
        net = self.random_net(pool, self.seed + CLUSTER_NET)
        feats = embed(net, pool.images, self.device)
        self.clusters = kmeans_per_class(feats, pool.labels, pool.num_classes, self.ipc, self.seed)
        self._pool_index = pool.index.clone()

    def condense(self, pool: Pool, forget: Tensor | None = None) -> CondensedSet:
        if self.clusters is None or self._pool_index is None or not torch.equal(self._pool_index, pool.index):
            self.prepare(pool)  # clusters belong to one pool; a different pool is clustered afresh
        assert self.clusters is not None
        t0 = time.perf_counter()
        part = partition(self.clusters, pool.index, forget)
        seconds_sampling = time.perf_counter() - t0

        t1 = time.perf_counter()
        groups = [self.clusters.groups[i] for i in part.free]
        parts = []
        history: list[float] = []
        if groups:
            rows = torch.cat(groups)
            owner = torch.repeat_interleave(torch.arange(len(groups)), torch.tensor([g.numel() for g in groups]))
            net = self.random_net(pool, self.seed + BLEND_NET)
            images, _, history = blend_clusters(pool.images[rows], owner, len(groups), net, self.device,
                                                self.iterations, self.lr, self.momentum, self.chunk)
            parts.append(CondensedSet.from_groups(images, self.clusters.labels[part.free],
                                                  [pool.index[g] for g in groups]))
        seconds_blend = time.perf_counter() - t1
        r = part.residual_rows
        if r.numel():
            parts.append(CondensedSet.raw_images(pool, r))
        meta = {
            "method": self.name, "ipc": self.ipc, "iterations": self.iterations, "lr": self.lr,
            "clusters": len(self.clusters), "free_clusters": len(part.free),
            "residual_clusters": len(part.residual_clusters), "residual_images": int(r.numel()),
            "history": history, "seconds_sampling": seconds_sampling, "seconds_blend": seconds_blend,
        }
        if not parts:
            raise ValueError("nothing left to condense: every image is in the forget set")
        return CondensedSet.concat(parts, meta)
