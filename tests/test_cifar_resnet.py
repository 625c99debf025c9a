"""Blend/A-AMU's CIFAR-style ResNet-18/50 with instance norm (spec blend_aamu 2, S10)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import compose_cfg
from unlearn.app.build import net_builder_for
from unlearn.errors import ConfigError
from unlearn.models.cifar_resnet import cifar_resnet18, cifar_resnet50
from unlearn.registry import ARCHS

BUILDERS = {"cifar_resnet18": (cifar_resnet18, 512), "cifar_resnet50": (cifar_resnet50, 2048)}
# The same counts as the usual CIFAR ResNets (torchvision's with a 3x3 stride-1 stem, no
# max-pool); GroupNorm(C, C) has the same affine parameters as BatchNorm2d(C).
PARAMS_CIFAR10 = {"cifar_resnet18": 11_173_962, "cifar_resnet50": 23_520_842}


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_registered_and_reexported(name):
    assert ARCHS.get(name) is BUILDERS[name][0]


@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_feature_and_logit_shapes(name, norm, shape):
    torch.manual_seed(0)
    build, dim = BUILDERS[name]
    net = build(shape, 10, norm=norm).eval()
    x = torch.randn(3, *shape)
    with torch.no_grad():
        feats = net.features(x)
        assert feats.shape == (3, dim)
        assert net(x).shape == (3, 10)
        assert torch.allclose(net.head(feats), net(x))
    assert net.arch == name


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_parameter_counts(name):
    build, dim = BUILDERS[name]
    exact = PARAMS_CIFAR10[name]
    assert _count(build((3, 32, 32), 10)) == exact == _count(build((3, 32, 32), 10, norm="batch"))
    assert 11.1e6 < PARAMS_CIFAR10["cifar_resnet18"] < 11.3e6 and 23.4e6 < PARAMS_CIFAR10["cifar_resnet50"] < 23.6e6
    # One input channel: the stem loses 2 * 64 * 3 * 3 weights; 100 classes: 90 more head rows.
    assert _count(build((1, 8, 8), 10)) == exact - 2 * 64 * 9
    assert _count(build((3, 32, 32), 100)) == exact + 90 * (dim + 1)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_instance_norm_has_no_batchnorm_and_no_running_stats(name):
    net = BUILDERS[name][0]((3, 32, 32), 10)
    assert not [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    norms = [m for m in net.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_groups == m.num_channels and m.affine for m in norms)
    assert not list(net.buffers())
    assert not [k for k in net.state_dict() if "running" in k or "num_batches" in k]
    bn = BUILDERS[name][0]((3, 32, 32), 10, norm="batch")
    assert len([m for m in bn.modules() if isinstance(m, nn.BatchNorm2d)]) == len(norms)
    assert not [m for m in bn.modules() if isinstance(m, nn.GroupNorm)]
    # Same parameter names either way, so the norm choice only changes buffers.
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in bn.named_parameters()]


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 8, 8)])
def test_instance_output_does_not_depend_on_the_batch_in_train_mode(shape):
    torch.manual_seed(0)
    x = torch.randn(4, *shape)
    net = cifar_resnet18(shape, 10).train()
    with torch.no_grad():
        assert torch.allclose(net(x)[0], net(x[:1])[0], atol=1e-5)
        assert torch.allclose(net.features(x)[2:], net.features(x[2:]), atol=1e-5)
    bn = cifar_resnet18(shape, 10, norm="batch").train()
    with torch.no_grad():
        assert not torch.allclose(bn(x)[0], bn(x[:2])[0], atol=1e-3)


def test_resnet50_instance_is_per_image_too():
    torch.manual_seed(0)
    x = torch.randn(3, 3, 32, 32)
    net = cifar_resnet50((3, 32, 32), 10).train()
    with torch.no_grad():
        assert torch.allclose(net(x)[0], net(x[:1])[0], atol=1e-5)


def _stage4_size(net, x) -> tuple[int, int]:
    seen = {}

    def hook(module, inputs, output) -> None:
        seen["hw"] = tuple(output.shape[-2:])

    handle = net.backbone[6].register_forward_hook(hook)  # stem conv, norm, ReLU, then stages 1-4
    with torch.no_grad():
        net(x)
    handle.remove()
    return seen["hw"]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_stage_resolutions_and_digit_features_depend_on_the_input(name):
    torch.manual_seed(0)
    build, _ = BUILDERS[name]
    # CIFAR: 32 -> 32/16/8/4 (the paper's 4x4 final map before the pool).
    assert _stage4_size(build((3, 32, 32), 10).eval(), torch.randn(2, 3, 32, 32)) == (4, 4)
    # Digits: stage 4 stays 2x2; instance norm over a 1x1 map would make every embedding equal.
    net = build((1, 8, 8), 10).eval()
    x = torch.randn(4, 1, 8, 8)
    assert _stage4_size(net, x) == (2, 2)
    with torch.no_grad():
        feats = net.features(x)
    assert (feats - feats[:1]).abs().amax(dim=1)[1:].min() > 1e-4


@pytest.mark.parametrize("build", [cifar_resnet18, cifar_resnet50])
def test_unknown_norm_is_a_config_error(build):
    with pytest.raises(ConfigError, match=r"arch\.norm='layer'.*instance, batch"):
        build((3, 32, 32), 10, norm="layer")


@pytest.mark.parametrize("arch, norm, dim", [
    ("cifar_resnet18", "instance", 512), ("cifar_resnet18_bn", "batch", 512),
    ("cifar_resnet50", "instance", 2048), ("cifar_resnet50_bn", "batch", 2048),
])
def test_yaml_composes_and_builds_on_digits(tmp_path, arch, norm, dim):
    cfg = compose_cfg("correct", tmp_path, [f"arch={arch}"])
    assert cfg.arch.name == arch and cfg.arch.net._target_.rsplit(".", 1)[1] == arch  # config name = builder
    assert cfg.arch.in_channels is None and cfg.arch.input_size is None
    net = net_builder_for(cfg, (1, 8, 8), 10)()
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert has_bn == (norm == "batch")
    with torch.no_grad():
        assert net.eval().features(torch.randn(2, 1, 8, 8)).shape == (2, dim)
