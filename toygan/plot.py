"""`python -m toygan.plot RUN_DIR [--gif]`: (re)draw a run's figures from its files alone.

Exit codes: 0 drawn, 2 bad input: no such run directory, a run file that is missing,
corrupt or does not fit the others, a directory the figures cannot be written to, or bad
options. The error is one line on stderr, naming the file and what is wrong; every run
file is read and checked before the first figure is written, so a bad one changes nothing.

Figures that the run's files do not allow are not drawn, with a note on stderr: the
discriminator figure of a packed D or of data of 3 or more dimensions (samples.npz holds D
on a grid for 1-D and 2-D data only), the snapshots and the GIF of a run that kept no
snapshots. A file of that name left by an earlier run is removed, so that RUN_DIR never
shows a figure of other data. The paths drawn are printed on stdout, one a line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import CommandParser, UsageError
from .runfiles import GIF_FILE, PLOT_FILES, RunFileError  # noqa: F401 (PLOT_FILES: drawn)

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m toygan.plot",
        description="Draw the diagnostics of a run directory: samples, snapshots over "
        "training, D with D*, curves, mass per mode over time, coverage bars.")
    parser.add_argument("run_dir", help="a run directory, or a population run's "
                        "(its population figures)")
    parser.add_argument("--gif", action="store_true",
                        help="also write training.gif, an animation of G's samples")
    return parser


def _fail(message: str) -> int:
    print(f"toygan.plot: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _note(message: str) -> None:
    print(f"toygan.plot: note: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        return _fail(str(err))
    if not args.run_dir:
        return _fail("give a run directory")
    run_dir = Path(args.run_dir)
    if not run_dir.exists():
        return _fail(f"{run_dir} does not exist")
    if not run_dir.is_dir():
        return _fail(f"{run_dir} is a file, not a run directory")
    population = (run_dir / "population.json").exists()
    if not population and not (run_dir / "samples.npz").exists():
        return _fail(f"{run_dir} is not a finished run (no samples.npz)")
    # matplotlib only once the input looks like a run
    try:
        if population:
            from .figures.population import make_population

            if args.gif:
                _note(f"{GIF_FILE} not drawn: a population run has no animation")
            paths = make_population(run_dir)
        else:
            from .figures.run_figures import make_all

            paths = make_all(run_dir, gif=args.gif, note=_note)
    except RunFileError as err:
        return _fail(str(err))
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        return _fail(f"cannot write the figures in {run_dir} ({reason})")
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
