"""The form every source is reduced to, so corruption can work on raw pixels.

Keeping raw uint8 HWC pixels (not transformed tensors) is what lets the BadNets trigger be
stamped on the original 28x28 / 32x32 image before any resize (spec 1.6).

Sources too big for memory (Clothing1M: ~1M JPEGs of varying size) hand over ``LazyImages``
instead: file paths, decoded one image at a time when a loader asks for it. Labels are always
in memory, so splitting and label noise work the same on both forms; only pixel-level
corruption (poison) needs the in-memory form.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


class LazyImages:
    """Image files under ``root``, named by relative ``keys``, decoded to uint8 RGB on access.

    Keys are held as one fixed-width bytes array rather than a list of ``str``/``Path`` objects:
    for a million files that is ~40 MB instead of several hundred, and DataLoader workers share
    it without touching per-object reference counts (which would copy the pages of a list).
    """

    channels = 3

    def __init__(self, root: str | Path, keys: Sequence[str] | np.ndarray) -> None:
        self.root = str(root)
        if isinstance(keys, np.ndarray) and keys.dtype.kind == "S":
            self.keys = keys
        else:
            self.keys = np.array([k.encode("utf-8") for k in keys], dtype=np.bytes_)
        if self.keys.ndim != 1:
            raise ValueError(f"keys must be one-dimensional, got shape {self.keys.shape}")

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def __repr__(self) -> str:
        return f"LazyImages({len(self)} files under {self.root!r})"

    def __getitem__(self, index: int | slice | torch.Tensor | np.ndarray) -> torch.Tensor | LazyImages:
        """An int gives one decoded image ``uint8 [H, W, 3]`` (as indexing a tensor would); an
        index tensor, array or slice gives the subset, still lazy."""
        if isinstance(index, (int, np.integer)) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            return self.chw(int(index)).permute(1, 2, 0)
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        return LazyImages(self.root, self.keys[index])

    def subset(self, index: torch.Tensor) -> LazyImages:
        return LazyImages(self.root, self.keys[index.cpu().numpy()])

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.keys[i].decode("utf-8"))

    def chw(self, i: int) -> torch.Tensor:
        """Image ``i`` as ``uint8 [3, H, W]``: grey, palette and CMYK files all come out RGB."""
        return decode_rgb(self.path(i))


def decode_rgb(path: str) -> torch.Tensor:
    try:
        return _tv_decode(path)
    except (RuntimeError, ImportError):
        # A crawled file can be a format torchvision's decoders reject (e.g. a GIF or an odd
        # JPEG variant saved as .jpg), and future torchvision drops its decoders; PIL reads both.
        from PIL import Image

        with Image.open(path) as img:
            return torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1)


def _tv_decode(path: str) -> torch.Tensor:
    # torchvision's libjpeg-turbo path is ~1.4x faster than PIL here; 0.29 deprecated it (for
    # TorchCodec, not installed) and warns on every call, once per image: keep that one quiet.
    from torchvision.io import ImageReadMode, decode_image

    return decode_image(path, mode=ImageReadMode.RGB)


warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)


@dataclass(frozen=True)
class ImageSet:
    """Images with integer labels ``int64 [N]``.

    ``images`` is either raw pixels ``uint8 [N, H, W, C]`` in memory or ``LazyImages`` (files
    decoded per item, sizes may differ between images).
    """

    images: torch.Tensor | LazyImages
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if isinstance(self.images, LazyImages):
            n = len(self.images)
        elif self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 [N,H,W,C], got {self.images.dtype} {tuple(self.images.shape)}")
        else:
            n = self.images.shape[0]
        if self.labels.shape != (n,):
            raise ValueError(f"labels shape {tuple(self.labels.shape)} does not match {n} images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def lazy(self) -> bool:
        """True when pixels live in files: no pixel-level corruption, sizes unknown until decoded."""
        return isinstance(self.images, LazyImages)

    def subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index])

    @property
    def shape(self) -> tuple[int, int | None, int | None]:
        """(C, H, W) of one raw image; H and W are None for lazy sets, whose sizes vary per file."""
        if isinstance(self.images, LazyImages):
            return (LazyImages.channels, None, None)
        _, h, w, c = self.images.shape
        return (c, h, w)
