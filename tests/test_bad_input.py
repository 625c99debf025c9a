"""Bad input stops with one line naming the bad value and what is allowed; nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, compose_cfg, run_cli
from unlearn.app import build
from unlearn.app.correct import run_correct
from unlearn.errors import ConfigError


def _error_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_rate_outside_unit_interval(tmp_path):
    line = _error_line(run_cli("correct.py", "logger=none", "corruption.rate=1.5", root=tmp_path))
    assert "corruption.rate=1.5" in line and "[0, 1]" in line


def test_dataset_files_missing_offline(tmp_path):
    line = _error_line(run_cli("train.py", "logger=none", "dataset=cifar10", "dataset.source.download=false",
                               root=tmp_path))
    assert "cifar10" in line and str(tmp_path / "data") in line and "http" in line


def test_unknown_options_and_keys_are_one_line_too(tmp_path):
    """Hydra's composition errors (a paragraph and the search path, exit 1) become the project's one line."""
    for override, words in (("dataset=imagenet7", ["dataset='imagenet7'", "digits, fashion_mnist"]),
                            ("arch=resnet7", ["arch='resnet7'", "fc1"]),
                            ("method.alpah=3", ["method.alpah", "+method.alpah=3"]),
                            ("corruption.rate=[1", ["[1", "override_grammar"])):
        line = _error_line(run_cli("correct.py", "logger=none", override, root=tmp_path))
        for word in words:
            assert word in line, line


def test_target_class_out_of_range(tmp_path):
    cfg = compose_cfg("correct", tmp_path, ["corruption=poison", "corruption.target_class=12"])
    with pytest.raises(ConfigError, match=r"corruption.target_class=12.*0\.\.9"):
        run_correct(cfg)


def test_typo_in_a_config_key_is_an_error(tmp_path):
    cfg = compose_cfg("correct", tmp_path, ["+method.alpah=-1"])
    with pytest.raises(ConfigError, match=r"method.alpah.*alpha"):
        run_correct(cfg)
    cfg = compose_cfg("correct", tmp_path, ["+stages.proxy.lrr=0.1"])
    with pytest.raises(ConfigError, match=r"stages.proxy.lrr.*lr"):
        build.recipes(cfg)
    cfg = compose_cfg("correct", tmp_path, ["+stages.retian.max_epochs=3"])  # a stage that does not exist
    with pytest.raises(ConfigError, match=r"stages.retian.*retain"):
        build.recipes(cfg)
    cfg = compose_cfg("correct", tmp_path, ["+trainer.gpus=2"])
    with pytest.raises(ConfigError, match=r"trainer.gpus"):
        build.trainer_kwargs(cfg)


def test_positive_alpha_refused(tmp_path):
    cfg = compose_cfg("correct", tmp_path, ["method.alpha=0.5"])
    with pytest.raises(ConfigError, match=r"method.alpha=0.5"):
        run_correct(cfg)


def test_existing_metrics_are_never_overwritten(tmp_path):
    cfg = compose_cfg("correct", tmp_path, [], "taken")
    run_dir = tmp_path / "runs" / "taken"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text('{"clean_acc": 0.5}')
    with pytest.raises(ConfigError, match="exists"):
        run_correct(cfg)
    assert (run_dir / "metrics.json").read_text() == '{"clean_acc": 0.5}'


def test_missing_checkpoint_file(tmp_path):
    cfg = compose_cfg("correct", tmp_path, [f"corrupted_ckpt={tmp_path}/nope.safetensors"])
    with pytest.raises(ConfigError, match="nope.safetensors"):
        run_correct(cfg)


def test_a_saved_tau_of_another_arch_is_refused_before_anything_trains(tmp_path):
    import torch

    from unlearn.taskvec import save_vector

    save_vector(tmp_path / "tau.safetensors", {"w": torch.zeros(2)}, "small_cnn")
    line = _error_line(run_cli("correct.py", "logger=none", f"method.tau={tmp_path / 'tau.safetensors'}",
                               root=tmp_path))
    assert "method.tau=" in line and "arch 'small_cnn'" in line and "arch='fc1'" in line
    assert not (tmp_path / "outputs" / "artifacts").exists()  # refused before the corrupted model trained


@pytest.mark.parametrize("key, value", [("unlearn.mia_phi", "float16"), ("unlearn.mia_fold", "all")])
def test_unknown_mia_variant_is_refused(tmp_path, key, value):
    cfg = compose_cfg("correct", tmp_path, ["method=aamu_cf", "forget=random10", f"{key}={value}"])
    with pytest.raises(ConfigError, match=rf"{key}='{value}'.*reference"):
        build.context(cfg, tmp_path / "run")


# Refused at start-up, through the real entry point: exit 2, one line, nothing trained or written.
EARLY = [
    (("corrupted_ckpt=/etc/passwd",), ["corrupted_ckpt", "/etc/passwd", "not a safetensors"]),
    (("seed=-1",), ["seed=-1", "0 to 4294967295"]),
    (("trainer.devices=0",), ["trainer.devices=0", "a positive count"]),
    (("trainer.precision=bogus",), ["trainer.precision='bogus'", "bf16-mixed"]),
    (("method.alpha=0.5",), ["method.alpha=0.5"]),
    (("stages.corrupted.max_epochs=0",), ["max_epochs=0"]),
    (("corruption=poison", "corruption.target_class=12"), ["corruption.target_class=12", "0..9"]),
    (("dataset.heldout_fraction=0",), ["dataset.heldout_fraction=0", "method=cuts"]),
    (("method=aamu_cf", "forget=random10", "condensed=/tmp"), ["condensed='/tmp'", "holds no condensed set"]),
    (("method=aamu_cf", "forget=random10", "unlearn.rounds=0"), ["unlearn.rounds=0"]),
    (("method=aamu_cf", "forget=random10", "unlearn.unseen_fraction=2"), ["unlearn.unseen_fraction=2"]),
    (("eval_memory=gpu",), ["eval_memory='gpu'", "auto, host"]),
    # read from open_clip's model-config files, without importing open_clip (once ~10 s to refuse)
    (("arch=clip_vitb16", "arch.model=ViT-B-16-quickgelo"), ["arch.model='ViT-B-16-quickgelo'", "ViT-B-16-quickgelu"]),
]


# Runs an entry point as ``python <script> ...`` would, then says whether Lightning was imported.
PROBE = ("import runpy, sys\nsys.argv = sys.argv[1:]\ntry:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
         "finally:\n    print('lightning imported:', 'lightning' in sys.modules)\n"
         "    print('open_clip imported:', 'open_clip' in sys.modules)\n")


@pytest.mark.parametrize("overrides, words", EARLY, ids=[" ".join(o) for o, _ in EARLY])
def test_refused_before_any_work(tmp_path, overrides, words):
    """... and before Lightning is imported (app/preflight.py): a refusal costs torch's import and our
    checks (2-3 s here, bench/refusal_time.py), not Lightning's import on top (4-5 s more)."""
    env = {**os.environ, "UNLEARN_ROOT": str(tmp_path), "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "correct.py"), "logger=none", *overrides],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    line = _error_line(proc)
    for word in words:
        assert word in line, line
    assert proc.stderr.strip() == line  # exactly one line on stderr
    assert "lightning imported: False" in proc.stdout and "open_clip imported: False" in proc.stdout, proc.stdout
    assert not (tmp_path / "outputs" / "artifacts").exists()


def test_pretrained_weights_offline_fail_at_once(tmp_path, monkeypatch):
    """No retries with back-off when the Hub cannot be reached: one connection attempt decides offline
    mode (huggingface_hub then never retries), and the load fails with the one-line message."""
    import socket

    import huggingface_hub.constants as hub

    from unlearn.errors import DataUnavailableError
    from unlearn.models import hub as probe
    from unlearn.models.clip_vitb16 import clip_vitb16

    attempts = []

    def unreachable(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    probe.offline_unless_reachable.cache_clear()
    try:
        with pytest.raises(DataUnavailableError, match="not in the local cache"):
            clip_vitb16((3, 224, 224), 10, class_names=[str(i) for i in range(10)], prompts="number",
                 cache_dir=str(tmp_path / "empty_cache"))
        assert hub.HF_HUB_OFFLINE is True and hub.is_offline_mode()
        assert attempts == [("huggingface.co", 443)]  # one probe, then offline mode
    finally:
        probe.offline_unless_reachable.cache_clear()


@pytest.mark.parametrize("code, words", [(28, "the disk is full"), (30, "read-only file system")])
def test_a_full_or_read_only_disk_is_one_line_naming_the_folder(tmp_path, capsys, code, words):
    import errno
    import os

    from unlearn.app.entry import guarded

    assert code in (errno.ENOSPC, errno.EROFS)

    @guarded
    def job():
        raise OSError(code, os.strerror(code), str(tmp_path / "outputs" / "artifacts" / "x" / "model.tmp"))

    with pytest.raises(SystemExit) as exit_:
        job()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and str(tmp_path / "outputs" / "artifacts" / "x") in err[0]


def test_other_os_errors_keep_their_traceback():
    from unlearn.app.entry import guarded

    @guarded
    def job():
        raise FileNotFoundError(2, "No such file or directory", "/nope")

    with pytest.raises(FileNotFoundError):
        job()
