"""The training path: resume, reuse, determinism, precision, checkpoints."""

from __future__ import annotations

import csv
import json

import lightning as L
import pytest
import torch

from conftest import compose_cfg
from unlearn.app import build
from unlearn.checkpoints import load_state, read_meta
from unlearn.errors import ConfigError

TINY = ["arch=mlp", "arch.net.hidden=[32]", "stages.corrupted.max_epochs=4", "stages.proxy.max_epochs=2",
        "stages.cf.max_epochs=2", "corruption.proxy_seeds=[12]"]


def make_runner(root, overrides=(), callbacks=None):
    cfg = compose_cfg("correct", root, [*TINY, *overrides])
    corr = build.corruption(cfg)
    dm = build.datamodule(cfg, corr)
    make = build.net_builder(cfg, dm)
    runner = build.runner(cfg, dm, make, corr, build.job_logger(cfg))
    runner.callbacks = list(callbacks or [])
    return runner, make


class Boom(L.Callback):
    """Stands in for a killed job: dies at the end of epoch ``at``, before that epoch is checkpointed."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.at:
            raise KeyboardInterrupt("simulated kill")


def test_resumed_run_equals_uninterrupted(tmp_path):
    full, _ = make_runner(tmp_path / "a")
    reference = full.get("corrupted").state

    killed, _ = make_runner(tmp_path / "b", callbacks=[Boom(at=2)])
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        killed.get("corrupted")
    directory = killed.directory("corrupted")
    assert (directory / "checkpoints" / "last.ckpt").exists()
    assert not (directory / "model.safetensors").exists()
    before_kill = csv_rows(directory)
    assert {row["epoch"] for row in before_kill} >= {"0", "1"}

    again, _ = make_runner(tmp_path / "b")
    resumed = again.get("corrupted")
    assert json.loads((directory / "stage.json").read_text())["resumed"] is True
    assert not (directory / "checkpoints").exists()  # finished: the resume point is gone
    for k in reference:
        torch.testing.assert_close(resumed.state[k], reference[k], rtol=0, atol=1e-6)
    # The stage's log keeps the killed run's rows (Lightning's CSV logger deleted them) and goes on
    # to the last epoch of the uninterrupted run.
    after = csv_rows(directory)
    assert after[:len(before_kill)] == before_kill
    assert {row["epoch"] for row in after} == {row["epoch"] for row in csv_rows(full.directory("corrupted"))}


def csv_rows(directory):
    with open(directory / "logs" / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_finished_stage_is_reused_not_retrained(tmp_path):
    first, _ = make_runner(tmp_path)
    a = first.get("corrupted")
    second, _ = make_runner(tmp_path)
    b = second.get("corrupted")
    assert not a.reused and b.reused and a.directory == b.directory
    for k in a.state:
        assert torch.equal(a.state[k], b.state[k])


def test_keys_separate_configs_and_share_identical_ones(tmp_path):
    r1, _ = make_runner(tmp_path, ["corruption.rate=0.2"])
    r2, _ = make_runner(tmp_path, ["corruption.rate=0.4"])
    r3, _ = make_runner(tmp_path, ["corruption.rate=0.2", "dataset.num_workers=0", "dataset.eval_batch_size=7"])
    assert r1.key("corrupted") != r2.key("corrupted")
    assert r1.key("corrupted") == r3.key("corrupted")  # where/how fast never changes the key
    assert r1.key("proxy", 12) != r1.key("proxy", 10)
    assert r1.key("oracle") != r2.key("oracle")


def test_keys_name_the_code_by_name_not_by_where_it_lives(tmp_path):
    """Moving a builder to another module must not retrain every cached model."""
    runner, _ = make_runner(tmp_path)
    moved, _ = make_runner(tmp_path)
    moved.key_material["arch"]["net"]["_target_"] = "somewhere.else.mlp"
    renamed, _ = make_runner(tmp_path)
    renamed.key_material["arch"]["net"]["_target_"] = "unlearn.models.mlp.fc1"
    assert runner.key("corrupted") == moved.key("corrupted") != renamed.key("corrupted")


def test_the_stage_table_gives_each_stage_its_split_parent_and_key(tmp_path):
    from unlearn.stage_table import STAGES, stage_split

    runner, _ = make_runner(tmp_path)
    dm = runner.dm
    dm.shadow_count, dm.forget_index = 2, torch.arange(0, len(dm.train.data), 10)
    sizes = {s: len(stage_split(dm, s, 12 if s == "proxy" else 0 if s == "shadow" else None).data) for s in STAGES}
    assert sizes["corrupted"] == len(dm.train.data) > sizes["oracle"] == int(dm.train.flags.eq(0).sum())
    assert sizes["retain"] == len(dm.train.data) - len(dm.forget_rows()) and sizes["cf"] == len(dm.heldout)
    assert sizes["shadow"] == int(dm.shadow_members()[0].sum()) and abs(sizes["shadow"] - len(dm.train.data) / 2) < 10
    keys = {runner.key(s, 12 if s == "proxy" else 0 if s == "shadow" else None) for s in STAGES}
    assert len(keys) == len(STAGES)  # every stage its own key
    with pytest.raises(ConfigError, match="stage='mix'"):
        runner.key("mix")


def test_corrupted_and_oracle_share_initial_weights(tmp_path):
    runner, make = make_runner(tmp_path, ["stages.corrupted.max_epochs=1"])
    L.seed_everything(runner.seed, verbose=False)
    a = make().state_dict()
    L.seed_everything(runner.seed, verbose=False)
    b = make().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_mixed_stage_trains(tmp_path):
    runner, make = make_runner(tmp_path, ["trainer.precision=bf16-mixed", "arch.net.hidden=[256]",
                                          "stages.corrupted.max_epochs=8", "corruption.rate=0.0"])
    fp32, _ = make_runner(tmp_path, ["arch.net.hidden=[256]", "stages.corrupted.max_epochs=8", "corruption.rate=0.0"])
    assert runner.key("corrupted") != fp32.key("corrupted")  # precision is part of the key
    result = runner.get("corrupted")
    net = make()
    net.load_state_dict(result.state)
    test = runner.dm.test
    x = runner.dm.loader(runner.dm.test_split()).__iter__().__next__()["x"]
    acc = (net(x).argmax(1) == test.labels[: len(x)]).float().mean()
    assert acc > 0.8  # clean digits: bf16 autocast still learns


def test_checkpoint_of_another_arch_is_refused(tmp_path):
    runner, make = make_runner(tmp_path, ["stages.corrupted.max_epochs=1"])
    path = runner.get("corrupted").directory / "model.safetensors"
    assert read_meta(path)["arch"] == "mlp"
    cfg = compose_cfg("correct", tmp_path, ["arch=small_cnn", f"corrupted_ckpt={path}"])
    corr = build.corruption(cfg)
    dm = build.datamodule(cfg, corr)
    other = build.net_builder(cfg, dm)()
    with pytest.raises(ConfigError, match=r"arch 'mlp'.*arch='small_cnn'"):
        load_state(path, other)


def test_shadow_models_are_shared_by_every_run_seed(tmp_path):
    """LiRA's shadows model the training algorithm: the runs of a multi-seed sweep train them once."""
    from unlearn.unlearning.method import shadow_order

    a, _ = make_runner(tmp_path, ["seed=0"])
    b, _ = make_runner(tmp_path, ["seed=1"])
    for r in (a, b):
        r.dm.shadow_count = 8
    assert a.key("shadow", 3) == b.key("shadow", 3) != a.key("shadow", 4)
    assert a.key("corrupted") != b.key("corrupted")
    orders = [shadow_order(seed, 8) for seed in (0, 1, 2)]
    assert all(sorted(o) == list(range(8)) for o in orders)
    assert orders[0][0] == 0 and orders[1][0] == 5  # side-by-side seeds start far apart
    assert shadow_order(0, 0) == []
