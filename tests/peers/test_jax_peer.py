"""The JAX peer does toygan's work: same initial parameters, same iteration (skipped when
JAX is not installed; JAX is a bench peer, not a dependency)."""

import numpy as np
import pytest

from tests.gan.test_device_gan import feed
from tests.kernel_check import TOLERANCES
from toygan import bench
from toygan.gan.numpy_gan import GAN


def _flat(layers) -> np.ndarray:
    return np.concatenate([np.concatenate([np.asarray(w).ravel(), np.asarray(b)])
                           for w, b in layers])


def test_the_jax_peer_computes_toygans_iteration():
    """Fed the same minibatches, the JAX iteration and toygan's numpy engine give the same
    losses and end with the same parameters."""
    pytest.importorskip("jax")
    from toygan.peers import jax_peer

    config = bench.workload(33)
    mixture = config.validate()
    rng = np.random.default_rng(5)
    real = mixture.sample(33, rng).astype(np.float32)
    noises = [rng.standard_normal((1, 33, 2)).astype(np.float32) for _ in range(2)]
    gan = GAN(config, mixture)
    state = jax_peer.initial_state(config)
    np.testing.assert_array_equal(_flat(state[0]), gan.G.params[0])
    np.testing.assert_array_equal(_flat(state[1]), gan.D.params[0])
    feed(gan, real.reshape(1, 33, 2), list(noises))
    want = gan.iteration()
    state, got = jax_peer.iteration_on(state, real, noises[0][0], noises[1][0], config.lr_d,
                                       config.lr_g, config.adam_beta1)
    np.testing.assert_allclose(np.array(got, dtype=np.float64), want, rtol=1e-5)
    unit = TOLERANCES[np.dtype(np.float32)].unit
    for ours, theirs in ((gan.G, state[0]), (gan.D, state[1])):
        want_params = ours.params[0]
        # Adam moves each parameter by ~lr whatever the gradient's size: 2^10 ulps of |p|+lr
        np.testing.assert_array_less(np.abs(_flat(theirs) - want_params),
                                     1024 * unit * (np.abs(want_params) + config.lr_d))


@pytest.mark.parametrize("members", [1, 3])
def test_the_jax_contestants_train_with_their_own_draws(members):
    pytest.importorskip("jax")
    from toygan.peers import jax_peer

    step, _ = jax_peer.jax_step(8, members)
    for _ in range(3):
        step()


def test_a_missing_jax_is_reported(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_jax(name, *args, **kwargs):
        if name == "jax" or name.startswith("jax."):
            raise ImportError("no jax here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jax)
    assert bench.available("jax-cpu-jit") == "JAX is not installed (pip install jax jaxlib)"
    assert bench.available("jax-cpu-vmap") == "JAX is not installed (pip install jax jaxlib)"
