"""The GAN step on the numpy backend: Algorithm 1 of the paper on toygan.core's layers.

One iteration: k discriminator steps, each on a fresh minibatch of m real samples and m
generated ones; then one generator step on m fresh noise samples. D sees real and generated
samples in one concatenated batch of 2m (exact: no layer mixes samples), so each D step is
one forward and one backward pass.
"""

from __future__ import annotations

import json

import numpy as np
from scipy.special import expit

from ..config import Config
from ..core.distributions import GaussianMixture
from ..core.losses import GANLoss, get_loss
from ..core.nn import MLP
from ..core.optim import make_optimizer
from ..core.penalties import penalty_gradient
from .networks import CheckpointError, build_networks, restore_networks
from .streams import TRAINING_STREAMS, draw_noise, random_streams
from .updates import UPDATES


class NumpyNetworks:
    """What evaluation asks of a GAN on the numpy backend: G's samples, D's values and the
    last gradients' norms. Holds config, mixture, loss, G and D (with P = 1 for a run)."""

    config: Config
    mixture: GaussianMixture
    loss: GANLoss
    G: MLP
    D: MLP

    def generate(self, z: np.ndarray) -> np.ndarray:
        return np.array(self.G.forward(z)[0], dtype=np.float64)

    def discriminate(self, x: np.ndarray) -> np.ndarray:
        """D's output at points x (n, pack * dim): a probability for BCE losses, else the
        raw score. With packing, pass packs (`toygan.training.evaluation.packs`)."""
        self.D.eval()
        try:
            logits = np.array(self.D.forward(np.asarray(x)[None])[0, :, 0], dtype=np.float64)
        finally:
            self.D.train()
        return expit(logits) if self.loss.output_is_probability else logits

    def grad_norms(self) -> tuple[float, float]:
        """Euclidean norms of D's and G's last parameter gradients."""
        return float(np.linalg.norm(self.D.grads)), float(np.linalg.norm(self.G.grads))

    def parameters_finite(self) -> bool:
        return bool(np.isfinite(self.G.params).all() and np.isfinite(self.D.params).all())


class GAN(NumpyNetworks):
    """Generator, discriminator, their optimisers and the RNG streams of one run; with
    `members` (their configurations: seeds and learning rates may differ), P runs in
    lockstep on one member axis (toygan.gan.populations)."""

    def __init__(self, config: Config, mixture: GaussianMixture,
                 members: list[Config] | None = None) -> None:
        self.config, self.mixture = config, mixture
        self.loss = get_loss(config.loss)
        dtype = np.dtype(config.dtype)
        m, dim = config.batch, mixture.dim
        if members is None:
            self.P = 1
            _, self.rng = random_streams(config.seed)
            self.rngs = [self.rng]
            self.G, self.D = build_networks(config, mixture, self.rng)
            self.D.set_rng(self.rng["dropout"])
            lr_g, lr_d = config.lr_g, config.lr_d
        else:
            # Member i from the streams of its own seed, as the single run of its config.
            self.P = len(members)
            self.rngs = [random_streams(c.seed)[1] for c in members]
            self.rng = self.rngs[0]
            self.G, self.D = build_networks(config, mixture, self.rngs)
            self.D.set_rng([r["dropout"] for r in self.rngs])
            lr_g = np.array([c.lr_g for c in members])
            lr_d = np.array([c.lr_d for c in members])
        # The penalty's weight, one per member (a population's grid may vary it).
        self.gamma = np.array([c.gamma for c in (members or [config])])
        beta1 = config.adam_beta1
        self.opt_g = make_optimizer(config.optimizer, self.G.params, self.G.grads, lr_g, beta1)
        self.opt_d = make_optimizer(config.optimizer, self.D.params, self.D.grads, lr_d, beta1)
        # PacGAN packing: D's input is `pack` consecutive samples concatenated, so a minibatch
        # of m packs takes m * pack samples (a reshape, no copy).
        self.pack = pack = config.pack
        # Buffers of the step: D's concatenated [real; fake] batch and its logit gradient
        # (zeroed: members a population masks out of a step leave their rows as they are).
        self.d_input = np.zeros((self.P, 2 * m, dim * pack), dtype=dtype)
        self.d_grad = np.empty((self.P, 2 * m, 1), dtype=dtype)
        self.noise_shape = (self.P, m * pack, config.noise_dim)
        self.penalty_values = np.zeros(self.P)  # the last D step's penalty, per member
        if config.penalty != "none":
            reason = self.D.second_order_unsupported()
            if reason:
                raise ValueError(f"--penalty {config.penalty}: {reason}")
            self.loss_grads = np.empty_like(self.D.grads)
            self.interpolates = np.empty((self.P, m, dim * pack), dtype=dtype)
        self.update = UPDATES[config.update](self)

    # ------------------------------------------------------------- the step
    def draw_noise(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return draw_noise(self.config, shape, rng)

    def sample_real(self) -> np.ndarray:
        """A minibatch of m real packs per member, (P, m, pack * dim)."""
        m = self.config.batch
        return self.mixture.sample(self.P * m * self.pack, self.rng["data"]).reshape(
            self.P, m, -1)

    def training_noise(self) -> np.ndarray:
        """A minibatch of G's noise, (P, m * pack, noise_dim)."""
        return self.draw_noise(self.noise_shape, self.rng["noise"])

    def interpolation_weights(self) -> np.ndarray:
        """WGAN-GP's mixing weights, U[0, 1) per point, (P, m, 1): from the data stream,
        after the minibatch."""
        shape = (self.P, self.config.batch, 1)
        return self.rng["data"].random(shape, dtype=self.d_input.dtype)

    def discriminator_step(self) -> float:
        value = self.discriminator_gradients()
        self.apply_discriminator()
        return value

    def generator_step(self) -> float:
        value = self.generator_gradients()
        self.opt_g.step()
        return value

    def discriminator_gradients(self) -> float:
        """D's loss (and penalty) gradient on a fresh minibatch, in D.grads; no update."""
        m = self.config.batch
        self.d_input[:, :m] = self.sample_real()
        self.d_input[:, m:] = self._packed(self.G.forward(self.training_noise()))
        logits = self.D.forward(self.d_input)
        value, grad_real, grad_fake = self.loss.discriminator(logits[:, :m], logits[:, m:])
        self.d_grad[:, :m] = grad_real
        self.d_grad[:, m:] = grad_fake
        self.D.backward(self.d_grad, input_grad=False)
        if self.config.penalty != "none":
            self._add_penalty(m)
        self.step_values = value  # every member's loss (toygan.gan.populations reads them)
        return float(value[0])

    def _add_penalty(self, m: int) -> None:
        """D.grads += the penalty's gradient (toygan.core.penalties), on real samples (R1),
        generated ones (R2) or interpolates of the two (WGAN-GP)."""
        kind = self.config.penalty
        real, fake = self.d_input[:, :m], self.d_input[:, m:]
        if kind == "r1":
            points = real
        elif kind == "r2":
            points = fake
        else:
            eps = self.interpolation_weights()
            np.subtract(real, fake, out=self.interpolates)
            self.interpolates *= eps
            self.interpolates += fake
            points = self.interpolates
        np.copyto(self.loss_grads, self.D.grads)
        self.penalty_values = penalty_gradient(self.D, points, kind, self.gamma)
        self.D.grads += self.loss_grads

    def apply_discriminator(self) -> None:
        self.opt_d.step()
        if self.loss.clip and self.config.penalty == "none":  # WGAN-GP replaces clipping
            np.clip(self.D.params, -self.config.clip, self.config.clip, out=self.D.params)

    def generator_gradients(self) -> float:
        """G's loss gradient against the current D, in G.grads (D.grads untouched)."""
        fake = self.G.forward(self.training_noise())
        logits = self.D.forward(self._packed(fake))
        value, grad = self.loss.generator(logits)
        grad_fake = self.D.backward(grad, input_grad=True, param_grads=False)
        self.G.backward(grad_fake.reshape(fake.shape), input_grad=False)
        self.step_values = value
        return float(value[0])

    def _packed(self, x: np.ndarray) -> np.ndarray:
        """(P, n * pack, dim) -> (P, n, pack * dim): consecutive samples side by side."""
        return x.reshape(x.shape[0], x.shape[1] // self.pack, -1)

    def iteration(self) -> tuple[float, float]:
        """One iteration (Algorithm 1's alternating updates, or config.update's scheme);
        returns (last D loss, G loss)."""
        return self.update.iteration()

    # ---------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"g_params": self.G.params.copy(), "d_params": self.D.params.copy()}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            for key, value in opt.state_dict().items():
                state[f"{prefix}.{key}"] = np.array(value, copy=True)
        for name in TRAINING_STREAMS:
            state[f"rng.{name}"] = np.array(json.dumps(self.rng[name].bit_generator.state))
        state.update(self.update.state_dict())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "philox" in state:
            raise CheckpointError(
                "the checkpoint was written by a kernel backend (emu or cuda), whose Philox "
                "random streams the numpy backend does not draw from; resume it with "
                "--backend emu or --backend cuda")
        restore_networks(state, self, np.copyto)
        for name in TRAINING_STREAMS:
            self.rng[name].bit_generator.state = json.loads(str(state[f"rng.{name}"]))
        self.update.load_state_dict(state)
