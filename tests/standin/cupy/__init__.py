"""A strict stand-in for CuPy, written for toygan's tests: the subset of CuPy toygan uses,
with the rules a GPU enforces (often silently) turned into errors.

- Arrays live "on the device" as NumPy buffers; fresh memory holds NaN (floats) or a
  garbage pattern (integers), as device memory holds whatever was there.
- `RawModule` reads every `extern "C" __global__` signature in the sources and marshals
  arguments by CuPy's rules (a Python int is a 64-bit integer, a Python float a double,
  a NumPy scalar its own dtype): an argument that does not match its parameter's C type,
  a host NumPy array or a wrong-dtype array for a pointer, a non-contiguous view, or a
  grid or block over CUDA's limits is an error. The one non-contiguous view allowed is
  toygan's member-strided (P, rows, cols) one, whose stride the kernel takes as an
  argument; those are counted in `cupy._standin.flagged`. Kernels execute on toygan's CPU emulator.
- Streams keep CUDA's ordering (legacy default stream, blocking and non-blocking streams,
  events); a cross-stream access without an event or synchronisation between is an error.
- Stream capture records kernels, fills and device copies and replays them; a
  synchronisation, an allocation, a host copy or legacy-stream work while capturing is an
  error, as in CUDA.
- Every host synchronisation (a transfer to the host, float(), bool(), synchronize()) is
  counted per call site: `cupy._standin.syncs`.

Use it by putting tests/standin first on sys.path (tests/conftest.py does so for the
`cuda` parametrisations); `_standin` is the stand-in's own interface (reset, counters).
"""

from __future__ import annotations

import numpy as np

from . import _state
from ._array import _compute, _device_data, ndarray
from ._raw import RawKernel, RawModule
from ._state import StandinError

__version__ = "0+toygan.standin"
STANDIN = True

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, uint32, uint64, bool_ = np.int32, np.int64, np.uint32, np.uint64, np.bool_


class _StandinInterface:
    """What tests read: the host synchronisations per call site, the races found."""

    StandinError = StandinError

    @staticmethod
    def reset() -> None:
        _state.reset()

    @property
    def syncs(self):
        return _state.device.syncs

    @property
    def flagged(self):
        return _state.device.flagged

    @property
    def launches(self) -> int:
        return _state.device.launches


_standin = _StandinInterface()


def get_default_memory_pool():
    return _state.device.pool


# ---------------------------------------------------------------------- creation
def empty(shape, dtype=float, order: str = "C") -> ndarray:
    if order != "C":
        raise StandinError("the stand-in makes C-ordered arrays only")
    return ndarray(shape, dtype)


def zeros(shape, dtype=float) -> ndarray:
    a = empty(shape, dtype)
    a.fill(0)
    return a


def ones(shape, dtype=float) -> ndarray:
    a = empty(shape, dtype)
    a.fill(1)
    return a


def empty_like(a: ndarray, dtype=None) -> ndarray:
    return empty(a.shape, a.dtype if dtype is None else dtype)


def zeros_like(a: ndarray, dtype=None) -> ndarray:
    return zeros(a.shape, a.dtype if dtype is None else dtype)


def ones_like(a: ndarray, dtype=None) -> ndarray:
    return ones(a.shape, a.dtype if dtype is None else dtype)


def asarray(value, dtype=None) -> ndarray:
    """A device array: the same array if it already is one (of that dtype), else a copy of
    host data made on the current stream."""
    if isinstance(value, ndarray):
        return value if dtype is None or np.dtype(dtype) == value.dtype \
            else value.astype(dtype)
    host = np.ascontiguousarray(np.asarray(value, dtype=dtype))
    out = empty(host.shape, host.dtype)
    out.set(host)
    return out


array = asarray


def asnumpy(a, stream=None) -> np.ndarray:
    if isinstance(a, ndarray):
        return a.get(stream)
    return np.asarray(a)


# ---------------------------------------------------------------------- math
def _unary(ufunc):
    def apply(x):
        return _compute(ufunc.__name__, lambda: ufunc(_device_data(x, ufunc.__name__)), [x])
    apply.__name__ = ufunc.__name__
    return apply


def _binary(ufunc):
    def apply(x, y):
        return _compute(ufunc.__name__, lambda: ufunc(_device_data(x, ufunc.__name__),
                                                      _device_data(y, ufunc.__name__)),
                        [x, y])
    apply.__name__ = ufunc.__name__
    return apply


tanh, exp, log, log1p, sqrt, abs, isfinite, isnan = map(  # noqa: A001 - CuPy's names
    _unary, (np.tanh, np.exp, np.log, np.log1p, np.sqrt, np.abs, np.isfinite, np.isnan))
maximum, minimum = _binary(np.maximum), _binary(np.minimum)


def concatenate(arrays, axis: int = 0) -> ndarray:
    arrays = list(arrays)
    return _compute("concatenate", lambda: np.concatenate(
        [_device_data(a, "concatenate") for a in arrays], axis=axis), arrays)


def cumsum(a: ndarray, axis=None) -> ndarray:
    return _compute("cumsum", lambda: np.cumsum(_device_data(a, "cumsum"), axis=axis), [a])


def searchsorted(a: ndarray, v, side: str = "left") -> ndarray:
    return _compute("searchsorted", lambda: np.searchsorted(
        _device_data(a, "searchsorted"), _device_data(v, "searchsorted"), side=side), [a, v])


def where(condition, x, y) -> ndarray:
    return _compute("where", lambda: np.where(*(_device_data(v, "where")
                                                for v in (condition, x, y))), [condition, x, y])


from . import cuda, linalg, random  # noqa: E402 - they use the names above

__all__ = ["RawKernel", "RawModule", "StandinError", "asarray", "asnumpy", "cuda", "empty",
           "linalg", "ndarray", "random", "zeros"]
