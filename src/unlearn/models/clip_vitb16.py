"""``arch=clip_vitb16`` (and any other open_clip model by ``arch.model=``): CLIP image encoders with frozen zero-shot text heads, through open_clip (spec 2.2).

The text tower is used once, to turn the dataset's class names and prompt templates into
a linear head (normalised mean text embedding per class, times the model's logit scale),
and is then dropped: only the image encoder is fine-tuned. The head is frozen and listed in
``tv_exclude`` so task vectors never touch it.

OpenAI weights were trained with QuickGELU; building them into a GELU model gives silently
wrong features, so that combination is refused rather than warned about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.errors import DataUnavailableError, bad_value
from unlearn.models.classifier import Classifier
from unlearn.data.preprocess import Preprocess
from unlearn.models.prompts import templates as template_set
from unlearn.registry import ARCHS


class ZeroShotHead(nn.Linear):
    """Logits = scale * cos(features, class text embedding); weights fixed at construction."""

    def __init__(self, text_embeddings: Tensor, scale: float) -> None:
        dim, classes = text_embeddings.shape
        super().__init__(dim, classes, bias=True)
        with torch.no_grad():
            self.weight.copy_(scale * text_embeddings.T)
            self.bias.zero_()
        self.requires_grad_(False)

    def forward(self, features: Tensor) -> Tensor:
        return super().forward(F.normalize(features, dim=-1))


def preflight(net: Mapping[str, Any]) -> None:
    """The start-up check's look at ``arch.model``: open_clip's model names are the files in its
    ``model_configs`` folder, read here without importing open_clip, whose import alone (~8 s)
    came before an unknown name's refusal. Schema names (``hf-hub:``, ``local-dir:``) and the
    QuickGELU rule need open_clip itself and are checked when the net is built."""
    import difflib
    import importlib.util
    from pathlib import Path

    model = net.get("model")
    spec = importlib.util.find_spec("open_clip")
    if not isinstance(model, str) or ":" in model or spec is None or not spec.submodule_search_locations:
        return
    folder = Path(next(iter(spec.submodule_search_locations))) / "model_configs"
    names = sorted(f.stem for f in folder.glob("*.json"))
    if names and model not in names:
        close = difflib.get_close_matches(model, names, n=3)
        raise bad_value("arch.model", model, "an open_clip model name (open_clip.list_models())"
                        + (f", e.g. {', '.join(close)}" if close else ""))


def _config(model: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    import open_clip

    cfg = open_clip.get_model_config(model)
    if cfg is None:
        raise bad_value("arch.model", model, "an open_clip model name (open_clip.list_models())")
    return {**cfg, **dict(overrides or {})}


def _check_quick_gelu(model: str, pretrained: str | None, cfg: Mapping[str, Any]) -> None:
    import open_clip

    if not pretrained:
        return
    tag = open_clip.get_pretrained_cfg(model, pretrained)
    if tag.get("quick_gelu") and not cfg.get("quick_gelu"):
        raise bad_value("arch.model", model, f"{model}-quickgelu: the '{pretrained}' weights were trained with "
                        "QuickGELU, and loading them into a GELU model gives wrong features")


def _create(model: str, pretrained: str | None, overrides: Mapping[str, Any] | None, cache_dir: str | None):
    import open_clip

    from unlearn.models.hub import offline_unless_reachable

    if pretrained:
        offline_unless_reachable()
    try:
        return open_clip.create_model(model, pretrained=pretrained or None, require_pretrained=bool(pretrained),
                                      cache_dir=cache_dir, **dict(overrides or {}))
    except (RuntimeError, OSError, ValueError) as err:
        if not pretrained:
            raise
        from huggingface_hub.constants import HF_HUB_CACHE

        where = cache_dir or HF_HUB_CACHE
        raise DataUnavailableError(
            f"open_clip weights {model}/{pretrained} are not in the local cache ({where}) and could not be "
            f"downloaded ({type(err).__name__}); run once with network access, set arch.cache_dir to a folder "
            "holding them, or use arch.pretrained=null for random weights"
        ) from err


# With pretrained weights the head is deterministic; a job builds many nets (one per stage and
# evaluation), so the text pass (classes x templates prompts) runs once per process.
_HEADS: dict[tuple[Any, ...], tuple[Tensor, float]] = {}


def _text_head(clip: nn.Module, model: str, class_names: Sequence[str], prompts: Sequence[str]) -> tuple[Tensor, float]:
    import open_clip
    from open_clip.zero_shot_classifier import build_zero_shot_classifier

    tokenizer = open_clip.get_tokenizer(model, context_length=clip.context_length)
    clip.eval()
    weights = build_zero_shot_classifier(clip, tokenizer, list(class_names), list(prompts), device="cpu")
    return weights.detach().clone(), float(clip.logit_scale.detach().exp())


@ARCHS.register("clip_vitb16")
def clip_vitb16(
    input_shape: Sequence[int],
    num_classes: int,
    class_names: Sequence[str],
    prompts: str,
    model: str = "ViT-B-16-quickgelu",
    pretrained: str | None = "openai",
    templates: str | Sequence[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    cache_dir: str | None = None,
    name: str = "clip_vitb16",
) -> Classifier:
    """An open_clip image encoder + zero-shot head for ``class_names``.

    ``templates``: a template-set name or a list of format strings; None uses the dataset's
    set. ``overrides`` replaces top-level open_clip model-config keys (e.g. a tiny
    ``vision_cfg``/``text_cfg`` for random-weight tests); it cannot be combined with weights.
    """
    if overrides is not None and not isinstance(overrides, dict):  # a DictConfig from Hydra
        from omegaconf import OmegaConf

        overrides = OmegaConf.to_container(overrides, resolve=True)
    if len(class_names) != num_classes:
        raise bad_value("dataset class names", len(class_names), f"{num_classes} names, one per class")
    if overrides and pretrained:
        raise bad_value("arch.overrides", dict(overrides), "null when arch.pretrained names weights")
    cfg = _config(model, overrides)
    _check_quick_gelu(model, pretrained, cfg)
    size = cfg["vision_cfg"]["image_size"]
    if tuple(input_shape) != (3, size, size):
        raise bad_value("input shape", tuple(input_shape), f"(3, {size}, {size}) for {model}; set arch.preprocess.size")
    if templates is None:
        prompt_list = template_set(prompts)
    elif isinstance(templates, str):
        prompt_list = template_set(templates)
    else:
        prompt_list = tuple(templates)
    names = tuple(c.replace("_", " ") for c in class_names)

    net = _create(model, pretrained, overrides, cache_dir)
    key = (model, pretrained, cache_dir, names, prompt_list)
    if pretrained and key in _HEADS:
        text, scale = _HEADS[key]
    else:
        text, scale = _text_head(net, model, names, prompt_list)
        if pretrained:
            _HEADS[key] = (text, scale)
    visual = net.visual.train()  # the text pass put the model in eval mode
    del net  # the text tower's job is done (spec 2.2)
    return Classifier(name, visual, ZeroShotHead(text, scale), tv_exclude=("head.",))


def clip_preprocess(model: str, pretrained: str | None, size: int | None = None,
                    train_crop_scale: Sequence[float] | None = (0.9, 1.0)) -> Preprocess:
    """The model's own normalisation and interpolation, from open_clip's metadata (no download)."""
    import open_clip
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    meta = open_clip.get_pretrained_cfg(model, pretrained) if pretrained else {}
    cfg = _config(model, None)
    return Preprocess(
        mean=tuple(meta.get("mean", OPENAI_DATASET_MEAN)),
        std=tuple(meta.get("std", OPENAI_DATASET_STD)),
        size=int(size or cfg["vision_cfg"]["image_size"]),
        interpolation=meta.get("interpolation", "bicubic"),
        train_crop_scale=None if train_crop_scale is None else (float(train_crop_scale[0]), float(train_crop_scale[1])),
    )
