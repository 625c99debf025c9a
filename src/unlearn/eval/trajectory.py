"""How the penultimate feature space moves along the CUTS path (spec 7, "PCA GIF").

Each alpha gets its own 2-D PCA, so consecutive frames would spin and mirror for no
reason other than the arbitrary signs/order of principal axes; an orthogonal Procrustes
rotation (reflections allowed) fitted on the class centroids removes exactly that freedom
and nothing else, so what remains in the animation is the geometry that alpha changes.

PCA is exact and done in torch where the features are (``pca_2d``), so wide features
(fc1: 16-32k) never travel to the host; scikit-learn would need that copy, and for wide
inputs picks a randomized solver. Frames are drawn on the Agg canvas of a private
``Figure`` (no pyplot, no global backend switch) and written with Pillow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn.eval.evalset import EvalSet

PAD = 0.03  # fraction of the data range added on each side of the fixed axis limits


# -- geometry -------------------------------------------------------------------------------


def class_centroids(points: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Mean position of every class in ``classes`` (rows in that order)."""
    return np.stack([points[labels == c].mean(axis=0) for c in classes])


def procrustes_align(
    points: np.ndarray, centroids: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate/reflect ``points`` so that ``centroids`` best match ``reference`` (least squares).

    Both centroid sets are centred first, so the fit is a pure rotation/reflection about
    the centroid mean; the points get the same centring, rotation and the reference's
    offset. Returns the aligned points and the 2x2 orthogonal matrix (``x @ R``).
    """
    from scipy.linalg import orthogonal_procrustes

    mu, mu_ref = centroids.mean(axis=0), reference.mean(axis=0)
    rotation, _ = orthogonal_procrustes(centroids - mu, reference - mu_ref)
    return (points - mu) @ rotation + mu_ref, rotation


def pca_2d(features: torch.Tensor) -> np.ndarray:
    """Exact scores on the first two principal axes, computed where the features already are.

    Eigendecomposition (float64) of whichever is smaller, the d x d covariance or the n x n
    Gram matrix: for 2,000 points that is at most 2,000 x 2,000 whatever the width, with no
    copy of wide features to the host. Each axis's sign is fixed so that its largest-magnitude
    score is positive (any choice would do: alignment allows reflections).
    """
    x = features.double().flatten(1)
    x = x - x.mean(dim=0)
    n, d = x.shape
    if d <= n:
        _, vecs = torch.linalg.eigh(x.T @ x)  # ascending eigenvalues
        scores = x @ vecs[:, [-1, -2]]
    else:
        vals, vecs = torch.linalg.eigh(x @ x.T)
        scores = vecs[:, [-1, -2]] * vals[[-1, -2]].clamp_min(0).sqrt()
    peak = scores.gather(0, scores.abs().argmax(dim=0, keepdim=True))
    scores = scores * torch.where(peak < 0, -1.0, 1.0).to(scores)
    return scores.cpu().numpy()


def axis_limits(frames: Sequence[np.ndarray], pad: float = PAD) -> tuple[tuple[float, float], tuple[float, float]]:
    """One (x, y) limit pair for every frame, so motion in the GIF is real motion."""
    stacked = np.concatenate(frames)
    lo, hi = stacked.min(axis=0), stacked.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


# -- features -------------------------------------------------------------------------------


def subsample(n: int, max_points: int | None, seed: int) -> torch.Tensor:
    """A seeded random order of (at most ``max_points``) indices.

    Kept in random rather than sorted order so that the scatter's draw order does not put
    one class (datasets are often class-sorted) on top of the others.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    return order if max_points is None or max_points >= n else order[: int(max_points)]


def _place(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move the (alpha-independent) inputs to the net's device once, when they fit comfortably."""
    if x.device == device:
        return x
    if device.type == "cuda" and x.numel() * x.element_size() > torch.cuda.mem_get_info(device)[0] // 4:
        return x.cpu().pin_memory()
    return x.to(device)


@torch.no_grad()
def penultimate(net: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Raw (not L2-normalised, spec 7: normalize=False) float32 penultimate features, on the net's device."""
    net.eval()
    device = next(net.parameters()).device
    return torch.cat([net.features(x[i : i + batch_size].to(device, non_blocking=True)).float().flatten(1)
                      for i in range(0, x.shape[0], batch_size)])


# -- drawing --------------------------------------------------------------------------------


def class_colours(num_classes: int) -> np.ndarray:
    """A fixed RGBA colour per class index, identical in every frame and run."""
    from matplotlib import colormaps

    if num_classes <= 10:
        return colormaps["tab10"](np.arange(num_classes))
    if num_classes <= 20:
        return colormaps["tab20"](np.arange(num_classes))
    return colormaps["turbo"](np.linspace(0.05, 0.95, num_classes))


class _FrameDrawer:
    """One figure whose artists are moved frame to frame: redrawing is the only per-frame cost."""

    def __init__(self, first: np.ndarray, labels: np.ndarray, classes: np.ndarray, class_names: Sequence[str],
                 limits: tuple[tuple[float, float], tuple[float, float]], size: tuple[float, float], dpi: int,
                 widest_title: str) -> None:
        from matplotlib import patheffects
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(self.fig)
        ax = self.fig.add_subplot()
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
        ax.set_xlabel("PC 1 (aligned)")
        ax.set_ylabel("PC 2 (aligned)")
        ax.tick_params(labelsize=7)
        colours = class_colours(len(class_names))
        marker = float(np.clip(6000.0 / max(len(labels), 1), 2.0, 18.0))
        self.labels, self.classes = labels, classes
        self.scatter = ax.scatter(first[:, 0], first[:, 1], c=colours[labels], s=marker, alpha=0.75,
                                  linewidths=0, rasterized=True)
        outline = [patheffects.withStroke(linewidth=2.5, foreground="white")]
        centres = class_centroids(first, labels, classes)
        fontsize = 9 if len(classes) <= 20 else 6
        self.texts = [ax.text(x, y, class_names[c], ha="center", va="center", fontsize=fontsize, weight="bold",
                              color=colours[c], path_effects=outline) for (x, y), c in zip(centres, classes)]
        self.title = ax.set_title(widest_title, fontsize=9)  # so the layout leaves room for it
        self.fig.tight_layout()

    def draw(self, points: np.ndarray, title: str) -> np.ndarray:
        self.scatter.set_offsets(points)
        for text, centre in zip(self.texts, class_centroids(points, self.labels, self.classes)):
            text.set_position(centre)
        self.title.set_text(title)
        self.fig.canvas.draw()
        return np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy()


def _nearest_entries(frame: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """Exact nearest-palette index of every pixel, computed once per distinct colour."""
    flat = frame.reshape(-1, 3).astype(np.int64)
    keys, inverse = np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2], return_inverse=True)
    colours = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1)
    e = entries.astype(np.float32)
    dist = (e**2).sum(axis=1)[None, :] - 2.0 * colours.astype(np.float32) @ e.T  # + |colour|^2, same per row
    return dist.argmin(axis=1).astype(np.uint8)[inverse.ravel()].reshape(frame.shape[:2])


def _write_gif(path: Path, frames: Sequence[np.ndarray], frame_seconds: float) -> None:
    """A looping GIF with one shared palette.

    Sharing it keeps class colours fixed between frames and lets Pillow store each frame as
    a delta (~30% smaller than per-frame palettes). Pixels are mapped onto it here, exactly:
    Pillow's own mapping goes through a coarse colour cube that turned the white background grey.
    """
    from PIL import Image

    # Median cut over the first and last frames side by side: between them they hold every
    # class colour and the blends that overlapping points produce.
    probe = Image.fromarray(np.concatenate([frames[0], frames[-1]], axis=1)).quantize(colors=256)
    entries = np.asarray(probe.getpalette()[: 3 * 256], dtype=np.int64).reshape(-1, 3)
    entries[entries.sum(axis=1).argmax()] = 255  # median cut may average the background off-white
    palette = entries.astype(np.uint8).ravel().tolist()
    images = []
    for frame in frames:
        image = Image.fromarray(_nearest_entries(frame, entries), mode="P")
        image.putpalette(palette)
        images.append(image)
    with open(path, "xb") as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(frame_seconds * 1000)), loop=0, disposal=1)


def _paths(out_dir: Path, stem: str) -> dict[str, Path]:
    return {ext: out_dir / f"{stem}.{ext}" for ext in ("gif", "png", "npz")}


def _claim(paths: Mapping[str, Path]) -> None:
    for p in paths.values():
        if p.exists():
            raise FileExistsError(f"{p} exists; not overwriting it (use a new run directory or another stem)")


# -- entry points ---------------------------------------------------------------------------


@dataclass
class Trajectory:
    """Everything the animation shows, kept so a figure can be redrawn without any model."""

    alphas: np.ndarray  # [frames]
    index: np.ndarray  # [points] rows of the eval set, in draw order
    labels: np.ndarray  # [points] true classes
    raw: np.ndarray  # [frames, points, 2] per-frame PCA scores
    coords: np.ndarray  # [frames, points, 2] the same, aligned to frame 0
    rotation: np.ndarray  # [frames, 2, 2] orthogonal maps applied (x @ R)
    seconds: dict[str, float] = field(default_factory=dict)


def trajectory_coords(
    net_at: Callable[[float], nn.Module],
    data: EvalSet,
    alphas: Sequence[float],
    max_points: int | None = 2000,
    seed: int = 0,
    batch_size: int = 1024,
) -> Trajectory:
    """Per-alpha 2-D PCA of the raw penultimate features, Procrustes-aligned to the first alpha.

    ``net_at(alpha)`` may hand back the same module reloaded each time (CUTS' ``at`` does):
    features are taken before the next call. The inputs are gathered (and moved to the
    net's device) once; only the forward pass and the PCA are repeated per alpha.
    """
    alphas = [float(a) for a in alphas]
    if not alphas:
        raise ValueError("a feature trajectory needs at least one alpha")
    index = subsample(len(data), max_points, seed)
    if index.numel() < 3:
        raise ValueError(f"a 2-D PCA needs at least 3 points, the eval set gives {index.numel()}")
    labels = data.y_true[index.to(data.y_true.device)].cpu().numpy().astype(np.int64)
    classes = np.unique(labels)
    x = data.rows(index)

    seconds = {"features": 0.0, "pca": 0.0}
    raw: list[np.ndarray] = []
    for alpha in alphas:
        start = time.perf_counter()
        net = net_at(alpha)
        x = _place(x, next(net.parameters()).device)
        feats = penultimate(net, x, batch_size)
        seconds["features"] += time.perf_counter() - start
        start = time.perf_counter()
        if feats.shape[1] < 2:
            raise ValueError(f"a 2-D PCA needs at least 2 feature dimensions, got {feats.shape[1]}")
        raw.append(pca_2d(feats))
        seconds["pca"] += time.perf_counter() - start

    reference = class_centroids(raw[0], labels, classes)
    aligned, rotations = zip(*(procrustes_align(r, class_centroids(r, labels, classes), reference) for r in raw))
    return Trajectory(np.asarray(alphas), index.numpy(), labels, np.stack(raw), np.stack(aligned),
                      np.stack(rotations), seconds)


def render_trajectory(
    traj: Trajectory,
    out_dir: Path,
    class_names: Sequence[str],
    title: str = "",
    frame_seconds: float = 0.8,
    stem: str = "pca_evol",
    size: tuple[float, float] = (5.5, 5.0),
    dpi: int = 100,
) -> dict[str, Path]:
    """Write ``<stem>.gif`` (looping, ``frame_seconds`` per frame), ``<stem>.png`` (last frame)
    and ``<stem>.npz`` (the ``Trajectory`` arrays, coordinates as float32); refuse to replace any.
    """
    if frame_seconds <= 0:
        raise ValueError(f"frame_seconds must be > 0, got {frame_seconds}")
    if traj.labels.max() >= len(class_names):
        raise ValueError(f"label {traj.labels.max()} has no class name ({len(class_names)} names given)")
    paths = _paths(Path(out_dir), stem)
    _claim(paths)

    start = time.perf_counter()
    head = f"{title}\n" if title else ""
    n = len(traj.alphas)
    titles = [f"{head}alpha = {a:+.3f}   ({i + 1}/{n})" for i, a in enumerate(traj.alphas)]
    drawer = _FrameDrawer(traj.coords[0], traj.labels, np.unique(traj.labels), class_names,
                          axis_limits(list(traj.coords)), size, dpi, titles[-1])
    # The frame index in the title keeps consecutive frames distinct: Pillow merges identical
    # frames, which would silently drop frames for a repeated alpha.
    frames = [drawer.draw(points, t) for points, t in zip(traj.coords, titles)]
    traj.seconds["draw"] = time.perf_counter() - start

    from PIL import Image

    paths["gif"].parent.mkdir(parents=True, exist_ok=True)
    _write_gif(paths["gif"], frames, frame_seconds)
    with open(paths["png"], "xb") as fh:
        Image.fromarray(frames[-1]).save(fh, format="PNG")
    with open(paths["npz"], "xb") as fh:
        np.savez_compressed(fh, alphas=traj.alphas, index=traj.index, labels=traj.labels,
                            raw=traj.raw.astype(np.float32), coords=traj.coords.astype(np.float32),
                            rotation=traj.rotation, seconds=np.asarray(list(traj.seconds.values())),
                            seconds_keys=np.asarray(list(traj.seconds)))
    return paths


def feature_trajectory(
    net_at: Callable[[float], nn.Module],
    data: EvalSet,
    alphas: Sequence[float],
    out_dir: Path,
    class_names: Sequence[str],
    title: str = "",
    frame_seconds: float = 0.8,
    max_points: int | None = 2000,
    seed: int = 0,
    stem: str = "pca_evol",
    batch_size: int = 1024,
) -> dict[str, Path]:
    """The spec-7 animation in one call: ``trajectory_coords`` then ``render_trajectory``.

    CUTS passes linspace(0, alpha-hat), so every frame is aligned to the corrupted model's.
    Output names are claimed before any model work: a clash should not cost 60 feature passes.
    """
    _claim(_paths(Path(out_dir), stem))
    traj = trajectory_coords(net_at, data, alphas, max_points, seed, batch_size)
    return render_trajectory(traj, out_dir, class_names, title, frame_seconds, stem)


def log_trajectory(logger: Any, paths: Mapping[str, Path], key: str = "pca_evol") -> bool:
    """Send the animation (and its last frame) to the job's logger when it can show media.

    Accepts a ``JobLogger``, a ``StageView`` or a Lightning logger. wandb gets the GIF as a
    ``wandb.Video`` and the PNG as an image; another logger with ``log_image`` gets the PNG;
    CSV/TensorBoard/no logger are skipped. Returns whether anything was logged.
    """
    from lightning.pytorch.loggers import WandbLogger

    from unlearn.stage_logger import JobLogger, StageView

    base = logger
    while isinstance(base, (JobLogger, StageView)):
        base = base.base
    if base is None:
        return False
    if isinstance(base, WandbLogger):
        import wandb

        media = {f"{key}/animation": wandb.Video(str(paths["gif"]), format="gif"),
                 f"{key}/final": wandb.Image(str(paths["png"]))}
        if isinstance(logger, JobLogger):
            logger.log(media)  # keeps the job's step counter monotonic
        else:
            base.log_metrics(media)
        return True
    if callable(getattr(base, "log_image", None)):
        base.log_image(key=f"{key}/final", images=[str(paths["png"])])
        return True
    return False
