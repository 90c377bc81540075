"""The benchmark's workload: the default run's model and optimiser at a given batch size."""

from __future__ import annotations

from ..config import Config


def workload(batch: int) -> Config:
    """The default run's model and optimiser at minibatch size `batch`."""
    return Config(preset="mixture8", batch=batch, backend="numpy", dtype="float32")
