"""`python -m toygan.sweep SPEC.json`: a grid of configurations x seeds, as single runs,
executed by local processes or a Dask distributed cluster, resumable, summarised like a
population (toygan.population's table per cell and figures).

SPEC.json:
    {"preset": "mixture8",                         # or "mixture": {...}
     "options": {"steps": 2000, "eval_every": 500},  # any toygan.run option (Config key)
     "grid": {"lr_d": [1e-4, 3e-4], "k": [1, 5]},    # any Config key, a list of values
     "seeds": 10,                                    # or a list of seeds
     "out": "runs/sweep-k"}                          # default: runs/sweep-<spec name>

Each run lives in OUT/runs/<cell>-seed<s>/, a complete run directory. A run trains in a
fresh `.partial-*` directory that is renamed into place only when the run has finished, so
a directory under OUT/runs is complete or absent. A sweep started again skips the complete
runs and deletes stale partial directories: after a crash, a lost worker or Ctrl-C it
resumes without redoing work, and a run that was in flight twice (a task retried after its
worker was lost) is kept once. The summary (OUT/population.json, OUT/population.npz, the
figures) is written only when every run is complete: partial results never mix into it.

Executors: local processes (`--workers`, default the number of cores), or
`--scheduler ADDRESS` for a Dask cluster (`pip install 'toygan[sweep]'`); Dask reschedules
the tasks of a worker that dies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .config import Config, ConfigError
from .population import THUMBNAIL_SAMPLES, cell_name, cell_table, cells_of, write_population
from .train import Diverged, Trainer, atomic_write_text

RUNS = "runs"
PARTIAL = ".partial-"


# ---------------------------------------------------------------- the spec
def load_spec(path: Path) -> dict:
    try:
        spec = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"sweep spec not found: {path}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read sweep spec {path}: {err}") from None
    if not isinstance(spec, dict):
        raise ConfigError("a sweep spec is a JSON object")
    unknown = set(spec) - {"preset", "mixture", "options", "grid", "seeds", "out"}
    if unknown:
        raise ConfigError(f"unknown sweep spec keys: {', '.join(sorted(unknown))}")
    return spec


def expand(spec: dict) -> tuple[list[dict], list[dict]]:
    """The grid's cells, and one task per cell x seed: {"cell", "seed", "name", "config"}."""
    grid = spec.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError("the spec's grid maps option names to non-empty lists")
    if "seed" in grid:
        raise ConfigError("give seeds with the spec's \"seeds\", not in its grid")
    if "preset" in grid or "mixture" in grid:
        raise ConfigError("one distribution per sweep (its summary counts that one's modes); "
                          "run a sweep per preset")
    seeds = spec.get("seeds", 1)
    seeds = list(range(seeds)) if isinstance(seeds, int) else seeds
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError("seeds: a count >= 1 or a list of non-negative integers")
    base = dict(spec.get("options", {}))
    for key in ("preset", "mixture"):
        if key in spec:
            base[key] = spec[key]
    cells = cells_of(grid)
    tasks = []
    for c, cell in enumerate(cells):
        for seed in seeds:
            data = {**base, **cell, "seed": seed, "backend": base.get("backend", "numpy")}
            config = Config.from_dict(data)
            config.validate()  # every task's config is checked before anything runs
            slug = "".join(ch if ch.isalnum() or ch in "._=-" else "_"
                           for ch in cell_name(cell).replace(" ", "_"))
            tasks.append({"cell": c, "seed": seed, "name": f"{slug}-seed{seed}",
                          "config": config.to_dict()})
    return cells, tasks


# ---------------------------------------------------------------- one run
def run_task(task: dict, out: str) -> dict:
    """Train one run into OUT/runs/<name> (skipped when complete); returns its summary.
    Runs in a worker process: everything it needs is in its arguments."""
    final = Path(out) / RUNS / task["name"]
    if (final / "summary.json").is_file():
        return {"name": task["name"], "skipped": True}
    partial = final.with_name(f"{PARTIAL}{task['name']}-{uuid.uuid4().hex[:8]}")
    trainer = Trainer(Config.from_dict(task["config"]), partial)
    try:
        trainer.run()
    except Diverged:
        pass  # a diverged run is a result (its summary says so), not a failure
    atomic_write_text(partial / "sweep_task.json", json.dumps(
        {**task, "pid": os.getpid(), "finished": time.time()}, indent=1) + "\n")
    try:
        os.rename(partial, final)  # atomic; fails if another attempt finished first
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        return {"name": task["name"], "skipped": True}
    return {"name": task["name"], "skipped": False}


def remove_partials(out: Path) -> int:
    """Deletes what interrupted attempts left behind (call when none is in flight)."""
    stale = list((out / RUNS).glob(f"{PARTIAL}*"))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def pending(tasks: list[dict], out: Path) -> list[dict]:
    """Tasks without a complete run; removes what crashed attempts left behind."""
    runs = out / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    remove_partials(out)
    return [t for t in tasks if not (runs / t["name"] / "summary.json").is_file()]


# ---------------------------------------------------------------- executors
def execute_local(tasks: list[dict], out: Path, workers: int,
                  on_done: Callable[[dict], None]) -> list[str]:
    """Runs the tasks on local processes; returns the errors."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    errors = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_task, t, str(out)): t for t in tasks}
        for future in as_completed(futures):
            try:
                on_done(future.result())
            except Exception as err:  # a failed run is reported; the others go on
                errors.append(f"{futures[future]['name']}: {type(err).__name__}: {err}")
    return errors


def execute_dask(tasks: list[dict], out: Path, scheduler: str,
                 on_done: Callable[[dict], None]) -> list[str]:
    """Runs the tasks on a Dask cluster (tasks of a lost worker are rescheduled by Dask)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'toygan[sweep]'") from None
    errors = []
    with Client(scheduler) as client:
        futures = [client.submit(run_task, t, str(out), key=f"toygan-{t['name']}", pure=False)
                   for t in tasks]
        names = {f.key: t["name"] for f, t in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            try:
                on_done(future.result())
            except Exception as err:
                errors.append(f"{names[future.key]}: {type(err).__name__}: {err}")
    return errors


# ---------------------------------------------------------------- the summary
def summarise(cells: list[dict], tasks: list[dict], out: Path, grid: dict) -> dict:
    """population.json and population.npz over the complete runs (the same table per cell
    and figures as a population run)."""
    members, fakes = [], []
    for i, task in enumerate(tasks):
        run_dir = out / RUNS / task["name"]
        summary = json.loads((run_dir / "summary.json").read_text())
        members.append({"member": i, "cell": task["cell"], "seed": task["seed"],
                        "run": str(Path(RUNS) / task["name"]), **{
                            k: v for k, v in summary.items()
                            if k not in ("seed", "preset", "backend", "loss")}})
        with np.load(run_dir / "samples.npz") as data:
            fakes.append(data["fake"][:THUMBNAIL_SAMPLES])
            real = data["real"][:THUMBNAIL_SAMPLES]
    n = min(len(f) for f in fakes)
    table = {"sweep": True, "members": len(tasks), "grid": grid, "cells": cell_table(
        members, cells), "member_summaries": members}
    mixture = Config.from_dict(tasks[0]["config"]).validate()  # one distribution per sweep
    write_population(out, table, np.stack([f[:n] for f in fakes]), real[:n], mixture)
    return table


def run_sweep(spec: dict, out: Path, scheduler: str | None = None, workers: int | None = None,
              plots: bool = True, progress: Callable[[str], None] | None = None,
              execute: Callable | None = None) -> int:
    """Runs what is not done yet; writes the summary when all is. Returns an exit code.
    `execute(tasks, out, on_done) -> errors` replaces the executor (tests)."""
    cells, tasks = expand(spec)
    todo = pending(tasks, out)
    atomic_write_text(out / "sweep.json", json.dumps({"spec": spec, "tasks": [
        {k: t[k] for k in ("name", "cell", "seed")} for t in tasks]}, indent=1) + "\n")
    say = progress or (lambda text: None)
    say(f"{len(tasks)} runs, {len(tasks) - len(todo)} already complete, {len(todo)} to do")
    done = [0]

    def on_done(result: dict) -> None:
        done[0] += 1
        state = "already complete" if result["skipped"] else "done"
        say(f"[{done[0]}/{len(todo)}] {result['name']} {state}")

    if todo:
        if execute is not None:
            errors = execute(todo, out, on_done)
        elif scheduler:
            errors = execute_dask(todo, out, scheduler, on_done)
        else:
            errors = execute_local(todo, out, workers or os.cpu_count() or 1, on_done)
        lost = remove_partials(out)  # every task has ended: no attempt is in flight
        if lost:
            say(f"removed {lost} partial run directories of interrupted attempts")
        if errors:
            for e in errors:
                say(f"failed: {e}")
            say(f"{len(errors)} runs failed; no summary written. Run the sweep again to "
                "retry them (complete runs are kept)")
            return 1
    table = summarise(cells, tasks, out, spec.get("grid", {}))
    if plots:
        from .population_plots import make_population

        make_population(out)
    from .population import format_table

    say(format_table(table))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toygan.sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="the sweep's JSON spec (see the module doc)")
    parser.add_argument("--out", type=Path, help="sweep directory (default: the spec's out, "
                        "or runs/sweep-<spec name>)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler "
                        "(tcp://host:8786); default: local processes")
    parser.add_argument("--workers", type=int, help="local processes (default: cores)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        out = args.out or Path(spec.get("out") or f"runs/sweep-{args.spec.stem}")
        if args.workers is not None and args.workers < 1:
            raise ConfigError("--workers must be >= 1")
        return run_sweep(spec, out, args.scheduler, args.workers, not args.no_plots,
                         progress=lambda text: print(text, file=sys.stderr, flush=True))
    except ConfigError as err:
        print(f"toygan.sweep: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
