"""Per-sample Jacobians with ``torch.func`` (vmap over samples of jacrev), in memory-bounded chunks:
the Fisher information of Fisher forgetting and the NTK of NTK scrubbing are both built from them."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from unlearn.eval.evalset import Images, take

CHUNK_BYTES = 256 * 2**20  # per-sample Jacobians held at once


def grad_params(net: nn.Module) -> dict[str, Tensor]:
    return {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}


def per_sample_jacobians(net: nn.Module, x: Images, fn=None, chunk_bytes: int = CHUNK_BYTES):
    """Yield ``(rows, outputs, jac)`` per chunk of samples: jac[name] has shape (B, C, *param.shape).

    ``outputs`` are the logits (B, C) and ``jac`` the Jacobian of ``fn(logits)`` (default: the
    logits themselves) with respect to every trainable parameter, one per sample.
    """
    params = grad_params(net)
    device = next(iter(params.values())).device
    count = sum(p.numel() for p in params.values())
    with torch.no_grad():
        classes = net(take(x, slice(0, 1), device)).shape[1]
    chunk = max(1, chunk_bytes // (4 * classes * max(count, 1)))

    def one(p: dict[str, Tensor], xi: Tensor) -> tuple[Tensor, Tensor]:
        out = functional_call(net, p, (xi.unsqueeze(0),)).squeeze(0)
        y = out if fn is None else fn(out)
        return y, out

    jac_fn = vmap(jacrev(one, has_aux=True), in_dims=(None, 0))
    for i in range(0, x.shape[0], chunk):
        rows = torch.arange(i, min(i + chunk, x.shape[0]))
        jac, out = jac_fn(params, take(x, slice(i, i + chunk), device))
        yield rows, out.detach(), jac
