"""A population's outcome: the table per cell (collapse rate with its Wilson interval,
modes covered, quality), its text form, and the files the population figures read.
Shared by population runs and sweeps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..core.distributions import GaussianMixture
from ..core.stats import mean_stderr, wilson_interval
from ..runfiles import atomic_save_npz, atomic_write_text


def cell_name(cell: dict) -> str:
    # repr: two distinct floats never print alike (1e-4 and 1.0000001e-4)
    return " ".join(f"{k}={v!r}" for k, v in cell.items()) or "all"


def write_population(out: Path, summary: dict, fake: np.ndarray, real: np.ndarray,
                     mixture: GaussianMixture) -> None:
    """population.json (the summary) and population.npz (each member's final samples, the
    real samples and the modes): what the population figures read."""
    atomic_write_text(Path(out) / "population.json", json.dumps(summary, indent=2) + "\n")
    members = summary["member_summaries"]
    atomic_save_npz(Path(out) / "population.npz", {
        "fake": fake.astype(np.float32), "real": real.astype(np.float32),
        "means": mixture.means, "stds": mixture.stds,
        "cell": np.array([m["cell"] for m in members]),
        "diverged": np.array([m["diverged"] for m in members])})


# ---------------------------------------------------------------- statistics
def collapsed(summary: dict) -> bool:
    """A member collapsed when its final evaluation covers fewer modes than the data has
    (or it diverged): the mode-dropping the toy-mixture literature counts."""
    if summary["diverged"] or summary.get("modes_covered") is None:
        return True
    return summary["modes_covered"] < summary["modes_total"]


def _mean_se(values: list) -> dict:
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(finite) == 0:
        return {"mean": None, "stderr": None, "n": 0}
    if len(finite) == 1:
        return {"mean": float(finite[0]), "stderr": None, "n": 1}
    mean, se = mean_stderr(finite)
    return {"mean": mean, "stderr": se, "n": len(finite)}


def cell_table(members: list[dict], cells: list[dict]) -> list[dict]:
    """Per cell: members, diverged, modes covered (mean, stderr, distribution), collapse
    rate with its 95 % Wilson interval, and the mean (stderr) of the high-quality fraction,
    reverse KL and JSD over the members that did not diverge."""
    table = []
    for c, cell in enumerate(cells):
        ms = [m for m in members if m["cell"] == c]
        n = len(ms)
        fell = sum(collapsed(m) for m in ms)
        lo, hi = wilson_interval(fell, n)
        ok = [m for m in ms if not m["diverged"]]
        total = ms[0]["modes_total"] if ms and ms[0]["modes_total"] else 0
        covered = [m["modes_covered"] for m in ok]
        row = {"cell": c, "name": cell_name(cell), "values": cell, "members": n,
               "diverged": n - len(ok), "collapsed": fell, "collapse_rate": fell / n,
               "collapse_rate_ci95": [lo, hi],
               "modes_covered": _mean_se(covered),
               "modes_covered_distribution": [covered.count(v) for v in range(total + 1)]}
        for key in ("high_quality_fraction", "reverse_kl", "jsd_estimate"):
            row[key] = _mean_se([m[key] for m in ok])
        table.append(row)
    return table


def format_table(summary: dict) -> str:
    """The cell table as aligned text, for the terminal."""
    width = max([24, *(len(row["name"]) for row in summary["cells"])])
    lines = [f"{'cell':<{width}} {'members':>7} {'collapse rate (95% CI)':>24} {'modes':>11} "
             f"{'hq':>6} {'rev KL':>7} {'JSD':>6}"]
    for row in summary["cells"]:
        lo, hi = row["collapse_rate_ci95"]

        def mean(key, fmt, row=row):
            value = row[key]["mean"]
            return "-" if value is None else format(value, fmt)

        modes = mean("modes_covered", ".2f")
        lines.append(f"{row['name']:<{width}} {row['members']:>7} "
                     f"{row['collapse_rate']:>8.2f} [{lo:.2f}, {hi:.2f}]    "
                     f"{modes:>11} {mean('high_quality_fraction', '.3f'):>6} "
                     f"{mean('reverse_kl', '.3f'):>7} {mean('jsd_estimate', '.3f'):>6}")
    return "\n".join(lines)
