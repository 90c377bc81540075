"""A sweep's summary (toygan.sweep): the population's table per cell and its files, built
from complete runs only, each checked against the task that made it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import Config
from ..runfiles import THUMBNAIL_SAMPLES, RunFileError, load_npz, read_json
from ..training.tables import cell_table, write_population
from .spec import RUNS, _is_int, _run_problem, _short, cell_label

SUMMARY_NUMBERS = ("high_quality_fraction", "reverse_kl", "jsd_estimate")


def _check_summary(summary: dict, path: Path, modes: int) -> None:
    """What the cell table reads from a run's summary.json, of the right kinds."""
    for key in ("diverged", "modes_total", "modes_covered", *SUMMARY_NUMBERS):
        if key not in summary:
            raise RunFileError(f"{path} lacks {key!r}")
    if not isinstance(summary["diverged"], bool):
        raise RunFileError(f"{path}: diverged is {_short(summary['diverged'])}, not true/false")
    if summary["modes_total"] != modes or not _is_int(summary["modes_total"]):
        raise RunFileError(f"{path}: modes_total is {_short(summary['modes_total'])}, but the "
                           f"sweep's distribution has {modes} modes")
    covered = summary["modes_covered"]
    if covered is not None and not (_is_int(covered) and 0 <= covered <= modes):
        raise RunFileError(f"{path}: modes_covered is {_short(covered)}, not a count of modes")
    for key in SUMMARY_NUMBERS:
        value = summary[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise RunFileError(f"{path}: {key} is {_short(value)}, not a number")


def _samples(path: Path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    arrays = load_npz(path, required=("fake", "real"))
    for key in ("fake", "real"):
        x = arrays[key]
        if x.ndim != 2 or x.shape[1] != dim or len(x) == 0 or not np.issubdtype(
                x.dtype, np.floating):
            raise RunFileError(f"{path}: {key!r} has shape {x.shape} ({x.dtype}); expected "
                               f"points (n, {dim})")
    return arrays["fake"][:THUMBNAIL_SAMPLES], arrays["real"][:THUMBNAIL_SAMPLES]


def summarise(cells: list[dict], tasks: list[dict], out: Path, grid: dict) -> dict:
    """population.json and population.npz over the complete runs (the same table per cell
    and figures as a population run). RunFileError names a corrupt run file."""
    mixture = Config.from_dict(tasks[0]["config"]).validate()  # one distribution per sweep
    members, fakes, real = [], [], None
    for i, task in enumerate(tasks):
        run_dir = out / RUNS / task["name"]
        problem = _run_problem(run_dir, task)
        if problem is not None:
            raise RunFileError(problem)
        summary_path = run_dir / "summary.json"
        summary = read_json(summary_path, "a run's summary")
        _check_summary(summary, summary_path, mixture.n_components)
        members.append({"member": i, "cell": task["cell"], "seed": task["seed"],
                        "run": str(Path(RUNS) / task["name"]), **{
                            k: v for k, v in summary.items()
                            if k not in ("seed", "preset", "backend", "loss")}})
        fake, real = _samples(run_dir / "samples.npz", mixture.dim)
        fakes.append(fake)
    n = min(len(f) for f in fakes)
    rows = cell_table(members, cells)
    for row, cell in zip(rows, cells, strict=True):
        row["name"] = cell_label(cell)  # exact values: 1e-4 and 1.0000001e-4 read apart
    table = {"sweep": True, "members": len(tasks), "grid": grid, "cells": rows,
             "member_summaries": members}
    write_population(out, table, np.stack([f[:n] for f in fakes]), real[:n], mixture)
    return table
