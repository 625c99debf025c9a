"""What every image source is: a dataset reduced to raw ``ImageSet`` train/test splits.

The sources themselves are one module each, named as their ``dataset=`` option (``digits.py``,
``mnist.py``, ``cifar10.py``, ...). The torchvision-backed ones share ``TorchvisionSource``: they read
torchvision's own file formats and, offline, stop with one line saying what to fetch and where.
"""

from __future__ import annotations

import tarfile
from abc import ABC, abstractmethod
from pathlib import Path


from unlearn.data.fetching import fetching
from unlearn.data.imageset import ImageSet
from unlearn.errors import DataUnavailableError, one_line


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
