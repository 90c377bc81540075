"""The JAX peer: the benchmark's GAN as one jit-compiled JAX function per iteration
(`jax-cpu-jit`), and a population of such GANs vmapped over the member axis and compiled
once (`jax-cpu-vmap`). JAX is a bench peer only, never a dependency of toygan.

Same model as toygan's numpy engine: the initial parameters are copied from
`gan.networks.build_networks` (every member of the vmapped population starts from its own
toygan member's parameters), BCE of the real and generated halves for D, the
non-saturating -log D(G(z)) for G, Adam (PyTorch's form) for both, k = 1. The minibatches
are JAX's own draws (threefry), made inside the compiled function; `iteration_on` takes
given minibatches instead, which the parity test uses to compare with toygan.
"""

from __future__ import annotations

from ..config import Config
from ..gan.factory import resolve
from ..gan.networks import build_networks
from ..gan.streams import random_streams
from ..training.grid import member_configs
from .clocks import HostClock
from .workload import workload

BETA2, EPS = 0.999, 1e-8


def jax_parameters(mlp) -> list:
    """[(W, b), ...] of a toygan MLP's first member, W as (in, out), as JAX arrays."""
    import jax.numpy as jnp

    layers = []
    for layer, where in mlp.slices():
        flat = mlp.params[0, where]
        nw = layer.n_in * layer.n_out
        layers.append((jnp.asarray(flat[:nw].reshape(layer.n_in, layer.n_out), jnp.float32),
                       jnp.asarray(flat[nw:], jnp.float32)))
    return layers


def _mlp(params, x):
    import jax.numpy as jnp

    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i + 1 < len(params):
            x = jnp.maximum(x, 0)
    return x


def _adam(params, grads, state, t, lr: float, beta1: float):
    """PyTorch's Adam, as toygan's: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)."""
    import jax
    import jax.numpy as jnp

    m, v = state
    m = jax.tree_util.tree_map(lambda m_, g: beta1 * m_ + (1 - beta1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda v_, g: BETA2 * v_ + (1 - BETA2) * g * g, v, grads)
    step_size = lr / (1 - beta1**t)
    inv_sqrt_bc2 = 1 / jnp.sqrt(1 - BETA2**t)
    params = jax.tree_util.tree_map(
        lambda p, m_, v_: p - step_size * (m_ / (jnp.sqrt(v_) * inv_sqrt_bc2 + EPS)),
        params, m, v)
    return params, (m, v)


def iteration_on(state, real, noise_d, noise_g, lr_d: float, lr_g: float, beta1: float):
    """One Algorithm-1 iteration on given minibatches: (new state, (loss_d, loss_g)).
    state = (G params, D params, G Adam state, D Adam state, t)."""
    import jax
    import jax.numpy as jnp

    g, d, opt_g, opt_d, t = state
    t = t + 1
    m = real.shape[0]

    def loss_d(d_params):
        fake = jax.lax.stop_gradient(_mlp(g, noise_d))
        logits = _mlp(d_params, jnp.concatenate([real, fake]))
        # softplus(-l) on real, softplus(l) on fake: the BCE's two halves, summed means
        return (jnp.sum(jax.nn.softplus(-logits[:m])) + jnp.sum(jax.nn.softplus(logits[m:]))) / m

    value_d, grads_d = jax.value_and_grad(loss_d)(d)
    d, opt_d = _adam(d, grads_d, opt_d, t, lr_d, beta1)

    def loss_g(g_params):
        return jnp.sum(jax.nn.softplus(-_mlp(d, _mlp(g_params, noise_g)))) / m

    value_g, grads_g = jax.value_and_grad(loss_g)(g)
    g, opt_g = _adam(g, grads_g, opt_g, t, lr_g, beta1)
    return (g, d, opt_g, opt_d, t), (value_d, value_g)


def initial_state(config: Config) -> tuple:
    """toygan's initial networks for `config` (its seed), Adam's zero moments, t = 0."""
    import jax
    import jax.numpy as jnp

    mixture = resolve(config)
    host_g, host_d = build_networks(config, mixture, random_streams(config.seed)[1])
    g, d = jax_parameters(host_g), jax_parameters(host_d)
    zeros = lambda tree: jax.tree_util.tree_map(jnp.zeros_like, tree)  # noqa: E731
    return (g, d, (zeros(g), zeros(g)), (zeros(d), zeros(d)), jnp.zeros((), jnp.float32))


def _drawn_iteration(config: Config):
    """(state, key) -> (state, key, losses): the minibatches drawn by JAX, then the step."""
    import jax
    import jax.numpy as jnp

    mixture = resolve(config)
    means = jnp.asarray(mixture.means, jnp.float32)
    stds = jnp.asarray(mixture.stds, jnp.float32)
    log_weights = jnp.log(jnp.asarray(mixture.weights, jnp.float32))
    m, dim, noise_dim = config.batch, mixture.means.shape[1], config.noise_dim

    def step(state, key):
        key, k_c, k_x, k_zd, k_zg = jax.random.split(key, 5)
        component = jax.random.categorical(k_c, log_weights, shape=(m,))
        real = means[component] + stds[component] * jax.random.normal(k_x, (m, dim))
        noise_d = jax.random.normal(k_zd, (m, noise_dim))
        noise_g = jax.random.normal(k_zg, (m, noise_dim))
        state, losses = iteration_on(state, real, noise_d, noise_g, config.lr_d, config.lr_g,
                                     config.adam_beta1)
        return state, key, losses

    return step


def jax_step(batch: int, members: int = 1):
    """The timed step: one jitted iteration (members == 1), or `members` GANs vmapped and
    jitted as one function, each from its own toygan member's initial parameters."""
    import jax
    import jax.numpy as jnp

    config = workload(batch)
    step = _drawn_iteration(config)
    if members == 1:
        state, key = initial_state(config), jax.random.PRNGKey(config.seed)
        compiled = jax.jit(step, donate_argnums=(0, 1))
    else:
        states = [initial_state(c) for c in member_configs(config, members, {})]
        state = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *states)
        key = jax.random.split(jax.random.PRNGKey(config.seed), members)
        compiled = jax.jit(jax.vmap(step), donate_argnums=(0, 1))
    box = [state, key]

    def run() -> None:
        box[0], box[1], losses = compiled(box[0], box[1])
        losses[0].block_until_ready()  # JAX dispatches asynchronously: time the work

    return run, HostClock()


def available() -> str | None:
    try:
        import jax  # noqa: F401
    except ImportError:
        return "JAX is not installed (pip install jax jaxlib)"
    return None
