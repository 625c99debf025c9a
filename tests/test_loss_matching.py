"""A-AMU's regulariser: the properties spec blend_aamu 4.1 lists, checked on numbers."""

from __future__ import annotations

import torch

from unlearn.unlearning.matching import gaussianise, loss_matching, mmd2


def test_transform_lives_in_zero_to_the_top_quantile_and_ignores_a_common_shift():
    torch.manual_seed(0)
    losses = torch.rand(256) * 3
    t = gaussianise(losses)
    top = torch.special.ndtri(torch.tensor(1 - 1 / (2 * 256)))
    assert t.min() >= 0 and t.max() <= top + 1e-5  # every sigmoid term >= 1/2: the clamp never acts
    shifted = torch.expm1(torch.log1p(losses + 1e-8) + 0.7) - 1e-8  # log(1 + loss) shifted by 0.7
    assert torch.allclose(gaussianise(shifted), t, atol=1e-5)
    assert not torch.allclose(gaussianise(losses * 4), t, atol=1e-2)  # but it sees the spread


def test_mmd_is_zero_for_equal_samples_and_grows_with_difference():
    a = torch.linspace(0, 2, 50)
    assert mmd2(a, a).abs() < 1e-6
    assert 0 < mmd2(a, a + 0.5) < mmd2(a, a + 2.0)


def test_only_the_forget_branch_gets_gradients():
    forget = (torch.rand(64) * 4).requires_grad_(True)
    unseen = (torch.rand(64) * 0.5).requires_grad_(True)
    loss_matching(forget, unseen).backward()
    assert forget.grad is not None and forget.grad.abs().sum() > 0
    assert unseen.grad is None
