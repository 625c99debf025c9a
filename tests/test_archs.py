"""Every registered arch builds without weights, classifies, and declares its task-vector keys."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY_ARCH_KWARGS
from unlearn.errors import ConfigError, DataUnavailableError
from unlearn.models.resnet import resnet18
from unlearn.models.vit_b_16 import vit_b_16
from unlearn.catalogue import list_archs, list_datasets, list_methods
from unlearn.registry import ARCHS
from unlearn.taskvec import vector_keys

SMALL = TINY_ARCH_KWARGS


def _shape(name: str) -> tuple[int, int, int]:
    return (3, 32, 32) if name.startswith(("resnet", "vit", "clip_vitb16", "dinov3")) else (1, 8, 8)


@pytest.mark.parametrize("name", list_archs())
def test_arch_builds_and_classifies(name):
    torch.manual_seed(0)
    net = ARCHS.get(name)(_shape(name), 7, **SMALL.get(name, {}))
    assert net.arch == name  # what a checkpoint records; the start-up check compares it with arch.name
    x = torch.randn(2, *_shape(name))
    net.eval()
    assert net(x).shape == (2, 7)
    feats = net.features(x)
    assert feats.shape[0] == 2 and feats.ndim == 2
    assert torch.allclose(net.head(feats), net(x))
    keys = vector_keys(net.state_dict(), net.tv_exclude)
    # Trainable heads are in tau; frozen zero-shot heads (CLIP) are not (spec 2.4).
    trainable_head = all(p.requires_grad for p in net.head.parameters())
    assert ("head.weight" in keys and "head.bias" in keys) == trainable_head
    assert trainable_head or name == "clip_vitb16"
    bn = [k for k in net.state_dict() if "running_mean" in k]
    for k in bn:  # BatchNorm modules are out entirely
        prefix = k.rsplit(".", 1)[0]
        assert not [key for key in keys if key.rsplit(".", 1)[0] == prefix]
    if name.startswith("resnet"):
        assert bn


def test_registries_list_what_exists():
    assert {"digits", "mnist", "cifar10", "cifar100", "svhn", "clothing1m"} <= set(list_datasets())
    assert {"fc1", "mlp", "small_cnn", "resnet18", "resnet34", "resnet50", "resnet101", "vit_b_16", "clip_vitb16", "dinov3_vitb16"} <= set(
        list_archs())
    assert "cuts" in list_methods()


def test_unknown_weights_name_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"arch.weights='IMAGENET9'.*IMAGENET1K_V1"):
        resnet18((3, 32, 32), 10, weights="IMAGENET9")


def test_pretrained_weights_offline_fail_with_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(DataUnavailableError) as err:
        resnet18((3, 224, 224), 10, weights="IMAGENET1K_V1")
    msg = str(err.value)
    assert "\n" not in msg and "IMAGENET1K_V1" in msg and "https://" in msg and str(tmp_path) in msg


def test_vit_rejects_sizes_that_do_not_tile():
    with pytest.raises(ConfigError, match="multiple of 16"):
        vit_b_16((3, 30, 30), 10)
