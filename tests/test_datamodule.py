"""The DataModule's CPU-scale pieces: a stratified train subset and whole-batch loading."""

from __future__ import annotations

import torch
from torch.utils.data import default_collate

from conftest import compose_cfg
from unlearn.app import build
from unlearn.data.corruption import Symmetric
from unlearn.data.datamodule import CorruptionDataModule
from unlearn.data.digits import Digits
from unlearn.stage_table import stage_split


def _dm(**kwargs) -> CorruptionDataModule:
    dm = CorruptionDataModule(Digits(), Symmetric(rate=0.4), heldout_fraction=0.2, **kwargs)
    dm.setup()
    return dm


def test_train_size_subsets_the_train_split_only():
    whole, small = _dm(), _dm(train_size=500)
    assert len(small.train.data) == 500 and len(whole.train.data) > 1000
    assert torch.equal(small.heldout.labels, whole.heldout.labels)  # the held-out set is drawn first, unchanged
    share = whole.train.true_labels.bincount().double() / len(whole.train.data)
    counts = small.train.true_labels.bincount()
    assert ((counts - 500 * share).abs() < 1).all()  # stratified: every class in proportion
    assert abs(int(small.train.flags.ne(0).sum()) - 200) <= 1  # the corruption applies to the subset (40%)
    assert len(stage_split(small, "oracle").data) == int(small.train.flags.eq(0).sum())


def test_a_null_train_size_keeps_the_artifact_keys_of_whole_split_runs(tmp_path):
    cfg = compose_cfg("correct", tmp_path)
    assert cfg.dataset.train_size is None
    material = build.key_material(cfg, build.corruption(cfg))
    assert "train_size" not in material["dataset"]  # keys made before the option existed stay valid
    sized = compose_cfg("correct", tmp_path, ["dataset.train_size=500"])
    assert build.key_material(sized, build.corruption(sized))["dataset"]["train_size"] == 500


def test_deterministic_transforms_load_whole_batches_with_the_same_tensors():
    dm = _dm()
    ds = dm.loader(dm.train, train=True).dataset
    assert ds._batched
    idx = [5, 3, 100, 7]
    batch, single = ds.__getitems__(idx), default_collate([ds[i] for i in idx])
    assert isinstance(batch, dict) and batch.keys() == single.keys()
    assert all(torch.equal(batch[k], single[k]) and batch[k].dtype == single[k].dtype for k in batch)
    resized = CorruptionDataModule(Digits(), Symmetric(rate=0.4), channels=3, image_size=16)
    resized.setup()
    rds = resized.loader(resized.train, train=False).dataset
    assert torch.equal(rds.__getitems__(idx)["x"], default_collate([rds[i] for i in idx])["x"])


def test_random_augmentation_stays_per_image():
    dm = CorruptionDataModule(Digits(), Symmetric(rate=0.4), crop_padding=2)
    dm.setup()
    ds = dm.loader(dm.train, train=True).dataset
    assert not ds._batched  # a batched RandomCrop would give every image of the batch the same crop
    assert isinstance(ds.__getitems__([0, 1]), list)
    assert dm.loader(dm.train, train=False).dataset._batched  # evaluation has no randomness
