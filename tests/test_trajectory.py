"""The spec-7 PCA animation: real features along a task-vector path, alignment, files, logging."""

from __future__ import annotations

import math
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import compose_cfg
from unlearn import taskvec
from unlearn.app import build
from unlearn.eval.evalset import EvalSet
from unlearn.eval.trajectory import (
    class_centroids,
    feature_trajectory,
    log_trajectory,
    pca_2d,
    procrustes_align,
    subsample,
)
from unlearn.models.mlp import mlp

ALPHAS = [float(a) for a in np.linspace(0.0, -2.0, 7)]


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[EvalSet, tuple[str, ...], tuple[int, int, int]]:
    cfg = compose_cfg("correct", tmp_path_factory.mktemp("traj"), ["arch=mlp"])
    dm = build.datamodule(cfg, build.corruption(cfg))
    return EvalSet.from_loader(dm.loader(dm.test_split()), "cpu"), dm.source.class_names, dm.input_shape


def path_of(input_shape):
    """A small MLP and theta(alpha) = theta_0 + alpha * (theta_1 - theta_0) for two random inits."""
    torch.manual_seed(0)
    net = mlp(input_shape, 10, hidden=(48, 24))
    start = {k: v.clone() for k, v in net.state_dict().items()}
    tau = taskvec.task_vector(start, mlp(input_shape, 10, hidden=(48, 24)).state_dict())
    calls: list[float] = []

    def at(alpha: float):
        calls.append(alpha)
        net.load_state_dict(taskvec.apply(start, tau, alpha))
        return net

    return at, calls


def test_gif_of_a_real_path(digits, tmp_path):
    data, names, shape = digits
    at, calls = path_of(shape)
    paths = feature_trajectory(at, data, ALPHAS, tmp_path / "media", names, title="digits test",
                               frame_seconds=0.3, max_points=300, seed=3)
    assert calls == ALPHAS  # one model per frame, nothing else

    with Image.open(paths["gif"]) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(ALPHAS)
        assert gif.info["loop"] == 0
        for i in range(gif.n_frames):
            gif.seek(i)
            assert gif.info["duration"] == pytest.approx(300, abs=10)
        size = gif.size
    with Image.open(paths["png"]) as png:
        png.load()
        assert png.format == "PNG" and png.size == size

    saved = np.load(paths["npz"])
    index = saved["index"]
    assert np.array_equal(index, subsample(len(data), 300, 3).numpy()) and len(set(index)) == 300
    assert np.array_equal(saved["labels"], data.y_true[index].numpy())
    coords, raw = saved["coords"].astype(np.float64), saved["raw"].astype(np.float64)
    assert coords.shape == raw.shape == (len(ALPHAS), 300, 2)

    # Frame 0 is the reference: aligning it to itself is the identity.
    assert np.allclose(saved["rotation"][0], np.eye(2), atol=1e-9)
    assert np.allclose(coords[0], raw[0], atol=1e-6 * np.abs(raw[0]).max())
    # ... and it is the plain PCA of the alpha-0 features (axes up to sign).
    from sklearn.decomposition import PCA

    with torch.no_grad():
        feats = at(0.0).eval().features(data.x[index]).double().numpy()
    expected = PCA(n_components=2, svd_solver="full").fit_transform(feats)
    signs = np.sign((expected * raw[0]).sum(axis=0))
    assert np.allclose(raw[0], expected * signs, atol=1e-5 * np.abs(expected).max())

    # The path really moves the features, and alignment never matches centroids worse than raw scores.
    assert not np.allclose(coords[-1], coords[0], atol=1e-2)
    classes = np.unique(saved["labels"])
    ref = class_centroids(coords[0], saved["labels"], classes)
    for c, r, rot in zip(coords, raw, saved["rotation"]):
        assert np.allclose(rot @ rot.T, np.eye(2), atol=1e-9)
        aligned_err = np.linalg.norm(class_centroids(c, saved["labels"], classes) - ref)
        raw_err = np.linalg.norm(class_centroids(r, saved["labels"], classes) - ref)
        assert aligned_err <= raw_err + 1e-4


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_undoes_a_known_rotation(reflect):
    gen = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 40)
    centres = gen.normal(scale=5.0, size=(5, 2))
    reference = centres[labels] + gen.normal(size=(200, 2))
    theta = math.radians(37.0)
    q = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    if reflect:
        q = q @ np.diag([1.0, -1.0])
    moved = reference @ q + np.array([3.0, -7.0])

    classes = np.arange(5)
    ref_c = class_centroids(reference, labels, classes)
    aligned, rotation = procrustes_align(moved, class_centroids(moved, labels, classes), ref_c)
    assert np.allclose(class_centroids(aligned, labels, classes), ref_c, atol=1e-6)
    assert np.allclose(aligned, reference, atol=1e-6)
    assert np.allclose(rotation, q.T, atol=1e-6)
    assert np.linalg.det(rotation) == pytest.approx(-1.0 if reflect else 1.0)


@pytest.mark.parametrize("shape", [(60, 8), (12, 40)])  # covariance and Gram routes
def test_pca_matches_sklearn(shape):
    from sklearn.decomposition import PCA

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1)) * torch.linspace(3.0, 0.5, shape[1])
    ours = pca_2d(x)
    theirs = PCA(n_components=2, svd_solver="full").fit_transform(x.double().numpy())
    assert np.allclose(np.abs(ours), np.abs(theirs), atol=1e-9)
    assert (ours[np.abs(ours).argmax(axis=0), [0, 1]] > 0).all()  # the documented sign rule


def test_refuses_to_overwrite(digits, tmp_path):
    data, names, shape = digits
    at, calls = path_of(shape)
    (tmp_path / "pca_evol.png").write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="pca_evol.png"):
        feature_trajectory(at, data, ALPHAS, tmp_path, names)
    assert calls == []  # refused before any model work
    assert (tmp_path / "pca_evol.png").read_bytes() == b"keep me"
    assert not (tmp_path / "pca_evol.gif").exists()


def test_logging_only_where_media_is_supported(tmp_path):
    import wandb
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    from unlearn.stage_logger import JobLogger

    Image.new("RGB", (4, 4)).save(tmp_path / "a.gif")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    paths = {"gif": tmp_path / "a.gif", "png": tmp_path / "a.png"}
    assert not log_trajectory(None, paths)
    assert not log_trajectory(JobLogger(None), paths)
    assert not log_trajectory(JobLogger(CSVLogger(tmp_path / "csv")), paths)

    fake = mock.create_autospec(WandbLogger, instance=True)
    assert log_trajectory(JobLogger(fake), paths, key="cuts/pca")
    (media,), kwargs = fake.log_metrics.call_args
    assert isinstance(media["cuts/pca/animation"], wandb.Video)
    assert isinstance(media["cuts/pca/final"], wandb.Image)
    assert kwargs == {"step": 0}

    other = mock.Mock(spec=["log_image"])
    assert log_trajectory(other, paths)
    other.log_image.assert_called_once_with(key="pca_evol/final", images=[str(Path(paths["png"]))])
