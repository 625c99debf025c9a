"""condense.yaml composition: digits gets CPU-sized DM/IDM/GM lengths, every other dataset the paper's."""

from __future__ import annotations

import pytest

from conftest import compose_cfg
from unlearn.app import build


@pytest.mark.parametrize(("method", "digits", "paper"), [("dm", 500, 20000), ("idm", 200, 20000), ("gm", 10, 1000)])
def test_digits_budget_applies_to_digits_only_and_the_command_line_wins(tmp_path, method, digits, paper):
    assert compose_cfg("condense", tmp_path, [f"condensation={method}"]).condensation.iterations == digits
    assert compose_cfg("condense", tmp_path, [f"condensation={method}", "dataset=cifar10"]).condensation.iterations == paper
    cfg = compose_cfg("condense", tmp_path, [f"condensation={method}", f"condensation.iterations={paper}"])
    assert cfg.condensation.iterations == paper
    assert build.build("condensation", cfg.condensation).iterations == paper


def test_gm_matches_with_a_two_deep_net_on_digits_and_the_papers_three_elsewhere(tmp_path):
    assert compose_cfg("condense", tmp_path, ["condensation=gm"]).condensation.depth == 2
    assert compose_cfg("condense", tmp_path, ["condensation=gm", "dataset=fashion_mnist"]).condensation.depth == 3
    cfg = compose_cfg("condense", tmp_path, ["condensation=gm"])
    assert build.build("condensation", cfg.condensation).depth == 2


@pytest.mark.parametrize("method", ["blend", "random", "none"])
def test_methods_without_a_budget_compose_and_build(tmp_path, method):
    cfg = compose_cfg("condense", tmp_path, [f"condensation={method}", "ipc=3"])
    assert build.build("condensation", cfg.condensation).name == method


def test_a_set_killed_mid_write_is_not_taken_for_a_complete_one(tmp_path, monkeypatch):
    import os

    import torch

    from unlearn.condense import store
    from unlearn.condense.base import CondensedSet
    from unlearn.errors import DataUnavailableError

    cset = CondensedSet(torch.zeros(2, 1, 8, 8), torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([0, 1, 2]),
                        torch.tensor([True, False]), {"dataset": "digits"})
    real_replace = os.replace

    def killed(src, dst):  # the process dies just before the metadata gets its real name
        if str(dst).endswith(store.META):
            raise KeyboardInterrupt("killed")
        real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.save(cset, tmp_path / "set")
    assert not (tmp_path / "set" / store.META).exists()
    with pytest.raises(DataUnavailableError, match="holds no condensed set"):
        store.read_meta(tmp_path / "set")
    monkeypatch.setattr(store.os, "replace", real_replace)
    # the rerun (a new run dir, as condense.py always uses) writes a complete set
    store.save(cset, tmp_path / "again")
    assert store.load(tmp_path / "again").labels.tolist() == [0, 1]
