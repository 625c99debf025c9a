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


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    """One artifact store for the session, so end-to-end tests share upstream models."""
    return tmp_path_factory.mktemp("unlearn_root")
