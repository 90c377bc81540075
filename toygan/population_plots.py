"""Figures of a population run (toygan.population), drawn from its files alone:

  population_modes.png     histogram of modes covered across members, one bar group per cell
  population_members.png   a thumbnail grid of the members' final G samples (up to 64)
  population_collapse.png  collapse rate per cell with its 95 % Wilson interval

Each figure has an `*_arrays` function that computes what it draws (tested directly).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .plots import FAKE, GREY, PURPLE, REAL, _save, plt
from .population import POPULATION_PLOT_FILES  # noqa: F401 (the names drawn here)

MAX_THUMBNAILS = 64


def load_population(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "population.json").read_text())


def modes_arrays(summary: dict) -> dict:
    """Per cell, how many members covered 0, 1, ..., K modes at the end."""
    cells = summary["cells"]
    counts = np.array([row["modes_covered_distribution"] for row in cells], dtype=int)
    return {"names": [row["name"] for row in cells], "counts": counts,
            "modes": np.arange(counts.shape[1])}


def plot_modes(run_dir: Path) -> Path:
    arrays = modes_arrays(load_population(run_dir))
    counts, names, modes = arrays["counts"], arrays["names"], arrays["modes"]
    n_cells = len(names)
    width = 0.8 / n_cells
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(modes) + 3), 4.2))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, n_cells))
    for c in range(n_cells):
        ax.bar(modes + (c - (n_cells - 1) / 2) * width, counts[c], width=width,
               color=colours[c] if n_cells > 1 else REAL, label=names[c])
    ax.set_xlabel("modes covered at the end")
    ax.set_ylabel("members")
    ax.set_xticks(modes if len(modes) <= 30 else modes[:: math.ceil(len(modes) / 30)])
    ax.set_title(f"modes covered across {int(counts.sum())} members")
    if n_cells > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(run_dir) / "population_modes.png")


def members_arrays(run_dir: Path, limit: int = MAX_THUMBNAILS) -> dict:
    """The first `limit` members' final samples, their cells, seeds and outcome."""
    with np.load(Path(run_dir) / "population.npz") as data:
        arrays = {key: data[key] for key in data.files}
    summary = load_population(run_dir)["member_summaries"]
    n = min(limit, len(arrays["fake"]))
    return {"fake": arrays["fake"][:n], "real": arrays["real"], "means": arrays["means"],
            "cell": arrays["cell"][:n], "diverged": arrays["diverged"][:n],
            "seed": [m["seed"] for m in summary[:n]],
            "modes": [m["modes_covered"] for m in summary[:n]],
            "modes_total": summary[0]["modes_total"] if summary else None}


def plot_members(run_dir: Path) -> Path:
    a = members_arrays(run_dir)
    n = len(a["fake"])
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
    dim = a["real"].shape[1]
    points = np.concatenate([a["real"], a["means"]])
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.25 * (hi - lo) + 1e-9
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        fake = a["fake"][i]
        fake = fake[np.isfinite(fake).all(axis=1)]
        if dim == 1:
            ax.hist(fake[:, 0], bins=40, range=(lo[0] - pad[0], hi[0] + pad[0]), color=FAKE)
        else:
            ax.scatter(fake[:, 0], fake[:, 1], s=1, color=FAKE, alpha=0.5)
            ax.scatter(a["means"][:, 0], a["means"][:, 1], s=8, marker="x", color=REAL)
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        label = f"c{a['cell'][i]} s{a['seed'][i]}"
        if a["diverged"][i]:
            label += " diverged"
        elif a["modes"][i] is not None:
            label += f": {a['modes'][i]}/{a['modes_total']}"
        ax.set_title(label, fontsize=7, color=PURPLE if a["diverged"][i] else GREY)
    fig.tight_layout()
    fig.suptitle("members' final samples (cell c, seed s: modes covered)", fontsize=9,
                 y=1.0 + 0.12 / rows)
    return _save(fig, Path(run_dir) / "population_members.png")


def collapse_arrays(summary: dict) -> dict:
    cells = summary["cells"]
    rate = np.array([row["collapse_rate"] for row in cells])
    ci = np.array([row["collapse_rate_ci95"] for row in cells])
    return {"names": [row["name"] for row in cells], "rate": rate, "lower": rate - ci[:, 0],
            "upper": ci[:, 1] - rate, "members": [row["members"] for row in cells]}


def plot_collapse(run_dir: Path) -> Path:
    a = collapse_arrays(load_population(run_dir))
    index = np.arange(len(a["names"]))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(index) + 2), 4.2))
    ax.errorbar(index, a["rate"], yerr=[a["lower"], a["upper"]], fmt="o", color=FAKE,
                ecolor=GREY, capsize=5, lw=1.5)
    ax.set_xticks(index)
    ax.set_xticklabels([f"{name}\n(n={n})" for name, n in zip(a["names"], a["members"],
                                                              strict=True)], fontsize=8)
    ax.set_xlim(-0.6, len(index) - 0.4)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("collapse rate (fewer modes than the data)")
    ax.set_title("collapse rate per cell, 95 % Wilson interval")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(run_dir) / "population_collapse.png")


def make_population(run_dir: Path) -> list[Path]:
    return [plot_modes(run_dir), plot_members(run_dir), plot_collapse(run_dir)]
