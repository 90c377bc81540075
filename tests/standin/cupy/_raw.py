"""`cupy.RawModule` on toygan's CPU emulator, marshalling arguments as CuPy does and
checking them against the kernels' C signatures, which CuPy itself never sees.

CuPy passes a Python int as a 64-bit integer, a Python float as a double, a NumPy scalar as
its dtype and a device array as its data pointer, whatever the kernel declares: a mismatch
on a GPU reads the wrong bytes. Here it is an error, as is a host array, an array of
another dtype than the pointer's, a non-contiguous view (the kernel would see its base
pointer and assume its own layout), a wrong number of arguments, or a launch over CUDA's
limits. The compiled module is cached on (code, options) exactly as CuPy's kernel cache
is, on disk, so a compile input that does not change with the sources hands back stale
kernels here too.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np

from toygan.device.launch import EmuModule, cache_dir

from . import _state
from ._array import ndarray
from ._state import StandinError

_SIGNATURE_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_QUALIFIERS = {"const", "__restrict__", "restrict", "volatile"}
_C_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32,
            "unsigned": np.uint32, "unsigned int": np.uint32, "uint32_t": np.uint32,
            "int32_t": np.int32, "long": np.int64, "long long": np.int64,
            "int64_t": np.int64, "unsigned long long": np.uint64, "uint64_t": np.uint64,
            "bool": np.bool_}
MAX_GRID = (2**31 - 1, 65535, 65535)
MAX_BLOCK = (1024, 1024, 64)
MAX_THREADS_PER_BLOCK = 1024


class Parameter:
    def __init__(self, text: str, real: type) -> None:
        self.text = " ".join(text.split())
        tokens = self.text.replace("*", " * ").split()
        self.pointer = "*" in tokens
        self.const = "const" in tokens
        words = [t for t in tokens if t not in _QUALIFIERS and t != "*"]
        if self.pointer or len(words) > 1:
            words = words[:-1]  # the parameter's name
        base = " ".join(words)
        dtype = real if base == "real" else _C_TYPES.get(base)
        if dtype is None:
            raise StandinError(f"the stand-in does not know the C type {base!r} ({text!r})")
        self.dtype = np.dtype(dtype)


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", " ", text, flags=re.S)


def _marshalled_dtype(value) -> np.dtype:
    """The C type CuPy passes a scalar argument as."""
    if isinstance(value, bool):
        return np.dtype(np.bool_)
    if isinstance(value, int):
        return np.dtype(np.int64)
    if isinstance(value, float):
        return np.dtype(np.float64)
    if isinstance(value, np.generic):
        return value.dtype
    raise TypeError(f"Unsupported type {type(value)}")  # CuPy's message


class RawKernel:
    """One kernel of a module: checks and marshals a launch, then runs it on the current
    stream (or records it, while that stream is capturing)."""

    def __init__(self, module: RawModule, name: str, params: list[Parameter]) -> None:
        self.module, self.name, self.params = module, name, params

    def __call__(self, grid, block, args, *, shared_mem: int = 0) -> None:
        grid, block = _dims(grid, "grid"), _dims(block, "block")
        where = f"{self.name} (grid {grid}, block {block})"
        _check_limits(where, grid, block)
        if shared_mem:
            raise StandinError(f"{where}: toygan's kernels use static shared memory only")
        if not isinstance(args, (tuple, list)):
            raise TypeError("args must be a tuple")
        if len(args) != len(self.params):
            raise StandinError(f"{where}: {len(args)} arguments for {len(self.params)} "
                               "parameters (CuPy would pass them and the kernel read garbage)")
        host_args, reads, writes = [], [], []
        for i, (value, param) in enumerate(zip(args, self.params, strict=True)):
            what = f"{where}, argument {i} for `{param.text}`"
            if param.pointer:
                host_args.append(self._pointer(value, param, what))
                (reads if param.const else writes).append(value._buffer)
            else:
                host_args.append(self._scalar(value, param, what))
        emu = self.module.emu

        def run() -> None:
            _state.device.launches += 1
            emu.launch(self.name, grid, block, tuple(host_args))

        _state.device.issue(_state.current_stream(), f"kernel {self.name}", run,
                            reads=reads, writes=writes)

    @staticmethod
    def _pointer(value, param: Parameter, what: str) -> np.ndarray:
        if isinstance(value, np.ndarray):
            raise StandinError(f"{what}: a host NumPy array where a device pointer belongs")
        if not isinstance(value, ndarray):
            raise StandinError(f"{what}: {type(value).__name__} where a device pointer "
                               "belongs")
        if value.dtype != param.dtype:
            raise StandinError(f"{what}: an array of {value.dtype} for a pointer to "
                               f"{param.dtype}")
        if not value.flags.c_contiguous:
            if _member_strided(value):
                # toygan's batched kernels take (P, rows, cols) views with each member
                # contiguous and the member stride as an argument: allowed, and counted.
                _state.device.flagged[what.split(",")[0] + ", " + param.text] += 1
                return value._data
            raise StandinError(f"{what}: a non-contiguous view (shape {value.shape}, strides "
                               f"{value.strides}); the kernel sees only its first element's "
                               "address")
        return value._data

    @staticmethod
    def _scalar(value, param: Parameter, what: str):
        if isinstance(value, (ndarray, np.ndarray)):
            raise StandinError(f"{what}: an array where a scalar belongs")
        passed = _marshalled_dtype(value)
        if passed != param.dtype:
            kind = f"a Python {type(value).__name__}" if not isinstance(value, np.generic) \
                else f"a NumPy {passed}"
            raise StandinError(f"{what}: {kind} is passed as {passed} ({passed.itemsize} "
                               f"bytes) for a {param.dtype} parameter; pass "
                               f"np.{param.dtype.name}(...)")
        return value if isinstance(value, np.generic) else param.dtype.type(value)


def _member_strided(value: ndarray) -> bool:
    """(P, rows, cols) with every member a contiguous row-major matrix."""
    item = value.itemsize
    return (value.ndim == 3 and value.strides[2] == item
            and value.strides[1] == value.shape[2] * item and value.strides[0] % item == 0
            and value.strides[0] >= value.shape[1] * value.shape[2] * item)


def _dims(value, what: str) -> tuple[int, int, int]:
    if isinstance(value, (int, np.integer)):
        value = (value,)
    if not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        raise TypeError(f"{what} must be a tuple of one to three ints, got {value!r}")
    if not all(isinstance(v, (int, np.integer)) for v in value):
        raise TypeError(f"{what} must hold ints, got {value!r}")
    return tuple(int(v) for v in value) + (1,) * (3 - len(value))


def _check_limits(where: str, grid, block) -> None:
    for axis, (g, limit) in enumerate(zip(grid, MAX_GRID, strict=True)):
        if not 1 <= g <= limit:
            raise StandinError(f"{where}: gridDim.{'xyz'[axis]} = {g} is outside CUDA's "
                               f"1..{limit} (cudaErrorInvalidConfiguration)")
    for axis, (b, limit) in enumerate(zip(block, MAX_BLOCK, strict=True)):
        if not 1 <= b <= limit:
            raise StandinError(f"{where}: blockDim.{'xyz'[axis]} = {b} is outside CUDA's "
                               f"1..{limit} (cudaErrorInvalidConfiguration)")
    if block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
        raise StandinError(f"{where}: {block[0] * block[1] * block[2]} threads per block, "
                           f"over CUDA's {MAX_THREADS_PER_BLOCK}")


class _CachedEmu(EmuModule):
    """The emulator module, its library stored under the key CuPy's cache would use."""

    def __init__(self, dtype, directory: Path, key: str) -> None:
        self.cache_key = key
        super().__init__(dtype, directory)

    def _build(self) -> Path:
        cached = cache_dir() / "standin-cupy-kernel-cache" / f"{self.cache_key}.so"
        if not cached.is_file():
            built = super()._build()
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{id(self)}.part")
            shutil.copyfile(built, partial)
            partial.replace(cached)
        return cached


class RawModule:
    """CuPy's RawModule for toygan's compile input: #include lines (and comments) resolved
    against one -I directory, -DTOYGAN_DOUBLE for float64, -std=... accepted."""

    def __init__(self, code: str, options: tuple = (), backend: str = "nvrtc",
                 **unsupported) -> None:
        if unsupported or backend != "nvrtc":
            raise StandinError(f"the stand-in supports RawModule(code, options) only, not "
                               f"{sorted(unsupported) or backend}")
        includes, directories, double = [], [], False
        for option in options:
            if option.startswith("-I"):
                directories.append(Path(option[2:]))
            elif option == "-DTOYGAN_DOUBLE":
                double = True
            elif not option.startswith("-std="):
                raise StandinError(f"the stand-in does not know the option {option!r}")
        if len(directories) != 1:
            raise StandinError(f"the stand-in needs exactly one -I directory, got {directories}")
        directory = directories[0]
        for line in code.splitlines():
            line = line.strip()
            match = re.fullmatch(r'#include\s+"([^"]+)"', line)
            if match:
                includes.append(match.group(1))
            elif line and not line.startswith("//"):
                raise StandinError(f"the stand-in compiles #include lists only: {line!r}")
        on_disk = sorted(p.name for p in directory.glob("*.cu"))
        if sorted(includes) != on_disk:
            raise StandinError(f"the code includes {includes} but {directory} holds "
                               f"{on_disk}; the stand-in builds whole directories")
        real = np.float64 if double else np.float32
        self.signatures: dict[str, list[Parameter]] = {}
        key = hashlib.sha256(repr((code, tuple(options))).encode()).hexdigest()[:24]
        self.emu = _CachedEmu(real, directory, key)
        # Signatures from the module as compiled (the cached one, like the cubin).
        for name in self.emu.index:
            self.signatures[name] = None
        for path in sorted(directory.glob("*.cu")):
            for name, params in _SIGNATURE_RE.findall(_strip_comments(path.read_text())):
                params = [p for p in params.split(",") if p.strip() not in ("", "void")]
                self.signatures[name] = [Parameter(p, real) for p in params]

    def get_function(self, name: str) -> RawKernel:
        if name not in self.emu.index:
            raise StandinError(f"named symbol not found: {name} (CUDA_ERROR_NOT_FOUND)")
        return RawKernel(self, name, self.signatures[name])
