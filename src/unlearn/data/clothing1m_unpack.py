"""Unpacking OpenDataLab's Clothing1M archive into the official release layout.

Kept apart from the source (clothing1m.py) because it runs once per machine, streams tens of
GB, and has to cope with how the archive nests things: an outer tar holding
``Clothing1M/clothing1M/`` with ``annotations.zip`` (zip or 7z) and ``images/0..9.tar``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from unlearn.errors import DataUnavailableError, one_line

NAMES = "category_names_eng.txt"
NOISY_KV, CLEAN_KV = "noisy_label_kv.txt", "clean_label_kv.txt"
NOISY_TRAIN, CLEAN_VAL, CLEAN_TEST = "noisy_train_key_list.txt", "clean_val_key_list.txt", "clean_test_key_list.txt"
ANNOTATIONS = (NAMES, NOISY_KV, CLEAN_KV, NOISY_TRAIN, "clean_train_key_list.txt", CLEAN_VAL, CLEAN_TEST)
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"


def has_release_parts(data_dir: Path) -> bool:
    """True once the release's own files (annotations or their archive, images or their tars) are in data_dir."""
    annotations = find_annotations(data_dir) is not None or any(
        (data_dir / f).is_file() for f in ("annotations.zip", "annotations.7z"))
    return annotations and (data_dir / "images").is_dir()


def _extract_all(tar: tarfile.TarFile, dest: Path) -> None:
    # The "data" filter refuses absolute paths, links out of dest and device files.
    tar.extractall(dest, filter="data")


def extract_release(archive: Path, data_dir: Path) -> None:
    """Unpack the outer archive and lift the folder holding the release into data_dir."""
    staging = data_dir / ".unpacking"
    shutil.rmtree(staging, ignore_errors=True)  # a previous run stopped half-way
    try:
        with tarfile.open(archive, "r|*") as tar:  # stream: the archive is tens of GB
            _extract_all(tar, staging)
    except (tarfile.TarError, OSError, EOFError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataUnavailableError(f"clothing1m: cannot unpack {archive} ({one_line(err, 200)}); "
                                   "is the download complete? delete it to fetch it again") from err
    top = _release_root(staging)
    if top is None:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataUnavailableError(f"clothing1m: {archive} holds no Clothing1M release (no annotations or images/)")
    for entry in top.iterdir():
        target = data_dir / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        entry.rename(target)
    shutil.rmtree(staging, ignore_errors=True)


def _release_root(folder: Path) -> Path | None:
    for here, dirs, files in os.walk(folder):
        if {"annotations.zip", "annotations.7z", NOISY_KV} & set(files) or ("images" in dirs and files):
            return Path(here)
    return None


def unpack_annotations(data_dir: Path) -> None:
    """Extract annotations.zip (or .7z) in data_dir with zipfile, else the ``7z`` tool, else say how."""
    archive = next((data_dir / f for f in ("annotations.zip", "annotations.7z") if (data_dir / f).is_file()), None)
    if archive is None:
        return
    with open(archive, "rb") as fh:
        is_7z = fh.read(len(SEVEN_ZIP_MAGIC)) == SEVEN_ZIP_MAGIC
    reason = "a 7z archive"
    if not is_7z:
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(data_dir)
            return
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError) as err:
            # Encrypted members or a compression method zipfile lacks (e.g. deflate64).
            reason = one_line(err, 200)
    tool = shutil.which("7z") or shutil.which("7za") or shutil.which("7zz")
    if tool is not None:
        done = subprocess.run([tool, "x", "-y", f"-o{data_dir}", str(archive)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode == 0:
            return
        reason = f"{reason}; 7z: {one_line(RuntimeError(done.stderr), 200)}"
    raise DataUnavailableError(f"clothing1m: cannot extract {archive} here ({reason}); extract it yourself "
                               f"(cd {data_dir} && 7z x {archive.name}) and load again")


def extract_image_tars(data_dir: Path) -> None:
    """Extract images/<i>.tar so that keys like images/<i>/<xx>/<name>.jpg resolve, then delete each tar."""
    images = data_dir / "images"
    for tar_path in sorted(images.glob("*.tar")):
        try:
            with tarfile.open(tar_path, "r:") as tar:
                first = tar.next()
                name = first.name.removeprefix("./") if first is not None else ""
                # Members may be stored as images/<i>/..., <i>/... or <xx>/...; land them under images/<i>/.
                if name.startswith("images/"):
                    dest = data_dir
                elif name.split("/", 1)[0] == tar_path.stem:
                    dest = images
                else:
                    dest = images / tar_path.stem
                _extract_all(tar, dest)
        except (tarfile.TarError, OSError) as err:
            raise DataUnavailableError(f"clothing1m: cannot extract {tar_path} ({one_line(err, 200)})") from err
        tar_path.unlink()


def find_annotations(data_dir: Path) -> Path | None:
    """The folder holding every annotation file: data_dir itself or one folder below it."""
    if not data_dir.is_dir():
        return None
    for folder in (data_dir, data_dir / "annotations", *sorted(p for p in data_dir.iterdir() if p.is_dir())):
        if all((folder / f).is_file() for f in ANNOTATIONS):
            return folder
    return None
