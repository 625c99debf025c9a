"""``dataset=cifar10``."""

from __future__ import annotations

import numpy as np
import torch

from unlearn.data.imageset import ImageSet
from unlearn.data.sources import TorchvisionSource
from unlearn.errors import DataUnavailableError
from unlearn.registry import DATASETS


@DATASETS.register("cifar10")
class CIFAR10(TorchvisionSource):
    """CIFAR-10 via ``torchvision.datasets.CIFAR10``: the python-pickle batches extracted to
    ``data_dir/cifar-10-batches-py/``.

    torchvision checks every batch against the official md5, so only the original archive's
    contents load. Class names are fixed here (torchvision only learns them from ``batches.meta``
    at load time) and checked against that file on load, so a wrong folder cannot slip through.
    """

    name = "cifar10"
    prompts = "cifar"
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2023, 0.1994, 0.2010)
    trigger_margin = (10, 6)

    @staticmethod
    def _torchvision_class() -> type:
        from torchvision.datasets import CIFAR10 as TV

        return TV

    def _read(self, train: bool, download: bool) -> ImageSet:
        ds = self._torchvision_class()(str(self.data_dir), train=train, download=download)
        if tuple(ds.classes) != self.class_names:
            raise DataUnavailableError(
                f"{self.name}: class names in {self.data_dir} do not match {self.name}'s; "
                f"got {list(ds.classes)[:5]}..., is this the right folder?"
            )
        # ``.data`` is already NHWC uint8 (torchvision transposes the CHW rows).
        images = torch.from_numpy(np.ascontiguousarray(ds.data, dtype=np.uint8))
        return ImageSet(images, torch.as_tensor(ds.targets, dtype=torch.long))

    def fetch_hint(self) -> str:
        tv = self._torchvision_class()
        return f"fetch {tv.url} and extract it into {self.data_dir}/ so that {self.data_dir / tv.base_folder}/ exists"
