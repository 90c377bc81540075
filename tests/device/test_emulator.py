"""The CPU emulator's execution model (kernels/emu.h): barriers, shared memory, atomics,
multi-block scheduling, fiber orders, CUDA's launch limits, and the errors it reports;
plus the nvcc check of every .cu."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from toygan.device.launch import (
    KERNEL_DIR,
    EmuModule,
    KernelError,
    _emulated_tree,
    emulated_source,
    kernel_names,
    sources,
)

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

// Reads shared memory before anything is written there: garbage on a GPU.
extern "C" __global__ void read_unwritten(real* out, int* out_int) {
    __shared__ real tile[64];
    __shared__ int counts[64];
    const int at = blockIdx.x * blockDim.x + threadIdx.x;
    out[at] = tile[threadIdx.x];
    out_int[at] = counts[threadIdx.x];
}

// Block 0 fills shared memory; the other blocks read it as if it were theirs.
extern "C" __global__ void first_block_fills(real* out) {
    __shared__ real tile[64];
    if (blockIdx.x == 0) tile[threadIdx.x] = (real)7;
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = tile[threadIdx.x];
}

// A race: thread t reads what thread t - 1 writes, with no barrier between.
extern "C" __global__ void lower_writes_higher_reads(const real* in, real* out) {
    __shared__ real tile[256];
    const int t = threadIdx.x;
    tile[t] = in[t];
    out[t] = t > 0 ? tile[t - 1] : in[0];
}

// The order in which the threads of one block ran (atomic tickets, one barrier round).
extern "C" __global__ void ticket(int* counter, int* order) {
    order[blockIdx.x * blockDim.x + threadIdx.x] = atomicAdd(&counter[blockIdx.x], 1);
}

// Two barriers: the lower half of the block waits at one, the upper half at the other.
extern "C" __global__ void split_barrier(real* out) {
    if (threadIdx.x < blockDim.x / 2) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = (real)1;
}

// 56 KiB of static shared memory (float64): over CUDA's 48 KiB.
extern "C" __global__ void too_much_shared(real* out) {
    __shared__ real big[7168];
    big[threadIdx.x] = (real)1;
    __syncthreads();
    out[threadIdx.x] = big[threadIdx.x];
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
        probes.launch("early_return", (1, 1, 1), (32, 32, 2), (np.zeros(1), np.int32(1)))


@pytest.mark.parametrize(("grid", "block", "message"), [
    ((0, 1, 1), (1, 1, 1), "grid dimension x is 0, outside 1..2147483647"),
    ((1, 65536, 1), (1, 1, 1), "grid dimension y is 65536, outside 1..65535"),
    ((1, 1, 65536), (1, 1, 1), "grid dimension z is 65536, outside 1..65535"),
    ((1, 1, 1), (2048, 1, 1), "block dimension x is 2048, outside 1..1024"),
    ((1, 1, 1), (1, 0, 1), "block dimension y is 0"),
    ((1, 1, 1), (1, 1, 65), "block dimension z is 65, outside 1..64"),
])
def test_cuda_launch_limits_are_errors(probes, grid, block, message):
    with pytest.raises(KernelError, match=f"{message}.*cudaErrorInvalidConfiguration"):
        probes.launch("early_return", grid, block, (np.zeros(1), np.int32(1)))


def test_shared_memory_starts_as_garbage_in_every_block(probes, monkeypatch):
    monkeypatch.setenv("TOYGAN_EMU_THREADS", "1")  # the blocks run on one worker, in turn
    out, out_int = np.zeros(128), np.zeros(128, np.int32)
    probes.launch("read_unwritten", (2, 1, 1), (64, 1, 1), (out, out_int))
    assert np.isnan(out).all()
    assert (out_int == 0x5A5A5A5A).all()
    # What block 0 left in its shared memory is gone when block 1 starts on the worker.
    out = np.zeros(3 * 64)
    probes.launch("first_block_fills", (3, 1, 1), (64, 1, 1), (out,))
    assert (out[:64] == 7).all() and np.isnan(out[64:]).all()


def test_a_race_the_thread_order_hides_shows_in_reverse_and_shuffled(probes, monkeypatch):
    x = np.arange(1.0, 257.0)
    want = np.concatenate([x[:1], x[:-1]])
    results = {}
    for order in ("forward", "reverse", "shuffle:3"):
        monkeypatch.setenv("TOYGAN_EMU_ORDER", order)
        out = np.zeros(256)
        probes.launch("lower_writes_higher_reads", (1, 1, 1), (256, 1, 1), (x, out))
        results[order] = out
    assert np.array_equal(results["forward"], want)  # the race passes in thread order...
    assert np.isnan(results["reverse"][1:]).all()  # ...and reads garbage in reverse
    shuffled = results["shuffle:3"]
    assert 0 < np.isnan(shuffled).sum() < 255  # some readers ran before their writer
    assert np.array_equal(shuffled[~np.isnan(shuffled)], want[~np.isnan(shuffled)])


def run_order(probes, monkeypatch, order: str | None, blocks: int = 2) -> np.ndarray:
    if order is None:
        monkeypatch.delenv("TOYGAN_EMU_ORDER", raising=False)
    else:
        monkeypatch.setenv("TOYGAN_EMU_ORDER", order)
    counter, tickets = np.zeros(blocks, np.int32), np.full(blocks * 64, -1, np.int32)
    probes.launch("ticket", (blocks, 1, 1), (64, 1, 1), (counter, tickets))
    return tickets.reshape(blocks, 64)


def test_fiber_orders_are_the_ones_named_and_shuffles_are_seeded(probes, monkeypatch):
    threads = np.arange(64)
    assert (run_order(probes, monkeypatch, None) == threads).all()
    assert (run_order(probes, monkeypatch, "forward") == threads).all()
    assert (run_order(probes, monkeypatch, "reverse") == threads[::-1]).all()
    first = run_order(probes, monkeypatch, "shuffle:1")
    for block in first:
        assert sorted(block) == list(threads) and not (block == threads).all()
    assert not (first[0] == first[1]).all()  # a permutation per block
    assert (run_order(probes, monkeypatch, "shuffle:1") == first).all()  # seeded
    assert not (run_order(probes, monkeypatch, "shuffle:2") == first).all()
    assert (run_order(probes, monkeypatch, "shuffle") == run_order(probes, monkeypatch,
                                                                  "shuffle:0")).all()


@pytest.mark.parametrize("order", ["backwards", "shuffle:", "shuffle:-1", "shuffle:x",
                                   "reverse:1"])
def test_an_unknown_fiber_order_is_an_error(probes, monkeypatch, order):
    monkeypatch.setenv("TOYGAN_EMU_ORDER", order)
    with pytest.raises(KernelError, match=f"TOYGAN_EMU_ORDER={order}: use forward, reverse"):
        run_order(probes, monkeypatch, order)


def test_barriers_at_different_call_sites_are_an_error(probes):
    with pytest.raises(KernelError, match=r"thread 0 waits at __syncthreads\(\) at "
                       r"\S*probes.cu:(\d+), thread 32 at \S*probes.cu:(?!\1)\d+"):
        probes.launch("split_barrier", (1, 1, 1), (64, 1, 1), (np.zeros(64),))
    probes.launch("split_barrier", (1, 1, 1), (1, 1, 1), (np.zeros(1),))  # one half: fine


def test_more_than_48_kib_of_shared_memory_is_an_error(probes):
    with pytest.raises(KernelError, match="57344 bytes of __shared__ memory, more than "
                       "CUDA's static limit of 49152"):
        probes.launch("too_much_shared", (1, 1, 1), (32, 1, 1), (np.zeros(32),))


def test_shared_declarations_are_instrumented_on_their_line():
    text = ("// __shared__ in a comment; stays\n"
            "__global__ void k() {\n"
            "    __shared__ unsigned int hist[4][N + 1];\n"
            "    __shared__ real x;  /* __shared__ y; */\n"
            "}\n")
    lines = emulated_source(text).splitlines()
    assert lines[0] == "// __shared__ in a comment; stays"
    assert lines[2].endswith("[N + 1]; ::emu::shared_block_start(hist);")
    assert lines[3] == "    __shared__ real x; ::emu::shared_block_start(x);  /* __shared__ y; */"
    with pytest.raises(KernelError, match=r"k.cu:2: the emulator reads __shared__ "
                       "declarations of one line"):
        emulated_source("void f() {\n  __shared__ real\n    tile[4];\n}\n", "k.cu")
    with pytest.raises(KernelError, match="dynamic shared memory is not emulated"):
        emulated_source("extern __shared__ real pool[];\n", "k.cu")


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
    for name, text in _emulated_tree(KERNEL_DIR).items():  # the sources as instrumented
        (tmp_path / name).write_text(text)
    unit = tmp_path / "unit.cpp"
    unit.write_text(EmuModule("float64")._translation_unit())
    flags = ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", f"-I{tmp_path}"]
    result = subprocess.run(["g++", *flags, *(["-DTOYGAN_DOUBLE"] if double else []),
                             str(unit)], capture_output=True, text=True)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
