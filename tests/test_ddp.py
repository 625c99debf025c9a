"""Two-process DDP on CPU (gloo), launched exactly as a user would: ``trainer=ddp_cpu``.

Lightning re-runs the entry point for rank 1 into the same Hydra run dir. The checks: the
DDP run trains the same weights as one device with the same global batch (so gradients are
really averaged across ranks; the reference code's DDP did not), alpha selection gives the
same alpha, and only rank 0 writes artifacts and metrics.

Split sizes are chosen even (held-out 19%: train 1 100, its clean part 660, held-out 252), so
the two ranks' halves of every batch, last one included, are equal and the averaged
gradient is exactly the one-device gradient up to float rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import run_cli

COMMON = [
    "logger=none", "trainer.enable_progress_bar=false", "arch=mlp", "arch.net.hidden=[64]",
    "dataset.heldout_fraction=0.19", "stages.corrupted.max_epochs=3", "stages.proxy.max_epochs=3",
    "corruption.proxy_seeds=[12,10]", "method.curve_grid=null", "method.knn_grid=[0,-2,9]",
]


def _run(script: str, root: Path, trainer: str, *extra: str):
    common = [o for o in COMMON if script == "correct.py" or not o.startswith("method.")]
    proc = run_cli(script, f"trainer={trainer}", *common, *extra, root=root, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((root / "outputs" / script.removesuffix(".py") / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 shares rank 0's run dir: no second one
    return runs[0]


@pytest.fixture(scope="module")
def correct_runs(tmp_path_factory):
    root_ddp, root_one = tmp_path_factory.mktemp("ddp"), tmp_path_factory.mktemp("one")
    return _run("correct.py", root_ddp, "ddp_cpu"), _run("correct.py", root_one, "cpu"), root_ddp, root_one


def _weights(root: Path, stage: str) -> dict:
    dirs = list((root / "outputs" / "artifacts" / stage).iterdir())
    assert len(dirs) == 1, dirs
    return load_file(dirs[0] / "model.safetensors")


@pytest.mark.parametrize("stage", ["corrupted", "oracle", "proxy_12", "proxy_10"])
def test_every_stage_trains_the_same_weights_as_one_device(correct_runs, stage):
    _, _, root_ddp, root_one = correct_runs
    ddp, one = _weights(root_ddp, stage), _weights(root_one, stage)
    assert ddp.keys() == one.keys()
    for key in ddp:
        diff = (ddp[key] - one[key]).abs().max().item()
        assert diff < 1e-4, (stage, key, diff)


def test_alpha_selection_matches_one_device(correct_runs):
    run_ddp, run_one, _, _ = correct_runs
    m_ddp = json.loads((run_ddp / "metrics.json").read_text())
    m_one = json.loads((run_one / "metrics.json").read_text())
    assert m_ddp["alpha"] == m_one["alpha"]
    for key in ("clean_acc", "corrupted_clean_acc", "oracle_clean_acc"):
        assert m_ddp[key] == pytest.approx(m_one[key], abs=2e-3), key


def test_only_rank_zero_writes(correct_runs):
    run_ddp, _, root_ddp, _ = correct_runs
    log1 = (run_ddp / "train_ddp_process_1.log").read_text()
    assert "rank 1: stages trained; rank 0 evaluates and writes the outputs" in log1
    assert "metrics written" in (run_ddp / "correct.log").read_text()
    assert "metrics written" not in log1
    # One artifact directory per stage, each finished once (stage.json + weights from rank 0).
    for stage in ("corrupted", "oracle", "proxy_12", "proxy_10"):
        (directory,) = list((root_ddp / "outputs" / "artifacts" / stage).iterdir())
        info = json.loads((directory / "stage.json").read_text())
        assert info["stage"] == stage.split("_")[0]


def test_ddp_spawn_trains_the_same_weights_in_the_launching_process(correct_runs, tmp_path):
    # trainer=ddp_spawn keeps everything but fit() in one process (the --multirun-safe choice).
    _, _, _, root_one = correct_runs
    _run("train.py", tmp_path, "ddp_spawn", "trainer.accelerator=cpu", "trainer.precision=32-true",
         "stage=corrupted")
    spawn, one = _weights(tmp_path, "corrupted"), _weights(root_one, "corrupted")
    for key in one:
        assert (spawn[key] - one[key]).abs().max().item() < 1e-4, key


def test_slurm_launcher_sizes_the_allocation_from_the_trainer(tmp_path):
    from omegaconf import OmegaConf

    from conftest import compose_cfg

    cfg = compose_cfg("correct", tmp_path, ["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4",
                                            "trainer.num_nodes=2", "hydra.launcher.partition=gpu"])
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert launcher["partition"] == "gpu"
