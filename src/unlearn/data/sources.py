"""One registry of image sources. Each reduces its dataset to raw ``ImageSet`` train/test splits.

The default source, scikit-learn's bundled handwritten digits, ships inside an installed
package, so every default command and test runs offline on real images. The torchvision
sources use torchvision's own classes and file formats and, offline, stop with one line
saying what to fetch and where to put it.
"""

from __future__ import annotations

import tarfile
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from unlearn.data.fetching import fetching
from unlearn.data.imageset import ImageSet
from unlearn.data.splits import stratified_split
from unlearn.errors import DataUnavailableError, one_line
from unlearn.registry import DATASETS


class Source(ABC):
    """A dataset: its class names, normalisation statistics and raw train/test splits."""

    name: str = ""
    class_names: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    # Default BadNets patch for this image size (spec 1.6): fraction of pixels, corner margin.
    trigger_percent: float = 0.03
    trigger_margin: int | tuple[int, int] = 2
    # Zero-shot prompt template set (unlearn.models.prompts) for CLIP heads.
    prompts: str = "photo"

    def __init__(self, root: str | Path = "data") -> None:
        self.root = Path(root).expanduser()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @abstractmethod
    def load(self) -> tuple[ImageSet, ImageSet]:
        """Return ``(train, test)``; the test split is the official one and is never corrupted."""

    def heldout_pool(self) -> ImageSet | None:
        """A separate clean pool to draw the held-out (proxy) set from; None splits it off the train set.

        A real-noise dataset needs one: its train labels are noisy, so a slice of the train set
        would not be clean (Clothing1M draws from its clean validation set, spec 9).
        """
        return None


@DATASETS.register("digits")
class Digits(Source):
    """scikit-learn's 1,797 real 8x8 handwritten digits (UCI), bundled with the package.

    There is no official test split, so a fixed stratified ``test_fraction`` (seed 0,
    independent of every experiment seed) is set aside once; the rest is the train pool.
    """

    name = "digits"
    prompts = "number"
    class_names = tuple(str(i) for i in range(10))
    mean = (0.3062,)
    std = (0.3765,)
    # 3% of 8x8 would be 2 pixels; a 2x2 patch in the very corner is the digits default.
    trigger_percent = 0.0625
    trigger_margin = 0

    def __init__(self, root: str | Path = "data", test_fraction: float = 0.25) -> None:
        super().__init__(root)
        self.test_fraction = float(test_fraction)

    def load(self) -> tuple[ImageSet, ImageSet]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        # Pixel values are 0..16; rescale to the 0..255 range every other source uses.
        pixels = torch.round(torch.as_tensor(bunch.images, dtype=torch.float32) * (255.0 / 16.0))
        images = pixels.to(torch.uint8).unsqueeze(-1)
        full = ImageSet(images, torch.as_tensor(bunch.target, dtype=torch.long))
        train_idx, test_idx = stratified_split(full.labels, self.test_fraction, seed=0)
        return full.subset(train_idx), full.subset(test_idx)


class FileSource(Source):
    """A source whose files live in ``root / name`` and may be fetched when missing."""

    def __init__(self, root: str | Path = "data", download: bool = True) -> None:
        super().__init__(root)
        self.download = bool(download)

    @property
    def data_dir(self) -> Path:
        return self.root / self.name


class TorchvisionSource(FileSource):
    """A source read by one of torchvision's dataset classes from its own on-disk format.

    Files live under ``root / name`` (``data_dir``), one folder per dataset, laid out exactly as
    torchvision expects when given that folder as its ``root``, so an existing torchvision
    download can be moved or symlinked there as is. ``load()`` never touches the network when
    the files are present; when they are not, it tries torchvision's own download (if allowed)
    and otherwise stops with a single line saying what to fetch and where to put it.
    """

    @abstractmethod
    def _read(self, train: bool, download: bool) -> ImageSet:
        """Open one split with torchvision; raises ``RuntimeError`` when its files are missing."""

    @abstractmethod
    def fetch_hint(self) -> str:
        """What to download and where it must end up, for when the automatic download cannot run."""

    def load(self) -> tuple[ImageSet, ImageSet]:
        try:
            return self._read(train=True, download=False), self._read(train=False, download=False)
        except RuntimeError as missing:
            if not self.download:
                raise DataUnavailableError(self._unavailable("download=False")) from missing
        try:
            # torchvision's download checks the files first, so a job that waited here finds them and reads.
            with fetching(self.data_dir):
                return self._read(train=True, download=True), self._read(train=False, download=True)
        except DataUnavailableError:
            raise
        except (OSError, RuntimeError, tarfile.TarError) as err:
            raise DataUnavailableError(self._unavailable(f"download failed: {one_line(err, 200)}")) from err

    def _unavailable(self, reason: str) -> str:
        return f"{self.name}: dataset files missing or corrupt under {self.data_dir} ({reason}); {self.fetch_hint()}"


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


@DATASETS.register("cifar100")
class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels) via ``torchvision.datasets.CIFAR100``: ``train``, ``test`` and ``meta``
    extracted to ``data_dir/cifar-100-python/``; same md5 and class-name checks as CIFAR-10.
    """

    name = "cifar100"
    # Fine label names in label order, as in the archive's ``meta`` (alphabetical).
    class_names = (
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    )  # fmt: skip
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    trigger_margin = (10, 6)

    @staticmethod
    def _torchvision_class() -> type:
        from torchvision.datasets import CIFAR100 as TV

        return TV


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
