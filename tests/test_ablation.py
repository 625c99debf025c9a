"""Blend's Section 4.4 ablation (v1..v7): exactly which real images each training set is made of."""

from __future__ import annotations

import pytest
import torch

from conftest import compose_cfg, digits_pool
from unlearn.app import build
from unlearn.condense import CondensedSet, Pool
from unlearn.condense.ablation import VARIANTS, ablation_set, halves
from unlearn.condense.blend import Blend
from unlearn.data.forget import RandomForget
from unlearn.errors import ConfigError


@pytest.fixture(scope="module")
def pool() -> Pool:
    return digits_pool()


@pytest.fixture(scope="module")
def sets(pool) -> dict[str, CondensedSet]:
    blend = Blend(ipc=10, seed=0, width=32, iterations=2)
    blend.prepare(pool)
    forget = RandomForget(0.1, seed=1).select(pool.labels, 10)
    out = {v: ablation_set(blend, pool, forget, v) for v in VARIANTS}
    h = halves(blend, pool, forget)
    return {**out, "forget": forget, "free": h.free, "residual": h.residual}


def _members(cset: CondensedSet) -> torch.Tensor:
    return cset.members.sort().values


def test_free_and_residual_split_the_retain_set(pool, sets):
    retain = pool.index[~torch.isin(pool.index, sets["forget"])]
    both = torch.cat([sets["free"], sets["residual"]]).sort().values
    assert torch.equal(both, retain)  # disjoint halves covering every retain image once
    assert sets["free"].numel() > 0 and sets["residual"].numel() > 0


@pytest.mark.parametrize("variant, half, blended", [
    ("v1", "retain", True), ("v2", "retain", None), ("v3", "free", True), ("v4", "free", False),
    ("v5", "residual", True), ("v6", "residual", False), ("v7", "retain", False)])
def test_each_variant_trains_on_its_half(pool, sets, variant, half, blended):
    cset = sets[variant]
    want = torch.cat([sets["free"], sets["residual"]]) if half == "retain" else sets[half]
    assert torch.equal(_members(cset), want.sort().values)  # exactly those real images, each once
    assert not torch.isin(cset.members, sets["forget"]).any()
    if blended is False:
        assert cset.raw.all() and len(cset) == want.numel()
    if blended is True:  # re-clustered with K = 10 per class: at most 10 blends per class, nothing raw
        assert not cset.raw.any() and int(torch.bincount(cset.labels, minlength=10).max()) <= 10
    if variant == "v2":  # the proposed set: blended free clusters plus the residual images raw
        assert torch.equal(cset.members[cset.offsets[:-1][cset.raw]].sort().values, sets["residual"])


def test_reclustering_uses_a_new_random_net(sets):
    # v1 and the proposed clustering see different features, so the blends differ.
    assert not torch.equal(sets["v1"].images[: len(sets["v2"])], sets["v2"].images[: len(sets["v1"])])


def test_ablation_is_refused_without_blend_and_outside_v1_to_v7(tmp_path):
    for overrides, words in ((["unlearn.ablation=v8"], "v1, v2"),
                             (["unlearn.ablation=v3", "condensation=dm"], "condensation=blend")):
        cfg = compose_cfg("correct", tmp_path, ["method=l1_sparse", "forget=random10", *overrides])
        with pytest.raises(ConfigError, match="unlearn.ablation") as err:
            build.context(cfg, tmp_path)
        assert words in str(err.value)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_ablation_is_one_experiment(tmp_path, variant):
    cfg = compose_cfg("correct", tmp_path, [f"experiment=unlearn/ablation/{variant}"])
    assert cfg.unlearn.ablation == variant and cfg.ipc == 800
    assert cfg.dataset.source._target_.endswith("CINIC10") and cfg.arch.name == "cifar_resnet18"
    assert cfg.method._target_.endswith("L1Sparse") and cfg.forget.fraction == 0.1
