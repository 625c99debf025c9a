"""The warm-up / hold / cosine schedule and the LightningModule's metrics."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.errors import ConfigError
from unlearn.models.recipe import Recipe
from unlearn.models.schedule import warmup_hold_cosine


def test_schedule_shape_matches_the_reference():
    w, h, t, floor = 10, 5, 35, 0.01
    assert warmup_hold_cosine(0, w, h, t, floor) == 0.0  # lr is 0 on the very first step
    assert warmup_hold_cosine(5, w, h, t, floor) == pytest.approx(0.5)
    assert warmup_hold_cosine(10, w, h, t, floor) == 1.0
    assert warmup_hold_cosine(15, w, h, t, floor) == 1.0
    mid = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert warmup_hold_cosine(25, w, h, t, floor) == pytest.approx(mid)
    assert warmup_hold_cosine(35, w, h, t, floor) == pytest.approx(floor)


def test_warmup_offset_starts_at_lr_over_w():
    assert [warmup_hold_cosine(t, 4, 0, 10, 0.0, offset=1) for t in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    with pytest.raises(ConfigError, match="warmup_offset=2"):
        Recipe(warmup=4, warmup_offset=2)


def test_a_warmup_offset_is_a_different_stage_model(tmp_path):
    from conftest import compose_cfg
    from unlearn.app import build

    def key(*overrides: str) -> str:
        return build.context(compose_cfg("correct", tmp_path, list(overrides)), tmp_path).runner.key("corrupted")

    # Unset (0) it stays out of the key material, so stores made before the field existed still match.
    assert key() == key("+stages.corrupted.warmup_offset=0") != key("+stages.corrupted.warmup_offset=1")


def test_plain_cosine_is_the_zero_warmup_case():
    for step in range(0, 21):
        expected = 0.5 * (1 + math.cos(math.pi * step / 20))
        assert warmup_hold_cosine(step, 0, 0, 20, 0.0) == pytest.approx(expected)


def test_recipe_validates():
    with pytest.raises(ConfigError, match="interval='batch'"):
        Recipe(interval="batch")
    with pytest.raises(ConfigError, match="lr=0"):
        Recipe(lr=0)


def test_module_accumulates_epoch_metrics():
    from unlearn.models.mlp import mlp
    from unlearn.models.module import ClassifierModule

    module = ClassifierModule(mlp((1, 2, 2), 3, hidden=(4,)), 3, Recipe())
    batch = {"x": torch.randn(6, 1, 2, 2), "y": torch.tensor([0, 1, 2, 0, 1, 2])}
    loss = module._step(batch, module.train_metrics)
    values = module.train_metrics.compute()
    assert values["train/loss"] == pytest.approx(float(loss), rel=1e-5)
    preds = module(batch["x"]).argmax(1)
    assert values["train/acc"] == pytest.approx(float((preds == batch["y"]).float().mean()))


def test_step_schedule_multiplies_by_gamma_at_each_milestone():
    import torch

    from unlearn.models.schedule import make_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, 0, 0, 10, 0.0, milestones=[2, 4], gamma=0.5)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
