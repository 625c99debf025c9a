"""The LightningDataModule every stage trains through: one source, one split, one corruption.

Which subset a stage trains on follows spec 1.7 (``stage_split``): the corrupted train
split, its clean part (oracle), the clean held-out set (CF), or a 100%-corrupted copy of
the held-out set (proxy, per seed). ``use_stage`` points ``train_dataloader`` at one of
them so ``trainer.fit(module, datamodule=dm)`` stays the single training path.
"""

from __future__ import annotations

from functools import cached_property

import lightning as L
from torch.utils.data import DataLoader

from unlearn.data.corruption import Corrupted, Corruption, NoCorruption, Poison, clean
from unlearn.data.dataset import CorruptedImages
from unlearn.data.sampler import EpochShuffle
from unlearn.data.imageset import ImageSet
from unlearn.data.sources import Source
from unlearn.data.splits import stratified_split
from unlearn.data.transforms import build_transform
from unlearn.errors import bad_value

STAGES = ("corrupted", "oracle", "cf", "proxy")


class CorruptionDataModule(L.LightningDataModule):
    def __init__(
        self,
        source: Source,
        corruption: Corruption | None = None,
        heldout_fraction: float = 0.1,
        seed: int = 11,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        crop_padding: int = 0,
        channels: int | None = None,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.corruption = corruption if corruption is not None else NoCorruption()
        self.heldout_fraction = float(heldout_fraction)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.num_workers = int(num_workers)
        self.crop_padding = int(crop_padding)
        self.channels = channels
        self.image_size = image_size
        self.stage = "corrupted"
        self.proxy_seed: int | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    # -- data, built once and cached -------------------------------------------------
    @cached_property
    def _splits(self) -> tuple[ImageSet, ImageSet, ImageSet]:
        train_pool, test = self.source.load()
        kept, held = stratified_split(train_pool.labels, self.heldout_fraction, self.seed)
        return train_pool.subset(kept), train_pool.subset(held), test

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
        c, h, w = self.test.shape
        size = self.image_size
        return (self.channels or c, size or h, size or w)

    def prepare_data(self) -> None:
        # Lightning calls this at every fit (once per stage): go through the cached splits so
        # the files are read once per process, and fail early with the source's one-line message.
        _ = self._splits

    def setup(self, stage: str | None = None) -> None:
        _ = self.train

    # -- stage subsets ---------------------------------------------------------------
    def stage_split(self, stage: str, seed: int | None = None) -> Corrupted:
        if stage == "corrupted":
            return self.train
        if stage == "oracle":
            return self.train.only_clean()
        if stage == "cf":
            return self.corruption.cf_set(self.heldout, self.num_classes, self.name)
        if stage == "proxy":
            if seed is None:
                raise ValueError("the proxy stage needs a proxy seed")
            return self.corruption.proxy(self.heldout, self.num_classes, self.name, int(seed))
        raise bad_value("stage", stage, STAGES)

    def use_stage(self, stage: str, seed: int | None = None) -> CorruptionDataModule:
        self.stage_split(stage, seed)  # validate now, not inside the trainer
        self.stage, self.proxy_seed = stage, seed
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
        return build_transform(
            self.source.mean, self.source.std, c, self.channels, self.image_size, train, self.crop_padding
        )

    def loader(self, split: Corrupted, train: bool = False, batch_size: int | None = None) -> DataLoader:
        ds = CorruptedImages(split, self.transform(train))
        return DataLoader(
            ds,
            batch_size=batch_size or (self.batch_size if train else self.eval_batch_size),
            sampler=EpochShuffle(len(ds), self.seed) if train else None,
            drop_last=False,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.stage_split(self.stage, self.proxy_seed), train=True)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.test_split())
