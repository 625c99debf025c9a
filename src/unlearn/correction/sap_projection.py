"""Activation subspaces of a trusted set, and the weight projection SAP builds from them (spec 6.2).

SAP needs, for every layer, the left singular vectors U and singular values S of the
(dim x rows) matrix of its input ("pre") and output ("post") activations over the trusted
set. With one row per token or conv patch those matrices are what made the reference run
out of memory (a ViT on 1,000 images: ~200k rows per layer). With A the (rows x dim)
activations, U and S^2 are equally the eigenvectors and eigenvalues of the dim x dim Gram
matrix A^T A, which is summed batch by batch and never needs the rows. When a layer has
fewer rows than dimensions (fc1's wide hidden layer on a few hundred images) the rows are
the smaller object, so they are kept and the rows x rows matrix A A^T is decomposed
instead. Both routes run in float64: a Gram matrix squares the spectrum, and in float32
its noise floor (~1e-7 of the top eigenvalue) would give directions the data does not
span an importance of up to ~0.1 at the largest scale (1e6).

Layers are found generically with forward hooks: every trainable ``nn.Linear`` and
``nn.Conv2d`` (im2col rows on the input side), ``nn.MultiheadAttention`` (whose packed
in_proj and out_proj are applied functionally, so their activations are recomputed in
the hook), and open_clip's bare ``proj`` matrix (input side only). Frozen modules and the
net's ``tv_exclude`` prefixes (CLIP's zero-shot head) are never touched; norms,
embeddings and layer scales are not projected.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unlearn.errors import ConfigError
from unlearn.eval.evalset import EvalSet

GRAM_CHUNK_ELEMENTS = 1 << 24  # float64 rows converted at a time (128 MB)
RANK_TOLERANCE = 1e-12


def importance(energy: Tensor, scale: float) -> Tensor:
    """lambda_i = a r_i / ((a - 1) r_i + 1): ~1 for directions with r_i >> 1/a, ~a r_i below."""
    return scale * energy / ((scale - 1.0) * energy + 1.0)


@dataclass
class Basis:
    """One activation space: orthonormal directions (dim x k) and their energy fractions r."""

    vectors: Tensor
    energy: Tensor  # float64, sums to 1 (all zero when the layer never activated)

    def _weights(self, scale: float) -> Tensor:
        return importance(self.energy, scale).to(self.vectors)

    def matrix(self, scale: float) -> Tensor:
        """M = U diag(lambda) U^T (dim x dim)."""
        return (self.vectors * self._weights(scale)) @ self.vectors.T

    def left(self, x: Tensor, scale: float) -> Tensor:
        """M @ x without forming M (k can be far below dim)."""
        return self.vectors @ (self._weights(scale)[:, None] * (self.vectors.T @ x))

    def right(self, x: Tensor, scale: float) -> Tensor:
        """x @ M without forming M."""
        return ((x @ self.vectors) * self._weights(scale)) @ self.vectors.T


class Accumulator:
    """Rows of one activation space, reduced to a Basis at the end."""

    def __init__(self) -> None:
        self.rows: list[Tensor] = []
        self.gram: Tensor | None = None
        self.count = 0

    def add(self, rows: Tensor) -> None:
        rows = rows.detach()
        dim = rows.shape[1]
        if self.gram is None and self.count + rows.shape[0] <= dim:
            self.rows.append(rows.clone())  # clone: later in-place ops must not reach it
        else:
            if self.gram is None:
                self.gram = torch.zeros(dim, dim, dtype=torch.float64, device=rows.device)
                for kept in self.rows:
                    self._add_gram(kept)
                self.rows = []
            self._add_gram(rows)
        self.count += rows.shape[0]

    def _add_gram(self, rows: Tensor) -> None:
        for chunk in rows.split(max(1, GRAM_CHUNK_ELEMENTS // rows.shape[1])):
            chunk = chunk.double()
            self.gram.addmm_(chunk.T, chunk)

    def basis(self) -> Basis:
        if self.gram is not None:
            eigvals, vectors = torch.linalg.eigh(self.gram)
            power = eigvals.clamp_min(0.0)
        else:
            power, vectors = _row_space(torch.cat(self.rows).double())
        total = power.sum()
        energy = power / total if total > 0 else torch.zeros_like(power)
        return Basis(vectors.float(), energy)


def _row_space(a: Tensor) -> tuple[Tensor, Tensor]:
    """S^2 and the right singular vectors of a (rows x dim, rows <= dim) from its rows x rows Gram
    matrix: several times faster than LAPACK's SVD here. Directions with S^2 below
    ``RANK_TOLERANCE`` of the largest are dropped (dividing by their S would amplify noise);
    their importance is at most scale x 1e-12, i.e. 1e-6 at the largest listed scale."""
    power, w = torch.linalg.eigh(a @ a.T)
    keep = power > power.max().clamp_min(0.0) * RANK_TOLERANCE
    power, w = power[keep], w[:, keep]
    return power, (a.T @ w) / power.sqrt()


@dataclass(frozen=True)
class Site:
    """One projected weight: W <- M_post W M_pre (flattened to out x in), b <- M_post b."""

    weight: str  # state-dict key
    bias: str | None
    pre: str | None  # Basis key of the input side; None leaves that side alone
    post: str | None
    rows: tuple[int, int] | None = None  # q, k or v block of a packed in_proj
    transposed: bool = False  # stored (in, out) and used as x @ W (open_clip's proj)


def _key(module: str, attr: str) -> str:
    return f"{module}.{attr}" if module else attr


def _flat(t: Tensor) -> Tensor:
    return t.reshape(-1, t.shape[-1])


def _skipped(name: str, module: nn.Module, exclude: Sequence[str]) -> bool:
    own = list(module.parameters(recurse=False))
    frozen = bool(own) and not any(p.requires_grad for p in own)
    return frozen or any(f"{name}.".startswith(prefix) for prefix in exclude)


def _is_open_clip_visual(module: nn.Module) -> bool:
    cls = type(module)
    proj = getattr(module, "proj", None)
    return (cls.__module__.startswith("open_clip") and cls.__name__ == "VisionTransformer"
            and isinstance(proj, nn.Parameter) and proj.ndim == 2)


class _Planner:
    """Registers the hooks that feed the accumulators and lists the sites they cover."""

    def __init__(self, acc: Mapping[str, Accumulator]) -> None:
        self.acc = acc
        self.sites: list[Site] = []
        self.handles: list[torch.utils.hooks.RemovableHandle] = []
        self.restore: list[Callable[[], None]] = []

    def linear(self, name: str, m: nn.Linear) -> None:
        pre, post = f"{name}:pre", f"{name}:post"

        def hook(_m: nn.Module, args: tuple, out: Tensor) -> None:
            self.acc[pre].add(_flat(args[0]))
            self.acc[post].add(_flat(out))

        self.handles.append(m.register_forward_hook(hook))
        self.sites.append(Site(_key(name, "weight"), _key(name, "bias") if m.bias is not None else None, pre, post))

    def conv(self, name: str, m: nn.Conv2d) -> None:
        if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise ConfigError(f"method=sap: conv layer {name} (groups={m.groups}, padding={m.padding!r}, "
                              f"padding_mode={m.padding_mode}) has no im2col view here; only groups=1 with "
                              "numeric zero padding is supported")
        pre, post = f"{name}:pre", f"{name}:post"

        def hook(_m: nn.Module, args: tuple, out: Tensor) -> None:
            cols = F.unfold(args[0], m.kernel_size, m.dilation, m.padding, m.stride)  # (B, C*kh*kw, L)
            self.acc[pre].add(cols.transpose(1, 2).reshape(-1, cols.shape[1]))
            self.acc[post].add(out.movedim(1, -1).reshape(-1, out.shape[1]))

        self.handles.append(m.register_forward_hook(hook))
        self.sites.append(Site(_key(name, "weight"), _key(name, "bias") if m.bias is not None else None, pre, post))

    def attention(self, name: str, m: nn.MultiheadAttention) -> None:
        if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
            raise ConfigError(f"method=sap: attention {name} has separate q/k/v weights or extra key/value "
                              "biases; only packed self-attention is supported")
        dim = m.embed_dim
        signature = inspect.signature(m.forward)
        eye = torch.eye(dim)
        pre_in, pre_out, post_out = f"{name}.in_proj:pre", f"{name}.out_proj:pre", f"{name}.out_proj:post"

        def hook(_m: nn.Module, args: tuple, kwargs: dict, out: tuple) -> None:
            call = signature.bind(*args, **kwargs)
            call.apply_defaults()
            a = call.arguments
            q = a["query"]
            if not all(t is q or torch.equal(t, q) for t in (a["key"], a["value"])):
                raise ConfigError(f"method=sap: attention {name} is cross-attention; only self-attention is supported")
            x = q.transpose(0, 1) if m.batch_first and q.dim() == 3 else q  # (L, N, E) as F expects
            self.acc[pre_in].add(_flat(x))
            bias = m.in_proj_bias
            for i, part in enumerate("qkv"):
                block = slice(i * dim, (i + 1) * dim)
                self.acc[f"{name}.{part}:post"].add(
                    _flat(F.linear(x, m.in_proj_weight[block], None if bias is None else bias[block])))
            # The heads' concatenation, i.e. out_proj's input: the same attention with an identity out_proj.
            heads, _ = F.multi_head_attention_forward(
                x, x, x, dim, m.num_heads, m.in_proj_weight, bias, None, None, False, 0.0,
                eye.to(x), None, training=False, key_padding_mask=a["key_padding_mask"], need_weights=False,
                attn_mask=a["attn_mask"], is_causal=a["is_causal"])
            self.acc[pre_out].add(_flat(heads))
            self.acc[post_out].add(_flat(out[0]))

        self.handles.append(m.register_forward_hook(hook, with_kwargs=True))
        in_bias = _key(name, "in_proj_bias") if m.in_proj_bias is not None else None
        for i, part in enumerate("qkv"):  # q, k and v share the input projector, not the output one
            self.sites.append(Site(_key(name, "in_proj_weight"), in_bias, pre_in, f"{name}.{part}:post",
                                   rows=(i * dim, (i + 1) * dim)))
        out_bias = _key(name, "out_proj.bias") if m.out_proj.bias is not None else None
        self.sites.append(Site(_key(name, "out_proj.weight"), out_bias, pre_out, post_out))

    def clip_proj(self, name: str, m: nn.Module) -> None:
        """open_clip applies ``pooled @ proj`` only when ``proj`` is not None: unset it while
        collecting, read the pooled features as the visual tower's output, and apply proj here."""
        proj, pre = m.proj, f"{name}.proj:pre"

        def hook(_m: nn.Module, args: tuple, out: Tensor | tuple) -> Tensor | tuple:
            pooled = out[0] if isinstance(out, tuple) else out
            self.acc[pre].add(_flat(pooled))
            return (pooled @ proj, *out[1:]) if isinstance(out, tuple) else pooled @ proj

        m.proj = None
        self.restore.append(lambda: setattr(m, "proj", proj))
        self.handles.append(m.register_forward_hook(hook))
        self.sites.append(Site(_key(name, "proj"), None, pre, None, transposed=True))


def plan(net: nn.Module, acc: Mapping[str, Accumulator], exclude: Sequence[str] = ()) -> _Planner:
    planner = _Planner(acc)
    covered: set[str] = set()  # out_proj is applied functionally by its attention module
    try:
        for name, m in net.named_modules():
            if name in covered or _skipped(name, m, exclude):
                continue
            if isinstance(m, nn.MultiheadAttention):
                planner.attention(name, m)
                covered.add(_key(name, "out_proj"))
            elif isinstance(m, nn.Linear):
                planner.linear(name, m)
            elif isinstance(m, nn.Conv2d):
                planner.conv(name, m)
            elif _is_open_clip_visual(m):
                planner.clip_proj(name, m)
    except Exception:
        release(planner)
        raise
    return planner


def release(planner: _Planner) -> None:
    for handle in planner.handles:
        handle.remove()
    for undo in planner.restore:
        undo()


@torch.no_grad()
def fit(net: nn.Module, data: EvalSet, batch_size: int,
        exclude: Sequence[str] = ()) -> tuple[dict[str, Basis], list[Site]]:
    """Run the trusted set through ``net`` (eval mode) and return each activation space's basis
    and the weights to project; layers that never ran are left out."""
    acc: dict[str, Accumulator] = defaultdict(Accumulator)
    planner = plan(net, acc, exclude)
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    try:
        for x in data.batches(batch_size, device):
            net(x)
    finally:
        release(planner)
        net.train(was_training)
    bases = {key: a.basis() for key, a in acc.items()}
    sites = [s for s in planner.sites if all(k is None or k in bases for k in (s.pre, s.post))]
    return bases, sites


@torch.no_grad()
def project(state: Mapping[str, Tensor], sites: Sequence[Site], bases: Mapping[str, Basis], scale: float,
            device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """A new state dict with every site's weight and bias projected at ``scale``; the other
    entries are ``state``'s own tensors."""
    out = dict(state)
    copied: set[str] = set()

    def own(key: str) -> Tensor:
        if key not in copied:
            out[key] = state[key].to(device=device, dtype=torch.float32, copy=True)
            copied.add(key)
        return out[key]

    for site in sites:
        w = own(site.weight)
        block = w if site.rows is None else w[site.rows[0]:site.rows[1]]
        mat = block.T if site.transposed else block.reshape(block.shape[0], -1)
        if site.post is not None:
            mat = bases[site.post].left(mat, scale)
        if site.pre is not None:
            mat = bases[site.pre].right(mat, scale)
        block.copy_((mat.T if site.transposed else mat).reshape(block.shape))
        if site.bias is not None and site.post is not None:
            b = own(site.bias)
            b_block = b if site.rows is None else b[site.rows[0]:site.rows[1]]
            b_block.copy_(bases[site.post].left(b_block[:, None], scale)[:, 0])
    for key in copied:
        out[key] = out[key].to(state[key].dtype)
    return out
