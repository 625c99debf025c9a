"""Fashion-MNIST: 70,000 real 28x28 grayscale images of clothing, 10 classes (Xiao et al. 2017).

It is the real-scale dataset every machine of this project has without a network: Debian's
package ``dataset-fashion-mnist`` installs the four gzipped IDX files in ``SYSTEM_DIR``. Big
enough for a from-scratch model to memorise label noise the way the CUTS paper's MNIST and
CIFAR models do (the bundled digits are not), small enough to train on a 2-core CPU.

Where the files are looked for, in order: ``<data_dir>/fashion_mnist/FashionMNIST/raw/``
(torchvision's layout, so an existing torchvision copy can be moved there), the system copy,
then torchvision's own download. Offline without either copy it stops with one line naming
both ways to get the files.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from unlearn.data.imageset import ImageSet
from unlearn.data.sources import TorchvisionSource
from unlearn.errors import DataUnavailableError
from unlearn.registry import DATASETS

SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzipped or not) as a uint8 array: ``[N, H, W]`` images or ``[N]`` labels.

    torchvision's reader takes only unzipped files, and the system copy is gzipped.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in (_IMAGES_MAGIC, _LABELS_MAGIC):
        raise DataUnavailableError(f"fashion_mnist: {path} is not an IDX file of uint8 images or labels "
                                   f"(magic {magic}, expected {_IMAGES_MAGIC} or {_LABELS_MAGIC})")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4: 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataUnavailableError(f"fashion_mnist: {path} is truncated ({body.size} of {int(np.prod(shape))} bytes)")
    return body.reshape(shape)


@DATASETS.register("fashion_mnist")
class FashionMNIST(TorchvisionSource):
    """Fashion-MNIST via the system copy or ``torchvision.datasets.FashionMNIST``."""

    name = "fashion_mnist"
    prompts = "fashion"
    # Zalando's label names, lower-cased so they read naturally inside a CLIP prompt.
    class_names = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot")
    # Statistics of the 60,000 training images.
    mean = (0.2860,)
    std = (0.3530,)
    # MNIST's trigger geometry (28x28, spec 1.6): 3% of the pixels, margin 2.
    trigger_margin = 2

    def __init__(self, root: str | Path = "data", download: bool = True, system_dir: str | None = SYSTEM_DIR) -> None:
        super().__init__(root, download)
        self.system_dir = Path(system_dir) if system_dir else None

    def load(self) -> tuple[ImageSet, ImageSet]:
        try:  # a torchvision copy under data_dir wins: the user put it there
            return self._read(train=True, download=False), self._read(train=False, download=False)
        except RuntimeError:
            pass
        if self.system_dir is not None and all((self.system_dir / f).is_file() for f in self._system_files()):
            return self._read_system("train"), self._read_system("test")
        return super().load()

    def _system_files(self) -> list[str]:
        return [f for pair in FILES.values() for f in pair]

    def _read_system(self, split: str) -> ImageSet:
        assert self.system_dir is not None
        images, labels = (read_idx(self.system_dir / f) for f in FILES[split])
        if len(images) != len(labels):
            raise DataUnavailableError(f"fashion_mnist: {self.system_dir} holds {len(images)} {split} images "
                                       f"but {len(labels)} labels")
        return ImageSet(torch.from_numpy(images.copy()).unsqueeze(-1), torch.from_numpy(labels.astype(np.int64)))

    def _read(self, train: bool, download: bool) -> ImageSet:
        from torchvision.datasets import FashionMNIST as TV

        ds = TV(str(self.data_dir), train=train, download=download)
        return ImageSet(ds.data.to(torch.uint8).unsqueeze(-1).contiguous(), ds.targets.to(torch.long))

    def fetch_hint(self) -> str:
        from torchvision.datasets import FashionMNIST as TV

        urls = " ".join(TV.mirrors[0] + f for f, _ in TV.resources)
        system = f" into {self.system_dir}/" if self.system_dir else ""
        return (f"on Debian/Ubuntu run `apt-get install -y dataset-fashion-mnist` (installs the files{system}); "
                f"elsewhere fetch {urls} and gunzip them into {self.data_dir / 'FashionMNIST' / 'raw'}/")
