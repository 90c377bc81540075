"""CuPy's own compiler, NVRTC, compiles the module exactly as `CudaModule` hands it to
RawModule, for sm_90 (H100/H200) in float32 and float64: CuPy and NVRTC install from
wheels (the `test` extra) and compile without a GPU. Every kernel toygan launches must be
in the cubin, and its static shared memory within CUDA's 48 KiB.

The compile runs in a child process with the real CuPy (the other tests may have put the
stand-in in this one's place)."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from toygan.device.launch import kernel_names

COMPILE = r"""
import json, sys
from pathlib import Path
import cupy
from cupy.cuda import compiler
from toygan.device.launch import cuda_compile_input

# Without a device CuPy cannot ask which architecture to build for; name sm_90 and ask for
# a cubin (what RawModule loads on an H100/H200).
compiler._get_arch_for_options_for_nvrtc = lambda arch=None: (f"-arch=sm_{arch}", "cubin")
out = Path(sys.argv[1])
for dtype in ("float32", "float64"):
    code, options = cuda_compile_input(dtype)
    binary, _ = compiler.compile_using_nvrtc(code, options=options, arch="90")
    (out / f"{dtype}.cubin").write_bytes(binary)
print(json.dumps({"cupy": cupy.__version__}))
"""
STATIC_SHARED_LIMIT = 48 * 1024


def elf_sections(blob: bytes) -> dict[str, int]:
    """Section name -> size of a 64-bit little-endian ELF file (a cubin is one)."""
    if blob[:4] != b"\x7fELF" or blob[4] != 2 or blob[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", blob, 0x28)
    entsize, count, names_index = struct.unpack_from("<HHH", blob, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", blob, shoff + i * entsize) for i in range(count)]
    names_offset = headers[names_index][4]

    def name(offset: int) -> str:
        start = names_offset + offset
        return blob[start:blob.index(b"\0", start)].decode()

    return {name(h[0]): h[5] for h in headers}


def launched_kernels() -> set[str]:
    """Every kernel name toygan's device code passes to a launch."""
    names = set()
    for path in (Path(__file__).parents[2] / "toygan" / "device").glob("*.py"):
        names |= set(re.findall(r'(?:_launch|_fused_step)\(\s*"(\w+)"', path.read_text()))
    return names


@pytest.fixture(scope="module")
def cubins(tmp_path_factory):
    out = tmp_path_factory.mktemp("nvrtc")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    result = subprocess.run([sys.executable, "-c", COMPILE, str(out)], env=env,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and "No module named 'cupy'" in result.stderr:
        pytest.fail("the NVRTC check needs CuPy and NVRTC from the test extra: "
                    "pip install '.[test]'")
    assert result.returncode == 0, result.stderr[-4000:]
    json.loads(result.stdout.strip().splitlines()[-1])
    return {dtype: elf_sections((out / f"{dtype}.cubin").read_bytes())
            for dtype in ("float32", "float64")}


def test_every_launched_kernel_is_defined():
    launched = launched_kernels()
    assert len(launched) >= 20, launched
    assert launched <= set(kernel_names()), launched - set(kernel_names())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nvrtc_compiles_every_kernel_for_sm_90(cubins, dtype):
    sections = cubins[dtype]
    missing = [name for name in kernel_names() if f".text.{name}" not in sections]
    assert not missing, f"not in the {dtype} cubin: {missing}"
    shared = {name: sections.get(f".nv.shared.{name}", 0) for name in kernel_names()}
    over = {name: size for name, size in shared.items() if size > STATIC_SHARED_LIMIT}
    assert not over, f"static shared memory over 48 KiB: {over}"
    assert max(shared.values()) > 0  # the tiled and fused kernels do use shared memory
