"""Figures of a run, drawn from its run directory alone (never from live objects).

    python -m toygan.plots RUN_DIR     # (re)draws samples.png, discriminator.png, curves.png

Colours are the Okabe-Ito colour-blind-safe palette; maps are viridis/cividis.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .distributions import GaussianMixture  # noqa: E402

REAL = "#0072B2"  # blue
FAKE = "#D55E00"  # vermillion
OTHER = "#009E73"  # green
GREY = "#555555"
PLOT_FILES = ("samples.png", "discriminator.png", "curves.png")

plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "figure.dpi": 100})


def load_run(run_dir: Path) -> tuple[dict, list[dict], dict]:
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    with np.load(run_dir / "samples.npz", allow_pickle=False) as data:
        samples = {key: data[key] for key in data.files}
    return config, records, samples


def _save(fig, path: Path) -> Path:
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


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


def plot_samples(run_dir: Path) -> Path:
    """G's samples over the data density."""
    config, _, samples = load_run(run_dir)
    mixture = GaussianMixture.from_dict(config["mixture"])
    fake, step = samples["fake"], int(samples["step"])
    lo, hi = _limits(samples, mixture)
    fig, ax = plt.subplots(figsize=(6.4, 5.6) if mixture.dim == 2 else (7.5, 4.2))
    if mixture.dim == 1:
        xs = np.linspace(lo[0], hi[0], 1000)
        ax.plot(xs, mixture.prob(xs), color=REAL, lw=2, label="p_data")
        ax.hist(fake[:, 0], bins=80, range=(lo[0], hi[0]), density=True, color=FAKE,
                alpha=0.55, label="G samples (histogram)")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.set_xlim(lo[0], hi[0])
    else:
        xs, ys = np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300)
        log_p = _density_grid(mixture, xs, ys)
        floor = log_p.max() - 12.0
        ax.contourf(xs, ys, np.maximum(log_p, floor), levels=12, cmap="Blues")
        ax.scatter(fake[:, 0], fake[:, 1], s=4, color=FAKE, alpha=0.5, label="G samples")
        ax.scatter(mixture.modes[:, 0], mixture.modes[:, 1], marker="+", s=80, color="black",
                   label="modes")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    ax.set_title(f"{config['preset']}: {len(fake)} samples of G at step {step}")
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    return _save(fig, Path(run_dir) / "samples.png")


def plot_discriminator(run_dir: Path) -> Path:
    """D over the data space with real and generated samples (1-D: the paper's Figure 1)."""
    config, _, samples = load_run(run_dir)
    mixture = GaussianMixture.from_dict(config["mixture"])
    real, fake, d = samples["real"], samples["fake"], samples["d_values"]
    probability = bool(samples["d_is_probability"])
    label = "D(x)" if probability else "critic output f(x)"
    if mixture.dim == 1:
        xs = samples["grid_x"]
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        ax.plot(xs, d, color=OTHER, lw=2, label=label)
        if probability:
            ax.axhline(0.5, color=GREY, ls=":", lw=1, label="D = 1/2")
        ax2 = ax.twinx()
        ax2.plot(xs, mixture.prob(xs), color=REAL, ls="--", lw=1.5, label="p_data")
        ax2.hist(fake[:, 0], bins=80, range=(xs[0], xs[-1]), density=True, color=FAKE,
                 alpha=0.4, label="p_g (histogram)")
        ax2.set_ylabel("density")
        ax.set_xlabel("x")
        ax.set_ylabel(label)
        ax.set_xlim(xs[0], xs[-1])
        if probability:
            ax.set_ylim(0, 1)
        handles = ax.get_legend_handles_labels()
        handles2 = ax2.get_legend_handles_labels()
        ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], fontsize=9, loc="upper left")
    else:
        xs, ys = samples["grid_x"], samples["grid_y"]
        fig, ax = plt.subplots(figsize=(7.0, 5.6))
        kw = {"vmin": 0.0, "vmax": 1.0} if probability else {}
        mesh = ax.pcolormesh(xs, ys, d, cmap="cividis", shading="auto", **kw)
        fig.colorbar(mesh, ax=ax, label=label)
        if probability and d.min() < 0.5 < d.max():
            ax.contour(xs, ys, d, levels=[0.5], colors="white", linewidths=1.2)
        ax.scatter(real[:, 0], real[:, 1], s=3, color=REAL, alpha=0.6, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=3, color=FAKE, alpha=0.6, label="G samples")
        ax.set_aspect("equal")
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    title = f"{label} at step {int(samples['step'])}"
    if probability:
        title += " (white/dotted: D = 1/2)"
    ax.set_title(title)
    return _save(fig, Path(run_dir) / "discriminator.png")


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    if not pairs:
        return np.array([]), np.array([])
    steps, values = zip(*pairs, strict=True)
    return np.array(steps), np.array(values, dtype=float)


def plot_curves(run_dir: Path) -> Path:
    """Losses, D's outputs, modes covered, high-quality fraction and JSD over training."""
    config, records, _ = load_run(run_dir)
    good = [r for r in records if not r.get("diverged")]
    events = [r for r in records if r.get("diverged")]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    (ax_loss, ax_d), (ax_modes, ax_jsd) = axes
    for key, color, name in (("loss_d", REAL, "D loss"), ("loss_g", FAKE, "G loss")):
        ax_loss.plot(*_series(good, key), color=color, label=name)
    ax_loss.set_ylabel("loss (nats, mean since last eval)")
    ax_loss.set_title(f"losses ({config['loss']})")
    for key, color, name in (("d_real", REAL, "mean D(x), real"),
                             ("d_fake", FAKE, "mean D(G(z))"),
                             ("d_dstar_gap", OTHER, "mean |D - D*| (p_g: KDE)")):
        ax_d.plot(*_series(good, key), color=color, label=name)
    if config["loss"] in ("minimax", "nonsaturating"):
        ax_d.axhline(0.5, color=GREY, ls=":", lw=1, label="1/2 (equilibrium)")
        ax_d.set_ylim(-0.02, 1.02)
    ax_d.set_title("discriminator output on the evaluation sets")
    steps, covered = _series(good, "modes_covered")
    total = good[0]["modes_total"] if good else 0
    ax_modes.step(steps, covered, where="post", color=REAL, label="modes covered")
    ax_modes.axhline(total, color=GREY, ls=":", lw=1, label=f"all {total} modes")
    ax_modes.set_ylim(-0.3, total + 0.5)
    ax_modes.set_ylabel("modes")
    hq_ax = ax_modes.twinx()
    hq_ax.plot(*_series(good, "high_quality_fraction"), color=FAKE, label="high-quality fraction")
    hq_ax.set_ylim(-0.02, 1.02)
    hq_ax.set_ylabel("fraction of samples within 3 std")
    ax_modes.set_title("mode coverage and sample quality")
    steps, jsd = _series(good, "jsd_estimate")
    _, err = _series(good, "jsd_stderr")
    ax_jsd.plot(steps, jsd, color=OTHER, label="JSD(p_data, KDE of p_g)")
    if len(err) == len(jsd):
        ax_jsd.fill_between(steps, jsd - 2 * err, jsd + 2 * err, color=OTHER, alpha=0.25)
    ax_jsd.axhline(np.log(2), color=GREY, ls=":", lw=1, label="log 2 (disjoint)")
    ax_jsd.set_ylabel("nats")
    ax_jsd.set_title("Jensen-Shannon divergence estimate (band: 2 s.e.)")
    for ax in axes.ravel():
        for event in events:
            ax.axvline(event["step"], color="black", ls="--", lw=1.2, label="diverged")
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("iteration")
    hq_ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{config['preset']}, seed {config['seed']}", fontsize=13)
    fig.tight_layout()
    return _save(fig, Path(run_dir) / "curves.png")


def make_all(run_dir: Path) -> list[Path]:
    return [plot_samples(run_dir), plot_discriminator(run_dir), plot_curves(run_dir)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m toygan.plots RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    if not (run_dir / "samples.npz").is_file():
        print(f"error: {run_dir} is not a finished run (no samples.npz)", file=sys.stderr)
        return 2
    for path in make_all(run_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
