"""Forget requests: seeded, exact sizes, whole classes, bad values named."""

from __future__ import annotations

import pytest
import torch

from unlearn.data.forget import ClassForget, NoForget, RandomForget
from unlearn.errors import ConfigError

LABELS = torch.arange(1000) % 10


def test_random_fraction_is_exact_seeded_and_sorted():
    a = RandomForget(0.1, seed=3).select(LABELS, 10)
    assert a.numel() == 100 and torch.equal(a, a.sort().values) and a.unique().numel() == 100
    assert torch.equal(a, RandomForget(0.1, seed=3).select(LABELS, 10))
    assert not torch.equal(a, RandomForget(0.1, seed=4).select(LABELS, 10))
    assert RandomForget(0.001, seed=0).select(LABELS, 10).numel() == 1


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_random_fraction_outside_open_interval_is_refused(fraction):
    with pytest.raises(ConfigError, match=r"forget.fraction=.*strictly between 0 and 1"):
        RandomForget(fraction)


def test_class_forget_takes_every_image_of_the_class():
    idx = ClassForget([3]).select(LABELS, 10)
    assert torch.equal(idx, (LABELS == 3).nonzero().squeeze(1))
    drawn = ClassForget(None, count=2, seed=5)
    classes = drawn.chosen(10)
    assert len(classes) == 2 and classes == ClassForget(None, count=2, seed=5).chosen(10)
    assert set(LABELS[drawn.select(LABELS, 10)].tolist()) == set(classes)


def test_class_forget_bad_values_name_the_key():
    with pytest.raises(ConfigError, match=r"forget.classes=\[12\].*0..9"):
        ClassForget([12]).select(LABELS, 10)
    with pytest.raises(ConfigError, match="forget.count"):
        ClassForget(None, count=10).chosen(10)


def test_no_forget_is_empty():
    assert NoForget().select(LABELS, 10).numel() == 0
