"""arch=clip_vitb16 built for real from its config, with a tiny random-weight open_clip model.

Nothing is downloaded: ``arch.pretrained=null`` plus ``arch.net.overrides`` shrinks the
towers; the pipeline (zero-shot head from the dataset's prompts, frozen and outside task
vectors, the model's own preprocessing, CUTS end to end) is the one the real weights use.
"""

from __future__ import annotations

import math

import open_clip
import pytest
import torch
import torch.nn.functional as F

from conftest import compose_cfg
from unlearn import taskvec
from unlearn.app import build
from unlearn.app.correct import run_correct
from unlearn.errors import ConfigError, DataUnavailableError
from unlearn.eval.evalset import normalised_features
from unlearn.models.clip_vitb16 import clip_vitb16
from unlearn.models.prompts import TEMPLATES

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY = [
    "arch=clip_vitb16",
    "arch.pretrained=null",
    "arch.preprocess.size=32",
    "arch.net.overrides={embed_dim:32,vision_cfg:{image_size:32,layers:2,width:64,patch_size:16,head_width:32},"
    "text_cfg:{context_length:77,vocab_size:49408,width:32,heads:2,layers:1}}",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cfg = compose_cfg("correct", tmp_path_factory.mktemp("clip"), TINY)
    corr = build.corruption(cfg)
    dm = build.datamodule(cfg, corr)
    make = build.net_builder(cfg, dm)
    torch.manual_seed(0)
    net = make()
    return cfg, dm, net


def test_arch_selects_the_paper_recipes_and_a_command_line_stages_wins(tmp_path):
    cfg = compose_cfg("correct", tmp_path, TINY)
    assert cfg.stages.proxy.max_steps == 800 and cfg.stages.proxy.lr == pytest.approx(1e-5)
    assert list(cfg.corruption.proxy_seeds) == [12, 10]  # the paper's two proxies
    cfg = compose_cfg("correct", tmp_path, [*TINY, "stages=default"])
    assert cfg.stages.proxy.max_epochs == 100


def test_zero_shot_head_is_the_normalised_mean_prompt_embedding(built):
    _, dm, net = built
    torch.manual_seed(0)  # the same random towers the builder drew
    model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, **TINY_CFG).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-16-quickgelu")
    templates = TEMPLATES["number"]  # digits uses the MNIST template set (1 template)
    assert len(templates) == 1 and dm.source.prompts == "number"
    rows = []
    with torch.no_grad():
        for name in dm.source.class_names:
            emb = F.normalize(model.encode_text(tokenizer([t.format(name) for t in templates])), dim=-1)
            rows.append(F.normalize(emb.mean(0), dim=0))
    expected = torch.stack(rows) * model.logit_scale.exp()
    torch.testing.assert_close(net.head.weight, expected, atol=1e-5, rtol=1e-4)
    assert torch.count_nonzero(net.head.bias) == 0
    # logits are scale * cosine(features, class embedding)
    feats = torch.randn(3, 32)
    cos = F.normalize(feats, dim=-1) @ torch.stack(rows).T
    torch.testing.assert_close(net.head(feats), cos * model.logit_scale.exp(), atol=1e-4, rtol=1e-4)


def test_cifar_classes_use_the_eighteen_templates():
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    net = clip_vitb16((3, 32, 32), 10, names, "cifar", pretrained=None, overrides=TINY_CFG)
    assert len(TEMPLATES["cifar"]) == 18 and net.head.weight.shape == (10, 32)


def test_head_is_frozen_and_outside_task_vectors_while_the_encoder_trains(built):
    _, _, net = built
    assert not any(p.requires_grad for p in net.head.parameters())
    assert all(p.requires_grad for p in net.backbone.parameters())
    assert not any(n.startswith("transformer.") or "token_embedding" in n for n, _ in net.named_parameters())
    state = net.state_dict()
    moved = {k: v + 1.0 if v.is_floating_point() else v for k, v in state.items()}
    tau = taskvec.task_vector(state, moved, net.tv_exclude)
    assert tau and not any(k.startswith("head.") for k in tau)
    assert {k for k in tau} == {k for k in state if not k.startswith("head.")}


def test_datamodule_uses_the_model_preprocessing(built):
    _, dm, net = built
    pre = dm.preprocess
    assert pre.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073)) and pre.interpolation == "bicubic"
    item = dm.loader(dm.test_split()).dataset[0]["x"]
    assert item.shape == (3, 32, 32) and item.dtype == torch.float32
    train_tf = dm.transform(train=True)
    assert any(type(t).__name__ == "RandomResizedCrop" for t in train_tf.transforms)


def test_features_feed_the_knn_estimator(built, tmp_path):
    cfg, dm, net = built
    from unlearn.eval.evalset import EvalSet

    evalset = EvalSet.from_loader(dm.loader(dm.test_split()), torch.device("cpu"))
    feats, probs = normalised_features(net.eval(), evalset)
    assert feats.shape == (len(evalset), 32) and probs.shape == (len(evalset), 10)
    assert torch.allclose(feats.norm(dim=1), torch.ones(len(evalset)), atol=1e-4)


def test_openai_weights_need_the_quickgelu_model():
    with pytest.raises(ConfigError, match="ViT-B-16-quickgelu"):
        clip_vitb16((3, 224, 224), 10, [str(i) for i in range(10)], "number", model="ViT-B-16", pretrained="openai")


def test_missing_weights_offline_is_one_line(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataUnavailableError) as err:
        clip_vitb16((3, 224, 224), 10, [str(i) for i in range(10)], "number", model="RN50-quickgelu", pretrained="openai")
    message = str(err.value)
    assert "\n" not in message and "RN50-quickgelu/openai" in message and "arch.pretrained=null" in message


def test_cuts_runs_end_to_end_on_digits(tmp_path):
    short = []
    for stage, steps in (("corrupted", 40), ("oracle", 40), ("proxy", 20), ("cf", 10)):
        short += [f"stages.{stage}.max_steps={steps}", f"stages.{stage}.warmup=0", f"stages.{stage}.hold=0",
                  f"stages.{stage}.batch_size=64", f"stages.{stage}.lr=1e-3"]
    cfg = compose_cfg("correct", tmp_path, [*TINY, *short, "method.curve_grid=null", "method.knn_grid=[0,-2,9]",
                                            "method.trajectory_frames=4"])
    metrics, objects = run_correct(cfg)
    assert metrics["alpha"] in [round(-0.25 * i, 2) + 0.0 for i in range(9)]
    for key in ("clean_acc", "corrupted_clean_acc", "oracle_clean_acc", "random_clean_acc"):
        assert 0.0 <= metrics[key] <= 1.0 and not math.isnan(metrics[key])
    # The feature-trajectory animation (spec 7), switched on by one override.
    from PIL import Image

    with Image.open(cfg.paths.output_dir + "/pca_evol.gif") as gif:
        assert gif.n_frames == 4
    runner = objects["context"].runner
    assert (runner.directory("proxy", 12) / "model.safetensors").exists()
    assert (runner.directory("proxy", 10) / "model.safetensors").exists()
    # The frozen head came through training untouched.
    corrupted = runner.get("corrupted").state
    proxy = runner.get("proxy", 12).state
    assert torch.equal(corrupted["head.weight"], proxy["head.weight"])
    assert not torch.equal(corrupted["backbone.conv1.weight"], proxy["backbone.conv1.weight"])
