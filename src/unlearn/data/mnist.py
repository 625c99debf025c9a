"""``dataset=mnist``."""

from __future__ import annotations

import torch

from unlearn.data.imageset import ImageSet
from unlearn.data.sources import TorchvisionSource
from unlearn.registry import DATASETS


@DATASETS.register("mnist")
class MNIST(TorchvisionSource):
    """MNIST via ``torchvision.datasets.MNIST``: the four unzipped IDX files in ``data_dir/MNIST/raw/``.

    torchvision reads the raw IDX files directly (no md5 check on them), so any correct copy works.
    """

    name = "mnist"
    prompts = "number"
    class_names = tuple(str(i) for i in range(10))
    mean = (0.1307,)
    std = (0.3081,)
    trigger_margin = 2

    def _read(self, train: bool, download: bool) -> ImageSet:
        from torchvision.datasets import MNIST as TV

        ds = TV(str(self.data_dir), train=train, download=download)
        # Greyscale [N, 28, 28] -> [N, 28, 28, 1] so every source shares the HWC layout.
        return ImageSet(ds.data.to(torch.uint8).unsqueeze(-1).contiguous(), ds.targets.to(torch.long))

    def fetch_hint(self) -> str:
        from torchvision.datasets import MNIST as TV

        urls = " ".join(TV.mirrors[0] + f for f, _ in TV.resources)
        return f"fetch {urls} and gunzip them into {self.data_dir / 'MNIST' / 'raw'}/ (e.g. train-images-idx3-ubyte)"
