"""The Dirac-GAN results of Mescheder, Geiger and Nowozin (2018, "Which Training Methods for
GANs do actually Converge?", Sec. 2-4), measured from toygan's engine (gan.dirac).

Claims: with p_data = delta_0, G = delta_theta and D(x) = psi x,
- the engine's gradient field equals the closed form v = (f'(.) psi, -f'(.) theta - gamma psi)
  everywhere (the engine's losses and second-order penalty passes are the ones trained);
- unregularised, the Jacobian at (0, 0) has eigenvalues +-i f'(0);
- simultaneous gradient descent has rho(I + hJ) = sqrt(1 + h^2 f'(0)^2) > 1 for every h;
- alternating gradient descent's update has eigenvalues of modulus 1 for h f'(0) < 2;
- R1 and R2 give eigenvalues (-gamma +- sqrt(gamma^2 - 4 f'(0)^2)) / 2, and simultaneous
  steps with rho(I + hJ) < 1 converge to the equilibrium.
Tolerance 1e-9 for the Jacobians (central differences on the axes are exact up to
rounding); 1e-12 relative for the field. Measured when written: 2.2e-16 and 3e-14.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.strategies import fraction_of_profile
from toygan.claims.dirac import CLAIMS
from toygan.core import dirac
from toygan.gan.dirac import DiracGAN, engine_jacobian, engine_update_map

LOSSES = st.sampled_from(["minimax", "nonsaturating", "wasserstein"])
GAN_LOSSES = st.sampled_from(["minimax", "nonsaturating"])
PENALTIES = st.sampled_from(["r1", "r2"])


@given(loss=GAN_LOSSES, penalty=st.sampled_from(["none", "r1", "r2"]),
       gamma=st.floats(0.05, 5.0), theta=st.floats(-3, 3), psi=st.floats(-3, 3))
def test_the_engine_field_is_the_closed_form(loss, penalty, gamma, theta, psi):
    gan = DiracGAN(theta, psi, loss, penalty, gamma)
    want = dirac.field(np.float64(theta), np.float64(psi), loss,
                       gamma if penalty != "none" else 0.0)
    np.testing.assert_allclose(gan.field(), want, rtol=1e-12, atol=1e-15)


@given(loss=LOSSES)
def test_unregularised_eigenvalues_are_imaginary(loss):
    measured = dirac.sort_eigenvalues(np.linalg.eigvals(engine_jacobian(loss)))
    assert np.abs(measured - dirac.eigenvalues(loss)).max() <= 1e-9
    assert np.abs(measured.real).max() <= 1e-9


@given(h=st.floats(1e-3, 1.0))
def test_simultaneous_steps_diverge_for_every_step_size(h):
    rho = np.abs(np.linalg.eigvals(engine_update_map("simultaneous", h))).max()
    assert abs(rho - np.sqrt(1 + h * h / 4)) <= 1e-9
    assert rho > 1.0


@given(h=st.floats(1e-3, 3.9))
def test_alternating_steps_orbit(h):
    moduli = np.abs(np.linalg.eigvals(engine_update_map("alternating", h)))
    assert np.abs(moduli - 1.0).max() <= 1e-9


@given(penalty=PENALTIES, gamma=st.floats(0.05, 5.0))
def test_penalised_eigenvalues_have_negative_real_part(penalty, gamma):
    measured = dirac.sort_eigenvalues(np.linalg.eigvals(engine_jacobian("minimax", penalty,
                                                                        gamma)))
    assert np.abs(measured - dirac.eigenvalues("minimax", gamma)).max() <= 1e-9
    assert measured.real.max() < 0


@settings(max_examples=fraction_of_profile(0.3))
@given(penalty=PENALTIES, gamma=st.floats(0.2, 3.0), start=st.tuples(
    st.floats(-0.5, 0.5), st.floats(-0.5, 0.5)))
def test_penalised_simultaneous_descent_converges(penalty, gamma, start):
    h = 0.2
    rho = dirac.simultaneous_spectral_radius(h, gamma=gamma)
    assert rho < 1
    path = DiracGAN(*start, penalty=penalty, gamma=gamma, lr=h).trajectory(
        int(np.ceil(np.log(1e-6) / np.log(rho))) + 200)
    assert np.linalg.norm(path[-1]) <= 1e-6 * max(1.0, np.linalg.norm(path[0])) + 1e-12


def test_every_dirac_claim_holds_quick(tmp_path):
    for claim in CLAIMS:
        result = claim.check(True, tmp_path)
        assert result.passed, f"{result.name}: {result.measured} ({result.details})"
    assert (tmp_path / "dirac_gan.png").is_file()
