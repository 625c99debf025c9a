"""Differentiable siamese augmentation (DSA, Zhao & Bilen 2021), shared by DM, IDM and GM.

Matching real and synthetic statistics under augmentation only makes sense when both sides see
the *same* transform, and the synthetic side needs gradients through it. So every random draw
comes from a generator seeded by the caller (same seed -> same transform, whatever the batch),
all draws happen on the CPU (same transform on any device), and the transforms are plain
differentiable tensor ops (``affine_grid``/``grid_sample``, masks, gathers).

By default ("siamese") one set of parameters is drawn per call and shared by every image of the
batch: the real batch (256 images) and the synthetic one (ipc images) differ in size, and only a
batch-wide draw makes "the same transform" well defined. ``siamese=False`` draws per image, for
training a network on the synthetic set.

``mode="single"`` applies one component of the strategy, drawn per call, as the reference DSA
defaults to; ``"multiple"`` applies them all in order. Operations act in normalised-pixel space.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from unlearn.errors import bad_value

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"
MODES = ("single", "multiple")


@dataclass(frozen=True)
class DSAParams:
    """Spec blend_aamu §6 defaults (the reference DSA's)."""

    flip: float = 0.5        # probability of a horizontal flip
    scale: float = 1.2       # per-axis zoom factor drawn from [1/scale, scale]
    rotate: float = 15.0     # degrees, drawn from [-rotate, rotate]
    crop_pad: float = 0.125  # translation of up to this fraction of the side, zero fill
    cutout: float = 0.5      # side of the zeroed square, as a fraction of the image side
    brightness: float = 1.0  # additive shift drawn from [-brightness/2, brightness/2]
    saturation: float = 2.0  # factor on the distance to the channel mean, drawn from [0, saturation]
    contrast: float = 0.5    # factor on the distance to the image mean, drawn from [contrast, contrast + 1]


class _Draw:
    """Uniform draws of ``n`` values from one seeded CPU generator, moved to the images' device."""

    def __init__(self, seed: int, n: int, device: torch.device, dtype: torch.dtype) -> None:
        self.gen = torch.Generator().manual_seed(int(seed) % (1 << 63))
        self.n, self.device, self.dtype = n, device, dtype

    def uniform(self) -> Tensor:
        return torch.rand(self.n, generator=self.gen).to(self.device, self.dtype)

    def integers(self, low: int, high: int) -> Tensor:
        """Integers in ``[low, high)``."""
        return torch.randint(low, high, (self.n,), generator=self.gen).to(self.device)


def _per_image(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


def _brightness(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    return x + _per_image((draw.uniform() - 0.5) * p.brightness)


def _saturation(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    # On one-channel images the channel mean is the pixel itself: the identity, as it should be.
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _per_image(draw.uniform() * p.saturation) + mean


def _contrast(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_image(draw.uniform() + p.contrast) + mean


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    """Resample ``x`` through per-image 2x3 matrices (``[n, 2, 3]``, n = 1 or the batch)."""
    theta = theta.expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _scale(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    lo = 1.0 / p.scale
    sx = draw.uniform() * (p.scale - lo) + lo
    sy = draw.uniform() * (p.scale - lo) + lo
    zero = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zero, zero], 1), torch.stack([zero, sy, zero], 1)], 1)
    return _affine(x, theta)


def _rotate(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    angle = (draw.uniform() - 0.5) * 2.0 * math.radians(p.rotate)
    cos, sin, zero = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return _affine(x, theta)


def _flip(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    flip = draw.uniform() < p.flip
    return torch.where(_per_image(flip), x.flip(3), x)


def _crop(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    """Translate by whole pixels with zero fill: pad, then gather a shifted window per image."""
    b, _, h, w = x.shape
    ph, pw = int(h * p.crop_pad + 0.5), int(w * p.crop_pad + 0.5)
    dy, dx = draw.integers(-ph, ph + 1), draw.integers(-pw, pw + 1)
    padded = F.pad(x, [pw, pw, ph, ph])
    rows = (torch.arange(h, device=x.device) + ph + dy.view(-1, 1)).expand(b, h)
    cols = (torch.arange(w, device=x.device) + pw + dx.view(-1, 1)).expand(b, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    # Advanced indexing over (batch, rows, cols) puts the channel axis last: [b, h, w, c].
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: Tensor, draw: _Draw, p: DSAParams) -> Tensor:
    _, _, h, w = x.shape
    sh, sw = int(h * p.cutout + 0.5), int(w * p.cutout + 0.5)
    # Centres range one further for an even side, so the square overhangs both edges equally.
    cy, cx = draw.integers(0, h + 1 - sh % 2), draw.integers(0, w + 1 - sw % 2)
    top, left = (cy - sh // 2).view(-1, 1), (cx - sw // 2).view(-1, 1)
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (ys >= top) & (ys < top + sh)
    in_cols = (xs >= left) & (xs < left + sw)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep.unsqueeze(1).to(x.dtype)


_Op = Callable[[Tensor, _Draw, DSAParams], Tensor]
COMPONENTS: dict[str, tuple[_Op, ...]] = {
    "color": (_brightness, _saturation, _contrast),
    "crop": (_crop,),
    "cutout": (_cutout,),
    "flip": (_flip,),
    "scale": (_scale,),
    "rotate": (_rotate,),
}


class DSA:
    """A seeded, differentiable augmentation; ``dsa(x, seed)`` twice gives the same transform."""

    def __init__(self, strategy: str = DEFAULT_STRATEGY, mode: str = "single", **params: float) -> None:
        names = [s for s in str(strategy).split("_") if s]
        for s in names:
            if s not in COMPONENTS:
                raise bad_value("condensation.dsa_strategy", strategy,
                                f"'_'-joined components of {', '.join(COMPONENTS)}")
        if not names:
            raise bad_value("condensation.dsa_strategy", strategy, f"at least one of {', '.join(COMPONENTS)}")
        if mode not in MODES:
            raise bad_value("condensation.dsa_mode", mode, MODES)
        known = {f.name for f in fields(DSAParams)}
        for key in params:
            if key not in known:
                raise bad_value(f"condensation.dsa.{key}", params[key], sorted(known))
        self.strategy = "_".join(names)
        self.components = names
        self.mode = mode
        self.params = DSAParams(**{k: float(v) for k, v in params.items()})

    def __call__(self, x: Tensor, seed: int, siamese: bool = True) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"DSA expects [N, C, H, W] images, got shape {tuple(x.shape)}")
        draw = _Draw(seed, 1 if siamese else x.shape[0], x.device, x.dtype)
        if self.mode == "single":
            pick = int(torch.randint(len(self.components), (1,), generator=draw.gen))
            chosen = [self.components[pick]]
        else:
            chosen = self.components
        for name in chosen:
            for op in COMPONENTS[name]:
                x = op(x, draw, self.params)
        return x.contiguous()

    def __repr__(self) -> str:
        return f"DSA({self.strategy!r}, mode={self.mode!r})"
