"""A run's evaluation: the fixed evaluation sets drawn once from the run's `eval` stream,
one evaluation's metrics record, and a run's summary from its records."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..core import metrics
from ..core.distributions import GaussianMixture
from ..core.modes import collapse_events
from ..gan.streams import draw_noise

PARZEN_VALIDATION = 1000  # held-out real samples that choose the Parzen window's sigma

SUMMARY_KEYS = (
    "modes_total", "modes_covered", "modes_covered_20", "high_quality_fraction", "reverse_kl",
    "modes_covered_veegan", "high_quality_fraction_veegan", "reverse_kl_veegan",
    "mode_entropy", "mode_histogram", "mode_mass", "jsd_estimate", "jsd_stderr",
    "kl_data_g", "kl_data_g_stderr", "kl_g_data", "kl_g_data_stderr", "kde_bandwidth",
    "d_dstar_gap", "loglik_data_of_g", "loglik_data_of_g_stderr", "frechet", "wasserstein1",
    "sliced_wasserstein1")
EXPENSIVE_KEYS = (
    "parzen_loglik", "parzen_loglik_stderr", "parzen_sigma", "parzen_sigma_at_grid_edge",
    "loglik_test_exact", "parzen_bias", "precision", "recall", "density", "coverage")


class EvalSets:
    """The fixed evaluation sets of a run, drawn once from its `eval` stream: G's noise,
    real samples, the KDE's noise and the Parzen validation set."""

    def __init__(self, config: Config, mixture: GaussianMixture,
                 eval_rng: np.random.Generator) -> None:
        n = config.eval_samples
        self.noise = draw_noise(config, (1, n, config.noise_dim), eval_rng)
        self.real = mixture.sample(n, eval_rng)
        self.kde_noise = eval_rng.standard_normal((n, mixture.dim))
        self.validation = mixture.sample(PARZEN_VALIDATION, eval_rng)


def packs(x: np.ndarray, pack: int) -> np.ndarray:
    """Points (n, dim) as D's inputs: packs of `pack` consecutive points."""
    return x[: len(x) - len(x) % pack].reshape(-1, pack * x.shape[1])


def evaluate_record(gan, mixture: GaussianMixture, config: Config, sets: EvalSets,
                    records: list[dict], record: dict) -> np.ndarray:
    """Adds one evaluation's metrics to `record` (which holds its step and losses): D on
    real and generated samples, gradient norms, the cheap metrics always, the expensive
    ones every `expensive_every` evaluations and at the final step, then the collapse
    detector over `records` (the earlier evaluations). Returns G's samples."""
    fake = gan.generate(sets.noise)
    record["d_real"] = float(gan.discriminate(packs(sets.real, config.pack)).mean())
    record["d_fake"] = float(gan.discriminate(packs(fake, config.pack)).mean())
    record["grad_norm_d"], record["grad_norm_g"] = gan.grad_norms()
    if config.penalty != "none" and hasattr(gan, "penalty_values"):
        record["penalty"] = float(gan.penalty_values[0])  # the last D step's
    # D* compares D with p_data / (p_data + p_g) point by point: a packed D has no
    # value at a single point.
    pointwise = gan.loss.output_is_probability and config.pack == 1
    d = gan.discriminate if pointwise else None
    record.update(metrics.sample_metrics(mixture, fake, sets.real, sets.kde_noise, d))
    index = sum(1 for r in records if not r.get("diverged"))
    every = config.expensive_every
    if record["step"] == config.steps or (every and index % every == 0):
        record.update(metrics.expensive_metrics(mixture, fake, sets.real, sets.validation))
    record["events"] = collapse_events(records, record)
    return fake


def summarise_records(records: list[dict]) -> dict:
    """A run's outcome from its metrics records: the last good evaluation's SUMMARY_KEYS,
    the expensive metrics of the last evaluation that has them (the final one, unless the
    run diverged before it), and every collapse event."""
    good = [r for r in records if not r.get("diverged")]
    last = good[-1] if good else {}
    summary = {key: last.get(key) for key in SUMMARY_KEYS}
    expensive = [r for r in good if "precision" in r]
    for key in EXPENSIVE_KEYS:
        summary[key] = expensive[-1].get(key) if expensive else None
    summary["events"] = [e for r in good for e in r.get("events", [])]
    return summary
