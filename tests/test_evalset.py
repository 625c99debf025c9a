"""Evaluation images in host memory: refused when indexed directly, served by take / rows / batches."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from unlearn.errors import ConfigError
from unlearn.eval.evalset import EvalSet, HostImages, on_device, take


def _loader(n: int = 10) -> DataLoader:
    rows = [{"x": torch.full((1, 2, 2), float(i)), "y": torch.tensor(i % 3), "y_true": torch.tensor(i % 3),
             "flag": torch.tensor(0)} for i in range(n)]
    return DataLoader(rows, batch_size=4)


def test_host_images_are_taken_not_indexed():
    host = EvalSet.from_loader(_loader(), "cpu", memory="host")
    auto = EvalSet.from_loader(_loader(), "cpu")
    assert isinstance(host.x, HostImages) and isinstance(auto.x, torch.Tensor)
    with pytest.raises(TypeError, match="take"):
        host.x[torch.tensor([1, 2])]
    rows = torch.tensor([7, 2])
    assert torch.equal(host.rows(rows), auto.x[rows]) and torch.equal(take(host.x, rows, "cpu"), auto.x[rows])
    assert torch.equal(on_device(host.x, "cpu"), auto.x) and torch.equal(host.x_on(), auto.x)
    assert torch.equal(torch.cat(list(host.batches(3, torch.device("cpu")))), auto.x)
    assert len(host.x) == 10 and host.x.shape == auto.x.shape and host.device == torch.device("cpu")


def test_an_unknown_memory_setting_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="eval_memory='gpu'.*auto.*host"):
        EvalSet.from_loader(_loader(), "cpu", memory="gpu")
