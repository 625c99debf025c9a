"""Compose the real configs with small overrides, as a user's command line would.

``compose_cfg`` mirrors what ``@hydra.main`` does (including the hydra node, so
``${hydra:runtime.output_dir}`` resolves) and points every path into a temp dir.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
QUIET = ["trainer.enable_progress_bar=false", "trainer.accelerator=cpu"]


def compose_cfg(name: str, root: Path, overrides: list[str] = (), run_name: str = "run") -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        logger = [] if any(o.startswith("logger=") for o in overrides) else ["logger=none"]
        cfg = compose(name, overrides=[*QUIET, *logger, *overrides], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(root)
        cfg.paths.output_dir = str(root / "runs" / run_name)
    return cfg


def run_cli(script: str, *overrides: str, root: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run an entry point as a user would, in a fresh process."""
    env = {**os.environ, "UNLEARN_ROOT": str(root), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return subprocess.run(
        [sys.executable, str(REPO / script), *overrides], cwd=root, env=env,
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(autouse=True)
def _quiet_lightning():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        yield


def digits_pool():
    """The whole bundled digits train split as a condensation pool (normalised float images)."""
    import torch

    from unlearn.app.condense import normalised
    from unlearn.condense import Pool
    from unlearn.data.digits import Digits

    source = Digits()
    train, _ = source.load()
    return Pool(normalised(train, source), train.labels, torch.arange(len(train.labels)), 10)


def _workers() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def pytest_configure(config) -> None:
    # Parallel workers (pytest-xdist, -n in pyproject) each get one intra-op thread, and so do the
    # CLI subprocesses they start: two workers x two threads on two cores oversubscribes OpenMP.
    if _workers() > 1:
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    """One artifact store for the session, so end-to-end tests share upstream models. Under
    pytest-xdist it is shared by every worker: the artifact store's per-stage file lock makes a
    worker wait for a model another one is training, then reuse it."""
    if _workers() > 1:
        root = tmp_path_factory.getbasetemp().parent / "unlearn_root"
        root.mkdir(exist_ok=True)
        return root
    return tmp_path_factory.mktemp("unlearn_root")


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine OpenMP
    oversubscription made their steps ~30x slower (measured 0.44 s vs 0.013 s per step)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Tiny random-weight keyword arguments per registered arch, for tests that build every arch.
TINY_ARCH_KWARGS = {
    "vit_b_16": {"num_layers": 1, "num_heads": 2, "hidden_dim": 32, "mlp_dim": 64},
    "clip_vitb16": {"class_names": [str(i) for i in range(7)], "prompts": "number", "pretrained": None, "overrides": {
        "embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 1, "layers": 1}}},
    "dinov3_vitb16": {"pretrained": False, "config_overrides": {
        "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}},
}
