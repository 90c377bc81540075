"""Command line: `python -m toygan.run PRESET [options]` trains one GAN and writes a run dir.

Exit codes: 0 done, 2 bad input (nothing on disk changed), 3 diverged (last good
checkpoint kept), 130 interrupted (state saved; continue with --resume).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from pathlib import Path

from .cli import CommandParser, UsageError, fail, options_markdown, os_error_text
from .config import Config, ConfigError, check_field, cli_name
from .core.distributions import PRESETS
from .device.launch import KernelError
from .gan.factory import resolve
from .gan.networks import CheckpointError
from .interrupts import Interrupted
from .resources import check_memory
from .runfiles import (
    GIF_FILE,
    PLOT_FILES,
    POPULATION_FILES,
    POPULATION_PLOT_FILES,
    RUN_FILES,
    SAMPLES_FILE,
    RunFileError,
    RunLock,
    RunLockedError,
    SetAside,
    missing_dirs,
    read_json,
    remove_empty_dirs,
    safe_name,
)
from .training.grid import GRID_KEYS, member_configs, parse_grid
from .training.population_trainer import PopulationTrainer
from .training.tables import format_table
from .training.trainer import Diverged, Trainer

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130
OWN_FILES = (*RUN_FILES, SAMPLES_FILE, *PLOT_FILES, GIF_FILE)


def _widths(text: str) -> list[int]:
    try:
        widths = [int(w) for w in text.replace(" ", "").split(",") if w]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"widths must be integers like 128,128, got {text!r}"
        ) from None
    if not widths:
        raise argparse.ArgumentTypeError("give at least one hidden width")
    return widths


def _path(text: str) -> Path:
    """A path argument; an empty one is refused (Path("") would be the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    return Path(text)


def _option_type(kind: str):
    return {"int": int, "float": float, "widths": _widths}.get(kind)


def build_parser() -> argparse.ArgumentParser:
    presets = "; ".join(f"{name}: {text}" for name, (text, _) in PRESETS.items())
    p = CommandParser(
        prog="python -m toygan.run",
        description="Train a GAN (Algorithm 1 of Goodfellow et al., 2014) on a known "
        "distribution and write a run directory with metrics, checkpoint and plots.",
        epilog=f"Presets: {presets}. Defaults are those of Config in toygan/config.py.",
    )
    p.add_argument("preset", nargs="?", default=None,
                   help="preset name, a mixture JSON file, or an inline JSON object "
                   '{"means": [[0, 0], [1, 1]], "stds": 0.1, "weights": [1, 2]}')
    defaults = Config()
    for f in Config.options():  # every option is declared once, in Config
        meta = f.metadata
        default = getattr(defaults, f.name)
        if isinstance(default, list):
            default = ",".join(map(str, default))
        kwargs = {"help": f"{meta['help']} (default {default})"}
        if meta["choices"]:
            kwargs["choices"] = list(meta["choices"])
        elif _option_type(meta["kind"]):
            kwargs["type"] = _option_type(meta["kind"])
        action = p.add_argument(cli_name(f.name), dest=f.name, **kwargs)
        action.shown_default, action.plain_help = default, meta["help"]
    p.add_argument("--population", type=int, metavar="N", help="train N GANs in lockstep "
                   "(per grid cell; seeds seed..seed+N-1; numpy backend unless --backend emu "
                   "or cuda); writes per-member metrics, a table per cell and figures")
    p.add_argument("--grid", metavar="SPEC", help="hyperparameters that differ between "
                   "members: 'lr_d=1e-4,3e-4 k=1,5' or a JSON object/file of lists (keys: "
                   f"{', '.join(GRID_KEYS)})")
    p.add_argument("--config", type=_path, help="take options from a JSON file (a run's "
                   "config.json reproduces the run); options given here override it")
    p.add_argument("--out", type=_path, help="run directory (default runs/<preset>-<time>)")
    p.add_argument("--resume", type=_path, metavar="RUN_DIR", help="continue a run (or a "
                   "population) from its checkpoint, bit for bit; only --steps, --eval-every, "
                   "--expensive-every, --snapshot-samples, --backend and --kernels may change")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out "
                   "(the old run is kept until the new one has written its first checkpoint)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.add_argument("--gif", action="store_true", help="also write training.gif, an "
                   "animation of G's samples (python -m toygan.plot RUN_DIR --gif later)")
    p.add_argument("--quiet", action="store_true", help="no progress, only errors")
    # The README's option table, generated from this parser (and so from Config).
    p.add_argument("--options-markdown", action="store_true", help=argparse.SUPPRESS)
    return p


OPTION_KEYS = tuple(f.name for f in Config.options())


def _kernel_path(trainer) -> str:
    path = getattr(trainer.gan, "kernel_path", None)
    return f" ({path} kernels)" if path else ""


class Progress:
    """A bar on a terminal, a line every 10 % otherwise; silent when quiet."""

    def __init__(self, quiet: bool, stream=None) -> None:
        self.quiet, self.stream = quiet, stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self.last_line = -1
        self.latest = ""

    def __call__(self, step: int, total: int, record: dict) -> None:
        if self.quiet or total == 0:
            return
        if record:
            self.latest = (f"modes {record['modes_covered']}/{record['modes_total']}, "
                           f"hq {record['high_quality_fraction']:.2f}, "
                           f"JSD {record['jsd_estimate']:.3f}")
        elapsed = time.perf_counter() - self.t0
        rate = step / elapsed if elapsed > 0 else 0.0
        if self.tty:
            filled = int(30 * step / total)
            bar = "#" * filled + "-" * (30 - filled)
            self.stream.write(f"\r[{bar}] {step}/{total} {rate:6.0f} it/s  {self.latest}\x1b[K")
            if step == total:
                self.stream.write("\n")
        else:
            decile = 10 * step // total
            if decile == self.last_line or not record:
                return
            self.last_line = decile
            self.stream.write(f"step {step}/{total} ({elapsed:.1f} s, {rate:.0f} it/s) "
                              f"{self.latest}\n")
        self.stream.flush()


def _make_config(args: argparse.Namespace) -> Config:
    base: dict = {}
    if args.config is not None:
        try:
            base = read_json(args.config, "a configuration")
        except RunFileError as err:
            raise ConfigError(f"config file: {err}") from None
        # A population run's config.json: its population and grid, unless given here.
        for key in ("population", "grid"):
            value = base.pop(key, None)
            if value is not None and getattr(args, key) is None:
                if key == "population" and (not isinstance(value, int)
                                            or isinstance(value, bool)):
                    raise ConfigError(f"{args.config}: population must be an integer, got "
                                      f"{json.dumps(value)}")
                if key == "grid" and not isinstance(value, dict):
                    raise ConfigError(f"{args.config}: grid must be an object of lists")
                setattr(args, key, json.dumps(value) if key == "grid" else value)
    population = args.population is not None or args.grid is not None
    if population and args.backend is None and base.get("backend", "auto") == "auto":
        base["backend"] = "numpy"  # auto, for a population: the numpy backend
    if args.preset is not None:
        base["preset"], base["mixture"] = args.preset, None
    given = {k: getattr(args, k) for k in OPTION_KEYS if getattr(args, k) is not None}
    base.update(given)
    config = Config.from_dict(base)
    resolve(config)
    # Options that would be stored and silently do nothing are refused.
    if "gamma" in given and config.penalty == "none":
        raise ConfigError("--gamma weights a gradient penalty: give --penalty r1, r2 or wgan-gp")
    if "clip" in given and config.penalty == "wgan-gp":
        raise ConfigError("--clip is weight clipping, which WGAN-GP replaces by its penalty: "
                          "drop --clip, or use --penalty none")
    return config


def _train_population(trainer: PopulationTrainer, args: argparse.Namespace,
                      run_dir: Path) -> dict | int:
    """Trains the population; its summary, or the exit code when interrupted."""
    config = trainer.base
    if not args.quiet:
        print(f"toygan: {config.preset} population of {trainer.gan.P} GANs "
              f"({trainer.population} per cell x {len(trainer.cells)} cells), loss "
              f"{config.loss}, batch {config.batch}, steps {trainer.step}->{config.steps}, "
              f"backend {config.backend}{_kernel_path(trainer)} -> {run_dir}",
              file=sys.stderr)
    try:
        return trainer.run(Progress(args.quiet))
    except Interrupted as err:
        return _interrupted(err, trainer, run_dir)


def _interrupted(err: Interrupted, trainer, run_dir: Path) -> int:
    if err.at_once:
        raise err
    print(f"\ntoygan.run: interrupted ({err}) at step {trainer.step}; state saved, "
          f"continue with --resume {run_dir}", file=sys.stderr)
    return err.exit_code


def _finish_population(summary: dict, args: argparse.Namespace, run_dir: Path) -> int:
    if not args.no_plots:
        from .figures.population import make_population  # matplotlib only when plotting

        make_population(run_dir)
    if not args.quiet:
        print(format_table(summary))
        print(f"{summary['members']} members x {summary['steps']} steps, "
              f"{summary['gan_iterations_per_second']} GAN-iterations/s of training; "
              f"per-member metrics in {run_dir / 'members.jsonl'}")
    members = summary["member_summaries"]
    if members and all(m["diverged"] for m in members):  # as a single run that diverged
        first = min(members, key=lambda m: m["diverged_at_step"])
        return fail("run", f"every member diverged (the first at step "
                    f"{first['diverged_at_step']}: {first['diverged_reason']}); the files "
                    f"in {run_dir} record each", EXIT_DIVERGED)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except Interrupted as err:  # a second signal: stopped at once (see toygan.interrupts)
        print("\ntoygan.run: stopped at once; the run directory holds its last checkpoint "
              "(continue with --resume)", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("\ntoygan.run: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _default_run_dir(preset: str) -> Path:
    """runs/<preset>-<time>, with -2, -3, ... when a run of the same second exists."""
    base = Path("runs") / f"{safe_name(preset)}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _setup(args: argparse.Namespace):
    """The trainer and run directory of the command line, checked before any file is
    touched: (trainer factory, run_dir, names of files an --overwrite sets aside)."""
    if args.resume is not None:
        if args.population is not None or args.grid is not None:
            raise ConfigError("--population and --grid start a new run; not with --resume")
        if args.preset is not None or args.config is not None:
            raise ConfigError("--resume continues the run's own configuration; "
                              "give no preset or --config with it")
        if args.overwrite:
            raise ConfigError("--overwrite replaces a run; --resume continues one: give one")
        if not args.resume.is_dir():
            raise ConfigError(f"{args.resume} is not a run directory: nothing to resume")
        overrides = {k: getattr(args, k) for k in OPTION_KEYS if getattr(args, k) is not None}
        for key, value in overrides.items():  # the same checks as a new run's options
            check_field(Config.field(key), value)
        kind = PopulationTrainer if (args.resume / "members.json").is_file() else Trainer

        def resume():
            trainer = kind.resume(args.resume, overrides)  # the run's own problems first
            if args.out is not None:  # it used to be ignored silently
                raise ConfigError("--resume continues RUN_DIR in place; --out names a new "
                                  "run's directory: give one")
            return trainer

        return resume, args.resume, ()
    if args.preset is None and args.config is None:
        raise ConfigError("give a preset (e.g. mixture8) or --config FILE")
    config = _make_config(args)
    population = args.population is not None or args.grid is not None
    run_dir = args.out or _default_run_dir(config.preset)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file, not a directory")
    for parent in run_dir.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"--out {run_dir}: {parent} is a file, not a directory")
    names = tuple(dict.fromkeys((*OWN_FILES, *POPULATION_FILES, *POPULATION_PLOT_FILES)))
    existing = [f for f in names if (run_dir / f).exists()]
    if existing and not args.overwrite:
        raise ConfigError(f"{run_dir} already holds a run ({existing[0]}); "
                          "use --resume to continue it or --overwrite to replace it")
    if population:
        members = 1 if args.population is None else args.population  # --grid alone
        grid = parse_grid(args.grid)
        configs = member_configs(config, members, grid)  # every member validated
        check_memory(config, resolve(config), len(configs))
        return (lambda: PopulationTrainer(config, members, grid, run_dir)), run_dir, names
    check_memory(config, resolve(config))
    return (lambda: Trainer(config, run_dir)), run_dir, names


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.options_markdown:
            print(options_markdown(parser), end="")
            return 0
        make_trainer, run_dir, replaced = _setup(args)
    except (UsageError, ConfigError, CheckpointError, RunFileError) as err:
        return fail("run", str(err))
    except OSError as err:
        return fail("run", os_error_text(err))
    created = missing_dirs(run_dir)
    try:
        lock = RunLock(run_dir).acquire()
    except RunLockedError as err:
        return fail("run", str(err))
    except OSError as err:
        remove_empty_dirs(created)
        return fail("run", os_error_text(err))
    try:
        return _train(args, make_trainer, run_dir, replaced, created)
    finally:
        lock.release()
        remove_empty_dirs(created)  # where a failed new run left nothing


def _train(args, make_trainer, run_dir: Path, replaced: tuple, created: list[Path]) -> int:
    """Under the run's lock: set the old run aside (--overwrite), build the trainer and
    train. Until the new run's first checkpoint, any failure puts the old run back (or
    leaves no new directory); after it, the run directory is a resumable run."""
    set_aside = SetAside(run_dir, replaced) if replaced else None
    proven = [False]

    def first_checkpoint() -> None:
        if not proven[0]:
            proven[0] = True
            if set_aside is not None:
                set_aside.commit()

    def undo() -> None:
        if set_aside is not None:
            set_aside.rollback(replaced)
        elif replaced:  # a new run into a fresh place: remove what it wrote
            SetAside(run_dir, ()).rollback(replaced)

    try:
        trainer = make_trainer()
        trainer.on_checkpoint = first_checkpoint
        trainer.quiet = args.quiet
        if isinstance(trainer, PopulationTrainer):
            summary = _train_population(trainer, args, run_dir)
            del trainer  # the figures read the files: let the members' arrays go first
            gc.collect()
            if isinstance(summary, int):
                return summary
            return _finish_population(summary, args, run_dir)
        return _train_single(trainer, args, run_dir)
    except (ConfigError, CheckpointError, RunFileError, KernelError) as err:
        if not proven[0]:
            undo()
        return fail("run", str(err))
    except MemoryError:
        if not proven[0]:
            undo()
            return fail("run", "out of memory before the first checkpoint; nothing was kept "
                         "(make the run smaller)")
        return fail("run", "out of memory during training; the run directory holds its last "
                     "checkpoint (--resume continues it, with a smaller --eval-samples)")
    except OSError as err:
        if not proven[0]:
            undo()
        return fail("run", os_error_text(err))
    except BaseException:
        if not proven[0]:
            undo()
        raise


def _scheme(config: Config) -> str:
    """The penalty and update scheme for the run header, where they are not the default."""
    parts = [f"penalty {config.penalty} gamma={config.gamma:g}"] * (config.penalty != "none")
    parts += [f"{config.update} updates"] * (config.update != "alternating")
    return "".join(f"{p}, " for p in parts)


def _train_single(trainer: Trainer, args: argparse.Namespace, run_dir: Path) -> int:
    config = trainer.config
    if not args.quiet:
        print(f"toygan: {config.preset} ({trainer.mixture.n_components} modes, "
              f"{trainer.mixture.dim}-D), loss {config.loss}, k={config.k}, "
              f"{config.optimizer} lr_d={config.lr_d:g} lr_g={config.lr_g:g}, "
              f"{_scheme(config)}batch {config.batch}, steps {trainer.step}->{config.steps}, "
              f"backend {config.backend}{_kernel_path(trainer)} -> {run_dir}",
              file=sys.stderr)
    code = 0
    try:
        summary = trainer.run(Progress(args.quiet))
    except Diverged as err:
        print(f"toygan.run: {err}", file=sys.stderr)
        summary = json.loads((run_dir / "summary.json").read_text())
        code = EXIT_DIVERGED
    except Interrupted as err:
        return _interrupted(err, trainer, run_dir)
    # The figures read the run files, not the trainer: let its arrays go first, so that
    # the process's peak memory is the larger of training and plotting, not their sum.
    del trainer
    gc.collect()
    if not args.no_plots and (run_dir / "samples.npz").is_file():
        from .figures.run_figures import make_all  # matplotlib only when plotting

        try:
            make_all(run_dir, gif=args.gif, note=None if args.quiet else (
                lambda text: print(f"toygan.run: note: {text}", file=sys.stderr)))
        except KeyboardInterrupt:
            print(f"\ntoygan.run: interrupted while drawing the figures; the run is complete "
                  f"(python -m toygan.plot {run_dir} draws them)", file=sys.stderr)
            return EXIT_INTERRUPTED
    if not args.quiet:
        print(format_summary(summary, run_dir))
    return code


def _event_counts(events: list[dict]) -> str:
    if not events:
        return "none"
    kinds: dict[str, list[int]] = {}
    for event in events:
        kinds.setdefault(event["kind"].replace("_", " "), []).append(event["step"])
    return "; ".join(f"{kind} x{len(steps)} (first at step {steps[0]})"
                     for kind, steps in kinds.items())


def format_summary(summary: dict, run_dir: Path) -> str:
    def fmt(value, spec):
        return "n/a" if value is None else format(value, spec)

    lines = [
        f"run directory      {run_dir}",
        f"steps              {summary['steps']} in {summary['wall_seconds']:.1f} s "
        f"({fmt(summary['steps_per_second'], '.0f')} it/s training)",
        f"modes covered      {summary['modes_covered']}/{summary['modes_total']} "
        f"(>= 20 samples: {summary['modes_covered_20']})",
        f"high quality       {fmt(summary['high_quality_fraction'], '.3f')} of samples "
        "within 3 std of a mode",
        f"reverse KL         {fmt(summary['reverse_kl'], '.4f')} nats",
        f"JSD estimate       {fmt(summary['jsd_estimate'], '.4f')} "
        f"+- {fmt(summary['jsd_stderr'], '.4f')} nats",
        f"mode entropy       {fmt(summary.get('mode_entropy'), '.3f')} nats "
        f"(log {summary['modes_total']} = {math.log(summary['modes_total']):.3f})",
        f"precision/recall   {fmt(summary.get('precision'), '.3f')} / "
        f"{fmt(summary.get('recall'), '.3f')} (k=3); coverage "
        f"{fmt(summary.get('coverage'), '.3f')} (k=5)",
        f"collapse events    {_event_counts(summary.get('events') or [])}",
        f"diverged           {summary['diverged']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
