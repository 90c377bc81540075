"""The figures of a run's metrics over training: the curves (losses, JSD, modes, D), the
mode mass per mode and the coverage, with the collapse detector's events marked."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.distributions import GaussianMixture
from .panels import _name, _run
from .run_files import _good, skipped
from .style import (
    EVENT_COLOURS,
    FAKE,
    GREY,
    ORANGE,
    OTHER,
    PURPLE,
    REAL,
    plt,
    save_figure,
)


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
