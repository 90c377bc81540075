"""The CPU emulator's execution model (kernels/emu.h): barriers, shared memory, atomics,
multi-block scheduling, and the errors it reports; plus the nvcc check of every .cu."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from toygan.device.launch import KERNEL_DIR, EmuModule, KernelError, kernel_names, sources

PROBES = r"""
#include "common.cuh"

// Reverses each block's slice through shared memory: wrong without a working barrier.
extern "C" __global__ void reverse_in_block(const real* in, real* out, int n) {
    __shared__ real tile[256];
    const int t = threadIdx.x, at = blockIdx.x * blockDim.x + t;
    tile[t] = at < n ? in[at] : (real)0;
    __syncthreads();
    const int from = blockDim.x - 1 - t;
    if (at < n) out[at] = tile[from];
}

// Thread t adds up what threads 0..t wrote, over several barrier rounds.
extern "C" __global__ void prefix_sum(const real* in, real* out) {
    __shared__ real buf[2][256];
    const int t = threadIdx.x;
    int src = 0;
    buf[src][t] = in[t];
    __syncthreads();
    for (int offset = 1; offset < (int)blockDim.x; offset *= 2) {
        buf[1 - src][t] = buf[src][t] + (t >= offset ? buf[src][t - offset] : (real)0);
        src = 1 - src;
        __syncthreads();
    }
    out[t] = buf[src][t];
}

// Every thread of every block counts itself, in shared and in global memory.
extern "C" __global__ void count_threads(int* total, int* per_block) {
    __shared__ int count;
    if (threadIdx.x == 0 && threadIdx.y == 0) count = 0;
    __syncthreads();
    atomicAdd(&count, 1);
    atomicAdd(total, 1);
    __syncthreads();
    if (threadIdx.x == 0 && threadIdx.y == 0)
        per_block[blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z)] = count;
}

// The classic bug: out-of-range threads return before a barrier the others wait at.
extern "C" __global__ void early_return(real* out, int n) {
    __shared__ real tile[256];
    if ((int)threadIdx.x >= n) return;
    tile[threadIdx.x] = (real)1;
    __syncthreads();
    out[threadIdx.x] = tile[threadIdx.x];
}
"""


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    directory = tmp_path_factory.mktemp("probes")
    (directory / "probes.cu").write_text(PROBES)
    return EmuModule("float64", directory=directory)


def test_barriers_order_shared_memory_across_blocks(probes, monkeypatch):
    for threads in ("1", "3"):
        monkeypatch.setenv("TOYGAN_EMU_THREADS", threads)
        n = 1000  # four blocks, the last one partial
        x = np.random.default_rng(0).standard_normal(n)
        out = np.full(n, np.nan)
        probes.launch("reverse_in_block", (4, 1, 1), (256, 1, 1), (x, out, np.int32(n)))
        for b in range(3):
            assert np.array_equal(out[b * 256:(b + 1) * 256], x[b * 256:(b + 1) * 256][::-1])
        # The partial block reads zeros past n, as the kernel says.
        tail = np.concatenate([x[768:], np.zeros(24)])[::-1][:232]
        assert np.array_equal(out[768:], tail)


def test_many_barrier_rounds(probes):
    x = np.random.default_rng(1).standard_normal(256)
    out = np.full(256, np.nan)
    probes.launch("prefix_sum", (1, 1, 1), (256, 1, 1), (x, out))
    np.testing.assert_allclose(out, np.cumsum(x), rtol=1e-12, atol=1e-12)


def test_atomics_and_thread_indices_in_3d(probes, monkeypatch):
    monkeypatch.setenv("TOYGAN_EMU_THREADS", "2")
    total = np.zeros(1, np.int32)
    per_block = np.full(2 * 3 * 2, -1, np.int32)
    probes.launch("count_threads", (2, 3, 2), (8, 4, 1), (total, per_block))
    assert total[0] == 12 * 32
    assert (per_block == 32).all()


def test_barrier_divergence_is_an_error(probes):
    out = np.zeros(256)
    with pytest.raises(KernelError, match="barrier divergence"):
        probes.launch("early_return", (1, 1, 1), (256, 1, 1), (out, np.int32(100)))
    # Without divergence the same kernel runs.
    probes.launch("early_return", (1, 1, 1), (64, 1, 1), (out, np.int32(64)))
    assert (out[:64] == 1).all()


def test_bad_launches_are_clear_errors(probes):
    with pytest.raises(KernelError, match="no kernel named"):
        probes.launch("missing", (1, 1, 1), (1, 1, 1), ())
    with pytest.raises(TypeError, match="NumPy scalars"):
        probes.launch("early_return", (1, 1, 1), (1, 1, 1), (np.zeros(1), 5))
    with pytest.raises(KernelError, match="1024 threads"):
        probes.launch("early_return", (1, 1, 1), (2048, 1, 1), (np.zeros(1), np.int32(1)))


def test_library_is_cached_by_source_hash(tmp_path):
    (tmp_path / "probes.cu").write_text(PROBES)
    first = EmuModule("float32", directory=tmp_path).library_path
    assert EmuModule("float32", directory=tmp_path).library_path == first
    (tmp_path / "probes.cu").write_text(PROBES + "\n// edited\n")
    assert EmuModule("float32", directory=tmp_path).library_path != first


def test_every_kernel_is_reachable_and_uniquely_named():
    names = kernel_names()
    assert len(names) >= 18
    module = EmuModule("float32")
    assert set(module.index) == set(names)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("path", sources(), ids=lambda p: p.name)
@pytest.mark.parametrize("double", [False, True], ids=["float32", "float64"])
def test_nvcc_compiles_without_warnings(path, double):
    command = ["nvcc", "-arch=sm_90", "-std=c++17", "-c", str(path), "-o", "/dev/null",
               f"-I{KERNEL_DIR}", "-Xptxas", "-warn-spills"] + (["-DTOYGAN_DOUBLE"] if double
                                                                 else [])
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in (result.stderr + result.stdout).lower(), result.stderr


@pytest.mark.parametrize("double", [False, True], ids=["float32", "float64"])
def test_emulator_build_has_no_warnings(tmp_path, double):
    unit = tmp_path / "unit.cpp"
    unit.write_text(EmuModule("float64")._translation_unit())
    flags = ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", f"-I{KERNEL_DIR}"]
    result = subprocess.run(["g++", *flags, *(["-DTOYGAN_DOUBLE"] if double else []),
                             str(unit)], capture_output=True, text=True)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
