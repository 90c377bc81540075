"""The one matplotlib setup of the figures (the Agg backend, font sizes), their colours (the
Okabe-Ito colour-blind-safe palette) and the one way a figure reaches the disk: atomically,
through runfiles (`save_figure`, and `save_gif` for animations)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..runfiles import atomic_save_figure, atomic_write_bytes  # noqa: E402

REAL = "#0072B2"  # blue
FAKE = "#D55E00"  # vermillion
OTHER = "#009E73"  # green
PURPLE = "#CC79A7"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREY = "#555555"
EVENT_COLOURS = {"coverage_drop": PURPLE, "entropy_collapse": ORANGE, "mode_hopping": SKY}

plt.rcParams.update({"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12,
                     "legend.fontsize": 10, "figure.dpi": 100})


# ------------------------------------------------------------------ saving
def save_figure(fig, path: Path) -> Path:
    """The one way a figure reaches the disk: written atomically (runfiles.atomic_save_figure:
    a reader sees the old file or the new one, never half of one), at 100 dpi with a tight
    box; the figure is closed either way."""
    try:
        return atomic_save_figure(fig, Path(path), dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def save_gif(fig, draw_frame: Callable[[int], object], frames: int, path: Path,
             fps: int = 4, dpi: int = 80) -> Path:
    """An animated GIF of `frames` frames, frame i drawn on `fig` by draw_frame(i), encoded
    by Pillow in memory and written atomically (runfiles.atomic_write_bytes); the figure
    is closed either way. The frames are those matplotlib's PillowWriter would grab."""
    from PIL import Image

    try:
        fig.set_dpi(dpi)
        images = []
        for i in range(frames):
            draw_frame(i)
            fig.canvas.draw()
            image = Image.fromarray(np.array(fig.canvas.buffer_rgba()), "RGBA")
            # Opaque frames as RGB: Pillow converts them to a palette better (PillowWriter).
            images.append(image if image.getextrema()[3][0] < 255 else image.convert("RGB"))
        buffer = io.BytesIO()
        images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def _finite_rows(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x).all(axis=-1)]
