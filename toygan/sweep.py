"""`python -m toygan.sweep SPEC.json`: a grid of configurations x seeds, as single runs,
executed by local processes or a Dask distributed cluster, resumable, summarised like a
population (toygan.training.tables: the table per cell; the population figures).

SPEC.json:
    {"preset": "mixture8",                         # or "mixture": {...}
     "options": {"steps": 2000, "eval_every": 500},  # any toygan.run option (Config key)
     "grid": {"lr_d": [1e-4, 3e-4], "k": [1, 5]},    # any Config key, a list of values
     "seeds": 10,                                    # or a list of seeds
     "out": "runs/sweep-k"}                          # default: runs/sweep-<spec name>

The spec is checked whole before anything is written: "options" is an object of Config
options (not "seed"), "grid" an object of non-empty lists of distinct values (not "seed",
"preset" or "mixture"; a key in the grid is not also in the options), "seeds" a count
from 1 or a list of distinct non-negative integers, "out" a path (relative to the current
directory; --out overrides it), at most MAX_RUNS runs in all, and every run's Config
validated. The backend is numpy unless the options or the grid say otherwise.

Each run lives in OUT/runs/<cell>-seed<s>/, a complete run directory. <cell> names every
grid value exactly (a float by its repr, which round-trips: 1e-4 and 1.0000001e-4 are two
directories), made a safe file name; a grid whose cells would still share a name (values
that differ only in characters a file name cannot hold, or names past NAME_LIMIT
characters) is refused. A run trains in a fresh `.partial-*` directory that is renamed
into place only when the run has finished, so a directory under OUT/runs is complete or
absent. The attempt holds the partial directory's lock (toygan.runfiles.RunLock) from
before the directory appears under that name until it is renamed, and the sweep never
removes a partial directory whose lock is held.

Started again, a sweep resumes: it skips the complete runs and deletes the partial
directories that no live process holds, so after a crash, a lost worker or Ctrl-C it goes
on without redoing work, and a run that was in flight twice (a task retried after its
worker was lost) is kept once. A complete run is reused only when its own config.json
holds exactly the configuration its task would train (the full Config, defaults filled
in). OUT/sweep.json records the spec; a sweep started into an OUT whose recorded spec
differs (in preset, mixture, options, grid or seeds; "out" itself does not count) is
refused, naming what differs, and so is one that finds a run trained with another
configuration, or a run whose config.json is missing or unreadable. `--overwrite` accepts
the new spec: runs that still match a task are kept, the others (runs of cells or seeds
no longer in the spec, runs of another configuration, unreadable runs) are moved, with
the old sweep.json and the old summary, into OUT/set-aside/<time>/ (nothing is deleted;
remove that directory when you no longer want it), and the missing runs are trained.
Adding seeds or cells to a sweep is therefore `--overwrite` with the larger spec: nothing
already trained is redone. An existing OUT that is not a sweep directory (no sweep.json,
not empty) is refused, with or without --overwrite.

One sweep at a time writes an OUT: the sweep holds OUT/.lock (a second one is refused,
naming the first). Local worker processes end when the sweep process ends, even when it
is killed with SIGKILL (Linux: the parent-death signal; everywhere: a thread that watches
for the parent to go), so no orphan keeps writing into OUT; on Ctrl-C the sweep stops its
workers at once (what they were training is a partial directory, removed next time).

The summary (OUT/population.json, OUT/population.npz, the figures) is written only when
every run is complete: partial results never mix into it. Each run's config.json is
checked against its task again then, and a corrupt run file (summary.json, samples.npz,
config.json) is an error naming the file: delete that run directory and run the sweep
again to retrain it.

Executors: local processes (`--workers`, default the number of cores), or
`--scheduler ADDRESS` for a Dask cluster (`pip install 'toygan[sweep]'`); Dask reschedules
the tasks of a worker that dies.

Exit codes: 0 done (summary written), 1 some runs failed (reported; the others are kept:
run the sweep again to retry), 2 bad input (one line on stderr, nothing on disk changed),
130 interrupted (complete runs kept: run the sweep again to resume).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from .cli import CommandParser, UsageError, fail, os_error_text
from .config import Config, ConfigError
from .runfiles import (
    POPULATION_PLOT_FILES,
    RunFileError,
    RunLock,
    RunLockedError,
    atomic_write_text,
    is_locked,
    read_json,
    safe_name,
)
from .sweeps.spec import (  # noqa: F401 (MAX_RUNS, seed_list, check_spec: the sweep's API)
    MAX_RUNS,
    RUNS,
    _canonical,
    _is_int,
    _run_problem,
    _short,
    cell_label,
    cell_slug,
    check_spec,
    config_differences,
    expand,
    load_spec,
    run_config,
    seed_list,
    spec_differences,
)
from .sweeps.summary import summarise
from .training.tables import format_table
from .training.trainer import Diverged, Trainer

PARTIAL = ".partial-"
CLAIM = ".claim-"  # a fresh attempt's directory while it takes its lock (then: PARTIAL)
CLAIM_GRACE_SECONDS = 60  # an unlocked claim younger than this may be taking its lock
SPEC_FILE = "sweep.json"
SET_ASIDE = "set-aside"
SUMMARY_FILES = ("population.json", "population.npz", *POPULATION_PLOT_FILES)
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_SECONDS = 0.2

_IN_WORKER = False  # set in local worker processes by _worker_init


# ---------------------------------------------------------------- one run
def run_task(task: dict, out: str) -> dict:
    """Train one run into OUT/runs/<name> (skipped when complete); returns its summary.
    Runs in a worker process: everything it needs is in its arguments."""
    runs = Path(out) / RUNS
    final = runs / task["name"]
    if (final / "summary.json").is_file():
        return {"name": task["name"], "skipped": True}
    tag = uuid.uuid4().hex[:8]
    claim = runs / f"{CLAIM}{tag}"
    partial = runs / f"{PARTIAL}{task['name']}-{tag}"
    # The lock is taken under a claim name (remove_partials leaves a young claim alone),
    # then the directory takes its partial name: a partial directory is locked from the
    # moment it exists until its attempt ends (the kernel drops the lock of a dead process).
    lock = RunLock(claim).acquire()
    try:
        os.rename(claim, partial)
        trainer = Trainer(Config.from_dict(task["config"]), partial)
        try:
            trainer.run()
        except Diverged:
            pass  # a diverged run is a result (its summary says so), not a failure
        except KeyboardInterrupt as err:
            if _IN_WORKER:  # a signal to this worker alone: this run failed (picklable)
                raise RuntimeError(f"interrupted ({err or 'signal'})") from None
            raise
        atomic_write_text(partial / "sweep_task.json", json.dumps(
            {**task, "pid": os.getpid(), "finished": time.time()}, indent=1) + "\n")
        try:
            os.rename(partial, final)  # atomic; fails if another attempt finished first
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
            return {"name": task["name"], "skipped": True}
        return {"name": task["name"], "skipped": False}
    finally:
        lock.release()
        if claim.is_dir():  # the rename above never happened
            shutil.rmtree(claim, ignore_errors=True)


def remove_partials(out: Path) -> int:
    """Deletes what interrupted attempts left behind: the partial directories no live
    process holds (a live attempt's lock keeps its directory), and claims older than
    CLAIM_GRACE_SECONDS that nobody holds. Returns how many it deleted."""
    runs = Path(out) / RUNS
    if not runs.is_dir():
        return 0
    removed, now = 0, time.time()
    for path in sorted(runs.iterdir()):
        if not path.name.startswith((PARTIAL, CLAIM)) or is_locked(path):
            continue
        if path.name.startswith(CLAIM) and now - path.lstat().st_mtime < CLAIM_GRACE_SECONDS:
            continue  # an attempt may be about to take its lock
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


# ---------------------------------------------------------------- what is on disk
def check_out(out: Path) -> None:
    """OUT can be a sweep directory: an existing directory, or one that can be created."""
    if "\0" in str(out):
        raise ConfigError("out: a path cannot hold a NUL character")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ConfigError(f"out {out} exists and is not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigError(f"out {out} is not writable")
        return
    above = out.absolute().parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ConfigError(f"cannot create out {out}: {above} is not a directory")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot create out {out}: {above} is not writable")


def inspect(out: Path, spec: dict, tasks: list[dict], overwrite: bool) -> dict:
    """What OUT holds against this spec; reads only. Without `overwrite`, refuses
    (ConfigError) a recorded spec that differs, and runs that cannot stand for their
    task. Returns {"keep": names of complete runs to reuse, "stale": (path, why) of runs
    to set aside, "foreign": entries of runs/ that belong to no task, "changed": whether
    the recorded spec differs}."""
    plan = {"keep": set(), "stale": [], "foreign": [], "changed": False}
    if not out.is_dir():
        return plan
    hint = ("use another out, or --overwrite to keep the runs that still match and set the "
            f"others aside in {out / SET_ASIDE}")
    record = out / SPEC_FILE
    runs = out / RUNS
    if record.exists():
        try:
            old = read_json(record, "a sweep record")
            if not isinstance(old.get("spec"), dict):
                raise RunFileError(f"{record} records no spec")
            diffs = spec_differences(old["spec"], spec)
        except RunFileError as err:
            if not overwrite:
                raise ConfigError(f"{err}; {hint}") from None
            diffs = ["the recorded spec is unreadable"]
        if diffs and not overwrite:
            more = f", and {len(diffs) - 4} more" if len(diffs) > 4 else ""
            raise ConfigError(f"{out} holds a sweep of another spec (differs in: "
                              f"{'; '.join(diffs[:4])}{more}); {hint}")
        plan["changed"] = bool(diffs)
    else:
        entries = [e.name for e in out.iterdir() if e.name != ".lock"]
        if entries and not (entries == [RUNS] and runs.is_dir() and not any(runs.iterdir())):
            raise ConfigError(f"{out} exists and is not a sweep directory (it has no "
                              f"{SPEC_FILE}); choose a new or empty directory for out")
    if runs.exists() and not runs.is_dir():
        raise ConfigError(f"{runs} is not a directory")
    if not runs.is_dir():
        return plan
    by_name = {t["name"]: t for t in tasks}
    for entry in sorted(runs.iterdir()):
        if entry.name.startswith("."):
            continue  # partial attempts (remove_partials) and hidden files
        task = by_name.get(entry.name)
        if task is None:
            plan["foreign"].append(entry)
            continue
        problem = _run_problem(entry, task)
        if problem is None:
            plan["keep"].add(entry.name)
        else:
            plan["stale"].append((entry, problem))
    if plan["stale"] and not overwrite:
        path, why = plan["stale"][0]
        more = f" ({len(plan['stale']) - 1} more like it)" if len(plan["stale"]) > 1 else ""
        raise ConfigError(f"{why}{more}; delete it to retrain it, or run with --overwrite to "
                          f"set it aside in {out / SET_ASIDE} and retrain")
    for path, _ in plan["stale"] if overwrite else []:
        if is_locked(path):
            raise ConfigError(f"{path} is in use by a live process; wait for it to finish")
    return plan


def set_aside(out: Path, paths: list[Path]) -> Path:
    """Moves run directories, the old sweep record and the old summary of OUT into
    OUT/set-aside/<time>/ (runs under its runs/); returns that directory."""
    dest = out / SET_ASIDE / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    (dest / RUNS).mkdir(parents=True)
    for path in paths:
        os.rename(path, dest / RUNS / path.name)
    if (out / SPEC_FILE).exists():  # copied: OUT keeps a record until the new one replaces it
        shutil.copy2(out / SPEC_FILE, dest / SPEC_FILE)
    for name in SUMMARY_FILES:
        if (out / name).exists():
            os.rename(out / name, dest / name)
    return dest


# ---------------------------------------------------------------- executors
def _worker_init(parent: int) -> None:
    """A local worker ends when the sweep process does, however it ends: the kernel sends
    it SIGTERM when its parent dies (Linux), and a thread exits the process when the
    parent changes (everywhere; also when SIGTERM is caught to save a run)."""
    global _IN_WORKER
    _IN_WORKER = True
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM),
                       ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
        except (OSError, AttributeError):
            pass  # the watcher below still ends the worker
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(EXIT_FAILED)
    threading.Thread(target=_watch_parent, args=(parent,), name="toygan-sweep-parent",
                     daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(EXIT_FAILED)


def _stop_pool(pool) -> None:
    """Ends a process pool now (Ctrl-C): queued tasks cancelled, workers killed (what
    they were training is a partial directory, never resumed: nothing to save)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(5)
    pool.shutdown(wait=False, cancel_futures=True)


def execute_local(tasks: list[dict], out: Path, workers: int,
                  on_done: Callable[[dict], None]) -> list[str]:
    """Runs the tasks on local processes; returns the errors."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    errors = []
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))),
                               mp_context=context, initializer=_worker_init,
                               initargs=(os.getpid(),))
    try:
        futures = {pool.submit(run_task, t, str(out)): t for t in tasks}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as err:  # a failed run is reported; the others go on
                errors.append(f"{futures[future]['name']}: {type(err).__name__}: {err}")
            else:
                on_done(result)
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)
    return errors


def _need_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'toygan[sweep]'") from None


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


# ---------------------------------------------------------------- the sweep
def run_sweep(spec: dict, out: Path, scheduler: str | None = None, workers: int | None = None,
              plots: bool = True, progress: Callable[[str], None] | None = None,
              execute: Callable | None = None, overwrite: bool = False) -> int:
    """Runs what is not done yet; writes the summary when all is. Returns an exit code.
    Bad input raises ConfigError (RunLockedError: OUT is in use) before anything on disk
    changes; a corrupt run met while summarising raises RunFileError.
    `execute(tasks, out, on_done) -> errors` replaces the executor (tests)."""
    out = Path(out)
    say = progress or (lambda text: None)
    if scheduler and execute is None:
        _need_dask()  # before anything is written
    cells, tasks = expand(spec)
    check_out(out)
    if out.is_dir() and is_locked(out):
        probe = RunLock(out)
        probe.acquire()  # raises RunLockedError naming the holder (writes nothing then)
        probe.release()  # it was released in between: go on
    inspect(out, spec, tasks, overwrite)  # refuses before anything is written
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        plan = inspect(out, spec, tasks, overwrite)  # again, now that no sweep can change it
        aside = [path for path, _ in plan["stale"]] + (plan["foreign"] if overwrite else [])
        if overwrite and (aside or plan["changed"]):
            dest = set_aside(out, aside)
            say(f"set aside {len(aside)} runs that no longer match this spec (and the old "
                f"sweep record and summary) in {dest}")
        elif plan["foreign"]:
            say(f"{len(plan['foreign'])} entries of {out / RUNS} belong to no task of this "
                "spec (left alone)")
        atomic_write_text(out / SPEC_FILE, json.dumps({"spec": spec, "tasks": [
            {k: t[k] for k in ("name", "cell", "seed")} for t in tasks]}, indent=1) + "\n")
        (out / RUNS).mkdir(exist_ok=True)
        remove_partials(out)
        todo = [t for t in tasks if t["name"] not in plan["keep"]]
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
                return EXIT_FAILED
        try:
            table = summarise(cells, tasks, out, spec.get("grid", {}))
        except RunFileError as err:
            raise RunFileError(f"{err}; no summary written (delete that run directory and "
                               "run the sweep again to retrain it)") from None
        if plots:
            from .figures.population import make_population

            make_population(out)
    say(format_table(table))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m toygan.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="the sweep's JSON spec (see the module doc)")
    parser.add_argument("--out", type=Path, help="sweep directory (default: the spec's out, "
                        "or runs/sweep-<spec name>)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler "
                        "(tcp://host:8786); default: local processes")
    parser.add_argument("--workers", type=int, help="local processes (default: cores)")
    parser.add_argument("--overwrite", action="store_true", help="accept a spec that differs "
                        "from the one OUT records: runs that still match are kept, the others "
                        "are set aside in OUT/set-aside/ and the missing ones trained")
    parser.add_argument("--no-plots", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        return fail("sweep", str(err))
    try:
        if args.workers is not None and args.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {args.workers}")
        spec = load_spec(args.spec)
        default = f"runs/sweep-{safe_name(args.spec.stem, default='spec')}"
        out = args.out if args.out is not None else Path(spec.get("out") or default)
        return run_sweep(spec, out, args.scheduler, args.workers, not args.no_plots,
                         progress=lambda text: print(text, file=sys.stderr, flush=True),
                         overwrite=args.overwrite)
    except (ConfigError, RunFileError, RunLockedError) as err:
        return fail("sweep", str(err))
    except OSError as err:
        return fail("sweep", os_error_text(err))
    except KeyboardInterrupt:
        print("toygan.sweep: interrupted; complete runs are kept: run the sweep again to "
              "resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
