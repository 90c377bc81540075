"""The interface every GAN step implements, one implementation per backend (numpy_gan.GAN,
device_gan.DeviceGAN), and the one of P members in lockstep (populations.PopulationGAN,
device_populations.DevicePopulationGAN). The trainers see only these; factory builds them.
Tests check that each implementation has every member (tests/gan/test_step.py)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..config import Config
from ..core.distributions import GaussianMixture
from ..core.losses import GANLoss


@runtime_checkable
class EvaluatedGAN(Protocol):
    """What an evaluation asks of a GAN (training.evaluation.evaluate_record): a single
    run's GANStep, or one member of a population."""

    config: Config
    mixture: GaussianMixture
    loss: GANLoss

    def generate(self, z: np.ndarray) -> np.ndarray:
        """G(z) for noise z of shape (1, n, noise_dim), as float64 (n, dim)."""

    def discriminate(self, x: np.ndarray) -> np.ndarray:
        """D on points (n, dim) in evaluation mode: probabilities, or a critic's values."""

    def grad_norms(self) -> tuple[float, float]:
        """The norms of D's and G's last parameter gradients."""

    def parameters_finite(self) -> bool: ...


@runtime_checkable
class GANStep(EvaluatedGAN, Protocol):
    """One GAN: k D steps and one G step per `iteration()`, its state, and evaluation."""

    rng: dict[str, np.random.Generator]  # the run's NumPy streams (rng["eval"]: the eval sets)

    def iteration(self) -> tuple[float, float]:
        """One iteration of Algorithm 1; the last D loss and the G loss."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a checkpoint needs to continue bit for bit."""

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


@runtime_checkable
class PopulationStep(Protocol):
    """P GANs in lockstep; member i trains exactly as the single run of its config."""

    P: int
    configs: list[Config]
    alive: np.ndarray  # (P,) bool: members still training
    rngs: list[dict[str, np.random.Generator]]

    def iteration(self) -> tuple[np.ndarray, np.ndarray]:
        """One lockstep iteration; each member's losses (NaN where it took no step)."""

    def members_finite(self) -> np.ndarray: ...

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Every member's G and D parameters, (P, n) each, on the host."""

    def restore_member(self, i: int, snapshot: tuple[np.ndarray, np.ndarray]) -> None: ...

    def member(self, i: int) -> EvaluatedGAN:
        """Member i, evaluated by the single run's code."""

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...
