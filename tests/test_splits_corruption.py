"""Splits, label noise, BadNets poison and the stage subsets built from them (spec 1.2, 1.4-1.7).

Every count here is exact: the corruption code promises floor/round counts, never approximate
rates, and the proxy sets are fully determined by the held-out split.
"""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.data.classmaps import ASYMMETRIC_MAPS, CIFAR100_SUPERCLASSES
from unlearn.data.corruption import (
    CLEAN,
    NOISY,
    POISONED,
    Asymmetric,
    Corrupted,
    NoCorruption,
    Poison,
    Symmetric,
)
from unlearn.data.datamodule import CorruptionDataModule
from unlearn.data.imageset import ImageSet
from unlearn.data.digits import Digits
from unlearn.data.splits import stratified_split
from unlearn.data.trigger import stamp, trigger_mask
from unlearn.errors import ConfigError
from unlearn.stage_table import stage_split


def make_set(labels: list[int] | torch.Tensor, h: int = 8, w: int = 8, c: int = 1, seed: int = 0) -> ImageSet:
    """Random raw images (values 0..200, so a 255 pixel can only come from the trigger)."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 201, (len(labels), h, w, c), generator=gen, dtype=torch.uint8)
    return ImageSet(images, labels)


def unbalanced_labels(counts: list[int], seed: int = 0) -> torch.Tensor:
    """Labels with ``counts[c]`` samples of class c, shuffled so classes interleave."""
    labels = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]


# ---------------------------------------------------------------------------------------
# 1.2 stratified split
# ---------------------------------------------------------------------------------------
COUNTS = [37, 50, 9, 101, 23]


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_split_holds_out_floor_per_class_disjoint_and_sorted(fraction: float) -> None:
    labels = unbalanced_labels(COUNTS)
    kept, held = stratified_split(labels, fraction, seed=11)
    for c, n in enumerate(COUNTS):
        assert int((labels[held] == c).sum()) == math.floor(fraction * n)
        assert int((labels[kept] == c).sum()) == n - math.floor(fraction * n)
    assert len(set(kept.tolist()) & set(held.tolist())) == 0
    assert sorted(kept.tolist() + held.tolist()) == list(range(len(labels)))
    assert kept.tolist() == sorted(kept.tolist())
    assert held.tolist() == sorted(held.tolist())
    assert kept.dtype == held.dtype == torch.long


def test_split_is_the_seeded_randperm_per_class_in_ascending_class_order() -> None:
    # Reproduce spec 1.2 step by step: one generator, classes ascending, randperm(n_c), first floor(r*n_c).
    labels = unbalanced_labels(COUNTS, seed=3)
    gen = torch.Generator().manual_seed(11)
    expected = []
    for c, n in enumerate(COUNTS):
        members = torch.nonzero(labels == c, as_tuple=True)[0]
        perm = torch.randperm(n, generator=gen)
        expected += members[perm[: math.floor(0.25 * n)]].tolist()
    _, held = stratified_split(labels, 0.25, seed=11)
    assert held.tolist() == sorted(expected)


def test_split_seed_determines_the_split() -> None:
    labels = unbalanced_labels(COUNTS)
    a = stratified_split(labels, 0.3, seed=11)
    b = stratified_split(labels, 0.3, seed=11)
    c = stratified_split(labels, 0.3, seed=12)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert len(a[1]) == len(c[1])


@pytest.mark.parametrize("fraction", [1.0, 1.5, -0.1])
def test_split_fraction_outside_unit_interval_raises(fraction: float) -> None:
    with pytest.raises(ConfigError, match=str(fraction).replace(".", r"\.")):
        stratified_split(unbalanced_labels(COUNTS), fraction, seed=0)


# ---------------------------------------------------------------------------------------
# 1.4 symmetric noise
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.0, 0.13, 0.5, 1.0])
def test_symmetric_flips_exactly_floor_rate_n_to_wrong_labels(rate: float) -> None:
    data = make_set(unbalanced_labels([40, 31, 25, 17]))
    before_images, before_labels = data.images.clone(), data.labels.clone()
    out = Symmetric(rate=rate, seed=8).apply(data, num_classes=4, dataset="x")
    n = len(data)
    flagged = out.flags == NOISY
    assert int(flagged.sum()) == math.floor(rate * n)
    assert set(out.flags.unique().tolist()) <= {CLEAN, NOISY}
    assert bool((out.data.labels[flagged] != before_labels[flagged]).all())
    assert torch.equal(out.data.labels[~flagged], before_labels[~flagged])
    assert bool(((out.data.labels >= 0) & (out.data.labels < 4)).all())
    assert torch.equal(out.true_labels, before_labels)
    assert torch.equal(out.data.images, before_images)
    # The caller's tensors are untouched.
    assert torch.equal(data.labels, before_labels) and torch.equal(data.images, before_images)


def test_symmetric_chooses_the_first_floor_rate_n_of_a_seeded_permutation() -> None:
    data = make_set(unbalanced_labels([30, 30, 30]))
    out = Symmetric(rate=0.3, seed=5).apply(data, 3, "x")
    chosen = torch.randperm(90, generator=torch.Generator().manual_seed(5))[:27]
    assert sorted(torch.nonzero(out.flags, as_tuple=True)[0].tolist()) == sorted(chosen.tolist())


def test_symmetric_is_reproducible_by_seed() -> None:
    data = make_set(unbalanced_labels([50, 50, 50, 50]))
    a = Symmetric(rate=0.4, seed=8).apply(data, 4, "x")
    b = Symmetric(rate=0.4, seed=8).apply(data, 4, "x")
    c = Symmetric(rate=0.4, seed=9).apply(data, 4, "x")
    assert torch.equal(a.data.labels, b.data.labels) and torch.equal(a.flags, b.flags)
    assert not torch.equal(a.flags, c.flags)


def test_symmetric_new_label_is_uniform_over_the_other_classes() -> None:
    k, per_class = 5, 4000
    data = make_set(unbalanced_labels([per_class] * k), h=1, w=1)
    out = Symmetric(rate=1.0, seed=8).apply(data, k, "x")
    pairs = torch.zeros(k, k, dtype=torch.long)
    for t, y in zip(out.true_labels.tolist(), out.data.labels.tolist()):
        pairs[t, y] += 1
    assert bool((pairs.diagonal() == 0).all())
    off = pairs[~torch.eye(k, dtype=torch.bool)]
    expected = per_class / (k - 1)  # 1000 per (true, other) pair
    assert int(off.sum()) == k * per_class
    # Binomial sd ~ 27; 15% is > 5 sd, and an off-by-one in the skip rule would starve a class.
    assert bool((off - expected).abs().max() < 0.15 * expected), pairs


@pytest.mark.parametrize("rate", [1.5, -0.1])
def test_symmetric_rate_outside_unit_interval_raises(rate: float) -> None:
    with pytest.raises(ConfigError) as err:
        Symmetric(rate=rate)
    assert str(rate) in str(err.value) and "[0, 1]" in str(err.value)


# ---------------------------------------------------------------------------------------
# 1.5 asymmetric noise
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["cifar10", "mnist", "digits"])
@pytest.mark.parametrize("rate", [0.3, 1.0])
def test_asymmetric_moves_floor_rate_ns_of_each_source_without_chaining(dataset: str, rate: float) -> None:
    counts = [21, 34, 17, 40, 29, 33, 26, 19, 45, 38]
    data = make_set(unbalanced_labels(counts))
    mapping = ASYMMETRIC_MAPS[dataset]
    out = Asymmetric(rate=rate, seed=8).apply(data, 10, dataset)
    true = data.labels
    assert torch.equal(out.true_labels, true)
    assert torch.equal(out.data.images, data.images)
    for c, n in enumerate(counts):
        members = true == c
        moved = members & (out.flags == NOISY)
        if c in mapping:
            assert int(moved.sum()) == math.floor(rate * n)
            assert bool((out.data.labels[moved] == mapping[c]).all())
            assert bool((out.data.labels[members & ~moved] == c).all())
        else:
            assert int(moved.sum()) == 0
            assert bool((out.data.labels[members] == c).all())
    assert int((out.flags == NOISY).sum()) == sum(math.floor(rate * counts[s]) for s in mapping)


def test_asymmetric_swap_reads_original_labels() -> None:
    # Digits map has 5->6 and 6->5: at rate 1 every 5 becomes 6 and every 6 becomes 5, none stay.
    data = make_set([5] * 7 + [6] * 4 + [0] * 3)
    out = Asymmetric(rate=1.0, seed=1).apply(data, 10, "digits")
    assert out.data.labels.tolist() == [6] * 7 + [5] * 4 + [0] * 3
    assert out.flags.tolist() == [NOISY] * 11 + [CLEAN] * 3


def test_asymmetric_chooses_per_source_from_seeded_permutations_in_map_order() -> None:
    counts = [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    data = make_set(unbalanced_labels(counts, seed=4))
    out = Asymmetric(rate=0.5, seed=3).apply(data, 10, "cifar10")
    gen = torch.Generator().manual_seed(3)
    expected = []
    for src in ASYMMETRIC_MAPS["cifar10"]:
        members = torch.nonzero(data.labels == src, as_tuple=True)[0]
        expected += members[torch.randperm(len(members), generator=gen)[:5]].tolist()
    assert sorted(torch.nonzero(out.flags, as_tuple=True)[0].tolist()) == sorted(expected)


def test_class_maps_match_spec() -> None:
    assert ASYMMETRIC_MAPS["cifar10"] == {9: 1, 2: 0, 3: 5, 5: 3, 4: 7}
    assert ASYMMETRIC_MAPS["mnist"] == {7: 1, 2: 7, 5: 6, 6: 5, 3: 8}
    assert ASYMMETRIC_MAPS["digits"] == ASYMMETRIC_MAPS["mnist"]


def test_cifar100_map_is_cyclic_within_superclasses_and_covers_all_classes() -> None:
    m = ASYMMETRIC_MAPS["cifar100"]
    assert sorted(m) == list(range(100))
    assert sorted(m.values()) == list(range(100))
    assert [4, m[4], m[m[4]], m[m[m[4]]], m[m[m[m[4]]]], m[m[m[m[m[4]]]]]] == [4, 30, 55, 72, 95, 4]
    assert m[41] == 69 and m[89] == 41 and m[0] == 51 and m[83] == 0
    coarse = {f: g for g, fine in enumerate(CIFAR100_SUPERCLASSES) for f in fine}
    assert len(coarse) == 100
    for s, t in m.items():
        assert s != t and coarse[s] == coarse[t]
    for fine in CIFAR100_SUPERCLASSES:
        assert fine == sorted(fine) and len(fine) == 5
        # Following the map from the smallest fine class visits the whole superclass once.
        cycle, x = [], fine[0]
        for _ in range(5):
            cycle.append(x)
            x = m[x]
        assert cycle == fine and x == fine[0]


def test_asymmetric_unknown_dataset_needs_a_class_map() -> None:
    data = make_set([0, 1, 2, 3])
    with pytest.raises(ConfigError, match="class_map"):
        Asymmetric(rate=0.5).apply(data, 4, "imagenet")
    out = Asymmetric(rate=1.0, class_map={1: 2}).apply(data, 4, "imagenet")
    assert out.data.labels.tolist() == [0, 2, 2, 3]
    with pytest.raises(ConfigError, match="4->0"):
        Asymmetric(rate=1.0, class_map={4: 0}).apply(data, 4, "imagenet")


# ---------------------------------------------------------------------------------------
# 1.6 trigger geometry
# ---------------------------------------------------------------------------------------
def mask_pixels(mask: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(p) for p in torch.nonzero(mask).tolist()}


def test_trigger_cifar_geometry() -> None:
    mask = trigger_mask(32, 32, 0.03, (10, 6))
    expected = {(r, c) for r in range(17, 22) for c in range(20, 26)} | {(16, 25)}
    assert int(mask.sum()) == 31 == math.ceil(0.03 * 32 * 32)
    assert mask_pixels(mask) == expected
    assert mask.shape == (32, 32) and mask.dtype == torch.bool


def test_trigger_mnist_geometry() -> None:
    mask = trigger_mask(28, 28, 0.03, 2)
    block = {(r, c) for r in range(22, 26) for c in range(21, 26)}
    extra = {(21, c) for c in range(22, 26)}
    assert len(block) == 20 and len(extra) == 4
    assert int(mask.sum()) == 24 == math.ceil(0.03 * 28 * 28)
    assert mask_pixels(mask) == block | extra
    # An int margin is the same as (margin, margin).
    assert torch.equal(mask, trigger_mask(28, 28, 0.03, (2, 2)))


def test_trigger_small_and_exact_square_cases() -> None:
    # 8x8 digits, p=0.03: ceil(1.92)=2 px, w=round(sqrt 2)=1 -> a 1-wide, 2-tall column.
    assert mask_pixels(trigger_mask(8, 8, 0.03, 0)) == {(6, 7), (7, 7)}
    # A perfect square leaves no remainder row: 16 px in a 4x4 block.
    assert mask_pixels(trigger_mask(10, 10, 0.16, 1)) == {(r, c) for r in range(5, 9) for c in range(5, 9)}
    # At least one pixel.
    assert mask_pixels(trigger_mask(4, 4, 1e-6, 0)) == {(3, 3)}
    with pytest.raises(ValueError, match="does not fit"):
        trigger_mask(8, 8, 0.03, 8)


def test_stamp_sets_all_channels_at_mask_only() -> None:
    images = make_set([0, 1, 2], h=32, w=32, c=3).images
    mask = trigger_mask(32, 32, 0.03, (10, 6))
    out = stamp(images, mask)
    assert bool((out[:, mask, :] == 255).all())
    assert torch.equal(out[:, ~mask, :], images[:, ~mask, :])
    assert not bool((images[:, mask, :] == 255).any())  # input not mutated


# ---------------------------------------------------------------------------------------
# 1.6 poison selection
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.05, 0.07, 0.1, 0.37])  # 0.07 * 241 = 16.87 rounds up
def test_poison_count_targets_and_pixels(rate: float) -> None:
    data = make_set(unbalanced_labels([30, 25, 20, 35, 40, 10, 15, 22, 18, 26]), h=32, w=32, c=3)
    before = data.images.clone()
    p = Poison(rate=rate, seed=8, target_class=3, margin=(10, 6))
    out = p.apply(data, 10, "cifar10")
    n = len(data)
    poisoned = out.flags == POISONED
    assert int(poisoned.sum()) == round(rate * n)
    assert set(out.flags.unique().tolist()) <= {CLEAN, POISONED}
    assert not bool((data.labels[poisoned] == 3).any())
    assert bool((out.data.labels[poisoned] == 3).all())
    assert torch.equal(out.data.labels[~poisoned], data.labels[~poisoned])
    assert torch.equal(out.true_labels, data.labels)
    mask = trigger_mask(32, 32, 0.03, (10, 6))
    assert bool((out.data.images[poisoned][:, mask, :] == 255).all())
    assert torch.equal(out.data.images[poisoned][:, ~mask, :], before[poisoned][:, ~mask, :])
    assert torch.equal(out.data.images[~poisoned], before[~poisoned])
    assert torch.equal(data.images, before)  # caller's images not stamped in place


def test_poison_walks_seeded_permutation_skipping_target() -> None:
    data = make_set(unbalanced_labels([20, 20, 20, 20]))
    out = Poison(rate=0.25, seed=4, target_class=0, margin=0).apply(data, 4, "x")
    order = torch.randperm(80, generator=torch.Generator().manual_seed(4))
    expected = [i for i in order.tolist() if int(data.labels[i]) != 0][:20]
    assert sorted(torch.nonzero(out.flags, as_tuple=True)[0].tolist()) == sorted(expected)


def test_poison_rate_one_takes_every_non_target_sample() -> None:
    data = make_set(unbalanced_labels([7, 5, 6]))
    out = Poison(rate=1.0, seed=1, target_class=1, margin=0).apply(data, 3, "x")
    assert torch.equal(out.flags == POISONED, data.labels != 1)
    assert bool((out.data.labels == 1).all())


def test_poison_count_clamped_with_warning() -> None:
    data = make_set([0] * 8 + [1] * 2)
    with pytest.warns(UserWarning, match="only 2"):
        out = Poison(rate=0.5, seed=1, target_class=0, margin=0).apply(data, 2, "x")
    assert int((out.flags == POISONED).sum()) == 2


def test_poison_target_out_of_range_raises() -> None:
    data = make_set([0, 1, 2])
    with pytest.raises(ConfigError) as err:
        Poison(rate=0.1, target_class=12).apply(data, 10, "x")
    assert "12" in str(err.value) and "0..9" in str(err.value)
    with pytest.raises(ConfigError, match="-1"):
        Poison(rate=0.1, target_class=-1).apply(data, 10, "x")


# ---------------------------------------------------------------------------------------
# 1.7 stage subsets on the real (offline) digits source
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits() -> tuple[ImageSet, ImageSet]:
    return Digits().load()


def module(corruption, digits_data) -> CorruptionDataModule:  # noqa: ANN001
    dm = CorruptionDataModule(source=Digits(), corruption=corruption, heldout_fraction=0.1, seed=11)
    # Reuse the already loaded digits (as private copies, so the fixture's tensors stay a
    # pristine reference that shows no stage mutated the data in place).
    copies = tuple(ImageSet(s.images.clone(), s.labels.clone()) for s in digits_data)
    dm.source.load = lambda: copies  # type: ignore[method-assign]
    return dm


def expected_split(digits_data: tuple[ImageSet, ImageSet]) -> tuple[ImageSet, ImageSet]:
    pool = digits_data[0]
    kept, held = stratified_split(pool.labels, 0.1, 11)
    return pool.subset(kept), pool.subset(held)


def test_digits_split_sizes(digits) -> None:  # noqa: ANN001
    pool, test = digits
    assert (len(pool), len(test)) == (1352, 445)
    dm = module(NoCorruption(), digits)
    counts = torch.bincount(pool.labels, minlength=10)
    assert len(dm.heldout) == sum(math.floor(0.1 * int(n)) for n in counts) == 130
    assert len(dm.train.data) == 1352 - 130
    train, held = expected_split(digits)
    assert torch.equal(dm.heldout.labels, held.labels) and torch.equal(dm.heldout.images, held.images)
    assert torch.equal(dm.train.data.images, train.images)


def test_symmetric_stage_sets(digits) -> None:  # noqa: ANN001
    dm = module(Symmetric(rate=0.2, seed=8), digits)
    train, held = expected_split(digits)
    corrupted = stage_split(dm, "corrupted")
    assert int((corrupted.flags == NOISY).sum()) == math.floor(0.2 * len(train)) == 244
    assert torch.equal(corrupted.true_labels, train.labels)
    for seed in (12, 10):
        proxy = stage_split(dm, "proxy", seed)
        assert len(proxy.data) == len(held) == 130
        assert torch.equal(proxy.data.images, held.images)
        assert torch.equal(proxy.true_labels, held.labels)
        assert bool((proxy.data.labels != held.labels).all())
        assert bool((proxy.flags == NOISY).all())
    assert not torch.equal(stage_split(dm, "proxy", 12).data.labels, stage_split(dm, "proxy", 10).data.labels)
    with pytest.raises(ValueError, match="proxy seed"):
        stage_split(dm, "proxy")
    check_oracle(dm)
    cf = stage_split(dm, "cf")
    assert torch.equal(cf.data.labels, held.labels) and bool((cf.flags == CLEAN).all())
    check_test_clean(dm, digits)


def test_asymmetric_stage_sets(digits) -> None:  # noqa: ANN001
    dm = module(Asymmetric(rate=0.4, seed=8), digits)
    train, held = expected_split(digits)
    mapping = ASYMMETRIC_MAPS["digits"]
    sources = torch.tensor(sorted(mapping))
    is_src = torch.isin(held.labels, sources)
    proxy = stage_split(dm, "proxy", 12)
    assert len(proxy.data) == int(is_src.sum()) == 65  # 13 per class x 5 source classes
    assert torch.equal(proxy.data.images, held.images[is_src])
    assert torch.equal(proxy.true_labels, held.labels[is_src])
    assert proxy.data.labels.tolist() == [mapping[int(y)] for y in held.labels[is_src]]
    cf = stage_split(dm, "cf")
    assert torch.equal(cf.data.images, held.images[is_src])
    assert torch.equal(cf.data.labels, held.labels[is_src])
    assert bool((cf.flags == CLEAN).all())
    corrupted = stage_split(dm, "corrupted")
    counts = torch.bincount(train.labels, minlength=10)
    assert int((corrupted.flags == NOISY).sum()) == sum(math.floor(0.4 * int(counts[s])) for s in mapping)
    check_oracle(dm)
    check_test_clean(dm, digits)


def test_poison_stage_sets(digits) -> None:  # noqa: ANN001
    p = Poison(rate=0.1, seed=8, target_class=0, margin=0)
    dm = module(p, digits)
    train, held = expected_split(digits)
    mask = trigger_mask(8, 8, 0.03, 0)
    non_target = held.labels != 0
    proxy = stage_split(dm, "proxy", 10)
    assert len(proxy.data) == int(non_target.sum()) == 117
    assert torch.equal(proxy.true_labels, held.labels[non_target])
    assert bool((proxy.data.labels == 0).all()) and bool((proxy.flags == POISONED).all())
    assert torch.equal(proxy.data.images, stamp(held.images[non_target], mask))
    # The ASR view of the held-out set is the same set of triggered images.
    view = dm.triggered("proxy")
    assert torch.equal(view.data.images, proxy.data.images) and torch.equal(view.data.labels, proxy.data.labels)
    corrupted = stage_split(dm, "corrupted")
    assert int((corrupted.flags == POISONED).sum()) == round(0.1 * len(train)) == 122
    assert torch.equal(dm.triggered("train").flags, corrupted.flags[corrupted.flags != CLEAN])
    test_view = dm.triggered("test")
    assert len(test_view.data) == int((dm.test.labels != 0).sum())
    cf = stage_split(dm, "cf")  # clean held-out, target class included
    assert torch.equal(cf.data.images, held.images) and torch.equal(cf.data.labels, held.labels)
    oracle = check_oracle(dm)
    assert int((oracle.data.labels == 0).sum()) == int((train.labels == 0).sum())  # target class kept
    check_test_clean(dm, digits)


def check_oracle(dm: CorruptionDataModule) -> Corrupted:
    corrupted = stage_split(dm, "corrupted")
    clean_idx = corrupted.flags == CLEAN
    oracle = stage_split(dm, "oracle")
    assert len(oracle.data) == int(clean_idx.sum()) < len(corrupted.data)
    assert torch.equal(oracle.data.images, corrupted.data.images[clean_idx])
    assert torch.equal(oracle.data.labels, corrupted.true_labels[clean_idx])
    assert bool((oracle.flags == CLEAN).all())
    return oracle


def check_test_clean(dm: CorruptionDataModule, digits_data: tuple[ImageSet, ImageSet]) -> None:
    test = dm.test_split()
    assert torch.equal(test.data.images, digits_data[1].images)
    assert torch.equal(test.data.labels, digits_data[1].labels)
    assert torch.equal(test.true_labels, digits_data[1].labels)
    assert bool((test.flags == CLEAN).all())


def test_no_corruption_has_no_proxy(digits) -> None:  # noqa: ANN001
    dm = module(NoCorruption(), digits)
    assert bool((stage_split(dm, "corrupted").flags == CLEAN).all())
    with pytest.raises(ConfigError):
        stage_split(dm, "proxy", 12)
    with pytest.raises(ConfigError, match="stage"):
        stage_split(dm, "mix")
    with pytest.raises(ValueError, match="poison"):
        dm.triggered("proxy")
