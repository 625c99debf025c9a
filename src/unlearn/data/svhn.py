"""``dataset=svhn``."""

from __future__ import annotations

import numpy as np
import torch

from unlearn.data.imageset import ImageSet
from unlearn.data.sources import TorchvisionSource
from unlearn.registry import DATASETS


@DATASETS.register("svhn")
class SVHN(TorchvisionSource):
    """SVHN (cropped digits) via ``torchvision.datasets.SVHN``: ``train_32x32.mat`` and
    ``test_32x32.mat`` directly in ``data_dir/``; the ``extra`` split is not used.

    The files record digit 0 as label 10; torchvision maps it to 0, so labels are the digits.
    """

    name = "svhn"
    prompts = "number"
    class_names = tuple(str(i) for i in range(10))
    mean = (0.4377, 0.4438, 0.4728)
    std = (0.1980, 0.2010, 0.1970)
    trigger_margin = (10, 6)

    def _read(self, train: bool, download: bool) -> ImageSet:
        from torchvision.datasets import SVHN as TV

        ds = TV(str(self.data_dir), split="train" if train else "test", download=download)
        # torchvision keeps SVHN as NCHW (unlike CIFAR); bring it to NHWC.
        images = torch.from_numpy(np.asarray(ds.data, dtype=np.uint8)).permute(0, 2, 3, 1).contiguous()
        return ImageSet(images, torch.as_tensor(ds.labels, dtype=torch.long))

    def fetch_hint(self) -> str:
        from torchvision.datasets import SVHN as TV

        urls = " ".join(TV.split_list[s][0] for s in ("train", "test"))
        return f"fetch {urls} into {self.data_dir}/ (train_32x32.mat, test_32x32.mat)"
