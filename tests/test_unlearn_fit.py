"""The Lightning fit every unlearning method trains through: the plain loop's order, step-based
recipes, and resuming an interrupted fit to the weights of an uninterrupted one."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn.models.recipe import Recipe, make_optimizer
from unlearn.models.schedule import make_scheduler
from unlearn.unlearning.fit import fit, fit_passes, sample_rows
from unlearn.unlearning.fit_spec import FitPlace, Pass

CPU = {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False}


def data(n: int = 150) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def test_fit_takes_the_plain_loops_batches_steps_and_schedule(one_thread):
    x, y = data()
    recipe = Recipe(max_epochs=3, lr=0.05, batch_size=32, optimizer="sgd", warmup=1, warmup_offset=1)
    # The loop the methods used before Lightning, written out.
    ref = net()
    gen = torch.Generator().manual_seed(7)
    opt = make_optimizer(list(ref.parameters()), recipe)
    sched = make_scheduler(opt, 1, 0, 3, 0.0, [], 0.1, 1)
    torch.manual_seed(5)
    ref.train()
    for _ in range(3):
        order = torch.randperm(150, generator=gen)
        for i in range(0, 150, 32):
            rows = order[i:i + 32]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(ref(x[rows]), y[rows]).backward()
            opt.step()
        sched.step()
    got = net().eval()  # as a method gets it: a copy of the evaluated original; fit trains it in train mode
    torch.manual_seed(5)  # dropout draws from the global RNG, as in the loop
    fit(FitPlace(CPU), got, x, y, recipe, 7)
    for a, b in zip(ref.state_dict().values(), got.state_dict().values()):
        assert torch.equal(a, b)


def test_a_step_based_recipe_stops_at_max_steps_and_steps_its_schedule_per_step(one_thread, monkeypatch):
    x, y = data()
    seen: list[int] = []
    lrs: list[float] = []

    def loss(m, xb, yb, step):
        seen.append(step)
        return F.cross_entropy(m(xb), yb)

    original_step = torch.optim.SGD.step

    def step(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return original_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    recipe = Recipe(max_epochs=1, max_steps=7, lr=0.1, batch_size=32, optimizer="sgd", interval="step", warmup=4)
    fit(FitPlace(CPU), net(), x, y, recipe, 0, loss)
    assert seen == list(range(7))  # 7 steps: one epoch (5 batches) and two of the next
    # warm-up from 0 over 4 steps, per step: 0, 0.025, 0.05, 0.075, then the cosine from 0.1
    assert lrs[:5] == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1])
    assert lrs[6] < lrs[5] < 0.1


def test_passes_alternate_in_order_and_stop_when_inactive(one_thread):
    x, y = data(64)
    order: list[str] = []

    def tagged(tag):
        def loss(m, xb, yb, step):
            order.append(tag)
            return F.cross_entropy(m(xb), yb)
        return loss

    passes = [Pass(x[:20], y[:20], 10, tagged("max"), lambda e: e < 1), Pass(x, y, 32, tagged("min"))]
    fit_passes(FitPlace(CPU), net(), passes, Recipe(max_epochs=2, lr=0.01, optimizer="sgd"), 0)
    assert order == ["max", "max", "min", "min", "min", "min"]


class Killed(Exception):
    """Stands for a kill: the fit stops mid-epoch, leaving its last checkpoint and nothing after."""


def _sampling_loss(gen: torch.Generator, x, y, fail_at: int | None):
    def loss(m, xb, yb, step):
        if fail_at is not None and step == fail_at:
            raise Killed
        extra = sample_rows(torch.arange(len(y)), 16, gen)
        return F.cross_entropy(m(xb), yb) - 0.1 * F.cross_entropy(m(x[extra]), y[extra])
    return loss


def test_an_interrupted_fit_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path: Path, one_thread):
    x, y = data()
    recipe = Recipe(max_epochs=6, lr=0.05, batch_size=32, optimizer="sgd", milestones=[3], gamma=0.5)

    def run(directory: Path, fail_at: int | None) -> nn.Module:
        gen = torch.Generator().manual_seed(3)
        model = net()
        torch.manual_seed(11)
        fit(FitPlace(CPU, directory), model, x, y, recipe, 2, _sampling_loss(gen, x, y, fail_at), generators=[gen])
        return model

    whole = run(tmp_path / "whole", None)
    with pytest.raises(Killed):
        run(tmp_path / "killed", 17)  # in epoch 4 (5 batches an epoch), after the epoch-3 checkpoint
    assert (tmp_path / "killed" / "fit0" / "checkpoints" / "last.ckpt").is_file()
    before_kill = log_rows(tmp_path / "killed")
    torch.manual_seed(999)  # the rerun's own RNG state must not matter: the checkpoint's is restored
    resumed = run(tmp_path / "killed", None)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert not (tmp_path / "killed" / "fit0" / "checkpoints").exists()  # done: nothing left to resume
    # The fit's log keeps the rows logged before the kill and ends where the uninterrupted one does.
    after = log_rows(tmp_path / "killed")
    assert before_kill and after[:len(before_kill)] == before_kill
    assert after[-1]["step"] == log_rows(tmp_path / "whole")[-1]["step"]
    # A fit that starts afresh in the same folder (nothing to resume) starts a new log.
    run(tmp_path / "killed", None)
    assert log_rows(tmp_path / "killed") == log_rows(tmp_path / "whole")


def log_rows(directory: Path) -> list[dict[str, str]]:
    with open(directory / "fit0" / "logs" / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


KILLED = {
    # An unlearning method's own fit: killed once its resume point exists.
    "method": (["method=finetune", "forget=random10", "method.epochs=30", "method.warmup=1"],
               "unlearn/finetune/*/fit0/checkpoints/last.ckpt"),
    # LiRA's shadow models (stages trained inside correct.py): killed while one of them trains.
    "shadows": (["method=aamu_cf", "forget=random10", "unlearn.shadows=2", "arch.net.hidden=256"],
                "shadow_*/*/checkpoints/last.ckpt"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KILLED))
def test_a_run_killed_with_sigkill_ends_as_an_uninterrupted_one(shared_root: Path, kind: str):
    """``kill -9`` during the fit, the same command again: the same metrics.json."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    extra, pattern = KILLED[kind]
    overrides = [*extra, "logger=none", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false"]
    env = {**os.environ, "UNLEARN_ROOT": str(shared_root), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    artifacts = shared_root / "outputs" / "artifacts"

    def command(run: str) -> list[str]:
        return [sys.executable, str(REPO / "correct.py"), *overrides, f"hydra.run.dir={shared_root}/runs/{run}"]

    whole_root = shared_root / f"whole_{kind}"  # its own artifacts: nothing shared with the killed run
    whole_root.mkdir(exist_ok=True)
    whole = subprocess.run([*command(f"kill_whole_{kind}")[:-1], f"hydra.run.dir={whole_root}/run"], cwd=whole_root,
                           env={**env, "UNLEARN_ROOT": str(whole_root)}, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert not list((whole_root / "outputs" / "artifacts").glob(pattern))  # a finished fit leaves no resume point
    proc = subprocess.Popen(command(f"kill_{kind}"), cwd=shared_root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(artifacts.glob(pattern)):
        assert proc.poll() is None and time.monotonic() < deadline, "the fit ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(command(f"kill_{kind}"), cwd=shared_root, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    a = json.loads((whole_root / "run" / "metrics.json").read_text())
    b = json.loads((shared_root / "runs" / f"kill_{kind}" / "metrics.json").read_text())
    same = {k for k in a if not k.startswith("seconds")}
    assert {k: b[k] for k in same} == {k: a[k] for k in same}


def test_the_condensed_set_evaluation_trains_max_steps_batches_of_a_step_recipe(one_thread, monkeypatch):
    from unlearn.condense.evaluate import train_net
    from unlearn.models.classifier import Classifier

    x, y = data(40)
    steps: list[int] = []
    original = torch.optim.AdamW.step

    def counted(self, *a, **k):
        steps.append(1)
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", counted)

    def make() -> Classifier:
        torch.manual_seed(0)
        return Classifier("tiny", nn.Sequential(nn.Linear(6, 8), nn.ReLU()), nn.Linear(8, 3))

    recipe = Recipe(max_epochs=1, max_steps=9, lr=0.01, batch_size=8)  # 9 batches: more than one pass of 5
    train_net(make, x, y, 3, recipe, CPU, 0)
    assert len(steps) == 9
