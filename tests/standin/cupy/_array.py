"""`cupy.ndarray` over NumPy: device buffers whose fresh memory is garbage (NaN for floats),
every operation an ordered operation on the current stream (see _state), every transfer to
the host a counted synchronisation, and no silent conversion between host and device."""

from __future__ import annotations

import numpy as np

from . import _state
from ._state import StandinError


def _device_data(value, what: str):
    """The NumPy view behind a stand-in array or a scalar operand; host arrays refused."""
    if isinstance(value, ndarray):
        return value._data
    if isinstance(value, np.ndarray):
        raise TypeError(f"{what}: a host NumPy array where a device array belongs (CuPy "
                        "refuses this; use cupy.asarray)")
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return value
    raise TypeError(f"{what}: unsupported operand type {type(value).__name__}")


def _buffers(values) -> list:
    return [v._buffer for v in values if isinstance(v, ndarray)]


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: `_data` is a NumPy view into `_buffer.storage`."""

    __array_ufunc__ = None  # NumPy operators and ufuncs refuse it (no implicit transfer)

    def __init__(self, shape, dtype=float, _view=None, _buffer=None) -> None:
        if _view is not None:
            self._buffer, self._data = _buffer, _view
            return
        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        _state.device.check_allocation("cupy.empty")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self._buffer = _state.Buffer(nbytes)
        self._data = self._buffer.storage[:nbytes].view(dtype).reshape(shape)
        self._data[...] = _state.garbage(dtype)  # what device memory holds before a write

    # ------------------------------------------------------------------ attributes
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    itemsize = property(lambda self: self._data.itemsize)
    nbytes = property(lambda self: self._data.nbytes)
    strides = property(lambda self: self._data.strides)
    flags = property(lambda self: self._data.flags)

    @property
    def T(self) -> ndarray:  # noqa: N802 - NumPy's name
        return self._view(self._data.T)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<stand-in cupy.ndarray shape={self.shape} dtype={self.dtype}>"

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __iter__(self):
        raise TypeError("the stand-in does not iterate over device arrays (each element "
                        "would be a transfer); index or .get() explicitly")

    def _view(self, data: np.ndarray) -> ndarray:
        return ndarray(None, _view=data, _buffer=self._buffer)

    # ------------------------------------------------------------------ transfers
    def get(self, stream=None) -> np.ndarray:
        """Device to host: a copy on the current stream, then the host waits for it."""
        state = stream.state if stream is not None else _state.current_stream()
        out = np.empty(self.shape, self.dtype)
        _state.device.issue(state, "ndarray.get", lambda: out.__setitem__(..., self._data),
                            reads=[self._buffer], host_copy=True)
        _state.device.synchronize("a device-to-host copy", state.clock)
        return out

    def set(self, host: np.ndarray, stream=None) -> None:
        """Host to device, on the current stream (pageable memory: staged, not waited)."""
        if not isinstance(host, np.ndarray) or host.shape != self.shape \
                or host.dtype != self.dtype:
            raise StandinError(f"ndarray.set: needs a NumPy array of shape {self.shape} and "
                               f"dtype {self.dtype}, got {type(host).__name__} "
                               f"{getattr(host, 'shape', '')} {getattr(host, 'dtype', '')}")
        host = host.copy()
        state = stream.state if stream is not None else _state.current_stream()
        _state.device.issue(state, "ndarray.set", lambda: self._data.__setitem__(..., host),
                            writes=[self._buffer], host_copy=True)

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.get().item()

    __float__ = lambda self: float(self.item())  # noqa: E731
    __int__ = lambda self: int(self.item())  # noqa: E731
    __bool__ = lambda self: bool(self.item())  # noqa: E731

    # ------------------------------------------------------------------ writes
    def fill(self, value) -> None:
        if isinstance(value, (ndarray, np.ndarray)):
            raise TypeError("fill takes a scalar")
        _state.device.issue(_state.current_stream(), "ndarray.fill (memset)",
                            lambda: self._data.fill(value), writes=[self._buffer])

    def __setitem__(self, key, value) -> None:
        key = _host_key(key)
        source = _device_data(value, "ndarray.__setitem__")
        _state.device.issue(_state.current_stream(), "ndarray.__setitem__",
                            lambda: self._data.__setitem__(key, source),
                            reads=_buffers([value]), writes=[self._buffer])

    def __getitem__(self, key) -> ndarray:
        index_arrays = [k for k in (key if isinstance(key, tuple) else (key,))
                        if isinstance(k, ndarray)]
        host_key = _host_key(key)
        taken = self._data[host_key]
        if np.may_share_memory(taken, self._buffer.storage) and not index_arrays:
            return self._view(taken)  # basic indexing: a view, no work
        return _compute("ndarray.__getitem__ (gather)", lambda: self._data[host_key],
                        [self, *index_arrays])

    # ------------------------------------------------------------------ shapes
    def reshape(self, *shape) -> ndarray:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        reshaped = self._data.reshape(shape)
        if np.may_share_memory(reshaped, self._buffer.storage):
            return self._view(reshaped)
        return _compute("ndarray.reshape (copy)", lambda: self._data.reshape(shape), [self])

    def ravel(self) -> ndarray:
        return self.reshape(-1)

    def copy(self) -> ndarray:
        return _compute("ndarray.copy", lambda: self._data.copy(), [self])

    def astype(self, dtype, copy: bool = True) -> ndarray:
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return _compute("ndarray.astype", lambda: self._data.astype(dtype), [self])

    def sum(self, axis=None, dtype=None, keepdims=False) -> ndarray:
        return _compute("ndarray.sum", lambda: np.asarray(
            self._data.sum(axis=axis, dtype=dtype, keepdims=keepdims)), [self])


def _reduction(name: str):
    def reduce(self, axis=None, keepdims=False) -> ndarray:
        return _compute(f"ndarray.{name}", lambda: np.asarray(
            getattr(self._data, name)(axis=axis, keepdims=keepdims)), [self])
    return reduce


for _name in ("all", "any", "max", "min", "mean"):
    setattr(ndarray, _name, _reduction(_name))


def _host_key(key):
    """An index with device index arrays read (inside an operation) as NumPy views."""
    if isinstance(key, tuple):
        return tuple(k._data if isinstance(k, ndarray) else k for k in key)
    return key._data if isinstance(key, ndarray) else key


def _compute(name: str, produce, operands) -> ndarray:
    """An operation on the current stream making a new array from `operands` (arrays and
    scalars): `produce()` computes it on the host copies (the buffers are this process's
    memory, so reading them is exact), then the result is written to fresh memory."""
    for value in operands:
        _device_data(value, name)
    result = np.asarray(produce())
    out = ndarray(result.shape, result.dtype)
    _state.device.issue(_state.current_stream(), name,
                        lambda: out._data.__setitem__(..., result),
                        reads=_buffers(operands), writes=[out._buffer], capturable=False)
    return out


def _inplace(name: str, target: ndarray, apply, operand) -> ndarray:
    data = _device_data(operand, name)
    _state.device.issue(_state.current_stream(), name, lambda: apply(target._data, data),
                        reads=_buffers([operand]), writes=[target._buffer], capturable=False)
    return target


def _binary(ufunc):
    def forward(self, other):
        return _compute(ufunc.__name__, lambda: ufunc(self._data, _device_data(other, "op")),
                        [self, other])

    def backward(self, other):
        return _compute(ufunc.__name__, lambda: ufunc(_device_data(other, "op"), self._data),
                        [other, self])

    def inplace(self, other):
        return _inplace(ufunc.__name__ + " (in place)", self,
                        lambda data, value: ufunc(data, value, out=data), other)

    return forward, backward, inplace


for _name, _ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("matmul", np.matmul), ("pow", np.power),
                      ("and", np.bitwise_and), ("or", np.bitwise_or)):
    _f, _b, _i = _binary(_ufunc)
    setattr(ndarray, f"__{_name}__", _f)
    setattr(ndarray, f"__r{_name}__", _b)
    setattr(ndarray, f"__i{_name}__", _i)
for _name, _ufunc in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                      ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)):
    setattr(ndarray, f"__{_name}__", _binary(_ufunc)[0])
ndarray.__neg__ = lambda self: _compute("negative", lambda: -self._data, [self])
ndarray.__invert__ = lambda self: _compute("invert", lambda: ~self._data, [self])
ndarray.__hash__ = None
