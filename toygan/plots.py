"""Figures of a run, drawn from its run directory alone (never from live objects).

    python -m toygan.plot RUN_DIR [--gif]

Each figure has an `*_arrays` function that computes what it draws from the files (tested
directly) and a `plot_*` function that draws it. Colours are the Okabe-Ito colour-blind-safe
palette; maps are viridis/cividis; fonts are sized for slides.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .distributions import GaussianMixture  # noqa: E402
from .metrics import kde_bandwidth, kde_log_prob  # noqa: E402
from .plot import GIF_FILE, PLOT_FILES  # noqa: E402, F401 (PLOT_FILES: the names drawn here)

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


# ------------------------------------------------------------------ files
def load_run(run_dir: Path) -> tuple[dict, list[dict], dict]:
    """config, metrics records and samples.npz of a run (plus snapshots.npz when present,
    under the keys snapshot_steps and snapshot_fake)."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    with np.load(run_dir / "samples.npz", allow_pickle=False) as data:
        samples = {key: data[key] for key in data.files}
    snapshots = run_dir / "snapshots.npz"
    if snapshots.is_file():
        with np.load(snapshots, allow_pickle=False) as data:
            samples["snapshot_steps"], samples["snapshot_fake"] = data["steps"], data["fake"]
    return config, records, samples


def _save(fig, path: Path) -> Path:
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def _good(records: list[dict]) -> list[dict]:
    return [r for r in records if not r.get("diverged")]


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
                           size: float = 4.0) -> None:
    """p_data (curve in 1-D, filled log-density contours in 2-D) with G's samples on top."""
    if mixture.dim == 1:
        xs = np.linspace(lo[0], hi[0], 1000)
        ax.plot(xs, mixture.prob(xs), color=REAL, lw=2, label="p_data")
        ax.hist(fake[:, 0], bins=80, range=(lo[0], hi[0]), density=True, color=FAKE,
                alpha=0.55, label="G samples (histogram)")
        ax.set_xlim(lo[0], hi[0])
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        return
    xs, ys = np.linspace(lo[0], hi[0], 240), np.linspace(lo[1], hi[1], 240)
    log_p = _density_grid(mixture, xs, ys)
    ax.contourf(xs, ys, np.maximum(log_p, log_p.max() - 12.0), levels=12, cmap="Blues")
    ax.scatter(fake[:, 0], fake[:, 1], s=size, color=FAKE, alpha=0.5, label="G samples",
               rasterized=True)
    ax.scatter(mixture.modes[:, 0], mixture.modes[:, 1], marker="+", s=60, color="black",
               label="modes")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


# ---------------------------------------------------------- final samples
def plot_samples(run_dir: Path) -> Path:
    """G's samples over the data density, at the last good evaluation."""
    config, _, samples = load_run(run_dir)
    mixture = GaussianMixture.from_dict(config["mixture"])
    fake, step = samples["fake"], int(samples["step"])
    lo, hi = _limits(samples, mixture)
    fig, ax = plt.subplots(figsize=(6.4, 5.6) if mixture.dim == 2 else (7.5, 4.2))
    _draw_data_and_samples(ax, mixture, fake, lo, hi)
    ax.set_title(f"{config['preset']}: {len(fake)} samples of G at step {step}")
    ax.legend(loc="upper right", framealpha=0.9)
    return _save(fig, Path(run_dir) / "samples.png")


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
    every = fake.reshape(-1, fake.shape[-1])
    lo = np.maximum(np.minimum(lo, np.percentile(every, 1, axis=0)), lo - span)
    hi = np.minimum(np.maximum(hi, np.percentile(every, 99, axis=0)), hi + span)
    pad = 0.05 * (hi - lo)
    return {"index": chosen, "steps": steps[chosen], "fake": fake[chosen],
            "lo": lo - pad, "hi": hi + pad}


def plot_snapshots(run_dir: Path) -> Path | None:
    """A grid of G's samples at evenly spaced steps, on fixed axes."""
    config, _, samples = load_run(run_dir)
    if "snapshot_steps" not in samples or len(samples["snapshot_steps"]) == 0:
        return None
    mixture = GaussianMixture.from_dict(config["mixture"])
    arrays = snapshot_arrays(samples, mixture)
    n = len(arrays["steps"])
    cols = min(4, n)
    rows = math.ceil(n / cols)
    size = (3.4 * cols, 3.3 * rows) if mixture.dim == 2 else (4.2 * cols, 2.8 * rows)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for ax, step, fake in zip(axes.ravel(), arrays["steps"], arrays["fake"], strict=False):
        _draw_data_and_samples(ax, mixture, fake, arrays["lo"], arrays["hi"], size=2.0)
        ax.set_title(f"step {int(step)}")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{config['preset']}: G's samples during training "
                 f"({arrays['fake'].shape[1]} per panel, fixed axes)")
    fig.tight_layout()
    return _save(fig, Path(run_dir) / "snapshots.png")


# ----------------------------------------------------------- discriminator
def discriminator_arrays(config: dict, samples: dict) -> dict:
    """D on the grid, and D* = p_data / (p_data + p_g) on the same grid with p_g the KDE of
    G's samples (the bandwidth chosen as in metrics.kde_bandwidth): the optimum of Prop. 1
    that D is compared with."""
    mixture = GaussianMixture.from_dict(config["mixture"])
    fake = np.asarray(samples["fake"], np.float64)
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


def plot_discriminator(run_dir: Path) -> Path | None:
    """D over the data space with D* beside it, real and generated samples (1-D: the paper's
    Figure 1 layout: p_data dotted black, p_g green, D dashed blue)."""
    config, _, samples = load_run(run_dir)
    if "d_values" not in samples:
        return None  # a packed D (PacGAN) has no value at a single point
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
    return _save(fig, Path(run_dir) / "discriminator.png")


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


def plot_curves(run_dir: Path) -> Path:
    """Losses, gradient norms, D's outputs and its gap to D*, mode coverage and quality,
    mode entropy, divergences and distances over training, collapse events marked."""
    config, records, _ = load_run(run_dir)
    good, marks = _good(records), events(records)
    fig, axes = plt.subplots(3, 3, figsize=(17, 12.5), sharex=True)
    ax = axes[0, 0]
    for key, colour, name in (("loss_d", REAL, "D loss"), ("loss_g", FAKE, "G loss")):
        ax.plot(*series(good, key), color=colour, label=name)
    ax.set_ylabel("nats (mean since last eval)")
    ax.set_title(f"losses ({config['loss']})")
    ax = axes[0, 1]
    _log_lines(ax, good, (("grad_norm_d", REAL, "|grad D|"), ("grad_norm_g", FAKE, "|grad G|")))
    ax.set_ylabel("Euclidean norm of the last gradient")
    ax.set_title("gradient norms")
    ax = axes[0, 2]
    for key, colour, name in (("d_real", REAL, "mean D(x), real"),
                              ("d_fake", FAKE, "mean D(G(z))"),
                              ("d_dstar_gap", OTHER, "mean |D - D*|")):
        ax.plot(*series(good, key), color=colour, label=name)
    if config["loss"] in ("minimax", "nonsaturating"):
        ax.axhline(0.5, color=GREY, ls=":", lw=1, label="1/2 (equilibrium)")
        ax.set_ylim(-0.02, 1.02)
    ax.set_title("discriminator output and gap to D*")
    ax = axes[1, 0]
    total = good[0]["modes_total"] if good else 0
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
            for v in series(good, key)[1]]
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
    fig.suptitle(f"{config['preset']}, seed {config['seed']}: training diagnostics "
                 "(dotted verticals: collapse events)", fontsize=15)
    fig.tight_layout()
    return _save(fig, Path(run_dir) / "curves.png")


# -------------------------------------------------------------- mode mass
def mode_mass_arrays(records: list[dict]) -> dict:
    """Steps and the (modes, evaluations) matrix of each mode's share of all samples."""
    good = [r for r in _good(records) if "mode_mass" in r]
    if not good:
        return {"steps": np.array([]), "mass": np.zeros((0, 0))}
    return {"steps": np.array([r["step"] for r in good]),
            "mass": np.array([r["mode_mass"] for r in good]).T}


def plot_mode_mass(run_dir: Path) -> Path | None:
    """Per-mode mass over training as a heatmap: a collapsed G is one bright row, mode
    rotation a bright cell that moves from row to row."""
    config, records, _ = load_run(run_dir)
    arrays = mode_mass_arrays(records)
    if arrays["mass"].size == 0:
        return None
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
    ax.set_title(f"{config['preset']}: mass per mode over training "
                 f"(true share {mixture.weights.min():.3g}"
                 + (f"-{mixture.weights.max():.3g}" if np.ptp(mixture.weights) else "")
                 + "; dotted: mode hopping)")
    return _save(fig, Path(run_dir) / "mode_mass.png")


# ---------------------------------------------------------------- coverage
def coverage_arrays(config: dict, records: list[dict]) -> dict:
    """At the last good evaluation: each mode's share of the high-quality samples against
    its true weight, and the fraction of samples that are of high quality at all."""
    good = [r for r in _good(records) if "mode_histogram" in r]
    mixture = GaussianMixture.from_dict(config["mixture"])
    counts = np.array(good[-1]["mode_histogram"], dtype=float)
    share = counts / counts.sum() if counts.sum() else counts
    return {"step": good[-1]["step"], "share": share, "weights": mixture.weights,
            "high_quality_fraction": good[-1]["high_quality_fraction"]}


def plot_coverage(run_dir: Path) -> Path | None:
    """Final mass per mode (bars) against the true weights (black ticks)."""
    config, records, _ = load_run(run_dir)
    if not any("mode_histogram" in r for r in _good(records)):
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
    ax.set_title(f"coverage at step {arrays['step']}: {k - int(missed.sum())}/{k} modes, "
                 f"{arrays['high_quality_fraction']:.0%} of samples of high quality")
    ax.legend(loc="upper center", ncol=3, fontsize=9, framealpha=0.9)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(run_dir) / "coverage.png")


# --------------------------------------------------------------------- GIF
def make_gif(run_dir: Path, fps: int = 4) -> Path | None:
    """An animation of G's samples over training (Pillow writer, fixed axes)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    config, _, samples = load_run(run_dir)
    if "snapshot_steps" not in samples or len(samples["snapshot_steps"]) == 0:
        return None
    mixture = GaussianMixture.from_dict(config["mixture"])
    arrays = snapshot_arrays(samples, mixture, panels=len(samples["snapshot_steps"]))
    fig, ax = plt.subplots(figsize=(5.5, 5.0) if mixture.dim == 2 else (7.0, 4.0))

    def frame(i: int):
        ax.clear()
        _draw_data_and_samples(ax, mixture, arrays["fake"][i], arrays["lo"], arrays["hi"],
                               size=3.0)
        ax.set_title(f"{config['preset']}: G at step {int(arrays['steps'][i])}")
        return []

    animation = FuncAnimation(fig, frame, frames=len(arrays["steps"]), blit=False)
    path = Path(run_dir) / GIF_FILE
    tmp = path.with_name("." + path.name + ".tmp.gif")
    animation.save(tmp, writer=PillowWriter(fps=fps), dpi=80)
    plt.close(fig)
    tmp.replace(path)
    return path


def make_all(run_dir: Path, gif: bool = False) -> list[Path]:
    """Every figure the run's files allow (and the GIF when asked); returns the paths."""
    makers = [plot_samples, plot_snapshots, plot_discriminator, plot_curves, plot_mode_mass,
              plot_coverage]
    if gif:
        makers.append(make_gif)
    paths = [make(run_dir) for make in makers]
    return [p for p in paths if p is not None]
