"""The convergence-over-seeds figure (claims.pg_population), drawn from the populations'
files alone: members.jsonl for the curves and the final figures, statistics.json (written
by the claim beside the populations) for the perfect sampler's floor.

One row per preset: the KDE-JSD over training (median and inter-quartile band over the
members, per cell, the floor dashed), the distribution of modes covered at the end, and
each member's final high-quality fraction against its reverse KL.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .style import FAKE, GREY, OTHER, REAL, plt, save_figure

COLOURS = (FAKE, REAL, OTHER)


def _records(run_dir: Path) -> dict[int, list[dict]]:
    members: dict[int, list[dict]] = {}
    with open(run_dir / "members.jsonl") as lines:
        for line in lines:
            record = json.loads(line)
            members.setdefault(record["member"], []).append(record)
    return members


def draw_pg_population(root: Path, path: Path) -> Path:
    """The figure of every preset in root/statistics.json, written to `path`."""
    statistics = json.loads((Path(root) / "statistics.json").read_text())
    presets: dict[str, list[str]] = {}
    for name, entry in statistics.items():
        presets.setdefault(entry["preset"], []).append(name)
    fig, axes = plt.subplots(len(presets), 3, figsize=(16, 4.2 * len(presets)), squeeze=False)
    for row, (preset, names) in zip(axes, presets.items(), strict=True):
        jsd_ax, modes_ax, quality_ax = row
        width = 0.8 / len(names)
        for k, (name, colour) in enumerate(zip(names, COLOURS, strict=False)):
            entry = statistics[name]
            members = _records(Path(root) / name)
            steps = np.array([r["step"] for r in members[min(members)]])
            jsd = np.array([[r["jsd_estimate"] for r in rs[:len(steps)]]
                            for rs in members.values() if len(rs) >= len(steps)])
            q25, q50, q75 = np.percentile(jsd, [25, 50, 75], axis=0)
            jsd_ax.plot(steps, q50, color=colour, label=f"{entry['label']} (median)")
            jsd_ax.fill_between(steps, q25, q75, color=colour, alpha=0.25)
            final = [rs[-1] for rs in members.values()]
            total = final[0]["modes_total"]
            counts = np.bincount([r["modes_covered"] for r in final], minlength=total + 1)
            modes_ax.bar(np.arange(total + 1) + (k - (len(names) - 1) / 2) * width, counts,
                         width=width, color=colour, label=entry["label"])
            quality_ax.scatter([r["high_quality_fraction"] for r in final],
                               [r["reverse_kl"] if r["reverse_kl"] is not None else np.nan
                                for r in final], color=colour, s=18, alpha=0.8,
                               label=entry["label"])
        floor = statistics[names[0]]["floor"]
        jsd_ax.axhline(floor["jsd_estimate"]["mean"], color=GREY, ls="--",
                       label="perfect sampler")
        jsd_ax.set(yscale="log", xlabel="iteration", ylabel="KDE-JSD (nats)",
                   title=f"{preset}: JSD(p_data, p_g) over training")
        modes_ax.set_xticks(range(total + 1) if total <= 10 else range(0, total + 1, 5))
        modes_ax.set(xlabel="modes covered at the end", ylabel="members",
                     title=f"{preset}: modes covered ({total} in p_data)")
        quality_ax.axvline(floor["high_quality_fraction"]["mean"], color=GREY, ls="--",
                           label="perfect sampler")
        quality_ax.set(xlabel="high-quality fraction", ylabel="reverse KL of the mode histogram",
                       title=f"{preset}: each member at the end")
        for ax in row:
            ax.legend(loc="best")
    return save_figure(fig, path)
