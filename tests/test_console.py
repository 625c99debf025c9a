"""A default run's console: stage progress named by stage, the table, where the files went; no noise."""

from __future__ import annotations

import logging

import pytest

from conftest import run_cli
from unlearn.app.console import QuietConsole, is_noise
from unlearn.progress import stage_label


@pytest.mark.parametrize("message, noise", [
    ("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](...)", True),
    ("💡 Tip: For seamless cloud uploads and versioning, try installing [litmodels](...)", True),
    ("/x/_pytree.py:21: `isinstance(treespec, LeafSpec)` is deprecated, use ...", True),
    ("/x/fit_loop.py:321: The number of training batches (19) is smaller than the logging interval ...", True),
    ("GPU available: False, used: False", True),
    ("GPU available: True, used: False", False),  # a user who forgot trainer=gpu must see this
    ("`Trainer.fit` stopped: `max_epochs=30` reached.", True),
    ("/x/y.py:3: UserWarning: something else entirely", False),
])
def test_only_known_messages_are_noise(message, noise):
    assert is_noise(message) is noise
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, message, None, None)
    assert QuietConsole().filter(record) is not noise


def test_progress_labels_name_the_stage():
    assert stage_label("corrupted", None) == "corrupted"
    assert stage_label("proxy", 12) == "proxy seed 12"
    assert stage_label("shadow", 3) == "shadow 3"


@pytest.mark.slow
def test_a_default_run_prints_progress_table_and_files_and_logs_the_rest(tmp_path):
    proc = run_cli("correct.py", "stages.corrupted.max_epochs=2", "stages.proxy.max_epochs=2", "stages.proxy_seeds=[12]",
                   "method.curve_grid=null", root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    for stage in ("corrupted epoch 2/2", "oracle epoch 2/2", "proxy seed 12 epoch 2/2"):
        assert stage in console
    assert "clean_acc" in proc.stdout and "metrics written to" in proc.stdout
    for noise in ("💡", "LeafSpec", "logging interval", "anonymous", "TPU available", "v_num"):
        assert noise not in console, noise
    assert not proc.stderr.strip() or all("it/s" in ln or not ln.strip() for ln in proc.stderr.splitlines())
    job_log = next((tmp_path / "outputs" / "correct" / "runs").glob("*/correct.log")).read_text()
    assert "💡 Tip" in job_log and "LeafSpec" in job_log and "TPU available" in job_log  # kept, not lost
