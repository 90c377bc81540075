"""The convergence results of Mescheder, Geiger and Nowozin (2018) on the Dirac-GAN, measured
from toygan's own engine (gan.dirac: core.nn networks, core.losses, core.penalties through
the second-order passes, core.optim, gan.updates) against the closed forms of core.dirac.

Every Jacobian is taken by central differences of the engine's gradient field or update
map at the equilibrium (0, 0); on the axes the field is exactly linear, so the differences
are exact up to rounding and the tolerances are 1e-9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import dirac
from ..gan.dirac import DiracGAN, engine_jacobian, engine_update_map
from . import Claim, ClaimResult

SOURCE = "Mescheder et al. 2018"
LOSSES = ("minimax", "nonsaturating", "wasserstein")
GAMMAS = (0.3, 1.0, 3.0)
START = (1.0, 1.0)


def _result(name, statement, measured, tolerance, passed, details="", figures=None):
    return ClaimResult(name, SOURCE, statement, float(measured), tolerance, bool(passed),
                       details, figures or [])


def eigenvalue_error(loss: str, penalty: str = "none", gamma: float = 0.0) -> float:
    measured = dirac.sort_eigenvalues(np.linalg.eigvals(engine_jacobian(loss, penalty, gamma)))
    return float(np.abs(measured - dirac.eigenvalues(loss, gamma if penalty != "none" else 0.0)
                        ).max())


def check_eigenvalues(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    err = max(eigenvalue_error(loss) for loss in LOSSES)
    return _result("dirac_eigenvalues",
                   "unregularised, the Jacobian of the gradient field at the equilibrium has "
                   "eigenvalues +-i f'(0) (f'(0) = 1/2 for the GAN losses, 1 for WGAN)",
                   err, "<= 1e-9", err <= 1e-9,
                   f"max |engine eigenvalue - (+-i f'(0))| over {', '.join(LOSSES)}")


def steps(quick: bool) -> np.ndarray:
    return np.logspace(-3, 0, 7 if quick else 31)


def check_simultaneous(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    hs = steps(quick)
    radii = np.array([np.abs(np.linalg.eigvals(engine_update_map("simultaneous", h))).max()
                      for h in hs])
    want = np.sqrt(1.0 + (hs * dirac.F_PRIME_0["minimax"]) ** 2)
    err = float(np.abs(radii - want).max())
    norms = np.linalg.norm(DiracGAN(*START, lr=0.1).trajectory(500), axis=1)
    grows = bool(np.all(np.diff(norms) > 0))
    return _result("dirac_simultaneous_diverges",
                   "simultaneous gradient descent moves away from the equilibrium for every "
                   "step size: rho(I + hJ) = sqrt(1 + h^2 f'(0)^2) > 1",
                   err, "<= 1e-9, rho > 1, |z_t| increasing",
                   err <= 1e-9 and bool(np.all(radii > 1.0)) and grows,
                   f"max |rho(engine map) - sqrt(1 + h^2/4)| over {len(hs)} h in [1e-3, 1]; "
                   f"min rho - 1 = {np.min(radii - 1):.3g}; |z| from {norms[0]:.3f} to "
                   f"{norms[-1]:.3f} in 500 steps of h = 0.1")


def check_alternating(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    hs = steps(quick)
    moduli = np.array([np.abs(np.linalg.eigvals(engine_update_map("alternating", h)))
                       for h in hs])
    err = float(np.abs(moduli - 1.0).max())
    norms = np.linalg.norm(DiracGAN(*START, lr=0.1, update="alternating").trajectory(
        1000 if quick else 5000), axis=1)
    kept = float(norms[-1] / norms[0])
    return _result("dirac_alternating_orbits",
                   "alternating gradient descent does not converge: the update's eigenvalues "
                   "have modulus 1 (h f'(0) < 2); the iterates orbit the equilibrium",
                   err, "<= 1e-9, |z_T| >= 0.9 |z_0|", err <= 1e-9 and kept >= 0.9,
                   f"max ||eigenvalue| - 1| over {len(hs)} h in [1e-3, 1]; |z_T| / |z_0| = "
                   f"{kept:.3f} after {len(norms) - 1} steps of h = 0.1")


def check_wgan_clipping(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    n = 2000 if quick else 8000
    path = DiracGAN(1.0, 0.0, "wasserstein", lr=0.1, clip=0.1).trajectory(n)
    amplitude = float(np.abs(path[-n // 4:, 0]).max())
    return _result("dirac_wgan_clipping",
                   "WGAN with weight clipping does not converge: theta keeps oscillating "
                   "about the equilibrium with an amplitude that does not vanish",
                   amplitude, ">= 1e-2 over the last quarter", amplitude >= 1e-2,
                   f"max |theta| over the last {n // 4} of {n} simultaneous steps (h = 0.1, "
                   "clip 0.1, from theta = 1)")


def check_penalties(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    cases = [(p, g) for p in ("r1", "r2") for g in GAMMAS]
    err = max(eigenvalue_error("minimax", p, g) for p, g in cases)
    ends = [float(np.linalg.norm(DiracGAN(*START, penalty=p, gamma=g, lr=0.1).trajectory(
        3000)[-1])) for p, g in cases]
    return _result("dirac_r1_r2_converge",
                   "with R1 or R2, the eigenvalues are (-gamma +- sqrt(gamma^2 - 4 f'(0)^2)) "
                   "/ 2 and simultaneous gradient descent converges to the equilibrium",
                   err, "<= 1e-9, |z| <= 1e-8 after 3000 steps",
                   err <= 1e-9 and max(ends) <= 1e-8,
                   f"max eigenvalue error over R1, R2 x gamma {GAMMAS}; largest |z| after "
                   f"3000 steps of h = 0.1: {max(ends):.2g}")


def measured_rate(penalty: str, gamma: float, h: float, n: int) -> float:
    norms = np.linalg.norm(DiracGAN(*START, penalty=penalty, gamma=gamma, lr=h).trajectory(n),
                           axis=1)
    return float((norms[-1] / norms[n // 2]) ** (1.0 / (n - n // 2)))


def check_rate(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    cases = [(g, h) for g in (0.3, 3.0) for h in (0.05, 0.2)]
    map_err = max(abs(np.abs(np.linalg.eigvals(engine_update_map(
        "simultaneous", h, penalty="r1", gamma=g))).max()
        - dirac.simultaneous_spectral_radius(h, gamma=g)) for g, h in cases)
    rate_err = max(abs(measured_rate("r1", g, h, 1000) - dirac.simultaneous_spectral_radius(
        h, gamma=g)) for g, h in cases)
    figures = [] if out_dir is None else [draw_field(Path(out_dir))]
    return _result("dirac_r1_rate",
                   "with R1, simultaneous gradient descent converges linearly at the rate "
                   "rho(I + hJ) < 1 of the regularised Jacobian",
                   map_err, "<= 1e-9; trajectory rate within 1e-3",
                   map_err <= 1e-9 and rate_err <= 1e-3,
                   f"max |rho(engine update map) - rho(I + hJ)| over gamma in (0.3, 3), h in "
                   f"(0.05, 0.2); the trajectory's rate (|z_T| / |z_T/2|)^(2/T), T = 1000, "
                   f"is within {rate_err:.2g} of rho", figures)


def draw_field(out_dir: Path) -> str:
    """The vector field with the engine's trajectories: simultaneous and alternating
    gradient descent without a penalty, and with R1 (the paper's Figures 1-3)."""
    from ..figures.style import FAKE, REAL, plt, save_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(-2, 2, 21)
    theta, psi = np.meshgrid(grid, grid)
    panels = [("simultaneous, no penalty", {}), ("alternating, no penalty",
                                                  {"update": "alternating"}),
              ("simultaneous, R1 gamma = 0.3", {"penalty": "r1", "gamma": 0.3})]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    for ax, (title, options) in zip(axes, panels, strict=True):
        u, v = dirac.field(theta, psi, gamma=options.get("gamma", 0.0))
        ax.quiver(theta, psi, u, v, color="grey", alpha=0.6)
        path = DiracGAN(1.0, 1.0, lr=0.1, **options).trajectory(600)
        ax.plot(path[:, 0], path[:, 1], color=FAKE, lw=1.5, label="engine, h = 0.1")
        ax.plot([0], [0], "o", color=REAL, label="equilibrium")
        ax.set_xlim(-2, 2)
        ax.set_ylim(-2, 2)
        ax.set_aspect("equal")
        ax.set_xlabel("theta (G)")
        ax.set_ylabel("psi (D)")
        ax.set_title(title)
    axes[0].legend(loc="upper left")
    fig.suptitle("Dirac-GAN (Mescheder et al. 2018): gradient field and training paths")
    fig.tight_layout()
    save_figure(fig, out_dir / "dirac_gan.png")
    return "dirac_gan.png"


CLAIMS: list[Claim] = [
    Claim("dirac_eigenvalues", SOURCE, "unregularised eigenvalues +-i f'(0)", check_eigenvalues),
    Claim("dirac_simultaneous_diverges", SOURCE, "simultaneous GD diverges",
          check_simultaneous),
    Claim("dirac_alternating_orbits", SOURCE, "alternating GD orbits", check_alternating),
    Claim("dirac_wgan_clipping", SOURCE, "WGAN with clipping does not converge",
          check_wgan_clipping),
    Claim("dirac_r1_r2_converge", SOURCE, "R1/R2 eigenvalues and convergence", check_penalties),
    Claim("dirac_r1_rate", SOURCE, "R1 converges at rate rho(I + hJ)", check_rate),
]
