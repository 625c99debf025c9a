"""Fashion-MNIST: the real files (Debian's copy), the torchvision layout, offline failure, and the
pieces that make it usable at CPU scale (a stratified train subset, batched loading)."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn.data.classmaps import ASYMMETRIC_MAPS
from unlearn.data.fashion_mnist import FILES, SYSTEM_DIR, FashionMNIST, read_idx
from unlearn.data.splits import stratified_subset
from unlearn.errors import ConfigError, DataUnavailableError
from unlearn.models.prompts import templates
from unlearn.catalogue import list_datasets

# sha256 of the first training image's 784 bytes in the official train-images-idx3-ubyte.
FIRST_TRAIN_IMAGE_SHA256 = "5bd44e331a6d6998daf675700cd0c13dcd7af8ab954b7585124124da61459e7b"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 2051, n, h, w) + images.tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def _write_system_copy(folder: Path, rng: np.random.Generator, sizes=(("train", 6), ("test", 4))) -> dict:
    folder.mkdir(parents=True)
    out = {}
    for split, n in sizes:
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n)
        img_name, lab_name = FILES[split]
        (folder / img_name).write_bytes(gzip.compress(_idx_images(images)))
        (folder / lab_name).write_bytes(gzip.compress(_idx_labels(labels)))
        out[split] = (images, labels)
    return out


def test_real_files_are_the_official_release() -> None:
    """The Debian copy: 60,000 + 10,000 images, balanced classes, the official first image.

    Under CI (``.ci/run`` installs the package and sets CI) missing files fail this test.
    """
    if not all((Path(SYSTEM_DIR) / f).is_file() for pair in FILES.values() for f in pair):
        if os.environ.get("CI"):
            pytest.fail(f"Fashion-MNIST is missing from {SYSTEM_DIR}: .ci/run should have installed "
                        "dataset-fashion-mnist with apt-get")
        pytest.skip(f"Fashion-MNIST not installed in {SYSTEM_DIR} (apt-get install -y dataset-fashion-mnist)")
    train, test = FashionMNIST(root="/nonexistent").load()
    assert tuple(train.images.shape) == (60_000, 28, 28, 1) and tuple(test.images.shape) == (10_000, 28, 28, 1)
    assert train.labels.bincount().tolist() == [6_000] * 10
    assert test.labels.bincount().tolist() == [1_000] * 10
    assert hashlib.sha256(train.images[0].numpy().tobytes()).hexdigest() == FIRST_TRAIN_IMAGE_SHA256
    assert int(train.labels[0]) == 9 and int(test.labels[0]) == 9  # both begin with an ankle boot
    mean = train.images.double().mean() / 255
    assert abs(float(mean) - FashionMNIST.mean[0]) < 5e-4


def test_reads_a_gzipped_system_copy(tmp_path: Path) -> None:
    expected = _write_system_copy(tmp_path / "system", np.random.default_rng(0))
    train, test = FashionMNIST(tmp_path / "data", download=False, system_dir=str(tmp_path / "system")).load()
    for split, name in ((train, "train"), (test, "test")):
        images, labels = expected[name]
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.long
        assert torch.equal(split.images[..., 0], torch.from_numpy(images))
        assert split.labels.tolist() == labels.tolist()


def test_a_torchvision_copy_under_data_dir_wins(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    _write_system_copy(tmp_path / "system", rng)
    raw = tmp_path / "data" / "fashion_mnist" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    mine = {}
    for split, n in (("train", 3), ("test", 2)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n)
        img_name, lab_name = FILES[split]
        (raw / img_name.removesuffix(".gz")).write_bytes(_idx_images(images))  # torchvision reads them unzipped
        (raw / lab_name.removesuffix(".gz")).write_bytes(_idx_labels(labels))
        mine[split] = (images, labels)
    train, test = FashionMNIST(tmp_path / "data", system_dir=str(tmp_path / "system")).load()
    assert len(train) == 3 and len(test) == 2
    assert torch.equal(train.images[..., 0], torch.from_numpy(mine["train"][0]))


def test_offline_without_a_copy_names_both_ways_in_one_line(tmp_path: Path) -> None:
    source = FashionMNIST(tmp_path / "data", system_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DataUnavailableError) as err:
        source.load()
    message = str(err.value)
    assert "\n" not in message
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "data" / "fashion_mnist") in message


def test_a_truncated_or_foreign_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "short.gz").write_bytes(gzip.compress(struct.pack(">IIII", 2051, 5, 28, 28) + b"\0" * 100))
    with pytest.raises(DataUnavailableError, match="truncated"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "other").write_bytes(b"not an idx file at all")
    with pytest.raises(DataUnavailableError, match="not an IDX file"):
        read_idx(tmp_path / "other")


def test_registered_with_its_class_map_and_prompts() -> None:
    assert "fashion_mnist" in list_datasets()
    assert len(FashionMNIST.class_names) == 10 and FashionMNIST.class_names[9] == "ankle boot"
    # Zhang & Sabuncu 2018 (GCE): boot -> sneaker -> sandal, pullover -> shirt, coat <-> dress.
    assert ASYMMETRIC_MAPS["fashion_mnist"] == {9: 7, 7: 5, 2: 6, 4: 3, 3: 4}
    assert all("{}" in t for t in templates(FashionMNIST.prompts)) and len(templates("fashion")) > 1
    assert (FashionMNIST.trigger_percent, FashionMNIST.trigger_margin) == (0.03, 2)


def test_stratified_subset_is_exact_proportional_and_seeded() -> None:
    labels = torch.arange(10).repeat_interleave(torch.tensor([100, 100, 100, 100, 100, 100, 100, 100, 100, 50]))
    pick = stratified_subset(labels, 190, seed=3)
    assert len(pick) == 190 and torch.equal(pick, torch.sort(pick).values)
    counts = labels[pick].bincount()
    assert counts[:9].tolist() == [20] * 9 and int(counts[9]) == 10
    assert torch.equal(pick, stratified_subset(labels, 190, seed=3))
    assert not torch.equal(pick, stratified_subset(labels, 190, seed=4))
    with pytest.raises(ConfigError, match="dataset.train_size"):
        stratified_subset(labels, 0, seed=0)
    with pytest.raises(ConfigError, match="dataset.train_size"):
        stratified_subset(labels, len(labels) + 1, seed=0)
