"""What several figures of a run draw alike: the coordinate pairs shown for data of any
dimension, the exact marginal densities on them, and p_data with G's samples on top."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.distributions import GaussianMixture
from .run_files import load_run
from .style import (
    FAKE,
    REAL,
    _finite_rows,
)


# -------------------------------------------------------------- projections
def projection_pairs(dim: int) -> list[tuple[int, int]]:
    """The coordinate pairs a figure shows: none for 1-D data, (x1, x2) for 2-D, and the
    pairs of the first three coordinates from 3-D on."""
    if dim == 1:
        return []
    if dim == 2:
        return [(0, 1)]
    return [(0, 1), (0, 2), (1, 2)]


def marginal(mixture: GaussianMixture, axes: tuple[int, ...]) -> GaussianMixture:
    """The exact marginal density of the mixture on coordinates `axes`: the marginal of an
    axis-aligned Gaussian is the Gaussian of those coordinates, so the marginal of the
    mixture is the mixture of its components' parts, with the same weights."""
    axes = list(axes)
    if axes == list(range(mixture.dim)):
        return mixture
    return GaussianMixture(mixture.means[:, axes], mixture.stds[:, axes], mixture.weights,
                           mixture.name)


def _pair_label(pair: tuple[int, int]) -> str:
    return f"x{pair[0] + 1}, x{pair[1] + 1}"


def _projection_note(dim: int) -> str:
    return (f"projections on pairs of the first 3 of {dim} coordinates, over the exact "
            "marginal densities")


def _density_grid(mixture: GaussianMixture, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    xx, yy = np.meshgrid(xs, ys, indexing="xy")
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)
    return mixture.log_prob(points).reshape(xx.shape)


def _limits(samples: dict, mixture: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    if "grid_x" in samples:
        lo = [samples["grid_x"][0]] + ([samples["grid_y"][0]] if "grid_y" in samples else [])
        hi = [samples["grid_x"][-1]] + ([samples["grid_y"][-1]] if "grid_y" in samples else [])
        return np.array(lo), np.array(hi)
    return mixture.bounds(margin=6.0)


def _draw_data_and_samples(ax, mixture: GaussianMixture, fake: np.ndarray, lo, hi,
                           size: float = 4.0, pair: tuple[int, int] = (0, 1)) -> None:
    """p_data (curve in 1-D, filled log-density contours on the plane of coordinates
    `pair` otherwise: the marginal there, from 3-D on) with G's samples on top."""
    fake = _finite_rows(fake)
    if mixture.dim == 1:
        xs = np.linspace(lo[0], hi[0], 1000)
        ax.plot(xs, mixture.prob(xs), color=REAL, lw=2, label="p_data")
        ax.hist(fake[:, 0], bins=80, range=(lo[0], hi[0]), density=True, color=FAKE,
                alpha=0.55, label="G samples (histogram)")
        ax.set_xlim(lo[0], hi[0])
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        return
    i, j = pair
    xs, ys = np.linspace(lo[i], hi[i], 240), np.linspace(lo[j], hi[j], 240)
    log_p = _density_grid(marginal(mixture, pair), xs, ys)
    ax.contourf(xs, ys, np.maximum(log_p, log_p.max() - 12.0), levels=12, cmap="Blues")
    ax.scatter(fake[:, i], fake[:, j], s=size, color=FAKE, alpha=0.5, label="G samples",
               rasterized=True)
    ax.scatter(mixture.modes[:, i], mixture.modes[:, j], marker="+", s=60, color="black",
               label="modes")
    ax.set_xlim(lo[i], hi[i])
    ax.set_ylim(lo[j], hi[j])
    ax.set_aspect("equal")
    ax.set_xlabel(f"x{i + 1}")
    ax.set_ylabel(f"x{j + 1}")


def _run(run_dir: Path, run: tuple | None) -> tuple[dict, list[dict], dict]:
    return load_run(run_dir) if run is None else run


def _name(config: dict, mixture: GaussianMixture) -> str:
    return str(config.get("preset", mixture.name))
