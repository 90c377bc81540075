"""The Dirac-GAN of Mescheder, Geiger and Nowozin (2018, "Which Training Methods for GANs
do actually Converge?", Sec. 2), in closed form.

p_data = delta_0, the generator is delta_theta, the discriminator D(x) = psi x. With the
GAN losses written as toygan writes them (D minimises L_D, G minimises L_G; core.losses),
the training objective is V(theta, psi) = f(-psi theta) + f(0) with f(t) = log sigmoid(t)
for the standard GAN (f(t) = t for WGAN), and the gradient field of simultaneous training
v(theta, psi) = (-dL_G/dtheta, -dL_D/dpsi) has at the equilibrium (0, 0) the Jacobian
[[0, f'(0)], [-f'(0), -gamma]] where R1 or R2 adds gamma/2 psi^2 to D's loss (here
grad_x D = psi at every x). Its eigenvalues are +-i f'(0) without a penalty and
(-gamma +- sqrt(gamma^2 - 4 f'(0)^2)) / 2 with one: Mescheder et al.'s Lemma 2.2, Thm 4.1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

# f'(0) of each loss: the standard GAN's f = log sigmoid has f'(0) = 1/2; the non-saturating
# G loss has the same Jacobian at the equilibrium; WGAN's f(t) = t has f'(0) = 1.
F_PRIME_0 = {"minimax": 0.5, "nonsaturating": 0.5, "wasserstein": 1.0}


def field(theta: np.ndarray, psi: np.ndarray, loss: str = "minimax",
          gamma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """v = (-dL_G/dtheta, -dL_D/dpsi) of the Dirac-GAN, with R1/R2 weight gamma."""
    t = psi * theta
    if loss == "wasserstein":
        return psi, -theta - gamma * psi
    if loss == "minimax":
        return expit(t) * psi, -expit(t) * theta - gamma * psi
    if loss == "nonsaturating":
        return expit(-t) * psi, -expit(t) * theta - gamma * psi
    raise ValueError(f"the Dirac-GAN has no closed form for loss {loss!r}")


def jacobian(loss: str = "minimax", gamma: float = 0.0) -> np.ndarray:
    """The field's Jacobian at the equilibrium (0, 0)."""
    a = F_PRIME_0[loss]
    return np.array([[0.0, a], [-a, -gamma]])


def eigenvalues(loss: str = "minimax", gamma: float = 0.0) -> np.ndarray:
    """(-gamma +- sqrt(gamma^2 - 4 f'(0)^2)) / 2, sorted by imaginary then real part."""
    a = F_PRIME_0[loss]
    root = np.sqrt(complex(gamma * gamma - 4.0 * a * a))
    return sort_eigenvalues(np.array([(-gamma + root) / 2, (-gamma - root) / 2]))


def sort_eigenvalues(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=complex)
    return values[np.lexsort((values.real, values.imag))]


def simultaneous_spectral_radius(step: float, loss: str = "minimax",
                                 gamma: float = 0.0) -> float:
    """rho(I + h J): simultaneous gradient steps of size h converge locally iff < 1.
    Without a penalty it is sqrt(1 + h^2 f'(0)^2) > 1 for every h > 0."""
    return float(np.abs(np.linalg.eigvals(np.eye(2) + step * jacobian(loss, gamma))).max())


def alternating_map(step: float, loss: str = "minimax", gamma: float = 0.0) -> np.ndarray:
    """The linearised alternating update at (0, 0): psi first (D), then theta (G) against
    the new psi. Without a penalty its determinant is 1 and, for h f'(0) < 2, its
    eigenvalues lie on the unit circle: the iterates orbit, they do not converge."""
    a = F_PRIME_0[loss]
    d_step = np.array([[1.0, 0.0], [-step * a, 1.0 - step * gamma]])
    g_step = np.array([[1.0, step * a], [0.0, 1.0]])
    return g_step @ d_step
