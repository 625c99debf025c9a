"""CINIC-10 reads a tiny fixture written in the real on-disk layout: ``{train,valid,test}/<class>/*.png``.

The PNGs are written with PIL (as the official images are PNG files of mixed colour types), so
decoding, label order, grey->RGB and the one-line offline errors are checked offline in seconds.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.utils as tv_utils
from hydra.utils import instantiate
from PIL import Image

import unlearn.data.cinic10 as cinic
from unlearn.data.cinic10 import CINIC10, URL
from unlearn.errors import DataUnavailableError
from unlearn.registry import DATASETS

from conftest import compose_cfg

CLASSES = CINIC10.class_names
PER_CLASS = {"train": 3, "valid": 1, "test": 2}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision downloads go through ``urllib.request.urlopen``; make it fail at once."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def write_release(top: Path, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write train/ valid/ test/ under ``top``; return each split's expected RGB pixels and labels
    in ImageFolder order (sorted class folder, then sorted file name)."""
    rng = np.random.default_rng(seed)
    expected: dict[str, tuple[np.ndarray, list[int]]] = {}
    for split, n in PER_CLASS.items():
        images, labels = [], []
        for label, cls in enumerate(CLASSES):
            folder = top / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                rgb = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                if split == "train" and cls == "cat" and i == 0:  # greyscale, as some ImageNet-derived images are
                    grey = rgb[..., 0]
                    Image.fromarray(grey, mode="L").save(folder / f"n{i:04d}.png")
                    rgb = np.repeat(grey[..., None], 3, axis=-1)
                elif split == "train" and cls == "dog" and i == 1:  # RGBA: the alpha channel is dropped
                    alpha = rng.integers(0, 256, size=(32, 32, 1), dtype=np.uint8)
                    Image.fromarray(np.concatenate([rgb, alpha], -1), mode="RGBA").save(folder / f"n{i:04d}.png")
                else:
                    Image.fromarray(rgb, mode="RGB").save(folder / f"n{i:04d}.png")
                images.append(rgb)
                labels.append(label)
        expected[split] = (np.stack(images), labels)
    return expected


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, list[int]]]]:
    return tmp_path, write_release(tmp_path / "cinic10")


def assert_split(split, images: np.ndarray, labels: list[int]) -> None:  # noqa: ANN001
    assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.long
    assert tuple(split.images.shape) == images.shape and images.shape[1:] == (32, 32, 3)
    assert torch.equal(split.images, torch.from_numpy(images))
    assert split.labels.tolist() == labels


def test_reads_png_folders_in_imagefolder_order(release) -> None:  # noqa: ANN001
    root, expected = release
    train, test = CINIC10(root, download=False).load()

    assert_split(train, *expected["train"])  # valid/ is not part of either split
    assert_split(test, *expected["test"])
    assert len(train) == 30 and len(test) == 20 and train.shape == (3, 32, 32)
    # Sorted class folders are the label order, which is class_names (CIFAR-10's order).
    assert list(CLASSES) == sorted(CLASSES) and CLASSES[0] == "airplane" and CLASSES[9] == "truck"
    grey = train.images[train.labels == CLASSES.index("cat")][0]
    assert torch.equal(grey[..., 0], grey[..., 1]) and torch.equal(grey[..., 0], grey[..., 2])


def test_decoded_pixels_are_cached_until_the_files_change(release, monkeypatch, caplog) -> None:  # noqa: ANN001
    root, expected = release
    data_dir = root / "cinic10"
    first, _ = CINIC10(root).load()
    cache = data_dir / "cinic10_train_decoded.safetensors"
    assert cache.is_file() and (data_dir / "cinic10_test_decoded.safetensors").is_file()

    def no_decoding(path: str) -> torch.Tensor:
        raise AssertionError(f"decoded {path} although the cache is current")

    with monkeypatch.context() as m:
        m.setattr(cinic, "decode_rgb", no_decoding)
        again, test = CINIC10(root).load()
    assert_split(again, *expected["train"])
    assert_split(test, *expected["test"])

    # One more file: the cache no longer matches, is re-decoded and replaced, and says so.
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(data_dir / "train" / "ship" / "zz.png")
    with caplog.at_level(logging.WARNING, logger="unlearn"):
        grown, _ = CINIC10(root).load()
    assert len(grown) == len(first) + 1 and "replacing" in caplog.text and str(cache) in caplog.text
    assert grown.labels[-4].item() == CLASSES.index("ship") and not grown.images[-4].any()

    cache.write_bytes(b"not a safetensors file")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unlearn"):
        assert torch.equal(CINIC10(root).load()[0].images, grown.images)
    assert "unreadable" in caplog.text
    assert not list(data_dir.glob("*.tmp"))


def test_cache_can_be_turned_off(release) -> None:  # noqa: ANN001
    root, expected = release
    train, _ = CINIC10(root, decode_cache=False).load()
    assert_split(train, *expected["train"])
    assert not list((root / "cinic10").glob("*.safetensors"))


def test_wrong_class_folders_are_named(release) -> None:  # noqa: ANN001
    root, _ = release
    (root / "cinic10" / "test" / "truck").rename(root / "cinic10" / "test" / "lorry")
    with pytest.raises(DataUnavailableError) as err:
        CINIC10(root, download=False).load()
    msg = str(err.value)
    assert "\n" not in msg and "lorry" in msg and "truck" in msg and str(root / "cinic10" / "test") in msg


def test_bad_png_is_named(release) -> None:  # noqa: ANN001
    root, _ = release
    bad = root / "cinic10" / "test" / "frog" / "n0000.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataUnavailableError) as err:
        CINIC10(root).load()
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


# -- getting the files ---------------------------------------------------------------------


def assert_fetch_message(msg: str, data_dir: Path) -> None:
    assert "\n" not in msg and msg.startswith("cinic10:")
    assert URL in msg and f"{data_dir / 'train' / 'airplane'}/ exists" in msg


def test_missing_files_without_download_raise_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError) as err:
        CINIC10(tmp_path / "data", download=False).load()
    assert_fetch_message(str(err.value), tmp_path / "data" / "cinic10")
    assert "download=False" in str(err.value)
    assert not (tmp_path / "data").exists()  # looking does not create anything


def test_failed_download_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, download_root: str, extract_root: str | None = None, **kwargs: object) -> None:
        # Like torchvision: make the folder, open the archive file, then lose the connection.
        Path(download_root).mkdir(parents=True, exist_ok=True)
        (Path(download_root) / kwargs["filename"]).write_bytes(b"partial")
        raise OSError("Temporary failure in name resolution\n(second line)")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    root = tmp_path / "fresh"
    with pytest.raises(DataUnavailableError) as err:
        CINIC10(root).load()
    assert_fetch_message(str(err.value), root / "cinic10")
    assert "download failed: Temporary failure" in str(err.value)
    assert isinstance(err.value.__cause__, OSError)
    assert not root.exists()  # the folders and the partial archive the attempt made are gone


def test_failed_download_through_torchvision(tmp_path: Path) -> None:
    # The real download function, with the network refused by the autouse fixture.
    root = tmp_path / "fresh"
    with pytest.raises(DataUnavailableError) as err:
        CINIC10(root).load()
    assert_fetch_message(str(err.value), root / "cinic10")
    assert not root.exists()


def test_archive_already_there_is_extracted_and_a_broken_one_kept(tmp_path: Path) -> None:
    src = tmp_path / "release"
    expected = write_release(src, seed=3)
    data_dir = tmp_path / "data" / "cinic10"
    data_dir.mkdir(parents=True)
    with tarfile.open(data_dir / "CINIC-10.tar.gz", "w:gz") as tar:
        for split in PER_CLASS:  # the official archive has the splits at its top
            tar.add(src / split, arcname=split)

    train, test = CINIC10(tmp_path / "data").load()  # no network needed: the archive is there
    assert_split(train, *expected["train"])
    assert_split(test, *expected["test"])
    assert (data_dir / "valid" / "horse").is_dir() and not (data_dir / cinic.STAGING).exists()

    for split in PER_CLASS:
        shutil.rmtree(data_dir / split)
    (data_dir / "CINIC-10.tar.gz").write_bytes(b"truncated")
    with pytest.raises(DataUnavailableError) as err:
        CINIC10(tmp_path / "data").load()
    assert "\n" not in str(err.value) and "is it complete?" in str(err.value)
    assert (data_dir / "CINIC-10.tar.gz").is_file()  # the user's file is not deleted
    assert not (data_dir / cinic.STAGING).exists()


def test_download_into_a_wrapping_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(url: str, download_root: str, extract_root: str | None = None, **kwargs: object) -> None:
        assert url == URL
        write_release(Path(extract_root) / "CINIC-10", seed=4)

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake)
    train, _ = CINIC10(tmp_path).load()
    assert len(train) == 30 and (tmp_path / "cinic10" / "train" / "airplane").is_dir()
    assert not (tmp_path / "cinic10" / cinic.STAGING).exists()


# -- registry and config -------------------------------------------------------------------


def test_registry_lists_cinic10() -> None:
    from unlearn.catalogue import list_datasets

    assert "cinic10" in list_datasets()
    assert DATASETS.get("cinic10") is CINIC10
    assert CINIC10.name == "cinic10" and CINIC10(".").num_classes == 10
    assert len(CINIC10.mean) == len(CINIC10.std) == 3


def test_config_composes_and_loads(release) -> None:  # noqa: ANN001
    root, expected = release
    cfg = compose_cfg("correct", root, ["dataset=cinic10"])
    assert cfg.dataset.source._target_ == "unlearn.data.cinic10.CINIC10"
    assert (cfg.dataset.heldout_fraction, cfg.dataset.seed, cfg.dataset.crop_padding) == (0.02, 11, 4)
    source = instantiate(cfg.dataset.source)
    assert isinstance(source, CINIC10) and source.data_dir == root / "data" / "cinic10"
    (root / "data").mkdir()
    (root / "cinic10").rename(source.data_dir)
    assert_split(source.load()[1], *expected["test"])
