"""Figures of a run, drawn from its run directory alone (never from live objects).

    python -m toygan.plot RUN_DIR [--gif]

Each figure has an `*_arrays` function that computes what it draws from the files (tested
directly) and a `plot_*` function that draws it. Colours are the Okabe-Ito colour-blind-safe
palette; maps are viridis/cividis; fonts are sized for slides.

Any dimension: 1-D data is drawn as densities and histograms, 2-D data as the plane, and
data of 3 or more dimensions as its projections on the pairs of its first three coordinates
(x1-x2, x1-x3, x2-x3), each over the exact marginal density of the mixture on that pair.
`discriminator.png` needs D on a grid, which samples.npz holds for 1-D and 2-D data only
(and not for a packed D): otherwise it is not drawn (see `skipped`).

The files are read and checked once, before anything is drawn: a missing, corrupt or
inconsistent file raises runfiles.RunFileError naming it, and no figure is written. Every
figure reaches the disk through `save_figure` (the GIF through `save_gif`), atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..runfiles import GIF_FILE
from .curves import plot_coverage, plot_curves, plot_mode_mass
from .run_files import load_run, skipped
from .samples import make_gif, plot_discriminator, plot_samples, plot_snapshots

FIGURES = (("samples.png", plot_samples), ("snapshots.png", plot_snapshots),
           ("discriminator.png", plot_discriminator), ("curves.png", plot_curves),
           ("mode_mass.png", plot_mode_mass), ("coverage.png", plot_coverage))


def make_all(run_dir: Path, gif: bool = False,
             note: Callable[[str], object] | None = None) -> list[Path]:
    """Every figure the run's files allow (and the GIF when asked); returns the paths.

    The files are read and checked first (RunFileError before anything is written). A
    figure the files do not allow (see `skipped`) is not drawn, and a file of that name
    left by an earlier run is removed, so that the directory never shows a figure of other
    data; `note`, when given, hears one line for each."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    missing = skipped(*run)
    makers = [*FIGURES, *([(GIF_FILE, make_gif)] if gif else [])]
    paths = [make(run_dir, run=run) for name, make in makers if name not in missing]
    for name, _ in makers:
        if name not in missing:
            continue
        stale = run_dir / name
        removed = stale.is_file()
        if removed:
            stale.unlink()
        if note is not None:
            note(f"{name} not drawn: {missing[name]}"
                 + ("; removed the one left by an earlier run" if removed else ""))
    return [p for p in paths if p is not None]
