"""The strict CuPy stand-in (tests/standin/cupy) catches every rule it claims to, and the
GPU path's defects it was built to find stay fixed: these tests use the stand-in even on a
machine with a GPU (the `cuda` parametrisations elsewhere use the real CuPy there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests import cupy_standin
from toygan import run
from toygan.device import geometry
from toygan.device.launch import KERNEL_DIR, CudaModule, cuda_compile_input
from toygan.peers import contestants
from toygan.peers.array_peer import ArrayGAN
from toygan.peers.workload import workload

PROBE = r"""
#include "common.cuh"

extern "C" __global__ void scale(const real* __restrict__ x, real* __restrict__ y, int n,
                                 real a) {
    GRID_STRIDE(i, n) y[i] = a * x[i];
}

extern "C" __global__ void store_key(unsigned int* __restrict__ out, unsigned int key) {
    if (threadIdx.x == 0 && blockIdx.x == 0) out[0] = key;
}
"""


def probe_dir(tmp_path, source: str = PROBE):
    shutil.copy(KERNEL_DIR / "common.cuh", tmp_path / "common.cuh")
    (tmp_path / "probe.cu").write_text(source)
    return tmp_path


@pytest.fixture
def probe(standin_cupy, tmp_path):
    return CudaModule("float32", directory=probe_dir(tmp_path))


TWO = np.float32(2.0)


def scale(module, cupy, x, y=None, n=None, a=TWO, grid=(1,), block=(32,)):
    y = cupy.empty(x.shape, x.dtype) if y is None else y
    n = np.int32(x.size) if n is None else n
    module.functions["scale"](grid, block, (x, y, n, a))
    return y


def device_ramp(cupy, n=8, dtype=np.float32):
    return cupy.asarray(np.arange(n, dtype=dtype))


# ------------------------------------------------------------------ launches
def test_a_launch_runs_the_kernel_on_the_emulator(probe, standin_cupy):
    y = scale(probe, standin_cupy, device_ramp(standin_cupy))
    assert np.array_equal(y.get(), 2 * np.arange(8, dtype=np.float32))
    assert standin_cupy._standin.launches == 1


@pytest.mark.parametrize("argument, message", [
    (2.0, "a Python float is passed as float64"),
    (np.float64(2.0), "a NumPy float64 is passed as float64"),
])
def test_a_float_parameter_takes_a_float32_only(probe, standin_cupy, argument, message):
    with pytest.raises(standin_cupy.StandinError, match=message):
        scale(probe, standin_cupy, device_ramp(standin_cupy), a=argument)


def test_a_python_int_is_a_64_bit_argument(probe, standin_cupy):
    with pytest.raises(standin_cupy.StandinError, match="a Python int is passed as int64"):
        scale(probe, standin_cupy, device_ramp(standin_cupy), n=8)
    out = standin_cupy.zeros((1,), np.uint32)
    with pytest.raises(standin_cupy.StandinError, match="for a uint32 parameter"):
        probe.functions["store_key"]((1,), (1,), (out, np.int32(3)))


def test_a_host_array_or_a_wrong_dtype_is_no_pointer(probe, standin_cupy):
    with pytest.raises(standin_cupy.StandinError, match="host NumPy array"):
        scale(probe, standin_cupy, np.arange(8, dtype=np.float32))
    with pytest.raises(standin_cupy.StandinError, match="an array of float64 for a pointer"):
        scale(probe, standin_cupy, device_ramp(standin_cupy, dtype=np.float64))


def test_a_non_contiguous_view_is_refused_but_member_strided_views_are_counted(
        probe, standin_cupy):
    x = device_ramp(standin_cupy, 16)
    with pytest.raises(standin_cupy.StandinError, match="non-contiguous view"):
        scale(probe, standin_cupy, x[::2], n=np.int32(8))
    members = standin_cupy.zeros((3, 2, 5), np.float32)[:, :, :4]  # rows not contiguous
    with pytest.raises(standin_cupy.StandinError, match="non-contiguous view"):
        scale(probe, standin_cupy, members, y=standin_cupy.empty((24,), np.float32),
              n=np.int32(1))
    flat = standin_cupy.zeros((4, 2, 3), np.float32)[::2]  # members 2 apart, each contiguous
    scale(probe, standin_cupy, flat, y=standin_cupy.empty((12,), np.float32), n=np.int32(1))
    assert sum(standin_cupy._standin.flagged.values()) == 1


def test_argument_count_and_unknown_kernels(probe, standin_cupy):
    with pytest.raises(standin_cupy.StandinError, match="3 arguments for 4 parameters"):
        probe.functions["scale"]((1,), (32,), (device_ramp(standin_cupy),) * 2 + (np.int32(8),))
    with pytest.raises(standin_cupy.StandinError, match="named symbol not found"):
        probe.module.get_function("absent")


@pytest.mark.parametrize("grid, block, message", [
    ((1, 65536, 1), (32, 1, 1), "gridDim.y = 65536"),
    ((1, 1, 65536), (32, 1, 1), "gridDim.z = 65536"),
    ((2**31, 1, 1), (32, 1, 1), "gridDim.x"),
    ((1, 1, 1), (1025, 1, 1), "blockDim.x = 1025"),
    ((1, 1, 1), (1, 1, 65), "blockDim.z = 65"),
    ((1, 1, 1), (32, 32, 2), "2048 threads per block"),
    ((0, 1, 1), (32, 1, 1), "gridDim.x = 0"),
])
def test_launches_over_cudas_limits_are_refused(probe, standin_cupy, grid, block, message):
    with pytest.raises(standin_cupy.StandinError, match=message):
        scale(probe, standin_cupy, device_ramp(standin_cupy), grid=grid, block=block)


def test_fresh_device_memory_is_garbage_and_host_conversion_explicit(standin_cupy):
    assert np.isnan(standin_cupy.empty((5,), np.float32).get()).all()
    assert (standin_cupy.empty((5,), np.int32).get() == np.int32(0x5A5A5A5A)).all()
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(standin_cupy.zeros((2,)))
    with pytest.raises(TypeError, match="host NumPy array"):
        standin_cupy.zeros((2,)) + np.ones(2)


# ------------------------------------------------------------------ streams
def test_cross_stream_use_without_an_event_is_a_race(probe, standin_cupy):
    cuda = standin_cupy.cuda
    x = device_ramp(standin_cupy)  # written on the legacy stream
    side = cuda.Stream(non_blocking=True)
    with side, pytest.raises(standin_cupy.StandinError, match="cross-stream race"):
        scale(probe, standin_cupy, x)  # a non-blocking stream does not wait for legacy
    side.wait_event(cuda.Stream.null.record())
    with side:
        y = scale(probe, standin_cupy, x)
    other = cuda.Stream(non_blocking=True)
    with other, pytest.raises(standin_cupy.StandinError, match="stream 1 writes"):
        scale(probe, standin_cupy, y)  # reads what `side` wrote, unordered
    blocking = cuda.Stream()  # a blocking stream is ordered after the legacy stream
    with blocking:
        scale(probe, standin_cupy, x)
    side.synchronize()  # the host waited: work issued afterwards is ordered
    with other:
        scale(probe, standin_cupy, y)


def test_capture_refuses_syncs_allocations_and_host_copies_and_replays(probe, standin_cupy):
    cuda = standin_cupy.cuda
    x, y = device_ramp(standin_cupy), standin_cupy.zeros((8,), np.float32)
    stream = cuda.Stream(non_blocking=True)
    stream.wait_event(cuda.Stream.null.record())
    with stream:
        stream.begin_capture()
        scale(probe, standin_cupy, x, y)
        for forbidden, message in [
                (lambda: x.get(), "a host copy while stream"),
                (stream.synchronize, "synchronisation is not allowed during stream capture"),
                (lambda: standin_cupy.empty((4,)), "allocation while stream"),
                (lambda: y.set(np.ones(8, np.float32)), "a host copy while stream"),
                (cuda.Device().synchronize, "synchronisation is not allowed")]:
            with pytest.raises(standin_cupy.StandinError, match=message):
                forbidden()
        graph = stream.end_capture()
    assert standin_cupy._standin.launches == 0  # recorded, not run
    with pytest.raises(standin_cupy.StandinError, match="legacy default stream"):
        with stream:
            stream.begin_capture()
            try:
                standin_cupy.cuda.Stream.null.use()
                y.fill(0)
            finally:
                stream.use()
                stream.end_capture()
    graph.launch(stream)
    stream.synchronize()
    assert np.array_equal(y.get(stream), 2 * np.arange(8, dtype=np.float32))


def test_host_synchronisations_are_counted_where_they_happen(standin_cupy):
    a = standin_cupy.zeros((3,))
    a.get()
    float(a.sum())
    sites = standin_cupy._standin.syncs
    assert sum(sites.values()) == 2
    assert all(site.startswith("tests/device/test_cuda_standin.py:") for site in sites)


# ------------------------------------------------------------------ the defects
def test_defect_1_an_edited_kernel_is_recompiled(standin_cupy, tmp_path):
    """CuPy caches a module on its code and options; the code toygan hands it carries the
    sources' digest, so an edit cannot come back as the old cubin."""
    directory = probe_dir(tmp_path)
    x = device_ramp(standin_cupy)
    before = scale(CudaModule("float32", directory=directory), standin_cupy, x).get()
    code, options = cuda_compile_input("float32", directory)
    stale_code = code.split("\n", 1)[1]  # the #include lines alone, as before the fix
    standin_cupy.RawModule(code=stale_code, options=options)  # cached under that text
    (directory / "probe.cu").write_text(PROBE.replace("a * x[i]", "a * x[i] + (real)1"))
    after = scale(CudaModule("float32", directory=directory), standin_cupy, x).get()
    assert np.array_equal(after, before + 1)
    stale = standin_cupy.RawModule(code=stale_code, options=options).get_function("scale")
    y = standin_cupy.empty((8,), np.float32)
    stale((1,), (32,), (x, y, np.int32(8), np.float32(2)))
    assert np.array_equal(y.get(), before)  # what a GPU user got before the fix


def test_defect_2_populations_beyond_the_grid_limit_are_refused(capsys):
    code = run.main(["mixture8", "--backend", "emu", "--population", "65536", "--steps",
                     "1", "--no-plots"])
    assert code == 2
    assert "at most 65535" in capsys.readouterr().err
    with pytest.raises(ValueError, match="at most 65535"):
        geometry.tiled_geometry(4, 4, 65536)
    with pytest.raises(ValueError, match="at most 65535"):
        geometry.fused_geometry(1, 65536)


def test_defect_3_the_graph_contestant_orders_its_warm_up_after_the_setup(standin_cupy,
                                                                         monkeypatch):
    step, clock = contestants._toygan_step("graph", 8)
    clock.start()
    step()
    assert clock.stop() > 0
    monkeypatch.setattr(standin_cupy.cuda.Stream, "wait_event", lambda self, event: None)
    with pytest.raises(standin_cupy.StandinError, match="cross-stream race"):
        contestants._toygan_step("graph", 8)  # the setup's writes, unordered


def test_defect_4_the_cupy_peer_draws_without_synchronising(standin_cupy):
    gan = ArrayGAN(workload(16), contestants.resolve(workload(16)), standin_cupy)
    gan.iteration()
    standin_cupy._standin.reset()
    for _ in range(3):
        gan.iteration()
    assert sum(standin_cupy._standin.syncs.values()) == 0
    components = gan._component(4000).get()
    assert set(np.unique(components)) == set(range(8))
    weights = standin_cupy.asarray(np.full(8, 1 / 8))
    standin_cupy.random.choice(8, 16, p=weights)  # what the peer called before the fix
    assert sum(standin_cupy._standin.syncs.values()) >= 2


def test_defect_5_peak_memory_is_a_high_water_mark(standin_cupy):
    with contestants.cupy_peak_memory() as hook:
        big = standin_cupy.empty((2**18,), np.float32)  # 1 MiB
        del big
        standin_cupy.empty((16,), np.float32)
    pool = standin_cupy.get_default_memory_pool()
    assert hook.peak - pool.used_bytes() >= 2**20 - 512


# ------------------------------------------------------------------ toygan on "cuda"
@pytest.mark.parametrize("contestant", ["toygan-cuda-fused", "toygan-cuda-graph",
                                        "toygan-cuda-per-op", "toygan-cuda-population",
                                        "cupy-cublas"])
def test_every_gpu_bench_contestant_runs_tiny(standin_cupy, monkeypatch, contestant):
    monkeypatch.setitem(contestants.POPULATION_MEMBERS, "toygan-cuda-population", 4)
    assert contestants.available(contestant) is None
    with contestants.cupy_peak_memory() as hook:
        result = contestants._timed(contestant, 8, warmup=1, repeats=2, iterations=2,
                                    hook=hook)
    assert len(result["rates"]) == 2 and min(result["rates"]) > 0
    assert result["peak_memory_mb"] > 0


@pytest.mark.parametrize("kernels", ["fused", "per-op"])
def test_a_training_iteration_never_waits_for_the_device(standin_cupy, kernels):
    config = workload(16)
    config.backend, config.kernels = "cuda", kernels
    gan = contestants.make_gan(config, contestants.resolve(config))
    gan.launch_iteration()
    standin_cupy._standin.reset()
    gan.launch_iteration()
    assert sum(standin_cupy._standin.syncs.values()) == 0
    assert standin_cupy._standin.launches > 0


@pytest.mark.parametrize("kernels", ["fused", "per-op"])
def test_the_cli_trains_mixture8_on_cuda(tmp_path, kernels):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "toygan.run", "mixture8", "--backend", "cuda", "--kernels",
         kernels, "--steps", "6", "--eval-every", "3", "--batch", "32", "--eval-samples",
         "200", "--out", str(out), "--no-plots", "--quiet"],
        env=cupy_standin.subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "cuda" and summary["diverged"] is False


def test_a_population_trains_on_cuda(standin_cupy, tmp_path):
    out = tmp_path / "pop"
    code = run.main(["mixture8", "--backend", "cuda", "--population", "3", "--steps", "4",
                     "--eval-every", "2", "--batch", "16", "--eval-samples", "200",
                     "--out", str(out), "--no-plots", "--quiet"])
    assert code == 0
    assert standin_cupy._standin.launches > 0
