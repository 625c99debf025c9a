"""condense.py end to end on the bundled digits, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from unlearn.app.tables import write_table

pytestmark = pytest.mark.slow
QUIET = ("logger=none",)


def _run_dir(root: Path) -> Path:
    (metrics,) = sorted((root / "outputs" / "condense").rglob("metrics.json"), key=lambda p: p.stat().st_mtime)[-1:]
    return metrics.parent


@pytest.fixture(scope="module")
def blend_run(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("condense")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")  # tiny nets: threads only add contention
        proc = run_cli("condense.py", *QUIET, "evaluate.epochs=150", "evaluate.models=2", root=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = _run_dir(root)
    return run, json.loads((run / "metrics.json").read_text())


def test_blend_default_writes_the_set_and_the_metrics(blend_run):
    run, m = blend_run
    for name in ("condensed.safetensors", "condensed.json", "condensed.png", "metrics.json"):
        assert (run / name).is_file(), name
    assert m["images"] == 100 and m["retain_images"] == 1352
    assert m["compression"] == pytest.approx(100 / 1352)
    assert m["seconds_cluster"] > 0 and m["seconds_build"] > 0 and m["free_clusters"] == 100
    meta = json.loads((run / "condensed.json").read_text())
    assert meta["method"] == "blend" and meta["dataset"] == "digits" and meta["seconds_build"] == m["seconds_build"]


def test_blend_beats_random_real_images_of_the_same_size(blend_run):
    # Measured on digits, 10 per class, 2 ConvNets x 150 epochs each: Blend 0.908, random 0.842.
    _, m = blend_run
    assert m["test_acc"] > m["random_test_acc"] + 0.03, (m["test_acc"], m["random_test_acc"])
    assert m["test_acc"] > 0.85


def test_a_saved_set_is_reused_and_never_overwritten(blend_run, tmp_path):
    run, m = blend_run
    proc = run_cli("condense.py", *QUIET, f"condensed={run}", "evaluate.epochs=20", "evaluate.random_baseline=false",
                   root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads((_run_dir(tmp_path) / "metrics.json").read_text())
    assert again["images"] == m["images"] and again["seconds_build"] == pytest.approx(m["seconds_build"])
    assert not (_run_dir(tmp_path) / "condensed.safetensors").exists()
    proc = run_cli("condense.py", *QUIET, f"condensed={run}", "forget=random10", root=tmp_path)
    assert proc.returncode == 2 and "built for forget='none', not forget='random10'" in proc.stderr


def test_forget_aware_blend_keeps_residual_images(tmp_path):
    proc = run_cli("condense.py", *QUIET, "forget=random10", "ipc=20", "evaluate.models=0",
                   "condensation.iterations=2", root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads((_run_dir(tmp_path) / "metrics.json").read_text())
    assert m["forget_images"] == 135 and m["retain_images"] == 1352 - 135
    assert m["images"] == m["free_clusters"] + m["residual_images"]
    assert m["free_clusters"] + m["residual_clusters"] == 200 and m["residual_images"] > 0
    assert 0 < m["compression"] < 1


def test_bad_ipc_is_one_line(tmp_path):
    proc = run_cli("condense.py", *QUIET, "ipc=0", root=tmp_path)
    assert proc.returncode == 2 and "condensation.ipc=0 is not allowed" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_condensation_sweep_aggregates_into_a_table(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli("condense.py", "-m", *QUIET, "condensation=blend,random", "ipc=2", "evaluate.epochs=10",
                   "evaluate.random_baseline=false", f"hydra.sweep.dir={sweep}",
                   root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = write_table(sweep, "comparison")
    lines = paths["md"].read_text().splitlines()
    assert lines[2].startswith("| dataset | forget | ipc | blend acc | blend images | blend s | blend it | random acc")
    assert lines[4].startswith("| digits | none | 2 | ") and "| 20 |" in lines[4]
    cells = [c.strip() for c in lines[4].strip().strip("|").split("|")]
    assert len(cells) == 10 and cells[4] == "20" and cells[6] == "20"  # Blend: 20 images, 20 iterations
    # Both sets side by side in one figure, a panel per condenser.
    assert paths["plots"] == [sweep / "condensed_digits_none_ipc2.png"]
    from PIL import Image

    with Image.open(paths["plots"][0]) as im:
        assert im.width > 1.5 * im.height  # two 2.6 x 3 in panels in a row


def test_condense_killed_in_its_build_and_in_its_evaluation_ends_as_an_uninterrupted_run(tmp_path: Path):
    """``kill -9`` during the build, the same command, ``kill -9`` during the evaluation, the same command:
    the metrics of one uninterrupted run; the killed build goes on from its resume point, and the
    finished build is reused, not repeated."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    args = ["condense.py", *QUIET, "condensation=dm", "ipc=2", "condensation.iterations=60", "evaluate.epochs=400",
            "evaluate.random_baseline=false", "trainer.enable_progress_bar=false", "checkpoint_seconds=0"]

    def env(root: Path) -> dict[str, str]:
        return {**os.environ, "UNLEARN_ROOT": str(root), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}

    def kill_when(root: Path, ready) -> None:
        proc = subprocess.Popen([sys.executable, str(REPO / args[0]), *args[1:]], cwd=root, env=env(root),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    (tmp_path / "whole").mkdir()
    whole = run_cli(*args, root=tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    root = tmp_path / "killed"
    root.mkdir()
    store = root / "outputs" / "artifacts" / "condense" / "dm"
    kill_when(root, lambda: list(store.glob("*/build.ckpt")))  # building: a resume point, nothing stored yet
    assert not list(store.glob("*/condensed.safetensors"))
    kill_when(root, lambda: list(store.glob("*/condensed.json")))  # built; evaluating
    assert not list((root / "outputs" / "condense").rglob("metrics.json"))
    again = run_cli(*args, root=root)
    assert again.returncode == 0, again.stderr[-2000:]
    a = json.loads((_run_dir(tmp_path / "whole") / "metrics.json").read_text())
    b = json.loads((_run_dir(root) / "metrics.json").read_text())
    same = {k for k in a if not k.startswith("seconds")}
    assert {k: b[k] for k in same} == {k: a[k] for k in same}
    assert len(list(store.glob("*/condensed.safetensors"))) == 1  # built once, reused by the rerun
    (meta,) = store.glob("*/condensed.json")
    assert json.loads(meta.read_text())["seconds_before_resume"] > 0  # the second run went on from the first's
    assert not list(store.glob("*/build.ckpt"))  # stored: nothing left to resume
