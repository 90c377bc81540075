"""The analytic claims of the GAN paper, measured exactly on Gaussian mixtures.

Every check draws fixed, seeded random mixtures (1-3 components, means in [-4, 4], stds in
[0.05, 2], weights in [0.1, 1]) and measures one statement of Goodfellow et al. (2014) with
the quadrature of `toygan.core.theory`. `quick` uses fewer cases (all quick checks together run
in well under 20 s); the full run uses more. The helpers below are the single home of each
computation: the tests in `proofs/` call them and add property tests on top.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import integrate as sp_integrate
from scipy.optimize import minimize_scalar
from scipy.special import expit
from scipy.stats import norm

from ..core import theory
from ..core.distributions import GaussianMixture, preset
from . import Claim, ClaimResult

LOG4 = math.log(4.0)
LOG2 = math.log(2.0)
POOR_SHIFT = 20.0  # a "poor generator" has its means shifted this far from the data box


# ------------------------------------------------------------------ sampling
def random_mixture(
    rng: np.random.Generator, dim: int = 1, max_components: int = 3, shift: float = 0.0
) -> GaussianMixture:
    """A mixture within the documented bounds (means shifted by `shift` on every axis)."""
    k = int(rng.integers(1, max_components + 1))
    means = rng.uniform(-4.0, 4.0, (k, dim)) + shift
    stds = rng.uniform(0.05, 2.0, (k, dim))
    weights = rng.uniform(0.1, 1.0, k)
    return GaussianMixture(means, stds, weights)


def _pairs(seed: int, n: int, dim: int = 1, max_components: int = 3):
    rng = np.random.default_rng(seed)
    return [
        (random_mixture(rng, dim, max_components), random_mixture(rng, dim, max_components))
        for _ in range(n)
    ]


# -------------------------------------------------------------- lemma, Prop. 1
def lemma_objective(y, a: float, b: float):
    """a log y + b log(1 - y)."""
    y = np.asarray(y, dtype=np.float64)
    return a * np.log(y) + b * np.log1p(-y)


def lemma_argmax_error(a: float, b: float) -> float:
    """|argmax found by scipy's bounded scalar minimiser - a / (a + b)|."""
    res = minimize_scalar(
        lambda y: -lemma_objective(y, a, b), bounds=(0.0, 1.0), method="bounded",
        options={"xatol": 1e-12},
    )
    return abs(float(res.x) - a / (a + b))


def perturbed_logit(p: GaussianMixture, q: GaussianMixture, eps: float, w: float, phi: float):
    """x -> logit D*(x) + eps sin(w x + phi) (a smooth perturbation of D*)."""

    def logit(x):
        x = np.asarray(x, dtype=np.float64)
        return theory.optimal_discriminator_logit(p, q, x) + eps * np.sin(w * x[:, 0] + phi)

    return logit


def value_at_optimum(p: GaussianMixture, q: GaussianMixture) -> float:
    """V(G, D*) with D* given as exact logits."""
    return theory.value(p, q, lambda x: theory.optimal_discriminator_logit(p, q, x), True).value


def smooth_gap(p, q, eps: float, w: float, phi: float) -> float:
    """V(G, D*) - V(G, sigmoid(logit D* + eps sin(w x + phi)))."""
    perturbed = theory.value(p, q, perturbed_logit(p, q, eps, w, phi), True).value
    return value_at_optimum(p, q) - perturbed


def pointwise_gap(p, q, amplitude: float, w: float, phi: float) -> float:
    """V(G, D*) - V(G, clip(D* + amplitude sin(w x + phi), 1e-9, 1 - 1e-9))."""

    def disc(x):
        d = theory.optimal_discriminator(p, q, x)
        return np.clip(d + amplitude * np.sin(w * x[:, 0] + phi), 1e-9, 1.0 - 1e-9)

    return value_at_optimum(p, q) - theory.value(p, q, disc).value


def curvature(p, q, w: float, phi: float) -> float:
    """E_{p+q}[D*(1 - D*) h^2], h = sin(w x + phi): -d^2 V / d eps^2 at eps = 0."""

    def integrand(x, log_p, log_q):
        log_s = np.logaddexp(log_p, log_q)
        d_1md = np.exp(log_p + log_q - 2 * log_s)
        return np.exp(log_s) * d_1md * np.sin(w * x[:, 0] + phi) ** 2

    return theory.integrate(integrand, p, q).value


def derivative_at_optimum(p, q, w: float, phi: float, delta: float = 1e-3, far: float = 0.1):
    """(|dV/deps| at eps = 0 by central differences, |V(far) - V(0)| / far)."""
    v = lambda e: theory.value(p, q, perturbed_logit(p, q, e, w, phi), True).value  # noqa: E731
    v0 = v(0.0)
    return abs(v(delta) - v(-delta)) / (2 * delta), abs(v(far) - v0) / far


def functional_derivative_residual(p, q, x) -> float:
    """max |p/D* - q/(1 - D*)| / (p + q) on points x, all in log space."""
    log_d, log_1md = theory.log_optimal_discriminator(p, q, x)
    log_p, log_q = p.log_prob(x), q.log_prob(x)
    log_s = np.logaddexp(log_p, log_q)
    return float(np.max(np.abs(np.exp(log_p - log_d - log_s) - np.exp(log_q - log_1md - log_s))))


# ---------------------------------------------------------------- Thm. 1, Prop. 2
def thm1_identity_error(p, q) -> float:
    """|C(G) - (-log 4 + 2 JSD(p_data || p_g))|."""
    c = theory.virtual_training_criterion(p, q).value
    return abs(c - (-LOG4 + 2.0 * theory.jensen_shannon(p, q).value))


def convexity_gap(p, q, data, lam: float) -> float:
    """lam C(p) + (1 - lam) C(q) - C(lam p + (1 - lam) q), C(g) = C(data, g); >= 0 if convex."""
    c = lambda g: theory.virtual_training_criterion(data, g).value  # noqa: E731
    mix = theory.mixture_of_mixtures(p, q, lam)
    return lam * c(p) + (1.0 - lam) * c(q) - c(mix)


def discrete_jsd(p: np.ndarray, q: np.ndarray) -> float:
    """JSD of two probability vectors in nats (0 log 0 = 0)."""
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / m), 0.0)
        b = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(0.5 * (a.sum() + b.sum()))


def functional_descent(
    steps: int = 60,
    eta: float = 0.5,
    n_grid: int = 2001,
    span: float = 8.0,
    p_data: GaussianMixture | None = None,
    p_g0: GaussianMixture | None = None,
) -> np.ndarray:
    """Mirror descent of C(p_g) over a discretised p_g; the JSD after each step (step 0 first).

    p_data (default `bimodal1d`) is discretised on a grid of n_grid points on [-span, span],
    p_g starts as p_g0 (default N(0, 3^2)) on the same grid. Each step: D* = p / (p + q),
    the functional gradient of C with respect to p_g is log(1 - D*), and
    q <- q exp(-eta log(1 - D*)), renormalised.
    """
    x = np.linspace(-span, span, n_grid)[:, None]
    p = (preset("bimodal1d") if p_data is None else p_data).prob(x)
    p /= p.sum()
    q = (GaussianMixture([[0.0]], 3.0) if p_g0 is None else p_g0).prob(x)
    q /= q.sum()
    history = [discrete_jsd(p, q)]
    for _ in range(steps):
        grad = np.log(q) - np.log(p + q)  # log(1 - D*)
        q = q * np.exp(-eta * grad)
        q /= q.sum()
        history.append(discrete_jsd(p, q))
    return np.array(history)


# ---------------------------------------------------------- Sec. 3 heuristic
def _grad_log_density(m: GaussianMixture, x: np.ndarray) -> np.ndarray:
    """d/dx log m(x) in 1-D."""
    log_c = m.component_log_prob(x)
    r = np.exp(log_c - np.logaddexp.reduce(log_c, axis=1, keepdims=True))
    return np.sum(r * (-(x - m.means[:, 0]) / m.stds[:, 0] ** 2), axis=1)


def generator_gradients(p: GaussianMixture, q: GaussianMixture):
    """(E_{p_g}|d/dx log(1 - D*)|, E_{p_g}|d/dx (-log D*)|) at D = D*, 1-D.

    With l = logit D* = log p - log q: d/dx log(1 - D) = -D l', d/dx (-log D) = -(1 - D) l'.
    """

    def make(saturating: bool):
        def integrand(x, log_p, log_q):
            lp, lq = p.log_prob(x), q.log_prob(x)
            dl = _grad_log_density(p, x) - _grad_log_density(q, x)
            side = expit(lp - lq) if saturating else expit(lq - lp)
            return np.exp(log_q) * np.abs(side * dl)

        return theory.integrate(integrand, p, q).value

    return make(True), make(False)


# ----------------------------------------------------------------- Wasserstein
def mixture_cdf(m: GaussianMixture, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    return norm.cdf((x - m.means[:, 0]) / m.stds[:, 0]) @ m.weights


def _breakpoints(p: GaussianMixture, q: GaussianMixture) -> np.ndarray:
    mu = np.concatenate([p.means[:, 0], q.means[:, 0]])
    sd = np.concatenate([p.stds[:, 0], q.stds[:, 0]])
    offs = np.array([-12, -6, -4, -3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 4, 6, 12])
    return np.unique((mu[:, None] + sd[:, None] * offs).ravel())


def wasserstein1(p: GaussianMixture, q: GaussianMixture) -> float:
    """W1(p, q) = integral of |F_p - F_q| (1-D), adaptive quadrature between breakpoints."""
    edges = _breakpoints(p, q)
    f = lambda t: abs(float(mixture_cdf(p, t)[0] - mixture_cdf(q, t)[0]))  # noqa: E731
    return float(sum(
        sp_integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ))


def abs_expectation(m: GaussianMixture, c) -> np.ndarray:
    """E_m |X - c| in closed form, for each c."""
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))[:, None]
    d = m.means[:, 0] - c
    s = m.stds[:, 0]
    return (d * (2.0 * norm.cdf(d / s) - 1.0) + 2.0 * s * norm.pdf(d / s)) @ m.weights


def random_lipschitz(rng: np.random.Generator, n_kinks: int = 5):
    """f(x) = b x + sum a_i |x - c_i| with |b| + sum |a_i| = 1 (so 1-Lipschitz)."""
    coef = rng.normal(size=n_kinks + 1)
    coef /= np.abs(coef).sum() * rng.uniform(1.0, 1.5)
    return coef[0], coef[1:], rng.uniform(-6.0, 6.0, n_kinks)


def lipschitz_gap(p, q, b: float, a: np.ndarray, c: np.ndarray, w1: float | None = None) -> float:
    """W1(p, q) - (E_p f - E_q f) for f = b x + sum a_i |x - c_i|; >= 0 by K-R duality."""
    w1 = wasserstein1(p, q) if w1 is None else w1
    ef = lambda m: b * float(m.mean()[0]) + float(a @ abs_expectation(m, c))  # noqa: E731
    return w1 - (ef(p) - ef(q))


def optimal_critic_value(p, q, n_grid: int = 200001) -> tuple[float, float]:
    """(E_p f* - E_q f*, W1 by scipy on the grid-discretised p, q), f* = int sign(F_q - F_p).

    f* and both expectations are taken on a uniform grid covering 12 std of every component.
    """
    from scipy.stats import wasserstein_distance

    edges = _breakpoints(p, q)
    x = np.linspace(edges[0], edges[-1], n_grid)
    dx = x[1] - x[0]
    slope = np.sign(mixture_cdf(q, x) - mixture_cdf(p, x))
    f = np.concatenate([[0.0], np.cumsum(0.5 * (slope[1:] + slope[:-1]) * dx)])
    pw, qw = p.prob(x[:, None]), q.prob(x[:, None])
    pw, qw = pw / pw.sum(), qw / qw.sum()
    return float(f @ pw - f @ qw), float(wasserstein_distance(x, x, pw, qw))


# -------------------------------------------------------------------- checks
def _result(name, source, statement, measured, tolerance, passed, details="", figures=None):
    return ClaimResult(name, source, statement, float(measured), tolerance, bool(passed),
                       details, figures or [])


def check_lemma(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    rng = np.random.default_rng(1)
    ab = rng.uniform(0.01, 10.0, (20 if quick else 200, 2))
    err = max(lemma_argmax_error(a, b) for a, b in ab)
    return _result("lemma_prop1", "Prop. 1 (lemma)",
                   "y -> a log y + b log(1 - y) attains its maximum on [0, 1] at a / (a + b)",
                   err, "<= 1e-6", err <= 1e-6,
                   f"max |argmax(scipy bounded) - a/(a+b)| over {len(ab)} (a, b) in [0.01, 10]^2")


def check_prop1(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    rng = np.random.default_rng(2)
    min_gap, max_ratio = math.inf, 0.0
    pairs = _pairs(2, 4 if quick else 25)
    for p, q in pairs:
        w, phi = rng.uniform(0.5, 3.0), rng.uniform(0, 2 * math.pi)
        for eps in (-0.5, -0.1, 0.1, 0.5):
            min_gap = min(min_gap, smooth_gap(p, q, eps, w, phi))
        min_gap = min(min_gap, pointwise_gap(p, q, 0.05, w, phi))
        if curvature(p, q, w, phi) > 1e-4:
            slope0, slope_far = derivative_at_optimum(p, q, w, phi)
            max_ratio = max(max_ratio, slope0 / slope_far)
    ok = min_gap >= -1e-10 and max_ratio <= 1e-3
    return _result("prop1_closed_form", "Prop. 1",
                   "For G fixed, D*(x) = p_data / (p_data + p_g) maximises V(G, D)",
                   min_gap, ">= -1e-10 (and |dV/deps(0)| / |slope to eps=0.1| <= 1e-3)", ok,
                   f"min V(D*) - V(D) over {len(pairs)} pairs x 5 perturbations; "
                   f"max derivative ratio {max_ratio:.2e}")


def check_thm1_identity(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    e1 = max(thm1_identity_error(p, q) for p, q in _pairs(3, 10 if quick else 100))
    e2 = max(thm1_identity_error(p, q) for p, q in _pairs(4, 1 if quick else 6, 2, 2))
    ok = e1 <= 1e-9 and e2 <= 1e-7
    return _result("thm1_identity", "Thm. 1", "C(G) = -log 4 + 2 JSD(p_data || p_g)",
                   max(e1, e2), "<= 1e-9 (1-D), <= 1e-7 (2-D)", ok,
                   f"max |C - (-log 4 + 2 JSD)|: 1-D {e1:.2e}, 2-D {e2:.2e}")


def check_thm1_minimum(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    pairs = _pairs(5, 10 if quick else 100)
    margin = min(theory.virtual_training_criterion(p, q).value + LOG4 for p, q in pairs)
    at_equal = max(abs(theory.virtual_training_criterion(p, p).value + LOG4) for p, _ in pairs)
    ok = margin > 0 and at_equal <= 1e-10
    return _result("thm1_minimum", "Thm. 1",
                   "C(G) attains its global minimum -log 4 iff p_g = p_data",
                   margin, "C + log 4 > 0 for p_g != p_data, |C + log 4| <= 1e-10 at p_g = p_data",
                   ok, f"min C + log 4 over {len(pairs)} distinct pairs; at p_g = p_data max "
                   f"|C + log 4| = {at_equal:.1e}")


def check_prop2_convexity(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    rng = np.random.default_rng(6)
    n = 10 if quick else 100
    gaps = [convexity_gap(random_mixture(rng), random_mixture(rng), random_mixture(rng),
                          rng.uniform()) for _ in range(n)]
    gap = min(gaps)
    return _result("prop2_convexity", "Prop. 2",
                   "C(G) is convex in p_g", gap, ">= -1e-10", gap >= -1e-10,
                   f"min lam C(p) + (1-lam) C(q) - C(lam p + (1-lam) q) over {n} random triples")


def check_prop2_descent(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    steps = 30 if quick else 60
    jsd = functional_descent(steps=steps)
    decreasing = bool(np.all(np.diff(jsd) < 0))
    final = float(jsd[-1])
    figures = []
    if out_dir is not None:
        from ..figures.style import plt, save_figure  # matplotlib only when drawing

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.semilogy(np.arange(len(jsd)), jsd, marker=".")
        ax.set_xlabel("mirror-descent step")
        ax.set_ylabel("JSD(p_data || p_g) [nats]")
        ax.set_title("Prop. 2: functional descent of C on a discretised p_g")
        fig.tight_layout()
        save_figure(fig, out_dir / "prop2_jsd.png")
        figures.append("prop2_jsd.png")
    return _result("prop2_descent", "Prop. 2",
                   "Gradient steps on p_g (D = D* each step) drive p_g to p_data",
                   final, "JSD decreases every step and ends <= 1e-3 nats",
                   decreasing and final <= 1e-3,
                   f"bimodal1d on 2001 points of [-8, 8], p_g0 = N(0, 9), eta 0.5, {steps} steps, "
                   f"JSD {jsd[0]:.3g} -> {final:.2e}", figures)


def check_nonsaturating(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    rng = np.random.default_rng(7)
    n = 5 if quick else 40
    ratios = []
    for _ in range(n):
        p = random_mixture(rng)
        q = random_mixture(rng, shift=POOR_SHIFT)  # a poor generator: far from the data
        sat, nonsat = generator_gradients(p, q)
        ratios.append(nonsat / sat)
    ratio = min(ratios)
    p = random_mixture(rng)
    stationary = max(generator_gradients(p, p))
    ok = ratio >= 100.0 and stationary <= 1e-12
    return _result("nonsaturating_gradients", "Sec. 3",
                   "Early on, -log D(G(z)) gives much stronger gradients than log(1 - D(G(z)))",
                   ratio, ">= 100 (and both 0 at p_g = p_data)", ok,
                   f"min E_pg|grad -log D*| / E_pg|grad log(1 - D*)| over {n} far pairs; "
                   f"at p_g = p_data max E|grad| = {stationary:.1e}")


def check_wgan(quick: bool, out_dir: Path | None = None) -> ClaimResult:
    rng = np.random.default_rng(8)
    pairs = _pairs(8, 4 if quick else 30)
    min_gap, critic_err = math.inf, 0.0
    for p, q in pairs:
        w1 = wasserstein1(p, q)
        for _ in range(10):
            min_gap = min(min_gap, lipschitz_gap(p, q, *random_lipschitz(rng), w1=w1))
        attained, w1_scipy = optimal_critic_value(p, q)
        critic_err = max(critic_err, abs(attained - w1), abs(w1_scipy - w1))
    ok = min_gap >= -1e-9 and critic_err <= 1e-5
    return _result("wgan_kr_bound", "WGAN (Arjovsky et al. 2017), Kantorovich-Rubinstein",
                   "E_p f - E_q f <= W1(p, q) for 1-Lipschitz f, with equality at the optimal "
                   "critic", min_gap, ">= -1e-9 (optimal critic within 1e-5 of W1)", ok,
                   f"min W1 - (E_p f - E_q f) over {len(pairs)} pairs x 10 random f; max "
                   f"|E_p f* - E_q f* - W1| and |W1_scipy - W1| = {critic_err:.1e}")


CLAIMS: list[Claim] = [
    Claim("lemma_prop1", "Prop. 1 (lemma)", "argmax of a log y + b log(1-y) is a/(a+b)",
          check_lemma),
    Claim("prop1_closed_form", "Prop. 1", "D* maximises V(G, D)", check_prop1),
    Claim("thm1_identity", "Thm. 1", "C(G) = -log 4 + 2 JSD", check_thm1_identity),
    Claim("thm1_minimum", "Thm. 1", "min C(G) = -log 4 iff p_g = p_data", check_thm1_minimum),
    Claim("prop2_convexity", "Prop. 2", "C is convex in p_g", check_prop2_convexity),
    Claim("prop2_descent", "Prop. 2", "functional descent on p_g converges", check_prop2_descent),
    Claim("nonsaturating_gradients", "Sec. 3", "-log D gives stronger early gradients",
          check_nonsaturating),
    Claim("wgan_kr_bound", "WGAN", "Kantorovich-Rubinstein bound", check_wgan),
]
