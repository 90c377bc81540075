"""Update schemes and penalties in the numpy GAN step (gan.updates, GAN._add_penalty):
each scheme against its formula written out with plain SGD, the penalty's place in D's
step, resume bit for bit, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest

from toygan.config import Config, ConfigError
from toygan.core.penalties import penalty_gradient
from toygan.gan.factory import make_gan, resolve
from toygan.gan.populations import PopulationGAN
from toygan.training.grid import member_configs


def small(**options) -> Config:
    base = {"hidden": [8], "batch": 16, "optimizer": "sgd", "lr_d": 0.05, "lr_g": 0.05,
            "dtype": "float64", "backend": "numpy"}
    return Config(**{**base, **options})


def gan_of(**options):
    config = small(**options)
    return make_gan(config, resolve(config))


def grads_at(gan, g_params, d_params, seed_state):
    """Both players' gradients at (g_params, d_params), from the given stream states."""
    gan.G.params[...], gan.D.params[...] = g_params, d_params
    for name, state in seed_state.items():
        gan.rng[name].bit_generator.state = state
    gan.discriminator_gradients()
    gan.generator_gradients()
    return gan.G.grads.copy(), gan.D.grads.copy()


def streams(gan):
    return {n: gan.rng[n].bit_generator.state for n in ("data", "noise")}


def sgd_velocity_free(gan):
    for opt in (gan.opt_g, gan.opt_d):
        opt.momentum = 0.0


def test_simultaneous_uses_both_gradients_at_the_same_point():
    gan, probe = gan_of(update="simultaneous"), gan_of()
    for g in (gan, probe):
        sgd_velocity_free(g)
    g0, d0, state = gan.G.params.copy(), gan.D.params.copy(), streams(gan)
    gg, gd = grads_at(probe, g0, d0, state)
    gan.iteration()
    np.testing.assert_allclose(gan.G.params, g0 - 0.05 * gg, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gan.D.params, d0 - 0.05 * gd, rtol=1e-12, atol=1e-14)


def test_extragradient_updates_from_the_start_with_the_look_ahead_gradients():
    gan, probe = gan_of(update="extragradient"), gan_of()
    for g in (gan, probe):
        sgd_velocity_free(g)
    g0, d0, state = gan.G.params.copy(), gan.D.params.copy(), streams(gan)
    gg, gd = grads_at(probe, g0, d0, state)
    g_half, d_half = g0 - 0.05 * gg, d0 - 0.05 * gd
    gg2, gd2 = grads_at(probe, g_half, d_half, streams(probe))  # fresh draws, as gan's
    gan.iteration()
    np.testing.assert_allclose(gan.G.params, g0 - 0.05 * gg2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gan.D.params, d0 - 0.05 * gd2, rtol=1e-12, atol=1e-14)


def test_optimistic_feeds_twice_the_gradient_minus_the_last():
    gan, probe = gan_of(update="optimistic"), gan_of()
    for g in (gan, probe):
        sgd_velocity_free(g)
    gan.iteration()  # the first step is a plain simultaneous one
    g1, d1 = gan.G.params.copy(), gan.D.params.copy()
    previous = gan.update.previous["g"].copy(), gan.update.previous["d"].copy()
    gg, gd = grads_at(probe, g1, d1, streams(gan))
    gan.iteration()
    np.testing.assert_allclose(gan.G.params, g1 - 0.05 * (2 * gg - previous[0]), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(gan.D.params, d1 - 0.05 * (2 * gd - previous[1]), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("penalty", ["r1", "r2"])
def test_the_penalty_gradient_is_added_to_the_loss_gradient(penalty):
    gan, plain = gan_of(penalty=penalty, gamma=2.5), gan_of()
    state = streams(gan)
    gan.discriminator_gradients()
    with_penalty = gan.D.grads.copy()
    for name, s in state.items():
        plain.rng[name].bit_generator.state = s
    plain.discriminator_gradients()
    m = gan.config.batch
    points = plain.d_input[:, :m] if penalty == "r1" else plain.d_input[:, m:]
    value = penalty_gradient(plain.D, points.copy(), penalty, 2.5)
    np.testing.assert_allclose(gan.penalty_values, value, rtol=1e-12)
    loss_only = with_penalty - plain.D.grads
    for name, s in state.items():  # the plain step's own loss gradient
        plain.rng[name].bit_generator.state = s
    plain.discriminator_gradients()
    np.testing.assert_allclose(loss_only, plain.D.grads, rtol=1e-10, atol=1e-12)


def test_wgan_gp_does_not_clip_the_critic():
    gan = gan_of(loss="wasserstein", penalty="wgan-gp", gamma=10.0, clip=1e-3)
    for _ in range(5):
        gan.iteration()
    assert np.abs(gan.D.params).max() > 1e-3
    assert gan.penalty_values[0] > 0


@pytest.mark.parametrize("options", [{"update": "optimistic", "penalty": "r1"},
                                     {"update": "extragradient"},
                                     {"loss": "wasserstein", "penalty": "wgan-gp"}])
def test_a_scheme_resumes_bit_for_bit(options):
    straight, resumed = gan_of(**options), gan_of(**options)
    for _ in range(3):
        straight.iteration()
        resumed.iteration()
    state = {k: np.array(v, copy=True) for k, v in resumed.state_dict().items()}
    fresh = gan_of(**options)
    fresh.load_state_dict(state)
    for _ in range(3):
        straight.iteration()
        fresh.iteration()
    assert np.array_equal(straight.G.params, fresh.G.params)
    assert np.array_equal(straight.D.params, fresh.D.params)


def test_a_population_member_with_a_penalty_equals_its_single_run():
    base = small(penalty="r1", optimizer="adam", lr_d=2e-4, lr_g=2e-4, dtype="float32")
    resolve(base)
    members = member_configs(base, 2, {"gamma": [0.5, 4.0]})
    pop = PopulationGAN(members, base.validate())
    single = make_gan(members[3], members[3].validate())
    for _ in range(4):
        pop.iteration()
        single.iteration()
    np.testing.assert_array_equal(pop.D.params[3], single.D.params[0])
    np.testing.assert_array_equal(pop.G.params[3], single.G.params[0])


@pytest.mark.parametrize("options, message", [
    ({"penalty": "r1", "backend": "emu"}, "numpy backend only"),
    ({"update": "simultaneous", "backend": "emu"}, "numpy backend only"),
    ({"penalty": "wgan-gp"}, "wasserstein critic"),
    ({"penalty": "r1", "loss": "wasserstein"}, "takes wgan-gp"),
    ({"update": "extragradient", "k": 3}, "give --k 1"),
    ({"penalty": "r1", "gamma": -1.0}, "--gamma must be a finite number > 0"),
])
def test_bad_combinations_are_refused_in_one_line(options, message):
    with pytest.raises(ConfigError, match=message):
        Config(**options).validate()


def test_a_population_refuses_other_update_schemes():
    base = small(update="simultaneous")
    with pytest.raises(ConfigError, match="alternating updates only"):
        PopulationGAN(member_configs(base, 2, {}), base.validate())


def test_auto_resolves_to_numpy_for_a_penalty(monkeypatch):
    from toygan.device import launch

    monkeypatch.setattr(launch, "cuda_available", lambda: True)
    config = Config(penalty="r1")
    resolve(config)
    assert config.backend == "numpy"
