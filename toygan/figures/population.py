"""Figures of a population run (toygan.training.population_trainer), drawn from its files alone:

  population_modes.png     histogram of modes covered across members, one bar group per cell
  population_members.png   a thumbnail grid of the members' final G samples (up to 64)
  population_collapse.png  collapse rate per cell with its 95 % Wilson interval

Each figure has an `*_arrays` function that computes what it draws (tested directly).
The thumbnails of data of 3 or more dimensions show its projection on (x1, x2).

population.json and population.npz are read and checked before anything is drawn: a
missing, corrupt or inconsistent one raises runfiles.RunFileError naming it. Figures are
written through style.save_figure (atomically).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..runfiles import RunFileError, load_npz, read_json
from .style import FAKE, GREY, PURPLE, REAL, plt, save_figure

MAX_THUMBNAILS = 64
NPZ_ARRAYS = ("fake", "real", "means", "cell", "diverged")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_population(run_dir: Path) -> dict:
    """population.json, checked for what the figures read (RunFileError naming it)."""
    path = Path(run_dir) / "population.json"
    summary = read_json(path, "a population summary")
    cells, members = summary.get("cells"), summary.get("member_summaries")
    if not isinstance(cells, list) or not cells or not all(isinstance(c, dict) for c in cells):
        raise RunFileError(f"{path} has no 'cells' (a list of one object per grid cell)")
    if not isinstance(members, list) or not members or not all(
            isinstance(m, dict) for m in members):
        raise RunFileError(f"{path} has no 'member_summaries' (a list of one object per member)")
    lengths = set()
    for c, row in enumerate(cells):
        where = f"{path}: cell {c}"
        distribution = row.get("modes_covered_distribution")
        if not isinstance(distribution, list) or not distribution or not all(
                _is_int(v) and v >= 0 for v in distribution):
            raise RunFileError(f"{where}: modes_covered_distribution is not a list of counts")
        lengths.add(len(distribution))
        if not _is_number(row.get("collapse_rate")) or not math.isfinite(row["collapse_rate"]):
            raise RunFileError(f"{where}: collapse_rate is not a number")
        ci = row.get("collapse_rate_ci95")
        if not isinstance(ci, list) or len(ci) != 2 or not all(
                _is_number(v) and math.isfinite(v) for v in ci):
            raise RunFileError(f"{where}: collapse_rate_ci95 is not a pair of numbers")
        if not ci[0] <= row["collapse_rate"] <= ci[1]:
            raise RunFileError(f"{where}: collapse_rate {row['collapse_rate']} lies outside "
                               f"its interval {ci}")
        if not _is_int(row.get("members")) or row["members"] < 0:
            raise RunFileError(f"{where}: members is not a count")
        if "name" not in row:
            raise RunFileError(f"{where} has no name")
    if len(lengths) > 1:
        raise RunFileError(f"{path}: the cells' modes_covered_distribution differ in length")
    for i, member in enumerate(members):
        for key in ("modes_covered", "modes_total"):
            value = member.get(key)
            if value is not None and not (_is_int(value) and value >= 0):
                raise RunFileError(f"{path}: member {i}: {key} is {value!r}, not a count")
    return summary


def load_thumbnails(run_dir: Path, members: int) -> dict[str, np.ndarray]:
    """population.npz, checked against itself and the `members` of population.json."""
    path = Path(run_dir) / "population.npz"
    arrays = load_npz(path, required=NPZ_ARRAYS)
    for key in NPZ_ARRAYS:
        kinds = "biu" if key in ("cell", "diverged") else "fiu"
        if arrays[key].dtype.kind not in kinds:
            raise RunFileError(f"{path}: {key!r} holds {arrays[key].dtype} values, not numbers")
    fake, real, means = arrays["fake"], arrays["real"], arrays["means"]
    if fake.ndim != 3 or real.ndim != 2 or means.ndim != 2:
        raise RunFileError(f"{path}: 'fake' {fake.shape}, 'real' {real.shape} and 'means' "
                           f"{means.shape} should be (members, n, dim), (n, dim), (modes, dim)")
    if not fake.shape[2] == real.shape[1] == means.shape[1] or fake.shape[2] == 0:
        raise RunFileError(f"{path}: 'fake', 'real' and 'means' differ in dimension "
                           f"({fake.shape[2]}, {real.shape[1]}, {means.shape[1]})")
    if len(fake) != members or arrays["cell"].shape != (members,) or \
            arrays["diverged"].shape != (members,):
        raise RunFileError(f"{path}: 'fake', 'cell' and 'diverged' should hold one entry per "
                           f"member ({members} in population.json), got {len(fake)}, "
                           f"{arrays['cell'].shape}, {arrays['diverged'].shape}")
    if len(real) == 0 or len(means) == 0:
        raise RunFileError(f"{path}: 'real' or 'means' is empty")
    points = np.concatenate([real, means])
    if not np.isfinite(points).all():
        raise RunFileError(f"{path}: 'real' or 'means' holds non-finite values")
    return arrays


def modes_arrays(summary: dict) -> dict:
    """Per cell, how many members covered 0, 1, ..., K modes at the end."""
    cells = summary["cells"]
    counts = np.array([row["modes_covered_distribution"] for row in cells], dtype=int)
    return {"names": [row["name"] for row in cells], "counts": counts,
            "modes": np.arange(counts.shape[1])}


def plot_modes(run_dir: Path, summary: dict | None = None) -> Path:
    arrays = modes_arrays(summary or load_population(run_dir))
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
    return save_figure(fig, Path(run_dir) / "population_modes.png")


def members_arrays(run_dir: Path, limit: int = MAX_THUMBNAILS,
                   summary: dict | None = None) -> dict:
    """The first `limit` members' final samples, their cells, seeds and outcome."""
    summary = (summary or load_population(run_dir))["member_summaries"]
    arrays = load_thumbnails(run_dir, len(summary))
    n = min(limit, len(arrays["fake"]))
    return {"fake": arrays["fake"][:n], "real": arrays["real"], "means": arrays["means"],
            "cell": arrays["cell"][:n], "diverged": arrays["diverged"][:n],
            "seed": [m.get("seed", "?") for m in summary[:n]],
            "modes": [m.get("modes_covered") for m in summary[:n]],
            "modes_total": summary[0].get("modes_total") if summary else None}


def plot_members(run_dir: Path, summary: dict | None = None) -> Path:
    a = members_arrays(run_dir, summary=summary)
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
    title = "members' final samples (cell c, seed s: modes covered)"
    if dim > 2:
        title += f"; {dim}-D data, projected on (x1, x2)"
    fig.suptitle(title, fontsize=9, y=1.0 + 0.12 / rows)
    return save_figure(fig, Path(run_dir) / "population_members.png")


def collapse_arrays(summary: dict) -> dict:
    cells = summary["cells"]
    rate = np.array([row["collapse_rate"] for row in cells])
    ci = np.array([row["collapse_rate_ci95"] for row in cells])
    return {"names": [row["name"] for row in cells], "rate": rate, "lower": rate - ci[:, 0],
            "upper": ci[:, 1] - rate, "members": [row["members"] for row in cells]}


def plot_collapse(run_dir: Path, summary: dict | None = None) -> Path:
    a = collapse_arrays(summary or load_population(run_dir))
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
    return save_figure(fig, Path(run_dir) / "population_collapse.png")


def make_population(run_dir: Path) -> list[Path]:
    """The three population figures; population.json and population.npz are read and
    checked before the first is written (RunFileError naming the file)."""
    summary = load_population(run_dir)
    load_thumbnails(run_dir, len(summary["member_summaries"]))
    return [plot_modes(run_dir, summary), plot_members(run_dir, summary),
            plot_collapse(run_dir, summary)]
