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


@pytest.mark.parametrize("method", ["blend", "random", "none"])
def test_methods_without_a_budget_compose_and_build(tmp_path, method):
    cfg = compose_cfg("condense", tmp_path, [f"condensation={method}", "ipc=3"])
    assert build.build("condensation", cfg.condensation).name == method
