"""The figures of G's samples and of D: the final samples, the snapshots over training,
the discriminator against D* and the GIF of training; each from the run files alone."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.distributions import GaussianMixture
from ..core.metrics import kde_bandwidth, kde_log_prob
from ..runfiles import GIF_FILE
from .panels import (
    _draw_data_and_samples,
    _limits,
    _name,
    _pair_label,
    _projection_note,
    _run,
    projection_pairs,
)
from .run_files import skipped
from .style import (
    FAKE,
    GREY,
    OTHER,
    PURPLE,
    REAL,
    _finite_rows,
    plt,
    save_figure,
    save_gif,
)


# ---------------------------------------------------------- final samples
def plot_samples(run_dir: Path, run: tuple | None = None) -> Path:
    """G's samples over the data density, at the last good evaluation (from 3-D on: on the
    pairs of the first three coordinates). `run`: load_run's result, if already read."""
    config, _, samples = _run(run_dir, run)
    mixture = GaussianMixture.from_dict(config["mixture"])
    fake, step = samples["fake"], int(samples["step"])
    lo, hi = _limits(samples, mixture)
    title = f"{_name(config, mixture)}: {len(fake)} samples of G at step {step}"
    if mixture.dim <= 2:
        fig, ax = plt.subplots(figsize=(6.4, 5.6) if mixture.dim == 2 else (7.5, 4.2))
        _draw_data_and_samples(ax, mixture, fake, lo, hi)
        ax.set_title(title)
        ax.legend(loc="upper right", framealpha=0.9)
    else:
        pairs = projection_pairs(mixture.dim)
        fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 5.4))
        for ax, pair in zip(axes, pairs, strict=True):
            _draw_data_and_samples(ax, mixture, fake, lo, hi, pair=pair)
            ax.set_title(_pair_label(pair))
        axes[0].legend(loc="upper right", framealpha=0.9)
        fig.suptitle(f"{title}\n({_projection_note(mixture.dim)})")
        fig.tight_layout()
    return save_figure(fig, Path(run_dir) / "samples.png")


# --------------------------------------------------------------- snapshots
def snapshot_arrays(samples: dict, mixture: GaussianMixture, panels: int = 8) -> dict:
    """Evenly spaced snapshots (always the first and the last) and one fixed box for all
    panels: the data's support widened to hold the middle 98 % of every snapshot, capped at
    3x the data's span (plus a 5 % margin) so that one exploded snapshot does not shrink the
    rest to a dot."""
    steps, fake = samples["snapshot_steps"], samples["snapshot_fake"]
    chosen = np.unique(np.round(np.linspace(0, len(steps) - 1, min(panels, len(steps)))))
    chosen = chosen.astype(int)
    lo, hi = mixture.bounds(margin=4.0)
    span = hi - lo
    every = _finite_rows(fake.reshape(-1, fake.shape[-1]))
    if len(every):
        lo = np.maximum(np.minimum(lo, np.percentile(every, 1, axis=0)), lo - span)
        hi = np.minimum(np.maximum(hi, np.percentile(every, 99, axis=0)), hi + span)
    pad = 0.05 * (hi - lo)
    return {"index": chosen, "steps": steps[chosen], "fake": fake[chosen],
            "lo": lo - pad, "hi": hi + pad}


def plot_snapshots(run_dir: Path, run: tuple | None = None) -> Path | None:
    """A grid of G's samples at evenly spaced steps, on fixed axes (from 3-D on: one row
    per pair of the first three coordinates, one column per step)."""
    config, records, samples = _run(run_dir, run)
    if "snapshots.png" in skipped(config, records, samples):
        return None
    mixture = GaussianMixture.from_dict(config["mixture"])
    arrays = snapshot_arrays(samples, mixture)
    n = len(arrays["steps"])
    title = (f"{_name(config, mixture)}: G's samples during training "
             f"({arrays['fake'].shape[1]} per panel, fixed axes)")
    if mixture.dim <= 2:
        cols = min(4, n)
        rows = math.ceil(n / cols)
        size = (3.4 * cols, 3.3 * rows) if mixture.dim == 2 else (4.2 * cols, 2.8 * rows)
        fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
        for ax, step, fake in zip(axes.ravel(), arrays["steps"], arrays["fake"], strict=False):
            _draw_data_and_samples(ax, mixture, fake, arrays["lo"], arrays["hi"], size=2.0)
            ax.set_title(f"step {int(step)}")
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
    else:
        pairs = projection_pairs(mixture.dim)
        fig, axes = plt.subplots(len(pairs), n, figsize=(2.7 * n + 0.6, 2.8 * len(pairs)),
                                 squeeze=False)
        for r, (row, pair) in enumerate(zip(axes, pairs, strict=True)):
            for ax, step, fake in zip(row, arrays["steps"], arrays["fake"], strict=True):
                _draw_data_and_samples(ax, mixture, fake, arrays["lo"], arrays["hi"],
                                       size=2.0, pair=pair)
                if r == 0:
                    ax.set_title(f"step {int(step)}")
        title += f"\n(rows: {_projection_note(mixture.dim)})"
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, Path(run_dir) / "snapshots.png")


# ----------------------------------------------------------- discriminator
def discriminator_arrays(config: dict, samples: dict) -> dict:
    """D on the grid, and D* = p_data / (p_data + p_g) on the same grid with p_g the KDE of
    G's samples (the bandwidth chosen as in metrics.kde_bandwidth): the optimum of Prop. 1
    that D is compared with."""
    mixture = GaussianMixture.from_dict(config["mixture"])
    fake = _finite_rows(np.asarray(samples["fake"], np.float64))
    h = kde_bandwidth(fake)
    if mixture.dim == 1:
        points = samples["grid_x"][:, None]
        shape = points.shape[:1]
    else:
        xx, yy = np.meshgrid(samples["grid_x"], samples["grid_y"], indexing="xy")
        points = np.stack([xx.ravel(), yy.ravel()], axis=1)
        shape = xx.shape
    log_p = mixture.log_prob(points)
    log_q = kde_log_prob(points, fake, h)
    d_star = np.exp(log_p - np.logaddexp(log_p, log_q)).reshape(shape)
    return {"d": samples["d_values"], "d_star": d_star, "bandwidth": h,
            "p_g": np.exp(log_q).reshape(shape), "p_data": np.exp(log_p).reshape(shape)}


def plot_discriminator(run_dir: Path, run: tuple | None = None) -> Path | None:
    """D over the data space with D* beside it, real and generated samples (1-D: the paper's
    Figure 1 layout: p_data dotted black, p_g green, D dashed blue). None where samples.npz
    holds no D grid: a packed D, or data of 3 or more dimensions."""
    config, records, samples = _run(run_dir, run)
    if "discriminator.png" in skipped(config, records, samples):
        return None
    mixture = GaussianMixture.from_dict(config["mixture"])
    real, fake, d = samples["real"], samples["fake"], samples["d_values"]
    probability = bool(samples["d_is_probability"])
    label = "D(x)" if probability else "critic output f(x)"
    arrays = discriminator_arrays(config, samples) if probability else None
    if mixture.dim == 1:
        xs = samples["grid_x"]
        fig, ax = plt.subplots(figsize=(8.0, 4.5))
        ax.plot(xs, d, color=REAL, ls="--", lw=2, label=label)
        if probability:
            ax.plot(xs, arrays["d_star"], color=GREY, lw=1.2,
                    label="D* = p_data / (p_data + p_g)")
            ax.axhline(0.5, color=GREY, ls=":", lw=1, label="D = 1/2")
        ax2 = ax.twinx()
        ax2.plot(xs, mixture.prob(xs), color="black", ls=":", lw=2, label="p_data")
        ax2.hist(fake[:, 0], bins=80, range=(xs[0], xs[-1]), density=True, color=OTHER,
                 alpha=0.4, label="p_g (histogram)")
        ax2.set_ylabel("density")
        ax.set_xlabel("x")
        ax.set_ylabel(label)
        ax.set_xlim(xs[0], xs[-1])
        if probability:
            ax.set_ylim(0, 1)
        handles = ax.get_legend_handles_labels()
        handles2 = ax2.get_legend_handles_labels()
        ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper left")
    else:
        xs, ys = samples["grid_x"], samples["grid_y"]
        fig, ax = plt.subplots(figsize=(7.4, 6.0))
        kw = {"vmin": 0.0, "vmax": 1.0} if probability else {}
        mesh = ax.pcolormesh(xs, ys, d, cmap="cividis", shading="auto", rasterized=True, **kw)
        fig.colorbar(mesh, ax=ax, label=label)
        if probability:
            if d.min() < 0.5 < d.max():
                ax.contour(xs, ys, d, levels=[0.5], colors="white", linewidths=1.5)
            ax.contour(xs, ys, arrays["d_star"], levels=[0.1, 0.5, 0.9], colors=PURPLE,
                       linewidths=1.0, linestyles="dashed")
            ax.plot([], [], color="white", lw=1.5, label="D = 1/2")
            ax.plot([], [], color=PURPLE, ls="--", lw=1.0, label="D* = 0.1, 0.5, 0.9")
        ax.scatter(real[:, 0], real[:, 1], s=3, color=REAL, alpha=0.6, label="real",
                   rasterized=True)
        ax.scatter(fake[:, 0], fake[:, 1], s=3, color=FAKE, alpha=0.6, label="G samples",
                   rasterized=True)
        ax.set_aspect("equal")
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.legend(loc="upper right", framealpha=0.9)
    title = f"{label} at step {int(samples['step'])}"
    if probability:
        title += f" and D* (p_g: KDE, h = {arrays['bandwidth']:.3g})"
    ax.set_title(title)
    return save_figure(fig, Path(run_dir) / "discriminator.png")


# --------------------------------------------------------------------- GIF
def make_gif(run_dir: Path, fps: int = 4, run: tuple | None = None) -> Path | None:
    """An animation of G's samples over training (fixed axes; from 3-D on, the pairs of the
    first three coordinates side by side)."""
    config, records, samples = _run(run_dir, run)
    if GIF_FILE in skipped(config, records, samples):
        return None
    mixture = GaussianMixture.from_dict(config["mixture"])
    arrays = snapshot_arrays(samples, mixture, panels=len(samples["snapshot_steps"]))
    pairs = projection_pairs(mixture.dim)
    if mixture.dim <= 2:
        fig, ax = plt.subplots(figsize=(5.5, 5.0) if mixture.dim == 2 else (7.0, 4.0))
        axes = [ax]
    else:
        fig, axes = plt.subplots(1, len(pairs), figsize=(4.0 * len(pairs), 4.3))
    name = _name(config, mixture)

    def frame(i: int) -> None:
        title = f"{name}: G at step {int(arrays['steps'][i])}"
        for ax, pair in zip(axes, pairs or [(0, 1)], strict=True):
            ax.clear()
            _draw_data_and_samples(ax, mixture, arrays["fake"][i], arrays["lo"], arrays["hi"],
                                   size=3.0, pair=pair)
            if mixture.dim <= 2:
                ax.set_title(title)
            else:
                ax.set_title(_pair_label(pair), fontsize=11)
        if mixture.dim > 2:
            fig.suptitle(f"{title} (marginals of {mixture.dim}-D data)")
            if i == 0:  # the axes are fixed: one layout for every frame
                fig.tight_layout()

    return save_gif(fig, frame, len(arrays["steps"]), Path(run_dir) / GIF_FILE, fps=fps)
