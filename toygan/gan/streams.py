"""The random streams of a run and G's prior.

The run's seed spawns independent NumPy streams (SeedSequence) for G's init, D's init,
data draws, noise draws, dropout and the fixed evaluation sets. The streams training
consumes (TRAINING_STREAMS) are checkpointed, so a resumed run continues bit for bit; the
kernel backends derive their Philox keys from the same seed sequences.
"""

from __future__ import annotations

import numpy as np

from ..config import Config

STREAMS = ("g_init", "d_init", "data", "noise", "dropout", "eval")
TRAINING_STREAMS = ("data", "noise", "dropout")


def draw_noise(config: Config, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """G's prior: N(0, I), or uniform on [-1, 1) (the paper's Figure 1 prior)."""
    dtype = np.dtype(config.dtype)
    if config.noise == "normal":
        return rng.standard_normal(shape, dtype=dtype)
    z = rng.random(shape, dtype=dtype)
    z *= 2
    z -= 1
    return z


def random_streams(seed: int) -> tuple[list[np.random.SeedSequence],
                                      dict[str, np.random.Generator]]:
    """The run's independent streams (STREAMS), as seed sequences and NumPy generators."""
    seeds = np.random.SeedSequence(seed).spawn(len(STREAMS))
    rng = {name: np.random.Generator(np.random.PCG64(s))
           for name, s in zip(STREAMS, seeds, strict=True)}
    return seeds, rng
