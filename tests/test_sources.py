"""The torchvision sources read tiny fixtures written in each dataset's real on-disk format.

The fixtures go through torchvision's own parsing code (IDX, CIFAR pickles, SVHN .mat), so a
wrong layout assumption (CHW vs HWC, label 10 for digit 0) shows up here, offline and in seconds.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torchvision.datasets as tvd

from unlearn.data.cifar10 import CIFAR10
from unlearn.data.cifar100 import CIFAR100
from unlearn.data.mnist import MNIST
from unlearn.data.svhn import SVHN
from unlearn.data.sources import TorchvisionSource
from unlearn.errors import DataUnavailableError
from unlearn.registry import DATASETS

SOURCES = {"mnist": MNIST, "cifar10": CIFAR10, "cifar100": CIFAR100, "svhn": SVHN}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every torchvision download goes through ``urllib.request.urlopen``; make it fail at once.

    This keeps the offline tests fast wherever they run (no hanging connect) and proves that
    loading files already on disk never reaches for the network.
    """

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _images(rng: np.random.Generator, n: int, h: int, w: int, c: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


# --- MNIST: raw IDX files, big-endian header -------------------------------------------------


def _write_idx_images(path: Path, images: np.ndarray) -> None:
    n, h, w = images.shape
    path.write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.tobytes())


def _write_idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def test_mnist_reads_raw_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    expected = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        images = _images(rng, n, 28, 28, 1)[..., 0]
        labels = rng.integers(0, 10, size=n)
        _write_idx_images(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
        expected[prefix] = (images, labels)

    train, test = MNIST(tmp_path).load()

    for split, prefix in ((train, "train"), (test, "t10k")):
        images, labels = expected[prefix]
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.long
        assert tuple(split.images.shape) == (len(labels), 28, 28, 1)
        assert torch.equal(split.images[..., 0], torch.from_numpy(images))
        assert split.labels.tolist() == labels.tolist()
    assert train.shape == (1, 28, 28)
    assert MNIST.class_names == tuple("0123456789") and MNIST(tmp_path).num_classes == 10


# --- CIFAR-10 / CIFAR-100: python pickles, rows of 1024 R + 1024 G + 1024 B ---------------------


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """The archive stores each image channel-major (CHW) flattened to 3072 bytes."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _pickle(path: Path, obj: dict) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f)


def _pin_md5(monkeypatch: pytest.MonkeyPatch, tv: type, folder: Path) -> None:
    # torchvision checks every file against the md5 of the official archive, which a fixture
    # cannot match. Integrity checking is torchvision's concern; what we test is the format
    # parsing, so point its (still running) check at the fixtures' own checksums.
    def pinned(entries: list[list[str]]) -> list[list[str]]:
        return [[name, _md5(folder / name)] for name, _ in entries]

    monkeypatch.setattr(tv, "train_list", pinned(tv.train_list))
    monkeypatch.setattr(tv, "test_list", pinned(tv.test_list))
    monkeypatch.setattr(tv, "meta", {**tv.meta, "md5": _md5(folder / tv.meta["filename"])})


def _write_cifar10(folder: Path, rng: np.random.Generator, per_batch: int) -> dict[str, tuple[np.ndarray, list]]:
    folder.mkdir(parents=True)
    splits: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = _images(rng, per_batch, 32, 32, 3)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        _pickle(folder / name, {"batch_label": name, "labels": labels, "data": _cifar_rows(images),
                                "filenames": [f"{name}_{i}.png" for i in range(per_batch)]})
        imgs, labs = splits["test" if name == "test_batch" else "train"]
        imgs.append(images)
        labs.extend(labels)
    _pickle(folder / "batches.meta", {"label_names": list(CIFAR10.class_names),
                                      "num_cases_per_batch": per_batch, "num_vis": 3072})
    return {k: (np.concatenate(v[0]), v[1]) for k, v in splits.items()}


def _write_cifar100(folder: Path, rng: np.random.Generator, sizes: dict[str, int]) -> dict[str, tuple[np.ndarray, list]]:
    folder.mkdir(parents=True)
    out = {}
    for name, n in sizes.items():
        images = _images(rng, n, 32, 32, 3)
        fine = rng.integers(0, 100, size=n).tolist()
        _pickle(folder / name, {"batch_label": name, "fine_labels": fine, "coarse_labels": [f // 5 for f in fine],
                                "data": _cifar_rows(images), "filenames": [f"{name}_{i}.png" for i in range(n)]})
        out[name] = (images, fine)
    _pickle(folder / "meta", {"fine_label_names": list(CIFAR100.class_names),
                              "coarse_label_names": [f"super_{i}" for i in range(20)]})
    return out


def _assert_split(split, images: np.ndarray, labels: list) -> None:
    assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.long
    assert tuple(split.images.shape) == images.shape
    assert torch.equal(split.images, torch.from_numpy(images))
    assert split.labels.tolist() == list(labels)


def test_cifar10_reads_pickled_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    expected = _write_cifar10(folder, np.random.default_rng(1), per_batch=3)
    _pin_md5(monkeypatch, tvd.CIFAR10, folder)

    train, test = CIFAR10(tmp_path).load()

    _assert_split(train, *expected["train"])  # 5 batches concatenated in order
    _assert_split(test, *expected["test"])
    assert len(train) == 15 and train.shape == (3, 32, 32)
    assert CIFAR10.class_names[0] == "airplane" and CIFAR10(tmp_path).num_classes == 10


def test_cifar100_reads_fine_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar100" / "cifar-100-python"
    expected = _write_cifar100(folder, np.random.default_rng(2), {"train": 6, "test": 4})
    _pin_md5(monkeypatch, tvd.CIFAR100, folder)

    train, test = CIFAR100(tmp_path).load()

    _assert_split(train, *expected["train"])
    _assert_split(test, *expected["test"])
    names = CIFAR100.class_names
    assert len(names) == 100 and len(set(names)) == 100 and list(names) == sorted(names)
    assert names[1] == "aquarium_fish" and names[-1] == "worm"


def test_cifar_rejects_a_folder_with_other_class_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    _write_cifar10(folder, np.random.default_rng(3), per_batch=1)
    _pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    _pin_md5(monkeypatch, tvd.CIFAR10, folder)
    with pytest.raises(DataUnavailableError, match="class names"):
        CIFAR10(tmp_path, download=False).load()


def test_cifar_md5_mismatch_counts_as_missing(tmp_path: Path) -> None:
    # Without pinning, the fixtures fail torchvision's checksum just like a corrupted download.
    _write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py", np.random.default_rng(4), per_batch=1)
    with pytest.raises(DataUnavailableError, match="cifar10"):
        CIFAR10(tmp_path, download=False).load()


# --- SVHN: MATLAB files, X [32,32,3,N], y [N,1] with 10 meaning digit 0 --------------------------


def test_svhn_reads_mat_files_and_maps_10_to_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    folder = tmp_path / "svhn"
    folder.mkdir()
    expected = {}
    for split, n in (("train", 5), ("test", 3)):
        images = _images(rng, n, 32, 32, 3)
        digits = rng.integers(0, 10, size=n)
        digits[0] = 0  # make sure the 10 -> 0 mapping is exercised
        file_labels = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(n, 1)
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": images.transpose(1, 2, 3, 0), "y": file_labels})
        expected[split] = (images, digits.tolist())
    # Same md5 remark as for CIFAR: torchvision's check runs, against the fixtures' checksums.
    split_list = {k: [url, name, _md5(folder / name) if (folder / name).exists() else md5]
                  for k, (url, name, md5) in tvd.SVHN.split_list.items()}
    monkeypatch.setattr(tvd.SVHN, "split_list", split_list)

    train, test = SVHN(tmp_path).load()

    _assert_split(train, *expected["train"])
    _assert_split(test, *expected["test"])
    assert train.labels[0].item() == 0 and 10 not in train.labels.tolist()


# --- offline errors --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_missing_files_without_download_raise_one_line(tmp_path: Path, name: str) -> None:
    source = SOURCES[name](tmp_path, download=False)
    with pytest.raises(DataUnavailableError) as info:
        source.load()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{name}:") and str(tmp_path / name) in message
    assert "http" in message  # says what to fetch
    assert not (tmp_path / name).exists()  # looking does not create anything


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_failed_download_raises_data_unavailable(tmp_path: Path, name: str) -> None:
    root = tmp_path / "fresh"
    source = SOURCES[name](root, download=True)
    with pytest.raises(DataUnavailableError) as info:
        source.load()
    message = str(info.value)
    assert "\n" not in message and "download failed" in message and str(root / name) in message
    assert isinstance(info.value.__cause__, (OSError, RuntimeError))
    assert not root.exists()  # the empty folders torchvision made for the download are gone


def test_fetch_hints_name_the_official_files(tmp_path: Path) -> None:
    assert "train-images-idx3-ubyte.gz" in MNIST(tmp_path).fetch_hint()
    assert "MNIST/raw" in MNIST(tmp_path).fetch_hint()
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in CIFAR10(tmp_path).fetch_hint()
    assert "cifar-10-batches-py" in CIFAR10(tmp_path).fetch_hint()
    assert "cifar-100-python.tar.gz" in CIFAR100(tmp_path).fetch_hint()
    assert "cifar-100-python" in CIFAR100(tmp_path).fetch_hint()
    assert "http://ufldl.stanford.edu/housenumbers/test_32x32.mat" in SVHN(tmp_path).fetch_hint()


# --- registry --------------------------------------------------------------------------------


def test_static_metadata_needs_no_files() -> None:
    for name, cls in SOURCES.items():
        assert issubclass(cls, TorchvisionSource) and cls.name == name
        assert len(cls.mean) == len(cls.std) == (1 if name == "mnist" else 3)
    assert CIFAR10.trigger_margin == CIFAR100.trigger_margin == SVHN.trigger_margin == (10, 6)
    assert MNIST.trigger_margin == 2


def test_registry_lists_all_sources() -> None:
    expected = {"digits", "mnist", "cifar10", "cifar100", "svhn"}
    from unlearn.catalogue import list_datasets

    assert expected <= set(list_datasets())
    for name in expected - {"digits"}:
        assert DATASETS.get(name) is SOURCES[name]
