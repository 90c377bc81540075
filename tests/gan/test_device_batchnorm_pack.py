"""Batch norm in G (g_batchnorm) and PacGAN packing (pack > 1) on the kernel engine: from
the same parameters and minibatches, iterations give the numpy engine's parameters (on the
references, the emulator, and CUDA or its stand-in), to the tolerances of
tests/gan/test_device_gan.py; with the engine's own Philox draws the references and the
emulator agree; they run per-op (auto picks it, fused is refused); a population's members
equal their single runs; and the PacGAN protocol (toygan.reproduce) runs on emu."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.gan.test_device_gan import KERNEL_KINDS, feed, small_config
from tests.kernel_check import TOLERANCES, assert_close
from toygan import reproduce
from toygan.config import ConfigError
from toygan.core.nn import BatchNorm, Linear
from toygan.gan.device_gan import DeviceGAN
from toygan.gan.networks import build_networks
from toygan.gan.numpy_gan import GAN
from toygan.training.grid import parse_grid
from toygan.training.population_trainer import PopulationTrainer
from toygan.training.trainer import Trainer

ITERATIONS = 2  # each k = 2 D steps and a G step

CASES = [
    dict(g_batchnorm=True, optimizer="sgd"),
    dict(g_batchnorm=True, g_activation="tanh"),  # Adam: see pre_batchnorm_biases
    dict(pack=2),
    dict(pack=4, d_activation="maxout", loss="least_squares", optimizer="rmsprop"),
    # The protocol's shape: BN in a ReLU G, a packed maxout D (SGD: see above).
    dict(pack=2, g_batchnorm=True, d_activation="maxout", optimizer="sgd"),
]


def pre_batchnorm_biases(config) -> np.ndarray:
    """G's flat-parameter mask of the Linear biases that a BatchNorm follows.

    BN subtracts the batch mean, so such a bias has an exactly zero gradient and its
    computed one is rounding noise; Adam divides that by its own size (or eps), so the
    bias moves by up to ~lr per step in a direction the summation order decides (as the
    Wasserstein critic's output bias in test_device_gan.py). It changes nothing the
    network computes; the other parameters are held to the usual bound."""
    G, _ = build_networks(config, config.validate(), None)
    mask = np.zeros(G.n_params, dtype=bool)
    slices = G.slices()
    for (layer, where), (after, _) in zip(slices, [*slices[1:], (None, None)], strict=True):
        if isinstance(layer, Linear) and isinstance(after, BatchNorm):
            mask[where.start + layer.n_in * layer.n_out:where.stop] = True
    return mask


def train(kind: str, config, real, noises) -> tuple[list, dict]:
    mixture = config.validate()
    gan = GAN(config, mixture) if kind == "numpy" else DeviceGAN(config, mixture, kind)
    if kind != "numpy":
        assert gan.kernel_path == "per-op"  # kernels=auto: neither layer is fused
    feed(gan, real, noises)
    losses = [gan.iteration() for _ in range(ITERATIONS)]
    return losses, gan.state_dict()


@pytest.mark.parametrize("kind", ["reference", *KERNEL_KINDS])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_iterations_match_numpy_engine(kind, dtype, case):
    config = small_config(dtype=dtype, **case)
    rng = np.random.default_rng(11)
    m, pack = config.batch, config.pack
    # m packs of real samples, side by side (the numpy engine's sample_real), and m * pack
    # noise rows per step.
    real = config.validate().sample(m * pack, rng).reshape(1, m, -1)
    noises = [rng.standard_normal((1, m * pack, config.noise_dim))
              for _ in range(ITERATIONS * (config.k + 1))]
    want_losses, want = train("numpy", config, real, noises)
    got_losses, got = train(kind, config, real, noises)
    tol = TOLERANCES[np.dtype(dtype)]
    # As in test_device_gan: 2^10 ulps of |p| + lr (Adam and RMSprop move a parameter by
    # ~lr whatever its gradient's size).
    lr = max(config.lr_d, config.lr_g)
    free = pre_batchnorm_biases(config) if config.optimizer != "sgd" else None
    for name, key in (("G", "g_params"), ("D", "d_params")):
        bound = 1024 * tol.unit * (np.abs(want[key]) + lr)
        if name == "G" and free is not None:
            g_steps = ITERATIONS
            bound[:, free] = 2 * lr * g_steps
        assert_close(f"{kind} {dtype} {name} params", got[key], want[key], bound)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1024 * tol.unit)


def test_own_draws_agree_between_reference_and_emulator():
    """With the engine's own Philox draws (real packs written through a view of D's input),
    the reference ops and the kernels follow the same trajectory."""
    config = small_config(pack=3, g_batchnorm=True, d_activation="maxout", k=1)
    gans = [DeviceGAN(config, config.validate(), kind) for kind in ("reference", "emu")]
    for _ in range(3):
        losses = [gan.iteration() for gan in gans]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-10)
    a, b = (gan.state_dict() for gan in gans)
    free = pre_batchnorm_biases(config)  # Adam moves them by rounding noise / eps
    np.testing.assert_allclose(a["g_params"][:, ~free], b["g_params"][:, ~free], rtol=1e-10,
                               atol=1e-13)
    np.testing.assert_allclose(a["g_params"][:, free], b["g_params"][:, free],
                               atol=2 * config.lr_g * 3)
    for key in ("d_params", "opt_d.m", "opt_g.v"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-10, atol=1e-13)
    assert a["philox"] == b["philox"]
    # D's input is the packed view of 2 m pack samples: real packs first, then G's.
    gan = gans[1]
    assert gan.d_input.shape == (1, 2 * config.batch, 3 * 2)
    assert np.shares_memory(gan.d_input, gan.real_samples)
    assert np.shares_memory(gan.d_input, gan.fake_samples)


def test_no_allocation_after_the_first_iteration():
    config = small_config(dtype="float32", pack=2, g_batchnorm=True)
    gan = DeviceGAN(config, config.validate(), "emu")
    gan.iteration()
    allocations = gan.device.allocations
    for _ in range(2):
        gan.iteration()
    assert gan.device.allocations == allocations


@pytest.mark.parametrize("option", [dict(pack=2), dict(g_batchnorm=True)])
def test_fused_is_refused_in_one_line_and_auto_runs_per_op(option):
    with pytest.raises(ConfigError, match=r"^--kernels fused has no batch norm.*per-op$"):
        small_config(backend="emu", kernels="fused", **option).validate()
    config = small_config(backend="emu", **option)
    mixture = config.validate()
    assert DeviceGAN(config, mixture, "emu").kernel_path == "per-op"
    # Unvalidated (a config built in code), the engine refuses as plainly.
    forced = dataclasses.replace(config, kernels="fused")
    with pytest.raises(ConfigError, match="not fused") as err:
        DeviceGAN(forced, mixture, "emu")
    assert "\n" not in str(err.value)


def test_population_members_equal_their_single_runs(tmp_path):
    base = small_config(backend="emu", dtype="float32", pack=2, g_batchnorm=True, steps=4,
                        eval_every=2, eval_samples=200, k=1)
    pop = PopulationTrainer(base, 1, parse_grid("k=1,2"), tmp_path / "pop")
    pop.run()
    assert pop.gan.kernel_path == "per-op" and pop.gan.P == 2
    G, D = pop.gan.snapshot()
    for i, config in enumerate(pop.configs):
        single = Trainer(dataclasses.replace(config), tmp_path / f"single{i}")
        single.run()
        state = single.gan.state_dict()
        np.testing.assert_array_equal(G[i], state["g_params"][0])
        np.testing.assert_array_equal(D[i], state["d_params"][0])


def test_reproduce_runs_the_pacgan_protocol_on_the_emulator(tmp_path, monkeypatch, capsys):
    """reproduce's command end to end with its configs on --backend emu; the networks are
    cut down (the published ones take ~3 s an iteration on the emulator), the layers kept:
    batch norm in a 4-layer ReLU G, a 3-layer maxout D with 5 pieces, packs 1 and 2."""
    published = reproduce.protocol_config

    def cut_down(preset, pack, seed, steps, backend):
        config = published(preset, pack, seed, steps, backend)
        return dataclasses.replace(config, hidden=[24] * 4, d_hidden=[16] * 3, batch=32,
                                   eval_samples=500)

    monkeypatch.setattr(reproduce, "protocol_config", cut_down)
    out = tmp_path / "ring"
    assert reproduce.main(["pacgan-ring", "--steps", "2", "--seeds", "1", "--packs", "1,2",
                           "--backend", "emu", "--quiet", "--out", str(out)]) == 0
    for pack in (1, 2):
        config = json.loads((out / f"pack{pack}-seed0" / "config.json").read_text())
        assert config["backend"] == "emu" and config["g_batchnorm"] and config["pack"] == pack
    table = json.loads((out / "table-pacgan-ring.json").read_text())
    assert [row["pack"] for row in table["rows"]] == [1, 2]
    assert "PacGAN2" in capsys.readouterr().out
