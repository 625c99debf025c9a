"""Blend on the bundled digits: sizes, exact residual/free bookkeeping, the loss it minimises."""

from __future__ import annotations

import pytest
import torch

from conftest import digits_pool
from unlearn.condense import CONDENSERS, CondensedSet, Pool, store
from unlearn.condense.blend import Blend, blend_clusters, blend_lr
from unlearn.condense.clusters import kmeans_per_class
from unlearn.data.forget import ClassForget, RandomForget
from unlearn.errors import ConfigError, DataUnavailableError


@pytest.fixture(scope="module")
def pool() -> Pool:
    return digits_pool()


@pytest.fixture(scope="module")
def blend(pool) -> Blend:
    torch.set_num_threads(1)
    b = Blend(ipc=10, seed=0, width=32, iterations=3)
    b.prepare(pool)
    return b


def _members(cset: CondensedSet) -> list[torch.Tensor]:
    return [cset.members_of(i) for i in range(len(cset))]


def test_lr_is_the_reference_cubic():
    for k, want in ((2, 1.00), (10, 0.166), (50, 20.0), (100, 100.0), (1000, 9999.0)):
        assert blend_lr(k) == pytest.approx(want, rel=0.01)


def test_whole_set_gives_ipc_images_per_class_covering_every_image_once(pool, blend):
    cset = blend.condense(pool)
    assert len(cset) == 100 and torch.equal(torch.bincount(cset.labels, minlength=10), torch.full((10,), 10))
    assert cset.images.shape[1:] == pool.images.shape[1:] and not cset.raw.any()
    members = torch.cat(_members(cset))
    assert torch.equal(members.sort().values, pool.index)  # a partition of the pool
    for i in range(len(cset)):  # clusters never mix classes
        assert (pool.labels[cset.members_of(i)] == cset.labels[i]).all()


def test_random_forget_bookkeeping_is_exact(pool, blend):
    forget = RandomForget(0.1, seed=1).select(pool.labels, 10)
    cset = blend.condense(pool, forget)
    members = _members(cset)
    flat = torch.cat(members)
    retain = pool.index[~torch.isin(pool.index, forget)]
    assert not torch.isin(flat, forget).any()
    assert torch.equal(flat.sort().values, retain)  # every retain image exactly once
    residual = [m for m, raw in zip(members, cset.raw) if raw]
    assert all(m.numel() == 1 for m in residual)
    # A blended image's cluster holds no forget sample; a residual image's cluster does.
    clusters = blend.clusters.groups
    owner = torch.empty(len(pool), dtype=torch.long)
    for ci, g in enumerate(clusters):
        owner[g] = ci
    forget_clusters = set(owner[forget].tolist())
    assert {int(owner[m[0]]) for m in residual} <= forget_clusters
    assert all(int(owner[m[0]]) not in forget_clusters for m, raw in zip(members, cset.raw) if not raw)
    meta = cset.meta
    assert meta["free_clusters"] + meta["residual_clusters"] == len(clusters)
    assert meta["free_clusters"] == int((~cset.raw).sum()) and meta["residual_images"] == int(cset.raw.sum())
    assert meta["residual_clusters"] == len(forget_clusters)


def test_class_forget_leaves_k_blends_of_every_other_class(pool, blend):
    forget = ClassForget([4]).select(pool.labels, 10)
    cset = blend.condense(pool, forget)
    assert len(cset) == 90 and not cset.raw.any() and 4 not in cset.labels.tolist()


def test_zero_iterations_is_the_cluster_mean_and_blending_lowers_the_loss(pool):
    torch.manual_seed(0)
    rows = (pool.labels == 0).nonzero().squeeze(1)[:12]
    owner = torch.tensor([0] * 5 + [1] * 7)
    net = Blend(ipc=2, width=32).random_net(pool, 7)
    means, weights, _ = blend_clusters(pool.images[rows], owner, 2, net, torch.device("cpu"), 0, 1.0)
    assert torch.allclose(means[0], pool.images[rows[:5]].mean(0), atol=1e-6)
    assert torch.allclose(weights, torch.tensor([1 / 5] * 5 + [1 / 7] * 7))
    _, w, history = blend_clusters(pool.images[rows], owner, 2, net, torch.device("cpu"), 30, 50.0)
    assert history[-1] < 0.9 * history[0]
    assert torch.allclose(torch.zeros(2).index_add(0, owner, w), torch.ones(2))  # sum-normalised


def test_kmeans_is_seeded_and_clamps_k_to_the_class_size(pool):
    feats = pool.images.flatten(1)
    a = kmeans_per_class(feats, pool.labels, 10, 5, seed=0)
    b = kmeans_per_class(feats, pool.labels, 10, 5, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a.groups, b.groups))
    small = torch.tensor([0, 0, 1, 1, 1])
    c = kmeans_per_class(torch.randn(5, 3), small, 2, 4, seed=0)
    assert c.per_class(2).tolist() == [2, 3] and all(g.numel() == 1 for g in c.groups)


def test_baseline_sets_and_the_store_round_trip(pool, tmp_path):
    forget = RandomForget(0.5, seed=0).select(pool.labels, 10)
    rnd = CONDENSERS.get("random")(ipc=3, seed=0).condense(pool, forget)
    assert len(rnd) == 30 and not torch.isin(rnd.members, forget).any() and rnd.raw.all()
    whole = CONDENSERS.get("none")().condense(pool, forget)
    assert len(whole) == len(pool) - forget.numel()
    rnd.meta.update(dataset="digits", forget="random50")
    store.save(rnd, tmp_path)
    with pytest.raises(FileExistsError):
        store.save(rnd, tmp_path)
    back = store.load(tmp_path, expect={"dataset": "digits"})
    assert torch.equal(back.images, rnd.images) and torch.equal(back.members, rnd.members)
    with pytest.raises(ConfigError, match="built for dataset='digits', not dataset='mnist'"):
        store.load(tmp_path, expect={"dataset": "mnist"})
    with pytest.raises(DataUnavailableError, match="holds no condensed set"):
        store.load(tmp_path / "nowhere")


def test_ipc_must_be_positive():
    with pytest.raises(ConfigError, match="condensation.ipc=0"):
        Blend(ipc=0)
