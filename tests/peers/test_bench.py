"""toygan.bench: the FLOP count, the harness's table and files, missing peers reported."""

from __future__ import annotations

import json
import sys

import pytest

from toygan import bench
from toygan.config import Config


@pytest.mark.parametrize("penalty", ["none", "r1"])
def test_flops_per_iteration_counts_the_products_the_engine_runs(monkeypatch, penalty):
    # Count the multiply-adds of every np.matmul (and of the outer products that replace
    # gemm with inner size 1) during one real iteration of the numpy engine.
    import numpy as np

    from toygan.core.nn import layers
    from toygan.gan.numpy_gan import GAN

    config = bench.workload(64)
    config.penalty = penalty
    gan = GAN(config, config.validate())
    gan.iteration()
    counted = []
    real_matmul = np.matmul

    def counting(a, b, *args, **kwargs):
        counted.append(2 * a.shape[-2] * a.shape[-1] * b.shape[-1])
        return real_matmul(a, b, *args, **kwargs)

    monkeypatch.setattr(layers.np, "matmul", counting)
    real_multiply = np.multiply
    outer = []

    def multiply(a, b, *args, **kwargs):  # outer products of 1-wide layers (Linear only)
        out = real_multiply(a, b, *args, **kwargs)
        if getattr(a, "ndim", 0) == 2 and getattr(b, "ndim", 0) == 2 and (
                a.shape[-1] == 1 or b.shape[-2:] == (1, out.shape[-1])) and a.shape != b.shape:
            outer.append(2 * out.size)
        return out

    monkeypatch.setattr(layers.np, "multiply", multiply)
    gan.iteration()
    assert sum(counted) + sum(outer) == bench.flops_per_iteration(config)
    # The independent hand count at batch 512: 206 MFLOP.
    assert bench.flops_per_iteration(bench.workload(512)) / 1e6 == pytest.approx(206, abs=0.5)


def test_flops_grow_with_k_and_batch():
    one = bench.flops_per_iteration(Config(batch=64, k=1))
    two = bench.flops_per_iteration(Config(batch=64, k=2))
    d_step = two - one
    assert 0 < d_step < one
    assert bench.flops_per_iteration(Config(batch=128, k=1)) == 2 * one


def test_matmul_ceiling_is_a_plausible_rate():
    rate = bench.matmul_ceiling(size=256, repeats=2)
    assert 1e8 < rate < 1e14


def test_run_bench_table_and_files(tmp_path, capsys):
    code = bench.main(["--batches", "8,16", "--contestants", "toygan-numpy", "--repeats", "2",
                       "--warmup", "1", "--iterations", "3", "--out", str(tmp_path)])
    assert code == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].endswith("-bench.json") and files[1].endswith(".md")
    result = json.loads((tmp_path / files[0]).read_text())
    assert [r["batch"] for r in result["rows"]] == [8, 16]
    for row in result["rows"]:
        assert row["contestant"] == "toygan-numpy" and len(row["rates"]) == 2
        assert row["min"] <= row["median"] <= row["max"] and row["min"] > 0
        assert row["ratio_to_toygan_best"] == 1.0
        assert row["flops"] == bench.flops_per_iteration(bench.workload(row["batch"]))
        assert row["peak_memory_mb"] > 10
        assert 0 < row["ceiling_fraction"] < 1
    text = capsys.readouterr().out
    assert "| toygan-numpy | 8 |" in text and "GFLOP/s" in text


def test_a_missing_peer_is_reported_not_run(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    assert "not installed" in bench.available("torch-cpu-eager")
    result = bench.run_bench(batches=(8,), contestants=("torch-cpu-eager",), warmup=0,
                             repeats=1, iterations=1)
    assert result["rows"] == [] and "not installed" in result["skipped"]["torch-cpu-eager"]
    assert "not run: PyTorch is not installed" in bench.format_markdown(result)


def test_a_failing_contestant_is_a_row_with_its_error():
    result = {"device": "x", "date": "d", "command": "c", "machine": "m", "workload": "w",
              "matmul_ceiling_gflops": 1.0, "skipped": {},
              "rows": [{"contestant": "toygan-numpy", "batch": 8, "error": "ValueError: boom"}]}
    assert "failed: ValueError: boom" in bench.format_markdown(result)


@pytest.mark.parametrize("argv", [["--batches", "a"], ["--contestants", "jax"],
                                  ["--repeats", "0"]])
def test_bad_arguments_exit_2(argv, tmp_path, capsys):
    # (the full table of hostile input is tests/test_cli_reliability_tools.py)
    assert bench.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("toygan.bench: error: ") and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_the_torch_peer_starts_from_toygans_parameters():
    torch = pytest.importorskip("torch")
    import numpy as np

    from toygan.gan.numpy_gan import GAN

    config = bench.workload(16)
    gan = GAN(config, config.validate())
    z = np.random.default_rng(0).standard_normal((1, 16, 2)).astype(np.float32)
    for mlp in (gan.G, gan.D):
        ours = mlp.forward(z).copy()
        theirs = bench.torch_network(mlp)(torch.from_numpy(z[0])).detach().numpy()
        np.testing.assert_allclose(theirs, ours[0], rtol=1e-5, atol=1e-6)


def test_the_plain_array_peer_computes_toygans_iteration():
    """Fed the same minibatches, numpy-plain (toygan.array_peer on NumPy) and toygan's numpy
    engine end the iteration with the same parameters: the peer does the same work."""
    import numpy as np

    from tests.gan.test_device_gan import feed
    from tests.kernel_check import TOLERANCES
    from toygan.gan.numpy_gan import GAN
    from toygan.peers.array_peer import ArrayGAN

    config = bench.workload(33)
    mixture = config.validate()
    rng = np.random.default_rng(4)
    real = mixture.sample(33, rng).astype(np.float32)
    noises = [rng.standard_normal((1, 33, 2)).astype(np.float32) for _ in range(2)]
    gan, peer = GAN(config, mixture), ArrayGAN(config, mixture, np)
    feed(gan, real.reshape(1, 33, 2), list(noises))
    want = gan.iteration()
    got = (peer.discriminator_step(real, noises[0][0]), peer.generator_step(noises[1][0]))
    np.testing.assert_allclose(np.array(got, dtype=np.float64), want, rtol=1e-5)
    unit = TOLERANCES[np.dtype(np.float32)].unit
    for ours, theirs in ((gan.G, peer.G), (gan.D, peer.D)):
        want_params = ours.params[0]
        # Adam moves each parameter by ~lr whatever the gradient's size: 2^10 ulps of |p|+lr
        np.testing.assert_array_less(np.abs(peer.flat_params(theirs) - want_params),
                                     1024 * unit * (np.abs(want_params) + config.lr_d))
    # And the peer trains with its own draws.
    losses = [peer.iteration() for _ in range(3)]
    assert all(np.isfinite(float(v)) for pair in losses for v in pair)


def test_bench_runs_the_plain_numpy_peer(tmp_path):
    result = bench.run_bench(batches=(8,), contestants=("toygan-numpy", "numpy-plain"),
                             warmup=1, repeats=1, iterations=2)
    names = [r["contestant"] for r in result["rows"]]
    assert names == ["toygan-numpy", "numpy-plain"]
    assert all("median" in r and r["median"] > 0 for r in result["rows"])
    assert "ratio_to_toygan_best" in result["rows"][1]


def test_gpu_contestants_are_skipped_without_a_gpu(monkeypatch):
    monkeypatch.setattr("toygan.device.launch.cuda_available", lambda: False)
    for name in ("toygan-cuda-fused", "toygan-cuda-graph", "toygan-cuda-per-op",
                 "toygan-cuda-population", "cupy-cublas"):
        assert bench.available(name) == "no CuPy or no GPU"


def test_the_population_contestant_counts_gan_iterations():
    result = bench.measure("toygan-population", 8, warmup=1, repeats=1, iterations=64)
    assert result["members"] == bench.POPULATION_MEMBERS["toygan-population"] == 64
    assert result["iterations_per_block"] == 3  # 64 // 64 members, at least 3
    assert result["rates"][0] > 0


def test_a_measuring_process_that_dies_is_a_row_at_once(monkeypatch):
    """A child killed by the OS (out of memory) never reports: measure() notices its death
    within seconds (it used to wait out the whole timeout) and says so."""
    import multiprocessing
    import os
    import time

    from toygan.peers import contestants

    spawn, fork = multiprocessing.get_context("spawn"), multiprocessing.get_context("fork")

    class DyingContext:
        def Queue(self):  # noqa: N802 (multiprocessing's spelling)
            return spawn.Queue()

        def Process(self, target, args):  # noqa: N802
            return fork.Process(target=os._exit, args=(3,))

    monkeypatch.setattr(contestants.multiprocessing, "get_context", lambda kind: DyingContext())
    t0 = time.perf_counter()
    result = bench.measure("toygan-numpy", 8, warmup=0, repeats=1, iterations=1)
    assert result["error"] == "the measuring process died (exit code 3)"
    assert time.perf_counter() - t0 < 30
