"""The training Jacobian of a real GAN at an equilibrium, and what R1 does to it (Mescheder,
Nowozin and Geiger 2017; Mescheder, Geiger and Nowozin 2018, Sec. 3 and Thm. 4.1).

At an exact equilibrium (gan.jacobian.equilibrium_gan: 2-D Gaussian data, a linear G at the
identity, a tanh MLP D with zero output layer; the field vanishes there on the fixed
minibatch), the eigenvalues of the joint field's Jacobian are measured from the engine by
central differences. With absolutely continuous data the equilibrium is stable even
unregularised (Nagarajan and Kolter 2017): every eigenvalue lies in the closed left
half-plane. What the Numerics of GANs points at is the shape: eigenvalues with a real part
close to 0 and a large imaginary part, along which gradient steps mostly rotate. Measured
when written, over D widths 8 and 16 and seeds 0-2: the largest |Im| / |Re| among the
non-zero eigenvalues is 7.7 to 62 unregularised, 1.6 to 7.6 with R1 (gamma = 1) and 0.24
to 1.8 with gamma = 10; in every case R1 at gamma = 1 divides it by 3.2 or more. The claim
holds: max Re <= 1e-8 (the differences' noise; measured 3.5e-18) in every case, the
unregularised ratio >= 5, and R1 dividing it by at least 2 (the smallest factor measured
was 3.2). This is a statement at one kind of equilibrium, not along a training run: along
mixture8 runs the field is far from zero and the spectra have eigenvalues of either sign.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..gan.jacobian import equilibrium_gan, field_jacobian
from . import Claim, ClaimResult

ZERO = 1e-6  # |lambda| below this: a direction along the equilibrium manifold (D's hidden
# weights are free while its output layer is 0; G's rotations keep p_g)


def spectrum(penalty: str, gamma: float, hidden: int, seed: int) -> np.ndarray:
    gan, batch = equilibrium_gan(penalty, gamma, hidden=hidden, seed=seed)
    return np.linalg.eigvals(field_jacobian(gan, batch, batch))


def rotation_ratio(eigenvalues: np.ndarray) -> float:
    """max |Im| / |Re| over the eigenvalues that are not (numerically) zero."""
    big = eigenvalues[np.abs(eigenvalues) > ZERO]
    return float((np.abs(big.imag) / np.abs(big.real)).max())


def cases(quick: bool) -> list[tuple[int, int]]:
    return [(8, 0), (8, 1)] if quick else [(w, s) for w in (8, 16) for s in (0, 1, 2)]


def check_jacobian(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    found = []
    for hidden, seed in cases(quick):
        plain, r1 = spectrum("none", 1.0, hidden, seed), spectrum("r1", 1.0, hidden, seed)
        found.append((hidden, seed, plain, r1))
    max_re = max(max(p.real.max(), r.real.max()) for _, _, p, r in found)
    ratios = [(rotation_ratio(p), rotation_ratio(r)) for _, _, p, r in found]
    factor = min(a / b for a, b in ratios)
    ok = max_re <= 1e-8 and min(a for a, _ in ratios) >= 5.0 and factor >= 2.0
    figures = [] if out_dir is None else [draw(Path(out_dir), found[0])]
    return ClaimResult(
        "jacobian_r1_rotation", "Mescheder et al. 2017, 2018",
        "at an equilibrium of a real GAN (MLP D), the training Jacobian has near-rotational "
        "eigenvalues (|Im| >> |Re|) without a penalty; R1 turns them towards the real axis",
        factor, "max Re <= 1e-8; unregularised max |Im|/|Re| >= 5; R1 divides it by >= 2",
        ok, f"over (D width, seed) in {cases(quick)}: max |Im|/|Re| "
        + ", ".join(f"{a:.3g} -> {b:.3g}" for a, b in ratios)
        + f" (none -> R1 gamma 1); largest real part {max_re:.2g}", figures)


def draw(out_dir: Path, case) -> str:
    from ..figures.style import FAKE, REAL, plt, save_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    hidden, seed, plain, r1 = case
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for values, colour, label in ((plain, FAKE, "no penalty"), (r1, REAL, "R1, gamma = 1")):
        big = values[np.abs(values) > ZERO]
        ax.scatter(big.real, big.imag, color=colour, s=30, alpha=0.8, label=label)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlim(right=1e-3)
    ax.set_xlabel("Re(lambda)")
    ax.set_ylabel("Im(lambda)")
    ax.set_title(f"training Jacobian at an equilibrium (D width {hidden})")
    ax.legend()
    save_figure(fig, out_dir / "jacobian_eigenvalues.png")
    return "jacobian_eigenvalues.png"


CLAIMS: list[Claim] = [
    Claim("jacobian_r1_rotation", "Mescheder et al. 2017, 2018",
          "R1 turns the training Jacobian's rotational eigenvalues", check_jacobian),
]
