"""Compile the CUDA sources in kernels/ and launch them: on a GPU through CuPy, on a CPU
through the fiber emulator (kernels/emu.h) built with the host C++ compiler.

Both modules have the same `launch(name, grid, block, args)`: `args` are arrays (NumPy for
the emulator, CuPy on a GPU) and NumPy scalars whose dtype is the C type of the kernel's
parameter (np.int32 for int, np.uint32 for unsigned, the module's float type for real).
Launch geometry is not computed here but in `toygan.device.geometry`, the one place both use.

A module is compiled once per float type (float32, or float64 with -DTOYGAN_DOUBLE). The
emulator's shared library is cached under $TOYGAN_CACHE (default ~/.cache/toygan), named
by a hash of the sources and the flags, so an edited kernel is rebuilt and an unchanged one
is not. CuPy is imported only when a CUDA module is asked for.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np


def _kernel_dir() -> Path:
    """kernels/ as installed (the package toygan.kernels), or beside toygan/ in a source
    tree that is imported without being installed (running from the repository root)."""
    try:
        return Path(str(resources.files("toygan.kernels")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "kernels"


KERNEL_DIR = _kernel_dir()
_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(')
EMU_FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-pthread", "-Wall", "-Wextra")
# A __shared__ declaration on one line: its type, then its name, array bounds and `;`.
_SHARED_RE = re.compile(r"__shared__[^;{}()\n]*?\b(\w+)\s*(?:\[[^;\]\n]*\]\s*)*;")
_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


class KernelError(RuntimeError):
    """A kernel failed to build or to run (a barrier divergence in the emulator, say)."""


def sources(directory: Path = KERNEL_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.cu"))


def kernel_names(directory: Path = KERNEL_DIR) -> dict[str, str]:
    """Every kernel, mapped to the file that defines it."""
    names: dict[str, str] = {}
    for path in sources(directory):
        for name in _KERNEL_RE.findall(path.read_text()):
            if name in names:
                raise KernelError(f"kernel {name} is defined in {names[name]} and {path.name}")
            names[name] = path.name
    return names


def sources_digest(*directories: Path) -> str:
    """SHA-256 of every kernel source and header (.cu, .cuh, .h) in `directories`: what a
    compiled module depends on beyond its own text."""
    digest = hashlib.sha256()
    paths = {path for directory in directories for path in Path(directory).glob("*")}
    for path in sorted(paths):
        if path.suffix in (".cu", ".cuh", ".h"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _float_flags(dtype) -> tuple[str, ...]:
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return ("-DTOYGAN_DOUBLE",)
    if dtype == np.float32:
        return ()
    raise ValueError(f"kernels are built for float32 and float64, not {dtype}")


def cache_dir() -> Path:
    root = os.environ.get("TOYGAN_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "toygan"


def _scalar_to_c(value) -> ctypes._SimpleCData:
    if isinstance(value, np.float32):
        return ctypes.c_float(value)
    if isinstance(value, np.float64):
        return ctypes.c_double(value)
    if isinstance(value, np.int32):
        return ctypes.c_int32(value)
    if isinstance(value, np.uint32):
        return ctypes.c_uint32(value)
    raise TypeError(
        f"kernel argument {value!r} ({type(value).__name__}): pass arrays or NumPy scalars "
        "of the parameter's C type (np.int32, np.uint32, np.float32, np.float64)"
    )


def emulated_source(text: str, name: str = "<source>") -> str:
    """A kernel source as the emulator compiles it: `::emu::shared_block_start(NAME);` after
    every __shared__ declaration, on its line (line numbers stay), so each block starts with
    garbage in shared memory (kernels/emu.h). A declaration this cannot read is an error."""
    code = _COMMENT_RE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    found = [m for m in _SHARED_RE.finditer(code)
             if not re.search(r"\bextern\s*$", code[:m.start()])]
    if code.count("__shared__") != len(found):
        rows = code.splitlines()
        line = next(i for i, row in enumerate(rows, 1) if "__shared__" in row and (
            not _SHARED_RE.search(row) or re.search(r"\bextern\s+__shared__", row)))
        raise KernelError(f"{name}:{line}: the emulator reads __shared__ declarations of one "
                          "line, `__shared__ TYPE NAME[N]...;` (dynamic shared memory is not "
                          "emulated)")
    for m in reversed(found):  # comments blanked in `code`, so its offsets are text's
        text = f"{text[:m.end()]} ::emu::shared_block_start({m.group(1)});{text[m.end():]}"
    return text


def _emulated_tree(directory: Path) -> dict[str, str]:
    """Every source and header of `directory` as the emulator compiles it."""
    tree = {}
    for path in sorted(Path(directory).glob("*")):
        if path.suffix in (".cu", ".cuh"):
            tree[path.name] = emulated_source(path.read_text(), path.name)
        elif path.suffix == ".h":
            tree[path.name] = path.read_text()
    return tree


class EmuModule:
    """The kernels compiled for the CPU with kernels/emu.h; arrays are NumPy arrays.

    `directory` holds the .cu files (and their headers); tests point it elsewhere to build
    kernels that exercise the emulator itself.
    """

    kind = "emu"

    def __init__(self, dtype=np.float32, directory: Path = KERNEL_DIR) -> None:
        self.dtype = np.dtype(dtype)
        self.directory = Path(directory)
        self.names = kernel_names(self.directory)
        self.library_path = self._build()
        self.lib = ctypes.CDLL(str(self.library_path))
        self.lib.toygan_emu_launch.restype = ctypes.c_int
        self.lib.toygan_emu_launch.argtypes = [ctypes.c_int] + [ctypes.c_uint] * 6 + [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_long)]
        self.lib.toygan_emu_name.restype = ctypes.c_char_p
        count = self.lib.toygan_emu_count()
        self.index = {self.lib.toygan_emu_name(i).decode(): i for i in range(count)}
        self.launches = 0
        self.switches = ctypes.c_long(0)  # fiber switches, all launches together

    def _translation_unit(self) -> str:
        lines = ['#include "emu.h"']
        lines += [f'#include "{path.name}"' for path in sources(self.directory)]
        lines.append("namespace { struct Entry { const char* name; void (*run)(void**); };")
        lines.append("const Entry kEntries[] = {")
        lines += [f'    {{"{name}", &emu::trampoline<&{name}>}},' for name in self.names]
        lines.append("}; }")
        lines.append(_EMU_EXPORTS)
        return "\n".join(lines) + "\n"

    def _build(self) -> Path:
        compiler = os.environ.get("CXX", "g++")
        unit = self._translation_unit()
        # The emulated copies of kernels/ and of `directory` (which may be kernels/ itself),
        # searched in the order -I would: the cache key is their text, not their paths.
        trees = {"own": _emulated_tree(self.directory), "kernels": _emulated_tree(KERNEL_DIR)}
        digest = hashlib.sha256(" ".join((compiler, *EMU_FLAGS,
                                          *_float_flags(self.dtype))).encode())
        for tree in trees.values():
            for name, text in tree.items():
                digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        digest.update(unit.encode())
        target = cache_dir() / f"emu-{digest.hexdigest()[:20]}-{self.dtype.name}.so"
        if target.is_file():
            return target
        if shutil.which(compiler) is None:
            raise KernelError(f"the emulator needs a C++ compiler; {compiler!r} is not on PATH")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            flags = [*EMU_FLAGS, *_float_flags(self.dtype)]
            for label, original in (("own", self.directory), ("kernels", KERNEL_DIR)):
                folder = Path(tmp) / label
                folder.mkdir()
                for name, text in trees[label].items():
                    (folder / name).write_text(text)
                # Messages and barrier call sites name the original files.
                flags += [f"-I{folder}", f"-ffile-prefix-map={folder}={original}"]
            source = Path(tmp) / "emu_module.cpp"
            source.write_text(unit)
            built = Path(tmp) / target.name
            result = subprocess.run([compiler, *flags, str(source), "-o", str(built)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise KernelError(f"building the kernel emulator failed:\n{result.stderr}")
            os.replace(built, target)  # atomic: concurrent builders never see half a file
        return target

    def launch(self, name: str, grid: tuple[int, int, int], block: tuple[int, int, int],
               args: tuple) -> None:
        try:
            index = self.index[name]
        except KeyError:
            raise KernelError(f"no kernel named {name!r}") from None
        holders = []
        for arg in args:
            if isinstance(arg, np.ndarray):
                holders.append(ctypes.c_void_p(arg.ctypes.data))
            else:
                holders.append(_scalar_to_c(arg))
        argv = (ctypes.c_void_p * max(1, len(holders)))(
            *[ctypes.addressof(h) for h in holders])
        error = ctypes.create_string_buffer(512)
        status = self.lib.toygan_emu_launch(index, *grid, *block, argv, error, len(error),
                                            ctypes.byref(self.switches))
        self.launches += 1
        if status != 0:
            raise KernelError(f"{name} (grid {grid}, block {block}): {error.value.decode()}")


_EMU_EXPORTS = r"""
extern "C" int toygan_emu_count() { return (int)(sizeof kEntries / sizeof kEntries[0]); }
extern "C" const char* toygan_emu_name(int i) { return kEntries[i].name; }
extern "C" int toygan_emu_launch(int index, unsigned gx, unsigned gy, unsigned gz,
                                 unsigned bx, unsigned by, unsigned bz, void** args,
                                 char* error, int error_len, long* switches) {
    std::string err = emu::launch(kEntries[index].run, dim3{gx, gy, gz}, dim3{bx, by, bz},
                                  args, switches);
    if (err.empty()) return 0;
    snprintf(error, (size_t)error_len, "%s", err.c_str());
    return 1;
}
"""


def cuda_compile_input(dtype=np.float32, directory: Path = KERNEL_DIR) -> tuple[str, tuple]:
    """The code and options `CudaModule` hands CuPy's RawModule (NVRTC).

    The code #includes the .cu files, so it alone would not change when a kernel does; CuPy
    keys its on-disk cubin cache (~/.cupy/kernel_cache) on the code and the options only, and
    would hand back the old kernels after an edit. The first line of the code is therefore
    the digest of every source and header, which changes with any of them."""
    directory = Path(directory)
    lines = [f"// toygan kernel sources sha256 {sources_digest(directory)}"]
    lines += [f'#include "{path.name}"' for path in sources(directory)]
    options = ("-std=c++17", f"-I{directory}", *_float_flags(dtype))
    return "\n".join(lines) + "\n", options


class CudaModule:
    """The kernels compiled by NVRTC through CuPy's RawModule; arrays are CuPy arrays."""

    kind = "cuda"

    def __init__(self, dtype=np.float32, directory: Path = KERNEL_DIR) -> None:
        import cupy  # imported here: CPU-only installs never need it

        self.dtype = np.dtype(dtype)
        self.directory = Path(directory)
        self.names = kernel_names(self.directory)
        code, options = cuda_compile_input(self.dtype, self.directory)
        self.module = cupy.RawModule(code=code, options=options)
        self.functions = {name: self.module.get_function(name) for name in self.names}
        self.launches = 0

    def launch(self, name, grid, block, args) -> None:
        try:
            function = self.functions[name]
        except KeyError:
            raise KernelError(f"no kernel named {name!r}") from None
        function(tuple(grid), tuple(block), tuple(args))
        self.launches += 1


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CuPy present without a driver or device
        return False


@functools.cache
def load_module(kind: str, dtype: str = "float32") -> EmuModule | CudaModule:
    """The compiled kernels for `kind` ('emu' or 'cuda') and float type, built once."""
    if kind == "emu":
        return EmuModule(dtype)
    if kind == "cuda":
        if not cuda_available():
            raise KernelError("--backend cuda needs CuPy (pip install -e '.[gpu]') and a GPU")
        return CudaModule(dtype)
    raise ValueError(f"unknown kernel module kind {kind!r}")
