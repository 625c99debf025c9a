"""CINIC-10 (Darlow et al., 2018): CIFAR-10's classes, 270,000 32x32 images, from CIFAR-10 and ImageNet.

Files under ``<root>/cinic10/`` (``data_dir``), exactly as the official ``CINIC-10.tar.gz``
extracts (an existing copy can be moved or symlinked there as is)::

    train/<class>/*.png    90,000 images, 9,000 per class
    valid/<class>/*.png    unused (the Blend paper trains on train and tests on test)
    test/<class>/*.png     90,000 images
    <class> = airplane automobile bird cat deer dog frog horse ship truck

Folders are enumerated with torchvision's ``ImageFolder`` rules (sorted class folders give the
labels, which is CIFAR-10's label order) and every PNG is decoded into one in-memory uint8
``ImageSet``, so BadNets poison can stamp raw pixels like on CIFAR-10. The ImageNet-derived
images include a few greyscale PNGs; all come out RGB ``[32, 32, 3]``.

Decoding 180,000 PNGs takes ~15 s, so each split's pixels are cached next to the data as
``cinic10_<split>_decoded.safetensors`` (no pickle; ~280 MB each). A cache is used only while
the split still lists the same PNG files (count and names); otherwise it is re-decoded and
replaced, with a warning. Delete the cache files to force a re-decode after editing images in
place. A read-only ``data_dir`` just goes without the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import warnings
from pathlib import Path

import torch

from unlearn.data.imageset import ImageSet, decode_rgb
from unlearn.data.fetching import fetching
from unlearn.data.cifar10 import CIFAR10
from unlearn.data.sources import FileSource
from unlearn.errors import DataUnavailableError, one_line
from unlearn.registry import DATASETS

log = logging.getLogger("unlearn")

URL = "https://datashare.ed.ac.uk/bitstream/handle/10283/3192/CINIC-10.tar.gz"
ARCHIVE = "CINIC-10.tar.gz"
SPLITS = ("train", "test")
ARCHIVE_SPLITS = ("train", "valid", "test")
SIZE = 32
CACHE_VERSION = 1
# Staging folder for extraction: a half-extracted archive must never look like a dataset.
STAGING = ".cinic10_extracting"


@DATASETS.register("cinic10")
class CINIC10(FileSource):
    """CINIC-10 train (90,000) and test (90,000) from the official PNG folders, decoded into memory."""

    name = "cinic10"
    prompts = "cifar"
    class_names = CIFAR10.class_names  # the same ten classes, in the same order
    # The statistics the Blend paper's code normalises CINIC-10 with.
    mean = (0.478, 0.472, 0.430)
    std = (0.242, 0.238, 0.258)
    trigger_margin = (10, 6)

    def __init__(self, root: str | Path = "data", download: bool = True, decode_cache: bool = True) -> None:
        super().__init__(root, download)
        self.decode_cache = bool(decode_cache)

    def load(self) -> tuple[ImageSet, ImageSet]:
        if not self._complete():
            if not self.download:
                raise DataUnavailableError(self._unavailable("download=False"))
            with fetching(self.data_dir):
                if not self._complete():  # an earlier job of the sweep may have fetched it meanwhile
                    self._fetch()
        return self._split("train"), self._split("test")

    def _complete(self) -> bool:
        return all((self.data_dir / s).is_dir() for s in SPLITS)

    def fetch_hint(self) -> str:
        """What to download and where it must end up, for when the automatic download cannot run."""
        return (f"fetch {URL} and extract it into {self.data_dir}/ "
                f"so that {self.data_dir / 'train' / 'airplane'}/ exists (train/ and test/ are used)")

    def _unavailable(self, reason: str) -> str:
        return f"{self.name}: dataset files missing under {self.data_dir} ({reason}); {self.fetch_hint()}"

    # -- reading -------------------------------------------------------------------------
    def _split(self, split: str) -> ImageSet:
        files = self._listing(split)
        cache = self.data_dir / f"cinic10_{split}_decoded.safetensors"
        stamp = _fingerprint(files)
        if self.decode_cache:
            cached = _read_cache(cache, stamp)
            if cached is not None:
                return cached
        data = _decode(files, self.data_dir)
        if self.decode_cache:
            _write_cache(cache, stamp, data)
        return data

    def _listing(self, split: str) -> list[tuple[str, int]]:
        """``(relative path, label)`` of every PNG in one split, in ImageFolder's order."""
        from torchvision.datasets.folder import find_classes, make_dataset

        folder = self.data_dir / split
        try:
            classes, class_to_idx = find_classes(folder)
        except FileNotFoundError as err:  # no class folder at all
            raise DataUnavailableError(self._unavailable(f"no class folders in {folder}")) from err
        if tuple(classes) != self.class_names:
            extra = sorted(set(classes) - set(self.class_names))
            missing = sorted(set(self.class_names) - set(classes))
            raise DataUnavailableError(
                f"{self.name}: class folders in {folder} are not CINIC-10's (unexpected: {extra or 'none'}, "
                f"missing: {missing or 'none'}); expected exactly {' '.join(self.class_names)}"
            )
        try:
            samples = make_dataset(folder, class_to_idx, extensions=(".png",))
        except FileNotFoundError as err:  # a class folder without any PNG
            raise DataUnavailableError(f"{self.name}: {one_line(err, 200)} (under {folder})") from err
        if len(samples) != 90_000:
            log.warning("%s: %s has %d PNGs, not the official 90,000", self.name, folder, len(samples))
        # make_dataset joins onto the folder as given; slicing is ~10x faster than os.path.relpath.
        prefix = os.path.join(str(folder), "")
        return [(os.path.join(split, path[len(prefix):]) if path.startswith(prefix)
                 else os.path.relpath(path, self.data_dir), label) for path, label in samples]

    # -- getting the files ---------------------------------------------------------------
    def _fetch(self) -> None:
        """Download (unless the archive is already in data_dir) and extract, leaving no trace on failure.

        The archive is extracted into a staging folder and its splits moved into place only once
        extraction finished. A failed attempt removes the staging folder and an archive it began
        downloading (there is no published checksum, so a truncated archive left behind would pass
        torchvision's check and break every later try); an archive that was already there is the
        user's and is kept. ``fetching``, around the call, removes the folders it created.
        """
        from torchvision.datasets import utils as tv_utils

        archive, staging = self.data_dir / ARCHIVE, self.data_dir / STAGING
        had_archive = archive.is_file()
        shutil.rmtree(staging, ignore_errors=True)  # a previous attempt's leftovers
        try:
            tv_utils.download_and_extract_archive(URL, download_root=str(self.data_dir),
                                                  extract_root=str(staging), filename=ARCHIVE)
            self._install(staging)
        except (OSError, RuntimeError, EOFError, tarfile.TarError) as err:
            shutil.rmtree(staging, ignore_errors=True)
            if not had_archive:
                archive.unlink(missing_ok=True)
            reason = f"download failed: {one_line(err, 200)}"
            if had_archive:
                reason = f"could not extract {archive}: {one_line(err, 200)}; is it complete?"
            raise DataUnavailableError(self._unavailable(reason)) from err
        shutil.rmtree(staging, ignore_errors=True)

    def _install(self, staging: Path) -> None:
        # The official archive holds train/ valid/ test/ at its top; accept one wrapping folder too.
        top = next((d for d in (staging, *sorted(staging.iterdir())) if (d / "train").is_dir()), None)
        if top is None or not all((top / s).is_dir() for s in SPLITS):
            raise RuntimeError(f"{ARCHIVE} holds no train/ and test/ folders")
        for split in ARCHIVE_SPLITS:
            if (top / split).is_dir() and not (self.data_dir / split).exists():
                os.replace(top / split, self.data_dir / split)


def _decode(files: list[tuple[str, int]], data_dir: Path) -> ImageSet:
    images = torch.empty((len(files), SIZE, SIZE, 3), dtype=torch.uint8)
    with warnings.catch_warnings():
        # torchvision 0.29 warns on every decode call; imageset's global filter can be reset (pytest does).
        warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                                category=DeprecationWarning)
        for i, (rel, _) in enumerate(files):
            images[i] = _decode_one(data_dir / rel)
    labels = torch.tensor([label for _, label in files], dtype=torch.long)
    return ImageSet(images, labels)


def _decode_one(path: Path) -> torch.Tensor:
    """One PNG as ``uint8 [32, 32, 3]``; grey, palette and RGBA files all come out RGB."""
    try:
        chw = decode_rgb(str(path))
    except (OSError, ValueError) as err:
        raise DataUnavailableError(f"cinic10: cannot decode {path}: {one_line(err, 200)}") from err
    if tuple(chw.shape) != (3, SIZE, SIZE):
        raise DataUnavailableError(f"cinic10: {path} is {tuple(chw.shape[1:])}, not {SIZE}x{SIZE}")
    return chw.permute(1, 2, 0)


# -- the decoded cache ---------------------------------------------------------------------
def _fingerprint(files: list[tuple[str, int]]) -> str:
    """Which files a cache was decoded from: their count and a hash of their names and labels."""
    digest = hashlib.sha256("\n".join(f"{rel}\t{label}" for rel, label in files).encode()).hexdigest()
    return json.dumps({"version": CACHE_VERSION, "files": len(files), "listing": digest}, sort_keys=True)


def _read_cache(path: Path, stamp: str) -> ImageSet | None:
    if not path.is_file():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            found = (fh.metadata() or {}).get("fingerprint")
            if found == stamp:
                return ImageSet(fh.get_tensor("images"), fh.get_tensor("labels"))
        reason = "it was decoded from a different set of files"
    except (OSError, ValueError, KeyError, SafetensorError) as err:
        reason = f"it is unreadable ({one_line(err, 200)})"
    log.warning("cinic10: re-decoding the PNGs and replacing %s: %s", path, reason)
    return None


def _write_cache(path: Path, stamp: str, data: ImageSet) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        save_file({"images": data.images, "labels": data.labels}, str(tmp), metadata={"fingerprint": stamp})
        os.replace(tmp, path)
    except (OSError, SafetensorError) as err:
        tmp.unlink(missing_ok=True)
        log.info("cinic10: not caching decoded pixels at %s (%s)", path, one_line(err, 200))
