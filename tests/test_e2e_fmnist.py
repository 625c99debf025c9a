"""CUTS on real Fashion-MNIST images: a label-noise model is repaired without its training data.

A reduced version of ``experiment=cuts/fmnist`` (4,000 training images, FC1 1,024 wide, 40
epochs) so it fits the test budget: about two minutes on one core. Thresholds are the
measured values of this seeded run less some slack (README: Measured on Fashion-MNIST).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import compose_cfg
from unlearn.app.correct import run_correct
from unlearn.data.fashion_mnist import FILES, SYSTEM_DIR

pytestmark = pytest.mark.slow

SMALL = ["experiment=cuts/fmnist", "dataset.train_size=4000", "arch.net.hidden=1024", "stages.corrupted.max_epochs=40",
         "stages.corrupted.batch_size=128", "method.curve_grid=[-0.1,-2.0,20]"]


@pytest.fixture(scope="module")
def fmnist_run(tmp_path_factory):
    if not all((Path(SYSTEM_DIR) / f).is_file() for pair in FILES.values() for f in pair):
        if os.environ.get("CI"):
            pytest.fail(f"Fashion-MNIST is missing from {SYSTEM_DIR}; .ci/run installs dataset-fashion-mnist")
        pytest.skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
    cfg = compose_cfg("correct", tmp_path_factory.mktemp("fmnist"), SMALL, "fmnist")
    metrics, _ = run_correct(cfg)
    return metrics


def test_cuts_raises_clean_accuracy_of_a_noisy_model_on_real_images(fmnist_run):
    m = fmnist_run
    # Measured (seed 0): corrupted 0.699, oracle 0.836, CUTS 0.766 at alpha -0.60 (recovery 0.49),
    # best alpha on the curve 0.783 (0.61); the corrupted model fits 77% of its wrong labels.
    # On an AMD EPYC (AVX-512) machine the same seeded run gives corrupted 0.696, oracle 0.836 and
    # CUTS 0.740 at alpha -0.75 (recovery 0.32; curve best 0.782 at -0.30): the CPU's float kernels
    # move the KNN self-agreement score enough to pick another point of its flat top, so the
    # label-free recovery bound is set below both measurements (0.30), not below one.
    assert m["oracle_clean_acc"] - m["corrupted_clean_acc"] >= 0.08, m  # the noise really cost accuracy
    assert m["corrupted_noisy_train_fit"] >= 0.6, m  # because the model memorised it
    assert m["alpha"] < 0
    assert m["clean_acc"] - m["corrupted_clean_acc"] >= 0.04, m
    assert m["recovery"] >= 0.30, m
    assert m["curve_best_recovery"] >= 0.5, m
    # Subtracting tau un-memorises the wrong labels: most noisy samples get their true class back.
    assert m["corrupted_noisy_train_fit"] - m["noisy_train_fit"] >= 0.5, m
    assert m["noisy_train_acc"] - m["corrupted_noisy_train_acc"] >= 0.4, m
    # A random vector of the same norm at the same alpha does not do what tau does.
    assert m["clean_acc"] - m["random_clean_acc"] >= 0.05, m
