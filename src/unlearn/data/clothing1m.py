"""Clothing1M (Xiao et al., CVPR 2015): ~1M clothing photos with real, noisy web labels, 14 classes.

Protocol (CUTS spec 9): train = the ``noisy_train`` keys minus any key that is also in clean val
or clean test, with their noisy labels; test = clean test (10,526); the held-out pool = clean
val (14,313), from which the DataModule draws a seeded subset. The labels are the corruption,
so the dataset takes ``corruption=real`` and nothing synthetic.

Files under ``<root>/clothing1m/`` (``data_dir``), as the official release's README describes
them; an existing copy can be moved or symlinked there as is::

    category_names_eng.txt          the 14 class names, one a line, in label order
    noisy_label_kv.txt              "images/0/00/<name>.jpg 4": key and label per line
    clean_label_kv.txt              same format
    noisy_train_key_list.txt        one key per line; likewise
    clean_train_key_list.txt, clean_val_key_list.txt, clean_test_key_list.txt
    images/0..9/<xx>/<name>.jpg     keys are paths relative to data_dir

The annotation files may also sit in ``data_dir/annotations/`` (some copies unzip there).

Without them, ``load()`` unpacks OpenDataLab's archive (``OpenDataLab___Clothing1M/raw/
Clothing1M.tar.gz``, which nests the release as ``Clothing1M/clothing1M/`` with
``annotations.zip`` and ``images/0..9.tar``) into ``data_dir``, and without the archive it
downloads it with openxlab when ``OPENXLAB_AK`` / ``OPENXLAB_SK`` are set (environment or
``.env``). The inner image tars are deleted once extracted (the downloaded archive is kept),
and the parsed key lists are cached in ``data_dir/.clothing1m_index.npz``.
"""

from __future__ import annotations

import json
import os
import zipfile
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from unlearn.data.imageset import ImageSet, LazyImages
from unlearn.data.clothing1m_unpack import (ANNOTATIONS, CLEAN_KV, CLEAN_TEST, CLEAN_VAL, NAMES, NOISY_KV,  # noqa: F401
                                            NOISY_TRAIN, extract_image_tars, extract_release, find_annotations,
                                            has_release_parts, unpack_annotations)
from unlearn.data.fetching import fetching
from unlearn.data.sources import FileSource
from unlearn.envfile import secret
from unlearn.errors import DataUnavailableError, one_line
from unlearn.registry import DATASETS

REPO = "OpenDataLab/Clothing1M"
# openxlab.dataset.get(REPO, target_path) writes the repo to target_path/<owner>___<name>/.
ARCHIVE_PATHS = ("OpenDataLab___Clothing1M/raw/Clothing1M.tar.gz", "Clothing1M.tar.gz")
INSTALL = 'pip install --no-deps "openxlab==0.1.3"'
INDEX_FILE = ".clothing1m_index.npz"
INDEX_VERSION = 1
# The names in category_names_eng.txt, for configs that need them before the files exist.
CLASS_NAMES = ("T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker", "Jacket",
               "Downcoat", "Suit", "Shawl", "Dress", "Vest", "Underwear")
LAYOUT = (f"{', '.join(ANNOTATIONS)} and images/0..9/ (keys like images/0/00/x.jpg are relative to it), "
          f"or the openxlab download as {ARCHIVE_PATHS[0]}")


@DATASETS.register("clothing1m")
class Clothing1M(FileSource):
    """Clothing1M from its own annotation files; images are read from disk per item (``LazyImages``)."""

    name = "clothing1m"
    # ImageNet statistics, as the reference normalises Clothing1M (archs with a preprocess use theirs).
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    @property
    def class_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """The names in ``category_names_eng.txt`` once it exists, else the release's known names."""
        ann = find_annotations(self.data_dir)
        return read_names(ann / NAMES) if ann is not None else CLASS_NAMES

    def load(self) -> tuple[ImageSet, ImageSet]:
        return self._split("train"), self._split("test")

    def heldout_pool(self) -> ImageSet:
        """Clean val: the proxy set is a seeded subset of it, never of the noisy train set (spec 9)."""
        return self._split("val")

    def _split(self, which: str) -> ImageSet:
        keys, labels = self._index[f"{which}_keys"], self._index[f"{which}_labels"]
        return ImageSet(LazyImages(self.data_dir, keys), torch.from_numpy(labels.astype(np.int64)))

    @cached_property
    def _index(self) -> dict[str, np.ndarray]:
        ann = self._prepare()
        index = load_index(self.data_dir, ann)
        for which in ("train", "val", "test"):
            first = self.data_dir / index[f"{which}_keys"][0].decode()
            if not first.is_file():
                raise DataUnavailableError(
                    f"clothing1m: image {first} is missing (keys in {ann} are paths relative to {self.data_dir}); "
                    "extract images/0..9.tar so that images/0..9/ exist there")
        return index

    # -- getting the files -----------------------------------------------------------
    def _prepare(self) -> Path:
        """The annotation folder of a complete release in data_dir, unpacking or downloading first."""
        ann = self._ready()
        if ann is not None:
            return ann
        with fetching(self.data_dir):
            return self._ready() or self._unpack()  # an earlier job of the sweep may have unpacked it meanwhile

    def _ready(self) -> Path | None:
        ann = find_annotations(self.data_dir)
        return ann if ann is not None and not list(self.data_dir.glob("images/*.tar")) else None

    def _unpack(self) -> Path:
        if not has_release_parts(self.data_dir):
            archive = self._archive()
            if archive is None:
                self._download()
                archive = self._archive()
                if archive is None:
                    raise DataUnavailableError(self._unavailable(f"openxlab gave no {ARCHIVE_PATHS[0]}"))
            extract_release(archive, self.data_dir)
        if find_annotations(self.data_dir) is None:
            unpack_annotations(self.data_dir)
        extract_image_tars(self.data_dir)
        ann = find_annotations(self.data_dir)
        if ann is None:
            missing = [f for f in ANNOTATIONS if not (self.data_dir / f).is_file()]
            raise DataUnavailableError(self._unavailable(f"missing after unpacking: {', '.join(missing)}"))
        return ann

    def _archive(self) -> Path | None:
        return next((self.data_dir / p for p in ARCHIVE_PATHS if (self.data_dir / p).is_file()), None)

    def _download(self) -> None:
        if not self.download:
            raise DataUnavailableError(self._unavailable("download=False"))
        ak, sk = secret("OPENXLAB_AK"), secret("OPENXLAB_SK")
        if not (ak and sk):
            raise DataUnavailableError(self._unavailable("OPENXLAB_AK / OPENXLAB_SK are not set"))
        try:
            import openxlab
            from openxlab.dataset import get
        except ImportError as err:
            raise DataUnavailableError(self._unavailable(f"openxlab is not installed: {INSTALL}")) from err
        try:  # fetching(), around this call, removes the folders a failed download made
            openxlab.login(ak=ak, sk=sk)
            get(dataset_repo=REPO, target_path=str(self.data_dir))
        except (Exception, SystemExit) as err:  # noqa: BLE001 - network, auth and API errors alike
            if isinstance(err, SystemExit):
                # openxlab prints its reason and calls sys.exit on any refused request.
                raise DataUnavailableError(
                    f"clothing1m: openxlab stopped downloading {REPO} (exit {err.code}; its reason is printed "
                    f"above: e.g. accept the dataset's terms on https://openxlab.org.cn/datasets/{REPO} first)"
                ) from None
            raise DataUnavailableError(self._unavailable(f"openxlab download failed: {one_line(err, 200)}")) from err

    def _unavailable(self, reason: str) -> str:
        return (f"clothing1m: no usable copy under {self.data_dir} ({reason}); set OPENXLAB_AK and OPENXLAB_SK "
                f"(environment or .env) to download {REPO} with openxlab ({INSTALL}), "
                f"or put the release there: {LAYOUT}")


# -- annotation files and the cached index -----------------------------------------------
def read_names(path: Path) -> tuple[str, ...]:
    names = tuple(line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip())
    if len(names) != len(CLASS_NAMES):
        raise DataUnavailableError(f"clothing1m: {path} lists {len(names)} class names, expected {len(CLASS_NAMES)}")
    return names


def read_keys(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split()


def read_kv(path: Path) -> dict[str, int]:
    tokens = path.read_text(encoding="utf-8").split()
    if len(tokens) % 2:
        raise DataUnavailableError(f"clothing1m: {path} is not 'key label' pairs (odd token count); is it truncated?")
    return dict(zip(tokens[0::2], map(int, tokens[1::2])))


def _labelled(keys: list[str], kv: dict[str, int], source: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        labels = np.fromiter((kv[k] for k in keys), dtype=np.int64, count=len(keys))
    except KeyError as err:
        raise DataUnavailableError(f"clothing1m: {source} has no label for {err.args[0]}") from None
    if len(keys) == 0:
        raise DataUnavailableError(f"clothing1m: an annotation key list next to {source} is empty")
    if labels.min() < 0 or labels.max() >= len(CLASS_NAMES):
        raise DataUnavailableError(f"clothing1m: {source} has labels outside 0..{len(CLASS_NAMES) - 1}")
    return np.array([k.encode("utf-8") for k in keys], dtype=np.bytes_), labels


def build_index(ann: Path) -> dict[str, np.ndarray]:
    """Key and label arrays of train/val/test per spec 9 (no image is opened)."""
    noisy, clean = read_kv(ann / NOISY_KV), read_kv(ann / CLEAN_KV)
    val, test = read_keys(ann / CLEAN_VAL), read_keys(ann / CLEAN_TEST)
    # Some noisy-train images are also clean val/test images; training on them would leak the evaluation.
    held = set(val) | set(test)
    train = [k for k in read_keys(ann / NOISY_TRAIN) if k not in held]
    index: dict[str, np.ndarray] = {}
    for which, keys, kv, source in (("train", train, noisy, NOISY_KV), ("val", val, clean, CLEAN_KV),
                                    ("test", test, clean, CLEAN_KV)):
        index[f"{which}_keys"], index[f"{which}_labels"] = _labelled(keys, kv, ann / source)
    return index


def _fingerprint(ann: Path) -> str:
    stats = {f: [(s := (ann / f).stat()).st_size, s.st_mtime_ns] for f in ANNOTATIONS}
    return json.dumps({"version": INDEX_VERSION, "folder": str(ann.resolve()), "files": stats}, sort_keys=True)


def load_index(data_dir: Path, ann: Path) -> dict[str, np.ndarray]:
    """``build_index``, cached in data_dir: parsing the ~1M-line files takes seconds, loading the cache milliseconds.

    The cache is keyed on the annotation files' sizes and mtimes, so edited files are re-parsed.
    A read-only data_dir just goes without the cache.
    """
    path, stamp = data_dir / INDEX_FILE, _fingerprint(ann)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as cached:
                if str(cached["fingerprint"]) == stamp:
                    return {k: cached[k] for k in cached.files if k != "fingerprint"}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable or stale cache: rebuild it
    index = build_index(ann)
    tmp = path.with_name(f"{INDEX_FILE}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, fingerprint=np.array(stamp), **index)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return index
