"""`python -m toygan.plot RUN_DIR [--gif]`: (re)draw a run's figures from its files alone."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The figures' file names (here, not in plots.py, so that run.py knows them without
# importing matplotlib).
PLOT_FILES = ("samples.png", "snapshots.png", "discriminator.png", "curves.png",
              "mode_mass.png", "coverage.png")
GIF_FILE = "training.gif"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toygan.plot",
        description="Draw the diagnostics of a run directory: samples, snapshots over "
        "training, D with D*, curves, mass per mode over time, coverage bars.")
    parser.add_argument("run_dir", type=Path, help="a run directory, or a population run's "
                        "(its population figures)")
    parser.add_argument("--gif", action="store_true",
                        help="also write training.gif, an animation of G's samples")
    args = parser.parse_args(argv)
    if (args.run_dir / "population.json").is_file():
        from .population_plots import make_population

        for path in make_population(args.run_dir):
            print(path)
        return 0
    if not (args.run_dir / "samples.npz").is_file():
        print(f"toygan.plot: error: {args.run_dir} is not a finished run (no samples.npz)",
              file=sys.stderr)
        return 2
    from . import plots  # matplotlib only once the input is known to be good

    for path in plots.make_all(args.run_dir, gif=args.gif):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
