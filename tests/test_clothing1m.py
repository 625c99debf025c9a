"""Clothing1M read from a tiny fixture in the release's real on-disk layout, offline.

The fixture has the official file names and line formats (``images/<i>/<xx>/<name>.jpg label``),
noisy-train keys that are also clean val/test keys (which must leave the train set), and clean
labels that differ from the noisy ones, so every rule of the protocol (spec 9) shows up here.
A second fixture packs the same files the way OpenDataLab ships them, to exercise the unpacking.
"""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.io import encode_jpeg

import unlearn.data.clothing1m as c1m
import unlearn.data.clothing1m_unpack as unpack
from unlearn.app import build
from unlearn.data.clothing1m import ANNOTATIONS, CLASS_NAMES, INDEX_FILE, Clothing1M
from unlearn.data.corruption import CLEAN, NOISY, Poison, RealNoise, Symmetric
from unlearn.data.datamodule import CorruptionDataModule
from unlearn.data.imageset import LazyImages
from unlearn.errors import ConfigError, DataUnavailableError
from unlearn.data.preprocess import Preprocess
from unlearn.registry import DATASETS
from unlearn.stage_table import stage_split

from conftest import compose_cfg

# torchvision 0.29 deprecates its image codecs (for TorchCodec) and warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")

N_KEYS = 48
TRAIN_ONLY = range(0, 20)  # noisy labels only
BOTH = range(20, 30)  # noisy and clean (clean_train too)
VAL = range(30, 42)
TEST = range(42, 48)
LEAKED = (31, 35, 40, 43, 46)  # val/test keys also listed in noisy_train: must be dropped from train
NAMES = tuple(f"{n} (file)" for n in CLASS_NAMES)  # differ from the built-in names: proves they are read


def _key(i: int) -> str:
    return f"images/{i % 10}/{i % 7:02d}/{i:04d}a{i * 7919 % 10007:x}.jpg"


def _image(i: int) -> torch.Tensor:
    """CHW uint8; sizes differ per image, one in three is greyscale (as some crawled files are)."""
    gen = torch.Generator().manual_seed(i)
    h, w = 12 + i % 5 * 3, 10 + i % 4 * 4
    c = 1 if i % 3 == 0 else 3
    # Smooth content survives JPEG well enough to compare decoded pixels.
    base = torch.randint(40, 215, (c, 1, 1), generator=gen)
    return (base + torch.arange(w).view(1, 1, w) * 2).clamp(0, 255).expand(c, h, w).to(torch.uint8).contiguous()


def _noisy(i: int) -> int:
    return (i * 5 + 3) % 14


def _clean(i: int) -> int:
    return (i * 3 + 1) % 14 if _noisy(i) != (i * 3 + 1) % 14 else (i * 3 + 2) % 14


def _annotation_texts() -> dict[str, str]:
    noisy_keys = [*TRAIN_ONLY, *BOTH, *LEAKED]
    lines = lambda idx, fn: "".join(f"{_key(i)} {fn(i)}\n" for i in idx)  # noqa: E731
    keys = lambda idx: "".join(f"{_key(i)}\n" for i in idx)  # noqa: E731
    return {
        "category_names_eng.txt": "".join(f"{n}\n" for n in NAMES),
        "noisy_label_kv.txt": lines(noisy_keys, _noisy),
        "clean_label_kv.txt": lines([*BOTH, *VAL, *TEST], _clean),
        "noisy_train_key_list.txt": keys(sorted(noisy_keys)),
        "clean_train_key_list.txt": keys(range(20, 28)),
        "clean_val_key_list.txt": keys(VAL),
        "clean_test_key_list.txt": keys(TEST),
    }


def write_release(data_dir: Path) -> None:
    """The unpacked official release: annotation files next to images/0..9/."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, text in _annotation_texts().items():
        (data_dir / name).write_text(text)
    for i in range(N_KEYS):
        path = data_dir / _key(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_jpeg(_image(i), quality=95).numpy().tobytes())


def _expected_train() -> list[int]:
    return [i for i in sorted([*TRAIN_ONLY, *BOTH, *LEAKED]) if i not in LEAKED]


def _keys(images: LazyImages) -> list[str]:
    return [k.decode() for k in images.keys]


def _key_index(images: LazyImages) -> list[int]:
    lookup = {_key(i): i for i in range(N_KEYS)}
    return [lookup[k] for k in _keys(images)]


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import unlearn.envfile

    for var in ("OPENXLAB_AK", "OPENXLAB_SK"):
        monkeypatch.delenv(var, raising=False)
    # Only tmp_path/.env counts: not a developer's own .env, nor Hydra's launch dir from another test.
    monkeypatch.setattr(unlearn.envfile, "_candidates", lambda: [tmp_path / ".env"])


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("c1m")
    write_release(root / "data" / "clothing1m")
    return root / "data"


def module(root: Path, corruption=None, size: int | None = 5, seed: int = 11,  # noqa: ANN001
           **kw) -> CorruptionDataModule:
    pre = kw.pop("preprocess", Preprocess(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), size=32))
    return CorruptionDataModule(Clothing1M(root, download=False), corruption or RealNoise(), heldout_size=size,
                                seed=seed, preprocess=pre, **kw)


# -- the source ------------------------------------------------------------------------------
def test_train_is_noisy_train_minus_val_and_test(release: Path) -> None:
    train, test = Clothing1M(release, download=False).load()
    assert isinstance(train.images, LazyImages) and train.lazy
    expected = _expected_train()
    assert _key_index(train.images) == expected
    assert train.labels.tolist() == [_noisy(i) for i in expected]
    assert train.labels.dtype == torch.long
    assert not set(_key_index(train.images)) & {*VAL, *TEST}
    assert _key_index(test.images) == list(TEST)
    assert test.labels.tolist() == [_clean(i) for i in TEST]  # clean labels, though some keys have noisy ones


def test_class_names_and_pool(release: Path) -> None:
    src = Clothing1M(release, download=False)
    assert src.class_names == NAMES and src.num_classes == 14
    pool = src.heldout_pool()
    assert _key_index(pool.images) == list(VAL) and pool.labels.tolist() == [_clean(i) for i in VAL]
    assert DATASETS.get("clothing1m") is Clothing1M
    # Before any file exists the release's own names stand in (configs need them early).
    assert Clothing1M(release / "nowhere").class_names == CLASS_NAMES


def test_lazy_images_decode_to_uint8_rgb(release: Path) -> None:
    train, _ = Clothing1M(release, download=False).load()
    for pos, i in enumerate(_expected_train()[:6]):
        hwc = train.images[pos]
        written = _image(i)
        assert hwc.dtype == torch.uint8 and hwc.shape == (written.shape[1], written.shape[2], 3)
        assert torch.equal(train.images.chw(pos), hwc.permute(2, 0, 1))
        diff = (hwc.permute(2, 0, 1).float() - written.expand(3, -1, -1).float()).abs().mean()
        assert diff < 6, (i, float(diff))
    sub = train.subset(torch.tensor([2, 0]))
    assert isinstance(sub.images, LazyImages) and _key_index(sub.images) == [_expected_train()[2], _expected_train()[0]]
    assert train.shape == (3, None, None)


def test_pil_fallback_decodes_the_same_pixels(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import unlearn.data.imageset as imageset

    train, _ = Clothing1M(release, download=False).load()
    expected = [train.images.chw(i) for i in range(4)]

    def gone(path: str) -> torch.Tensor:
        raise ImportError("torchvision without image codecs")

    monkeypatch.setattr(imageset, "_tv_decode", gone)
    for i, want in enumerate(expected):
        assert torch.equal(train.images.chw(i), want)


def test_index_is_cached_and_follows_edits(tmp_path: Path) -> None:
    data_dir = tmp_path / "clothing1m"
    write_release(data_dir)
    first, _ = Clothing1M(tmp_path, download=False).load()
    assert (data_dir / INDEX_FILE).is_file()
    again, _ = Clothing1M(tmp_path, download=False).load()
    assert np.array_equal(again.images.keys, first.images.keys) and torch.equal(again.labels, first.labels)
    kv = data_dir / "noisy_label_kv.txt"
    kv.write_text(kv.read_text().replace(f"{_key(0)} {_noisy(0)}\n", f"{_key(0)} 13\n") + "\n")
    edited, _ = Clothing1M(tmp_path, download=False).load()
    assert int(edited.labels[0]) == 13 and torch.equal(edited.labels[1:], first.labels[1:])


# -- the protocol through the DataModule ----------------------------------------------------------
def test_heldout_is_a_seeded_subset_of_val(release: Path) -> None:
    dm = module(release, size=5, seed=11)
    held = _key_index(dm.heldout.images)
    pick = torch.sort(torch.randperm(len(VAL), generator=torch.Generator().manual_seed(11))[:5]).values
    assert held == [VAL[int(j)] for j in pick]
    assert len(held) == 5 and set(held) <= set(VAL)
    assert dm.heldout.labels.tolist() == [_clean(i) for i in held]
    assert not set(held) & set(_key_index(dm.train.data.images))
    assert _key_index(dm.train.data.images) == _expected_train()  # the whole train set trains
    assert _key_index(module(release, size=5, seed=11).heldout.images) == held
    assert _key_index(module(release, size=5, seed=3).heldout.images) != held
    for size, shown in ((None, "1000"), (len(VAL) + 1, str(len(VAL) + 1)), (0, "0")):  # None: spec 9's 1000
        with pytest.raises(ConfigError, match=f"heldout_size={shown}"):
            _ = module(release, size=size).heldout


def test_real_noise_stage_sets(release: Path) -> None:
    dm = module(release, size=6)
    held = dm.heldout
    corrupted = stage_split(dm, "corrupted")
    assert torch.equal(corrupted.data.labels, dm.train.data.labels)
    assert torch.equal(corrupted.true_labels, corrupted.data.labels) and bool((corrupted.flags == CLEAN).all())
    for seed in (12, 10):
        proxy = stage_split(dm, "proxy", seed)
        assert len(proxy.data) == len(held) == 6
        assert bool((proxy.data.labels != held.labels).all())  # 100% flipped, never to the true class
        assert torch.equal(proxy.true_labels, held.labels) and bool((proxy.flags == NOISY).all())
        assert _keys(proxy.data.images) == _keys(held.images)
    assert not torch.equal(stage_split(dm, "proxy", 12).data.labels, stage_split(dm, "proxy", 10).data.labels)
    cf = stage_split(dm, "cf")
    assert torch.equal(cf.data.labels, held.labels) and bool((cf.flags == CLEAN).all())
    assert RealNoise.kind == "real" and not RealNoise.has_clean_train and Symmetric.has_clean_train
    for ask in (lambda: stage_split(dm, "oracle"), dm.train.only_corrupted):
        with pytest.raises(ConfigError) as err:
            ask()
        assert "\n" not in str(err.value) and "clothing1m has no clean training set" in str(err.value)
    with pytest.raises(ConfigError, match="there is no oracle"):
        dm.use_split(stage_split(dm, "oracle"))


def test_datamodule_yields_resized_batches(release: Path) -> None:
    dm = module(release)
    assert dm.input_shape == (3, 32, 32)
    batch = next(iter(dm.loader(stage_split(dm, "corrupted"), train=True, batch_size=8)))
    assert batch["x"].shape == (8, 3, 32, 32) and batch["x"].dtype == torch.float32
    for loader in (dm.test_dataloader(), dm.loader(stage_split(dm, "proxy", 12))):
        x = next(iter(loader))["x"]
        assert x.shape[1:] == (3, 32, 32)


def test_lazy_images_without_a_resize_are_refused(release: Path) -> None:
    dm = module(release, preprocess=None)
    with pytest.raises(ConfigError) as err:
        _ = dm.input_shape
    assert "\n" not in str(err.value) and "varying size" in str(err.value)


@pytest.mark.parametrize("corruption, needle", [
    (Poison(rate=0.1), "corruption=poison"),
    (Symmetric(rate=0.4), "corruption=real"),
])
def test_synthetic_corruption_is_refused(release: Path, corruption, needle: str) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as err:
        _ = module(release, corruption).train
    assert "\n" not in str(err.value) and needle in str(err.value)


def test_config_wiring(release: Path, tmp_path: Path) -> None:
    (tmp_path / "data").symlink_to(release, target_is_directory=True)
    cfg = compose_cfg("correct", tmp_path, ["dataset=clothing1m", "corruption=real", "arch=resnet18",
                                             "arch.input_size=16", "dataset.heldout_size=4", "dataset.num_workers=0"])
    corr = build.corruption(cfg)
    assert isinstance(corr, RealNoise) and corr.proxy_seeds == (12, 10)
    dm = build.datamodule(cfg, corr)
    assert (len(dm.heldout), dm.seed, dm.input_shape) == (4, 11, (3, 16, 16))
    assert next(iter(dm.test_dataloader()))["x"].shape[1:] == (3, 16, 16)
    cfg = compose_cfg("correct", tmp_path, ["dataset=clothing1m", "corruption=real"])
    assert cfg.dataset.heldout_size == 1000


# -- getting the files ------------------------------------------------------------------------
def test_offline_without_credentials_says_what_to_do(tmp_path: Path, no_credentials: None) -> None:
    before = set(sys.modules)
    with pytest.raises(DataUnavailableError) as err:
        Clothing1M(tmp_path / "data").load()
    msg = str(err.value)
    assert "\n" not in msg
    for needle in ("OPENXLAB_AK", "OPENXLAB_SK", 'pip install --no-deps "openxlab==0.1.3"',
                   str(tmp_path / "data" / "clothing1m"), "noisy_label_kv.txt", "images/0..9/"):
        assert needle in msg, needle
    assert not {m for m in set(sys.modules) - before if m.startswith("openxlab")}
    assert not (tmp_path / "data").exists()
    with pytest.raises(DataUnavailableError, match="download=False"):
        Clothing1M(tmp_path / "data", download=False).load()


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_opendatalab_archive(data_dir: Path) -> Path:
    """OpenDataLab's packaging: raw/Clothing1M.tar.gz -> Clothing1M/clothing1M/{annotations.zip, images/<i>.tar}."""
    inner = "Clothing1M/clothing1M"
    ann = io.BytesIO()
    with zipfile.ZipFile(ann, "w") as zf:
        for name, text in _annotation_texts().items():
            zf.writestr(name, text)
    members = {f"{inner}/annotations.zip": ann.getvalue(), f"{inner}/README.md": b"Clothing1M\n"}
    for shard in range(10):
        jpegs = {_key(i).removeprefix("images/"): encode_jpeg(_image(i), quality=95).numpy().tobytes()
                 for i in range(N_KEYS) if i % 10 == shard}
        members[f"{inner}/images/{shard}.tar"] = _tar_bytes(jpegs)
    archive = data_dir / c1m.ARCHIVE_PATHS[0]
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_unpacks_the_opendatalab_archive(tmp_path: Path, no_credentials: None, release: Path) -> None:
    data_dir = tmp_path / "clothing1m"
    archive = write_opendatalab_archive(data_dir)
    train, test = Clothing1M(tmp_path).load()
    ref_train, ref_test = Clothing1M(release, download=False).load()
    assert _keys(train.images) == _keys(ref_train.images) and torch.equal(train.labels, ref_train.labels)
    assert _keys(test.images) == _keys(ref_test.images) and torch.equal(test.labels, ref_test.labels)
    assert torch.equal(train.images[3], ref_train.images[3])
    assert all((data_dir / f).is_file() for f in ANNOTATIONS)
    assert not list(data_dir.glob("images/*.tar")) and not (data_dir / ".unpacking").exists()
    assert archive.is_file()  # the download itself is the user's to delete


def test_a_job_arriving_mid_unpack_waits_and_reuses_it(tmp_path: Path, no_credentials: None, release: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Sweep jobs on a fresh machine: one arriving while another unpacks waits for it, then reads."""
    import threading

    write_opendatalab_archive(tmp_path / "clothing1m")
    calls: list[str] = []
    unpacking = threading.Event()

    def slow_extract(archive: Path, data_dir: Path) -> None:
        calls.append(threading.current_thread().name)
        unpacking.set()
        threading.Event().wait(0.5)  # the second job arrives while the release is half-written
        unpack.extract_release(archive, data_dir)

    monkeypatch.setattr(c1m, "extract_release", slow_extract)
    results = {}

    def job() -> None:
        # Sweep jobs are processes. Threads stand in for them, calling _prepare() itself: on Python 3.11,
        # cached_property (_index) holds one lock for all instances and would serialise them anyway.
        results[threading.current_thread().name] = Clothing1M(tmp_path)._prepare()

    first = threading.Thread(target=job, name="first")
    first.start()
    assert unpacking.wait(timeout=60)
    second = threading.Thread(target=job, name="second")
    second.start()
    first.join()
    second.join()
    assert calls == ["first"] and results == {"first": tmp_path / "clothing1m", "second": tmp_path / "clothing1m"}
    train, _ = Clothing1M(tmp_path).load()
    ref_train, _ = Clothing1M(release, download=False).load()
    assert _keys(train.images) == _keys(ref_train.images) and torch.equal(train.labels, ref_train.labels)


def test_7z_annotations_without_a_7z_tool(tmp_path: Path, no_credentials: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "clothing1m"
    (data_dir / "images" / "0").mkdir(parents=True)
    (data_dir / "annotations.7z").write_bytes(unpack.SEVEN_ZIP_MAGIC + b"\0" * 26)
    monkeypatch.setattr(unpack.shutil, "which", lambda name: None)
    with pytest.raises(DataUnavailableError) as err:
        Clothing1M(tmp_path).load()
    assert "\n" not in str(err.value) and "7z x annotations.7z" in str(err.value)


def _fake_openxlab(monkeypatch: pytest.MonkeyPatch, get) -> list:  # noqa: ANN001
    """Stand-ins for ``openxlab`` and ``openxlab.dataset`` with the real call signatures."""
    import types

    calls: list = []
    top, dataset = types.ModuleType("openxlab"), types.ModuleType("openxlab.dataset")
    top.login = lambda ak, sk, re_login=False, relogin=False: calls.append(("login", ak, sk))
    dataset.get = lambda dataset_repo, target_path="": (calls.append(("get", dataset_repo, target_path)),
                                                        get(Path(target_path)))
    top.dataset = dataset
    monkeypatch.setitem(sys.modules, "openxlab", top)
    monkeypatch.setitem(sys.modules, "openxlab.dataset", dataset)
    return calls


def test_downloads_with_credentials_from_dotenv(tmp_path: Path, no_credentials: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("OPENXLAB_AK=my-ak\nexport OPENXLAB_SK='my-sk'\n")
    calls = _fake_openxlab(monkeypatch, lambda target: write_opendatalab_archive(target))
    train, _ = Clothing1M(tmp_path / "data").load()
    target = str(tmp_path / "data" / "clothing1m")
    assert calls == [("login", "my-ak", "my-sk"), ("get", "OpenDataLab/Clothing1M", target)]
    assert _key_index(train.images) == _expected_train()


def test_refused_download_is_one_line(tmp_path: Path, no_credentials: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENXLAB_AK", "ak")
    monkeypatch.setenv("OPENXLAB_SK", "sk")

    def refuse(target: Path) -> None:
        raise SystemExit(-1)  # what openxlab does on an HTTP error (e.g. terms not accepted)

    _fake_openxlab(monkeypatch, refuse)
    with pytest.raises(DataUnavailableError) as err:
        Clothing1M(tmp_path / "data").load()
    assert "\n" not in str(err.value) and "openxlab stopped" in str(err.value)
    assert not (tmp_path / "data").exists()  # the folders made for the download are gone again
