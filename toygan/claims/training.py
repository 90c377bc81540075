"""Claims of the paper that need training: checked by running networks, not by quadrature.

- prop1_learned_1d / prop1_learned_2d (Prop. 1, learned): with G replaced by a fixed
  mixture p_g, a discriminator MLP trained by the D objective alone converges to
  D* = p_data / (p_data + p_g), and V(G, D) rises towards C(G) = V(G, D*) from below.
- figure1 (Figure 1): a 1-D GAN with uniform noise on N(4, 0.5^2); at the end D is close
  to 1/2 on the data's support and the JSD estimate is small. Drawn as the paper's panels.
- convergence_practice (Sec. 4 / Algorithm 1, empirical): training lowers the JSD estimate
  well below its starting value for most seeds. The paper proves convergence only in the
  space of densities (Prop. 2); this is a measurement of what Algorithm 1 does in practice.

Each `check(quick, out_dir)` returns a `ClaimResult`; thresholds below were measured (see
the proofs/ docstrings for the figures) and set with a margin.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import expit

from ..config import Config
from ..core import theory
from ..core.distributions import GaussianMixture, preset
from ..core.losses import bce_discriminator
from ..core.metrics import kde_bandwidth
from ..core.nn import MLP
from ..core.optim import make_optimizer
from ..training.trainer import Trainer
from . import Claim, ClaimResult

# ------------------------------------------------------------------ Prop. 1, learned
# Thresholds (measured, with margin; see proofs/test_prop1_learned.py).
PROP1_MAE_TOL = {1: 0.04, 2: 0.04}  # weighted mean |D - D*| at the end of training
PROP1_STEPS = {1: (1500, 4000), 2: (1500, 4000)}  # (quick, full)
QUAD_SLACK = 1e-5  # V <= C up to quadrature error (V's estimate is ~1e-6: D has ReLU kinks)


def prop1_pair(dim: int) -> tuple[GaussianMixture, GaussianMixture]:
    """(p_data, p_g) for the learned-D* claim: overlapping, unequal mixtures."""
    if dim == 1:
        p_data = preset("bimodal1d")  # 0.3 N(-2, 0.5^2) + 0.7 N(2, 1^2)
        p_g = GaussianMixture([[-1.0], [1.0]], [0.8, 0.7], [0.5, 0.5], "shifted1d")
        return p_data, p_g
    p_data = GaussianMixture([[-1.0, 0.0], [1.0, 0.5]], [0.5, 0.6], [0.4, 0.6], "data2d")
    p_g = GaussianMixture(
        [[0.0, -0.5], [1.5, 1.0], [-1.5, 1.0]], [0.7, 0.5, 0.6], [0.5, 0.3, 0.2], "gen2d"
    )
    return p_data, p_g


@dataclass
class Prop1Run:
    """A discriminator trained against fixed p_data, p_g, with checkpoints."""

    p_data: GaussianMixture
    p_g: GaussianMixture
    D: MLP
    c_value: float  # C(G) = V(G, D*)
    steps: list[int] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)  # (p + q)/2-weighted mean |D - D*|
    v_values: list[float] = field(default_factory=list)  # V(G, D) at each checkpoint
    v_errors: list[float] = field(default_factory=list)  # quadrature error estimates

    def logits(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        out = np.empty(len(x))
        for start in range(0, len(x), 1 << 14):
            out[start : start + (1 << 14)] = self.D.forward(x[start : start + (1 << 14)][None])[
                0, :, 0
            ]
        return out

    @property
    def gaps(self) -> list[float]:
        """C(G) - V(G, D) at each checkpoint (>= 0 by Prop. 1)."""
        return [self.c_value - v for v in self.v_values]


def weighted_mae(run: Prop1Run) -> float:
    """integral |D(x) - D*(x)| (p_data(x) + p_g(x)) / 2 dx, by theory.integrate."""

    def integrand(x, log_p, log_q):
        log_sum = np.logaddexp(log_p, log_q)
        d_star = np.exp(log_p - log_sum)
        return np.abs(expit(run.logits(x)) - d_star) * 0.5 * np.exp(log_sum)

    return theory.integrate(integrand, run.p_data, run.p_g).value


def train_discriminator(
    p_data: GaussianMixture,
    p_g: GaussianMixture,
    steps: int,
    checkpoints: tuple[int, ...] = (),
    batch: int = 128,
    hidden: tuple[int, ...] = (64, 64),
    lr: float = 1e-3,
    seed: int = 0,
) -> Prop1Run:
    """Train D alone (bce_discriminator on minibatches of p_data and p_g) for `steps` steps,
    measuring the weighted |D - D*| and V(G, D) at each checkpoint (and at the end).

    Adam's step size decays to 0 over the run (cosine): with a constant step the minibatch
    noise keeps D ~0.02-0.04 from D* in weighted mean, whatever the number of steps."""
    rng = np.random.default_rng(seed)
    D = MLP([p_data.dim, *hidden, 1], "relu", dtype=np.float64)
    D.init([rng])
    opt = make_optimizer("adam", D.params, D.grads, lr)
    run = Prop1Run(p_data, p_g, D, theory.virtual_training_criterion(p_data, p_g).value)
    marks = sorted(set(checkpoints) | {steps})
    x = np.empty((1, 2 * batch, p_data.dim))
    grad = np.empty((1, 2 * batch, 1))
    for step in range(1, steps + 1):
        x[0, :batch] = p_data.sample(batch, rng)
        x[0, batch:] = p_g.sample(batch, rng)
        logits = D.forward(x)
        _, grad[:, :batch], grad[:, batch:] = bce_discriminator(
            logits[:, :batch], logits[:, batch:]
        )
        D.backward(grad, input_grad=False)
        opt.lr = lr * 0.5 * (1.0 + math.cos(math.pi * (step - 1) / steps))  # cosine decay
        opt.step()
        if step in marks:
            v = theory.value(p_data, p_g, run.logits, logits=True)
            run.steps.append(step)
            run.v_values.append(v.value)
            run.v_errors.append(v.error)
            run.mae.append(weighted_mae(run))
    return run


def plot_d_vs_dstar(run: Prop1Run, path: Path) -> Path:
    """Learned D against D* in 1-D, with p_data and p_g."""
    from ..figures.style import plt, save_figure  # matplotlib only when drawing

    lo = min(run.p_data.bounds(4.0)[0][0], run.p_g.bounds(4.0)[0][0])
    hi = max(run.p_data.bounds(4.0)[1][0], run.p_g.bounds(4.0)[1][0])
    xs = np.linspace(lo, hi, 600)[:, None]
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.plot(xs, run.p_data.prob(xs), "k:", lw=2, label="p_data")
    ax.plot(xs, run.p_g.prob(xs), color="green", lw=2, label="p_g (fixed)")
    ax.plot(xs, theory.optimal_discriminator(run.p_data, run.p_g, xs), color="black", lw=1,
            label="D* = p_data / (p_data + p_g)")
    ax.plot(xs, expit(run.logits(xs)), "b--", lw=2,
            label=f"learned D ({run.steps[-1]} steps)")
    ax.set_xlabel("x")
    ax.set_ylabel("density / D(x)")
    ax.set_title(f"Prop. 1: learned D vs D* (weighted mean |D - D*| = {run.mae[-1]:.4f})")
    ax.legend(loc="upper left", fontsize=10)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _check_prop1(dim: int, quick: bool, out_dir: Path | None) -> ClaimResult:
    steps = PROP1_STEPS[dim][0 if quick else 1]
    p_data, p_g = prop1_pair(dim)
    run = train_discriminator(p_data, p_g, steps, checkpoints=(steps // 10, steps // 3))
    tol = PROP1_MAE_TOL[dim]
    below = all(g >= -max(QUAD_SLACK, 10 * e) for g, e in zip(run.gaps, run.v_errors,
                                                               strict=True))
    shrinks = run.gaps[-1] < run.gaps[0]
    passed = run.mae[-1] < tol and below and shrinks
    figures = []
    if out_dir is not None and dim == 1:
        figures.append(plot_d_vs_dstar(run, Path(out_dir) / "d_vs_dstar_1d.png").name)
    gaps = ", ".join(f"{s}: {g:.2e}" for s, g in zip(run.steps, run.gaps, strict=True))
    return ClaimResult(
        name=f"prop1_learned_{dim}d",
        source="Prop. 1",
        statement="for G fixed, D trained on the D objective converges to "
        "D* = p_data / (p_data + p_g), and V(G, D) rises to C(G) from below",
        measured=run.mae[-1],
        tolerance=f"< {tol} (and 0 <= C - V, shrinking)",
        passed=passed,
        details=f"{dim}-D, {steps} Adam steps; weighted mean |D - D*| by quadrature; "
        f"C - V at steps {gaps}",
        figures=figures,
    )


# ------------------------------------------------------------------------ Figure 1
# max |D - 1/2| on [mu - 2 sigma, mu + 2 sigma] at the end; measured 0.02-0.05 on seeds 0-2
FIG1_D_TOL = 0.15
FIG1_JSD_TOL = 0.25  # nats (initial ~0.69 = log 2; measured 0.06-0.16 on seeds 0-2)
FIG1_STEPS = (2000, 4000)  # (quick, full)


@dataclass
class Snapshot:
    step: int
    z: np.ndarray  # noise grid, (n,)
    gz: np.ndarray  # G(z) on that grid
    samples: np.ndarray  # G's samples (n,)
    xs: np.ndarray  # x grid
    d: np.ndarray  # D(x) on the grid


def figure1_config(quick: bool, seed: int = 0) -> Config:
    steps = FIG1_STEPS[0 if quick else 1]
    # k = 2 and lr_d = 5 lr_g: with k = 1 and equal rates D went flat at ~1/2 while p_g was
    # still twice too wide (JSD estimate stuck at ~0.25 nats; measured on seed 0).
    return Config(preset="gauss1d", noise="uniform", noise_dim=1, hidden=[32, 32], batch=128,
                  k=2, steps=steps, lr_d=1e-3, lr_g=2e-4, eval_every=steps, eval_samples=1000,
                  seed=seed)


def _snapshot(trainer: Trainer, xs: np.ndarray) -> Snapshot:
    gan = trainer.gan
    z = np.linspace(-1.0, 1.0, 2001)
    gz = gan.generate(z[None, :, None].astype(np.float32))[:, 0]
    rng = np.random.default_rng(12345)
    noise = gan.draw_noise((1, 4000, 1), rng)
    samples = gan.generate(noise)[:, 0]
    return Snapshot(trainer.step, z, gz, samples, xs, gan.discriminate(xs[:, None]))


def run_figure1(config: Config, run_dir: Path, marks: tuple[int, ...]) -> tuple[dict, list]:
    """Train (Trainer, Algorithm 1) to config.steps, snapshotting G and D at `marks`
    (step 0 = the initial state); returns (summary, snapshots)."""
    final = config.steps
    trainer = Trainer(config, run_dir)
    mu, sigma = trainer.mixture.means[0, 0], trainer.mixture.stds[0, 0]
    xs = np.linspace(mu - 6 * sigma, mu + 6 * sigma, 600)
    snaps = [_snapshot(trainer, xs)] if 0 in marks else []
    summary: dict = {}
    for mark in sorted({m for m in marks if m > 0} | {final}):
        trainer.config.steps = mark
        summary = trainer.run()
        if mark in marks or mark == final:
            snaps.append(_snapshot(trainer, xs))
    return summary, snaps


def figure1(snapshots: list[Snapshot], p_data: GaussianMixture, path: Path) -> Path:
    """The paper's Figure 1 panels: p_data (black dotted), p_g (green solid, KDE of G's
    samples), D (blue dashed), D* from p_data and that KDE (thin), and x = G(z) drawn as
    lines from the z axis (below) to the x axis."""
    from ..figures.style import plt, save_figure  # matplotlib only when drawing

    n = len(snapshots)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 5.2), squeeze=False)
    xs = snapshots[0].xs
    lo, hi = xs[0], xs[-1]
    p = p_data.prob(xs[:, None])
    top = 1.05 * max(1.0, p.max())
    for ax, snap in zip(axes[0], snapshots, strict=True):
        kde = theory.kde_mixture(snap.samples[:1000], kde_bandwidth(snap.samples[:1000, None]))
        q = kde.prob(xs[:, None])
        d_star = theory.optimal_discriminator(p_data, kde, xs[:, None])
        ax.plot(xs, p, "k:", lw=2.2, label="p_data")
        ax.plot(xs, np.minimum(q, 1.5 * top), color="green", lw=2, label="p_g (KDE of G)")
        ax.plot(xs, snap.d, "b--", lw=2, label="D")
        ax.plot(xs, d_star, color="purple", lw=0.9, label="D* (p_data, KDE)")
        # x = G(z): lines from the z axis (at y = z_line) up to the x axis (at y = 0).
        z_line = -0.45 * top
        z_pos = lo + (snap.z + 1.0) / 2.0 * (hi - lo)  # z in [-1, 1] spread over the axis
        for i in np.linspace(0, len(snap.z) - 1, 21).astype(int):
            ax.plot([z_pos[i], np.clip(snap.gz[i], lo, hi)], [z_line, 0.0], color="grey",
                    lw=0.8, alpha=0.8)
        ax.axhline(0.0, color="black", lw=1)
        ax.axhline(z_line, color="black", lw=1)
        ax.text(lo, z_line - 0.06 * top, "z ~ U(-1, 1)", fontsize=11, va="top")
        ax.text(lo, 0.02 * top, "x", fontsize=11, va="bottom")
        ax.set_xlim(lo, hi)
        ax.set_ylim(z_line - 0.15 * top, 1.4 * top)
        ax.set_title(f"step {snap.step}", fontsize=14)
        ax.set_xlabel("x (top line); z mapped to x = G(z) (lines)", fontsize=11)
        ax.set_ylabel("density / D(x)", fontsize=12)
        ax.tick_params(labelsize=11)
    axes[0][0].legend(loc="upper left", fontsize=10)
    fig.suptitle("Figure 1: GAN training on N(4, 0.5^2) with uniform noise", fontsize=15)
    fig.tight_layout()
    return save_figure(fig, path)


def figure1_measure(snap: Snapshot, p_data: GaussianMixture) -> float:
    """max |D(x) - 1/2| over x in [mu - 2 sigma, mu + 2 sigma]."""
    mu, sigma = p_data.means[0, 0], p_data.stds[0, 0]
    inside = (snap.xs >= mu - 2 * sigma) & (snap.xs <= mu + 2 * sigma)
    return float(np.max(np.abs(snap.d[inside] - 0.5)))


def _check_figure1(quick: bool, out_dir: Path | None) -> ClaimResult:
    config = figure1_config(quick)
    s = config.steps
    with tempfile.TemporaryDirectory() as tmp:
        summary, snaps = run_figure1(config, Path(tmp) / "run", (0, s // 10, s // 3, s))
    p_data = preset("gauss1d")
    d_dev = figure1_measure(snaps[-1], p_data)
    jsd = summary["jsd_estimate"]
    figures = []
    if out_dir is not None:
        figures.append(figure1(snaps, p_data, Path(out_dir) / "figure1.png").name)
    return ClaimResult(
        name="figure1",
        source="Figure 1",
        statement="after training D(x) = 1/2 on the data's support and p_g = p_data",
        measured=d_dev,
        tolerance=f"max |D - 1/2| on mu +- 2 sigma < {FIG1_D_TOL}, JSD estimate < {FIG1_JSD_TOL}",
        passed=d_dev < FIG1_D_TOL and jsd < FIG1_JSD_TOL,
        details=f"gauss1d, uniform noise, {s} steps; JSD estimate {jsd:.4f} nats",
        figures=figures,
    )


# --------------------------------------------------------------- convergence in practice
CONV_RATIO = 0.5  # final JSD estimate < CONV_RATIO x initial counts as converging


def convergence_config(preset_name: str, steps: int, seed: int) -> Config:
    if preset_name == "bimodal1d":
        return Config(preset="bimodal1d", noise_dim=1, hidden=[32, 32], batch=128, steps=steps,
                      lr_d=1e-3, lr_g=1e-3, eval_every=steps, eval_samples=1000, seed=seed)
    return Config(preset=preset_name, hidden=[64, 64], batch=128, steps=steps, lr_d=1e-3,
                  lr_g=1e-3, eval_every=steps, eval_samples=1000, seed=seed)


def jsd_ratios(preset_name: str, steps: int, seeds) -> list[float]:
    """final / initial JSD estimate of Trainer runs, one per seed."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            trainer = Trainer(convergence_config(preset_name, steps, seed),
                              Path(tmp) / f"{preset_name}_{seed}")
            summary = trainer.run()
            out.append(summary["jsd_estimate"] / trainer.records[0]["jsd_estimate"])
    return out


CONV_PLAN = {  # preset -> (steps, seeds) in (quick, full) mode
    "bimodal1d": ((300, range(3)), (1000, range(5))),
    "mixture8": (None, (1500, range(5))),
}


def _check_convergence(quick: bool, out_dir: Path | None) -> ClaimResult:
    """Pass/fail on bimodal1d; mixture8 (full mode only) is measured and reported.

    mixture8 (8 modes of std 0.02) is not brought below 0.5 x its initial JSD estimate in a
    budget that fits here: measured ratios 0.81-0.92 over seeds 0-4 at 1500 steps
    (64 -> 64, lr 1e-3), and 0.70 for seed 0 at 4000 steps (lr 5e-4, 61 s alone).
    """
    parts, rates = [], {}
    for name, plans in CONV_PLAN.items():
        plan = plans[0 if quick else 1]
        if plan is None:
            continue
        steps, seeds = plan
        ratios = jsd_ratios(name, steps, seeds)
        rates[name] = float(np.mean([r < CONV_RATIO for r in ratios]))
        parts.append(f"{name} ({steps} steps): rate {rates[name]:.2f}, ratios "
                     + " ".join(f"{r:.2f}" for r in ratios))
    rate = rates["bimodal1d"]
    return ClaimResult(
        name="convergence_practice",
        source="Sec. 4.2 / Algorithm 1 (empirical)",
        statement="in practice Algorithm 1 lowers the JSD between p_data and p_g",
        measured=rate,
        tolerance=f"bimodal1d: fraction of seeds with final JSD < {CONV_RATIO} x initial > 0.5 "
        "(mixture8 reported, not held to it)",
        passed=rate > 0.5 and math.isfinite(rate),
        details="; ".join(parts),
    )


CLAIMS: list[Claim] = [
    Claim("prop1_learned_1d", "Prop. 1", "a trained D converges to D* (1-D)",
          lambda quick, out_dir: _check_prop1(1, quick, out_dir)),
    Claim("prop1_learned_2d", "Prop. 1", "a trained D converges to D* (2-D)",
          lambda quick, out_dir: _check_prop1(2, quick, out_dir)),
    Claim("figure1", "Figure 1", "D = 1/2 and p_g = p_data at the end of a 1-D run",
          _check_figure1),
    Claim("convergence_practice", "Sec. 4.2 (empirical)",
          "Algorithm 1 lowers the JSD for most seeds", _check_convergence),
]
