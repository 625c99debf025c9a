"""Potion (spec 6.3): the dampening rule on numbers worked out by hand, and the method end to end.

The digits run trains real models (minutes on 2 CPU cores); its thresholds are measured
values of the seeded run less some slack (fc1, seed 0: proxy ASR 1.00 -> 0.008 after 27
tries at frac_dl 0.119, clean accuracy 0.9865 -> 0.9865).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from conftest import compose_cfg
from test_clip import TINY
from test_dinov3 import TINY as DINO_TINY
from unlearn.app.correct import run_correct
from unlearn.errors import ConfigError
from unlearn.methods.potion import (
    Potion,
    dampen,
    dampened_parameters,
    importance,
    percentile_for,
    percentile_of_sorted,
    sorted_ratios,
)


def test_percentile_formula():
    assert percentile_for(0.01) == pytest.approx(100 - math.log(2))
    assert percentile_for(0.01) == pytest.approx(99.307, abs=1e-3)
    assert percentile_for(0.1) == pytest.approx(100 - math.log(11))


def test_percentile_matches_numpy():
    gen = torch.Generator().manual_seed(0)
    values = torch.rand(1001, generator=gen).pow(3)
    ordered = torch.sort(values).values
    for q in (0.0, 12.5, 50.0, 97.4414, 99.307, 100.0):
        assert percentile_of_sorted(ordered, q) == pytest.approx(float(np.percentile(values.numpy(), q)), rel=1e-6)


# Two tensors. Ratios F/O: [0.5, 4, 1, 2] and [0.5, nan (0/0, dropped), 8, inf (dropped)].
WEIGHTS = {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": torch.tensor([10.0, 20.0, 30.0, 40.0])}
ORIGINAL = {"a": torch.ones(2, 2), "b": torch.tensor([2.0, 0.0, 1.0, 0.0])}
FORGET = {"a": torch.tensor([[0.5, 4.0], [1.0, 2.0]]), "b": torch.tensor([1.0, 0.0, 8.0, 0.5])}


def test_threshold_is_one_percentile_over_all_parameters():
    ratios = sorted_ratios(ORIGINAL, FORGET)
    assert ratios.tolist() == [0.5, 0.5, 1.0, 2.0, 4.0, 8.0]  # nan and inf dropped, both tensors pooled
    a = percentile_of_sorted(ratios, percentile_for(0.01))
    # position 5 * 0.99307 = 4.9653 between 4 and 8
    assert a == pytest.approx(4 + 4 * 5 * (percentile_for(0.01) / 100) - 4 * 4, rel=1e-9)
    assert a == pytest.approx(7.8614, abs=1e-4)
    new, selected = dampen(WEIGHTS, ORIGINAL, FORGET, a)
    # Only F > a*O moves: b[2] (8 > 7.86) by O/F = 1/8, and b[3] (O = 0, F > 0) by 0.
    assert selected == 2
    assert torch.equal(new["a"], WEIGHTS["a"])
    assert new["b"].tolist() == [10.0, 20.0, 30.0 / 8, 0.0]


def test_dampening_factor_is_capped_at_one_and_uses_lambda_and_exponent():
    new, selected = dampen(WEIGHTS, ORIGINAL, FORGET, threshold=1.5)
    assert selected == 4  # a[0,1] (4), a[1,1] (2), b[2] (8), b[3] (inf); ratio 1 stays
    assert new["a"].tolist() == [[1.0, 2.0 / 4], [3.0, 4.0 / 2]]
    assert new["b"].tolist() == [10.0, 20.0, 30.0 / 8, 0.0]
    # lambda 2, exponent 2: min(1, (2 O/F)^2) -> a[0,1]: 0.25, a[1,1]: 1 (capped), b[2]: 1/16
    new, _ = dampen(WEIGHTS, ORIGINAL, FORGET, threshold=1.5, dampening=2.0, exponent=2.0)
    assert new["a"].tolist() == [[1.0, 2.0 * 0.25], [3.0, 4.0]]
    assert new["b"].tolist() == [10.0, 20.0, 30.0 / 16, 0.0]


def test_importance_is_the_batch_mean_of_the_logit_norm_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2))
    net[1].bias.requires_grad_(False)  # frozen parameters are not compared
    params = dampened_parameters(net)
    assert list(params) == ["0.weight", "1.weight"]
    batches = [torch.randn(5, 3), torch.randn(2, 3)]
    imp = importance(net, batches, params)
    expected = torch.zeros_like(net[0].weight)
    for x in batches:  # d mean_i ||W1 W0 x_i|| / d W0 = mean_i W1^T u_i x_i^T, u_i = z_i / ||z_i||
        z = net(x)
        u = z / z.norm(dim=1, keepdim=True)
        expected += ((u @ net[1].weight).T @ x / len(x)).abs().detach()
    torch.testing.assert_close(imp["0.weight"], expected / 2)


def test_noise_corruption_is_refused_in_one_line(tmp_path):
    cfg = compose_cfg("correct", tmp_path, ["method=potion"])  # default: symmetric noise
    with pytest.raises(ConfigError) as err:
        run_correct(cfg)
    message = str(err.value)
    assert "\n" not in message and message.startswith("method=potion needs corruption=poison")


def test_bad_search_settings_are_refused():
    with pytest.raises(ConfigError, match="method.growth"):
        Potion(growth=1.0)
    with pytest.raises(ConfigError, match="method.frac_dl"):
        Potion(frac_dl=0)




def _short(stage: str, steps: int) -> list[str]:
    return [f"stages.{stage}.max_steps={steps}", f"stages.{stage}.warmup=0", f"stages.{stage}.hold=0",
            f"stages.{stage}.batch_size=64", f"stages.{stage}.lr=1e-3"]


def _tiny_poison_run(tmp_path, overrides: list[str]):
    cfg = compose_cfg("correct", tmp_path, [*overrides, "corruption=poison", "method=potion", "method.max_tries=3"])
    metrics, objects = run_correct(cfg)
    for key in ("clean_acc", "asr", "proxy_asr", "test_asr", "pus", "corrupted_asr", "oracle_clean_acc"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    assert 1 <= metrics["potion_tries"] <= 3 and "recovery" in metrics
    ctx = objects["context"]
    # Deterministic: the same search again hands back the corrected network itself.
    net, search, _ = Potion(max_tries=3, batch_size=cfg.method.batch_size).correct(ctx)
    assert [t.proxy_asr for t in search.trials] == objects["result"].curves["potion_proxy_asr"]
    assert search.best.selected > 0
    corrupted = ctx.runner.get("corrupted").state
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    assert any(not torch.equal(state[k], corrupted[k]) for k in state if k.startswith("backbone."))
    return cfg, net, state, corrupted


def test_tiny_clip_poison_runs_and_leaves_the_zero_shot_head_alone(tmp_path, one_thread):
    cfg, net, state, corrupted = _tiny_poison_run(
        tmp_path, [*TINY, "stages=clip_poison", *_short("corrupted", 10), *_short("oracle", 10)])
    assert cfg.method.batch_size == 64  # follows the corrupted model's training batch
    assert not any(n.startswith("head.") for n in dampened_parameters(net))
    assert torch.equal(state["head.weight"], corrupted["head.weight"])
    assert torch.equal(state["head.bias"], corrupted["head.bias"])


def test_tiny_dinov3_poison_runs(tmp_path, one_thread):
    _, net, _, _ = _tiny_poison_run(tmp_path, [*DINO_TINY, "stages=default", "stages.corrupted.max_epochs=2",
                                               "stages.corrupted.batch_size=128"])
    assert "head.weight" in dampened_parameters(net)  # DINOv3's head is trained, so it is compared too


@pytest.fixture(scope="session")
def potion_run(shared_root):
    cfg = compose_cfg("correct", shared_root, ["method=potion", "corruption=poison"], "potion")
    metrics, _ = run_correct(cfg)
    return metrics, cfg


@pytest.mark.slow
def test_potion_removes_the_digits_backdoor(potion_run):
    m, cfg = potion_run
    assert m["corrupted_asr"] >= 0.9 and m["corrupted_proxy_asr"] >= 0.9, m  # the backdoor was learned
    # Measured: proxy ASR 1.00 -> 0.008 (the 1% target), training-set ASR 1.00 -> 0.00, test ASR 0.998 -> 0.010.
    assert m["proxy_asr"] <= 0.01, m
    assert m["asr"] <= 0.03, m
    assert m["test_asr"] <= 0.05, m
    # Measured clean accuracy 0.9865 before and after: dampening ~2.6% of the weights costs nothing here.
    assert m["corrupted_clean_acc"] - m["clean_acc"] <= 0.02, m
    assert m["clean_acc"] >= 0.96, m
    assert m["pus"] - m["corrupted_pus"] >= 0.9, m
    assert 1 <= m["potion_tries"] <= 60 and m["potion_frac_dl"] == pytest.approx(0.01 * 1.1 ** (m["potion_tries"] - 1))
    curves = json.loads(open(f"{cfg.paths.output_dir}/curves.json").read())
    assert curves["potion_target_reached"] is True and len(curves["potion_proxy_asr"]) == m["potion_tries"]
    assert curves["potion_proxy_asr"][-1] == pytest.approx(m["proxy_asr"])
    saved = json.loads(open(f"{cfg.paths.output_dir}/metrics.json").read())
    for key in ("recovery", "oracle_clean_acc", "seconds_importance", "seconds_search", "seconds_corrupted"):
        assert key in saved
