"""`cupy.random`: a seeded generator on the "device" (its numbers are NumPy's, not
cuRAND's; toygan compares nothing against CuPy's streams). `choice` with probabilities
checks them on the host, as CuPy does, which synchronises."""

from __future__ import annotations

import numpy as np

from . import _state
from ._array import _compute, ndarray

_generator = np.random.default_rng(0)


def seed(value: int | None = None) -> None:
    global _generator
    _generator = np.random.default_rng(value)


def standard_normal(size=None, dtype=float) -> ndarray:
    return _compute("random.standard_normal",
                    lambda: _generator.standard_normal(size, dtype=np.dtype(dtype)), [])


def random_sample(size=None, dtype=float) -> ndarray:
    return _compute("random.random_sample",
                    lambda: _generator.random(size, dtype=np.dtype(dtype)), [])


random = random_sample


def uniform(low=0.0, high=1.0, size=None, dtype=float) -> ndarray:
    return _compute("random.uniform", lambda: (
        low + (high - low) * _generator.random(size)).astype(dtype), [])


def choice(a, size=None, replace: bool = True, p=None) -> ndarray:
    if not isinstance(a, (int, np.integer)):
        raise NotImplementedError("the stand-in's choice takes an int")
    if p is not None:
        if not isinstance(p, ndarray):
            raise TypeError("p must be a device array")
        # CuPy validates p on the host: two transfers, each a synchronisation.
        probabilities = p.get()
        if not bool((p >= 0).all()):
            raise ValueError("probabilities are not non-negative")
        if not np.isclose(probabilities.sum(), 1):
            raise ValueError("probabilities do not sum to 1")
    else:
        probabilities = None
    return _compute("random.choice", lambda: _generator.choice(
        int(a), size, replace=replace, p=probabilities), [])


__all__ = ["choice", "random_sample", "seed", "standard_normal", "uniform", "_state"]
