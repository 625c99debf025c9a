"""train.py, the wandb default, and a multirun over noise rates, run for real on tiny recipes."""

from __future__ import annotations

import json

import pytest

from conftest import CONF, compose_cfg, run_cli
from unlearn.app.correct import run_correct
from unlearn.app.train import run_train
from unlearn.errors import ConfigError

TRAIN_TINY = ["arch=mlp", "arch.net.hidden=[32]", "stages.corrupted.max_epochs=3", "stages.proxy.max_epochs=2",
              "stages.cf.max_epochs=2", "corruption.proxy_seeds=[12]"]
TINY = [*TRAIN_TINY, "method.curve_grid=null"]


def test_train_py_stages_reuse_the_corrupted_model(tmp_path):
    metrics, _ = run_train(compose_cfg("train", tmp_path, [*TRAIN_TINY, "stage=cf"], "cf"))
    assert 0.0 <= metrics["cf_test_acc"] <= 1.0 and metrics["cf_reused"] == 0.0
    metrics, _ = run_train(compose_cfg("train", tmp_path, [*TRAIN_TINY, "stage=corrupted"], "corrupted"))
    assert metrics["corrupted_reused"] == 1.0  # trained above as cf's parent
    metrics, _ = run_train(compose_cfg("train", tmp_path, [*TRAIN_TINY, "stage=proxy", "proxy_seeds=[12,10]"], "px"))
    assert {"proxy_12_test_acc", "proxy_10_test_acc"} <= set(metrics)
    assert json.loads((tmp_path / "runs" / "px" / "metrics.json").read_text())["proxy_10_reused"] == 0.0


def test_train_py_original_trains_the_clean_model_and_refuses_a_proxy(tmp_path):
    """corruption=none has no proxy seeds: train.py's original stage still composes and trains."""
    clean = ["arch=mlp", "arch.net.hidden=[64]", "stages.corrupted.max_epochs=15", "corruption=none"]
    metrics, _ = run_train(compose_cfg("train", tmp_path, [*clean, "stage=original"], "orig"))
    assert metrics["corrupted_reused"] == 0.0 and metrics["corrupted_test_acc"] > 0.5
    with pytest.raises(ConfigError, match="stage='proxy'.*a clean model has no proxy"):
        run_train(compose_cfg("train", tmp_path, [*clean, "stage=proxy"], "px"))


def test_wandb_is_the_default_logger_and_runs_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose_cfg("correct", tmp_path, [*TINY, "method.alpha=-1.0", "logger=wandb"], "wb")
    assert "- logger: wandb" in (CONF / "correct.yaml").read_text()  # the default
    assert cfg.logger._target_.endswith("WandbLogger")
    metrics, _ = run_correct(cfg)
    import wandb

    assert wandb.run is None or wandb.run.settings.mode == "offline"
    assert list((tmp_path / "runs" / "wb" / "wandb").glob("offline-run-*"))
    assert metrics["alpha"] == -1.0


@pytest.mark.slow
def test_multirun_over_noise_rates(tmp_path):
    args = ["-m", "corruption.rate=0.2,0.4,0.6", "logger=none", "trainer.accelerator=cpu",
            "trainer.enable_progress_bar=false", *TINY]
    proc = run_cli("correct.py", *args, root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    artifacts = tmp_path / "outputs" / "artifacts"
    trained = sorted(artifacts.glob("*/*/model.safetensors"))
    assert len(list(artifacts.glob("corrupted/*/model.safetensors"))) == 3  # one per rate
    assert len(list(artifacts.glob("oracle/*/model.safetensors"))) == 3
    runs = sorted((tmp_path / "outputs" / "correct" / "multiruns").glob("*/*/metrics.json"))
    assert len(runs) == 3
    # The same sweep again trains nothing: every upstream model is found by its key.
    mtimes = {p: p.stat().st_mtime_ns for p in trained}
    proc = run_cli("correct.py", *args, root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(artifacts.glob("*/*/model.safetensors")) == trained
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
