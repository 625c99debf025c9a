"""The LightningDataModule every stage trains through: one source, one split, one corruption.

It offers the splits of spec 1.7 (the corrupted train split, its clean part, the clean held-out
set for CF, 100%-corrupted copies of the held-out set for the proxies, a forget request's retain
set, LiRA's shadow halves); which stage trains on which is ``unlearn.stage_table``'s business.
``use_split`` points ``train_dataloader`` at one of them so ``trainer.fit(module, datamodule=dm)``
stays the single training path.
"""

from __future__ import annotations

from functools import cached_property

import lightning as L
import torch
from torch.utils.data import DataLoader

from unlearn.data.data_settings import check_data_settings, holds_out
from unlearn.data.corruption import Corrupted, Corruption, NoCorruption, Poison, check_source, clean
from unlearn.data.dataset import CorruptedImages, collate
from unlearn.data.sampler import EpochShuffle
from unlearn.data.imageset import ImageSet
from unlearn.data.sources import Source
from unlearn.data.splits import balanced_halves, stratified_split, stratified_subset
from unlearn.data.transforms import build_transform, model_transform
from unlearn.errors import ConfigError, bad_value
from unlearn.data.preprocess import Preprocess


class CorruptionDataModule(L.LightningDataModule):
    def __init__(
        self,
        source: Source,
        corruption: Corruption | None = None,
        heldout_fraction: float = 0.1,
        seed: int = 11,
        heldout_size: int | None = None,
        train_size: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        crop_padding: int = 0,
        channels: int | None = None,
        image_size: int | None = None,
        preprocess: Preprocess | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.corruption = corruption if corruption is not None else NoCorruption()
        check_data_settings(heldout_fraction, heldout_size, train_size, batch_size, eval_batch_size, num_workers,
                            crop_padding, seed)
        self.heldout_fraction = float(heldout_fraction)
        # Size of the held-out set drawn from a source's separate clean pool (None: 1000, spec 9).
        self.heldout_size = None if heldout_size is None else int(heldout_size)
        # A seeded stratified subset of the train split (after the held-out set is drawn); None: all.
        self.train_size = None if train_size is None else int(train_size)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.num_workers = int(num_workers)
        self.crop_padding = int(crop_padding)
        self.channels = channels
        self.image_size = image_size
        # A pretrained arch's own pipeline (CLIP, DINOv3); None = the dataset's statistics.
        self.preprocess = preprocess
        # What train_dataloader serves (use_split); None: the corrupted train split.
        self.fit_split: Corrupted | None = None
        # Positions in ``train`` a forget request names (correct.py forget=...); None: no request.
        self.forget_index: torch.Tensor | None = None
        # Shadow models of the LiRA attack (correct.py unlearn.shadows=S): each trains on a seeded
        # half of the train split; 0 = no shadow stage.
        self.shadow_count = 0

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def holds_out(self) -> bool:
        return holds_out(self.heldout_fraction, self.heldout_size)

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    # -- data, built once and cached -------------------------------------------------
    @cached_property
    def _splits(self) -> tuple[ImageSet, ImageSet, ImageSet]:
        train_pool, test = self.source.load()
        pool = self.source.heldout_pool()
        if pool is None:
            if self.heldout_size is not None:
                raise bad_value("dataset.heldout_size", self.heldout_size,
                                f"null for {self.name}, which has no separate held-out pool (use heldout_fraction)")
            kept, held = stratified_split(train_pool.labels, self.heldout_fraction, self.seed)
            train, heldout = train_pool.subset(kept), train_pool.subset(held)
        else:
            # Real-noise data (spec 9): all of train trains; the held-out set is a seeded random
            # subset of the source's clean pool (Clothing1M: clean val).
            size = 1000 if self.heldout_size is None else self.heldout_size
            if not 0 < size <= len(pool):
                raise bad_value("dataset.heldout_size", size, f"1..{len(pool)} (the size of {self.name}'s clean pool)")
            gen = torch.Generator().manual_seed(self.seed)
            pick = torch.sort(torch.randperm(len(pool), generator=gen)[:size]).values
            train, heldout = train_pool, pool.subset(pick)
        if self.train_size is not None:
            train = train.subset(stratified_subset(train.labels, self.train_size, self.seed + 1))
        check_source(self.corruption, train, self.name, real_noise=pool is not None)
        if train.lazy and self.preprocess is None and self.image_size is None:
            raise ConfigError(f"dataset={self.name} reads images of varying size from disk; choose an arch that "
                              "resizes them (one with preprocess or input_size, e.g. arch=dinov3_vitb16)")
        return train, heldout, test

    @cached_property
    def train(self) -> Corrupted:
        """The corrupted training split (what the corrupted model sees)."""
        return self.corruption.apply(self._splits[0], self.num_classes, self.name)

    @property
    def heldout(self) -> ImageSet:
        """Clean held-out images: the source of proxy/CF sets, unlabelled support for alpha."""
        return self._splits[1]

    @property
    def test(self) -> ImageSet:
        return self._splits[2]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        if self.preprocess is not None:
            return (3, self.preprocess.size, self.preprocess.size)
        c, h, w = self.test.shape
        size = self.image_size
        return (self.channels or c, size or h, size or w)

    def prepare_data(self) -> None:
        # Lightning calls this at every fit (once per stage): go through the cached splits so
        # the files are read once per process, and fail early with the source's one-line message.
        _ = self._splits

    def setup(self, stage: str | None = None) -> None:
        _ = self.train

    # -- training splits (unlearn.stage_table says which stage trains on which) -----------
    def cf_split(self) -> Corrupted:
        return self.corruption.cf_set(self.heldout, self.num_classes, self.name)

    def proxy_split(self, seed: int) -> Corrupted:
        return self.corruption.proxy(self.heldout, self.num_classes, self.name, int(seed))

    def shadow_split(self, index: int) -> Corrupted:
        if not 0 <= int(index) < self.shadow_count:
            raise ValueError(f"shadow model {index} of {self.shadow_count}")
        return self.train.subset(self.shadow_members()[int(index)].nonzero().squeeze(1))

    def shadow_members(self) -> torch.Tensor:
        """``[shadow_count, len(train)]``: which train rows each shadow model trains on."""
        return balanced_halves(len(self.train.data), self.shadow_count, self.seed + 4_242)

    # -- forget requests (approximate unlearning) -----------------------------------
    def forget_rows(self) -> torch.Tensor:
        if self.forget_index is None:
            raise ConfigError("this needs a forget request: pick one with forget=random10 (or random1, class, ...)")
        return self.forget_index

    def forget_split(self) -> Corrupted:
        return self.train.subset(self.forget_rows())

    def retain_rows(self) -> torch.Tensor:
        keep = torch.ones(len(self.train.data), dtype=torch.bool)
        keep[self.forget_rows()] = False
        return keep.nonzero().squeeze(1)

    def retain_split(self) -> Corrupted:
        return self.train.subset(self.retain_rows())

    def test_parts(self, unseen_fraction: float) -> tuple[Corrupted, Corrupted]:
        """(unseen pool, evaluation split) of the test set, stratified and seeded (spec blend_aamu 1).

        The unseen pool is what A-AMU samples as in-distribution non-members; metrics and the
        membership attacks use only the evaluation split, so no image serves both.
        """
        if not 0.0 < unseen_fraction < 1.0:
            raise bad_value("unlearn.unseen_fraction", unseen_fraction, "a fraction strictly between 0 and 1")
        evaluation, unseen = stratified_split(self.test.labels, unseen_fraction, self.seed)
        return clean(self.test.subset(unseen)), clean(self.test.subset(evaluation))

    def use_split(self, split: Corrupted) -> CorruptionDataModule:
        self.fit_split = split
        return self

    # -- views for evaluation --------------------------------------------------------
    def test_split(self) -> Corrupted:
        return clean(self.test)

    def triggered(self, which: str) -> Corrupted:
        """Poisoned views whose accuracy is an attack success rate (labels = target class)."""
        if not isinstance(self.corruption, Poison):
            raise ValueError("triggered views exist only for corruption=poison")
        if which == "train":
            return self.train.only_corrupted()
        if which == "proxy":
            return self.corruption.triggered(self.heldout, self.num_classes)
        if which == "test":
            return self.corruption.triggered(self.test, self.num_classes)
        raise bad_value("triggered view", which, ("train", "proxy", "test"))

    # -- loaders ---------------------------------------------------------------------
    def transform(self, train: bool):
        c = self.test.shape[0]
        if self.preprocess is not None:
            return model_transform(self.preprocess, c, train)
        return build_transform(
            self.source.mean, self.source.std, c, self.channels, self.image_size, train, self.crop_padding
        )

    def loader(self, split: Corrupted, train: bool = False, batch_size: int | None = None,
               rank: int = 0, world: int = 1) -> DataLoader:
        ds = CorruptedImages(split, self.transform(train))
        return DataLoader(
            ds,
            batch_size=batch_size or (self.batch_size if train else self.eval_batch_size),
            sampler=EpochShuffle(len(ds), self.seed, rank, world) if train else None,
            drop_last=False,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shards by rank itself (the trainer is told not to): ``batch_size`` is the global batch."""
        trainer = getattr(self, "trainer", None)
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        if self.batch_size % world:
            raise bad_value("batch_size", self.batch_size,
                            f"a multiple of the {world} devices (it is the global batch, split across them)")
        split = self.fit_split if self.fit_split is not None else self.train
        return self.loader(split, train=True, batch_size=self.batch_size // world, rank=rank, world=world)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.test_split())
