"""Command line: `python -m toygan.run PRESET [options]` trains one GAN and writes a run dir.

Exit codes: 0 done, 2 bad input (nothing on disk changed), 3 diverged (last good
checkpoint kept), 130 interrupted (state saved; continue with --resume).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import re
import sys
import time
from pathlib import Path

from .config import BACKENDS, KERNELS, NOISE, Config, ConfigError
from .distributions import PRESETS
from .losses import LOSSES
from .nn import ACTIVATIONS
from .optim import OPTIMIZERS
from .plot import GIF_FILE, PLOT_FILES
from .population import (
    POPULATION_FILES,
    POPULATION_PLOT_FILES,
    PopulationTrainer,
    format_table,
    parse_grid,
)
from .train import RUN_FILES, CheckpointError, Diverged, Trainer

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130
OWN_FILES = (*RUN_FILES, "samples.npz", *PLOT_FILES, GIF_FILE)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read "-1e-3" as a (bad) number, not as an unknown option, so that the user hears
        # "must be positive" (argparse before 3.13 knows no exponents here).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str):  # one line, exit 2 (argparse would add the usage block)
        raise UsageError(message)


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


def build_parser() -> argparse.ArgumentParser:
    presets = "; ".join(f"{name}: {text}" for name, (text, _) in PRESETS.items())
    p = _Parser(
        prog="python -m toygan.run",
        description="Train a GAN (Algorithm 1 of Goodfellow et al., 2014) on a known "
        "distribution and write a run directory with metrics, checkpoint and plots.",
        epilog=f"Presets: {presets}. Defaults are those of Config in toygan/config.py.",
    )
    p.add_argument("preset", nargs="?", default=None,
                   help="preset name, a mixture JSON file, or an inline JSON object "
                   '{"means": [[0, 0], [1, 1]], "stds": 0.1, "weights": [1, 2]}')
    d = Config()
    p.add_argument("--loss", choices=list(LOSSES), help=f"(default {d.loss})")
    p.add_argument("--k", type=int, help=f"discriminator steps per iteration (default {d.k})")
    p.add_argument("--steps", type=int, help=f"training iterations (default {d.steps})")
    p.add_argument("--batch", type=int, help=f"minibatch size m (default {d.batch})")
    p.add_argument("--lr-d", type=float, help=f"discriminator learning rate (default {d.lr_d})")
    p.add_argument("--lr-g", type=float, help=f"generator learning rate (default {d.lr_g})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {d.optimizer})")
    p.add_argument("--hidden", type=_widths,
                   help=f"hidden widths of G and D, e.g. 128,128 (default {d.hidden})")
    acts = [a for a in ACTIVATIONS if a != "identity"]
    p.add_argument("--g-activation", choices=acts, help=f"(default {d.g_activation})")
    p.add_argument("--d-activation", choices=acts, help=f"(default {d.d_activation})")
    p.add_argument("--noise-dim", type=int, help=f"dimension of z (default {d.noise_dim})")
    p.add_argument("--noise", choices=NOISE, help=f"prior of z (default {d.noise})")
    p.add_argument("--seed", type=int, help=f"(default {d.seed})")
    p.add_argument("--eval-every", type=int, help=f"iterations between evaluations "
                   f"(default {d.eval_every})")
    p.add_argument("--eval-samples", type=int, help=f"G samples per evaluation "
                   f"(default {d.eval_samples})")
    p.add_argument("--clip", type=float, help=f"critic weight clip, wasserstein (default {d.clip})")
    p.add_argument("--dropout", type=float, help=f"D dropout probability (default {d.dropout})")
    p.add_argument("--dtype", choices=("float32", "float64"), help=f"(default {d.dtype})")
    p.add_argument("--pack", type=int, help="PacGAN packing: D judges packs of this many "
                   f"samples (default {d.pack}; numpy backend)")
    p.add_argument("--expensive-every", type=int, help="evaluations between the expensive "
                   "metrics (Parzen, precision/recall, density/coverage); 0: final only "
                   f"(default {d.expensive_every})")
    p.add_argument("--snapshot-samples", type=int, help="G samples kept per evaluation for "
                   f"the snapshot grid and GIF; 0: none (default {d.snapshot_samples})")
    p.add_argument("--backend", choices=BACKENDS, help="auto picks the best available; "
                   "cuda when CuPy sees a GPU, else numpy; emu runs the CUDA kernels on the CPU")
    p.add_argument("--kernels", choices=KERNELS, help="emu/cuda backends: fused runs each "
                   "training step as one kernel per network pass, per-op one kernel per "
                   "layer; auto: fused where the networks allow (no maxout or dropout)")
    p.add_argument("--population", type=int, metavar="N", help="train N GANs in lockstep "
                   "(per grid cell; seeds seed..seed+N-1; numpy backend unless --backend emu "
                   "or cuda); writes per-member metrics, a table per cell and figures")
    p.add_argument("--grid", metavar="SPEC", help="hyperparameters that differ between "
                   "members: 'lr_d=1e-4,3e-4 k=1,5' or a JSON object/file of lists (keys: "
                   "lr_d, lr_g, k, seed)")
    p.add_argument("--config", type=Path, help="take options from a JSON file (a run's "
                   "config.json reproduces the run); options given here override it")
    p.add_argument("--out", type=Path, help="run directory (default runs/<preset>-<time>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its "
                   "checkpoint (--steps may be raised)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.add_argument("--gif", action="store_true", help="also write training.gif, an "
                   "animation of G's samples (python -m toygan.plot RUN_DIR --gif later)")
    p.add_argument("--quiet", action="store_true", help="no progress, only errors")
    return p


OPTION_KEYS = ("loss", "k", "steps", "batch", "lr_d", "lr_g", "optimizer", "hidden",
               "g_activation", "d_activation", "noise_dim", "noise", "seed", "eval_every",
               "eval_samples", "clip", "dropout", "dtype", "backend", "kernels", "pack",
               "expensive_every", "snapshot_samples")


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


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"toygan.run: error: {message}", file=sys.stderr)
    return code


def _make_config(args: argparse.Namespace) -> Config:
    base: dict = {}
    if args.config is not None:
        try:
            base = json.loads(args.config.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {args.config}") from None
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read config file {args.config}: {err}") from None
        if not isinstance(base, dict):
            raise ConfigError(f"config file {args.config} must hold a JSON object")
        # A population run's config.json: its population and grid, unless given here.
        for key in ("population", "grid"):
            value = base.pop(key, None)
            if value is not None and getattr(args, key) is None:
                setattr(args, key, json.dumps(value) if key == "grid" else value)
    population = args.population is not None or args.grid is not None
    if population and args.backend is None and base.get("backend", "auto") == "auto":
        base["backend"] = "numpy"  # auto, for a population: the numpy backend
    if args.preset is not None:
        base["preset"], base["mixture"] = args.preset, None
    base.update({k: getattr(args, k) for k in OPTION_KEYS if getattr(args, k) is not None})
    config = Config.from_dict(base)
    config.validate()
    return config


def _train_population(trainer: PopulationTrainer, args: argparse.Namespace,
                      run_dir: Path) -> dict | None:
    """Trains the population; its summary, or None when interrupted."""
    config = trainer.base
    if not args.quiet:
        print(f"toygan: {config.preset} population of {trainer.gan.P} GANs "
              f"({trainer.population} per cell x {len(trainer.cells)} cells), loss "
              f"{config.loss}, batch {config.batch}, steps {config.steps}, backend "
              f"{config.backend}{_kernel_path(trainer)} -> {run_dir}", file=sys.stderr)
    try:
        return trainer.run(Progress(args.quiet))
    except KeyboardInterrupt:
        print("\ntoygan.run: interrupted; a population run cannot be resumed",
              file=sys.stderr)
        return None


def _finish_population(summary: dict, args: argparse.Namespace, run_dir: Path) -> int:
    if not args.no_plots:
        from .population_plots import make_population  # matplotlib only when plotting

        make_population(run_dir)
    if not args.quiet:
        print(format_table(summary))
        print(f"{summary['members']} members x {summary['steps']} steps, "
              f"{summary['gan_iterations_per_second']} GAN-iterations/s of training; "
              f"per-member metrics in {run_dir / 'members.jsonl'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        return _fail(str(err))
    try:
        if args.resume is not None:
            if (args.resume / "members.json").is_file():
                raise ConfigError(f"{args.resume} is a population run; population runs "
                                  "cannot be resumed (run it again, or sweep with "
                                  "python -m toygan.sweep, which resumes)")
            if args.population is not None or args.grid is not None:
                raise ConfigError("--population and --grid start a new run; not with --resume")
            if args.preset is not None or args.config is not None:
                raise ConfigError("--resume continues the run's own configuration; "
                                  "give no preset or --config with it")
            overrides = {k: getattr(args, k) for k in OPTION_KEYS if getattr(args, k) is not None}
            trainer = Trainer.resume(args.resume, overrides)
            run_dir = args.resume
        else:
            if args.preset is None and args.config is None:
                raise ConfigError("give a preset (e.g. mixture8) or --config FILE")
            config = _make_config(args)
            population = args.population is not None or args.grid is not None
            run_dir = args.out or Path("runs") / f"{config.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
            names = dict.fromkeys((*OWN_FILES, *POPULATION_FILES, *POPULATION_PLOT_FILES))
            existing = [f for f in names if (run_dir / f).exists()]
            if run_dir.exists() and not run_dir.is_dir():
                raise ConfigError(f"--out {run_dir} is a file, not a directory")
            if existing and not args.overwrite:
                raise ConfigError(f"{run_dir} already holds a run ({existing[0]}); "
                                  "use --resume to continue it or --overwrite to replace it")
            if population:
                members = 1 if args.population is None else args.population  # --grid alone
                trainer = PopulationTrainer(config, members,
                                            parse_grid(args.grid), run_dir)
            else:
                trainer = Trainer(config, run_dir)
            for name in existing:  # --overwrite: no stale file from the old run survives
                (run_dir / name).unlink()
    except (ConfigError, CheckpointError) as err:
        return _fail(str(err))
    if isinstance(trainer, PopulationTrainer):
        summary = _train_population(trainer, args, run_dir)
        del trainer  # the figures read the files: let the members' arrays go first
        gc.collect()
        return EXIT_INTERRUPTED if summary is None else _finish_population(summary, args,
                                                                           run_dir)

    config = trainer.config
    if not args.quiet:
        print(f"toygan: {config.preset} ({trainer.mixture.n_components} modes, "
              f"{trainer.mixture.dim}-D), loss {config.loss}, k={config.k}, "
              f"{config.optimizer} lr_d={config.lr_d:g} lr_g={config.lr_g:g}, "
              f"batch {config.batch}, steps {trainer.step}->{config.steps}, "
              f"backend {config.backend}{_kernel_path(trainer)} -> {run_dir}",
              file=sys.stderr)
    code = 0
    try:
        summary = trainer.run(Progress(args.quiet))
    except Diverged as err:
        print(f"toygan.run: {err}", file=sys.stderr)
        summary = json.loads((run_dir / "summary.json").read_text())
        code = EXIT_DIVERGED
    except KeyboardInterrupt:
        trainer.interrupt()
        print(f"\ntoygan.run: interrupted at step {trainer.step}; state saved, continue with "
              f"--resume {run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    # The figures read the run files, not the trainer: let its arrays go first, so that
    # the process's peak memory is the larger of training and plotting, not their sum.
    del trainer
    gc.collect()
    if not args.no_plots and (run_dir / "samples.npz").is_file():
        from . import plots  # matplotlib only when plotting

        plots.make_all(run_dir, gif=args.gif)
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
