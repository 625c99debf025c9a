"""arch=dinov3_vitb16 without downloads: a tiny random-weight DINOv3 through the real configs."""

from __future__ import annotations

import json
import math

import huggingface_hub.constants
import pytest
import torch
from torch import nn
from transformers import DINOv3ViTConfig, DINOv3ViTModel

from conftest import compose_cfg
from unlearn.app import build
from unlearn.app.correct import run_correct
from unlearn.errors import ConfigError, DataUnavailableError
from unlearn.models.dinov3_vitb16 import MODEL_ID, dinov3_vitb16
from unlearn.taskvec import task_vector, vector_keys

TINY_CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                   num_register_tokens=2)
TINY = [
    "arch=dinov3_vitb16",
    "arch.net.pretrained=false",
    "arch.net.config_overrides={" + ",".join(f"{k}:{v}" for k, v in TINY_CONFIG.items()) + "}",
    "arch.preprocess.size=32",
]
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _tiny(num_classes: int = 10):
    torch.manual_seed(0)
    return dinov3_vitb16((3, 32, 32), num_classes, pretrained=False, config_overrides=TINY_CONFIG)


def test_head_and_backbone_are_trainable_and_in_the_task_vector():
    net = _tiny(7)
    assert isinstance(net.head, nn.Linear) and (net.head.in_features, net.head.out_features) == (32, 7)
    assert net.tv_exclude == ()
    assert all(p.requires_grad for p in net.parameters())
    keys = vector_keys(net.state_dict(), net.tv_exclude)
    assert {"head.weight", "head.bias"} <= set(keys)
    assert set(keys) == {k for k, v in net.state_dict().items() if torch.is_floating_point(v)}
    other = _tiny(7)
    with torch.no_grad():
        other.head.weight.add_(1.0)
    tau = task_vector(net.state_dict(), other.state_dict(), net.tv_exclude)
    assert torch.allclose(tau["head.weight"], torch.ones_like(net.head.weight))


def test_features_are_the_pooled_cls_token():
    net = _tiny().eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        feats = net.features(x)
        out = net.backbone.model(pixel_values=x)
        assert feats.shape == (3, 32)
        assert torch.equal(feats, out.pooler_output)
        assert torch.allclose(feats, out.last_hidden_state[:, 0])
        assert torch.allclose(net(x), net.head(feats))


def test_datamodule_gives_imagenet_normalised_rgb(tmp_path):
    cfg = compose_cfg("correct", tmp_path, TINY)
    dm = build.datamodule(cfg, build.corruption(cfg))
    assert dm.input_shape == (3, 32, 32)
    for train in (False, True):
        x = next(iter(dm.loader(dm.test_split(), train=train, batch_size=64)))["x"]
        assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        raw = x * std + mean  # undoing ImageNet normalisation must give [0, 1] pixels
        assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
        assert raw.amin(dim=(0, 2, 3)).abs().max() < 1e-5  # digits' black background
        assert torch.allclose(raw[:, 0], raw[:, 1], atol=1e-5) and torch.allclose(raw[:, 0], raw[:, 2], atol=1e-5)




def test_cuts_runs_end_to_end_on_a_tiny_dinov3(tmp_path, one_thread):
    overrides = [
        *TINY, "stages=default", "stages.proxy_seeds=[12,10]",
        "stages.corrupted.max_epochs=2", "stages.proxy.max_epochs=2", "stages.cf.max_epochs=1",
        "stages.corrupted.batch_size=128", "stages.proxy.batch_size=128",
        "method.curve_grid=null", "method.knn_grid=[0,-1,5]",
    ]
    cfg = compose_cfg("correct", tmp_path, overrides)
    metrics, _ = run_correct(cfg)
    assert 0.0 <= metrics["clean_acc"] <= 1.0 and math.isfinite(metrics["clean_acc"])
    assert metrics["alpha"] in (0.0, -0.25, -0.5, -0.75, -1.0)
    assert math.isfinite(metrics["tau_norm"]) and metrics["tau_norm"] > 0
    saved = json.loads((tmp_path / "runs" / "run" / "metrics.json").read_text())
    assert saved["alpha"] == metrics["alpha"]
    stages = {p.parent.parent.name for p in (tmp_path / "outputs" / "artifacts").glob("*/*/model.safetensors")}
    assert stages == {"corrupted", "oracle", "proxy_12", "proxy_10"}, stages


def test_pretrained_offline_fails_with_one_line_naming_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads its environment once at import; patch what it read.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env with a token
    monkeypatch.delenv("UNLEARN_ROOT", raising=False)
    with pytest.raises(DataUnavailableError) as err:
        dinov3_vitb16((3, 224, 224), 10)
    msg = str(err.value)
    assert "\n" not in msg and MODEL_ID in msg and "HF_TOKEN" in msg and "arch.net.pretrained=false" in msg
    assert str(tmp_path / "hub") in msg


def test_pretrained_loads_through_automodel_in_float32(tmp_path, monkeypatch):
    # A local directory stands in for the Hub repo: same from_pretrained path, no download.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    torch.manual_seed(0)
    saved = DINOv3ViTModel(DINOv3ViTConfig(**TINY_CONFIG, image_size=32)).eval()
    saved.to(torch.bfloat16).save_pretrained(tmp_path / "tiny")
    net = dinov3_vitb16((3, 32, 32), 5, model_id=str(tmp_path / "tiny"), config_overrides={"drop_path_rate": 0.1}).eval()
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert net.backbone.model.config.drop_path_rate == 0.1
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = saved.float()(pixel_values=x).pooler_output
        assert torch.allclose(net.features(x), expected, atol=1e-5)


def test_unknown_config_override_names_the_key():
    with pytest.raises(ConfigError, match=r"config_overrides\.hidden_dim.*hidden_size"):
        dinov3_vitb16((3, 32, 32), 10, pretrained=False, config_overrides={"hidden_dim": 32})


def test_non_square_or_grey_inputs_are_rejected():
    with pytest.raises(ConfigError, match="3 x S x S"):
        dinov3_vitb16((1, 32, 32), 10, pretrained=False, config_overrides=TINY_CONFIG)
    with pytest.raises(ConfigError, match="multiple of 16"):
        dinov3_vitb16((3, 40, 40), 10, pretrained=False, config_overrides=TINY_CONFIG)


def test_arch_selects_the_paper_recipes(tmp_path):
    cfg = compose_cfg("correct", tmp_path, TINY)
    assert cfg.stages.corrupted.max_steps == 12000 and cfg.stages.corrupted.batch_size == 128
    assert list(cfg.corruption.proxy_seeds) == [12, 10]
