"""`Device`: where a GAN's arrays live (NumPy, or CuPy on a GPU) and which implementation of
the ops runs on them: the NumPy references, or the kernels on the emulator or a GPU.

Every buffer of a training step comes from `Device.empty`, which counts allocations, so the
tests can check that a step allocates nothing after the first iteration.
"""

from __future__ import annotations

import numpy as np

from . import reference
from .ops import KernelOps

KINDS = ("reference", "emu", "cuda")


class Device:
    """Where arrays live and which implementation of the ops runs on them."""

    def __init__(self, kind: str, dtype="float32") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown device kind {kind!r}; choose from {', '.join(KINDS)}")
        self.kind, self.dtype = kind, np.dtype(dtype)
        self.allocations = 0
        if kind == "reference":
            self.xp, self.ops = np, reference
        else:
            from .launch import load_module

            module = load_module(kind, self.dtype.name)
            self.ops = KernelOps(module)
            if kind == "cuda":
                import cupy

                self.xp = cupy
            else:
                self.xp = np

    def empty(self, shape: tuple[int, ...], dtype=None):
        self.allocations += 1
        return self.xp.empty(shape, dtype=self.dtype if dtype is None else dtype)

    def zeros(self, shape: tuple[int, ...], dtype=None):
        a = self.empty(shape, dtype)
        a.fill(0)
        return a

    def upload(self, host: np.ndarray, dtype=None):
        a = self.empty(host.shape, dtype or self.dtype)
        a[...] = self.xp.asarray(np.asarray(host, dtype=a.dtype))
        return a

    def download(self, a) -> np.ndarray:
        return a.get() if self.kind == "cuda" else np.array(a, copy=True)
