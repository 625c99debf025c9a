"""BadNets white-patch geometry (spec 1.6): a near-square block of ceil(p*H*W) pixels."""

from __future__ import annotations

import math

import torch


def trigger_mask(height: int, width: int, percent: float, margin: int | tuple[int, int]) -> torch.Tensor:
    """Boolean ``[H, W]`` mask of the trigger pixels.

    The block's bottom-right pixel sits ``margin`` pixels in from the bottom-right corner;
    ``h`` full rows of width ``round(sqrt(n))`` fill upward, and the remainder goes in the
    row above, right-aligned.
    """
    mh, mw = (margin, margin) if isinstance(margin, int) else (int(margin[0]), int(margin[1]))
    n_pix = max(1, math.ceil(percent * height * width))
    r0, c0 = height - 1 - mh, width - 1 - mw
    w = max(1, round(math.sqrt(n_pix)))
    h, rem = divmod(n_pix, w)
    if r0 - h + (0 if rem == 0 else -1) < 0 or c0 - w + 1 < 0 or r0 >= height or c0 >= width or r0 < 0 or c0 < 0:
        raise ValueError(
            f"trigger of {n_pix} px with margin {margin} does not fit in a {height}x{width} image"
        )
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[r0 - h + 1 : r0 + 1, c0 - w + 1 : c0 + 1] = True
    if rem:
        mask[r0 - h, c0 - rem + 1 : c0 + 1] = True
    return mask


def stamp(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Copy of raw ``uint8 [N, H, W, C]`` images with the trigger pixels set to 255 in every channel."""
    out = images.clone()
    out[:, mask, :] = 255
    return out
