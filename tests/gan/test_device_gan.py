"""The kernel engine (toygan.engine) against the NumPy engine (toygan.train.GAN): the same
Algorithm-1 iteration from the same parameters and minibatches gives the same parameters on
numpy, on the references, on the emulator (and on a GPU when present); buffers are
allocated once; runs, checkpoints and the CLI work with --backend emu."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests import cupy_standin
from tests.kernel_check import TOLERANCES, assert_close, backend_kinds
from toygan import run
from toygan.config import Config
from toygan.gan.device_gan import DeviceGAN
from toygan.gan.factory import resolve
from toygan.gan.networks import CheckpointError
from toygan.gan.numpy_gan import GAN
from toygan.training.trainer import Trainer

KERNEL_KINDS = [pytest.param(k, marks=pytest.mark.gpu) if k == "cuda" else k
                for k in backend_kinds()]


def small_config(**overrides) -> Config:
    base = dict(preset="mixture8", hidden=[19, 17], batch=37, noise_dim=3, k=2, seed=3,
                dtype="float64", eval_every=5, eval_samples=300)
    base.update(overrides)
    return Config(**base)


def feed(gan, real: np.ndarray, noises: list[np.ndarray]) -> None:
    """Make the GAN train on these minibatches instead of drawing its own."""
    queue = list(noises)
    if isinstance(gan, GAN):
        gan.sample_real = lambda: real
        gan.training_noise = lambda: queue.pop(0)
        return
    xp, m = gan.device.xp, gan.config.batch

    def sample_real():
        gan.d_input[:, :m] = xp.asarray(real.astype(gan.device.dtype))

    def training_noise():
        gan.noise[...] = xp.asarray(queue.pop(0).astype(gan.device.dtype))
        return gan.noise

    gan.sample_real, gan.training_noise = sample_real, training_noise


def one_iteration(kind: str, config: Config, real, noises):
    mixture = config.validate()
    gan = GAN(config, mixture) if kind == "numpy" else DeviceGAN(config, mixture, kind)
    feed(gan, real, noises)
    losses = gan.iteration()
    state = gan.state_dict()
    return losses, state["g_params"], state["d_params"]


# The Wasserstein critic's output bias has an exactly zero gradient (a constant shift of
# the critic cancels in mean f(fake) - mean f(real)); its computed value is rounding noise,
# which RMSprop and Adam divide by eps = 1e-8 and so amplify by 1e8. That case runs with
# SGD, whose update is linear in the gradient; RMSprop and Adam run with the other losses.
CASES = [
    dict(),
    dict(loss="minimax", optimizer="sgd", d_activation="leaky_relu", g_activation="tanh"),
    dict(loss="wasserstein", optimizer="sgd", d_activation="maxout"),
    dict(loss="least_squares", optimizer="rmsprop", g_activation="sigmoid", noise="uniform",
         d_activation="maxout"),
]


@pytest.mark.parametrize("kind", ["reference", *KERNEL_KINDS])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c.values()) or "default")
@pytest.mark.parametrize("kernels", ["per-op", "auto"])
def test_one_iteration_matches_numpy_engine(kind, dtype, case, kernels):
    """auto runs the fused steps where the networks allow (no maxout), per-op the rest."""
    config = small_config(dtype=dtype, kernels=kernels, **case)
    rng = np.random.default_rng(11)
    m = config.batch
    real = config.validate().sample(m, rng).reshape(1, m, -1)
    noises = [rng.standard_normal((1, m, config.noise_dim)) for _ in range(config.k + 1)]
    want_losses, want_g, want_d = one_iteration("numpy", config, real, noises)
    got_losses, got_g, got_d = one_iteration(kind, config, real, noises)
    tol = TOLERANCES[np.dtype(dtype)]
    # The engines round differently (summation order); Adam and RMSprop divide by the
    # gradient's own size, so a parameter moves by at most ~lr either way and a tiny
    # gradient's rounding shows at that scale. Bound: 2^10 ulps of |p| + lr.
    lr = max(config.lr_d, config.lr_g)
    for name, got, want in (("G", got_g, want_g), ("D", got_d, want_d)):
        bound = 1024 * tol.unit * (np.abs(want) + lr)
        assert_close(f"{kind} {dtype} {name} params", got, want, bound)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1024 * tol.unit)


def test_dropout_and_philox_draws_agree_between_reference_and_emulator():
    """With the engine's own draws (data, noise, dropout masks from Philox), the
    reference ops and the kernels follow the same trajectory."""
    config = small_config(dropout=0.3, d_activation="maxout", k=1)
    gans = [DeviceGAN(config, config.validate(), kind) for kind in ("reference", "emu")]
    for _ in range(3):
        losses = [gan.iteration() for gan in gans]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-10)
    a, b = (gan.state_dict() for gan in gans)
    for key in ("g_params", "d_params", "opt_d.m", "opt_g.v"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-10, atol=1e-13)
    assert a["philox"] == b["philox"]


@pytest.mark.parametrize("kind", ["reference", *KERNEL_KINDS])
@pytest.mark.parametrize("options", [dict(dropout=0.2), dict(kernels="fused", backend="emu")],
                         ids=["per-op", "fused"])
def test_no_allocation_after_the_first_iteration(kind, options):
    config = small_config(dtype="float32", **options)
    gan = DeviceGAN(config, config.validate(), kind)
    gan.iteration()
    allocations = gan.device.allocations
    pool = None
    if kind == "cuda":
        import cupy

        pool = cupy.get_default_memory_pool()
        cupy.cuda.Device().synchronize()
        before = pool.total_bytes()
    for _ in range(3):
        gan.iteration()
    assert gan.device.allocations == allocations
    if pool is not None:
        assert pool.total_bytes() == before


def test_emu_run_resumes_bit_for_bit(tmp_path):
    config = small_config(backend="emu", steps=8, eval_every=4, dtype="float32")
    straight = Trainer(config, tmp_path / "a")
    straight.run()
    half = Trainer(small_config(backend="emu", steps=4, eval_every=4, dtype="float32"),
                   tmp_path / "b")
    half.run()
    resumed = Trainer.resume(tmp_path / "b", {"steps": 8})
    resumed.run()
    a, b = straight.gan.state_dict(), resumed.gan.state_dict()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_checkpoints_do_not_cross_random_stream_families(tmp_path):
    Trainer(small_config(backend="emu", steps=2, eval_every=2), tmp_path / "emu").run()
    with pytest.raises(CheckpointError, match="kernel backend"):
        Trainer.resume(tmp_path / "emu", {"backend": "numpy", "steps": 4})
    Trainer(small_config(backend="numpy", steps=2, eval_every=2), tmp_path / "np").run()
    with pytest.raises(CheckpointError, match="numpy backend"):
        Trainer.resume(tmp_path / "np", {"backend": "emu", "steps": 4})


def test_cli_trains_through_the_emulator(tmp_path, capsys):
    out = tmp_path / "run"
    code = run.main(["mixture8", "--backend", "emu", "--steps", "6", "--hidden", "16,16",
                     "--batch", "32", "--eval-every", "3", "--eval-samples", "200",
                     "--out", str(out), "--no-plots"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "emu" and summary["diverged"] is False
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 3, 6]


def test_cuda_backend_without_a_gpu_is_a_clear_error(capsys):
    if cupy_standin.real_gpu():
        pytest.skip("a GPU is present")
    assert run.main(["mixture8", "--backend", "cuda", "--steps", "1"]) == 2
    assert "needs CuPy" in capsys.readouterr().err


def test_auto_backend_picks_numpy_without_a_gpu():
    config = small_config(backend="auto")
    resolve(config)
    assert config.backend == ("cuda" if cupy_standin.real_gpu() else "numpy")
