"""What every kernel test shares: the per-dtype tolerance table, poisoned and guarded
outputs, and a comparison that reports max abs/rel error and the first mismatches.

Tolerances are error bounds, not fudge factors: a sum of n terms computed in any order is
within about n u sum|terms| of the exact value (u the unit roundoff), so kernel and
reference differ by at most twice that; elementwise maths (exp, log, sqrt, cos, ...) by a
few ulps of the operands' magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests import cupy_standin
from toygan.device.launch import load_module
from toygan.device.ops import KernelOps


@dataclass(frozen=True)
class Tolerance:
    unit: float  # unit roundoff of the dtype
    ulps: float = 16.0  # elementwise allowance, in units of `unit`

    def elementwise(self, magnitude) -> np.ndarray:
        return self.ulps * self.unit * np.asarray(magnitude) + 1e-30

    def reduction(self, n_terms: int, magnitude) -> np.ndarray:
        """Bound for two sums of n_terms terms whose absolute values sum to `magnitude`."""
        return (2 * (n_terms + 2) * self.unit + self.ulps * self.unit) * np.asarray(
            magnitude) + 1e-30


TOLERANCES = {np.dtype(np.float32): Tolerance(2.0**-24), np.dtype(np.float64): Tolerance(2.0**-53)}
DTYPES = ("float32", "float64")
POISON = {"f": np.nan, "i": -(2**30), "u": 0xDEADBEEF}
GUARD_VALUE = {"f": 1234.5, "i": 987654, "u": 0xCAFEF00D}
GUARD = 37  # elements of sentinel before and after every output


def assert_close(name: str, got, want, bound) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    if got.dtype.kind in "iu":
        bad = got != want
    else:
        bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), want.shape)
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        bad = ~(diff <= bound)  # NaN (an unwritten, poisoned element) counts as bad
    if not bad.any():
        return
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    rel = diff / np.maximum(np.abs(want.astype(np.float64)), 1e-300)
    where = np.argwhere(bad)[:5]
    first = "; ".join(f"{tuple(int(i) for i in at)}: got {got[tuple(at)]!r} want "
                      f"{want[tuple(at)]!r}" for at in where)
    raise AssertionError(
        f"{name}: {int(bad.sum())} of {bad.size} elements differ; max abs err "
        f"{np.nanmax(np.where(np.isfinite(diff), diff, np.nan), initial=0):.3g}, max rel err "
        f"{np.nanmax(np.where(np.isfinite(rel), rel, np.nan), initial=0):.3g}; first: {first}")


class Backend:
    """A kernel module with its array transfers: 'emu' (NumPy arrays) or 'cuda' (CuPy)."""

    def __init__(self, kind: str, dtype: str) -> None:
        self.kind, self.dtype = kind, np.dtype(dtype)
        self.ops = KernelOps(load_module(kind, dtype))
        if kind == "cuda":
            import cupy

            self.to_device, self.to_host = cupy.asarray, cupy.asnumpy
        else:
            self.to_device, self.to_host = (lambda a: a.copy()), np.asarray

    def sync(self) -> None:
        if self.kind == "cuda":
            import cupy

            cupy.cuda.Device().synchronize()


def backend_kinds() -> list[str]:
    """The kernel modules the tests run on: the emulator, and CUDA through the real CuPy
    on a GPU or the strict stand-in elsewhere (tests/cupy_standin.py)."""
    return ["emu"] if cupy_standin.mode() == "off" else ["emu", "cuda"]


class Output:
    """An output buffer poisoned before the launch (NaN, or a sentinel for integers) and
    fenced by guard elements, so an unwritten element and a write out of bounds both fail.

    lead_rows > 0 makes the output a member-strided view: rows before it in each member of
    a (P, lead_rows + rows, cols) parent, which must stay untouched too.
    """

    def __init__(self, backend: Backend, shape: tuple[int, ...], dtype=None,
                 lead_rows: int = 0) -> None:
        self.backend, self.shape, self.lead = backend, shape, lead_rows
        self.dtype = np.dtype(dtype or backend.dtype)
        kind = self.dtype.kind
        full = (shape[0], shape[1] + lead_rows, *shape[2:]) if lead_rows else shape
        self.full_shape = full
        n = int(np.prod(full))
        host = np.full(n + 2 * GUARD, GUARD_VALUE[kind], dtype=self.dtype)
        interior = host[GUARD:GUARD + n].reshape(full)
        if lead_rows:
            interior[:, lead_rows:] = POISON[kind]
        else:
            interior[...] = POISON[kind]
        self.device_buffer = backend.to_device(host)
        inner = self.device_buffer[GUARD:GUARD + n].reshape(full)
        self.array = inner[:, lead_rows:] if lead_rows else inner

    def result(self) -> np.ndarray:
        """The output on the host, after checking that nothing outside it was written."""
        self.backend.sync()
        host = self.backend.to_host(self.device_buffer)
        sentinel = GUARD_VALUE[self.dtype.kind]
        n = int(np.prod(self.full_shape))
        guards = np.concatenate([host[:GUARD], host[GUARD + n:]])
        assert (guards == sentinel).all(), "a kernel wrote outside its output (guard changed)"
        interior = host[GUARD:GUARD + n].reshape(self.full_shape)
        if self.lead:
            assert (interior[:, :self.lead] == sentinel).all(), (
                "a kernel wrote into the rows before a member-strided output")
            return interior[:, self.lead:]
        return interior
