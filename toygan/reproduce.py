"""`python -m toygan.reproduce NAME`: the PacGAN / VEEGAN mode-collapse tables, rerun.

Protocol (PacGAN, Lin et al., 2018, Section 5 and its code, as the issue states it):
ring: 8 modes on a circle of radius 1, std 0.01; grid: 25 modes on {-4,-2,0,2,4}^2, std
0.05. G: 4 hidden layers of 400 ReLU units with batch norm, noise N(0, I) in 2-D. D: 3
hidden maxout layers of 200 units with 5 pieces. Adam, lr 1e-4, beta1 0.8; minibatch 100;
2500 samples per evaluation; 10 seeds; D sees packs of 1 to 4 samples (PacGAN1 = GAN).
Counting: PacGAN's rule (per-axis std units) for pacgan-*, VEEGAN's (Euclidean, 3 std)
for veegan-*; on these isotropic mixtures they agree, the keys differ only in name.

Each (pack, seed) is an ordinary run directory under OUT (resumable; a finished run is not
redone), so every diagnostic and plot of toygan applies to it. The table gives the mean
+- standard error over seeds and the published rows beside it; it is written as
table-NAME.md and table-NAME.json in OUT (default runs/reproduce-PRESET, shared by the
pacgan-* and veegan-* tables of one data set: their runs are the same).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from .cli import (
    EXIT_INTERRUPTED,
    CommandParser,
    UsageError,
    fail,
    int_in,
    int_list,
    os_error_text,
    output_dir_problem,
)
from .config import BACKENDS, Config, ConfigError
from .gan.factory import resolve
from .gan.networks import CheckpointError
from .interrupts import Interrupted
from .resources import check_memory
from .runfiles import (
    RUN_FILES,
    RunFileError,
    RunLock,
    RunLockedError,
    atomic_write_text,
    load_npz,
    missing_dirs,
    read_json,
    read_jsonl,
    remove_empty_dirs,
)
from .training.mode_tables import (
    PUBLISHED,
    PUBLISHED_ITERATIONS,
    TABLE_KEYS,
    format_markdown,
    strict_json,
    summary_at,
    table_rows,
)
from .training.trainer import Diverged, Trainer

PROTOCOLS = {
    "pacgan-ring": ("ring8_pacgan", ""),
    "pacgan-grid": ("grid25", ""),
    "veegan-ring": ("ring8_pacgan", "_veegan"),
    "veegan-grid": ("grid25", "_veegan"),
}
DEFAULT_STEPS = 2000  # CPU scale; the published runs trained for far longer
# Bounds on the command line: the published scale fits (10 seeds, packs 1-4, hundreds of
# thousands of iterations); a typo that would train for days or weeks does not.
MAX_STEPS = 1_000_000
MAX_SEEDS = 100
MAX_PACK = 64
MAX_PACKS = 16
MAX_LENGTHS = 16


def protocol_config(preset: str, pack: int, seed: int, steps: int,
                    backend: str = "numpy") -> Config:
    """The PacGAN network, optimiser and evaluation for one (pack, seed); `backend` does
    not change the protocol (the kernel backends run batch norm and packing per-op)."""
    return Config(
        preset=preset, loss="nonsaturating", k=1, steps=steps, batch=100,
        lr_d=1e-4, lr_g=1e-4, optimizer="adam", adam_beta1=0.8,
        hidden=[400, 400, 400, 400], g_activation="relu", g_batchnorm=True,
        d_hidden=[200, 200, 200], d_activation="maxout", maxout_pieces=5,
        noise_dim=2, noise="normal", seed=seed, pack=pack,
        eval_every=max(1, steps // 10), eval_samples=2500, expensive_every=0,
        backend=backend,
    )


def _trajectory(config: Config) -> dict:
    """What fixes a run's trajectory, as JSON would hold it."""
    return json.loads(json.dumps(config.trajectory_dict(), sort_keys=True))


def _same_trajectory(where: Path, data: dict, ours: dict, run_dir: Path) -> None:
    """CheckpointError unless `data` (a stored configuration) is the protocol's run."""
    try:
        theirs = _trajectory(Config.from_dict(data))
    except (ConfigError, TypeError) as err:
        raise RunFileError(f"{where} holds no valid run configuration ({err})") from None
    if theirs != ours:
        diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        raise CheckpointError(f"{run_dir} holds a run of another configuration (differs in: "
                              f"{', '.join(diff)}); use another --out")


def _check_summary(path: Path, summary: dict) -> None:
    """RunFileError naming the file unless the summary has what the table reads."""
    steps = summary.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise RunFileError(f"{path}: 'steps' should be a number of iterations, got "
                           f"{json.dumps(steps)[:40]}: the file is corrupt")
    if not isinstance(summary.get("diverged"), bool):
        raise RunFileError(f"{path}: 'diverged' should be true or false, got "
                           f"{json.dumps(summary.get('diverged'))[:40]}: the file is corrupt")
    for key in (k + suffix for suffix in ("", "_veegan") for k in TABLE_KEYS):
        if key not in summary:
            raise RunFileError(f"{path} lacks {key!r}: the file is corrupt")
        value = summary[key]
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or not math.isfinite(value)):
            raise RunFileError(f"{path}: {key!r} should be a number, got "
                               f"{json.dumps(value)[:40]}: the file is corrupt")


def inspect_run(config: Config, run_dir: Path) -> tuple[str, dict | None]:
    """What a (pack, seed) directory holds, read without changing anything: ("done",
    summary) for a finished (or diverged) run of this protocol, ("resume", None) for one
    with a checkpoint to continue, ("new", None) for none. A corrupt file raises
    RunFileError naming it; a run of another configuration or of more iterations,
    CheckpointError. `config` must be validated (its mixture filled in)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFileError(f"{run_dir} is a file, not a run directory")
    ours = _trajectory(config)
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        summary = read_json(summary_path, "a run's summary")
        _check_summary(summary_path, summary)
        if summary["steps"] == config.steps or summary["diverged"]:
            config_path = run_dir / "config.json"
            _same_trajectory(config_path, read_json(config_path, "a run's configuration"),
                             ours, run_dir)
            return "done", summary
        if summary["steps"] > config.steps:
            raise CheckpointError(f"{run_dir} holds a run of {summary['steps']} iterations, "
                                  f"more than --steps {config.steps}; use another --out")
    checkpoint = run_dir / "checkpoint.npz"
    if not checkpoint.exists():
        return "new", None
    config_path = run_dir / "config.json"
    _same_trajectory(config_path, read_json(config_path, "a run's configuration"), ours,
                     run_dir)
    state = load_npz(checkpoint, ("version", "step", "config"))
    try:
        step = int(state["step"])
        stored = json.loads(str(state["config"]))
    except (TypeError, ValueError) as err:
        raise RunFileError(f"{checkpoint} is corrupt ({str(err)[:120]})") from None
    if not isinstance(stored, dict):
        raise RunFileError(f"{checkpoint} holds no run configuration: the file is corrupt")
    _same_trajectory(checkpoint, stored, ours, run_dir)
    if step > config.steps:
        raise CheckpointError(f"{checkpoint} is at step {step}, beyond --steps "
                              f"{config.steps}; use another --out")
    if (run_dir / "metrics.jsonl").exists():
        read_jsonl(run_dir / "metrics.jsonl")
    if (run_dir / "snapshots.npz").exists():
        load_npz(run_dir / "snapshots.npz", ("steps", "fake"))
    return "resume", None


def run_one(config: Config, run_dir: Path, quiet: bool) -> dict:
    """Train (or resume, or reuse when finished) one run and return its summary.

    Training holds the run directory's lock (a `python -m toygan.run --resume` of the same
    directory is refused meanwhile). A run directory this call created and that fails
    before its first checkpoint is removed again."""
    run_dir = Path(run_dir)
    resolve(config)
    state, summary = inspect_run(config, run_dir)
    if state == "done":
        return summary
    created = missing_dirs(run_dir)
    trainer = None
    try:
        with RunLock(run_dir):
            if state == "resume":
                trainer = Trainer.resume(run_dir, {"steps": config.steps})
            else:
                trainer = Trainer(config, run_dir)
            trainer.quiet = quiet
            try:
                summary = trainer.run()
            except Diverged as err:
                if not quiet:
                    print(f"  {err}", file=sys.stderr)
                summary = read_json(run_dir / "summary.json", "a run's summary")
    except BaseException:
        if created and (trainer is None or trainer.saved_step is None):
            for name in (*RUN_FILES, "samples.npz"):  # what a new run wrote, nothing kept
                (run_dir / name).unlink(missing_ok=True)
        raise
    finally:
        remove_empty_dirs(created)
    return summary


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="python -m toygan.reproduce",
        description="Rerun the PacGAN/VEEGAN 2-D mode-collapse protocol and print its table "
        "beside the published rows.")
    parser.add_argument("name", choices=list(PROTOCOLS))
    parser.add_argument("--steps", type=int_in(1, MAX_STEPS), default=DEFAULT_STEPS,
                        help=f"iterations per run, 1 to {MAX_STEPS} (default {DEFAULT_STEPS}, "
                        "CPU scale)")
    parser.add_argument("--seeds", type=int_in(1, MAX_SEEDS), default=10,
                        help=f"seeds per row, 1 to {MAX_SEEDS} (default 10)")
    parser.add_argument("--packs", type=int_list(1, MAX_PACK, MAX_PACKS, "1,2"), default=None,
                        help=f"pack sizes from 1 to {MAX_PACK}, e.g. 1,2 (default 1,2,3,4 for "
                        "pacgan-*, 1 for veegan-*)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default runs/reproduce-PRESET: pacgan-* and "
                        "veegan-* share their runs, which differ only in how they are counted)")
    parser.add_argument("--table-at", type=int_list(1, MAX_STEPS, MAX_LENGTHS, "3000,10000"),
                        default=None, metavar="ITERATIONS",
                        help="also tabulate the same runs after these many iterations, e.g. "
                        "3000,10000: each a multiple of the evaluation interval (--steps / 10) "
                        "and at most --steps (default: --steps only)")
    parser.add_argument("--backend", choices=BACKENDS, default="numpy",
                        help="where the runs train: numpy (default), emu, cuda (a GPU), or "
                        "auto (cuda where CuPy sees a GPU); a run resumes only on the "
                        "backend it started on")
    parser.add_argument("--quiet", action="store_true")
    return parser


def _plan(args: argparse.Namespace) -> tuple[Path, list[tuple[int, int, Config, Path]]]:
    """The output directory and every (pack, seed, config, run directory), all checked
    before anything is written: the options, each pack's memory estimate, the output paths
    and every run directory already there (inspect_run)."""
    preset, suffix = PROTOCOLS[args.name]
    packs = args.packs or ([1, 2, 3, 4] if suffix == "" else [1])
    out = args.out or Path("runs") / f"reproduce-{preset}"
    problem = output_dir_problem(out)
    if problem:
        raise UsageError(problem)
    for ext in ("md", "json"):
        table = out / f"table-{args.name}.{ext}"
        if table.exists() and not table.is_file():
            raise RunFileError(f"{table} is not a file; the table cannot be written there")
    every = protocol_config(preset, 1, 0, args.steps, args.backend).eval_every
    for length in args.table_at or []:
        if length > args.steps or length % every:
            raise UsageError(f"--table-at {length}: runs of {args.steps} iterations are "
                             f"evaluated every {every}; give multiples of {every} up to "
                             f"{args.steps}")
    for pack in packs:
        config = protocol_config(preset, pack, 0, args.steps, args.backend)
        check_memory(config, resolve(config))
    plan = []
    for pack in packs:
        for seed in range(args.seeds):
            config = protocol_config(preset, pack, seed, args.steps, args.backend)
            resolve(config)
            run_dir = out / f"pack{pack}-seed{seed}"
            inspect_run(config, run_dir)
            plan.append((pack, seed, config, run_dir))
    return out, plan


def main(argv: list[str] | None = None) -> int:
    """Bad input (options, output paths, corrupt or foreign runs in --out): one line on
    stderr, exit 2, nothing written. Interrupted: the run in progress keeps its state
    (rerun the same command to continue), exit 130 (143 on SIGTERM)."""
    try:
        args = build_parser().parse_args(argv)
        out, plan = _plan(args)
    except (UsageError, ConfigError, CheckpointError, RunFileError) as err:
        return fail("reproduce", str(err))
    except OSError as err:
        return fail("reproduce", os_error_text(err))
    except MemoryError:
        return fail("reproduce", "out of memory while checking the runs in --out")
    except KeyboardInterrupt:
        print("\ntoygan.reproduce: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    created = missing_dirs(out)
    try:
        with RunLock(out):  # a second reproduce into the same --out is refused at once
            return _reproduce(args, out, plan)
    except (ConfigError, CheckpointError, RunFileError, RunLockedError) as err:
        return fail("reproduce", str(err))
    except OSError as err:
        return fail("reproduce", os_error_text(err))
    except MemoryError:  # outside training (run_one's are reported with their run)
        return fail("reproduce", "out of memory; finished runs are kept")
    except KeyboardInterrupt:  # outside training (between runs, or writing the table)
        print("\ntoygan.reproduce: interrupted; finished runs are kept, rerun the same "
              "command to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        remove_empty_dirs(created)  # only where nothing was written


def _reproduce(args: argparse.Namespace, out: Path,
               plan: list[tuple[int, int, Config, Path]]) -> int:
    preset, suffix = PROTOCOLS[args.name]
    t0 = time.perf_counter()
    summaries: dict[int, list[dict]] = {}
    for pack, seed, config, run_dir in plan:
        if not args.quiet:
            print(f"{args.name}: pack {pack}, seed {seed} ({args.steps} iterations)",
                  file=sys.stderr, flush=True)
        try:
            summary = run_one(config, run_dir, args.quiet)
        except MemoryError:
            return fail("reproduce", f"out of memory training pack {pack}, seed {seed} "
                        f"({run_dir}); finished runs and the last checkpoint are kept")
        except Interrupted as err:
            how = ("stopped at once: its last checkpoint is kept" if err.at_once
                   else f"its state is saved at step {err.saved_step}")
            print(f"\ntoygan.reproduce: interrupted ({err}) at pack {pack}, seed {seed}; "
                  f"{how}; rerun the same command to continue", file=sys.stderr)
            return err.exit_code
        summaries.setdefault(pack, []).append(summary)
    tables = {args.steps: table_rows(summaries, suffix)}
    for length in sorted(set(args.table_at or []) - {args.steps}):
        earlier = {pack: [summary_at(read_jsonl(run_dir / "metrics.jsonl"), length)
                          for p, _, _, run_dir in plan if p == pack] for pack in summaries}
        tables[length] = table_rows(earlier, suffix)
    seconds = time.perf_counter() - t0
    text = format_markdown(args.name, preset, tables, seconds)
    atomic_write_text(out / f"table-{args.name}.md", text)
    atomic_write_text(out / f"table-{args.name}.json", json.dumps(
        {"name": args.name, "preset": preset, "steps": args.steps, "seeds": args.seeds,
         "rows": strict_json(tables[args.steps]),
         "by_length": [{"iterations": n, "rows": strict_json(tables[n])}
                       for n in sorted(tables)],
         "published": PUBLISHED.get(preset, {}),
         "published_iterations": PUBLISHED_ITERATIONS,
         "wall_seconds": round(seconds, 1)}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
