"""``arch=dinov3_vitb16``: DINOv3 ViT-B/16 from transformers with a trainable linear head (CUTS spec 2.3).

The reference fine-tunes the whole HF model and classifies its CLS token with a freshly
initialised ``Linear(hidden, K)``; the head is trained too, so it is part of the task
vector. Pretrained weights are gated on the Hub: the token comes from ``HF_TOKEN`` in the
environment or a ``.env`` file, and the model's license must have been accepted.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoModel, DINOv3ViTConfig, DINOv3ViTModel, PreTrainedConfig

from unlearn.envfile import secret
from unlearn.errors import DataUnavailableError, bad_value, one_line
from unlearn.models.classifier import Classifier
from unlearn.registry import ARCHS

MODEL_ID = "facebook/dinov3-vitb16-pretrain-lvd1689m"

# The shape of facebook/dinov3-vitb16-pretrain-lvd1689m, from the "vitb" entry of
# transformers' convert_dinov3_vit_to_hf.py (mlp_ratio 4 -> intermediate 3072, masked key
# bias -> key_bias False); every other field keeps DINOv3ViTConfig's default, which is what
# that conversion saved (layer_norm_eps 1e-5, rope_theta 100, pos_embed_rescale 2, ...).
VITB16 = dict(
    patch_size=16, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    num_register_tokens=4, layerscale_value=1.0, query_bias=True, key_bias=False, value_bias=True,
    proj_bias=True, mlp_bias=True, use_gated_mlp=False, layer_norm_eps=1e-5, rope_theta=100.0,
)


class DinoFeatures(nn.Module):
    """The HF model as a ``[N, D]`` feature extractor, so ``Classifier.features`` is the CLS token."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(pixel_values=x)
        pooled = getattr(out, "pooler_output", None)
        return pooled if pooled is not None else out.last_hidden_state[:, 0]


def config_keys() -> list[str]:
    """Architecture fields of DINOv3ViTConfig; PretrainedConfig swallows unknown kwargs silently."""
    generic = set(inspect.signature(PreTrainedConfig.__init__).parameters)
    params = inspect.signature(DINOv3ViTConfig.__init__).parameters.values()
    return sorted(p.name for p in params if p.name not in generic and not p.name.startswith("_")
                  and p.kind is not p.VAR_KEYWORD)


def _overrides(config_overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    overrides = dict(config_overrides or {})
    allowed = config_keys()
    for key, value in overrides.items():
        if key not in allowed:
            raise bad_value(f"arch.net.config_overrides.{key}", value, f"DINOv3ViTConfig keys: {', '.join(allowed)}")
    return overrides


def _from_hub(model_id: str, overrides: dict[str, Any]) -> nn.Module:
    from unlearn.models.hub import offline_unless_reachable

    token = secret("HF_TOKEN")
    offline_unless_reachable()
    try:
        # float32 so full fine-tuning is not silently done in a checkpoint's storage dtype
        # (transformers 5 defaults to dtype="auto"); the trainer's precision decides the rest.
        return AutoModel.from_pretrained(model_id, token=token, dtype=torch.float32, **overrides)
    except (OSError, ValueError) as err:  # Hub/HTTP/offline errors are OSErrors; bad repo ids ValueErrors
        from huggingface_hub import constants

        reason = one_line(err)[:300]
        token_state = "HF_TOKEN is set" if token else "HF_TOKEN is not set (environment or .env)"
        raise DataUnavailableError(
            f"DINOv3 weights {model_id} could not be loaded ({type(err).__name__}: {reason}); they are not in the "
            f"HF cache ({constants.HF_HUB_CACHE}) and {token_state}: accept the license at "
            f"https://huggingface.co/{model_id}, set HF_TOKEN and run once with network access, "
            f"or use arch.net.pretrained=false for random weights"
        ) from err


@ARCHS.register("dinov3_vitb16")
def dinov3_vitb16(
    input_shape: Sequence[int],
    num_classes: int,
    model_id: str = MODEL_ID,
    pretrained: bool = True,
    config_overrides: Mapping[str, Any] | None = None,
) -> Classifier:
    """DINOv3 backbone + ``Linear(hidden, K)``, all trainable and all in the task vector.

    ``pretrained=False`` builds the ViT-B/16 shape with random weights; ``config_overrides``
    changes config fields (tiny test models, ``drop_path_rate``) either way.
    """
    c, h, w = (int(s) for s in input_shape)
    if c != 3 or h != w:
        raise bad_value("input shape", tuple(input_shape), "3 x S x S (DINOv3 takes square RGB images)")
    overrides = _overrides(config_overrides)
    if pretrained:
        model = _from_hub(str(model_id), overrides)
    else:
        model = DINOv3ViTModel(DINOv3ViTConfig(**{**VITB16, "image_size": h, **overrides}))
    patch = model.config.patch_size
    if h % patch:
        raise bad_value("input shape", tuple(input_shape), f"3 x S x S with S a multiple of {patch} (the patch size)")
    return Classifier("dinov3_vitb16", DinoFeatures(model), nn.Linear(model.config.hidden_size, num_classes))
