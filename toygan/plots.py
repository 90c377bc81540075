"""Figures of a run, drawn from its run directory alone (never from live objects).

    python -m toygan.plot RUN_DIR [--gif]

Each figure has an `*_arrays` function that computes what it draws from the files (tested
directly) and a `plot_*` function that draws it. Colours are the Okabe-Ito colour-blind-safe
palette; maps are viridis/cividis; fonts are sized for slides.

Any dimension: 1-D data is drawn as densities and histograms, 2-D data as the plane, and
data of 3 or more dimensions as its projections on the pairs of its first three coordinates
(x1-x2, x1-x3, x2-x3), each over the exact marginal density of the mixture on that pair.
`discriminator.png` needs D on a grid, which samples.npz holds for 1-D and 2-D data only
(and not for a packed D): otherwise it is not drawn (see `skipped`).

The files are read and checked once, before anything is drawn: a missing, corrupt or
inconsistent file raises runfiles.RunFileError naming it, and no figure is written. Every
figure reaches the disk through `save_figure` (the GIF through `save_gif`), atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .distributions import GaussianMixture  # noqa: E402
from .metrics import kde_bandwidth, kde_log_prob  # noqa: E402
from .plot import GIF_FILE, PLOT_FILES  # noqa: E402, F401 (PLOT_FILES: the names drawn here)
from .plot_files import SERIES_KEYS, _good, load_run, skipped  # noqa: E402, F401
from .runfiles import atomic_save_figure, atomic_write_bytes  # noqa: E402

REAL = "#0072B2"  # blue
FAKE = "#D55E00"  # vermillion
OTHER = "#009E73"  # green
PURPLE = "#CC79A7"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREY = "#555555"
EVENT_COLOURS = {"coverage_drop": PURPLE, "entropy_collapse": ORANGE, "mode_hopping": SKY}

plt.rcParams.update({"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12,
                     "legend.fontsize": 10, "figure.dpi": 100})


# ------------------------------------------------------------------ saving
def save_figure(fig, path: Path) -> Path:
    """The one way a figure reaches the disk: written atomically (runfiles.atomic_save_figure:
    a reader sees the old file or the new one, never half of one), at 100 dpi with a tight
    box; the figure is closed either way."""
    try:
        return atomic_save_figure(fig, Path(path), dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def save_gif(fig, draw_frame: Callable[[int], object], frames: int, path: Path,
             fps: int = 4, dpi: int = 80) -> Path:
    """An animated GIF of `frames` frames, frame i drawn on `fig` by draw_frame(i), encoded
    by Pillow in memory and written atomically (runfiles.atomic_write_bytes); the figure
    is closed either way. The frames are those matplotlib's PillowWriter would grab."""
    from PIL import Image

    try:
        fig.set_dpi(dpi)
        images = []
        for i in range(frames):
            draw_frame(i)
            fig.canvas.draw()
            image = Image.fromarray(np.array(fig.canvas.buffer_rgba()), "RGBA")
            # Opaque frames as RGB: Pillow converts them to a palette better (PillowWriter).
            images.append(image if image.getextrema()[3][0] < 255 else image.convert("RGB"))
        buffer = io.BytesIO()
        images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def _finite_rows(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x).all(axis=-1)]


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


# ------------------------------------------------------------------ curves
def series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one metric over the evaluations that logged it."""
    pairs = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    if not pairs:
        return np.array([]), np.array([])
    steps, values = zip(*pairs, strict=True)
    return np.array(steps), np.array(values, dtype=float)


def events(records: list[dict]) -> list[dict]:
    """Collapse events and divergence of a run, each {"step", "kind", "detail"}."""
    out = [e for r in _good(records) for e in r.get("events", [])]
    out += [{"step": r["step"], "kind": "diverged", "detail": r.get("reason", "")}
            for r in records if r.get("diverged")]
    return out


def _mark_events(ax, marks: list[dict], labelled: bool = True) -> None:
    seen = set()
    for event in marks:
        kind = event["kind"]
        colour = EVENT_COLOURS.get(kind, "black")
        style = "--" if kind == "diverged" else ":"
        label = kind.replace("_", " ") if labelled and kind not in seen else None
        ax.axvline(event["step"], color=colour, ls=style, lw=1.4, label=label)
        seen.add(kind)


def _log_lines(ax, records: list[dict], specs) -> None:
    """Positive series on a log axis (zeros and absent metrics are left out)."""
    for key, colour, name in specs:
        steps, values = series(records, key)
        if len(values):
            ax.plot(steps[values > 0], values[values > 0], color=colour, label=name)
    ax.set_yscale("log")


def plot_curves(run_dir: Path, run: tuple | None = None) -> Path:
    """Losses, gradient norms, D's outputs and its gap to D*, mode coverage and quality,
    mode entropy, divergences and distances over training, collapse events marked."""
    config, records, _ = _run(run_dir, run)
    mixture = GaussianMixture.from_dict(config["mixture"])
    good, marks = _good(records), events(records)
    fig, axes = plt.subplots(3, 3, figsize=(17, 12.5), sharex=True)
    ax = axes[0, 0]
    for key, colour, name in (("loss_d", REAL, "D loss"), ("loss_g", FAKE, "G loss")):
        ax.plot(*series(good, key), color=colour, label=name)
    ax.set_ylabel("nats (mean since last eval)")
    ax.set_title(f"losses ({config.get('loss', 'unknown loss')})")
    ax = axes[0, 1]
    _log_lines(ax, good, (("grad_norm_d", REAL, "|grad D|"), ("grad_norm_g", FAKE, "|grad G|")))
    ax.set_ylabel("Euclidean norm of the last gradient")
    ax.set_title("gradient norms")
    ax = axes[0, 2]
    for key, colour, name in (("d_real", REAL, "mean D(x), real"),
                              ("d_fake", FAKE, "mean D(G(z))"),
                              ("d_dstar_gap", OTHER, "mean |D - D*|")):
        ax.plot(*series(good, key), color=colour, label=name)
    if config.get("loss") in ("minimax", "nonsaturating"):
        ax.axhline(0.5, color=GREY, ls=":", lw=1, label="1/2 (equilibrium)")
        ax.set_ylim(-0.02, 1.02)
    ax.set_title("discriminator output and gap to D*")
    ax = axes[1, 0]
    total = good[0].get("modes_total", mixture.n_components) if good else 0
    for key, colour, name in (("modes_covered", REAL, ">= 1 high-quality sample"),
                              ("modes_covered_20", FAKE, ">= 20 samples")):
        ax.step(*series(good, key), where="post", color=colour, label=name)
    ax.axhline(total, color=GREY, ls=":", lw=1, label=f"all {total} modes")
    ax.set_ylim(-0.3, total + 0.5)
    ax.set_ylabel("modes")
    ax.set_title("modes covered")
    ax = axes[1, 1]
    ax.plot(*series(good, "high_quality_fraction"), color=FAKE, label="high-quality fraction")
    for key, colour, name in (("precision", REAL, "precision (k=3)"),
                              ("recall", OTHER, "recall (k=3)"),
                              ("coverage", PURPLE, "coverage (k=5)")):
        ax.plot(*series(good, key), "o-", color=colour, ms=4, label=name)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fraction")
    ax.set_title("sample quality and support overlap")
    ax = axes[1, 2]
    ax.plot(*series(good, "mode_entropy"), color=OTHER, label="H(mode histogram)")
    if total > 1:
        ax.axhline(math.log(total), color=GREY, ls=":", lw=1, label=f"log {total} (uniform)")
        ax.axhline(0.5 * math.log(total), color=ORANGE, ls=":", lw=1,
                   label="collapse threshold")
    ax.plot(*series(good, "reverse_kl"), color=PURPLE, label="reverse KL to weights")
    ax.set_ylabel("nats")
    ax.set_title("mode histogram entropy and reverse KL")
    ax = axes[2, 0]
    steps, jsd = series(good, "jsd_estimate")
    _, err = series(good, "jsd_stderr")
    ax.plot(steps, jsd, color=OTHER, label="JSD(p_data, p_g)")
    if len(err) == len(jsd):
        ax.fill_between(steps, jsd - 2 * err, jsd + 2 * err, color=OTHER, alpha=0.25)
    ax.axhline(math.log(2), color=GREY, ls=":", lw=1, label="log 2 (disjoint)")
    _log_lines(ax, good, (("kl_data_g", REAL, "KL(p_data || p_g)"),
                          ("kl_g_data", FAKE, "KL(p_g || p_data)")))
    ax.set_ylabel("nats (p_g: KDE of G's samples)")
    ax.set_title("divergences (JSD band: 2 s.e.)")
    ax = axes[2, 1]
    _log_lines(ax, good, (("wasserstein1", REAL, "W1 (exact)"),
                          ("sliced_wasserstein1", REAL, "sliced W1"),
                          ("frechet", FAKE, "Frechet of Gaussian fits")))
    ax.set_ylabel("data units (Frechet: squared)")
    ax.set_title("transport distances")
    ax = axes[2, 2]
    ax.plot(*series(good, "parzen_loglik"), "o-", color=REAL, ms=4,
            label="Parzen log-lik. of test data")
    ax.plot(*series(good, "loglik_test_exact"), "s", color=GREY, ms=4,
            label="exact log-lik. of test data")
    ax.set_ylabel("nats per sample")
    ax.set_title("log-likelihoods: exact and the paper's Parzen estimate")
    lows = [v for key in ("loglik_test_exact", "parzen_loglik")
            for v in series(good, key)[1] if math.isfinite(v)]
    if lows:
        ax.set_ylim(min(lows) - 3.0, max(lows) + 1.0)
    # G's own samples under p_data reach -1e3 nats while G is far off: their own axis.
    right = ax.twinx()
    right.plot(*series(good, "loglik_data_of_g"), color=FAKE, label="E_G[log p_data] (exact)")
    right.set_yscale("symlog")
    right.set_ylabel("E_G[log p_data], symlog", color=FAKE)
    right.legend(loc="center right", framealpha=0.85)
    for i, ax in enumerate(axes.ravel()):
        _mark_events(ax, marks, labelled=i == 0)
        ax.legend(loc="best", framealpha=0.85)
        ax.grid(alpha=0.3)
    for ax in axes[2]:
        ax.set_xlabel("iteration")
    fig.suptitle(f"{_name(config, mixture)}, seed {config.get('seed', '?')}: training diagnostics "
                 "(dotted verticals: collapse events)", fontsize=15)
    fig.tight_layout()
    return save_figure(fig, Path(run_dir) / "curves.png")


# -------------------------------------------------------------- mode mass
def mode_mass_arrays(records: list[dict]) -> dict:
    """Steps and the (modes, evaluations) matrix of each mode's share of all samples."""
    good = [r for r in _good(records) if "mode_mass" in r]
    if not good:
        return {"steps": np.array([]), "mass": np.zeros((0, 0))}
    return {"steps": np.array([r["step"] for r in good]),
            "mass": np.array([r["mode_mass"] for r in good]).T}


def plot_mode_mass(run_dir: Path, run: tuple | None = None) -> Path | None:
    """Per-mode mass over training as a heatmap: a collapsed G is one bright row, mode
    rotation a bright cell that moves from row to row."""
    config, records, samples = _run(run_dir, run)
    if "mode_mass.png" in skipped(config, records, samples):
        return None
    arrays = mode_mass_arrays(records)
    mixture = GaussianMixture.from_dict(config["mixture"])
    steps, mass = arrays["steps"], arrays["mass"]
    k = mass.shape[0]
    fig, ax = plt.subplots(figsize=(11, max(3.5, 0.22 * k + 2.0)))
    edges = np.concatenate([steps, [steps[-1] + (steps[-1] - steps[-2] if len(steps) > 1 else 1)]])
    mesh = ax.pcolormesh(edges, np.arange(k + 1) - 0.5, mass, cmap="viridis", shading="flat",
                         vmin=0.0, vmax=max(float(mass.max()), float(mixture.weights.max())))
    fig.colorbar(mesh, ax=ax, label="share of all G samples")
    ax.set_ylabel("mode index")
    ax.set_xlabel("iteration (each column: one evaluation)")
    ax.set_ylim(k - 0.5, -0.5)
    for event in events(records):
        if event["kind"] == "mode_hopping":
            ax.axvline(event["step"], color="white", ls=":", lw=1.2)
    ax.set_title(f"{_name(config, mixture)}: mass per mode over training "
                 f"(true share {mixture.weights.min():.3g}"
                 + (f"-{mixture.weights.max():.3g}" if np.ptp(mixture.weights) else "")
                 + "; dotted: mode hopping)")
    return save_figure(fig, Path(run_dir) / "mode_mass.png")


# ---------------------------------------------------------------- coverage
def coverage_arrays(config: dict, records: list[dict]) -> dict:
    """At the last good evaluation: each mode's share of the high-quality samples against
    its true weight, and the fraction of samples that are of high quality at all."""
    good = [r for r in _good(records) if "mode_histogram" in r]
    mixture = GaussianMixture.from_dict(config["mixture"])
    counts = np.array(good[-1]["mode_histogram"], dtype=float)
    share = counts / counts.sum() if counts.sum() else counts
    return {"step": good[-1]["step"], "share": share, "weights": mixture.weights,
            "high_quality_fraction": good[-1].get("high_quality_fraction")}


def plot_coverage(run_dir: Path, run: tuple | None = None) -> Path | None:
    """Final mass per mode (bars) against the true weights (black ticks)."""
    config, records, samples = _run(run_dir, run)
    if "coverage.png" in skipped(config, records, samples):
        return None
    arrays = coverage_arrays(config, records)
    k = len(arrays["share"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * k + 3.0), 4.2))
    index = np.arange(k)
    missed = arrays["share"] == 0
    ax.bar(index, arrays["share"], color=np.where(missed, GREY, REAL), width=0.8,
           label="G: share of high-quality samples")
    ax.scatter(index, arrays["weights"], marker="_", s=400, color="black", lw=2.5,
               label="true weight", zorder=3)
    ax.scatter(index[missed], np.zeros(missed.sum()), marker="x", color=FAKE, s=50, zorder=4,
               label="mode missed")
    ax.set_xlabel("mode index")
    ax.set_ylabel("share")
    ax.set_ylim(0, 1.4 * max(float(arrays["share"].max()), float(arrays["weights"].max())))
    ax.set_xticks(index if k <= 30 else index[:: math.ceil(k / 30)])
    quality = arrays["high_quality_fraction"]
    quality = "n/a" if quality is None or not math.isfinite(quality) else f"{quality:.0%}"
    ax.set_title(f"coverage at step {arrays['step']}: {k - int(missed.sum())}/{k} modes, "
                 f"{quality} of samples of high quality")
    ax.legend(loc="upper center", ncol=3, fontsize=9, framealpha=0.9)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, Path(run_dir) / "coverage.png")




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


FIGURES = (("samples.png", plot_samples), ("snapshots.png", plot_snapshots),
           ("discriminator.png", plot_discriminator), ("curves.png", plot_curves),
           ("mode_mass.png", plot_mode_mass), ("coverage.png", plot_coverage))


def make_all(run_dir: Path, gif: bool = False,
             note: Callable[[str], object] | None = None) -> list[Path]:
    """Every figure the run's files allow (and the GIF when asked); returns the paths.

    The files are read and checked first (RunFileError before anything is written). A
    figure the files do not allow (see `skipped`) is not drawn, and a file of that name
    left by an earlier run is removed, so that the directory never shows a figure of other
    data; `note`, when given, hears one line for each."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    missing = skipped(*run)
    makers = [*FIGURES, *([(GIF_FILE, make_gif)] if gif else [])]
    paths = [make(run_dir, run=run) for name, make in makers if name not in missing]
    for name, _ in makers:
        if name not in missing:
            continue
        stale = run_dir / name
        removed = stale.is_file()
        if removed:
            stale.unlink()
        if note is not None:
            note(f"{name} not drawn: {missing[name]}"
                 + ("; removed the one left by an earlier run" if removed else ""))
    return [p for p in paths if p is not None]
