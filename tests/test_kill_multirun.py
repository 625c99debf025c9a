"""A Hydra sweep killed with ``kill -9`` in one of its jobs, then the same command again: every
job's metrics.json equals an uninterrupted sweep's. The rerun is a new sweep (Hydra's default
folder is named by the time; here each sweep names its own), the finished job is recomputed from
the cached models and the killed job resumes its fit from the resume point the kill left. The
three sweeps share one artifact store of their own (a finished fit leaves nothing a later one
reuses; another test's fit could leave a resume point this one would take for its own)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

# Job 0 fine-tunes 3 epochs, job 1 40: the kill lands in job 1's fit, after job 0 has finished.
# A 256-wide fc1 keeps the upstream models (original, retrain) to seconds.
SWEEP = ["-m", "method=finetune", "forget=random10", "method.warmup=1", "method.epochs=3,40", "arch.net.hidden=256",
         "logger=none", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false"]


def _sweep(root: Path, folder: Path, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "UNLEARN_ROOT": str(root)}
    return subprocess.Popen([sys.executable, str(REPO / "correct.py"), *SWEEP, f"hydra.sweep.dir={folder}"],
                            cwd=root, env=env, **popen)


def _metrics(sweep: Path) -> list[dict[str, float]]:
    out = []
    for job in ("0", "1"):
        m = json.loads((sweep / job / "metrics.json").read_text())
        out.append({k: v for k, v in m.items() if not k.startswith("seconds")})
    return out


def test_a_sweep_killed_in_a_job_ends_as_an_uninterrupted_one(tmp_path: Path):
    root = tmp_path  # UNLEARN_ROOT of all three sweeps: one artifact store
    _, err = (done := _sweep(root, tmp_path / "whole", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)).communicate()
    assert done.returncode == 0, err[-2000:]
    resume_point = "unlearn/finetune/*/fit0/checkpoints/last.ckpt"
    artifacts = root / "outputs" / "artifacts"
    assert not list(artifacts.glob(resume_point))

    proc = _sweep(root, tmp_path / "killed", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # Job 0 has finished and job 1's fit has written its resume point.
    while not ((tmp_path / "killed" / "0" / "metrics.json").exists() and list(artifacts.glob(resume_point))):
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "1" / "metrics.json").exists()

    _, err = (again := _sweep(root, tmp_path / "again", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)).communicate()
    assert again.returncode == 0, err[-2000:]
    assert _metrics(tmp_path / "again") == _metrics(tmp_path / "whole")
    assert not list(artifacts.glob(resume_point))  # taken up, then removed when the fit finished
