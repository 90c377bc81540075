"""The PacGAN / VEEGAN mode-collapse table (`python -m toygan.reproduce`): per pack size,
modes covered, high-quality samples and reverse KL, mean +- standard error over seeds, at
one or more training lengths, beside the published rows and their length."""

from __future__ import annotations

import math

import numpy as np

from ..core.stats import mean_stderr
from .evaluation import summarise_records

# PacGAN Table 1 (mean +- standard error over 10 seeds): modes, high-quality %, reverse KL.
PUBLISHED = {
    "ring8_pacgan": {"GAN": (6.3, 0.5, 98.2, 0.2, 0.45, 0.09),
                     "PacGAN2": (7.9, 0.1, 95.6, 2.0, 0.07, 0.03)},
    "grid25": {"GAN": (17.3, 0.8, 94.8, 0.7, 0.70, 0.07)},
}
# PacGAN's configurations for Table 1: 400 epochs of 1000 iterations at minibatch 100.
PUBLISHED_ITERATIONS = 400_000
# What the table reads from each run's summary.json (both counting rules: runs are shared).
TABLE_KEYS = ("modes_covered", "high_quality_fraction", "reverse_kl")


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n); 0 for one value)."""
    a = np.asarray(values, dtype=float)
    if len(a) < 2:
        return (float(a[0]), 0.0) if len(a) else (math.nan, math.nan)
    return mean_stderr(a)


def summary_at(records: list[dict], step: int) -> dict:
    """A run's outcome as if it had stopped after `step` iterations: the summary of its
    metrics records up to that step (diverged if it had diverged by then)."""
    upto = [r for r in records if r["step"] <= step]
    summary = summarise_records(upto)
    summary["diverged"] = any(bool(r.get("diverged")) for r in upto)
    summary["steps"] = step
    return summary


def table_rows(summaries: dict[int, list[dict]], suffix: str) -> list[dict]:
    """One row per pack size: modes, high-quality % and reverse KL, mean +- s.e. over seeds.
    A run without high-quality samples has reverse KL undefined; it is left out of that
    column's mean and counted in `reverse_kl_undefined`."""
    rows = []
    for pack, runs in sorted(summaries.items()):
        kls = [s[f"reverse_kl{suffix}"] for s in runs if s.get(f"reverse_kl{suffix}") is not None]
        rows.append({
            "name": "GAN" if pack == 1 else f"PacGAN{pack}",
            "pack": pack,
            "seeds": len(runs),
            "diverged": sum(bool(s.get("diverged")) for s in runs),
            "modes": mean_se([s[f"modes_covered{suffix}"] for s in runs
                              if s.get(f"modes_covered{suffix}") is not None]),
            "high_quality_percent": mean_se(
                [100.0 * s[f"high_quality_fraction{suffix}"] for s in runs
                 if s.get(f"high_quality_fraction{suffix}") is not None]),
            "reverse_kl": mean_se(kls),
            "reverse_kl_undefined": len(runs) - len(kls),
        })
    return rows


def format_markdown(name: str, preset: str, tables: dict[int, list[dict]],
                    seconds: float) -> str:
    """The table in Markdown; `tables` maps a training length (iterations) to its rows.
    Each pack's rows follow one another by length, so the table reads how it changes."""

    def pm(pair, digits):
        mean, se = pair
        return "n/a" if math.isnan(mean) else f"{mean:.{digits}f} +- {se:.{digits}f}"

    lengths = sorted(tables)
    steps = lengths[-1]
    at = ", ".join(str(n) for n in lengths)
    total = 8 if "ring" in name else 25
    lines = [
        f"## {name}: {preset}, {steps} iterations per run (CPU scale)",
        "",
        f"Counting rule: {'VEEGAN' if name.startswith('veegan') else 'PacGAN'}. Mean +- "
        f"standard error over seeds, after {at} iterations of the same runs. The published "
        f"rows trained for {PUBLISHED_ITERATIONS} iterations (400 epochs of 1000 at minibatch "
        f"100); these {steps}-iteration runs are the protocol scaled down, not a replication "
        "of its length.",
        "",
        f"| method | iterations | seeds | modes (max {total}) | high-quality samples (%) | "
        "reverse KL |",
        "|---|---|---|---|---|---|",
    ]
    by_pack: dict[int, list[tuple[int, dict]]] = {}
    for length in lengths:
        for row in tables[length]:
            by_pack.setdefault(row["pack"], []).append((length, row))
    for pack in sorted(by_pack):
        for length, row in by_pack[pack]:
            note = f" ({row['diverged']} diverged)" if row["diverged"] else ""
            kl = pm(row["reverse_kl"], 2)
            if row["reverse_kl_undefined"]:
                kl += f" ({row['reverse_kl_undefined']} undefined)"
            lines.append(f"| toygan {row['name']} | {length} | {row['seeds']}{note} | "
                         f"{pm(row['modes'], 1)} | {pm(row['high_quality_percent'], 1)} | "
                         f"{kl} |")
    for method, (m, ms, q, qs, k, ks) in PUBLISHED.get(preset, {}).items():
        lines.append(f"| published {method} (PacGAN Table 1) | {PUBLISHED_ITERATIONS} | 10 | "
                     f"{m:.1f} +- {ms:.1f} | {q:.1f} +- {qs:.1f} | {k:.2f} +- {ks:.2f} |")
    lines += ["", f"Wall time of the command that wrote this table: {seconds:.0f} s.", ""]
    return "\n".join(lines)


def strict_json(value):
    """NaN (a column with no defined value) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    return value
